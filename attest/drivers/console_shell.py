"""The rig's Linux shell on its serial console: logging in, and a Runner for the shell plan.

The plan itself (what to run, how to read it) is attest.drivers.shell, shared with SSH. What a
console adds is framing, because a tty has no channels or exit statuses: each command runs as

    echo <B>; CMD >/tmp/.rigattest.out; r=$?; cksum /tmp/.rigattest.out; echo <E>$r

and then ``cat`` sends the file back between two more markers. The markers are typed with
``''`` inside them (``echo RA..''B``), which the shell removes, so our own echo can never look
like a marker. The output goes through a file so that it can be *checked*: ``cksum`` gives the
device's CRC and length of exactly what it wrote, we compare them with what arrived, and a
reading spoiled by line noise or a kernel message is simply read again — ``cat`` is cheap, the
command (a flash hash) is not run twice. The length also lets us refuse an oversized output
before a byte of it is on the wire (1 MiB is 90 s at 115200 baud). Stderr stays on the tty and
arrives between the first two markers. A shell without a writable ``/tmp`` or without ``cksum``
still works, unverified (``console.shell.checked`` says which).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from attest.drivers.base import MALFORMED_REPLY, REPLY_TOO_LARGE, CollectError
from attest.drivers.console_text import FrameScan, kernel_line
from attest.drivers.shell import ShellResult
from attest.transport.serial import SerialLink

OUTPUT_FILE = "/tmp/.rigattest.out"
#: Readings of one output before giving up on a noisy line.
CAT_ATTEMPTS = 3
#: Setup typed once after login: no echo (halves what crosses the wire, and nothing of ours comes
#: back), no \n -> \r\n, and kernel messages off the console so they stop splicing into replies.
SETUP = "stty -echo -onlcr 2>/dev/null; dmesg -n 1 2>/dev/null"
_CKSUM = re.compile(rb"(\d{1,10}) (\d{1,12})(?: \S+)?")
#: Serial bytes per second at the line's rate (8N1: ten bits a byte), for transfer deadlines.
BITS_PER_BYTE = 10


def posix_cksum(data: bytes) -> int:
    """POSIX ``cksum``: CRC-32 (polynomial 0x04C11DB7, MSB first) over the data, then its length."""
    crc = 0
    length = len(data)
    tail = bytearray()
    while length:
        tail.append(length & 0xFF)
        length >>= 8
    for byte in data + bytes(tail):
        crc = _TABLE[((crc >> 24) ^ byte) & 0xFF] ^ ((crc << 8) & 0xFFFFFFFF)
    return ~crc & 0xFFFFFFFF


def _table() -> list[int]:
    out = []
    for i in range(256):
        crc = i << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        out.append(crc & 0xFFFFFFFF)
    return out


_TABLE = _table()


def candidates(raw: bytes) -> list[bytes]:
    """What the file may have been, given how a tty may have mangled it on the way.

    As sent (``stty -onlcr`` took); with the tty's ``\\n`` -> ``\\r\\n`` undone; and either with
    kernel log lines taken out. The device's checksum decides which, if any, is the file.
    """
    undone = raw.replace(b"\r\n", b"\n")
    out = [raw, undone]
    for text in (raw, undone):
        kept = b"".join(line for line in text.splitlines(keepends=True) if not kernel_line(line))
        out.append(kept)
    return list(dict.fromkeys(out))


@dataclass
class ConsoleShell:
    """A logged-in shell on a console link; calling it runs one command (the shell Runner)."""

    link: SerialLink
    baud: int
    timeout: float
    checked: bool = True  # False once /tmp or cksum turned out unusable: outputs unverified

    def __post_init__(self) -> None:
        self._session = secrets.token_hex(3).upper()
        self._count = 0

    def _tokens(self) -> tuple[str, str]:
        self._count += 1
        token = f"RA{self._session}{self._count:03d}"
        return token, f"{token[:-1]}''{token[-1]}"  # printed form, typed form (same after the shell)

    async def frame(self, body: str, *, timeout: float, max_bytes: int, what: str, status: str = "?") -> FrameScan:
        """Run ``body`` between an echoed begin and end marker; the end marker carries ``$status``."""
        printed, typed = self._tokens()
        await self.link.write(f"echo {typed}B; {body}; echo {typed}E${status}\r".encode())
        scan = FrameScan(f"{printed}B".encode(), f"{printed}E".encode())
        await self.link.read_until(scan, timeout=timeout, max_bytes=max_bytes, what=what)
        return scan

    async def setup(self) -> bool:
        """Quiet the tty, and say whether the shell is root's (``id -u`` is 0)."""
        scan = await self.frame(f"{SETUP}; id -u", timeout=self.timeout, max_bytes=64 * 1024,
                                what="an answer from the shell")
        return any(line.strip() == b"0" for line in scan.body)

    async def __call__(self, command: str, *, timeout: float, max_bytes: int) -> ShellResult:
        if not self.checked:
            return await self._unchecked(command, timeout=timeout, max_bytes=max_bytes)
        ran = await self.frame(f"{command} >{OUTPUT_FILE}; r=$?; cksum {OUTPUT_FILE}", status="r",
                               timeout=timeout, max_bytes=64 * 1024, what=f"the end of `{command}`")
        body = [line for line in ran.body if line.strip()]
        summed = _CKSUM.fullmatch(body[-1].strip()) if body else None
        if summed is None:
            self.checked = False  # no writable /tmp, or no cksum: from now on, plain and unverified
            return await self._unchecked(command, timeout=timeout, max_bytes=max_bytes)
        crc, size = int(summed[1]), int(summed[2])
        stderr = b"\n".join(body[:-1])
        if size > max_bytes:
            raise CollectError(REPLY_TOO_LARGE, f"the output of `{command}` is {size} bytes, more than "
                                                f"{max_bytes}; it was not transferred")
        for _attempt in range(CAT_ATTEMPTS):
            raw = await self._cat(size, command)
            for data in candidates(raw):
                if len(data) == size and posix_cksum(data) == crc:
                    return ShellResult(ran.status, data, stderr)
        raise CollectError(MALFORMED_REPLY, f"{CAT_ATTEMPTS} readings of the output of `{command}` failed the "
                                            "device's checksum: the line is too noisy to trust")

    async def _cat(self, size: int, command: str) -> bytes:
        """The file's bytes exactly as the line delivered them (prompt and markers cut off)."""
        seconds = self.timeout + size * BITS_PER_BYTE / self.baud * 2
        printed, typed = self._tokens()
        await self.link.write(f"echo {typed}C; cat {OUTPUT_FILE}; echo {typed}F\r".encode())
        begin, end = f"{printed}C\n".encode(), f"{printed}F".encode()

        def complete(buffer: bytes) -> int | None:
            start = buffer.find(begin)
            if start < 0:
                start = buffer.find(begin[:-1] + b"\r\n")
            stop = buffer.rfind(end)
            return stop if start >= 0 and stop > start else None

        buffer, stop = await self.link.read_until(complete, timeout=seconds, max_bytes=2 * size + 64 * 1024,
                                                  what=f"the output of `{command}`")
        start = buffer.find(begin)
        start = start + len(begin) if start >= 0 else buffer.find(begin[:-1] + b"\r\n") + len(begin) + 1
        return buffer[start:stop]

    async def _unchecked(self, command: str, *, timeout: float, max_bytes: int) -> ShellResult:
        scan = await self.frame(command, timeout=timeout, max_bytes=max_bytes, what=f"the end of `{command}`")
        return ShellResult(scan.status, b"\n".join(scan.body) + b"\n", b"")

    async def finish(self) -> None:
        """Remove our files and log out, leaving the console at its login prompt."""
        await self.link.write(f"rm -f {OUTPUT_FILE}; exit\r".encode())

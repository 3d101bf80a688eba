"""The rig's Linux shell on its serial console: logging in, and a Runner for the shell plan.

The plan itself (what to run, how to read it) is attest.drivers.shell, shared with SSH. What a
console adds is framing, because a tty has no channels or exit statuses: each command runs as

    echo <B>; echo <B>; CMD >/tmp/.rigattest.out; r=$?; cksum /tmp/.rigattest.out; echo <E>$r; echo <E>$r

and then ``cat`` sends the file back between two more markers (each marker printed twice, so one
spoilt byte costs a copy of it rather than the reading). The markers are typed with
``''`` inside them (``echo RA..''B``), which the shell removes, so our own echo can never look
like a marker. The output goes through a file so that it can be *checked*: ``cksum`` gives the
device's CRC and length of exactly what it wrote, we compare them with what arrived, and a
reading spoiled by line noise or a kernel message is simply read again — ``cat`` is cheap, the
command (a flash hash) is not run twice; a spoilt ``cksum`` line is asked for again (``$r`` still
holds the command's status). The length also lets us refuse an oversized output
before a byte of it is on the wire (1 MiB is 90 s at 115200 baud). Stderr stays on the tty and
arrives between the first two markers. A shell without a writable ``/tmp`` or without ``cksum``
still works, unverified (``console.shell.checked`` says which): two clean answers without a
``cksum`` line say so, where one spoilt answer would not.
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


def _cksum_line(body: list[bytes]) -> tuple[int, int] | None:
    """CRC and length from the last ``cksum`` line of a frame (stderr lines come before it)."""
    for line in reversed(body):
        found = _CKSUM.fullmatch(line.strip())
        if found:
            return int(found[1]), int(found[2])
    return None


def _stderr(body: list[bytes]) -> bytes:
    """What the command said on the tty besides the cksum line (its stderr)."""
    lines = [line for line in body if line.strip()]
    if lines and _CKSUM.fullmatch(lines[-1].strip()):
        lines = lines[:-1]
    return b"\n".join(lines)


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
        begin, end = f"echo {typed}B", f"echo {typed}E${status}"
        await self.link.write(f"{begin}; {begin}; {body}; {end}; {end}\r".encode())
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
        status, stderr = ran.status, _stderr(ran.body)
        missing = 0  # answers in a row without a cksum line
        for _attempt in range(CAT_ATTEMPTS):
            summed = _cksum_line(ran.body)
            if summed is None:
                missing += 1
                if missing == 2:
                    self.checked = False  # no writable /tmp, or no cksum: from now on, plain and unverified
                    return await self._unchecked(command, timeout=timeout, max_bytes=max_bytes)
            else:
                missing = 0
                crc, size = summed
                if size > max_bytes:
                    raise CollectError(REPLY_TOO_LARGE, f"the output of `{command}` is {size} bytes, more than "
                                                        f"{max_bytes}; it was not transferred")
                raw = await self._cat(size, command)
                for data in candidates(raw):
                    if len(data) == size and posix_cksum(data) == crc:
                        return ShellResult(status, data, stderr)
            # The cksum line, or the file as it came, was spoilt: ask for the checksum again.
            ran = await self.frame(f"cksum {OUTPUT_FILE}", status="r", timeout=self.timeout, max_bytes=64 * 1024,
                                   what=f"the checksum of the output of `{command}`")
            status = ran.status if ran.status is not None else status
        raise CollectError(MALFORMED_REPLY, f"{CAT_ATTEMPTS} readings of the output of `{command}` failed the "
                                            "device's checksum: the line is too noisy to trust")

    async def _cat(self, size: int, command: str) -> bytes:
        """The file's bytes exactly as the line delivered them (prompt and markers cut off)."""
        seconds = self.timeout + size * BITS_PER_BYTE / self.baud * 2
        printed, typed = self._tokens()
        begin, end = f"echo {typed}C", f"echo {typed}F"
        await self.link.write(f"{begin}; {begin}; cat {OUTPUT_FILE}; {end}; {end}\r".encode())
        begin_line = re.compile(re.escape(f"{printed}C".encode()) + rb"\r?\n")
        end_mark = f"{printed}F".encode()

        def span(buffer: bytes) -> tuple[int, int] | None:
            """From after the last intact begin line to the first intact end marker after it."""
            starts = [m.end() for m in begin_line.finditer(buffer)]
            if not starts:
                return None
            stop = buffer.find(end_mark, starts[0])
            if stop < 0:
                return None
            return max(s for s in starts if s <= stop), stop

        buffer, (start, stop) = await self.link.read_until(span, timeout=seconds, idle=self.timeout,
                                                           max_bytes=2 * size + 64 * 1024,
                                                           what=f"the output of `{command}`")
        return buffer[start:stop]

    async def report(self, command: str, *, timeout: float, max_bytes: int) -> ShellResult:
        """Like calling the shell, for a report whose output changes from run to run (uptime in
        a status page): checked by cksum where the shell has it, else read once, as it is."""
        if self.checked:
            return await self(command, timeout=timeout, max_bytes=max_bytes)
        return await self._unchecked(command, timeout=timeout, max_bytes=max_bytes, readings_wanted=1)

    async def _unchecked(self, command: str, *, timeout: float, max_bytes: int,
                         readings_wanted: int = 2) -> ShellResult:
        """No checksum to check against: run it again, and take two readings that agree.

        Slower (a flash hash runs twice), but one flipped bit in a digest would otherwise be a
        false UNTRUSTED; U-Boot's readings are held to the same rule (attest.drivers.uboot).
        """
        readings: list[ShellResult] = []
        for _attempt in range(3):
            scan = await self.frame(command, timeout=timeout, max_bytes=max_bytes, what=f"the end of `{command}`")
            reading = ShellResult(scan.status, b"\n".join(line for line in scan.body if line.strip()) + b"\n", b"")
            if readings_wanted == 1 or reading in readings:
                return reading
            readings.append(reading)
        raise CollectError(MALFORMED_REPLY, f"three readings of `{command}` all differ and the shell has no "
                                            "cksum to tell which is right: the line is too noisy to trust")

    async def finish(self) -> None:
        """Remove our files and log out, leaving the console at its login prompt."""
        await self.link.write(f"rm -f {OUTPUT_FILE}; exit\r".encode())

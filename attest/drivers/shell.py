"""What Rig Attest runs in a rig's Linux shell and how it reads the answers, whatever the wire.

The commands and parsers of docs/protocols.md ("Linux shell over SSH"); the plan that runs them is
attest.drivers.shell_plan. Both are written against a runner so the SSH driver and the
serial-console shell share one implementation: the transport only has to run one command and hand
back its exit status and (capped) output.

Every byte from the device is untrusted: parsers are strict (a line is the documented format or
it is ignored), device text is only put into claim values through ``printable``, and partition
names — which become part of claim names — must be plain ``[A-Za-z0-9._-]``.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from attest.evidence import printable
from attest.flash_content import is_mutable

MINER_BINARIES = ("/usr/bin/bmminer", "/usr/bin/btminer", "/usr/bin/cgminer")
POOL_CONFIG_FILES = ("/config/bmminer.conf", "/config/cgminer.conf")

CMD_PROC_MTD = "cat /proc/mtd"
CMD_MAC = "cat /sys/class/net/eth0/address"
CMD_CPUINFO = "cat /proc/cpuinfo"
CMD_MINER_DIGESTS = "sha256sum " + " ".join(MINER_BINARIES) + " 2>/dev/null"
CMD_POOL_CONFIG = "cat " + " ".join(POOL_CONFIG_FILES) + " 2>/dev/null"

MAX_POOLS = 16
MAX_POOL_URL_CHARS = 512
MAX_CONFIG_DOCUMENTS = len(POOL_CONFIG_FILES)
MAX_NAME_CHARS = 64
MAX_CONTENT_CHARS = 600

_SAFE_NAME = re.compile(rb"[A-Za-z0-9._-]{1,%d}" % MAX_NAME_CHARS)
_MTD_HEADER = re.compile(rb"dev:\s+size\s+erasesize\s+name")
_MTD_LINE = re.compile(rb'mtd(\d{1,4}): ([0-9a-f]{8}) ([0-9a-f]{8}) "(.*)"')
_SHA256_LINE = re.compile(rb"([0-9a-f]{64})  (/\S+)")
_MAC = re.compile(rb"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}")
_CPU_SERIAL = re.compile(rb"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class ShellResult:
    """One command's outcome as a runner reports it; stdout/stderr already size-capped."""

    exit_status: int | None
    stdout: bytes
    stderr: bytes


class Runner(Protocol):
    """Runs one shell command on the device. Raises CollectError when the transport fails."""

    async def __call__(self, command: str, *, timeout: float, max_bytes: int) -> ShellResult: ...


# --- parsers: bytes from the device in, plain values out; none of them raises ---------------


def _lines(data: bytes) -> list[bytes]:
    """Lines without their terminator; a serial console's tty turns "\\n" into "\\r\\n"."""
    return [line.removesuffix(b"\r") for line in data.split(b"\n")]


@dataclass(frozen=True)
class MtdPartition:
    index: int
    size: int
    name: str  # the name as safe plain text (escaped when it is not a safe name)
    safe: bool  # the name may be used in a claim name

    @property
    def device(self) -> str:
        return f"/dev/mtd{self.index}"

    @property
    def mutable(self) -> bool:
        return is_mutable(self.name)


@dataclass(frozen=True)
class MtdTable:
    partitions: tuple[MtdPartition, ...]  # the first ``limit`` well-formed lines, listing order
    total: int  # well-formed partition lines in the whole listing
    malformed: int  # non-empty lines that are not the /proc/mtd format (header missing: all)


def parse_proc_mtd(data: bytes, *, limit: int) -> MtdTable:
    """``/proc/mtd``: the header, then ``mtdN: <size hex> <erasesize hex> "<name>"`` lines."""
    lines = [line for line in _lines(data) if line]
    if not lines or not _MTD_HEADER.fullmatch(lines[0]):
        return MtdTable((), 0, len(lines))
    partitions: list[MtdPartition] = []
    seen: set[int] = set()
    total = malformed = 0
    for line in lines[1:]:
        match = _MTD_LINE.fullmatch(line)
        if match is None or int(match[1]) in seen:
            malformed += 1
            continue
        index = int(match[1])
        seen.add(index)
        total += 1
        if len(partitions) < limit:
            raw = match[4]
            safe = _SAFE_NAME.fullmatch(raw) is not None
            name = raw.decode("ascii") if safe else printable(raw, MAX_NAME_CHARS)
            partitions.append(MtdPartition(index, int(match[2], 16), name, safe))
    return MtdTable(tuple(partitions), total, malformed)


def parse_sha256sum(data: bytes, paths: Sequence[str]) -> dict[str, str]:
    """``<64 lower-case hex>  <path>`` lines for the paths we asked about: path -> hex digest.

    A path named twice is dropped: a device that offers two digests for one file gets neither.
    """
    wanted = {path.encode(): path for path in paths}
    matches = (_SHA256_LINE.fullmatch(line) for line in _lines(data))
    return unique_pairs((wanted[m[2]], m[1].decode("ascii")) for m in matches if m is not None and m[2] in wanted)


def unique_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """name -> value in first-seen order, every name given more than once dropped: a device that
    offers two values for one name (two digests for a file, a variable twice) gets neither."""
    found: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if name in found or name in repeated:
            found.pop(name, None)
            repeated.add(name)
        else:
            found[name] = value
    return found


def parse_grep_matches(data: bytes, files: Sequence[str], patterns: Iterable[str]) -> list[tuple[str, str]]:
    """``FILE:MATCH`` lines of ``grep -H -o -F``: distinct (pattern, file) pairs, first-seen order.

    Only lines naming a file we asked about and a pattern we sent count; with ``-F -o`` a match
    is byte-for-byte one of the patterns, so anything else is noise (or a device playing games).
    """
    wanted = {pattern.encode("ascii"): pattern for pattern in patterns}
    prefixes = [(file.encode() + b":", file) for file in files]
    found: dict[tuple[str, str], None] = {}
    for line in _lines(data):
        for prefix, file in prefixes:
            if line.startswith(prefix) and line[len(prefix) :] in wanted:
                found[(wanted[line[len(prefix) :]], file)] = None
                break
    return list(found)


def parse_mac(data: bytes) -> str | None:
    """``/sys/class/net/eth0/address``: one ``aa:bb:cc:dd:ee:ff`` line, returned lower-case."""
    text = data.strip()
    return text.decode("ascii").lower() if _MAC.fullmatch(text) else None


def parse_cpuinfo_serial(data: bytes) -> str | None:
    """The ``Serial : <id>`` line of ``/proc/cpuinfo``; None if absent, odd, or contradicted."""
    serials: set[bytes] = set()
    for line in _lines(data):
        key, sep, value = line.partition(b":")
        if sep and key.strip() == b"Serial":
            serials.add(value.strip())
    if len(serials) != 1:
        return None
    serial = serials.pop()
    return serial.decode("ascii") if _CPU_SERIAL.fullmatch(serial) else None


def parse_pool_urls(data: bytes) -> list[str]:
    """Pool URLs from bmminer/cgminer config JSON, several documents back to back (``cat a b``).

    Reads documents until one does not parse; keeps what came before. URLs are returned as safe
    plain text, at most MAX_POOLS of them.
    """
    text = data.decode("utf-8", errors="replace")
    decoder = json.JSONDecoder()
    urls: list[str] = []
    position = 0
    for _ in range(MAX_CONFIG_DOCUMENTS):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        try:
            document, position = decoder.raw_decode(text, position)
        except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the limit
            break
        pools = document.get("pools") if isinstance(document, dict) else None
        for pool in pools if isinstance(pools, list) else ():
            url = pool.get("url") if isinstance(pool, dict) else None
            if isinstance(url, str) and url.strip() and len(urls) < MAX_POOLS:
                urls.append(printable(url, MAX_POOL_URL_CHARS))
    return urls


# --- commands we build from device-supplied or configured values -------------------------------


def hash_command(devices: Sequence[str]) -> str:
    return "sha256sum " + " ".join(shlex.quote(device) for device in devices)


def indicator_scan_command(patterns: Sequence[str], files: Sequence[str]) -> str:
    """``-H`` keeps the ``FILE:`` prefix even when only one file is searched."""
    arguments = " ".join(f"-e {shlex.quote(pattern)}" for pattern in patterns)
    return f"grep -a -o -H -F {arguments} {' '.join(shlex.quote(f) for f in files)} 2>/dev/null"

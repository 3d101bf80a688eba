"""What Rig Attest runs in a rig's Linux shell and how it reads the answers, whatever the wire.

The command plan and parsers of docs/protocols.md ("Linux shell over SSH"), written against a
runner so the SSH driver and the serial-console shell share one implementation: the transport
only has to run one command and hand back its exit status and (capped) output.

Failure policy. A runner raises CollectError when the *transport* fails (timeout, output over the
cap, connection lost): that ends the whole collection, because claims here are only meaningful
as a complete set — no ``indicator.*`` claim must mean "the scan ran and found nothing", never
"the scan was cut short". A *command* that runs but fails (nonzero exit, missing file, output
that does not parse) only loses its own claims; the others stand, and the transcript shows why.

Every byte from the device is untrusted: parsers are strict (a line is the documented format or
it is ignored), device text is only put into claim values through ``printable``, and partition
names — which become part of claim names — must be plain ``[A-Za-z0-9._-]``.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from attest.drivers.base import Claim, CollectOptions
from attest.evidence import Assurance, printable
from attest.indicators import Indicator, default_indicators

MINER_BINARIES = ("/usr/bin/bmminer", "/usr/bin/btminer", "/usr/bin/cgminer")
POOL_CONFIG_FILES = ("/config/bmminer.conf", "/config/cgminer.conf")
#: Partitions a running rig rewrites (settings, logs): their digests say nothing about firmware.
MUTABLE_PARTITIONS = frozenset({"config", "configs", "data", "env"})
MUTABLE_PREFIX = "reserve"

CMD_PROC_MTD = "cat /proc/mtd"
CMD_MAC = "cat /sys/class/net/eth0/address"
CMD_CPUINFO = "cat /proc/cpuinfo"
CMD_MINER_DIGESTS = "sha256sum " + " ".join(MINER_BINARIES) + " 2>/dev/null"
CMD_POOL_CONFIG = "cat " + " ".join(POOL_CONFIG_FILES) + " 2>/dev/null"

MAX_POOLS = 16
MAX_POOL_URL_CHARS = 512
MAX_CONFIG_DOCUMENTS = len(POOL_CONFIG_FILES)
MAX_NAME_CHARS = 64

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
        lowered = self.name.lower()
        return lowered in MUTABLE_PARTITIONS or lowered.startswith(MUTABLE_PREFIX)


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


# --- the plan ----------------------------------------------------------------------------------


async def collect_shell_evidence(
    run: Runner,
    source: str,
    options: CollectOptions,
    *,
    indicators: Sequence[Indicator] | None = None,
) -> list[Claim]:
    """Run the docs/protocols.md command plan; ``source`` is the endpoint label for claims."""
    plan = _Plan(run, source, options)
    claims = await plan.measure_flash()
    claims += await plan.read_identity()
    claims += await plan.measure_miner(default_indicators() if indicators is None else indicators)
    claims += await plan.read_pools()
    return claims


class _Plan:
    def __init__(self, run: Runner, source: str, options: CollectOptions) -> None:
        self._run = run
        self._source = source
        self._options = options

    def _claim(self, name: str, value: str | int, what: str) -> Claim:
        return Claim(name, value, f"{self._source} {what}", Assurance.MEASURED)

    async def _command(self, command: str, *, timeout: float | None = None) -> ShellResult:
        return await self._run(
            command,
            timeout=self._options.timeout if timeout is None else timeout,
            max_bytes=self._options.max_reply_bytes,
        )

    async def measure_flash(self) -> list[Claim]:
        """Digest every firmware partition on the device with one ``sha256sum``."""
        result = await self._command(CMD_PROC_MTD)
        if result.exit_status != 0:
            return []
        table = parse_proc_mtd(result.stdout, limit=self._options.max_partitions)
        claims = [self._claim("firmware.partition.count", table.total, CMD_PROC_MTD)]
        names = Counter(p.name for p in table.partitions if p.safe)
        to_hash: list[MtdPartition] = []
        for partition in table.partitions:
            reason = _not_hashed_because(partition, names)
            if reason is not None:
                claims.append(self._claim(f"firmware.partition.mtd{partition.index}.rejected", reason, CMD_PROC_MTD))
            elif not partition.mutable:
                to_hash.append(partition)
        if not to_hash:
            return claims
        command = hash_command([p.device for p in to_hash])
        hashed = await self._command(command, timeout=self._options.hash_timeout)
        # Exit 1 with some digests is a read error on another partition: keep the good ones.
        digests = parse_sha256sum(hashed.stdout, [p.device for p in to_hash])
        for partition in to_hash:
            if partition.device in digests:
                claims.append(
                    self._claim(
                        f"firmware.image.{partition.name}.sha256",
                        "sha256:" + digests[partition.device],
                        f"sha256sum {partition.device}",
                    )
                )
        return claims

    async def read_identity(self) -> list[Claim]:
        claims: list[Claim] = []
        result = await self._command(CMD_MAC)
        mac = parse_mac(result.stdout) if result.exit_status == 0 else None
        if mac is not None:
            claims.append(self._claim("net.mac", mac, CMD_MAC))
        result = await self._command(CMD_CPUINFO)
        serial = parse_cpuinfo_serial(result.stdout) if result.exit_status == 0 else None
        if serial is not None:
            claims.append(self._claim("control_board.serial", serial, CMD_CPUINFO))
        return claims

    async def measure_miner(self, indicators: Sequence[Indicator]) -> list[Claim]:
        """Digest the miner binaries present, then look for indicator strings in them.

        sha256sum first tells which binaries exist, so grep only gets files that do: grep exits
        2 whenever any named file is missing, which would hide a real error behind the normal
        case of a rig carrying one miner of the three.
        """
        result = await self._command(CMD_MINER_DIGESTS, timeout=self._options.hash_timeout)
        digests = parse_sha256sum(result.stdout, MINER_BINARIES)
        present = [path for path in MINER_BINARIES if path in digests]
        claims: list[Claim] = []
        if present:
            first = present[0]
            claims.append(self._claim("firmware.miner.sha256", "sha256:" + digests[first], f"sha256sum {first}"))
            claims.append(self._claim("firmware.miner.path", first, CMD_MINER_DIGESTS))
        patterns = [pattern for indicator in indicators for pattern in indicator.patterns]
        if not present or not patterns:
            what = "no miner binary found" if not present else "no indicators configured"
            return [*claims, self._claim("scan.indicators", f"not run: {what}", CMD_MINER_DIGESTS)]
        command = indicator_scan_command(patterns, present)
        scan = await self._command(command, timeout=self._options.hash_timeout)
        if scan.exit_status not in (0, 1):
            status = "no status" if scan.exit_status is None else f"exit status {scan.exit_status}"
            return [*claims, self._claim("scan.indicators", f"failed: grep gave {status}", "grep -F (indicators)")]
        matches = parse_grep_matches(scan.stdout, present, patterns)
        found = 0
        for indicator in indicators:
            hits = [f"{pattern} in {file}" for pattern, file in matches if pattern in indicator.patterns]
            if hits:
                found += 1
                claims.append(self._claim(f"indicator.{indicator.id}", "; ".join(hits), "grep -F (indicators)"))
        summary = f"{len(indicators)} indicators ({len(patterns)} patterns) over {', '.join(present)}: {found} found"
        return [*claims, self._claim("scan.indicators", summary, "grep -F (indicators)")]

    async def read_pools(self) -> list[Claim]:
        """Exit 1 is normal here: a rig has one of the two config files, cat complains of the other."""
        result = await self._command(CMD_POOL_CONFIG)
        if result.exit_status not in (0, 1):
            return []
        return [
            self._claim(f"config.pool.{n}.url", url, CMD_POOL_CONFIG)
            for n, url in enumerate(parse_pool_urls(result.stdout))
        ]


def _not_hashed_because(partition: MtdPartition, safe_names: Counter[str]) -> str | None:
    """Why a listed partition gets no digest claim, or None when it can be hashed (or is mutable)."""
    if not partition.safe:
        return f'name "{partition.name}" is not a plain partition name; not hashed'
    if safe_names[partition.name] > 1:
        # Two partitions one name: whichever digest the appraiser picked, the other could be the
        # one that boots. Neither is reported.
        return f'name "{partition.name}" is listed more than once; not hashed'
    return None

"""The shell command plan of docs/protocols.md ("Linux shell over SSH"), whatever the wire.

What runs, in order, and which claims it gives at which assurance; the commands and parsers are
attest.drivers.shell, the streamed measurement attest.drivers.flash_read.

Failure policy. A runner raises CollectError when the *transport* fails (timeout, output over the
cap, connection lost): that ends the whole collection, because claims here are only meaningful
as a complete set — no ``indicator.*`` claim must mean "the scan ran and found nothing", never
"the scan was cut short". A *command* that runs but fails (nonzero exit, missing file, output
that does not parse) only loses its own claims; the others stand, and the transcript shows why.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from attest.drivers.base import Claim, CollectOptions
from attest.drivers.flash_read import (
    BinaryReading,
    MeasureBudget,
    Streamer,
    all_of,
    read_binary,
    read_partitions,
)
from attest.drivers.shell import (
    CMD_CPUINFO,
    CMD_MAC,
    CMD_MINER_DIGESTS,
    CMD_POOL_CONFIG,
    CMD_PROC_MTD,
    MAX_CONTENT_CHARS,
    MINER_BINARIES,
    MtdPartition,
    Runner,
    ShellResult,
    hash_command,
    indicator_scan_command,
    parse_cpuinfo_serial,
    parse_grep_matches,
    parse_mac,
    parse_pool_urls,
    parse_proc_mtd,
    parse_sha256sum,
)
from attest.evidence import Assurance, printable
from attest.indicators import Indicator, IndicatorScan, default_indicators

# --- the plan ----------------------------------------------------------------------------------


async def collect_shell_evidence(
    run: Runner,
    source: str,
    options: CollectOptions,
    *,
    indicators: Sequence[Indicator] | None = None,
    stream: Streamer | None = None,
) -> list[Claim]:
    """Run the docs/protocols.md command plan; ``source`` is the endpoint label for claims.

    With ``stream`` (SSH) the station reads the flash and the miner binaries itself and hashes
    them (``measured``), and the rig's own sha256sum is only a cross-check (``device``). Without
    it (a serial console: raw flash at 115200 baud would take hours) the digests are the rig's
    own, ``device``, and the indicator scan is the rig's grep.
    """
    plan = _Plan(run, source, options, stream)
    claims = await plan.measure_flash()
    claims += await plan.read_identity()
    claims += await plan.measure_miner(default_indicators() if indicators is None else indicators)
    claims += await plan.read_pools()
    if stream is not None:
        claims.append(plan.claim("firmware.stream.bytes", plan.budget.streamed, "streamed to the station"))
    return claims


class _Plan:
    def __init__(self, run: Runner, source: str, options: CollectOptions, stream: Streamer | None) -> None:
        self._run = run
        self._source = source
        self._options = options
        self._stream = stream
        self.budget = MeasureBudget(options)

    def claim(self, name: str, value: str | int, what: str, assurance: Assurance = Assurance.MEASURED) -> Claim:
        return Claim(name, value, f"{self._source} {what}", assurance)

    _claim = claim

    async def _command(self, command: str, *, timeout: float | None = None) -> ShellResult:
        return await self._run(
            command,
            timeout=self._options.timeout if timeout is None else timeout,
            max_bytes=self._options.max_reply_bytes,
        )

    async def measure_flash(self) -> list[Claim]:
        """Every partition /proc/mtd lists: the rig's own sha256sum of the firmware ones (``device``),
        then, over SSH, each partition streamed to the station, hashed and looked into."""
        result = await self._command(CMD_PROC_MTD)
        if result.exit_status != 0:
            return []
        table = parse_proc_mtd(result.stdout, limit=self._options.max_partitions)
        claims = [self._claim("firmware.partition.count", table.total, CMD_PROC_MTD)]
        names = Counter(p.name for p in table.partitions if p.safe)
        hashable: list[MtdPartition] = []
        for partition in table.partitions:
            key = f"firmware.partition.mtd{partition.index}"
            claims.append(self._claim(f"{key}.name", partition.name, CMD_PROC_MTD))
            claims.append(self._claim(f"{key}.size", partition.size, CMD_PROC_MTD))
            reason = _not_hashed_because(partition, names)
            if reason is not None:
                claims.append(self._claim(f"{key}.rejected", reason, CMD_PROC_MTD))
            elif not partition.mutable:
                hashable.append(partition)
        if self._stream is None:
            return claims + await self._device_digests(hashable)
        # Over SSH every read is its own channel: the rig's sha256sum and the streams run at once.
        said, streamed = await all_of(self._device_digests(hashable), self._stream_flash(table.partitions, hashable))
        return claims + said + streamed

    async def _device_digests(self, partitions: list[MtdPartition]) -> list[Claim]:
        """The rig's own sha256sum of its firmware partitions: a cross-check, never a measurement."""
        if not partitions:
            return []
        command = hash_command([p.device for p in partitions])
        hashed = await self._command(command, timeout=self._options.hash_timeout)
        # Exit 1 with some digests is a read error on another partition: keep the good ones.
        digests = parse_sha256sum(hashed.stdout, [p.device for p in partitions])
        return [self.claim(f"firmware.image.{p.name}.device_sha256", "sha256:" + digests[p.device],
                           f"sha256sum {p.device} (the rig's own tool)", Assurance.DEVICE)
                for p in partitions if p.device in digests]

    async def _stream_flash(self, partitions: tuple[MtdPartition, ...], hashable: list[MtdPartition]) -> list[Claim]:
        assert self._stream is not None
        self.budget.refuse_total(sum(p.size for p in partitions), f"the {len(partitions)} flash partitions")
        claims: list[Claim] = []
        named = {p.index for p in hashable}
        readings = await read_partitions(self._stream, [(p.device, p.size) for p in partitions], self.budget)
        for partition, reading in zip(partitions, readings, strict=True):
            key = f"firmware.partition.mtd{partition.index}"
            what = f"cat {partition.device} (hashed by the station)"
            if reading.sha256 is None or reading.content is None:
                claims.append(self.claim(f"{key}.read", f"failed: {reading.failure}", what))
                continue
            if partition.index in named:
                claims.append(self.claim(f"firmware.image.{partition.name}.sha256", reading.sha256, what))
            claims.append(self.claim(f"{key}.content", printable(reading.content.text, MAX_CONTENT_CHARS), what))
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
        """The miner binaries' digests and the indicator scan: over SSH streamed to the station,
        hashed and searched there (the rig's sha256sum kept as a cross-check); on a console,
        the rig's own sha256sum and grep (``device``)."""
        result = await self._command(CMD_MINER_DIGESTS, timeout=self._options.hash_timeout)
        digests = parse_sha256sum(result.stdout, MINER_BINARIES)
        present = [path for path in MINER_BINARIES if path in digests]
        claims: list[Claim] = []
        if present:
            first = present[0]
            claims.append(self.claim("firmware.miner.device_sha256", "sha256:" + digests[first],
                                     f"sha256sum {first} (the rig's own tool)", Assurance.DEVICE))
        if self._stream is not None:
            # Which binaries exist is the rig's word either way (a lying cat can say "No such file"
            # as well as a lying sha256sum); without an answer, every candidate is read.
            answered = result.exit_status in (0, 1)
            return claims + await self._stream_miner(indicators, present if answered else list(MINER_BINARIES))
        if present:
            claims.append(self.claim("firmware.miner.path", present[0], CMD_MINER_DIGESTS, Assurance.DEVICE))
        return claims + await self._grep_on_device(indicators, present)

    async def _stream_miner(self, indicators: Sequence[Indicator], paths: list[str]) -> list[Claim]:
        """Each miner binary streamed: the first one's digest, and every indicator pattern looked
        for in all of them by the station."""
        assert self._stream is not None
        found: list[BinaryReading] = []
        failures: list[str] = []
        matches: list[tuple[str, str]] = []
        scans = [IndicatorScan(tuple(indicators)) for _ in paths]
        stream = self._stream
        readings = await all_of(*(read_binary(stream, path, scan, self.budget)
                                  for path, scan in zip(paths, scans, strict=True)))
        for path, scan, reading in zip(paths, scans, readings, strict=True):
            matches += [(pattern, path) for pattern in scan.found]
            if reading.sha256 is not None:
                found.append(reading)
            elif reading.failure:
                failures.append(reading.failure)
        claims: list[Claim] = []
        what = "cat (scanned by the station)"
        if found:
            claims.append(self.claim("firmware.miner.sha256", found[0].sha256 or "", f"cat {found[0].path} (hashed "
                                     "by the station)"))
            claims.append(self.claim("firmware.miner.path", found[0].path, f"cat {found[0].path}"))
        claims += self._indicator_claims(indicators, matches, what)
        patterns = sum(len(i.patterns) for i in indicators)
        if failures:
            summary = "failed: " + "; ".join(failures)
        elif not found:
            summary = "not run: no miner binary found"
        else:
            files = ", ".join(f"{r.path} ({r.size} bytes)" for r in found)
            hits = sum(1 for c in claims if c.name.startswith("indicator."))
            summary = f"{len(indicators)} indicators ({patterns} patterns) over {files}, streamed: {hits} found"
        return [*claims, self.claim("scan.indicators", printable(summary, 600), what)]

    def _indicator_claims(self, indicators: Sequence[Indicator], matches: list[tuple[str, str]], what: str,
                          assurance: Assurance = Assurance.MEASURED) -> list[Claim]:
        claims: list[Claim] = []
        for indicator in indicators:
            hits = [f"{pattern} in {file}" for pattern, file in matches if pattern in indicator.patterns]
            if hits:
                claims.append(self.claim(f"indicator.{indicator.id}", "; ".join(hits), what, assurance))
        return claims

    async def _grep_on_device(self, indicators: Sequence[Indicator], present: list[str]) -> list[Claim]:
        """The rig's own grep for the indicators in the binaries its sha256sum found.

        sha256sum first tells which binaries exist, so grep only gets files that do: grep exits
        2 whenever any named file is missing, which would hide a real error behind the normal
        case of a rig carrying one miner of the three.
        """
        device = Assurance.DEVICE
        patterns = [pattern for indicator in indicators for pattern in indicator.patterns]
        if not present or not patterns:
            what = "no miner binary found" if not present else "no indicators configured"
            return [self.claim("scan.indicators", f"not run: {what}", CMD_MINER_DIGESTS, device)]
        command = indicator_scan_command(patterns, present)
        scan = await self._command(command, timeout=self._options.hash_timeout)
        if scan.exit_status not in (0, 1):
            status = "no status" if scan.exit_status is None else f"exit status {scan.exit_status}"
            return [self.claim("scan.indicators", f"failed: grep gave {status}", "grep -F (indicators)", device)]
        matches = parse_grep_matches(scan.stdout, present, patterns)
        claims = self._indicator_claims(indicators, matches, "grep -F (indicators, the rig's own tool)", device)
        summary = (f"{len(indicators)} indicators ({len(patterns)} patterns) over {', '.join(present)}: "
                   f"{len(claims)} found")
        return [*claims, self.claim("scan.indicators", summary, "grep -F (indicators, the rig's own tool)", device)]

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

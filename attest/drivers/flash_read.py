"""The station measures, the rig only answers: raw flash partitions and miner binaries streamed
over the shell and hashed (and scanned) on the station as the bytes arrive.

Why not ask the rig: a modified rootfs carries its own busybox, whose ``sha256sum`` can print the
genuine digests whatever the flash holds (the simulator's ``lying-sha256sum`` rig does). The rig's
own answer is still asked for, as a cross-check at assurance ``device``: a rig whose digest of its
own flash differs from what the station measured has lied about it. To fake what is measured here
a rig must intercept every read of its flash device (a kernel module, or a patched libc/busybox
that every reader goes through) and hand back the original bytes of everything it changed.

Costs are bounded per rig (``CollectOptions``): bytes streamed in all (``max_measured_bytes``,
checked against ``/proc/mtd`` before the first byte), seconds from the first byte to the last
(``measure_timeout``), and an idle timeout per read (``timeout``); past either limit the
collection ends with MEASUREMENT_LIMIT_EXCEEDED, saying which. Memory stays flat: each chunk is
hashed and scanned as it arrives, and only a partition's first ``flash_content.ENV_KEEP`` bytes
are kept (for a U-Boot environment).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from attest.drivers.base import MEASUREMENT_LIMIT_EXCEEDED, REPLY_TOO_LARGE, TIMEOUT, CollectError, CollectOptions
from attest.evidence import printable
from attest.flash_content import Content, ContentScanner
from attest.indicators import IndicatorScan

T = TypeVar("T")


@dataclass(frozen=True)
class StreamedOutput:
    """One streamed command: its stdout went to the sink (``size`` bytes), stderr capped."""

    exit_status: int | None
    size: int
    stderr: bytes


class Streamer(Protocol):
    """Runs one command on the device and hands its stdout to ``sink`` as it arrives.

    Raises CollectError: TIMEOUT (past ``timeout``, or no byte for ``idle`` seconds),
    REPLY_TOO_LARGE (stdout past ``max_bytes``), CONNECTION_RESET.
    """

    async def __call__(self, command: str, sink: Callable[[bytes], None], *, timeout: float, idle: float,
                       max_bytes: int) -> StreamedOutput: ...


class MeasureBudget:
    """What one rig may still cost: bytes, and seconds counted from its first streamed byte."""

    def __init__(self, options: CollectOptions) -> None:
        self.options = options
        self.streamed = 0
        self._ends: float | None = None

    @property
    def bytes_left(self) -> int:
        return self.options.max_measured_bytes - self.streamed

    def seconds_left(self) -> float:
        now = asyncio.get_running_loop().time()
        if self._ends is None:
            self._ends = now + self.options.measure_timeout
        return self._ends - now

    def refuse_total(self, total: int, what: str) -> None:
        """Before the first byte: a flash larger than the cap is refused whole, not half read."""
        if total > self.bytes_left:
            raise CollectError(MEASUREMENT_LIMIT_EXCEEDED,
                               f"{what} hold {total} bytes, more than the {self.options.max_measured_bytes} bytes the "
                               "station streams from one rig (CollectOptions.max_measured_bytes); nothing was measured")


@dataclass(frozen=True)
class PartitionReading:
    sha256: str | None  # "sha256:<hex>" when every byte /proc/mtd declares arrived and cat exited 0
    content: Content | None  # what the bytes hold, when they all arrived
    failure: str  # why there is no digest ("" when there is one)


async def _stream(stream: Streamer, command: str, sink: Callable[[bytes], None], budget: MeasureBudget,
                  max_bytes: int, what: str) -> StreamedOutput:
    seconds = budget.seconds_left()
    if seconds <= 0:
        raise CollectError(MEASUREMENT_LIMIT_EXCEEDED, f"the {budget.options.measure_timeout:g} s the station gives "
                           f"one rig to stream its flash ran out before {what} (CollectOptions.measure_timeout)")
    try:
        result = await stream(command, sink, timeout=seconds, idle=budget.options.timeout, max_bytes=max_bytes)
    except CollectError as e:
        if e.code == TIMEOUT and budget.seconds_left() <= 0:
            raise CollectError(MEASUREMENT_LIMIT_EXCEEDED, f"{what} was still streaming when the "
                               f"{budget.options.measure_timeout:g} s the station gives one rig ran out "
                               "(CollectOptions.measure_timeout)") from None
        raise
    budget.streamed += result.size
    return result


async def read_partition(stream: Streamer, device: str, size: int, budget: MeasureBudget) -> PartitionReading:
    """``cat DEVICE`` streamed: the station's digest and content scan of exactly ``size`` bytes."""
    digest = hashlib.sha256()
    scanner = ContentScanner()

    def sink(chunk: bytes) -> None:
        digest.update(chunk)
        scanner.feed(chunk)

    try:
        result = await _stream(stream, f"cat {device}", sink, budget, size, device)
    except CollectError as e:
        if e.code == REPLY_TOO_LARGE:
            raise CollectError(REPLY_TOO_LARGE, f"{device} streamed more than the {size} bytes /proc/mtd gives it: "
                               "the rig's answers about its own flash disagree") from None
        raise
    if result.exit_status != 0 or result.size != size:
        status = "no exit status" if result.exit_status is None else f"exit status {result.exit_status}"
        said = printable(result.stderr.strip(), 160)
        return PartitionReading(None, None, f"cat gave {status} after {result.size} of {size} bytes"
                                + (f": {said}" if said else ""))
    return PartitionReading("sha256:" + digest.hexdigest(), scanner.finish(), "")


class _Splitter:
    """Routes one concatenated stream to each partition's digest and scanner by its offset."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes
        self.digests = [hashlib.sha256() for _ in sizes]
        self.scanners = [ContentScanner() for _ in sizes]
        self.index = 0
        self.left = sizes[0] if sizes else 0

    def __call__(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view and self.index < len(self.sizes):
            if self.left == 0:
                self.index += 1
                self.left = self.sizes[self.index] if self.index < len(self.sizes) else 0
                continue
            part = view[: self.left]
            self.digests[self.index].update(part)
            self.scanners[self.index].feed(part)
            self.left -= len(part)
            view = view[len(part):]


async def read_partitions(stream: Streamer, partitions: list[tuple[str, int]],
                          budget: MeasureBudget) -> list[PartitionReading]:
    """Every partition in one ``cat DEV0 DEV1 ...``, split on the station by the sizes /proc/mtd
    gave: one channel instead of one per partition (channels, not bytes, are most of what a
    thousand rigs cost). Exactly the total must arrive with exit status 0, or the split proves
    nothing: then each partition is read on its own, so a read error is pinned to its partition."""
    if not partitions:
        return []
    sizes = [size for _, size in partitions]
    splitter = _Splitter(sizes)
    devices = " ".join(device for device, _ in partitions)
    try:
        result = await _stream(stream, f"cat {devices}", splitter, budget, sum(sizes), "the flash partitions")
    except CollectError as e:
        if e.code == REPLY_TOO_LARGE:
            raise CollectError(REPLY_TOO_LARGE, f"{devices} streamed more than the {sum(sizes)} bytes /proc/mtd "
                               "gives them: the rig's answers about its own flash disagree") from None
        raise
    if result.exit_status == 0 and result.size == sum(sizes):
        return [PartitionReading("sha256:" + d.hexdigest(), s.finish(), "")
                for d, s in zip(splitter.digests, splitter.scanners, strict=True)]
    return await all_of(*(read_partition(stream, device, size, budget) for device, size in partitions))


async def all_of(*steps: Awaitable[T]) -> list[T]:
    """Run the steps at once and return their results in order; the first failure cancels the
    rest and is raised as it is (a CollectError ends the collection, as one step alone would)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_awaited(step)) for step in steps]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


async def _awaited(step: Awaitable[T]) -> T:
    return await step


@dataclass(frozen=True)
class BinaryReading:
    path: str
    sha256: str | None  # None: the file is not there (or could not be read)
    size: int
    failure: str  # why it could not be read, "" when it was or is simply absent


async def read_binary(stream: Streamer, path: str, scan: IndicatorScan, budget: MeasureBudget) -> BinaryReading:
    """``cat PATH`` streamed, hashed and searched for the indicators; an absent file is no error."""
    digest = hashlib.sha256()

    def sink(chunk: bytes) -> None:
        digest.update(chunk)
        scan.feed(chunk)

    cap = min(budget.options.max_binary_bytes, budget.bytes_left)
    try:
        result = await _stream(stream, f"cat {path}", sink, budget, cap, path)
    except CollectError as e:
        if e.code == REPLY_TOO_LARGE:
            raise CollectError(MEASUREMENT_LIMIT_EXCEEDED, f"{path} is larger than the {cap} bytes the station "
                               "streams for one binary (CollectOptions.max_binary_bytes, or what is left of "
                               "max_measured_bytes)") from None
        raise
    if result.exit_status == 0:
        return BinaryReading(path, "sha256:" + digest.hexdigest(), result.size, "")
    if b"No such file" in result.stderr and result.size == 0:
        return BinaryReading(path, None, 0, "")
    status = "no exit status" if result.exit_status is None else f"exit status {result.exit_status}"
    return BinaryReading(path, None, result.size, f"cat {path} gave {status}: {printable(result.stderr.strip(), 160)}")

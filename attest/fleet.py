"""Discover and verify many devices concurrently, streaming progress events and verdicts.

A run is one pipeline: ranges are probed (bounded concurrency) and each host that answers goes
straight to collection (bounded concurrency), and each device is appraised the moment its
evidence is complete, so the first verdicts come while the rest of the range is still being read,
and a dead or slow address holds one slot for its own timeout, never the run or anyone's verdict.

A serial or MAC seen on two units flags both as clones, and the second unit may be read long
after the first was judged: the earlier verdict is then judged again and sent as
``DeviceRevised``, which names the appraisal it supersedes. ``BatchDone`` carries the final
verdicts (revisions applied), in the order the devices were asked for.

Events are plain frozen dataclasses: the CLI prints them and the GUI turns them into Qt signals
(gui/jobs.py), and both may ignore kinds they do not know. What a device meets, in order:
``Discovered`` (found; hosts of a range only), ``DeviceStarted`` (collecting), ``DeviceCollected``
and, when nothing could be read from it, ``DeviceFailed``, then ``DeviceAppraised`` (its
verdict) and, should a later device turn out to share its identity, ``DeviceRevised``. A range
also gives ``DiscoveryProgress`` now and then and one ``DiscoveryDone``; ``BatchDone`` is always
last.

A host of a range that opens a miner port but identifies as nothing we read is collected all the
same; if nothing can be read from it either, its evidence leads with NOT_IDENTIFIED and what it
said, so it is a row (UNKNOWN), never silently dropped.

Memory stays flat as the fleet grows: addresses are drawn lazily from ranges by a fixed pool of
workers (not a task per address), discovery results are handed on and dropped, and each device
keeps only its evidence and capped transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from attest.address import EndpointTarget, HostTarget, PortProfile, RangeTarget, Target
from attest.appraise import Appraisal
from attest.collect import collect
from attest.credentials import Credentials
from attest.discovery import (
    API_HEAD_START,
    DISCOVERY_CONCURRENCY,
    DISCOVERY_TIMEOUT,
    Discovered,
    DiscoveryDone,
    DiscoveryEvent,
    DiscoveryProgress,
    Prober,
    address_order,
    discover,
    discover_events,
    expand,
    probe_host,
    range_addresses,
    range_size,
)
from attest.drivers.base import CollectOptions
from attest.evidence import Evidence, Problem
from attest.history import History
from attest.judge import BatchJudge, DeviceKey, EvidenceSource, prior_checks
from attest.manifest import Manifest
from attest.policy import Policy

# The GUI and the CLI reach discovery through this module (DESIGN.md: devices only through fleet).
__all__ = [
    "API_HEAD_START", "DEADLINE_EXCEEDED", "DISCOVERY_CONCURRENCY", "DISCOVERY_TIMEOUT", "NOT_IDENTIFIED",
    "BatchDone", "DeviceAppraised", "DeviceCollected", "DeviceFailed", "DeviceRevised", "DeviceStarted",
    "Discovered", "DiscoveryDone",
    "DiscoveryEvent", "DiscoveryProgress", "Event", "EvidenceSource", "discover", "discover_events", "expand",
    "prior_checks", "probe_host", "range_addresses", "range_size", "verify_many",
]

#: Appraisals between short real pauses. Appraisal is pure Python: without a pause that blocks
#: (and so releases the GIL), a GUI thread in the same process waits up to the GIL switch
#: interval for each of the hundreds of Python calls one repaint makes.
APPRAISALS_PER_TURN = 8
APPRAISAL_PAUSE_SECONDS = 0.002
#: Kept back from a run's deadline to appraise and print what was collected: appraisal measured
#: about 0.2 ms per device plus the pause above (0.25 ms per device), so twice that per device,
#: and a fixed part for the output.
DEADLINE_RESERVE_SECONDS = 0.1
DEADLINE_RESERVE_PER_DEVICE = 0.001

#: Collections start RAMP_FIRST at a time and widen by RAMP_STEP each time a device is finished
#: or RAMP_SECONDS pass, up to the run's concurrency. Devices collected at once share the CPU
#: (the station's, and on a simulated bench the simulator's) evenly, so 64 started together all
#: finish late together; a few first give the technician the first verdicts in seconds, and the
#: ramp is over within a couple of seconds, long before a batch's slow and dead rigs are.
RAMP_FIRST = 8
RAMP_STEP = 8
RAMP_SECONDS = 0.25

DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
NOT_IDENTIFIED = "NOT_IDENTIFIED"

log = logging.getLogger(__name__)


# --- events ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeviceStarted:
    """Collecting: the device's check really started (not merely queued)."""

    address: str


@dataclass(frozen=True)
class DeviceCollected:
    evidence: Evidence


@dataclass(frozen=True)
class DeviceFailed:
    """Nothing could be read from the device; its verdict will be UNKNOWN with ``code``."""

    address: str
    code: str
    detail: str


@dataclass(frozen=True)
class DeviceAppraised:
    """The device's verdict, given as soon as its evidence was complete."""

    appraisal: Appraisal


@dataclass(frozen=True)
class DeviceRevised:
    """A verdict of this run judged again: ``because`` (a device read later) shares its serial or
    MAC, so both are clones. ``appraisal`` replaces ``supersedes``, the device's previous
    DeviceAppraised or DeviceRevised appraisal."""

    appraisal: Appraisal
    supersedes: Appraisal
    because: str


@dataclass(frozen=True)
class BatchDone:
    """The run is over: every device's final verdict (revisions applied), in the order asked for."""

    appraisals: tuple[Appraisal, ...]


Event = (Discovered | DiscoveryProgress | DiscoveryDone | DeviceStarted | DeviceCollected | DeviceFailed
         | DeviceAppraised | DeviceRevised | BatchDone)


# --- verification ------------------------------------------------------------------------------



def _failed_evidence(address: str, code: str, detail: str) -> Evidence:
    return Evidence(address, (), (Problem(code, address, detail),))


class _Run:
    """One verify_many: the probe of its ranges, the collectors, and what is queued and collected.

    Results are keyed by where the device stands in the request (explicit targets in the order
    given, a range's hosts in address order), so the final report reads the same however the
    network timed the answers. An address asked for twice (a host inside a range also given,
    overlapping ranges) is checked once: checked twice, it would flag itself as a clone.
    """

    def __init__(self, collect_one: Callable[[HostTarget | EndpointTarget], Awaitable[Evidence]],
                 concurrency: int, judge_with: Callable[[asyncio.Queue[Event | None]], BatchJudge],
                 unidentified: dict[str, Discovered]) -> None:
        self.events: asyncio.Queue[Event | None] = asyncio.Queue()  # None: the run is over
        self.pending: dict[DeviceKey, str] = {}  # queued or being collected: key -> address
        self.judge = judge_with(self.events)
        self.prober: Prober | None = None
        self._work: asyncio.Queue[tuple[DeviceKey, HostTarget | EndpointTarget] | None] = asyncio.Queue()
        self._enqueued: set[str] = set()
        self._collect_one = collect_one
        self._concurrency = concurrency
        self._unidentified = unidentified  # address -> what discovery saw there
        self._finished = 0
        self._a_device_finished = asyncio.Event()  # wakes the ramp

    @property
    def devices(self) -> int:
        return len(self.pending) + len(self.judge.current)

    def enqueue(self, key: DeviceKey, target: HostTarget | EndpointTarget) -> None:
        if target.address in self._enqueued:
            return
        self._enqueued.add(target.address)
        self.pending[key] = target.address
        self._work.put_nowait((key, target))

    def finish(self, key: DeviceKey, evidence: Evidence) -> None:
        """Record a device's evidence, announce it and hand it to appraisal; never awaits, so a
        cancel cannot split it."""
        self.pending.pop(key, None)
        self._finished += 1
        self._a_device_finished.set()
        seen = self._unidentified.get(evidence.address)
        if seen is not None and not evidence.claims:
            evidence = replace(evidence, problems=(Problem(NOT_IDENTIFIED, evidence.address,
                                                           seen.not_identified_text()), *evidence.problems))
        self.events.put_nowait(DeviceCollected(evidence))
        if not evidence.claims:
            first = evidence.problems[0] if evidence.problems else None
            self.events.put_nowait(DeviceFailed(evidence.address, first.code if first else "IDENTITY_NOT_READ",
                                                first.detail if first else "the device gave no claims"))
        self.judge.submit(key, evidence)

    async def run(self, ranges: list[tuple[int, RangeTarget]], *, ports: PortProfile, options: CollectOptions,
                  discovery_concurrency: int) -> None:
        """Probe, collect and judge everything, then put None (the end) on the events queue; it
        is put there even when this fails, so the consumer is never left waiting for events that
        will not come (verify_many then raises what went wrong)."""
        try:
            await self._probe_and_collect(ranges, ports=ports, options=options,
                                          discovery_concurrency=discovery_concurrency)
            await self.judge.drain()
        finally:
            self.events.put_nowait(None)

    async def _probe_and_collect(self, ranges: list[tuple[int, RangeTarget]], *, ports: PortProfile,
                                 options: CollectOptions, discovery_concurrency: int) -> None:
        collectors = [asyncio.ensure_future(self._collector()) for _ in range(min(self._concurrency, RAMP_FIRST))]
        probed = asyncio.Event()
        ramp = asyncio.ensure_future(self._ramp(collectors, probed))
        try:
            if ranges:
                addresses = ((index, host) for index, target in ranges for host in range_addresses(target.network))
                self.prober = Prober(addresses, sum(range_size(t.network) for _, t in ranges), ports=ports,
                                      options=options, concurrency=discovery_concurrency, thorough=False,
                                      on_found=self._found, on_progress=self.events.put_nowait)
                await self.prober.run()
            probed.set()
            await ramp  # no collector is added after this: each gets its end marker
            for _ in collectors:
                self._work.put_nowait(None)
            await asyncio.gather(*collectors)
        finally:
            ramp.cancel()
            for c in collectors:
                c.cancel()
            await asyncio.gather(ramp, *collectors, return_exceptions=True)

    async def _ramp(self, collectors: list[asyncio.Future[None]], probed: asyncio.Event) -> None:
        """Widen the pool of collectors to the run's concurrency (see RAMP_FIRST); done early
        when everything is probed and every queued device has a collector."""
        while len(collectors) < self._concurrency:
            if probed.is_set() and self._work.empty():
                return
            self._a_device_finished.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RAMP_SECONDS):
                    await self._a_device_finished.wait()
            if not self._work.empty():
                more = min(RAMP_STEP, self._concurrency - len(collectors))
                collectors.extend(asyncio.ensure_future(self._collector()) for _ in range(more))

    def _found(self, index: int, found: Discovered) -> None:
        self.events.put_nowait(found)
        if not found.identified:
            self._unidentified[found.host] = found
        self.enqueue((index, address_order(found.host)), HostTarget(found.host))

    async def _collector(self) -> None:
        while (item := await self._work.get()) is not None:
            key, target = item
            self.events.put_nowait(DeviceStarted(target.address))
            self.finish(key, await self._collect_one(target))
            if self._finished % APPRAISALS_PER_TURN == 0:
                await asyncio.sleep(APPRAISAL_PAUSE_SECONDS)


async def verify_many(targets: Sequence[Target], *, manifests: Sequence[Manifest], policy: Policy,
                      ports: PortProfile, credentials: Credentials, options: CollectOptions,
                      concurrency: int = 64, deadline: float | None = None, host_deadline: float | None = None,
                      discovery_concurrency: int = DISCOVERY_CONCURRENCY, histories: Sequence[History] = (),
                      sources: Sequence[EvidenceSource] = (), station: str | None = None,
                      batch: str | None = None, discovered: Sequence[Discovered] = ()) -> AsyncIterator[Event]:
    """Discover the ranges, collect every device (``concurrency`` at once), and appraise each as
    soon as its evidence is complete.

    Hosts found in a range are collected as they are found. ``host_deadline`` (seconds) bounds
    one device's collection: past it the device is UNKNOWN with TIMEOUT. ``deadline`` (seconds)
    bounds the run: devices not finished by then are UNKNOWN with DEADLINE_EXCEEDED, addresses
    not yet probed are left out (DiscoveryDone says how many), and what was collected is still
    appraised and reported. DeviceStarted is emitted when a device's check really starts. If the
    consumer stops early (a cancelled check), every probe and collection still running is
    cancelled, so nothing keeps talking to rigs behind the technician's back.

    ``sources`` add evidence that does not come from asking the device (the network watch);
    ``histories`` are consulted for each serial's earlier checks, leaving out records of
    ``batch`` (this run's own); ``station`` is this station's id. ``discovered`` is what an
    earlier discovery found on hosts given here one by one (the GUI's Scan range): a host it saw
    open a miner port without identifying is reported as NOT_IDENTIFIED, as in a range.
    """
    loop = asyncio.get_running_loop()
    ends_at = None if deadline is None else loop.time() + deadline

    async def collect_one(target: HostTarget | EndpointTarget) -> Evidence:
        per_device = asyncio.timeout(host_deadline)
        try:
            async with per_device:
                return await collect(target, ports=ports, credentials=credentials, options=options)
        except TimeoutError:
            if per_device.expired():
                return _failed_evidence(target.address, "TIMEOUT",
                                        f"not finished within the per-device deadline of {host_deadline:g} s")
            log.exception("collecting %s failed", target.address)  # collect() turns its own timeouts into values
            return _failed_evidence(target.address, "INTERNAL_ERROR", "TimeoutError escaped the drivers")
        except Exception as e:  # a bug must cost one device, never hang the batch; logged
            log.exception("collecting %s failed", target.address)
            return _failed_evidence(target.address, "INTERNAL_ERROR", f"{type(e).__name__}: {e}")

    def judge_with(events: asyncio.Queue[Event | None]) -> BatchJudge:
        return BatchJudge(manifests, policy, histories=histories, sources=sources, station=station, batch=batch,
                          appraised=lambda a: events.put_nowait(DeviceAppraised(a)),
                          revised=lambda a, old, because: events.put_nowait(DeviceRevised(a, old, because)))

    state = _Run(collect_one, max(1, concurrency), judge_with,
                 {d.host: d for d in discovered if not d.identified})
    ranges: list[tuple[int, RangeTarget]] = []
    for index, target in enumerate(targets):
        if isinstance(target, RangeTarget):
            ranges.append((index, target))
        else:
            state.enqueue((index, (0, 0)), target)
    runner = asyncio.ensure_future(state.run(ranges, ports=ports, options=options,
                                             discovery_concurrency=discovery_concurrency))
    discovery_reported = finished = False
    try:
        while True:
            cutoff = None if ends_at is None else ends_at - _reserve(state.devices)
            try:
                async with asyncio.timeout_at(cutoff):
                    event = await state.events.get()
            except TimeoutError:
                break  # the run's deadline
            if event is None:
                finished = True  # everything probed, collected and judged, or the run failed
                await asyncio.gather(runner)  # raises what failed, so a bug is shown, not a hang
                break
            discovery_reported |= isinstance(event, DiscoveryDone)
            yield event
        if not finished:
            # The deadline: stop every probe and collection, then account for what was cut off.
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            detail = f"the run's deadline of {deadline:g} s passed before this device was finished"
            for key, address in sorted(state.pending.items()):
                state.finish(key, _failed_evidence(address, DEADLINE_EXCEEDED, detail))
            await state.judge.drain()
            while not state.events.empty():
                event = state.events.get_nowait()
                if event is not None:
                    discovery_reported |= isinstance(event, DiscoveryDone)
                    yield event
            if state.prober is not None and not discovery_reported:
                yield state.prober.done()
    finally:
        runner.cancel()
        state.judge.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    yield BatchDone(state.judge.final())


def _reserve(devices: int) -> float:
    return DEADLINE_RESERVE_SECONDS + DEADLINE_RESERVE_PER_DEVICE * devices

"""Discover and verify many devices concurrently, streaming progress events.

A run is one pipeline: ranges are probed (bounded concurrency) and each host that answers goes
straight to collection (bounded concurrency), so the first rigs are read while the rest of the
range is still being probed, and a dead or slow address holds one slot for its own timeout, never
the run. Appraisal waits for the whole batch, because a serial seen on two units flags both.

Events are plain frozen dataclasses: the CLI prints them and the GUI turns them into Qt signals
(gui/jobs.py), and both may ignore kinds they do not know. What a device meets, in order:
``Discovered`` (found; hosts of a range only), ``DeviceStarted`` (collecting), ``DeviceCollected``
and, when nothing could be read from it, ``DeviceFailed``, then ``DeviceAppraised`` (its
verdict). A range also gives ``DiscoveryProgress`` now and then and one ``DiscoveryDone``;
``BatchDone`` is always last.

Memory stays flat as the fleet grows: addresses are drawn lazily from ranges by a fixed pool of
workers (not a task per address), discovery results are handed on and dropped, and each device
keeps only its evidence and capped transcript.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from attest.address import EndpointTarget, HostTarget, PortProfile, RangeTarget, Target
from attest.appraise import Appraisal, appraise, clone_peers
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
from attest.evidence import Claim, Evidence, Problem
from attest.history import History, HistoryUnavailable, PriorChecks
from attest.manifest import Manifest
from attest.policy import Policy

# The GUI and the CLI reach discovery through this module (DESIGN.md: devices only through fleet).
__all__ = [
    "API_HEAD_START", "DEADLINE_EXCEEDED", "DISCOVERY_CONCURRENCY", "DISCOVERY_TIMEOUT", "BatchDone",
    "DeviceAppraised", "DeviceCollected", "DeviceFailed", "DeviceStarted", "Discovered", "DiscoveryDone",
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

DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"

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
    """The device's verdict."""

    appraisal: Appraisal


@dataclass(frozen=True)
class BatchDone:
    appraisals: tuple[Appraisal, ...]


Event = (Discovered | DiscoveryProgress | DiscoveryDone | DeviceStarted | DeviceCollected | DeviceFailed
         | DeviceAppraised | BatchDone)


class EvidenceSource(Protocol):
    """Evidence about a device that does not come from asking it: what the station's network
    watch saw it do, a flash dump attached to it. Asked once per device after its collection;
    it may wait (a watch window still open), and its claims join the device's evidence before
    appraisal."""

    async def claims_for(self, evidence: Evidence) -> tuple[Sequence[Claim], Sequence[Problem]]: ...


async def prior_checks(histories: Sequence[History], serial: str | None, *, batch: str | None) -> PriorChecks | None:
    """What every history holds about ``serial`` from earlier runs (never this run's own
    records); None when no history is configured or the serial was not read."""
    if not histories or not serial:
        return None
    sightings = []
    consulted: list[str] = []
    unavailable: list[str] = []
    for history in histories:
        try:
            found = await history.sightings(serial)
        except HistoryUnavailable as e:
            unavailable.append(f"{history.name}: {e.message}")
            continue
        consulted.append(history.name)
        sightings.extend(s for s in found if batch is None or s.batch != batch)
    unique = {(s.station, s.record): s for s in sightings}  # a record pushed to the store is in both
    return PriorChecks(tuple(unique.values()), tuple(consulted), tuple(unavailable))


async def _extended(evidence: Evidence, sources: Sequence[EvidenceSource]) -> Evidence:
    claims, problems = list(evidence.claims), list(evidence.problems)
    for source in sources:
        more_claims, more_problems = await source.claims_for(evidence)
        claims.extend(more_claims)
        problems.extend(more_problems)
    if len(claims) == len(evidence.claims) and len(problems) == len(evidence.problems):
        return evidence
    return replace(evidence, claims=tuple(claims), problems=tuple(problems))


# --- verification ------------------------------------------------------------------------------

_Key = tuple[int, tuple[int, int | str]]  # (place of the target in the request, address order)


def _failed_evidence(address: str, code: str, detail: str) -> Evidence:
    return Evidence(address, (), (Problem(code, address, detail),))


class _Run:
    """One verify_many: the probe of its ranges, the collectors, and what is queued and collected.

    Results are keyed by where the device stands in the request (explicit targets in the order
    given, a range's hosts in address order), so the report reads the same however the network
    timed the answers. An address asked for twice (a host inside a range also given, overlapping
    ranges) is checked once: checked twice, it would flag itself as a clone.
    """

    def __init__(self, collect_one: Callable[[HostTarget | EndpointTarget], Awaitable[Evidence]],
                 concurrency: int) -> None:
        self.events: asyncio.Queue[Event | None] = asyncio.Queue()  # None: the run is over
        self.pending: dict[_Key, str] = {}  # queued or being collected: key -> address
        self.evidences: dict[_Key, Evidence] = {}
        self.prober: Prober | None = None
        self._work: asyncio.Queue[tuple[_Key, HostTarget | EndpointTarget] | None] = asyncio.Queue()
        self._enqueued: set[str] = set()
        self._collect_one = collect_one
        self._concurrency = concurrency

    def enqueue(self, key: _Key, target: HostTarget | EndpointTarget) -> None:
        if target.address in self._enqueued:
            return
        self._enqueued.add(target.address)
        self.pending[key] = target.address
        self._work.put_nowait((key, target))

    def finish(self, key: _Key, evidence: Evidence) -> None:
        """Record a device's evidence and announce it; never awaits, so a cancel cannot split it."""
        self.pending.pop(key, None)
        self.evidences[key] = evidence
        self.events.put_nowait(DeviceCollected(evidence))
        if not evidence.claims:
            first = evidence.problems[0] if evidence.problems else None
            self.events.put_nowait(DeviceFailed(evidence.address, first.code if first else "IDENTITY_NOT_READ",
                                                first.detail if first else "the device gave no claims"))

    async def run(self, ranges: list[tuple[int, RangeTarget]], *, ports: PortProfile, options: CollectOptions,
                  discovery_concurrency: int) -> None:
        """Probe and collect everything, then put None (the end) on the events queue; it is put
        there even when this fails, so the consumer is never left waiting for events that will
        not come (verify_many then raises what went wrong)."""
        try:
            await self._probe_and_collect(ranges, ports=ports, options=options,
                                          discovery_concurrency=discovery_concurrency)
        finally:
            self.events.put_nowait(None)

    async def _probe_and_collect(self, ranges: list[tuple[int, RangeTarget]], *, ports: PortProfile,
                                 options: CollectOptions, discovery_concurrency: int) -> None:
        collectors = [asyncio.ensure_future(self._collector()) for _ in range(self._concurrency)]
        try:
            if ranges:
                addresses = ((index, host) for index, target in ranges for host in range_addresses(target.network))
                self.prober = Prober(addresses, sum(range_size(t.network) for _, t in ranges), ports=ports,
                                      options=options, concurrency=discovery_concurrency, thorough=False,
                                      on_found=self._found, on_progress=self.events.put_nowait)
                await self.prober.run()
            for _ in collectors:
                self._work.put_nowait(None)
            await asyncio.gather(*collectors)
        finally:
            for c in collectors:
                c.cancel()
            await asyncio.gather(*collectors, return_exceptions=True)

    def _found(self, index: int, found: Discovered) -> None:
        self.events.put_nowait(found)
        self.enqueue((index, address_order(found.host)), HostTarget(found.host))

    async def _collector(self) -> None:
        while (item := await self._work.get()) is not None:
            key, target = item
            self.events.put_nowait(DeviceStarted(target.address))
            self.finish(key, await self._collect_one(target))


async def verify_many(targets: Sequence[Target], *, manifests: Sequence[Manifest], policy: Policy,
                      ports: PortProfile, credentials: Credentials, options: CollectOptions,
                      concurrency: int = 64, deadline: float | None = None, host_deadline: float | None = None,
                      discovery_concurrency: int = DISCOVERY_CONCURRENCY, histories: Sequence[History] = (),
                      sources: Sequence[EvidenceSource] = (), station: str | None = None,
                      batch: str | None = None) -> AsyncIterator[Event]:
    """Discover the ranges, collect every device (``concurrency`` at once), then appraise the batch.

    Hosts found in a range are collected as they are found. ``host_deadline`` (seconds) bounds
    one device's collection: past it the device is UNKNOWN with TIMEOUT. ``deadline`` (seconds)
    bounds the run: devices not finished by then are UNKNOWN with DEADLINE_EXCEEDED, addresses
    not yet probed are left out (DiscoveryDone says how many), and what was collected is still
    appraised and reported. DeviceStarted is emitted when a device's check really starts. If the
    consumer stops early (a cancelled check), every probe and collection still running is
    cancelled, so nothing keeps talking to rigs behind the technician's back.

    ``sources`` add evidence that does not come from asking the device (the network watch);
    ``histories`` are consulted for each serial's earlier checks, leaving out records of
    ``batch`` (this run's own); ``station`` is this station's id.
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

    state = _Run(collect_one, max(1, concurrency))
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
            cutoff = None if ends_at is None else ends_at - _reserve(len(state.pending) + len(state.evidences))
            try:
                async with asyncio.timeout_at(cutoff):
                    event = await state.events.get()
            except TimeoutError:
                break  # the run's deadline
            if event is None:
                finished = True  # everything probed and collected, or the run failed
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
            while not state.events.empty():
                event = state.events.get_nowait()
                if event is not None:
                    discovery_reported |= isinstance(event, DiscoveryDone)
                    yield event
            if state.prober is not None and not discovery_reported:
                yield state.prober.done()
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    evidences = [state.evidences[k] for k in sorted(state.evidences)]
    state.evidences.clear()
    if sources:
        evidences = list(await asyncio.gather(*(_extended(ev, sources) for ev in evidences)))
    peers = clone_peers(evidences)
    appraisals: list[Appraisal] = []
    now = datetime.now(UTC)
    for i, ev in enumerate(evidences):
        serial = ev.value("unit.serial")
        prior = await prior_checks(histories, None if serial is None else str(serial), batch=batch)
        appraisal = appraise(ev, manifests, policy, clone_addresses=peers[ev.address], prior=prior,
                             station=station, now=now)
        appraisals.append(appraisal)
        yield DeviceAppraised(appraisal)
        if i % APPRAISALS_PER_TURN == APPRAISALS_PER_TURN - 1:
            await asyncio.sleep(APPRAISAL_PAUSE_SECONDS)
    yield BatchDone(tuple(appraisals))


def _reserve(devices: int) -> float:
    return DEADLINE_RESERVE_SECONDS + DEADLINE_RESERVE_PER_DEVICE * devices


"""Discover and verify many devices concurrently, streaming progress events.

The CLI prints these events; the GUI turns them into Qt signals (gui/jobs.py). Appraisal waits
for the whole batch so that a serial seen on two units flags both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from attest.address import EndpointTarget, HostTarget, PortProfile, RangeTarget, Target
from attest.appraise import Appraisal, appraise, clone_peers
from attest.collect import collect
from attest.credentials import Credentials
from attest.drivers import antminer_web, cgminer, ssh
from attest.drivers.base import CollectError, CollectOptions, Session
from attest.evidence import Evidence, Problem, Transcript
from attest.manifest import Manifest
from attest.policy import Policy

DISCOVERY_TIMEOUT = 2.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Discovered:
    host: str
    services: dict[str, str]  # endpoint kind -> what answered there (e.g. "bmminer", "antminer-web")


@dataclass(frozen=True)
class DeviceStarted:
    address: str


@dataclass(frozen=True)
class DeviceCollected:
    evidence: Evidence


@dataclass(frozen=True)
class DeviceAppraised:
    appraisal: Appraisal


@dataclass(frozen=True)
class BatchDone:
    appraisals: tuple[Appraisal, ...]


Event = DeviceStarted | DeviceCollected | DeviceAppraised | BatchDone


async def probe_host(host: str, ports: PortProfile, options: CollectOptions) -> Discovered:
    """Which of the port profile's services answer on ``host``, and as what."""
    session = Session(CollectOptions(timeout=min(options.timeout, DISCOVERY_TIMEOUT),
                                     max_reply_bytes=64 * 1024), Transcript(cap_bytes=4096))
    probes = (("api", cgminer, ports.api), ("web", antminer_web, ports.web), ("ssh", ssh, ports.ssh))

    async def one(kind: str, driver: object, port: int) -> tuple[str, str | None]:
        try:
            return kind, await driver.identify(host, port, session)  # type: ignore[attr-defined]
        except CollectError:
            return kind, None

    found = await asyncio.gather(*(one(kind, driver, port) for kind, driver, port in probes))
    return Discovered(host, {kind: family for kind, family in found if family})


async def discover(hosts: Sequence[str], *, ports: PortProfile, options: CollectOptions,
                   concurrency: int = 256) -> AsyncIterator[Discovered]:
    """Probe every host with bounded concurrency; yields only hosts where something answered."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(host: str) -> Discovered:
        async with gate:
            return await probe_host(host, ports, options)

    for next_done in asyncio.as_completed([guarded(h) for h in hosts]):
        found = await next_done
        if found.services:
            yield found


async def expand(targets: Sequence[Target], *, ports: PortProfile,
                 options: CollectOptions) -> list[HostTarget | EndpointTarget]:
    """Ranges become the hosts that answer in them; hosts and endpoints pass through."""
    out: list[HostTarget | EndpointTarget] = []
    for target in targets:
        if isinstance(target, RangeTarget):
            found = [d async for d in discover(target.hosts(), ports=ports, options=options)]
            out.extend(HostTarget(d.host) for d in sorted(found, key=lambda d: _sort_key(d.host)))
        else:
            out.append(target)
    return out


def _sort_key(host: str) -> tuple[int, ...] | tuple[str]:
    try:
        return tuple(int(p) for p in host.split("."))
    except ValueError:
        return (host,)


#: Appraisals between short real pauses. Appraisal is pure Python: without a pause that blocks
#: (and so releases the GIL), a GUI thread in the same process waits up to the GIL switch
#: interval for each of the hundreds of Python calls one repaint makes.
APPRAISALS_PER_TURN = 8
APPRAISAL_PAUSE_SECONDS = 0.002


async def verify_many(targets: Sequence[HostTarget | EndpointTarget], *,
                      manifests: Sequence[Manifest], policy: Policy, ports: PortProfile,
                      credentials: Credentials, options: CollectOptions,
                      concurrency: int = 64) -> AsyncIterator[Event]:
    """Collect every target (``concurrency`` at once), then appraise the batch.

    DeviceStarted is emitted when a device's check really starts, not when it is queued. If the
    consumer stops early (a cancelled check), every device task still running is cancelled, so
    nothing keeps talking to rigs behind the technician's back.
    """
    gate = asyncio.Semaphore(max(1, concurrency))
    events: asyncio.Queue[DeviceStarted | DeviceCollected] = asyncio.Queue()

    async def one(target: HostTarget | EndpointTarget) -> None:
        async with gate:
            events.put_nowait(DeviceStarted(target.address))
            try:
                ev = await collect(target, ports=ports, credentials=credentials, options=options)
            except Exception as e:  # a bug must cost one device, never hang the batch; logged
                log.exception("collecting %s failed", target.address)
                problem = Problem("INTERNAL_ERROR", target.address, f"{type(e).__name__}: {e}")
                ev = Evidence(target.address, (), (problem,))
            events.put_nowait(DeviceCollected(ev))

    tasks = [asyncio.ensure_future(one(t)) for t in targets]
    evidences: list[Evidence] = []
    try:
        while len(evidences) < len(tasks):
            event = await events.get()
            if isinstance(event, DeviceCollected):
                evidences.append(event.evidence)
            yield event
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    order = {t.address: i for i, t in enumerate(targets)}
    evidences.sort(key=lambda e: order.get(e.address, len(order)))
    peers = clone_peers(evidences)
    appraisals: list[Appraisal] = []
    for i, ev in enumerate(evidences):
        appraisal = appraise(ev, manifests, policy, clone_addresses=peers[ev.address])
        appraisals.append(appraisal)
        yield DeviceAppraised(appraisal)
        if i % APPRAISALS_PER_TURN == APPRAISALS_PER_TURN - 1:
            await asyncio.sleep(APPRAISAL_PAUSE_SECONDS)
    yield BatchDone(tuple(appraisals))

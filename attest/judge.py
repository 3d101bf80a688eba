"""Judging a batch as it streams in: each device appraised the moment its evidence is complete.

``attest.fleet`` collects; this module decides when a device can be judged and what else it is
judged with: extra evidence from ``EvidenceSource`` objects (the network watch, a flash dump),
what the station's histories hold about its serial from earlier runs, and the other devices of
the batch that share its serial or MAC. A clone can only be seen once its twin is read, which
may be long after the first of the two was judged: the earlier verdict is then judged again
(``revised``), never held back waiting for the rest of the batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from attest.appraise import Appraisal, appraise, clone_keys
from attest.evidence import Claim, Evidence, Problem
from attest.history import History, HistoryUnavailable, PriorChecks
from attest.manifest import Manifest
from attest.policy import Policy

#: Where a device stands in the request: (place of its target, address order within a range).
DeviceKey = tuple[int, tuple[int, int | str]]

log = logging.getLogger(__name__)


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


class BatchJudge:
    """Appraises each device the moment its evidence is complete, and judges an earlier device
    again when a later one shares its serial or MAC (both are then clones).

    Extra evidence (``sources``) and earlier checks (``histories``) are awaited per device in a
    task of its own, so a source that waits (a network watch window still open) delays only that
    device's verdict, never the collection of others. The clone bookkeeping and the appraisals
    themselves run without an await in between, so two devices finishing together cannot miss
    each other.
    """

    def __init__(self, manifests: Sequence[Manifest], policy: Policy, *, histories: Sequence[History],
                 sources: Sequence[EvidenceSource], station: str | None, batch: str | None,
                 appraised: Callable[[Appraisal], None],
                 revised: Callable[[Appraisal, Appraisal, str], None]) -> None:
        self._manifests, self._policy = manifests, policy
        self._histories, self._sources = histories, sources
        self._station, self._batch = station, batch
        self._appraised, self._revised = appraised, revised
        self.current: dict[DeviceKey, Appraisal] = {}
        self._inputs: dict[DeviceKey, tuple[Evidence, PriorChecks | None]] = {}
        self._holders: dict[tuple[str, str], list[DeviceKey]] = defaultdict(list)
        self._waiting: set[asyncio.Task[None]] = set()
        self.judged = 0

    def submit(self, key: DeviceKey, evidence: Evidence) -> None:
        """Judge now, or once the device's sources and history have answered."""
        if not self._sources and not self._histories:
            self._judge(key, evidence, None)
            return
        task = asyncio.ensure_future(self._prepared(key, evidence))
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)

    async def _prepared(self, key: DeviceKey, evidence: Evidence) -> None:
        try:
            extended = await _extended(evidence, self._sources) if self._sources else evidence
            serial = extended.value("unit.serial")
            prior = await prior_checks(self._histories, None if serial is None else str(serial), batch=self._batch)
        except Exception as e:  # a broken source or history costs this device its extra evidence, not the run
            log.exception("preparing %s for appraisal failed", evidence.address)
            extended = replace(evidence, problems=(*evidence.problems, Problem(
                "INTERNAL_ERROR", evidence.address, f"{type(e).__name__} while adding evidence or history: {e}")))
            prior = None
        self._judge(key, extended, prior)

    async def drain(self) -> None:
        """Until every submitted device is judged. ``asyncio.wait``, not gather: a cancelled run
        must not cancel the devices' own tasks here (``cancel`` does that)."""
        while self._waiting:
            await asyncio.wait(set(self._waiting))

    def cancel(self) -> None:
        for task in self._waiting:
            task.cancel()

    def _judge(self, key: DeviceKey, evidence: Evidence, prior: PriorChecks | None) -> None:
        keys = clone_keys(evidence)
        earlier = sorted({k for ck in keys for k in self._holders[ck]})
        self._inputs[key] = (evidence, prior)
        for ck in keys:
            self._holders[ck].append(key)
        now = datetime.now(UTC)
        self.current[key] = self._appraise(key, now)
        self._appraised(self.current[key])
        for peer in earlier:  # they were judged without knowing of this one
            old = self.current[peer]
            self.current[peer] = self._appraise(peer, now)
            self._revised(self.current[peer], old, evidence.address)
        self.judged += 1

    def _appraise(self, key: DeviceKey, now: datetime) -> Appraisal:
        evidence, prior = self._inputs[key]
        peers = sorted({self._inputs[k][0].address for ck in clone_keys(evidence) for k in self._holders[ck]
                        if k != key})
        return appraise(evidence, self._manifests, self._policy, clone_addresses=peers, prior=prior,
                        station=self._station, now=now)

    def final(self) -> tuple[Appraisal, ...]:
        return tuple(self.current[k] for k in sorted(self.current))

"""Verdicts stream: each device is judged the moment its evidence is complete, a clone read later
revises the earlier verdict, and a source that waits holds back only its own device."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from attest.address import EndpointTarget, PortProfile
from attest.appraise import Appraisal
from attest.credentials import Credentials
from attest.drivers.base import CollectOptions
from attest.evidence import Claim, Evidence, Problem
from attest.fleet import BatchDone, DeviceAppraised, DeviceCollected, DeviceRevised, verify_many
from attest.judge import BatchJudge
from attest.manifest import canonical_json, parse_payload
from attest.policy import Policy
from attest.sim.runner import manifest_payload, plan_fleet
from attest.verdict import Verdict
from tests.test_appraise import POLICY, evidence_for, rig_named


@pytest.fixture(scope="module")
def fleet():
    return plan_fleet(13, "mixed", "127.0.9.1")


@pytest.fixture(scope="module")
def manifest(fleet):
    return parse_payload(canonical_json(manifest_payload(fleet, sequence=7, now=datetime.now(UTC))))


def test_a_clone_read_late_revises_the_verdict_already_given(fleet, manifest):
    genuine = evidence_for(rig_named(fleet, "genuine"))
    other = evidence_for(rig_named(fleet, "pool-hijack"))
    twin = replace(genuine, address="127.0.9.99")  # the same serial and MAC at another address
    events: list[tuple[str, Appraisal, Appraisal | None, str]] = []

    async def run() -> tuple[Appraisal, ...]:
        judge = BatchJudge([manifest], POLICY, histories=(), sources=(), station=None, batch=None,
                           appraised=lambda a: events.append(("appraised", a, None, "")),
                           revised=lambda a, old, because: events.append(("revised", a, old, because)))
        judge.submit((0, (0, 0)), genuine)
        first = events[0][1]
        assert first.verdict is Verdict.TRUSTED  # judged at once, before anything else was read
        judge.submit((1, (0, 0)), other)
        judge.submit((2, (0, 0)), twin)
        await judge.drain()
        return judge.final()

    final = asyncio.run(run())
    kinds = [(kind, a.address) for kind, a, _, _ in events]
    assert kinds == [("appraised", genuine.address), ("appraised", other.address), ("appraised", twin.address),
                     ("revised", genuine.address)]
    _, revision, supersedes, because = events[-1]
    assert supersedes is events[0][1] and because == twin.address
    assert revision.verdict is Verdict.UNTRUSTED
    assert any(r.code == "SERIAL_CLONED" and twin.address in r.detail for r in revision.reasons)
    late = events[2][1]
    assert late.verdict is Verdict.UNTRUSTED
    assert any(r.code == "SERIAL_CLONED" and genuine.address in r.detail for r in late.reasons)
    assert [a.address for a in final] == [genuine.address, other.address, twin.address]  # in the order asked
    assert [a.verdict for a in final] == [Verdict.UNTRUSTED, Verdict.WARNING, Verdict.UNTRUSTED]


def test_a_third_unit_with_the_serial_revises_both_earlier_ones_naming_all(fleet, manifest):
    genuine = evidence_for(rig_named(fleet, "genuine"))
    copies = [replace(genuine, address=f"127.0.9.{90 + i}") for i in range(2)]
    revised: list[tuple[str, str]] = []

    async def run() -> tuple[Appraisal, ...]:
        judge = BatchJudge([manifest], POLICY, histories=(), sources=(), station=None, batch=None,
                           appraised=lambda a: None,
                           revised=lambda a, old, because: revised.append((a.address, because)))
        for i, ev in enumerate([genuine, *copies]):
            judge.submit((i, (0, 0)), ev)
        await judge.drain()
        return judge.final()

    final = asyncio.run(run())
    assert revised == [(genuine.address, copies[0].address), (genuine.address, copies[1].address),
                       (copies[0].address, copies[1].address)]
    for a in final:
        cloned = next(r for r in a.reasons if r.code == "SERIAL_CLONED")
        assert all(other.address in cloned.detail for other in [genuine, *copies] if other.address != a.address)


class WaitingSource:
    """A source that holds one device's extra evidence until told (as a watch window does)."""

    def __init__(self, held: str) -> None:
        self.held = held
        self.release = asyncio.Event()

    async def claims_for(self, evidence: Evidence) -> tuple[Sequence[Claim], Sequence[Problem]]:
        if evidence.address == self.held:
            await self.release.wait()
        return (), ()


def test_a_source_that_waits_delays_only_its_own_verdict():
    targets = [EndpointTarget("jtag", "dev", 1, None, None, f"jtag://probe{i}") for i in range(3)]

    async def run() -> list[object]:
        source = WaitingSource("jtag://probe0")
        seen: list[object] = []
        async with asyncio.timeout(30):
            async for event in verify_many(targets, manifests=[], policy=Policy(), ports=PortProfile(),
                                           credentials=Credentials(), options=CollectOptions(timeout=2),
                                           sources=[source]):
                seen.append(event)
                judged = {e.appraisal.address for e in seen if isinstance(e, DeviceAppraised)}
                if judged == {"jtag://probe1", "jtag://probe2"}:
                    # every other rig was collected and judged while the first one's source waited
                    assert sum(isinstance(e, DeviceCollected) for e in seen) == 3
                    source.release.set()
        return seen

    events = asyncio.run(run())
    order = [e.appraisal.address for e in events if isinstance(e, DeviceAppraised)]
    assert order[-1] == "jtag://probe0" and len(order) == 3
    assert not any(isinstance(e, DeviceRevised) for e in events)
    assert [a.address for a in events[-1].appraisals] == [t.address for t in targets]
    assert isinstance(events[-1], BatchDone)

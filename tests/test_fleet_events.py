"""verify_many's event stream: starts when a device's check starts, stops cleanly, and a bug in one
probe or collection costs that device (or, in the run itself, raises) instead of hanging the batch."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from attest import discovery, fleet
from attest.address import EndpointTarget, HostTarget, PortProfile, RangeTarget
from attest.credentials import Credentials
from attest.drivers.base import CollectOptions
from attest.fleet import (
    BatchDone,
    DeviceAppraised,
    DeviceCollected,
    DeviceFailed,
    DeviceStarted,
    Discovered,
    DiscoveryDone,
    discover_events,
    verify_many,
)
from attest.policy import Policy


async def _silent_server() -> tuple[asyncio.Server, int, list[str], list[str]]:
    """Accepts and never answers; notes each connection and when the client hangs up."""
    opened: list[str] = []
    ended: list[str] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opened.append("conn")
        await reader.read()  # returns at EOF: the verifier closed its side
        ended.append("conn")
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], opened, ended


def test_starts_follow_the_concurrency_gate_and_cancel_stops_device_work():
    async def run() -> tuple[list[object], list[str], list[str]]:
        server, port, opened, ended = await _silent_server()
        targets = [EndpointTarget("api", "127.0.0.1", port, None, None, f"cgminer://127.0.0.1:{port}#{i}")
                   for i in range(3)]
        stream = verify_many(targets, manifests=[], policy=Policy(), ports=PortProfile(),
                             credentials=Credentials(), options=CollectOptions(timeout=30), concurrency=1)
        seen = [await anext(stream)]
        while not opened:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # room for a wrongly started second device to connect
        in_flight = list(opened)
        await stream.aclose()  # the technician pressed Cancel
        for _ in range(200):
            if ended:
                break
            await asyncio.sleep(0.01)
        server.close()
        await server.wait_closed()
        return seen, in_flight, ended

    seen, in_flight, ended = asyncio.run(run())
    assert [type(e) for e in seen] == [DeviceStarted]
    assert len(in_flight) == 1  # concurrency 1: one device talked to, the others only queued
    assert ended == ["conn"]  # cancelling closed the device's connection instead of leaving it running


def test_a_device_kind_without_a_driver_is_unknown_not_a_crash():
    async def run() -> list[object]:
        target = EndpointTarget("jtag", "dev", 1, None, None, "jtag://probe0")
        return [e async for e in verify_many([target, HostTarget("127.0.0.1")], manifests=[], policy=Policy(),
                                             ports=PortProfile(api=1, web=1, ssh=1), credentials=Credentials(),
                                             options=CollectOptions(timeout=2))]

    events = asyncio.run(run())
    assert isinstance(events[-1], BatchDone)
    appraised = [e.appraisal for e in events if isinstance(e, DeviceAppraised)]
    jtag = next(a for a in appraised if a.address == "jtag://probe0")
    assert jtag.verdict.value == "UNKNOWN"
    assert "DRIVER_UNAVAILABLE" in [r.code for r in jtag.reasons]
    assert sum(isinstance(e, DeviceCollected) for e in events) == 2


def test_a_driver_bug_while_probing_costs_one_address_not_the_range(monkeypatch, caplog):
    async def identify(host: str, port: int, session: object) -> str | None:
        if host == "127.0.0.2":
            raise ValueError("a reply the parser did not expect")
        return "bmminer"

    monkeypatch.setattr(discovery.cgminer, "identify", identify)

    async def run() -> list[object]:
        async with asyncio.timeout(30):
            return [e async for e in discover_events(["127.0.0.2", "127.0.0.3"], ports=PortProfile(api=1, web=1, ssh=1),
                                                     options=CollectOptions(timeout=2))]

    events = asyncio.run(run())
    assert [e.host for e in events if isinstance(e, Discovered)] == ["127.0.0.3"]
    done = events[-1]
    assert isinstance(done, DiscoveryDone) and (done.addresses, done.probed, done.found) == (2, 2, 1)
    assert "identifying api on 127.0.0.2:1 failed" in caplog.text  # logged, not swallowed


def test_a_timeout_escaping_collection_is_an_internal_error_not_a_crash(monkeypatch, caplog):
    async def collect(*args: object, **kwargs: object) -> object:
        raise TimeoutError  # no per-device deadline was set: this is a bug below, not a deadline

    monkeypatch.setattr(fleet, "collect", collect)

    async def run() -> list[object]:
        async with asyncio.timeout(30):
            return [e async for e in verify_many([HostTarget("127.0.0.1")], manifests=[], policy=Policy(),
                                                 ports=PortProfile(), credentials=Credentials(),
                                                 options=CollectOptions(timeout=2))]

    events = asyncio.run(run())
    assert isinstance(events[-1], BatchDone)
    (appraisal,) = events[-1].appraisals
    assert appraisal.verdict.value == "UNKNOWN" and "INTERNAL_ERROR" in [r.code for r in appraisal.reasons]
    assert [e.code for e in events if isinstance(e, DeviceFailed)] == ["INTERNAL_ERROR"]
    assert "collecting 127.0.0.1 failed" in caplog.text


def test_a_failure_of_the_run_itself_is_raised_not_a_hang(monkeypatch):
    async def broken(self: object) -> None:
        raise RuntimeError("the prober broke")

    monkeypatch.setattr(discovery.Prober, "run", broken)

    async def run() -> list[object]:
        async with asyncio.timeout(30):  # before the fix: no end of the stream, ever
            return [e async for e in verify_many([RangeTarget(ipaddress.ip_network("127.0.0.0/30"))], manifests=[],
                                                 policy=Policy(), ports=PortProfile(), credentials=Credentials(),
                                                 options=CollectOptions(timeout=2))]

    with pytest.raises(RuntimeError, match="the prober broke"):
        asyncio.run(run())

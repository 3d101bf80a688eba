"""verify_many's event stream: starts when a device's check starts, and stops cleanly."""

from __future__ import annotations

import asyncio

from attest.address import EndpointTarget, HostTarget, PortProfile
from attest.credentials import Credentials
from attest.drivers.base import CollectOptions
from attest.fleet import BatchDone, DeviceAppraised, DeviceCollected, DeviceStarted, verify_many
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

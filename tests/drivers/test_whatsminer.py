"""The Whatsminer (btminer API v2) driver against the simulator and scripted btminer peers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest

from attest.drivers import whatsminer
from attest.drivers.base import MALFORMED_REPLY, NOT_THIS_FAMILY, TIMEOUT, CollectError, Endpoint, Session
from attest.evidence import Assurance, Claim
from attest.sim.api_server import start_api_server, stop_api_server
from attest.sim.rig import GARBAGE, UNRESPONSIVE, Rig
from attest.sim.scenarios import make_rig
from tests.drivers.loopback import read_request, serve, session


@contextlib.asynccontextmanager
async def sim(rig: Rig) -> AsyncIterator[int]:
    server = await start_api_server(rig, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        await stop_api_server(server)


def whatsminer_rig(scenario: str = "genuine") -> Rig:
    for index in range(6):
        rig = make_rig(index, scenario, "127.0.0.1")
        if rig.family == "whatsminer":
            return rig
    raise AssertionError(f"no whatsminer rig for {scenario}")


def collect(rig: Rig, sess: Session | None = None) -> tuple[dict[str, Claim], int]:
    async def main() -> tuple[list[Claim], int]:
        async with sim(rig) as port:
            return await whatsminer.collect(Endpoint("whatsminer", "127.0.0.1", port), sess or session()), port

    claims, port = asyncio.run(main())
    names = [c.name for c in claims]
    assert len(names) == len(set(names)), f"duplicate claims: {names}"
    return {c.name: c for c in claims}, port


def test_whatsminer_claims_match_the_rig():
    rig = whatsminer_rig()
    found, port = collect(rig)
    source = f"whatsminer://127.0.0.1:{port}"
    assert found["unit.model"] == Claim("unit.model", rig.model, f"{source} devdetails", Assurance.REPORTED)
    assert found["unit.serial"] == Claim("unit.serial", rig.serial, f"{source} get_miner_info", Assurance.REPORTED)
    assert found["net.mac"].value == rig.mac
    assert found["psu.serial"] == Claim("psu.serial", rig.psu_serial, f"{source} get_psu", Assurance.REPORTED)
    assert found["firmware.version"] == Claim("firmware.version", rig.firmware_version, f"{source} get_version",
                                              Assurance.REPORTED)
    for board in rig.hashboards:
        assert found[f"hashboard.{board.slot}.serial"].value == board.serial
        assert found[f"hashboard.{board.slot}.chips"].value == board.chips
        assert found[f"hashboard.{board.slot}.chips"].source == f"{source} edevs"
    assert found["config.pool.0.url"].value == rig.pools[0].url


def test_swapped_hashboard_shows_its_own_serial():
    rig = whatsminer_rig("swapped-hashboard")
    found, _ = collect(rig)
    assert found["hashboard.1.serial"].value == rig.hashboards[1].serial
    assert rig.hashboards[1].serial.endswith("X1")


def test_an_antminer_on_a_whatsminer_endpoint_is_not_this_family():
    async def main() -> CollectError:
        async with sim(make_rig(0, "genuine", "127.0.0.1")) as port:
            with pytest.raises(CollectError) as caught:
                await whatsminer.collect(Endpoint("whatsminer", "127.0.0.1", port), session())
            return caught.value

    assert asyncio.run(main()).code == NOT_THIS_FAMILY


def test_unresponsive_whatsminer_costs_one_timeout_not_one_per_request():
    rig = whatsminer_rig()
    rig.behaviour = UNRESPONSIVE  # the unresponsive scenario only ever picks Antminers

    async def main() -> tuple[CollectError, float]:
        async with sim(rig) as port:
            start = time.monotonic()
            with pytest.raises(CollectError) as caught:
                await whatsminer.collect(Endpoint("whatsminer", "127.0.0.1", port), session(timeout=0.4))
            return caught.value, time.monotonic() - start

    error, elapsed = asyncio.run(main())
    assert error.code == TIMEOUT
    assert elapsed < 1.5


def test_garbage_whatsminer_is_a_malformed_reply():
    rig = whatsminer_rig()
    rig.behaviour = GARBAGE

    async def main() -> CollectError:
        async with sim(rig) as port:
            with pytest.raises(CollectError) as caught:
                await whatsminer.collect(Endpoint("whatsminer", "127.0.0.1", port), session())
            return caught.value

    assert asyncio.run(main()).code == MALFORMED_REPLY


def test_slow_whatsminer_answers_in_about_one_delay():
    start = time.monotonic()
    found, _ = collect(whatsminer_rig("slow"), session(timeout=3.0))
    assert found["unit.serial"].value
    assert time.monotonic() - start < 3.5


def test_older_firmware_falls_back_to_summary_and_miner_info():
    """get_psu refused and no fw_ver: PSU serial from get_miner_info, version from summary."""
    def flat(letter: str, msg: object, description: str = "") -> bytes:
        return json.dumps({"STATUS": letter, "When": 1, "Code": 131 if letter == "S" else 14, "Msg": msg,
                           "Description": description}).encode()

    def listed(key: str, entries: list[dict]) -> list[dict]:
        return [{"STATUS": [{"STATUS": "S", "Msg": key}], key: entries, "id": 1}]

    joined = json.dumps({
        "devdetails": listed("DEVDETAILS", [{"DEVDETAILS": 0, "Driver": "bitmicro", "Model": "M31SV10"}]),
        "edevs": listed("DEVS", [{"ASC": 0, "Slot": 2, "Effective Chips": 105, "PCB SN": "PCB-A"},
                                 {"ASC": 1, "Effective Chips": "105", "PCB SN": "PCB-B"}]),
        "pools": listed("POOLS", [{"POOL": 0, "URL": "stratum+tcp://p:3333"}]),
        "summary": listed("SUMMARY", [{"Firmware Version": "'20200725.18.REL'", "MAC": "C6:09:00:00:00:01"}]),
        "id": 1,
    }).encode()
    replies = {
        "get_version": flat("E", "invalid cmd", "whatsminer v1.1"),
        "get_miner_info": flat("S", {"minersn": "ZYXW", "powersn": "P-1"}),
        "get_psu": flat("E", "invalid cmd", "whatsminer v1.1"),
        "devdetails+edevs+pools+summary": joined,
    }

    async def scripted(reader, writer):
        request = json.loads(await read_request(reader))
        writer.write(replies[request.get("cmd") or request["command"]])
        await writer.drain()
        writer.close()

    async def main() -> list[Claim]:
        async with serve(scripted) as port:
            return await whatsminer.collect(Endpoint("whatsminer", "127.0.0.1", port), session())

    found = {c.name: c for c in asyncio.run(main())}
    assert found["unit.model"].value == "Whatsminer M31S"
    assert found["psu.serial"].value == "P-1"
    assert found["psu.serial"].source.endswith("get_miner_info")
    assert found["net.mac"].value == "C6:09:00:00:00:01"
    assert found["firmware.version"].value == "20200725.18.REL"
    assert found["firmware.version"].source.endswith("summary")
    # Slot wins over ASC; a board without Slot goes by ASC.
    assert found["hashboard.2.serial"].value == "PCB-A"
    assert (found["hashboard.1.serial"].value, found["hashboard.1.chips"].value) == ("PCB-B", 105)


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("M50S_VH40", "Whatsminer M50S"),
        ("M30S+_VE40", "Whatsminer M30S+"),
        ("M30S++VH100", "Whatsminer M30S++"),
        ("M31SV10", "Whatsminer M31S"),
        ("M50S.VH40", "Whatsminer M50S"),
        ("M20S", "Whatsminer M20S"),
    ],
)
def test_model_name_drops_the_hardware_variant(model: str, name: str):
    reply = {"STATUS": [{"STATUS": "S"}], "DEVDETAILS": [{"Model": model}]}
    assert whatsminer.model_name(reply) == name


def test_model_name_needs_a_successful_devdetails():
    assert whatsminer.model_name({"STATUS": [{"STATUS": "E"}], "DEVDETAILS": [{"Model": "M50S"}]}) is None
    assert whatsminer.model_name({"STATUS": [{"STATUS": "S"}], "DEVDETAILS": "M50S"}) is None


def test_hashboards_are_bounded_and_deduplicated():
    devs = [{"Slot": i % 40, "PCB SN": f"S{i}"} for i in range(100)]
    boards = whatsminer.hashboards({"STATUS": [{"STATUS": "S"}], "DEVS": devs})
    assert list(boards) == list(range(16))
    assert boards[3]["PCB SN"] == "S3"

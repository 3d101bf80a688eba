"""The simulator's port-4028 API: real framing and quirks, behaviours, scale, and pyasic reading it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
import warnings
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from attest.drivers import cgminer
from attest.drivers.base import Endpoint
from attest.drivers.jsonquirks import parse_api_json
from attest.sim.api_server import MAX_REQUEST_BYTES, start_api_server, stop_api_server
from attest.sim.rig import GARBAGE, UNRESPONSIVE, Rig
from attest.sim.scenarios import make_rig
from tests.drivers.loopback import session

ANTMINER = 0  # make_rig index of an Antminer S21
WHATSMINER = 2  # make_rig index of a Whatsminer M50S


@contextlib.asynccontextmanager
async def sim(rig: Rig) -> AsyncIterator[int]:
    server = await start_api_server(rig, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        await stop_api_server(server)


async def ask(port: int, request: bytes, *, timeout: float = 3.0) -> bytes:
    """What `nc` would print: send, then read until the rig closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(timeout):
            return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def exchange(index: int, *requests: bytes, behaviour: str | None = None) -> list[bytes]:
    rig = make_rig(index, "genuine", "127.0.0.1")
    if behaviour:
        rig.behaviour = behaviour

    async def main() -> list[bytes]:
        async with sim(rig) as port:
            return [await ask(port, request) for request in requests]

    return asyncio.run(main())


# --- bmminer --------------------------------------------------------------------------------


def test_bmminer_replies_end_with_nul_and_stats_keeps_the_missing_comma():
    rig = make_rig(ANTMINER, "genuine", "127.0.0.1")
    version, stats = exchange(ANTMINER, b'{"command":"version"}', b'{"command":"stats"}')
    assert version.endswith(b"}\x00") and version.count(b"\x00") == 1
    assert b"}{" in stats
    with pytest.raises(ValueError):
        json.loads(stats.rstrip(b"\x00"))  # exactly as unparseable as the real thing
    entries = parse_api_json(stats)["STATS"]
    assert entries[0] == {"BMMiner": "1.0.0", "Miner": rig.firmware_version,
                          "CompileTime": rig.firmware_build, "Type": rig.model}
    assert entries[1]["miner_count"] == len(rig.hashboards)
    for board in rig.hashboards:
        assert entries[1][f"chain_acn{board.slot + 1}"] == board.chips
    assert json.loads(version.rstrip(b"\x00"))["VERSION"][0]["Type"] == rig.model


def test_bmminer_joined_command_answers_each_part_in_a_list():
    (joined,) = exchange(ANTMINER, b'{"command":"version+pools+nosuch"}')
    reply = parse_api_json(joined)
    assert set(reply) == {"version", "pools", "nosuch", "id"}
    assert reply["version"][0]["STATUS"][0]["Code"] == 22
    assert reply["pools"][0]["POOLS"][0]["URL"].startswith("stratum+tcp://")
    assert reply["nosuch"][0]["STATUS"][0] == {**reply["nosuch"][0]["STATUS"][0], "STATUS": "E", "Code": 14,
                                                 "Msg": "Invalid command"}


def test_bmminer_refuses_unknown_commands_and_bad_json_like_cgminer():
    unknown, bad = exchange(ANTMINER, b'{"command":"addpool","parameter":"x"}', b"version\n")
    assert json.loads(unknown.rstrip(b"\x00"))["STATUS"][0]["Msg"] == "Invalid command"
    assert json.loads(bad.rstrip(b"\x00"))["STATUS"][0]["Code"] == 23


def test_bmminer_summary_and_devs_are_ordinary_cgminer_shapes():
    summary, devs = exchange(ANTMINER, b'{"command":"summary"}', b'{"command":"devs"}')
    assert "GHS 5s" in parse_api_json(summary)["SUMMARY"][0]
    assert len(parse_api_json(devs)["DEVS"]) == 3


# --- btminer --------------------------------------------------------------------------------


def test_btminer_get_reads_are_flat_and_unterminated():
    rig = make_rig(WHATSMINER, "genuine", "127.0.0.1")
    version, info, psu = exchange(WHATSMINER, b'{"cmd":"get_version"}', b'{"command":"get_miner_info"}',
                                  b'{"cmd":"get_psu"}')
    assert not version.endswith(b"\x00")
    assert json.loads(version)["Msg"]["fw_ver"] == rig.firmware_version
    info_msg = json.loads(info)["Msg"]
    assert (info_msg["minersn"], info_msg["mac"], info_msg["powersn"]) == (rig.serial, rig.mac, rig.psu_serial)
    assert json.loads(psu) == {**json.loads(psu), "STATUS": "S", "Code": 131}
    assert json.loads(psu)["Msg"]["serial_no"] == rig.psu_serial


def test_btminer_refuses_version_and_writes_as_the_real_firmware_does():
    version, write, encrypted = exchange(WHATSMINER, b'{"command":"version"}', b'{"cmd":"reboot"}',
                                         b'{"enc":1,"data":"AAAA"}')
    assert json.loads(version) == {**json.loads(version), "STATUS": "E", "Code": 14, "Msg": "invalid cmd",
                                   "Description": "whatsminer v1.1"}
    assert json.loads(write)["Code"] == json.loads(encrypted)["Code"] == 45


def test_btminer_devdetails_and_edevs_carry_model_and_board_serials():
    rig = make_rig(WHATSMINER, "genuine", "127.0.0.1")
    details, edevs = exchange(WHATSMINER, b'{"cmd":"devdetails"}', b'{"command":"edevs"}')
    assert json.loads(details)["DEVDETAILS"][0] == {"DEVDETAILS": 0, "Name": "SM", "ID": 0, "Driver": "bitmicro",
                                                    "Kernel": "", "Model": "M50S_VH40"}
    devs = json.loads(edevs)["DEVS"]
    assert [(d["Slot"], d["PCB SN"], d["Effective Chips"]) for d in devs] == [
        (b.slot, b.serial, b.chips) for b in rig.hashboards]


# --- behaviours and limits ------------------------------------------------------------------


def test_unresponsive_rig_accepts_and_keeps_the_connection_without_a_byte():
    rig = make_rig(ANTMINER, "genuine", "127.0.0.1")
    rig.behaviour = UNRESPONSIVE

    async def main() -> None:
        async with sim(rig) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b'{"command":"version"}')
            await writer.drain()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await reader.read(1)
            assert not reader.at_eof()
            writer.close()
            await writer.wait_closed()

    asyncio.run(main())


def test_stopping_the_server_ends_connections_an_unresponsive_rig_holds():
    rig = make_rig(ANTMINER, "unresponsive", "127.0.0.1")

    async def main() -> bytes:
        server = await start_api_server(rig, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        writer.write(b'{"command":"version"}')
        await writer.drain()
        await asyncio.sleep(0)  # let the server accept before stopping it
        await stop_api_server(server)
        async with asyncio.timeout(2):
            try:
                data = await reader.read()
            except ConnectionResetError:
                data = b""
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return data

    assert asyncio.run(main()) == b""


def test_garbage_rig_answers_bytes_that_are_neither_json_nor_utf8():
    (reply,) = exchange(ANTMINER, b'{"command":"version"}', behaviour=GARBAGE)
    assert reply
    with pytest.raises(UnicodeDecodeError):
        reply.decode("utf-8")
    with pytest.raises(ValueError):
        parse_api_json(reply)


def test_slow_rig_answers_after_about_a_second():
    async def main() -> float:
        async with sim(make_rig(ANTMINER, "slow", "127.0.0.1")) as port:
            start = time.monotonic()
            reply = await ask(port, b'{"command":"version"}')
            assert parse_api_json(reply)["VERSION"]
            return time.monotonic() - start

    assert 0.9 < asyncio.run(main()) < 3


def test_oversized_request_is_cut_at_the_cap_and_answered():
    # No newline and never valid JSON: only the cap can end this request.
    (reply,) = exchange(ANTMINER, b'{"command":"' + b"x" * (MAX_REQUEST_BYTES * 8))
    assert json.loads(reply.rstrip(b"\x00"))["STATUS"][0]["Msg"] == "Invalid JSON"


def test_one_process_serves_a_thousand_rigs():
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    count = min(1000, soft - 100)
    # Two rigs rendered by 1,000 servers: building 1,000 rigs' flash images is not what is timed.
    models = [make_rig(ANTMINER, "genuine", "127.0.0.1"), make_rig(WHATSMINER, "genuine", "127.0.0.1")]
    rigs = [models[i % 2] for i in range(count)]

    async def main() -> list[str | None]:
        servers = await asyncio.gather(*(start_api_server(rig, "127.0.0.1", 0) for rig in rigs))
        try:
            ports = [server.sockets[0].getsockname()[1] for server in servers]
            picks = range(0, count, 21)  # about 50 rigs, odd and even: both families
            return await asyncio.gather(*(cgminer.identify("127.0.0.1", ports[i], session()) for i in picks))
        finally:
            await asyncio.gather(*(stop_api_server(server) for server in servers))

    start = time.monotonic()
    families = asyncio.run(main())
    assert time.monotonic() - start < 5
    assert set(families) == {"bmminer", "btminer"}


def test_unknown_rig_family_is_refused():
    rig = make_rig(ANTMINER, "genuine", "127.0.0.1")
    rig.family = "innosilicon"
    with pytest.raises(ValueError, match="innosilicon"):
        asyncio.run(start_api_server(rig, "127.0.0.1", 0))


# --- pyasic, an independent client, reads the simulator as a real miner ---------------------


@pytest.fixture(scope="module")
def pyasic() -> SimpleNamespace:
    from pydantic.warnings import PydanticDeprecatedSince20

    with warnings.catch_warnings():
        # pyasic 0.79 declares pydantic models with class-based Config (deprecated in pydantic 2)
        # and imports passlib, which imports the stdlib crypt module (deprecated in 3.11). Both
        # warn once, at import; nothing of ours is involved.
        warnings.simplefilter("ignore", PydanticDeprecatedSince20)
        warnings.filterwarnings("ignore", message="'crypt' is deprecated", category=DeprecationWarning)
        from pyasic.miners.backends.bmminer import BMMiner
        from pyasic.miners.factory import MinerFactory, MinerTypes
        from pyasic.rpc.bmminer import BMMinerRPCAPI
        from pyasic.rpc.btminer import BTMinerRPCAPI
    return SimpleNamespace(BMMiner=BMMiner, MinerFactory=MinerFactory, MinerTypes=MinerTypes,
                           BMMinerRPCAPI=BMMinerRPCAPI, BTMinerRPCAPI=BTMinerRPCAPI)


def test_pyasic_reads_the_antminer_api(pyasic: SimpleNamespace):
    rig = make_rig(ANTMINER, "genuine", "127.0.0.1")

    async def main() -> dict:
        async with sim(rig) as port:
            api = pyasic.BMMinerRPCAPI("127.0.0.1", port)
            miner = pyasic.MinerFactory._select_miner_from_classes(
                "127.0.0.1", rig.model.upper(), pyasic.MinerTypes.ANTMINER)
            version, stats, pools = await api.version(), await api.stats(), await api.pools()
            return {
                "version": version,
                "joined": await api.multicommand("version", "stats", "pools"),
                "class": type(miner).__name__,
                "boards": await pyasic.BMMiner._get_hashboards(miner, rpc_stats=stats),
                "fw": await pyasic.BMMiner._get_fw_ver(miner, rpc_version=version),
                "pools": await pyasic.BMMiner._get_pools(miner, rpc_pools=pools),
                "type": pyasic.MinerFactory._parse_socket_type(json.dumps(version)),
            }

    got = asyncio.run(main())
    assert got["version"]["VERSION"][0]["Type"] == rig.model
    assert {"version", "stats", "pools"} <= set(got["joined"])
    assert len(got["joined"]["stats"][0]["STATS"]) == 2  # pyasic repaired the }{ too
    assert got["class"] == "BMMinerS21"
    assert [(b.slot, b.chips) for b in got["boards"]] == [(b.slot, b.chips) for b in rig.hashboards]
    assert got["fw"] == rig.firmware_build  # pyasic calls CompileTime the firmware version
    assert [str(p.url) for p in got["pools"]] == [p.url for p in rig.pools]
    assert got["type"] == pyasic.MinerTypes.ANTMINER


def test_pyasic_reads_the_whatsminer_api(pyasic: SimpleNamespace):
    rig = make_rig(WHATSMINER, "genuine", "127.0.0.1")

    async def main() -> dict:
        async with sim(rig) as port:
            api = pyasic.BTMinerRPCAPI("127.0.0.1", port)
            details = await api.devdetails()
            model = details["DEVDETAILS"][0]["Model"].replace("_", "")
            miner = pyasic.MinerFactory._select_miner_from_classes(
                "127.0.0.1", model[:-1] + "0", pyasic.MinerTypes.WHATSMINER)
            info, edevs = await api.get_miner_info(), await api.edevs()
            return {
                "version": await api.version(),
                "summary": await api.summary(),
                "pools": await api.pools(),
                "psu": await api.get_psu(),
                "joined": await api.multicommand("summary", "pools", "edevs", "get_version"),
                "class": type(miner).__name__,
                "boards": await miner._get_hashboards(rpc_devs=edevs),
                "serial": await miner._get_serial_number(rpc_get_miner_info=info),
                "mac": await miner._get_mac(rpc_get_miner_info=info),
                "type": pyasic.MinerFactory._parse_socket_type(json.dumps(details)),
            }

    got = asyncio.run(main())
    assert got["version"]["Msg"]["fw_ver"] == rig.firmware_version
    assert got["summary"]["SUMMARY"][0]["Elapsed"] > 0
    assert got["pools"]["POOLS"][0]["URL"] == rig.pools[0].url
    assert got["psu"]["Msg"]["serial_no"] == rig.psu_serial
    assert {"summary", "pools", "edevs", "get_version"} <= set(got["joined"])
    assert got["class"] == "BTMinerM50SVH40"
    assert [(b.slot, b.chips, b.serial_number) for b in got["boards"]] == [
        (b.slot, b.chips, b.serial) for b in rig.hashboards]
    assert (got["serial"], got["mac"]) == (rig.serial, rig.mac)
    assert got["type"] == pyasic.MinerTypes.WHATSMINER


def test_our_driver_and_pyasic_agree_on_the_antminer(pyasic: SimpleNamespace):
    rig = make_rig(ANTMINER, "genuine", "127.0.0.1")

    async def main() -> tuple[dict, list]:
        async with sim(rig) as port:
            claims = await cgminer.collect(Endpoint("api", "127.0.0.1", port), session())
            stats = await pyasic.BMMinerRPCAPI("127.0.0.1", port).stats()
            miner = pyasic.MinerFactory._select_miner_from_classes("127.0.0.1", "ANTMINER S21",
                                                                    pyasic.MinerTypes.ANTMINER)
            return {c.name: c.value for c in claims}, await pyasic.BMMiner._get_hashboards(miner, rpc_stats=stats)

    ours, boards = asyncio.run(main())
    assert {f"hashboard.{b.slot}.chips": b.chips for b in boards} == {
        name: value for name, value in ours.items() if name.startswith("hashboard.")}

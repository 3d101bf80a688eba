"""The CGMiner-family API driver against the simulator and against small hostile servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest

from attest.claim_values import checked
from attest.drivers import cgminer
from attest.drivers.base import (
    CONNECTION_RESET,
    MALFORMED_REPLY,
    NOT_THIS_FAMILY,
    REPLY_TOO_LARGE,
    TIMEOUT,
    UNREACHABLE,
    CollectError,
    Endpoint,
    Session,
)
from attest.evidence import Assurance, Claim
from attest.sim.api_server import start_api_server, stop_api_server
from attest.sim.rig import Rig
from attest.sim.scenarios import HIJACK_POOL, make_rig
from tests.drivers.loopback import (
    closed_port,
    never_answer,
    read_request,
    replying,
    reset,
    serve,
    session,
    stream_forever,
)


@contextlib.asynccontextmanager
async def sim(rig: Rig) -> AsyncIterator[int]:
    server = await start_api_server(rig, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        await stop_api_server(server)


async def collect_from_sim(rig: Rig, sess: Session | None = None) -> tuple[list[Claim], int]:
    async with sim(rig) as port:
        return await cgminer.collect(Endpoint("api", "127.0.0.1", port), sess or session()), port


def by_name(claims: list[Claim]) -> dict[str, Claim]:
    names = [c.name for c in claims]
    assert len(names) == len(set(names)), f"duplicate claims: {names}"
    return {c.name: c for c in claims}


def collect_error(port: int, sess: Session | None = None) -> CollectError:
    async def main() -> CollectError:
        with pytest.raises(CollectError) as caught:
            await cgminer.collect(Endpoint("api", "127.0.0.1", port), sess or session())
        return caught.value
    return asyncio.run(main())


def collect_error_from(handler, sess: Session | None = None) -> CollectError:
    async def main() -> CollectError:
        async with serve(handler) as port:
            with pytest.raises(CollectError) as caught:
                await cgminer.collect(Endpoint("api", "127.0.0.1", port), sess or session())
            return caught.value
    return asyncio.run(main())


def bm_reply(key: str, entries: list[dict], code: int = 70) -> bytes:
    status = [{"STATUS": "S", "When": 1, "Code": code, "Msg": key, "Description": "cgminer 1.0.0"}]
    return json.dumps({"STATUS": status, key: entries, "id": 1}).encode() + b"\x00"


BM_VERSION = bm_reply("VERSION", [{"BMMiner": "1.0.0", "API": "3.1", "Miner": "16.8.1.3",
                                   "CompileTime": "Fri Nov 17 17:37:49 CST 2017", "Type": "Antminer S9"}], 22)


# --- against the simulator ------------------------------------------------------------------


def test_antminer_claims_match_the_rig():
    rig = make_rig(0, "genuine", "127.0.0.1")
    claims, port = asyncio.run(collect_from_sim(rig))
    found = by_name(claims)
    api = f"api://127.0.0.1:{port}"
    assert found["unit.model"] == Claim("unit.model", rig.model, f"{api} version", Assurance.REPORTED)
    assert found["firmware.version"].value == rig.firmware_version
    assert found["firmware.build"].value == rig.firmware_build
    for board in rig.hashboards:
        chips = found[f"hashboard.{board.slot}.chips"]
        assert (chips.value, chips.source) == (board.chips, f"{api} stats")
    assert found["config.pool.0.url"] == Claim("config.pool.0.url", rig.pools[0].url, f"{api} pools",
                                               Assurance.REPORTED)
    assert all(c.assurance is Assurance.REPORTED for c in claims)
    assert found["firmware.miner.version"].value == "BMMiner 1.0.0"  # the miner program is a claim too
    assert set(found) == {"unit.model", "firmware.version", "firmware.build", "config.pool.0.url",
                          "firmware.miner.version", *(f"hashboard.{b.slot}.chips" for b in rig.hashboards)}


def test_hijacked_pool_is_reported_first():
    rig = make_rig(0, "pool-hijack", "127.0.0.1")
    found = by_name(asyncio.run(collect_from_sim(rig))[0])
    assert found["config.pool.0.url"].value == HIJACK_POOL
    assert found["config.pool.1.url"].value == rig.pools[1].url


def test_whatsminer_is_handed_to_the_whatsminer_reader():
    rig = make_rig(2, "genuine", "127.0.0.1")
    assert rig.family == "whatsminer"
    claims, port = asyncio.run(collect_from_sim(rig))
    found = by_name(claims)
    assert found["unit.serial"].value == rig.serial
    assert found["unit.model"].value == rig.model
    assert found["hashboard.1.serial"].value == rig.hashboards[1].serial
    assert found["unit.serial"].source == f"api://127.0.0.1:{port} get_miner_info"


def test_transcript_holds_each_request_next_to_its_reply():
    sess = session()
    rig = make_rig(0, "genuine", "127.0.0.1")
    asyncio.run(collect_from_sim(rig, sess))
    directions = [(d, data[:30]) for _, d, data in sess.transcript.entries]
    # One round trip: version asked together with the reads every cgminer-family firmware knows.
    assert directions[0] == (">", b'{"command":"version+stats+pool')
    assert directions[1][0] == "<"
    assert len(directions) == 2
    assert sess.transcript.entries[1][2].endswith(b"\x00")


def test_identify_names_each_family():
    async def main() -> list[str | None]:
        found = []
        for index in (0, 2):
            async with sim(make_rig(index, "genuine", "127.0.0.1")) as port:
                found.append(await cgminer.identify("127.0.0.1", port, session()))
        async with sim(make_rig(0, "garbage", "127.0.0.1")) as port:
            found.append(await cgminer.identify("127.0.0.1", port, session()))
        found.append(await cgminer.identify("127.0.0.1", closed_port(), session()))
        return found

    assert asyncio.run(main()) == ["bmminer", "btminer", None, None]


def test_unresponsive_rig_times_out_within_the_timeout():
    rig = make_rig(0, "unresponsive", "127.0.0.1")

    async def main() -> tuple[CollectError, float]:
        async with sim(rig) as port:
            start = time.monotonic()
            with pytest.raises(CollectError) as caught:
                await cgminer.collect(Endpoint("api", "127.0.0.1", port), session(timeout=0.4))
            return caught.value, time.monotonic() - start

    error, elapsed = asyncio.run(main())
    assert error.code == TIMEOUT
    assert elapsed < 2


def test_garbage_rig_is_a_malformed_reply():
    async def main() -> CollectError:
        async with sim(make_rig(0, "garbage", "127.0.0.1")) as port:
            with pytest.raises(CollectError) as caught:
                await cgminer.collect(Endpoint("api", "127.0.0.1", port), session())
            return caught.value

    error = asyncio.run(main())
    assert error.code == MALFORMED_REPLY
    assert "\\xff" in error.message or "\\ufffd" in error.message or "STATUS=S" in error.message


def test_slow_rigs_of_both_families_still_answer():
    antminer, whatsminer = make_rig(0, "slow", "127.0.0.1"), make_rig(2, "slow", "127.0.0.1")
    assert (antminer.family, whatsminer.family) == ("antminer", "whatsminer")

    async def main() -> list[list[Claim]]:
        results = await asyncio.gather(*(collect_from_sim(rig, session(timeout=3.0)) for rig in (antminer, whatsminer)))
        return [claims for claims, _ in results]

    start = time.monotonic()
    bm_claims, bt_claims = asyncio.run(main())
    assert time.monotonic() - start < 6
    assert by_name(bm_claims)["unit.model"].value == antminer.model
    assert by_name(bt_claims)["unit.serial"].value == whatsminer.serial


# --- against hostile peers ------------------------------------------------------------------


def test_refused_connection_is_unreachable():
    assert collect_error(closed_port()).code == UNREACHABLE


def test_silent_peer_is_a_timeout():
    start = time.monotonic()
    assert collect_error_from(never_answer, session(timeout=0.3)).code == TIMEOUT
    assert time.monotonic() - start < 2


def test_malformed_json_is_a_malformed_reply():
    error = collect_error_from(replying(b'{"STATUS":[{"STATUS":"S",}\x00'))
    assert error.code == MALFORMED_REPLY


def test_binary_non_utf8_reply_is_a_malformed_reply():
    error = collect_error_from(replying(bytes(range(128, 256)) * 4))
    assert error.code == MALFORMED_REPLY
    assert "\\x" in error.message or "\\ufffd" in error.message  # device bytes shown escaped


def test_non_utf8_inside_strings_is_tolerated():
    reply = BM_VERSION.replace(b"Antminer S9", b"Antminer S9\xff")

    async def main() -> list[Claim]:
        async with serve(replying(reply, bm_reply("STATS", []), bm_reply("POOLS", []))) as port:
            return await cgminer.collect(Endpoint("api", "127.0.0.1", port), session())

    assert by_name(asyncio.run(main()))["unit.model"].value == "Antminer S9\ufffd"


def test_oversized_reply_is_too_large():
    error = collect_error_from(replying(b'{"a":"' + b"x" * 9000 + b'"}\x00'), session(max_reply_bytes=8192))
    assert error.code == REPLY_TOO_LARGE


def test_never_ending_reply_is_cut_at_the_cap():
    start = time.monotonic()
    error = collect_error_from(stream_forever, session(timeout=5.0, max_reply_bytes=256 * 1024))
    assert error.code == REPLY_TOO_LARGE
    assert time.monotonic() - start < 3


def test_reset_in_the_middle_of_a_reply_is_a_connection_reset():
    async def half_then_rst(reader, writer):
        await read_request(reader)
        writer.write(BM_VERSION[:40])
        await writer.drain()
        reset(writer)

    assert collect_error_from(half_then_rst).code == CONNECTION_RESET


def test_json_that_is_no_miner_api_is_not_this_family():
    assert collect_error_from(replying(b'{"hello":"world"}')).code == NOT_THIS_FAMILY


def test_joined_command_refused_falls_back_to_one_command_at_a_time():
    stats = bm_reply("STATS", [{"Type": "Antminer S9"}, {"miner_count": 3, **{f"chain_acn{k}": 63 for k in (6, 7, 8)}}])
    pools = bm_reply("POOLS", [{"POOL": 0, "URL": "stratum+tcp://a:3333"}, {"POOL": 1, "URL": ""},
                               {"POOL": 2, "URL": "stratum+tcp://c:3333"}], 7)
    invalid = json.dumps({"STATUS": [{"STATUS": "E", "Code": 14, "Msg": "Invalid command"}], "id": 1}).encode()
    asked: list[str] = []

    async def scripted(reader, writer):
        command = json.loads((await read_request(reader)).rstrip(b"\x00"))["command"]
        asked.append(command)
        writer.write({"version": BM_VERSION, "stats": stats, "pools": pools}.get(command, invalid + b"\x00"))
        await writer.drain()
        writer.close()

    async def main() -> list[Claim]:
        async with serve(scripted) as port:
            return await cgminer.collect(Endpoint("api", "127.0.0.1", port), session())

    found = by_name(asyncio.run(main()))
    assert asked == ["version+stats+pools+devdetails", "version", "stats+pools", "stats", "pools"]
    # S9-era firmware numbers its chains 6-8: they are slots 0-2.
    assert {n: c.value for n, c in found.items() if n.startswith("hashboard.")} == {
        "hashboard.0.chips": 63, "hashboard.1.chips": 63, "hashboard.2.chips": 63}
    # the empty pool slot keeps its number and gives no claim
    assert "config.pool.1.url" not in found
    assert found["config.pool.2.url"].value == "stratum+tcp://c:3333"
    assert found["firmware.version"].value == "16.8.1.3"


# --- reading what the firmware says ---------------------------------------------------------


def stats_with(entry: dict) -> dict:
    return {"STATUS": [{"STATUS": "S"}], "STATS": [{"Type": "x"}, entry]}


def test_a_dead_board_is_reported_with_zero_chips():
    entry = {"miner_count": 3, "chain_acn1": 108, "chain_acn2": 0, "chain_acn3": 108, "chain_acn4": 0}
    assert cgminer.chain_chips(stats_with(entry)) == {0: 108, 1: 0, 2: 108}


def test_without_miner_count_boards_run_to_the_last_populated_chain():
    entry = {"chain_acn1": 0, "chain_acn2": 114, "chain_acn3": 114, "chain_acn4": 0}
    assert cgminer.chain_chips(stats_with(entry)) == {0: 0, 1: 114, 2: 114}


@pytest.mark.parametrize("hostile", [True, -5, "many", 10**12, None, [108], {"n": 1}])
def test_chip_counts_that_are_not_counts_are_ignored(hostile: object):
    entry = {"miner_count": 2, "chain_acn1": hostile, "chain_acn2": "108"}
    assert cgminer.chain_chips(stats_with(entry)) == {1: 108}


def test_hostile_values_are_capped_and_pools_bounded():
    version = {"STATUS": [{"STATUS": "S"}], "VERSION": [{"BMMiner": "1", "Type": "A" * 100_000, "Miner": 7}]}
    claims = cgminer.version_claims(version, None, "bmminer", "api://h:4028 ")
    kept, refused = checked(claims, "api://h:4028")
    found = by_name(kept)
    # A 100 KB model is refused as a value (never cut to look like a real one), the rest kept.
    assert "unit.model" not in found
    assert [p.code for p in refused] == ["VALUE_MALFORMED"]
    assert "unit.model" in refused[0].detail and "100000 characters" in refused[0].detail
    assert len(refused[0].detail) < 400
    assert found["firmware.version"].value == "7"

    from attest.drivers.cgminer_api import pool_claims
    pools = {"POOLS": [{"URL": f"stratum+tcp://p{i}:1"} for i in range(500)]}
    assert len(pool_claims(pools, "api://h:4028 pools")) == 16


@pytest.mark.parametrize(
    ("version", "family"),
    [
        ({"STATUS": [{"STATUS": "S", "Description": "bmminer 1.0.0"}], "VERSION": [{"BMMiner": "2.0.0"}]}, "bmminer"),
        ({"STATUS": "E", "Code": 14, "Msg": "invalid cmd", "Description": "whatsminer v1.1"}, "btminer"),
        ({"STATUS": "S", "Code": 131, "Msg": {"fw_ver": "20220322.16.Rel"}}, "btminer"),
        ({"STATUS": [{"STATUS": "S", "Description": "bmminer bOS_am1-s9-20181127-0_c34516b0"}],
          "VERSION": [{"BMMiner": "bOS_am1-s9-20181127-0_c34516b0", "Type": "braiins-am1-s9"}]}, "bosminer"),
        ({"STATUS": [{"STATUS": "S", "Description": "BOSer boser-buildroot 0.1.0"}],
          "VERSION": [{"BOSminer": "0.2.0", "API": "3.7"}]}, "bosminer"),
        ({"STATUS": [{"STATUS": "S", "Description": "LUXminer 2024.5.1"}],
          "VERSION": [{"LUXminer": "2024.5.1", "API": "3.7", "Type": "Antminer S19"}]}, "luxminer"),
        ({"STATUS": [{"STATUS": "S", "Description": "cgminer 4.11.1"}], "VERSION": [{"CGMiner": "4.11.1"}]}, "cgminer"),
        ({"STATUS": [{"STATUS": "S"}], "VERSION": [{"BFGMiner": "5.5.0"}]}, "bfgminer"),
        ({"hello": "world"}, None),
        ({"STATUS": 3}, None),
    ],
)
def test_family_is_read_from_the_version_reply(version: dict, family: str | None):
    assert cgminer.family_of(version) == family


def test_other_families_report_their_own_firmware_version():
    version = {"STATUS": [{"STATUS": "S"}], "VERSION": [{"LUXminer": "2024.5.1", "Type": "Antminer S19"}]}
    found = by_name(cgminer.version_claims(version, None, "luxminer", "api://h:4028 "))
    assert found["firmware.version"].value == "2024.5.1"
    assert found["unit.model"].value == "Antminer S19"


def test_a_unicode_digit_in_one_value_costs_that_value_not_the_endpoint():
    """'²'.isdigit() is True but int('²') raises: one such chain count used to turn the whole API
    endpoint into INTERNAL_ERROR, losing the model, version and pools it had read."""
    stats = bm_reply("STATS", [{"Type": "Antminer S9"}, {"miner_count": 2, "chain_acn1": "²", "chain_acn2": "108",
                                                         "chain_acn3": "\u0663"}])
    pools = bm_reply("POOLS", [{"POOL": 0, "URL": "stratum+tcp://a:3333"}], 7)

    invalid = json.dumps({"STATUS": [{"STATUS": "E", "Code": 14, "Msg": "Invalid command"}], "id": 1}).encode()

    async def scripted(reader, writer):
        command = json.loads((await read_request(reader)).rstrip(b"\x00"))["command"]
        writer.write({"version": BM_VERSION, "stats": stats, "pools": pools}.get(command, invalid + b"\x00"))
        await writer.drain()
        writer.close()

    async def main() -> list[Claim]:
        async with serve(scripted) as port:
            return await cgminer.collect(Endpoint("api", "127.0.0.1", port), session())

    found = by_name(asyncio.run(main()))
    assert found["unit.model"].value == "Antminer S9"
    assert found["hashboard.1.chips"].value == 108
    assert "hashboard.0.chips" not in found and "hashboard.2.chips" not in found  # '²' and Arabic-Indic 3
    assert found["config.pool.0.url"].value == "stratum+tcp://a:3333"

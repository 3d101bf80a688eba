"""Bad input, family by family: each ends as a clear problem, never a traceback, never a lost reply.

Hostile values (an embedded newline, U+FFFD, 10 KB strings, a serial of ``x``), the btminer
malformed escape, a v3 reply whose length prefix lies, a partial web UI, a sleeping chain, a
fork's refused unlock: each test serves the bad bytes on loopback and collects through the same
path a real address takes (attest.collect), so the claim-value check runs too.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from attest.address import EndpointTarget, PortProfile
from attest.claim_values import VALUE_MALFORMED, check_value
from attest.collect import collect
from attest.credentials import Credentials
from attest.drivers import cgminer, whatsminer3
from attest.drivers.base import MALFORMED_REPLY, CollectError, CollectOptions, Endpoint
from attest.evidence import Evidence
from attest.sim.api_replies import Clock, render_reply
from attest.sim.avalon_api import module_string, version_entry
from attest.sim.scenarios import make_rig
from tests.drivers.loopback import serve, session


def collect_api(port: int, kind: str = "api") -> Evidence:
    target = EndpointTarget(kind, "127.0.0.1", port, None, None, f"{kind}://127.0.0.1:{port}")
    return asyncio.run(collect(target, ports=PortProfile(), credentials=Credentials(),
                               options=CollectOptions(timeout=3.0)))


def api_peer(answer):
    """A cgminer-style peer: one request per connection, ``answer(command) -> bytes``."""

    async def handler(reader, writer):
        request = json.loads((await reader.read(8192)).decode())
        writer.write(answer(request.get("command") or request.get("cmd")))
        await writer.drain()
        writer.close()

    return handler


def run_api(answer) -> Evidence:
    async def go():
        async with serve(api_peer(answer)) as port:
            target = EndpointTarget("api", "127.0.0.1", port, None, None, f"cgminer://127.0.0.1:{port}")
            return await collect(target, ports=PortProfile(), credentials=Credentials(),
                                 options=CollectOptions(timeout=3.0))

    return asyncio.run(go())


def malformed(ev: Evidence) -> dict[str, str]:
    return {p.detail.split(" ", 1)[0]: p.detail for p in ev.problems if p.code == VALUE_MALFORMED}


CLOCK = Clock(when=1_700_000_000, elapsed=3600)
HOSTILE = {
    "newline": "Antminer S21\nMODEL_OK",
    "replacement characters": "Antminer S21\ufffd\ufffd",
    "10 KB": "A" * 10_240,
    "escape sequence": "S21\x1b[2J",
}


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_values_are_refused_by_the_one_check(value):
    assert check_value("unit.model", value) is not None
    assert check_value("unit.serial", value) is not None
    assert check_value("unit.serial", "x") is not None  # a serial of x identifies nothing
    assert check_value("unit.serial", "0000000000") is not None  # nor does a placeholder
    assert check_value("net.mac", "00:00:00:00:00:00") is not None
    assert check_value("unit.serial", "JYZZA655625D0000") is None


# --- Canaan Avalon -----------------------------------------------------------------------------

def avalon_answer(version_changes: dict, module: str | None = None):
    rig = make_rig(30, "avalon", "127.0.0.1")

    def part(command: str) -> dict:
        if command == "version":
            return {"STATUS": [{"STATUS": "S", "Code": 22}], "VERSION": [{**version_entry(rig), **version_changes}]}
        if command in ("stats", "estats"):
            return {"STATUS": [{"STATUS": "S", "Code": 70}], "STATS": [
                {"STATS": 0, "ID": "AVA100", "MM ID0": module if module is not None else module_string(rig, CLOCK)}]}
        raw = render_reply(rig, json.dumps({"command": command}).encode(), CLOCK)
        return json.loads(raw.rstrip(b"\0"))

    def answer(command: str) -> bytes:
        parts = command.split("+")
        if len(parts) == 1:
            return json.dumps(part(command)).encode() + b"\0"
        return json.dumps({p: [part(p)] for p in parts} | {"id": 1}).encode() + b"\0"

    return answer, rig


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_avalon_hostile_model_costs_the_model_only(value):
    answer, rig = avalon_answer({"PROD": value})
    ev = run_api(answer)
    assert "unit.model" in malformed(ev) and ev.value("unit.model") is None
    assert ev.value("control_board.serial") == rig.control_board_serial  # the rest of version stands
    assert ev.value("hashboard.0.chips") == rig.hashboards[0].chips  # and stats


def test_avalon_10kb_dna_and_a_newline_mac_are_refused_and_the_module_still_read():
    rig = make_rig(30, "avalon", "127.0.0.1")
    module = module_string(rig, CLOCK).replace(f"DNA[{rig.control_board_serial}]", "DNA[" + "f" * 10_240 + "]")
    answer, _ = avalon_answer({"MAC": "e0e1a9\n3f3053"}, module)
    ev = run_api(answer)
    refused = malformed(ev)
    assert {"module.0.dna", "net.mac"} <= set(refused)
    assert "10240 characters" in refused["module.0.dna"] and len(refused["module.0.dna"]) < 300
    assert ev.value("net.mac") is None and ev.value("module.0.version") is not None
    assert all(p.detail.isprintable() for p in ev.problems)


def test_avalon_module_string_that_is_not_one_gives_no_module_claims_and_no_error():
    answer, _ = avalon_answer({}, "\x00garbage[[[]]]\ufffd" * 100)
    ev = run_api(answer)
    assert ev.value("unit.model") == "AvalonMiner 1246"
    assert not ev.names(r"module\..*") and not ev.names(r"hashboard\..*")


# --- Whatsminer API v2 -------------------------------------------------------------------------

def test_whatsminer_malformed_escape_costs_one_field_not_the_reply():
    rig = make_rig(31, "whatsminer-v2", "127.0.0.1")

    def answer(command: str) -> bytes:
        reply = render_reply(rig, json.dumps({"cmd": command}).encode(), CLOCK)
        if command == "get_miner_info":
            # Real btminer writes \' (no such escape in JSON) into a string: here the unit serial.
            reply = reply.replace(rig.serial.encode(), b"\\'" + rig.serial.encode() + b"\\'")
        return reply

    ev = run_api(answer)
    assert "unit.serial" in malformed(ev) and "U+FFFD" in malformed(ev)["unit.serial"]
    assert ev.value("unit.serial") is None
    assert ev.value("net.mac") == rig.mac and ev.value("psu.serial") == rig.psu_serial  # same reply, kept
    assert ev.value("hashboard.0.serial") == rig.hashboards[0].serial


# --- Whatsminer API v3: a length prefix that lies -----------------------------------------------

def v3_peer(reply: bytes):
    async def handler(reader, writer):
        length = int.from_bytes(await reader.readexactly(4), "little")
        await reader.readexactly(length)
        writer.write(reply)
        await writer.drain()
        writer.close()

    return handler


BODY = json.dumps({"code": 0, "msg": {"miner": {"type": "M60S_VK30", "miner-sn": "HTM3ABCDEF012345"}}}).encode()


@pytest.mark.parametrize(("reply", "code", "words"), [
    ((len(BODY) + 500).to_bytes(4, "little") + BODY, MALFORMED_REPLY, f"declared {len(BODY) + 500} bytes"),
    (len(BODY).to_bytes(4, "big") + BODY, MALFORMED_REPLY, "prefix bytes 000000"),  # big-endian by mistake
    ((2 * 1024 * 1024).to_bytes(4, "little") + BODY, "REPLY_TOO_LARGE", "declares 2097152 bytes"),
    ((0xFFFFFFFF).to_bytes(4, "little") + BODY, MALFORMED_REPLY, "length prefix declares 4294967295"),
    ((10).to_bytes(4, "little") + BODY, MALFORMED_REPLY, "not JSON"),
    (b"\x05\x00", MALFORMED_REPLY, "sent only 2 bytes"),
])
def test_v3_reply_with_a_wrong_length_prefix_is_a_clear_problem(reply, code, words):
    async def go():
        async with serve(v3_peer(reply)) as port:
            with pytest.raises(CollectError) as info:
                await whatsminer3.collect(Endpoint("whatsminer3", "127.0.0.1", port), session())
            return info.value

    error = asyncio.run(go())
    assert error.code == code and words in error.message, error.message
    assert error.message.isprintable()


def test_v3_hostile_serial_is_refused_and_the_model_kept():
    body = json.dumps({"code": 0, "msg": {"miner": {"type": "M60S_VK30", "miner-sn": "HTM3\n" + "9" * 10_000},
                                          "network": {"mac": "C8:01:14:00:04:EB"}}}).encode()

    async def handler(reader, writer):
        while True:
            length = int.from_bytes(await reader.readexactly(4), "little")
            await reader.readexactly(length)
            writer.write(len(body).to_bytes(4, "little") + body)
            await writer.drain()

    async def go():
        async with serve(handler) as port:
            target = EndpointTarget("whatsminer3", "127.0.0.1", port, None, None, f"whatsminer3://127.0.0.1:{port}")
            return await collect(target, ports=PortProfile(), credentials=Credentials(), options=CollectOptions())

    ev = asyncio.run(go())
    assert "unit.serial" in malformed(ev)
    assert ev.value("unit.model") == "Whatsminer M60S" and ev.value("net.mac") == "C8:01:14:00:04:EB"


# --- Antminer (stock and LuxOS) on the API ------------------------------------------------------

def test_a_sleeping_chain_does_not_shift_later_slots():
    stats = {"STATUS": [{"STATUS": "S"}], "STATS": [{"Type": "Antminer S19j Pro"}, {
        "miner_count": 2, "chain_acn1": 0, "chain_acn2": 126, "chain_acn3": 126, "chain_acn4": 0}]}
    assert cgminer.chain_chips(stats) == {0: 0, 1: 126, 2: 126}
    s9 = {"STATUS": [{"STATUS": "S"}], "STATS": [{}, {"miner_count": 2, "chain_acn6": 0, "chain_acn7": 63,
                                                       "chain_acn8": 63}]}
    assert cgminer.chain_chips(s9) == {0: 0, 1: 63, 2: 63}


def test_luxos_config_with_a_hostile_serial_keeps_the_mac():
    rig = make_rig(32, "luxos", "127.0.0.1")

    def answer(command: str) -> bytes:
        reply = render_reply(rig, json.dumps({"command": command}).encode(), CLOCK)
        return reply.replace(rig.serial.encode(), b"JYZZ\\u0000" + b"Z" * 5000)

    ev = run_api(answer)
    assert "unit.serial" in malformed(ev)
    assert ev.value("net.mac") == rig.mac.lower() and ev.value("unit.model") == "Antminer S19 XP"


# --- the forks: a refused unlock or login is a problem, and what was open stands ---------------

def test_vnish_refused_unlock_keeps_the_open_pages():
    from attest.sim.web_server import start_web_server

    rig = make_rig(33, "antminer-vnish", "127.0.0.1")
    rig.extras["vnish_password"] = "changed-by-the-owner"

    async def go():
        server = await start_web_server(rig, "127.0.0.1", 0)
        async with server:
            port = server.sockets[0].getsockname()[1]
            target = EndpointTarget("web", "127.0.0.1", port, None, None, f"vnish+http://127.0.0.1:{port}")
            return await collect(target, ports=PortProfile(), credentials=Credentials(allow_vendor_defaults=True),
                                 options=CollectOptions(timeout=3.0))

    ev = asyncio.run(go())
    assert ev.value("unit.serial") == rig.serial and ev.value("psu.serial") == rig.psu_serial
    assert [p.code for p in ev.problems] == ["AUTH_FAILED"]
    assert "/api/v1/unlock" in ev.problems[0].detail and "changed-by-the-owner" not in ev.transcript.to_text()
    assert "admin" not in ev.transcript.to_text().split("unlock", 1)[1][:200]  # the password is never recorded


def test_braiins_refused_login_is_auth_failed_and_never_a_traceback():
    from attest.sim.braiins import start_grpc_server

    rig = make_rig(34, "braiins-os", "127.0.0.1")
    rig.extras["grpc_password"] = "set-by-the-owner"

    async def go():
        server = await start_grpc_server(rig, "127.0.0.1", 0)
        try:
            port = server.port
            target = EndpointTarget("grpc", "127.0.0.1", port, None, None, f"braiins+grpc://127.0.0.1:{port}")
            return await collect(target, ports=PortProfile(), credentials=Credentials(allow_vendor_defaults=True),
                                 options=CollectOptions(timeout=3.0))
        finally:
            server.close()
            await server.wait_closed()

    ev = asyncio.run(go())
    assert ev.claims == ()
    assert [p.code for p in ev.problems] == ["AUTH_FAILED"] and "Login refused" in ev.problems[0].detail


def test_grpc_port_that_is_not_grpc_is_malformed_not_a_traceback():
    async def handler(reader, writer):
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async def go():
        async with serve(handler) as port:
            target = EndpointTarget("grpc", "127.0.0.1", port, None, None, f"braiins+grpc://127.0.0.1:{port}")
            return await collect(target, ports=PortProfile(), credentials=Credentials(allow_vendor_defaults=True),
                                 options=CollectOptions(timeout=3.0))

    ev = asyncio.run(go())
    assert ev.claims == () and len(ev.problems) == 1
    assert ev.problems[0].code in ("MALFORMED_REPLY", "CONNECTION_RESET") and ev.problems[0].detail.isprintable()


def test_braiins_with_no_credentials_on_a_closed_port_is_unreachable_not_a_refused_login():
    from attest.drivers import braiins

    async def go():
        async with serve(lambda r, w: asyncio.sleep(0)) as port:
            pass  # the port is closed again once the server is gone
        with pytest.raises(CollectError) as info:
            await braiins.collect(Endpoint("grpc", "127.0.0.1", port), session())
        return info.value

    assert asyncio.run(go()).code == "UNREACHABLE"

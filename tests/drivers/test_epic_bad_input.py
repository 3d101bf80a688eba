"""Bad input from ePIC's HTTP API on 4028: each ends as a clear problem, never a traceback, never a
lost reply (tests/drivers/test_family_bad_input.py holds the other families').

Each test serves the simulated ePIC rig's pages on loopback with one page spoiled, and collects
through the address a technician would type for a bare API port (``cgminer://``), so the
cgminer driver's hand-over, the ePIC reader and the claim-value check all run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from attest.address import EndpointTarget, PortProfile
from attest.claim_values import VALUE_MALFORMED
from attest.collect import collect
from attest.credentials import Credentials
from attest.drivers import epic
from attest.drivers.base import CollectOptions, Endpoint
from attest.drivers.cgminer_api import HttpOnApiPort, call
from attest.evidence import Evidence
from attest.sim.epic import api_responder
from attest.sim.rig import Rig
from attest.sim.scenarios import make_rig
from attest.sim.web_server import HttpReply, start_http_server
from tests.drivers.loopback import serve, session

#: path -> the reply to serve instead of the simulator's (a function of its reply).
Spoil = Callable[[HttpReply], HttpReply]


def rig() -> Rig:
    return make_rig(40, "antminer-epic", "127.0.0.1")


def page(reply: HttpReply) -> object:
    return json.loads(reply.body)


def served(document: object) -> HttpReply:
    return HttpReply(200, b"application/json", json.dumps(document).encode())


def changed(**fields: object) -> Spoil:
    """The page with ``fields`` set (keys with spaces spelt with underscores)."""
    def spoil(reply: HttpReply) -> HttpReply:
        document = page(reply)
        assert isinstance(document, dict)
        return served({**document, **{k.replace("_", " "): v for k, v in fields.items()}})

    return spoil


def read(the_rig: Rig, spoils: dict[str, Spoil], *, timeout: float = 3.0,
         requests: list[bytes] | None = None) -> Evidence:
    base = api_responder(the_rig)

    def respond(request, body):  # type: ignore[no-untyped-def]
        if requests is not None:
            requests.append(request.method + b" " + request.target)
        reply = base(request, body)
        spoil = spoils.get(request.target.decode())
        return spoil(reply) if spoil is not None else reply

    async def go() -> Evidence:
        server = await start_http_server(the_rig, "127.0.0.1", 0, respond, refuse_non_http=True)
        try:
            port = server.sockets[0].getsockname()[1]
            target = EndpointTarget("api", "127.0.0.1", port, None, None, f"cgminer://127.0.0.1:{port}")
            return await collect(target, ports=PortProfile(), credentials=Credentials(),
                                 options=CollectOptions(timeout=timeout))
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(go())


def refused(ev: Evidence) -> dict[str, str]:
    return {p.detail.split(" ", 1)[0]: p.detail for p in ev.problems if p.code == VALUE_MALFORMED}


def test_the_whole_rig_reads_through_a_bare_api_address_with_reads_only():
    r = rig()
    requests: list[bytes] = []
    ev = read(r, {}, requests=requests)
    # The cgminer request got 400 before any HTTP request was parsed; then only ePIC's open pages.
    assert requests == [b"GET " + path.encode() for path in epic.READS]
    assert ev.problems == ()
    assert ev.value("unit.model") == r.model and ev.value("control_board.serial") == r.control_board_serial
    assert ev.hashboard_serials() == {b.slot: b.serial for b in r.hashboards}


HOSTILE = {
    "newline": "Antminer S19j Pro\nMODEL_OK",
    "replacement characters": "Antminer S19j Pro\ufffd\ufffd",
    "10 KB": "A" * 10_240,
    "escape sequence": "S19j\x1b[2J",
}


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_model_costs_the_model_only(value):
    r = rig()
    ev = read(r, {"/capabilities": changed(Model=value)})
    assert "unit.model" in refused(ev) and ev.value("unit.model") is None
    assert len(refused(ev)["unit.model"]) < 300 and all(p.detail.isprintable() for p in ev.problems)
    # The rest of the same page, and the other pages, stand.
    assert ev.value("control_board.serial") == r.control_board_serial
    assert ev.hashboard_serials() == {b.slot: b.serial for b in r.hashboards}
    assert ev.value("net.mac") is not None and ev.value("firmware.version") == r.firmware_version


def test_bytes_that_are_not_text_cost_the_one_serial_that_holds_them():
    r = rig()
    serial = r.hashboards[1].serial.encode()

    def spoil(reply: HttpReply) -> HttpReply:
        return HttpReply(200, reply.content_type, reply.body.replace(serial, b"HB\xff\xfe\xc3" + serial[5:]))

    ev = read(r, {"/capabilities": spoil})
    assert "hashboard.1.serial" in refused(ev) and "U+FFFD" in refused(ev)["hashboard.1.serial"]
    assert ev.hashboard_serials() == {0: r.hashboards[0].serial, 2: r.hashboards[2].serial}
    assert ev.value("unit.model") == r.model


@pytest.mark.parametrize(("path", "body", "words"), [
    ("/summary", b'{"Status": {"Operating State": "Mining"}, "Software": ', "not JSON"),
    ("/summary", b"<html>502 Bad Gateway</html>", "not JSON"),
    ("/capabilities", b"[" * 100_000 + b"]" * 100_000, "not JSON"),  # nesting past Python's recursion limit
    ("/hashrate", b'{"Index": 0}', "is not a list"),
])
def test_a_broken_page_is_a_problem_and_the_other_pages_stand(path, body, words):
    r = rig()
    ev = read(r, {path: lambda reply: HttpReply(200, b"application/json", body)})
    problems = [p for p in ev.problems if path in p.detail]
    assert len(problems) == 1 and words in problems[0].detail, ev.problems
    assert problems[0].code == "MALFORMED_REPLY" and problems[0].detail.isprintable()
    assert ev.value("net.mac") is not None  # /network was never spoiled
    if path != "/capabilities":
        assert ev.value("unit.model") == r.model


def test_a_page_past_the_reply_cap_is_refused_and_costs_only_itself():
    r = rig()
    huge = served([{"Index": 0, "Data": [[1.0, 99.0]] * 200_000}])  # about 2.4 MB, the cap is 1 MiB
    ev = read(r, {"/hashrate": lambda reply: huge})
    assert [p.code for p in ev.problems] == ["REPLY_TOO_LARGE"] and "/hashrate" in ev.problems[0].detail
    assert not ev.names(r"hashboard\.\d+\.chips")
    assert ev.hashboard_serials() == {b.slot: b.serial for b in r.hashboards}


def test_fields_of_the_wrong_type_cost_those_fields():
    r = rig()
    ev = read(r, {
        "/capabilities": changed(Model=["Antminer", "S19j Pro"], Control_Board_Version="Amlogic"),
        "/network": lambda reply: served({"dhcp": {"mac_address": 0x02A7300600}}),
        "/summary": changed(Software={"name": "PowerPlay-BMS"}, StratumConfigs=[{"pool": 3333}, "x"]),
        "/hashrate": lambda reply: served([{"Index": "zero", "Data": []}, {"Index": 1, "Data": "126"},
                                           *page(reply)[2:]]),
    })
    wrong = {"unit.model", "control_board.serial", "net.mac", "firmware.version", "config.pool.0.url"}
    assert wrong <= set(refused(ev))
    assert ev.names(r"hashboard\.\d+\.chips") == ["hashboard.2.chips"]
    assert sum("no usable Index" in p.detail for p in ev.problems) == 2
    assert ev.hashboard_serials() == {b.slot: b.serial for b in r.hashboards}  # placed by /summary's slots


def test_a_sleeping_board_puts_the_serials_on_the_boards_that_answer():
    r = rig()

    def asleep(reply: HttpReply) -> HttpReply:
        document = page(reply)
        document["HBStatus"][0]["Enabled"] = False
        document["HBs"] = document["HBs"][1:]
        return served(document)

    def answering(reply: HttpReply) -> HttpReply:
        document = page(reply)
        document["Board Serial Numbers"] = document["Board Serial Numbers"][1:]
        return served(document)

    ev = read(r, {"/summary": asleep, "/capabilities": answering})
    assert ev.hashboard_serials() == {1: r.hashboards[1].serial, 2: r.hashboards[2].serial}


def test_serials_that_cannot_be_placed_in_slots_are_not_claimed_at_all():
    r = rig()
    ev = read(r, {"/capabilities": lambda reply: served({**page(reply), "Board Serial Numbers": ["HBAAAA0001"]})})
    assert ev.hashboard_serials() == {}
    assert any("cannot be placed in slots" in p.detail for p in ev.problems)
    assert ev.value("control_board.serial") == r.control_board_serial


def test_an_http_server_on_the_api_port_that_is_not_epic_is_not_this_family():
    r = rig()
    ev = read(r, {path: (lambda reply: HttpReply(404, b"text/html", b"<h1>Not Found</h1>")) for path in epic.READS})
    assert ev.claims == () and [p.code for p in ev.problems] == ["NOT_THIS_FAMILY"]
    assert "none of /summary, /capabilities, /network, /hashrate is ePIC's API" in ev.problems[0].detail


def test_an_http_answer_that_keeps_the_connection_open_is_still_handed_over():
    async def lingering(reader, writer):
        await reader.read(4096)
        writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")  # and never closes
        await writer.drain()
        await reader.read(4096)

    async def go():
        async with serve(lingering) as port:
            s = session(timeout=0.5)
            with pytest.raises(HttpOnApiPort) as info:
                await call(Endpoint("api", "127.0.0.1", port), s, {"command": "version"}, "version")
            return info.value

    error = asyncio.run(go())
    assert error.code == "MALFORMED_REPLY" and error.status_line == "HTTP/1.1 400 Bad Request"

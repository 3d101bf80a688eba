"""The Antminer web driver against the simulator's web UI and against small hostile servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from attest.claim_values import VALUE_MALFORMED, checked
from attest.drivers import antminer_web
from attest.drivers.base import (
    AUTH_FAILED,
    CONNECTION_RESET,
    MALFORMED_REPLY,
    NOT_THIS_FAMILY,
    REPLY_TOO_LARGE,
    TIMEOUT,
    UNREACHABLE,
    CollectError,
    CollectOptions,
    Credential,
    Endpoint,
    Session,
)
from attest.evidence import Assurance, Transcript
from attest.sim.rig import Rig
from attest.sim.scenarios import make_rig
from attest.sim.web_server import start_web_server
from tests.drivers.loopback import serve as raw_server

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
ROOT = Credential("root", "root")


def run(coro: Awaitable[object]) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def session(timeout: float = 2.0, max_reply_bytes: int = 1024 * 1024) -> Session:
    return Session(CollectOptions(timeout=timeout, max_reply_bytes=max_reply_bytes), Transcript())


@contextlib.asynccontextmanager
async def sim(rig: Rig) -> AsyncIterator[int]:
    server = await start_web_server(rig, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]




def response(status: str, body: bytes, *headers: bytes) -> bytes:
    head = b"HTTP/1.1 " + status.encode() + b"\r\n" + b"".join(h + b"\r\n" for h in headers)
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def cgi_server(pages: dict[str, bytes]) -> Handler:
    """Answers each path with its canned body (no auth), keep-alive, 404 otherwise."""

    async def handler(reader, writer):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            if path in pages:
                writer.write(response("200 OK", pages[path], b"Content-Type: application/json"))
            else:
                writer.write(response("404 Not Found", b"<html>404</html>"))
            await writer.drain()

    return handler


def genuine_pages(rig: Rig) -> dict[str, bytes]:
    from attest.sim import web_server

    return {
        antminer_web.SYSTEM_INFO: json.dumps(web_server.system_info(rig)).encode(),
        antminer_web.STATS: json.dumps(web_server.stats(rig, 10)).encode(),
        antminer_web.POOLS: json.dumps(web_server.pools(rig)).encode(),
    }


def endpoint(port: int, *credentials: Credential) -> Endpoint:
    return Endpoint("web", "127.0.0.1", port, credentials)


def collect_from(handler: Handler, *credentials: Credential, **options) -> list:
    async def go():
        async with raw_server(handler) as port:
            return await antminer_web.collect(endpoint(port, *credentials), session(**options))

    return run(go())  # type: ignore[return-value]


def collect_error(handler: Handler, *credentials: Credential, **options) -> CollectError:
    with pytest.raises(CollectError) as info:
        collect_from(handler, *credentials, **options)
    return info.value


def collect_sim(rig: Rig, *credentials: Credential, **options) -> tuple[list, Session, int]:
    async def go():
        async with sim(rig) as port:
            s = session(**options)
            claims = await antminer_web.collect(endpoint(port, *credentials), s)
            return claims, s, port

    return run(go())  # type: ignore[return-value]


def expected_claims(rig: Rig) -> dict[str, object]:
    expected: dict[str, object] = {
        "unit.model": rig.model,
        "unit.serial": rig.serial,
        "net.mac": rig.mac,
        "firmware.version": rig.firmware_version,
        "firmware.build": rig.firmware_build,
    }
    for board in rig.hashboards:
        expected[f"hashboard.{board.slot}.serial"] = board.serial
        expected[f"hashboard.{board.slot}.chips"] = board.chips
    for index, pool in enumerate(rig.pools):
        expected[f"config.pool.{index}.url"] = pool.url
    return expected


# --- against the simulator ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "scenario"),
    [(0, "genuine"), (1, "genuine"), (4, "pool-hijack"), (3, "swapped-hashboard"), (0, "revoked-firmware")],
)
def test_claims_equal_the_simulated_rigs_fields(index, scenario):
    rig = make_rig(index, scenario, "127.0.0.1")
    assert rig.family == "antminer"
    claims, _, port = collect_sim(rig, ROOT)
    by_name = {c.name: c for c in claims}
    assert len(by_name) == len(claims), "no claim name twice"
    assert {name: c.value for name, c in by_name.items()} == expected_claims(rig)
    assert all(c.assurance is Assurance.REPORTED for c in claims)
    assert by_name["unit.serial"].source == f"web://127.0.0.1:{port} /cgi-bin/get_system_info.cgi"
    assert by_name["hashboard.0.chips"].source == f"web://127.0.0.1:{port} /cgi-bin/stats.cgi"
    assert by_name["config.pool.0.url"].source == f"web://127.0.0.1:{port} /cgi-bin/pools.cgi"


def test_mac_is_reported_as_the_ui_prints_it():
    rig = make_rig(0, "genuine", "127.0.0.1")
    rig.mac = "02-a7-00-11-22-33"
    claims, _, _ = collect_sim(rig, ROOT)
    assert {c.name: c.value for c in claims}["net.mac"] == "02-a7-00-11-22-33"


def test_wrong_password_is_auth_failed_and_never_shows_the_password():
    rig = make_rig(0, "genuine", "127.0.0.1")
    rig.password = "Corr3ct-Horse"

    async def go():
        async with sim(rig) as port:
            s = session()
            with pytest.raises(CollectError) as info:
                await antminer_web.collect(endpoint(port, Credential("root", "Wr0ng-Battery")), s)
            return info.value, s

    error, s = run(go())
    assert error.code == AUTH_FAILED
    assert "root" in error.message
    for secret in ("Wr0ng-Battery", "Corr3ct-Horse"):
        assert secret not in error.message
        assert secret not in s.transcript.to_text()


def test_credentials_are_tried_in_order_until_one_is_accepted():
    rig = make_rig(0, "genuine", "127.0.0.1")
    rig.password = "site-password"
    claims, s, _ = collect_sim(rig, Credential("root", "root"), Credential("root", "site-password"))
    assert {c.name: c.value for c in claims}["unit.serial"] == rig.serial
    assert "site-password" not in s.transcript.to_text()


def test_no_credentials_at_all_is_auth_failed():
    rig = make_rig(0, "genuine", "127.0.0.1")

    async def go():
        async with sim(rig) as port:
            with pytest.raises(CollectError) as info:
                await antminer_web.collect(endpoint(port), session())
            return info.value

    assert run(go()).code == AUTH_FAILED


def test_garbage_rig_is_malformed_reply():
    rig = make_rig(0, "garbage", "127.0.0.1")
    with pytest.raises(CollectError) as info:
        collect_sim(rig, ROOT)
    assert info.value.code == MALFORMED_REPLY


def test_unresponsive_rig_times_out_within_the_timeout():
    rig = make_rig(0, "unresponsive", "127.0.0.1")
    started = time.monotonic()
    with pytest.raises(CollectError) as info:
        collect_sim(rig, ROOT, timeout=0.5)
    assert info.value.code == TIMEOUT
    assert time.monotonic() - started < 2.0


def test_slow_rig_succeeds_with_the_default_timeout():
    rig = make_rig(0, "slow", "127.0.0.1")
    assert rig.family == "antminer"
    claims, _, _ = collect_sim(rig, ROOT, timeout=5.0)
    assert {c.name: c.value for c in claims} == expected_claims(rig)


def test_reply_over_the_cap_is_reply_too_large():
    rig = make_rig(0, "genuine", "127.0.0.1")
    with pytest.raises(CollectError) as info:
        collect_sim(rig, ROOT, max_reply_bytes=700)  # system info fits, stats does not
    assert info.value.code == REPLY_TOO_LARGE


# --- against hostile servers ---------------------------------------------------------------------


def test_401_loop_is_auth_failed_after_a_bounded_number_of_requests():
    requests = 0

    async def handler(reader, writer):
        nonlocal requests
        while True:
            await reader.readuntil(b"\r\n\r\n")
            requests += 1
            challenge = b'Digest realm="antMiner Configuration", nonce="n%d", qop="auth"' % requests
            writer.write(response("401 Unauthorized", b"", b"WWW-Authenticate: " + challenge))
            await writer.drain()

    error = collect_error(handler, ROOT, Credential("admin", "admin"))
    assert error.code == AUTH_FAILED
    assert "root" in error.message and "admin" in error.message
    assert requests == 4  # each credential: the challenge, then one answer


def test_never_ending_chunked_body_is_bounded():
    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"1000\r\n" + b"[" * 0x1000 + b"\r\n")
            await writer.drain()

    started = time.monotonic()
    error = collect_error(handler, ROOT, timeout=3.0, max_reply_bytes=512 * 1024)
    assert error.code in (REPLY_TOO_LARGE, TIMEOUT)
    assert time.monotonic() - started < 5.0


def test_non_utf8_system_info_is_a_printable_problem_and_the_other_pages_stand():
    rig = make_rig(0, "genuine", "127.0.0.1")
    pages = genuine_pages(rig)
    pages[antminer_web.SYSTEM_INFO] = b'{"minertype":"Antminer S21","serinum":"JY\xff\xfe\x1b[2J"}'
    s = session()

    async def go():
        async with raw_server(cgi_server(pages)) as port:
            return await antminer_web.collect(endpoint(port, ROOT), s)

    claims = run(go())
    [problem] = s.problems
    assert problem.code == MALFORMED_REPLY and "UTF-8" in problem.detail
    assert "\x1b" not in problem.detail and "\ufffd" not in problem.detail and problem.detail.isprintable()
    assert {c.name for c in claims} >= {"firmware.version", "hashboard.0.serial", "config.pool.0.url"}


@pytest.mark.parametrize(
    ("path", "body", "why"),
    [
        ("/cgi-bin/get_system_info.cgi", b"<html>login</html>", "not JSON"),
        ("/cgi-bin/get_system_info.cgi", b"[1, 2]", "expected a JSON object"),
        ("/cgi-bin/get_system_info.cgi", b'{"serinum": 12345}', "serinum is int"),
        ("/cgi-bin/get_system_info.cgi", b'{"serinum": "' + b"A" * 300 + b'"}', "300 characters"),
        ("/cgi-bin/get_system_info.cgi", b'{"minertype": "Antminer S21\\n\\u001b[2J"}', "control character"),
        ("/cgi-bin/get_system_info.cgi", b'{"minertype": "Antminer S21\xef\xbf\xbd\xef\xbf\xbd"}', "U+FFFD"),
        ("/cgi-bin/stats.cgi", b'{"STATS": [{"chain": [{"index": 0, "sn": "x"}]}]}', "not a serial"),
        ("/cgi-bin/get_system_info.cgi", b"[" * 100_000, "not JSON"),
        ("/cgi-bin/stats.cgi", b'{"INFO": {}}', "STATS is NoneType"),
        ("/cgi-bin/stats.cgi", b'{"STATS": []}', "STATS is empty"),
        ("/cgi-bin/stats.cgi", b'{"STATS": [{"chain": {"index": 0}}]}', "expected a list"),
        ("/cgi-bin/stats.cgi", b'{"STATS": [{"chain": [{"sn": "HB00000001"}]}]}', "no usable index"),
        ("/cgi-bin/stats.cgi", b'{"STATS": [{"chain": [{"index": true}]}]}', "not a count"),
        ("/cgi-bin/stats.cgi", b'{"STATS": [{"chain": [{"index": 0}, {"index": 0}]}]}', "appears twice"),
        ("/cgi-bin/stats.cgi", b'{"STATS": [{"chain": [{"index": 0, "asic_num": "108"}]}]}', "asic_num is not a count"),
        ("/cgi-bin/stats.cgi", b'{"INFO": [], "STATS": [{"chain": []}]}', "INFO is list"),
        ("/cgi-bin/pools.cgi", b'{"POOLS": {"url": "x"}}', "POOLS is dict"),
        ("/cgi-bin/pools.cgi", b'{"POOLS": [{"url": 7}]}', "url is int, expected a string"),
        ("/cgi-bin/stats.cgi", b"<html>404 Not Found</html>", "not JSON"),
        ("/cgi-bin/pools.cgi", b'{"POOLS": [' + b",".join([b"{}"] * 40) + b"]}", "more than"),
    ],
)
def test_a_wrong_page_or_field_costs_only_itself(path, body, why):
    rig = make_rig(0, "genuine", "127.0.0.1")
    pages = genuine_pages(rig)
    pages[path] = body
    s = session()

    async def go():
        async with raw_server(cgi_server(pages)) as port:
            return await antminer_web.collect(endpoint(port, ROOT), s)

    raw = run(go())
    claims, refused = checked(raw, "web://127.0.0.1")
    problems = [*s.problems, *refused]
    assert [p for p in problems if why in p.detail and p.code in (MALFORMED_REPLY, VALUE_MALFORMED)], problems
    assert all(p.detail.isprintable() for p in problems)
    names = {c.name for c in claims}
    # Every other page still gave its claims: the page or field that went wrong cost only itself.
    if path != antminer_web.SYSTEM_INFO:
        assert {"unit.serial", "net.mac"} <= names
    if path != antminer_web.POOLS:
        assert "hashboard.0.serial" in names or path == antminer_web.STATS
        assert "config.pool.0.url" in names or path == antminer_web.POOLS


def test_missing_system_info_cgi_is_not_this_family():
    pages = genuine_pages(make_rig(0, "genuine", "127.0.0.1"))
    del pages[antminer_web.SYSTEM_INFO]
    assert collect_error(cgi_server(pages), ROOT).code == NOT_THIS_FAMILY


def test_empty_fields_give_no_claims_rather_than_empty_ones():
    rig = make_rig(0, "genuine", "127.0.0.1")
    rig.hashboards[1].serial = ""
    pages = genuine_pages(rig)
    claims = collect_from(cgi_server(pages), ROOT)
    names = {c.name for c in claims}
    assert "hashboard.1.serial" not in names
    assert "hashboard.1.chips" in names and "hashboard.2.serial" in names


def test_connection_refused_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(CollectError) as info:
        run(antminer_web.collect(endpoint(port, ROOT), session()))
    assert info.value.code == UNREACHABLE


def test_reset_mid_reply_is_connection_reset():
    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"minertype":')
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    assert collect_error(handler, ROOT).code == CONNECTION_RESET


# --- identify ------------------------------------------------------------------------------------


def test_identify_recognises_the_simulated_web_ui():
    async def go():
        async with sim(make_rig(0, "genuine", "127.0.0.1")) as port:
            return await antminer_web.identify("127.0.0.1", port, session())

    assert run(go()) == "antminer-web"


@pytest.mark.parametrize(
    "reply",
    [
        response("200 OK", b"<html>Braiins OS</html>"),
        response("401 Unauthorized", b"", b'WWW-Authenticate: Digest realm="router", nonce="1"'),
        b"\x00\x01garbage\r\n\r\n",
    ],
)
def test_identify_says_none_for_other_web_servers(reply):
    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()

    async def go():
        async with raw_server(handler) as port:
            return await antminer_web.identify("127.0.0.1", port, session())

    assert run(go()) is None


def test_identify_says_none_when_nothing_listens():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert run(antminer_web.identify("127.0.0.1", port, session())) is None


def test_driver_declares_itself():
    assert antminer_web.NAME == "antminer_web"
    assert antminer_web.KIND == "web"
    assert antminer_web.DEFAULT_PORT == 80
    assert antminer_web.SCHEMES == ("antminer+http",)

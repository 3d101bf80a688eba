"""The simulated Antminer web UI: real HTTP/1.1 and digest auth, read by an independent client."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import time
import warnings
from collections.abc import AsyncIterator, Awaitable

import h11
import httpx
import pytest

from attest.sim import web_server
from attest.sim.rig import Rig
from attest.sim.scenarios import make_rig
from attest.sim.web_server import REALM, DigestGate, parse_digest_credentials, start_web_server
from tests.conftest import skip_unless_ci

with warnings.catch_warnings():
    # pyasic's own imports trip DeprecationWarnings (pydantic class-based config, the stdlib
    # crypt module via passlib); they are pyasic's to fix and say nothing about our server.
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyasic.miners.factory import MinerFactory, MinerTypes
    from pyasic.web.antminer import AntminerModernWebAPI


def run(coro: Awaitable[object]) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def serving(rig: Rig) -> AsyncIterator[int]:
    server = await start_web_server(rig, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]


def antminer(index: int = 0, scenario: str = "genuine") -> Rig:
    rig = make_rig(index, scenario, "127.0.0.1")
    assert rig.family == "antminer"
    return rig


async def exchange(port: int, *requests: bytes) -> list[h11.Response | bytes]:
    """Pipeline raw requests on one connection; parse what comes back with h11 as a client."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = h11.Connection(h11.CLIENT)
    out: list[h11.Response | bytes] = []
    try:
        writer.write(b"".join(requests))
        await writer.drain()
        for _ in requests:
            # h11 only parses what it was told was sent
            conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
            conn.send(h11.EndOfMessage())
            body = b""
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await asyncio.wait_for(reader.read(65536), 5))
                    continue
                if isinstance(event, h11.Response):
                    out.append(event)
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                    out.append(body)
                    break
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is not h11.DONE:
                break
            conn.start_next_cycle()
    finally:
        writer.close()
    return out


def header(response: h11.Response, name: bytes) -> bytes:
    return dict(response.headers).get(name, b"")


# --- real clients read it like a real Antminer -------------------------------------------------


@pytest.mark.parametrize("index", [0, 1])
def test_pyasic_web_client_reads_the_same_identity_as_the_rig(index):
    rig = antminer(index)

    async def go():
        async with serving(rig) as port:
            api = AntminerModernWebAPI("127.0.0.1")
            api.port = port
            return await api.get_system_info()

    info = run(go())
    assert isinstance(info, dict)
    assert (info["serinum"], info["macaddr"], info["minertype"]) == (rig.serial, rig.mac, rig.model)


def test_pyasic_recognises_an_antminer_and_not_a_marathon():
    rig = antminer()

    async def go():
        async with serving(rig) as port:
            async with httpx.AsyncClient() as client:
                probe = await client.get(f"http://127.0.0.1:{port}/")
            factory = MinerFactory()
            auth = httpx.DigestAuth("root", "root")
            # send_web_command builds http://{ip}{location}; a ":port" prefix reaches our port.
            marathon = await factory.send_web_command("127.0.0.1", f":{port}/kaonsu/v1/brief", auth=auth)
            info = await factory.send_web_command("127.0.0.1", f":{port}/cgi-bin/get_system_info.cgi", auth=auth)
            return MinerFactory._parse_web_type(probe.text, probe), marathon, info

    family, marathon, info = run(go())
    assert family is MinerTypes.ANTMINER
    assert marathon is None, "a JSON 404 would make pyasic call this a Marathon miner"
    assert info["minertype"] == rig.model


def test_pyasic_miner_reads_serial_mac_and_hashboards_through_the_web_ui():
    rig = antminer(1, "swapped-hashboard")

    async def go():
        async with serving(rig) as port:
            miner = MinerFactory()._select_miner_from_classes(
                "127.0.0.1", miner_type=MinerTypes.ANTMINER, miner_model=rig.model.upper(), version=None
            )
            miner.web.port = port
            return await miner._get_serial_number(), await miner._get_mac(), await miner._get_hashboards()

    serial, mac, boards = run(go())
    assert (serial, mac) == (rig.serial, rig.mac)
    assert [(b.slot, b.serial_number, b.chips) for b in boards] == [(h.slot, h.serial, h.chips) for h in rig.hashboards]


# --- HTTP and digest behaviour ------------------------------------------------------------------


def test_unauthenticated_request_gets_the_antminer_digest_challenge():
    async def go():
        async with serving(antminer()) as port:
            return await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")

    response, body = run(go())
    assert response.status_code == 401
    challenge = header(response, b"www-authenticate")
    assert challenge.startswith(b'Digest realm="antMiner Configuration"')
    assert b'qop="auth"' in challenge and b"algorithm=MD5" in challenge
    assert b"<html>" in body


def test_keep_alive_serves_pipelined_requests_on_one_connection():
    request = b"GET /cgi-bin/stats.cgi HTTP/1.1\r\nHost: x\r\n\r\n"

    async def go():
        async with serving(antminer()) as port:
            return await exchange(port, request, request, request)

    replies = run(go())
    assert [r.status_code for r in replies if isinstance(r, h11.Response)] == [401, 401, 401]
    nonces = {header(r, b"www-authenticate") for r in replies if isinstance(r, h11.Response)}
    assert len(nonces) == 3, "every challenge carries a fresh nonce"


def test_authenticated_cgis_are_json_and_unknown_paths_are_html_404():
    rig = antminer()

    async def go():
        async with serving(rig) as port, httpx.AsyncClient(auth=httpx.DigestAuth("root", "root")) as client:
            base = f"http://127.0.0.1:{port}"
            return [
                await client.get(base + path)
                for path in (
                    "/cgi-bin/get_system_info.cgi",
                    "/cgi-bin/stats.cgi?x=1",
                    "/cgi-bin/pools.cgi",
                    "/cgi-bin/get_miner_conf.cgi",
                )
            ]

    info, stats, pools, missing = run(go())
    for reply in (info, stats, pools):
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "application/json"
    assert info.json() == web_server.system_info(rig)
    chain = stats.json()["STATS"][0]["chain"]
    assert [(c["index"], c["sn"], c["asic_num"]) for c in chain] == [
        (h.slot, h.serial, h.chips) for h in rig.hashboards
    ]
    assert stats.json()["INFO"] == {
        "miner_version": rig.firmware_version,
        "CompileTime": rig.firmware_build,
        "type": rig.model,
    }
    assert [p["url"] for p in pools.json()["POOLS"]] == [p.url for p in rig.pools]
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "text/html"


def test_wrong_password_and_wrong_user_stay_401():
    rig = antminer()
    rig.password = "secret"

    async def go():
        async with serving(rig) as port:
            url = f"http://127.0.0.1:{port}/cgi-bin/stats.cgi"
            async with httpx.AsyncClient() as client:
                return [
                    (await client.get(url, auth=httpx.DigestAuth(user, pw))).status_code
                    for user, pw in (("root", "root"), ("admin", "secret"), ("root", "secret"))
                ]

    assert run(go()) == [401, 401, 200]


def _answer(
    gate: DigestGate,
    nonce: bytes,
    *,
    uri: bytes = b"/x",
    password: bytes = b"root",
    nc: bytes = b"00000001",
    cnonce: bytes = b"abc",
    qop: bytes = b"auth",
) -> bytes:
    ha1 = hashlib.md5(b"root:%s:%s" % (REALM.encode(), password)).hexdigest().encode()
    ha2 = hashlib.md5(b"GET:" + uri).hexdigest().encode()
    response = hashlib.md5(b":".join((ha1, nonce, nc, cnonce, qop, ha2))).hexdigest().encode()
    return (
        b'Digest username="root", realm="%s", nonce="%s", uri="%s", response="%s", '
        b'qop=%s, nc=%s, cnonce="%s", algorithm=MD5'
    ) % (REALM.encode(), nonce, uri, response, qop, nc, cnonce)


def test_digest_gate_checks_every_part_of_the_answer(monkeypatch):
    gate = DigestGate(antminer())
    nonce = gate.new_nonce()
    assert gate.check(b"GET", b"/x", _answer(gate, nonce)) == DigestGate.OK
    assert gate.check(b"GET", b"/x", None) == DigestGate.DENIED
    assert gate.check(b"GET", b"/x", _answer(gate, nonce, password=b"nope")) == DigestGate.DENIED
    assert gate.check(b"GET", b"/y", _answer(gate, nonce)) == DigestGate.DENIED  # uri is not target
    assert gate.check(b"POST", b"/x", _answer(gate, nonce)) == DigestGate.DENIED
    assert gate.check(b"GET", b"/x", _answer(gate, nonce, nc=b"1")) == DigestGate.DENIED
    assert gate.check(b"GET", b"/x", _answer(gate, nonce, qop=b"auth-int")) == DigestGate.DENIED
    forged = nonce[:-1] + (b"0" if nonce[-1:] != b"0" else b"1")
    assert gate.check(b"GET", b"/x", _answer(gate, forged)) == DigestGate.DENIED
    other = DigestGate(antminer()).new_nonce()  # another server's key
    assert gate.check(b"GET", b"/x", _answer(gate, other)) == DigestGate.DENIED
    doubled = _answer(gate, nonce) + b', response="00000000000000000000000000000000"'
    assert gate.check(b"GET", b"/x", doubled) == DigestGate.DENIED
    assert gate.check(b"GET", b"/x", b"Basic cm9vdDpyb290") == DigestGate.DENIED
    monkeypatch.setattr(web_server, "NONCE_LIFETIME_SECONDS", -1)
    assert gate.check(b"GET", b"/x", _answer(gate, nonce)) == DigestGate.STALE
    assert b"stale=true" in gate.challenge(stale=True)


def test_digest_parameter_parser_handles_quoting_and_refuses_junk():
    params = parse_digest_credentials(b'Digest username="ro\\"ot", nc=00000001 , qop=auth,')
    assert params == {"username": b'ro"ot', "nc": b"00000001", "qop": b"auth"}
    assert parse_digest_credentials(b"Digest username") is None
    assert parse_digest_credentials(b'Digest a="unterminated') is None
    assert parse_digest_credentials(b"Bearer x=1") is None


def test_oversized_request_head_gets_431_and_oversized_body_413():
    huge_head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 20000 + b"\r\n\r\n"
    big_body = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n" + b"b" * 20000

    async def go():
        async with serving(antminer()) as port:
            return await exchange(port, huge_head), await exchange(port, big_body)

    head_reply, body_reply = run(go())
    assert head_reply[0].status_code == 431
    assert body_reply[0].status_code == 413


def test_non_http_request_gets_400():
    async def go():
        async with serving(antminer()) as port:
            return await exchange(port, b"HELLO THERE\r\n\r\n")

    assert run(go())[0].status_code == 400


# --- behaviours ---------------------------------------------------------------------------------


def test_garbage_rig_answers_bytes_that_are_not_http_then_closes():
    async def go():
        async with serving(antminer(0, "garbage")) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            return data

    assert run(go()) == web_server.GARBAGE_BYTES


def test_unresponsive_rig_accepts_and_never_writes_until_the_server_closes():
    async def go():
        server = await start_web_server(antminer(0, "unresponsive"), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.3)
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)  # drops the silent connection too
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return data

    assert run(go()) == b""


def test_slow_rig_delays_every_response(monkeypatch):
    monkeypatch.setattr(web_server, "SLOW_DELAY_SECONDS", 0.2)

    async def go():
        async with serving(antminer(0, "slow")) as port:
            started = time.monotonic()
            request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            replies = await exchange(port, request, request)
            return replies, time.monotonic() - started

    replies, elapsed = run(go())
    assert [r.status_code for r in replies if isinstance(r, h11.Response)] == [401, 401]
    assert elapsed >= 0.4


def test_web_ui_only_for_antminer_rigs_with_it_enabled():
    whatsminer = make_rig(2, "genuine", "127.0.0.1")
    assert whatsminer.family == "whatsminer"
    disabled = antminer()
    disabled.web_enabled = False
    for rig in (whatsminer, disabled):
        with pytest.raises(ValueError):
            run(start_web_server(rig, "127.0.0.1", 0))


@pytest.fixture
def room_for_a_thousand_sockets():
    """1,000 listening sockets plus clients need more descriptors than a 1024 soft limit."""
    try:
        import resource
    except ImportError:  # Windows
        skip_unless_ci("no resource module to raise the descriptor limit with")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    if wanted < 1200:
        skip_unless_ci(f"descriptor hard limit {hard} is too low for 1,000 servers")
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.usefixtures("room_for_a_thousand_sockets")
def test_a_thousand_rigs_serve_from_one_process():
    base = antminer()  # make_rig builds flash images; the web UI needs none, so copy one rig
    rigs = [dataclasses.replace(base, name=f"rig-{i}", serial=f"JYZZ{i:08d}") for i in range(1000)]

    async def go():
        started = time.monotonic()
        servers = [await start_web_server(rig, "127.0.0.1", 0) for rig in rigs]
        startup = time.monotonic() - started
        try:
            ports = [s.sockets[0].getsockname()[1] for s in servers]  # type: ignore[attr-defined]
            async with httpx.AsyncClient(auth=httpx.DigestAuth("root", "root")) as client:
                picks = (0, 499, 999)
                infos = [
                    (await client.get(f"http://127.0.0.1:{ports[i]}/cgi-bin/get_system_info.cgi")).json() for i in picks
                ]
            return startup, [(i, info["serinum"]) for i, info in zip(picks, infos, strict=True)]
        finally:
            for server in servers:
                server.close()
            for server in servers:
                await server.wait_closed()

    startup, serials = run(go())
    assert startup < 10.0
    assert serials == [(i, rigs[i].serial) for i in (0, 499, 999)]

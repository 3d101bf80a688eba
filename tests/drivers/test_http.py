"""The capped HTTP transport against hostile peers: small raw asyncio servers on loopback."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Awaitable, Callable

import pytest

from attest.transport import http
from attest.transport.http import HttpClient, TransportError
from tests.drivers.loopback import serve as raw_server

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

CHALLENGE = b'Digest realm="antMiner Configuration", nonce="%d", qop="auth"'


def run(coro: Awaitable[object]) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]




async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def response(status: str, body: bytes, *headers: bytes) -> bytes:
    head = b"HTTP/1.1 " + status.encode() + b"\r\n"
    head += b"".join(h + b"\r\n" for h in headers)
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


class Recorder:
    def __init__(self) -> None:
        self.entries: list[tuple[str, bytes]] = []

    def __call__(self, direction: str, data: bytes) -> None:
        self.entries.append((direction, data))

    def all_bytes(self) -> bytes:
        return b"\n".join(data for _, data in self.entries)


async def fetch(port: int, path: str = "/x", *, auth=None, timeout=2.0, max_bytes=4096, record=None):
    return await http.get(
        f"http://127.0.0.1:{port}{path}",
        auth=auth,
        timeout=timeout,
        max_bytes=max_bytes,
        record=record or Recorder(),
    )


def failure(handler: Handler, **kwargs) -> TransportError:
    async def go() -> TransportError:
        async with raw_server(handler) as port:
            with pytest.raises(TransportError) as info:
                await fetch(port, **kwargs)
            return info.value

    result = run(go())
    assert isinstance(result, TransportError)
    return result


def test_plain_get_returns_status_headers_body_and_records_the_exchange():
    async def handler(reader, writer):
        head = await read_head(reader)
        assert head.startswith(b"GET /cgi-bin/x.cgi?a=1 HTTP/1.1\r\n")
        assert b"accept-encoding: identity" in head.lower()
        writer.write(response("200 OK", b'{"ok":1}', b"Content-Type: application/json"))

    async def go():
        record = Recorder()
        async with raw_server(handler) as port:
            reply = await fetch(port, "/cgi-bin/x.cgi?a=1", record=record)
        return reply, record

    reply, record = run(go())
    assert (reply.status, reply.body) == (200, b'{"ok":1}')
    assert reply.header("Content-Type") == "application/json"
    assert record.entries[0] == (">", b"GET /cgi-bin/x.cgi?a=1 HTTP/1.1")
    assert record.entries[1][1].startswith(b"HTTP/1.1 200 OK")
    assert record.entries[2] == ("<", b'{"ok":1}')


def test_digest_exchange_never_records_authorization_or_password():
    seen: list[bytes] = []

    async def handler(reader, writer):
        while True:
            head = await read_head(reader)
            seen.append(head)
            if b"authorization:" in head.lower():
                writer.write(response("200 OK", b"{}"))
            else:
                writer.write(response("401 Unauthorized", b"no", b"WWW-Authenticate: " + CHALLENGE % 1))
            await writer.drain()

    async def go():
        record = Recorder()
        async with raw_server(handler) as port:
            reply = await fetch(port, auth=("root", "s3cret-Pa55"), record=record)
        return reply, record

    reply, record = run(go())
    assert reply.status == 200
    assert len(seen) == 2 and b"Digest username=" in seen[1]
    text = record.all_bytes().lower()
    assert b"s3cret-pa55" not in text
    assert b"authorization:" not in text and b"response=" not in text
    assert b"[credentials sent, not recorded]" in text


def test_401_loop_ends_after_one_authenticated_retry():
    requests: list[bytes] = []

    async def handler(reader, writer):
        while True:
            requests.append(await read_head(reader))
            challenge = CHALLENGE % len(requests)
            writer.write(response("401 Unauthorized", b"", b"WWW-Authenticate: " + challenge))
            await writer.drain()

    async def go():
        async with raw_server(handler) as port:
            return await fetch(port, auth=("root", "root"))

    reply = run(go())
    assert reply.status == 401
    assert len(requests) == 2


@pytest.mark.parametrize(
    "challenge",
    [
        b"Digest realm",  # a field without "=": httpx's parser raises ValueError
        b'Digest realm="x", qop="auth"',  # no nonce: KeyError
        b'Digest realm="x", nonce="1", algorithm=ROT13',  # unknown algorithm: KeyError
        b'Digest realm="x", nonce="1", qop="auth-int"',  # NotImplementedError in httpx
    ],
)
def test_malformed_digest_challenge_is_malformed_reply_not_a_crash(challenge):
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(response("401 Unauthorized", b"", b"WWW-Authenticate: " + challenge))
        await writer.drain()
        await reader.read()

    error = failure(handler, auth=("root", "root"))
    assert error.code == http.MALFORMED_REPLY


def test_declared_body_over_cap_is_refused_before_reading_it():
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n")
        await writer.drain()
        await reader.read()

    error = failure(handler, max_bytes=1000)
    assert error.code == http.REPLY_TOO_LARGE
    assert "999999999" in error.message


def test_chunked_body_over_cap_is_reply_too_large():
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"800\r\n" + b"x" * 0x800 + b"\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    assert failure(handler, max_bytes=1000).code == http.REPLY_TOO_LARGE


def test_never_ending_chunked_body_stops_at_the_cap():
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"1000\r\n" + b"y" * 0x1000 + b"\r\n")
            await writer.drain()

    started = time.monotonic()
    error = failure(handler, max_bytes=256 * 1024, timeout=10.0)
    assert error.code == http.REPLY_TOO_LARGE
    assert time.monotonic() - started < 10.0


def test_401_body_read_during_digest_exchange_is_capped_too():
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: " + CHALLENGE % 1)
        writer.write(b"\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"1000\r\n" + b"z" * 0x1000 + b"\r\n")
            await writer.drain()

    assert failure(handler, auth=("root", "root"), max_bytes=64 * 1024).code == http.REPLY_TOO_LARGE


def test_compressed_body_is_refused_as_malformed():
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(response("200 OK", b"\x1f\x8b\x08\x00", b"Content-Encoding: gzip"))
        await writer.drain()
        await reader.read()

    error = failure(handler)
    assert error.code == http.MALFORMED_REPLY
    assert "gzip" in error.message


def test_stalled_body_times_out_within_the_deadline():
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        await reader.read()  # then nothing more, until the client gives up

    started = time.monotonic()
    error = failure(handler, timeout=0.5)
    elapsed = time.monotonic() - started
    assert error.code == http.TIMEOUT
    assert elapsed < 2.0


def test_silent_server_times_out():
    async def handler(reader, writer):
        await reader.read()

    started = time.monotonic()
    assert failure(handler, timeout=0.3).code == http.TIMEOUT
    assert time.monotonic() - started < 2.0


def test_refused_connection_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransportError) as info:
        run(fetch(port))
    assert info.value.code == http.UNREACHABLE


def test_reset_mid_reply_is_connection_reset():
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{"partial":')
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # with linger 0: an RST, not a FIN

    assert failure(handler).code == http.CONNECTION_RESET


def test_close_mid_body_is_connection_reset():
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{"partial":')
        await writer.drain()

    assert failure(handler).code == http.CONNECTION_RESET


def test_close_without_any_reply_is_connection_reset():
    async def handler(reader, writer):
        await read_head(reader)

    assert failure(handler).code == http.CONNECTION_RESET


def test_non_http_bytes_are_malformed_reply():
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(b"\x00\xff\xfe garbage \x89\r\n\r\n")
        await writer.drain()

    assert failure(handler).code == http.MALFORMED_REPLY


@pytest.mark.parametrize("reply", [b"garbage reply\n", b'{"STATUS":"E","Msg":"invalid cmd"}\x00', b"\x16\x03\x01"])
def test_a_web_port_answering_non_http_bytes_then_closing_is_malformed_reply_not_a_reset(reply):
    """httpx says "Server disconnected without sending a response" both when nothing came back and
    when bytes that are no HTTP head did: the bytes counted on the socket tell them apart."""
    record = Recorder()

    async def handler(reader, writer):
        await read_head(reader)
        writer.write(reply)
        await writer.drain()
        writer.close()

    error = failure(handler, record=record)
    assert error.code == http.MALFORMED_REPLY, error
    assert f"{len(reply)} bytes came back that are no HTTP reply" in str(error)
    assert ("<", reply) in record.entries  # the transcript shows what came back


def test_a_web_port_answering_with_an_ssh_banner_and_waiting_is_malformed_reply_not_a_timeout():
    async def handler(reader, writer):
        writer.write(b"SSH-2.0-OpenSSH_9.2p1\r\n")
        await writer.drain()
        await reader.read()

    assert failure(handler, timeout=0.5).code == http.MALFORMED_REPLY


def test_endless_header_block_is_malformed_reply():
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        while True:
            writer.write(b"X-Filler: " + b"f" * 1000 + b"\r\n")
            await writer.drain()

    assert failure(handler, timeout=10.0).code == http.MALFORMED_REPLY


def test_redirect_to_another_host_is_returned_not_followed():
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(response("302 Found", b"", b"Location: http://192.0.2.1/steal"))
        await writer.drain()

    async def go():
        async with raw_server(handler) as port:
            return await fetch(port)

    reply = run(go())
    assert reply.status == 302
    assert reply.header("location") == "http://192.0.2.1/steal"


def test_proxy_settings_from_the_environment_are_ignored(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{dead}")

    async def handler(reader, writer):
        await read_head(reader)
        writer.write(response("200 OK", b"direct"))
        await writer.drain()

    async def go():
        async with raw_server(handler) as port:
            return await fetch(port)

    assert run(go()).body == b"direct"


def test_client_keeps_one_connection_for_several_requests():
    connections = 0

    async def handler(reader, writer):
        nonlocal connections
        connections += 1
        while True:
            await read_head(reader)
            writer.write(response("200 OK", b"{}"))
            await writer.drain()

    async def go():
        async with (
            raw_server(handler) as port,
            HttpClient(f"http://127.0.0.1:{port}", auth=None, timeout=2, max_bytes=100, record=Recorder()) as client,
        ):
            return [(await client.get(p)).status for p in ("/a", "/b", "/c")]

    assert run(go()) == [200, 200, 200]
    assert connections == 1


def test_client_refuses_paths_that_would_leave_its_origin():
    async def go():
        async with HttpClient("http://127.0.0.1:1", auth=None, timeout=1, max_bytes=100, record=Recorder()) as client:
            with pytest.raises(ValueError):
                await client.get("//192.0.2.1/x")

    run(go())


# --- fetch_head: discovery's one-question probe ----------------------------------------------------


def head_of(handler: Handler, **kwargs) -> http.HttpReply | TransportError:
    async def go() -> http.HttpReply | TransportError:
        async with raw_server(handler) as port:
            try:
                return await http.fetch_head("127.0.0.1", port, "/", timeout=kwargs.get("timeout", 2.0),
                                             max_bytes=kwargs.get("max_bytes", 4096),
                                             record=kwargs.get("record", Recorder()))
            except TransportError as e:
                return e

    return run(go())  # type: ignore[return-value]


def test_fetch_head_returns_status_and_headers_and_records_the_exchange():
    seen: list[bytes] = []

    async def handler(reader, writer):
        seen.append(await read_head(reader))
        writer.write(response("401 Unauthorized", b"<html>" + b"x" * 100_000, b"WWW-Authenticate: " + CHALLENGE % 7,
                              b"Set-Cookie: a=1", b"Set-Cookie: b=2"))
        await writer.drain()

    record = Recorder()
    reply = head_of(handler, record=record)
    assert isinstance(reply, http.HttpReply)
    assert reply.status == 401 and reply.body == b""  # a 100 kB body past the cap is never read
    assert 'realm="antMiner Configuration"' in reply.header("WWW-Authenticate")
    assert reply.header("set-cookie") == "a=1, b=2"
    assert seen[0].startswith(b"GET / HTTP/1.1\r\n") and b"host: 127.0.0.1:" in seen[0].lower()
    assert [d for d, _ in record.entries] == [">", "<"] and record.entries[1][1].startswith(b"HTTP/1.1 401")


@pytest.mark.parametrize(("reply", "code"), [
    (b"\x00\xff\xfe garbage \x89\r\n\r\n", http.MALFORMED_REPLY),
    (b"", http.CONNECTION_RESET),
    (b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"f" * 8000 + b"\r\n\r\n", http.REPLY_TOO_LARGE),
])
def test_fetch_head_refuses_what_is_not_a_bounded_http_head(reply, code):
    async def handler(reader, writer):
        await read_head(reader)
        writer.write(reply)
        await writer.drain()

    result = head_of(handler)
    assert isinstance(result, TransportError) and result.code == code, result


def test_fetch_head_times_out_on_a_silent_server_and_is_unreachable_when_refused():
    async def silent(reader, writer):
        await reader.read()

    started = time.monotonic()
    result = head_of(silent, timeout=0.3)
    assert isinstance(result, TransportError) and result.code == http.TIMEOUT
    assert time.monotonic() - started < 2.0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransportError) as info:
        run(http.fetch_head("127.0.0.1", port, timeout=1.0, max_bytes=4096, record=Recorder()))
    assert info.value.code == http.UNREACHABLE


# --- fetch: one open GET with its body, on a connection of its own (ePIC's pages) -----------------


def fetched(handler: Handler, **kwargs) -> http.HttpReply | TransportError:
    async def go() -> http.HttpReply | TransportError:
        async with raw_server(handler) as port:
            try:
                return await http.fetch("127.0.0.1", port, "/summary", timeout=kwargs.get("timeout", 2.0),
                                        max_bytes=kwargs.get("max_bytes", 4096),
                                        record=kwargs.get("record", Recorder()))
            except TransportError as e:
                return e

    return run(go())  # type: ignore[return-value]


def answering(*parts: bytes, then_wait: bool = False) -> Handler:
    async def handler(reader, writer):
        await read_head(reader)
        for part in parts:
            writer.write(part)
            await writer.drain()
        if then_wait:
            await reader.read()

    return handler


@pytest.mark.parametrize("reply", [
    response("200 OK", b'{"Software": "PowerPlay-BMS v1.24.0"}'),
    b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
    b'5\r\n{"Sof\r\n20\r\ntware": "PowerPlay-BMS v1.24.0"}\r\n0\r\n\r\n',
    b'HTTP/1.0 200 OK\r\n\r\n{"Software": "PowerPlay-BMS v1.24.0"}',  # no length: the body ends with the connection
])
def test_fetch_returns_the_body_however_it_is_framed_and_records_it(reply):
    record = Recorder()
    result = fetched(answering(reply), record=record)
    assert isinstance(result, http.HttpReply), result
    assert result.status == 200 and result.body == b'{"Software": "PowerPlay-BMS v1.24.0"}'
    assert [d for d, _ in record.entries] == [">", "<", "<"] and record.entries[0][1] == b"GET /summary HTTP/1.1"
    assert record.entries[2][1] == result.body


@pytest.mark.parametrize(("handler", "code", "words"), [
    (answering(response("200 OK", b"x" * 5000)), http.REPLY_TOO_LARGE, "declared as 5000 bytes"),
    (answering(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", *[b"400\r\n" + b"y" * 1024 + b"\r\n"] * 6,
               then_wait=True), http.REPLY_TOO_LARGE, "body passed 4096 bytes"),
    (answering(response("200 OK", b"\x1f\x8b" + b"z" * 20, b"Content-Encoding: gzip")), http.MALFORMED_REPLY,
     "compressed body"),
    (answering(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"Model\":"), http.CONNECTION_RESET, "mid-body"),
    (answering(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"Model\":", then_wait=True), http.TIMEOUT,
     "no complete reply within"),
    (answering(b"SSH-2.0-dropbear_2020.81\r\n", then_wait=True), http.MALFORMED_REPLY, "not HTTP"),
    (answering(b"HTTP/1.1 200 OK\r\nX-Filler: " + b"f" * 70_000 + b"\r\n\r\n"), http.REPLY_TOO_LARGE, "head passed"),
])
def test_fetch_refuses_what_is_not_a_bounded_http_reply(handler, code, words):
    result = fetched(handler, timeout=0.5, max_bytes=4096 if "head passed" not in words else 1024 * 1024)
    assert isinstance(result, TransportError) and result.code == code and words in result.message, result

"""HTTP GET against a device's web UI, with every byte it sends bounded in size and time.

Transport knows bytes, not vendors: nothing here parses JSON or knows what a CGI means, and
nothing of ``attest`` is imported (failures carry the same code strings as
``attest.drivers.base`` so a driver converts them one to one).

Built on httpx with ``httpx.DigestAuth``, hardened where a hostile device could otherwise hurt us:

- every response body (including the 401 bodies httpx reads on its own during the digest
  exchange) passes through a counting stream that aborts past ``max_bytes``;
- compressed bodies are refused (we ask for ``identity``), so no decompression bomb can expand a
  capped body in memory;
- a deadline covers the whole exchange (connect, digest round trip, body), so a device dripping
  one byte a second cannot hold us past ``timeout``;
- redirects are never followed and proxies from the environment are never used: a client talks
  to exactly the origin it was given;
- a malformed digest challenge makes httpx raise plain ``ValueError``/``KeyError``; those become
  ``MALFORMED_REPLY`` instead of escaping as crashes;
- the transcript gets request lines and response heads and bodies (capped), never the
  ``Authorization`` header.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from types import TracebackType

import h11
import httpcore
import httpx

from attest.transport.errors import (
    AUTH_FAILED,
    CONNECTION_RESET,
    MALFORMED_REPLY,
    REPLY_TOO_LARGE,
    TIMEOUT,
    UNREACHABLE,
    Recorder,
    TransportError,
)
from attest.transport.tcp import open_until

#: How much of each response head and body goes into the transcript: enough to see what the
#: device said, without one reply using up the whole transcript.
RECORD_BODY_CAP = 4096
#: How much of a library error message (which may quote device bytes) we pass on.
_MESSAGE_CAP = 300



@dataclass(frozen=True)
class HttpReply:
    """A complete reply. ``headers`` has lower-case names; repeated headers are joined by ", "."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


class _BodyTooLarge(Exception):
    """Raised from inside httpx's body iteration; never escapes this module."""

    def __init__(self, size: int, declared: bool) -> None:
        super().__init__(size)
        self.size = size
        self.declared = declared


class _RefusedReply(Exception):
    """A reply we will not read (e.g. compressed against our request); never escapes this module."""


class _NotHttp(Exception):
    """The peer sent bytes that never formed an HTTP reply head; never escapes this module."""

    def __init__(self, count: int, detail: str) -> None:
        super().__init__(detail)
        self.count = count


class _CappedBody(httpx.AsyncByteStream):
    """Counts raw body bytes as they arrive and aborts past the cap; records a prefix on close."""

    def __init__(self, inner: httpx.AsyncByteStream, max_bytes: int, record: Recorder) -> None:
        self._inner = inner
        self._max_bytes = max_bytes
        self._record = record
        self._prefix = bytearray()
        self._seen = 0
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._seen += len(chunk)
            room = RECORD_BODY_CAP - len(self._prefix)
            if room > 0:
                self._prefix += chunk[:room]
            if self._seen > self._max_bytes:
                raise _BodyTooLarge(self._seen, declared=False)
            yield chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._prefix:
            note = b""
            if self._seen > len(self._prefix):
                note = b"\n[... %d more bytes not recorded]" % (self._seen - len(self._prefix))
            self._record("<", bytes(self._prefix) + note)
        await self._inner.aclose()


class _Received:
    """The bytes a device sent since the current request went out (the first RECORD_BODY_CAP of
    them). When no HTTP head came of them, they say whether the peer closed having sent nothing
    (CONNECTION_RESET) or sent something that is not HTTP (MALFORMED_REPLY): httpx words both the
    same way ("Server disconnected without sending a response")."""

    def __init__(self) -> None:
        self.count = 0
        self.prefix = bytearray()

    def restart(self) -> None:
        self.count = 0
        self.prefix.clear()

    def add(self, data: bytes) -> None:
        self.count += len(data)
        room = RECORD_BODY_CAP - len(self.prefix)
        if room > 0:
            self.prefix += data[:room]


class _CountingStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, received: _Received) -> None:
        self._inner = inner
        self._received = received

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await self._inner.read(max_bytes, timeout)
        self._received.add(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _CountingStream(await self._inner.start_tls(ssl_context, server_hostname, timeout), self._received)

    def get_extra_info(self, info: str) -> object:
        return self._inner.get_extra_info(info)


class _CountingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own asyncio backend, with every byte read counted into ``received``."""

    def __init__(self, received: _Received) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._received = received

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: object = None) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)  # type: ignore[arg-type]
        return _CountingStream(stream, self._received)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: object = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not device endpoints")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _count_received(transport: httpx.AsyncHTTPTransport, ssl_context: ssl.SSLContext | None,
                    received: _Received) -> None:
    """Give ``transport`` a connection pool whose sockets count what they read. httpx takes no
    network backend of its own, so its pool (the ``_pool`` it builds from the same settings) is
    replaced; tests pin the CONNECTION_RESET / MALFORMED_REPLY split this serves."""
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context, max_connections=1, max_keepalive_connections=1,
        network_backend=_CountingBackend(received))


class _GuardedTransport(httpx.AsyncBaseTransport):
    """Wraps httpx's transport so every request and every response, even ones httpx handles
    internally during the digest exchange, is recorded and capped."""

    def __init__(self, inner: httpx.AsyncBaseTransport, max_bytes: int, record: Recorder,
                 received: _Received | None = None) -> None:
        self._inner = inner
        self._max_bytes = max_bytes
        self._record = record
        self.received = received or _Received()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        line = b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)
        if "authorization" in request.headers:
            line += b"  [credentials sent, not recorded]"
        self._record(">", line)
        self.received.restart()
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.RemoteProtocolError as exc:
            if self.received.count:  # what came back instead of an HTTP head: the transcript shows it
                self._record("<", bytes(self.received.prefix))
                raise _NotHttp(self.received.count, str(exc)) from exc
            raise
        reason = response.extensions.get("reason_phrase", b"")
        head = b"HTTP/1.1 %d %s" % (response.status_code, bytes(reason))
        for name, value in response.headers.raw:
            head += b"\r\n" + name + b": " + value
        if len(head) > RECORD_BODY_CAP:
            head = head[:RECORD_BODY_CAP] + b"\n[... %d more header bytes]" % (len(head) - RECORD_BODY_CAP)
        self._record("<", head)
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        declared = response.headers.get("content-length", "")
        try:
            if encoding not in ("", "identity"):
                raise _RefusedReply(f"compressed body ({encoding[:40]}) though identity was asked")
            if declared.isascii() and declared.isdigit() and int(declared) > self._max_bytes:
                raise _BodyTooLarge(int(declared), declared=True)
        except BaseException:
            await response.aclose()
            raise
        if not isinstance(response.stream, httpx.AsyncByteStream):  # pragma: no cover
            raise TypeError("httpx returned a synchronous stream to an async transport")
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_CappedBody(response.stream, self._max_bytes, self._record),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class _GuardedDigestAuth(httpx.DigestAuth):
    """httpx's digest auth, but a malformed challenge from the device is a protocol error.

    httpx parses the device's ``WWW-Authenticate`` header with ``split("=")`` and dict lookups, so
    a hostile challenge raises ValueError, KeyError or NotImplementedError (``qop="auth-int"``).
    """

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        try:
            yield from super().auth_flow(request)
        except (ValueError, KeyError, NotImplementedError, UnicodeError) as exc:
            raise _RefusedReply(f"unusable digest challenge: {exc!r}"[:_MESSAGE_CAP]) from exc


def _truncate(text: str) -> str:
    return text if len(text) <= _MESSAGE_CAP else text[:_MESSAGE_CAP] + "..."


def _classify(exc: httpx.HTTPError, what: str) -> TransportError:
    """Map an httpx failure to one of our codes; the message names the request, not the library."""
    detail = _truncate(str(exc) or type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        return TransportError(TIMEOUT, f"{what}: timed out ({detail})")
    if isinstance(exc, httpx.ConnectError):
        return TransportError(UNREACHABLE, f"{what}: cannot connect ({detail})")
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return TransportError(CONNECTION_RESET, f"{what}: connection reset ({detail})")
    if isinstance(exc, httpx.RemoteProtocolError):
        # h11 reports a peer that closed early in these words; anything else is bytes that are
        # not HTTP. Tests pin both cases so a library change that rewords them is caught.
        lowered = detail.lower()
        if "disconnected" in lowered or "closed connection" in lowered or "unexpectedly closed" in lowered:
            return TransportError(CONNECTION_RESET, f"{what}: peer closed mid-reply ({detail})")
        return TransportError(MALFORMED_REPLY, f"{what}: not HTTP ({detail})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return TransportError(UNREACHABLE, f"{what}: unusable address ({detail})")
    return TransportError(MALFORMED_REPLY, f"{what}: protocol error ({detail})")


class HttpClient:
    """Requests to one origin (``http://host:port``) with one set of credentials, on one
    keep-alive connection, so the digest challenge is answered once, not once per page.

    Use as ``async with HttpClient(...) as client: reply = await client.get("/path")``.
    """

    def __init__(
        self,
        origin: str,
        *,
        auth: tuple[str, str] | None,
        timeout: float,
        max_bytes: int,
        record: Recorder,
    ) -> None:
        url = httpx.URL(origin)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"not an http(s) origin: {origin!r}")
        self._origin = url.copy_with(path="/", query=None, fragment=None)
        self._timeout = timeout
        self._max_bytes = max_bytes
        # Certificate checks only mean something over TLS. For plain http, httpx still builds an
        # SSL context per transport (0.6 ms, even with verify=False); one shared, never-used
        # context avoids that per device in a 1,000-rig verify.
        tls = ssl.create_default_context() if url.scheme == "https" else _unused_tls_context()
        inner = httpx.AsyncHTTPTransport(
            verify=tls,
            trust_env=False,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self._received = _Received()
        self._record = record
        _count_received(inner, tls, self._received)
        self._client = httpx.AsyncClient(
            transport=_GuardedTransport(inner, max_bytes, record, self._received),
            auth=_GuardedDigestAuth(*auth) if auth is not None else None,
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"Accept-Encoding": "identity", "User-Agent": "rig-attest"},
        )

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(self, path: str, *, headers: dict[str, str] | None = None) -> HttpReply:
        """GET ``path`` (with its query) on this client's origin; the whole exchange, digest round
        trip included, must finish within ``timeout``. Raises TransportError."""
        return await self._request("GET", path, None, headers)

    async def post(self, path: str, body: bytes, *, headers: dict[str, str] | None = None,
                   secret: bool = False) -> HttpReply:
        """POST ``body`` to ``path``. The transcript never holds a request body (``secret``
        says why it matters here: a password, e.g. VNish's unlock)."""
        del secret  # bodies are never recorded; the keyword documents the caller's intent
        return await self._request("POST", path, body, headers)

    async def _request(self, method: str, path: str, body: bytes | None,
                       headers: dict[str, str] | None) -> HttpReply:
        if not path.startswith("/") or path.startswith("//"):
            raise ValueError(f"path must be absolute on this origin: {path!r}")
        url = self._origin.copy_with(raw_path=path.encode("ascii"))
        what = f"{method} {path}"
        try:
            async with asyncio.timeout(self._timeout):
                async with self._client.stream(method, url, content=body, headers=headers) as response:
                    body = bytearray()
                    async for chunk in response.aiter_raw():
                        body += chunk
                    return HttpReply(response.status_code, dict(response.headers), bytes(body))
        except TimeoutError:
            got = self._received
            if got.count and not bytes(got.prefix).startswith(b"HTTP/"):  # e.g. an SSH banner on the web port
                self._record("<", bytes(got.prefix))
                raise TransportError(MALFORMED_REPLY, f"{what}: not HTTP: {got.count} bytes came back that are no "
                                     "HTTP reply (the transcript shows them)") from None
            raise TransportError(TIMEOUT, f"{what}: no complete reply within {self._timeout:g} s") from None
        except _BodyTooLarge as exc:
            if exc.declared:
                why = f"body declared as {exc.size} bytes"
            else:
                why = f"body passed {exc.size} bytes and was cut off"
            raise TransportError(REPLY_TOO_LARGE, f"{what}: {why}; the cap is {self._max_bytes}") from None
        except _RefusedReply as exc:
            raise TransportError(MALFORMED_REPLY, f"{what}: {exc}") from None
        except _NotHttp as exc:
            raise TransportError(MALFORMED_REPLY, f"{what}: not HTTP: {exc.count} bytes came back that are no "
                                 "HTTP reply (the transcript shows them)") from None
        except httpx.HTTPError as exc:
            raise _classify(exc, what) from None


@functools.cache
def _unused_tls_context() -> ssl.SSLContext:
    """One SSL context for every plain-http client: httpx wants one, plain http never uses it."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


#: The part of a reply ``fetch_head`` reads: the status line and headers, never the body.
HEAD_READ_CHUNK = 4096
#: A reply head larger than this is no head (``fetch`` caps the body with its own ``max_bytes``).
MAX_HEAD_BYTES = 64 * 1024


async def fetch_head(
    host: str,
    port: int,
    path: str = "/",
    *,
    timeout: float,
    max_bytes: int,
    record: Recorder,
) -> HttpReply:
    """The status and headers of one unauthenticated ``GET path`` over plain HTTP; no body.

    For discovery, which asks every address of a range one question (is this an Antminer's
    digest challenge?). An httpx client per address costs about 2.5 ms of CPU, most of a
    1,000-host scan's work; this is one socket and h11 (the parser httpx itself uses), a tenth of
    that, with the same guards: ``timeout`` covers connect and head, ``max_bytes`` bounds the
    head, and every failure is a TransportError with the codes of :func:`get`. The connection is
    dropped once the head is in (``HttpReply.body`` is always empty).
    """
    return await _fetch(host, port, path, timeout=timeout, max_bytes=max_bytes, record=record, body=False)


async def fetch(
    host: str,
    port: int,
    path: str,
    *,
    timeout: float,
    max_bytes: int,
    record: Recorder,
) -> HttpReply:
    """One unauthenticated plain-HTTP ``GET path``, body included, on a connection of its own.

    For an open JSON API read page by page (ePIC's on 4028), where an httpx client's setup would
    be most of the work: one socket and h11, with :class:`HttpClient`'s guards. ``timeout`` covers
    connect, head and body; the head is bounded by MAX_HEAD_BYTES and the body by ``max_bytes``
    (a declared length past it is refused before reading, a counted one as it arrives); a
    compressed body is refused; the transcript gets the request line, the head and the body's first
    RECORD_BODY_CAP bytes. Every failure is a TransportError with the codes of :func:`get`.
    """
    return await _fetch(host, port, path, timeout=timeout, max_bytes=max_bytes, record=record, body=True)


async def _fetch(host: str, port: int, path: str, *, timeout: float, max_bytes: int, record: Recorder,
                 body: bool) -> HttpReply:
    authority = f"[{host}]" if ":" in host else host
    if port != 80:
        authority += f":{port}"
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError(f"path must be absolute: {path!r}")
    what = f"GET {path}"
    head_cap = min(max_bytes, MAX_HEAD_BYTES) if body else max_bytes
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=head_cap)
    request = conn.send(h11.Request(method="GET", target=path, headers=[
        ("Host", authority), ("User-Agent", "rig-attest"), ("Accept-Encoding", "identity"),
        ("Connection", "close"),
    ]))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    reader, writer = await open_until(host, port, deadline, timeout, f"{what}: ")
    received = 0
    first = bytearray()  # the reply's first bytes, to tell a peer that speaks no HTTP from a slow one
    ended = False  # the peer closed its side
    head: HttpReply | None = None  # once the head is in (``body`` only)
    content = bytearray()
    try:
        record(">", b"GET %s HTTP/1.1" % path.encode("ascii"))
        async with asyncio.timeout_at(deadline):
            writer.write(request or b"")
            await writer.drain()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    chunk = await reader.read(HEAD_READ_CHUNK if head is None else _BODY_READ_CHUNK)
                    received += len(chunk)
                    ended = not chunk
                    first += chunk[:max(0, 512 - len(first))]
                    if head is None and received > head_cap:
                        raise TransportError(REPLY_TOO_LARGE, f"{what}: head passed {head_cap} bytes")
                    conn.receive_data(chunk)
                elif isinstance(event, h11.Response):
                    head = _head_reply(event, record)
                    if not body:
                        return head
                    _refuse_unreadable(head, what, max_bytes)
                elif isinstance(event, h11.Data):
                    content += event.data
                    if len(content) > max_bytes:
                        raise TransportError(REPLY_TOO_LARGE, f"{what}: body passed {max_bytes} bytes and was "
                                             f"cut off; the cap is {max_bytes}")
                elif isinstance(event, h11.EndOfMessage) and head is not None:
                    _record_body(record, content)
                    return HttpReply(head.status, head.headers, bytes(content))
                elif isinstance(event, h11.ConnectionClosed):
                    if head is not None:
                        raise TransportError(CONNECTION_RESET, f"{what}: peer closed mid-body "
                                             f"({len(content)} bytes in)")
                    raise TransportError(CONNECTION_RESET, f"{what}: peer closed without answering")
                # h11.InformationalResponse (1xx): the real answer follows
    except TimeoutError:
        if head is None and first and not bytes(first).startswith(b"HTTP/"):  # e.g. an SSH banner, then waiting
            record("<", bytes(first))
            raise TransportError(MALFORMED_REPLY, f"{what}: not HTTP: {received} bytes came back that are no HTTP "
                                 "reply (the transcript shows them)") from None
        part = "reply" if body else "reply head"
        raise TransportError(TIMEOUT, f"{what}: no complete {part} within {timeout:g} s") from None
    except h11.RemoteProtocolError as exc:
        if received == 0:
            raise TransportError(CONNECTION_RESET, f"{what}: peer closed without answering") from None
        if ended and head is not None:
            raise TransportError(CONNECTION_RESET, f"{what}: peer closed mid-body ({len(content)} bytes in)") from None
        raise TransportError(MALFORMED_REPLY, f"{what}: not HTTP ({_truncate(str(exc))})") from None
    except OSError as exc:
        raise TransportError(CONNECTION_RESET, f"{what}: connection lost ({exc.strerror or exc})") from None
    finally:
        writer.transport.abort()  # a body not wanted, or the exchange over: nothing more to read


_BODY_READ_CHUNK = 64 * 1024


def _refuse_unreadable(reply: HttpReply, what: str, max_bytes: int) -> None:
    encoding = reply.header("content-encoding").strip().lower()
    if encoding not in ("", "identity"):
        raise TransportError(MALFORMED_REPLY, f"{what}: compressed body ({encoding[:40]}) though identity was asked")
    declared = reply.header("content-length")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise TransportError(REPLY_TOO_LARGE, f"{what}: body declared as {int(declared)} bytes; the cap is {max_bytes}")


def _record_body(record: Recorder, content: bytearray) -> None:
    if content:
        note = b""
        if len(content) > RECORD_BODY_CAP:
            note = b"\n[... %d more bytes not recorded]" % (len(content) - RECORD_BODY_CAP)
        record("<", bytes(content[:RECORD_BODY_CAP]) + note)


def _head_reply(event: h11.Response, record: Recorder) -> HttpReply:
    head = b"HTTP/%s %d %s" % (event.http_version, event.status_code, event.reason)
    headers: dict[str, str] = {}
    for name, value in event.headers:
        head += b"\r\n" + name + b": " + value
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    record("<", head[:RECORD_BODY_CAP])
    return HttpReply(event.status_code, headers)


async def get(
    url: str,
    *,
    auth: tuple[str, str] | None,
    timeout: float,
    max_bytes: int,
    record: Callable[[str, bytes], None],
) -> HttpReply:
    """One capped GET on a fresh connection (discovery probes); see HttpClient for several."""
    parsed = httpx.URL(url)
    path = parsed.raw_path.decode("ascii")
    origin = str(parsed.copy_with(path="/", query=None, fragment=None))
    async with HttpClient(origin, auth=auth, timeout=timeout, max_bytes=max_bytes, record=record) as client:
        return await client.get(path)


__all__ = [
    "AUTH_FAILED",
    "CONNECTION_RESET",
    "MALFORMED_REPLY",
    "REPLY_TOO_LARGE",
    "TIMEOUT",
    "UNREACHABLE",
    "HttpClient",
    "HttpReply",
    "Recorder",
    "TransportError",
    "fetch",
    "fetch_head",
    "get",
]

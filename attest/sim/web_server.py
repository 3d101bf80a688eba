"""A simulated rig's Antminer web UI: lighttpd's digest-protected CGIs, as real firmware serves them.

Unmodified clients (pyasic, curl, a browser) must take it for an Antminer, so the details that
clients key on are the real ones: the digest realm ``antMiner Configuration`` on every 401 (how
pyasic recognises the family), ``qop="auth"`` with MD5, the CGI JSON field names of
docs/protocols.md, and an HTML (never JSON) 404 body, because pyasic asks for
``/kaonsu/v1/brief`` and takes any JSON answer there for a Marathon-firmware miner.

One asyncio server per rig, one task per connection, no threads and no per-rig background work,
so a thousand rigs cost a thousand listening sockets and nothing while idle. Nonces are stateless
(a timestamp and salt MACed with a per-server key from ``secrets``), so memory does not grow
with the number of challenges handed out.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import http
import json
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import h11

from attest.sim.rig import GARBAGE, SLOW, SLOW_DELAY_SECONDS, UNRESPONSIVE, Rig

REALM = "antMiner Configuration"
#: Request line plus headers; real lighttpd refuses far smaller heads than a client ever sends.
MAX_REQUEST_HEAD_BYTES = 8 * 1024
#: The CGIs we serve take no body; anything larger is refused with 413.
MAX_REQUEST_BODY_BYTES = 16 * 1024
#: A keep-alive connection (or a request head) idle this long is closed.
IDLE_TIMEOUT_SECONDS = 30.0
#: An ``unresponsive`` rig holds a silent connection this long at most, then drops it.
UNRESPONSIVE_HOLD_SECONDS = 600.0
#: More simultaneous connections than a real control board would take are dropped at once.
MAX_CONNECTIONS_PER_RIG = 32
#: How long a nonce stays valid; older ones get 401 with ``stale=true``.
NONCE_LIFETIME_SECONDS = 600
#: What a ``garbage`` rig sends instead of HTTP: binary junk, but with a blank line so a client
#: sees a complete (and invalid) head rather than a connection cut short.
GARBAGE_BYTES = b"\x00\x1b[?\xff\xfe\x89PNG\r\nSTATUS=E,Code=\x9c\xc3\x28\r\n\r\n"

_READ_CHUNK = 2048
_STAMP_HEX = 12
_SALT_HEX = 16
_MAC_HEX = 32
_NC = re.compile(rb"[0-9a-fA-F]{8}")
_HEX = re.compile(rb"[0-9a-f]+")
# One auth-param of RFC 7616: token "=" ( token / quoted-string ), then a comma or the end.
_AUTH_PARAM = re.compile(rb"""\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|\Z)""")
_QUOTED_PAIR = re.compile(rb"\\(.)")

_HTML = b"text/html"
#: A byte a request line may start with (a method is an RFC 9110 token).
_TOKEN_BYTE = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]")
_BAD_REQUEST_AT_ONCE = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_JSON = b"application/json"


@dataclass
class HttpReply:
    status: int
    content_type: bytes
    body: bytes
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


def _html_status_page(status: int) -> bytes:
    """lighttpd's plain error page; deliberately not JSON (see the module docstring)."""
    text = f"{status} - {http.HTTPStatus(status).phrase}"
    return (
        f'<?xml version="1.0" encoding="iso-8859-1"?>\n<!DOCTYPE html>\n<html><head>'
        f"<title>{text}</title></head><body><h1>{text}</h1></body></html>\n"
    ).encode("ascii")


#: A whole web UI in one function: the request (its head) and its body in, the reply out.
Responder = Callable[[h11.Request, bytes], HttpReply]


def status_reply(status: int, *headers: tuple[bytes, bytes]) -> HttpReply:
    return _status_reply(status, *headers)


def json_reply(document: Any, status: int = 200) -> HttpReply:
    return HttpReply(status, _JSON, json.dumps(document).encode("utf-8"))


def html_reply(body: bytes, status: int = 200) -> HttpReply:
    return HttpReply(status, _HTML, body)


def _status_reply(status: int, *headers: tuple[bytes, bytes]) -> HttpReply:
    return HttpReply(status, _HTML, _html_status_page(status), list(headers))


def _body_too_large() -> HttpReply:
    """413, then close: the unread rest of the body makes the connection unusable."""
    return _status_reply(413, (b"Connection", b"close"))


# --- what the CGIs say (pure functions of the rig, so tests can compare against them) -----------


def system_info(rig: Rig) -> dict[str, Any]:
    """``/cgi-bin/get_system_info.cgi`` as S19/S21 firmware writes it."""
    return {
        "minertype": rig.model,
        "nettype": "DHCP",
        "netdevice": "eth0",
        "macaddr": rig.mac,
        "hostname": rig.hostname,
        "ipaddress": rig.host,
        "netmask": "255.255.255.0",
        "gateway": "",
        "dnsservers": "",
        "system_mode": "GNU/Linux",
        "system_kernel_version": "Linux 4.9.113 #1 SMP PREEMPT",
        "system_filesystem_version": rig.firmware_build,
        "firmware_type": "Release",
        "serinum": rig.serial,
    }


def _status_block(msg: str) -> dict[str, Any]:
    return {"STATUS": "S", "when": int(time.time()), "Msg": msg, "api_version": "1.0.0"}


def _info_block(rig: Rig) -> dict[str, Any]:
    return {"miner_version": rig.firmware_version, "CompileTime": rig.firmware_build, "type": rig.model}


def _rate_per_chip_ghs(model: str) -> float:
    """Nominal hashrate so the numbers look like the model's; nothing reads them for trust."""
    return 617.3 if "S21" in model else 321.6


def stats(rig: Rig, elapsed: int) -> dict[str, Any]:
    """``/cgi-bin/stats.cgi``: the per-chain block is where hashboard serials and chip counts live,
    and pyasic also reads ``rate_real``, ``temp_pcb`` and ``temp_chip`` from it."""
    per_chip = _rate_per_chip_ghs(rig.model)
    chains = []
    asleep = set(rig.extras.get("sleeping_slots", ()))
    for board in rig.hashboards:
        # A sleeping board is still listed, with its EEPROM serial and no chips answering.
        chips = 0 if board.slot in asleep else board.chips
        ideal = round(chips * per_chip, 2)
        chains.append(
            {
                "index": board.slot,
                "freq_avg": 490,
                "rate_ideal": ideal,
                "rate_real": round(ideal * 0.998, 2),
                "asic_num": chips,
                "asic": " ".join("o" * min(8, chips - i) for i in range(0, chips, 8)),
                "temp_pic": [52, 52, 67, 67],
                "temp_pcb": [50, 51, 65, 66],
                "temp_chip": [60, 61, 75, 76],
                "hw": 0,
                "eeprom_loaded": True,
                "sn": board.serial,
                "hwp": 0.0,
            }
        )
    total_ideal = round(sum(c["rate_ideal"] for c in chains), 2)
    total_real = round(sum(c["rate_real"] for c in chains), 2)
    return {
        "STATUS": _status_block("stats"),
        "INFO": _info_block(rig),
        "STATS": [
            {
                "elapsed": elapsed,
                "rate_5s": total_real,
                "rate_30m": total_real,
                "rate_avg": total_real,
                "rate_ideal": total_ideal,
                "rate_unit": "GH/s",
                "chain_num": len(chains),
                "fan_num": 4,
                "fan": [5880, 5910, 5880, 5940],
                "hwp_total": 0.0,
                "miner-mode": 0,
                "freq-level": 100,
                "chain": chains,
            }
        ],
    }


def pools(rig: Rig) -> dict[str, Any]:
    """``/cgi-bin/pools.cgi``."""
    entries = []
    for index, pool in enumerate(rig.pools):
        entries.append(
            {
                "index": index,
                "url": pool.url,
                "user": pool.user,
                "status": "Alive",
                "priority": index,
                "getworks": 0,
                "accepted": 0,
                "rejected": 0,
                "discarded": 0,
                "stale": 0,
                "diff": "0",
                "diff1": 0,
                "diffa": 0,
                "diffr": 0,
                "diffs": 0,
                "lsdiff": 0,
                "lstime": "0:00:00",
            }
        )
    return {"STATUS": _status_block("pools"), "INFO": _info_block(rig), "POOLS": entries}


_INDEX_PAGE = (
    b'<!DOCTYPE html>\n<html><head><title>Antminer</title></head><body><div id="app">Antminer</div></body></html>\n'
)


# --- digest authentication (RFC 7616, MD5, qop=auth) -------------------------------------------


def parse_digest_credentials(value: bytes) -> dict[str, bytes] | None:
    """The auth-params of an ``Authorization: Digest ...`` header, or None if it is not one.

    Duplicate parameters are refused: two ``response=`` values must not let a client pick.
    """
    scheme, _, rest = value.strip().partition(b" ")
    if scheme.lower() != b"digest":
        return None
    params: dict[str, bytes] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        match = _AUTH_PARAM.match(rest, pos)
        if match is None or match.end() == pos:
            return None
        name = match.group(1).decode("ascii").lower()
        quoted = match.group(2)
        raw = _QUOTED_PAIR.sub(rb"\1", quoted) if quoted is not None else match.group(3)
        if name in params:
            return None
        params[name] = raw
        pos = match.end()
    return params


def _md5_hex(data: bytes) -> bytes:
    return hashlib.md5(data, usedforsecurity=False).hexdigest().encode("ascii")


class DigestGate:
    """Issues challenges and checks answers for one rig's web UI."""

    OK = "ok"
    DENIED = "denied"
    STALE = "stale"  # right password, expired nonce: the client should retry with the new one

    def __init__(self, rig: Rig) -> None:
        self._rig = rig
        self._key = secrets.token_bytes(32)

    def new_nonce(self) -> bytes:
        stamp = f"{int(time.monotonic()):0{_STAMP_HEX}x}".encode("ascii")
        salt = secrets.token_hex(_SALT_HEX // 2).encode("ascii")
        return stamp + salt + self._mac(stamp + salt)

    def _mac(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()[:_MAC_HEX].encode("ascii")

    def _nonce_is_fresh(self, nonce: bytes) -> bool | None:
        """True if ours and fresh, False if ours but expired, None if not ours at all."""
        if len(nonce) != _STAMP_HEX + _SALT_HEX + _MAC_HEX or not _HEX.fullmatch(nonce):
            return None
        body, mac = nonce[:-_MAC_HEX], nonce[-_MAC_HEX:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        age = int(time.monotonic()) - int(body[:_STAMP_HEX], 16)
        return 0 <= age <= NONCE_LIFETIME_SECONDS

    def challenge(self, *, stale: bool = False) -> bytes:
        header = b'Digest realm="%s", charset="UTF-8", algorithm=MD5, nonce="%s", qop="auth"' % (
            REALM.encode("ascii"),
            self.new_nonce(),
        )
        return header + (b", stale=true" if stale else b"")

    def check(self, method: bytes, target: bytes, authorization: bytes | None) -> str:
        if authorization is None:
            return self.DENIED
        params = parse_digest_credentials(authorization)
        if params is None:
            return self.DENIED
        needed = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
        if any(name not in params for name in needed):
            return self.DENIED
        username = self._rig.username.encode("utf-8")
        if (
            params["username"] != username
            or params["realm"] != REALM.encode("ascii")
            or params.get("algorithm", b"MD5").upper() != b"MD5"
            or params["qop"] != b"auth"
            or params["uri"] != target  # RFC 7616 3.4.6: the digest covers this very request
            or not _NC.fullmatch(params["nc"])
            or not params["cnonce"]
        ):
            return self.DENIED
        fresh = self._nonce_is_fresh(params["nonce"])
        if fresh is None:
            return self.DENIED
        ha1 = _md5_hex(b"%s:%s:%s" % (username, params["realm"], self._rig.password.encode("utf-8")))
        ha2 = _md5_hex(b"%s:%s" % (method, params["uri"]))
        expected = _md5_hex(b":".join((ha1, params["nonce"], params["nc"], params["cnonce"], b"auth", ha2)))
        if not hmac.compare_digest(expected, params["response"].lower()):
            return self.DENIED
        return self.OK if fresh else self.STALE


# --- the HTTP server ---------------------------------------------------------------------------


class _WebUi:
    """One rig's web server: routing, auth and the behaviours of attest.sim.rig."""

    def __init__(self, rig: Rig, responder: Responder | None = None, *, refuse_non_http: bool = False) -> None:
        self.rig = rig
        #: Another firmware's web UI on the same HTTP machinery (attest.sim.vnish).
        self.responder = responder
        #: Answer 400 at once to a first byte no request line starts with (a cgminer client's
        #: ``{"command":...}``), as servers with an incremental parser do, instead of waiting for
        #: a line end that never comes (ePIC's API on 4028, attest.sim.epic).
        self.refuse_non_http = refuse_non_http
        self.gate = DigestGate(rig)
        self.started = time.monotonic()
        self.live: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    def abort_connections(self) -> None:
        """Drop every open connection; each handler then sees end-of-file and returns."""
        for writer in self.live.values():
            writer.transport.abort()

    async def wait_connections(self) -> None:
        if self.live:
            await asyncio.wait(list(self.live))

    async def serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self.live) >= MAX_CONNECTIONS_PER_RIG:
            writer.close()
            return
        self.live[task] = writer
        try:
            behaviour = self.rig.behaviour
            if behaviour == UNRESPONSIVE:
                await self._swallow(reader)
            elif behaviour == GARBAGE:
                await self._answer_garbage(reader, writer)
            else:
                await self._serve_http(reader, writer)
        except (ConnectionError, TimeoutError):
            pass  # the client went away or idled out; nothing to answer
        finally:
            del self.live[task]
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @staticmethod
    async def _swallow(reader: asyncio.StreamReader) -> None:
        """Read and drop whatever comes, so the client's write never blocks: its read must time out."""
        async with asyncio.timeout(UNRESPONSIVE_HOLD_SECONDS):
            while await reader.read(65536):
                pass

    @staticmethod
    async def _answer_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Wait for the request head first, so the client reads junk rather than a reset."""
        head = bytearray()
        async with asyncio.timeout(IDLE_TIMEOUT_SECONDS):
            while b"\r\n\r\n" not in head and len(head) < MAX_REQUEST_HEAD_BYTES:
                chunk = await reader.read(4096)
                if not chunk:
                    return
                head += chunk
        writer.write(GARBAGE_BYTES)
        await writer.drain()

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)
        if self.refuse_non_http:
            async with asyncio.timeout(IDLE_TIMEOUT_SECONDS):
                first = await reader.read(_READ_CHUNK)
            if not first:
                return
            if not _TOKEN_BYTE.match(first):
                writer.write(_BAD_REQUEST_AT_ONCE)
                await writer.drain()
                return
            conn.receive_data(first)
        while True:
            try:
                event = await self._next_event(conn, reader)
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed, or nothing more to serve on this connection
                body = await self._read_body(conn, reader)
            except h11.RemoteProtocolError as exc:
                await self._send_error(conn, writer, exc.error_status_hint)
                return
            if body is None:
                reply = _body_too_large()
            elif self.responder is not None:
                reply = self.responder(event, body)
            else:
                reply = self._respond(event)
            if self.rig.behaviour == SLOW:
                await asyncio.sleep(SLOW_DELAY_SECONDS)
            await self._send(conn, writer, reply, head_only=event.method == b"HEAD")
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    @staticmethod
    async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader) -> Any:
        """h11 enforces its head cap only on an *incomplete* head, so a whole oversized head
        arriving in one read would pass; feeding it in small reads makes the cap hold."""
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            async with asyncio.timeout(IDLE_TIMEOUT_SECONDS):
                data = await reader.read(_READ_CHUNK)
            conn.receive_data(data)

    async def _read_body(self, conn: h11.Connection, reader: asyncio.StreamReader) -> bytes | None:
        """Read the request body to its end (keep-alive needs that); None past the cap."""
        body = bytearray()
        while True:
            event = await self._next_event(conn, reader)
            if isinstance(event, h11.EndOfMessage):
                return bytes(body)
            if isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_REQUEST_BODY_BYTES:
                    return None
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionResetError("client closed mid-request")

    def _respond(self, request: h11.Request) -> HttpReply:
        """lighttpd checks auth before anything else, so even unknown paths answer 401 first."""
        answers = [value for name, value in request.headers if name == b"authorization"]
        # Two Authorization headers are ambiguous (which one did a proxy check?): refuse both.
        authorization = answers[0] if len(answers) == 1 else None
        verdict = self.gate.check(request.method, request.target, authorization)
        if verdict != DigestGate.OK:
            challenge = self.gate.challenge(stale=verdict == DigestGate.STALE)
            return _status_reply(401, (b"WWW-Authenticate", challenge))
        if request.method not in (b"GET", b"HEAD"):
            return _status_reply(405, (b"Allow", b"GET, HEAD"))
        path = request.target.split(b"?", 1)[0]
        if path == b"/cgi-bin/get_system_info.cgi":
            return self._json(system_info(self.rig))
        if path == b"/cgi-bin/stats.cgi":
            return self._json(stats(self.rig, int(time.monotonic() - self.started)))
        if path == b"/cgi-bin/pools.cgi":
            return self._json(pools(self.rig))
        if path in (b"/", b"/index.html"):
            return HttpReply(200, _HTML, _INDEX_PAGE)
        return _status_reply(404)

    @staticmethod
    def _json(document: dict[str, Any]) -> HttpReply:
        return HttpReply(200, _JSON, json.dumps(document).encode("utf-8"))

    @staticmethod
    async def _send(conn: h11.Connection, writer: asyncio.StreamWriter, reply: HttpReply, *, head_only: bool) -> None:
        headers = [
            (b"Content-Type", reply.content_type),
            (b"Content-Length", str(len(reply.body)).encode("ascii")),
            *reply.headers,
        ]
        reason = http.HTTPStatus(reply.status).phrase.encode("ascii")
        data = conn.send(h11.Response(status_code=reply.status, headers=headers, reason=reason))
        if reply.body and not head_only:
            data += conn.send(h11.Data(data=reply.body))
        data += conn.send(h11.EndOfMessage())
        writer.write(data)
        await writer.drain()

    async def _send_error(self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int) -> None:
        """Answer a request h11 could not parse, when the state machine still allows an answer."""
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        with contextlib.suppress(h11.LocalProtocolError):
            await self._send(conn, writer, _status_reply(status, (b"Connection", b"close")), head_only=False)


class WebServer(asyncio.AbstractServer):
    """asyncio's Server, but ``close()`` also drops open connections and ``wait_closed()`` waits
    for their handlers. Python 3.11's Server leaves them running (an ``unresponsive`` rig's
    connection would never end), and from 3.12 ``wait_closed()`` waits for them forever."""

    def __init__(self, server: asyncio.Server, ui: _WebUi) -> None:
        self._server = server
        self._ui = ui

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._server.sockets)

    def close(self) -> None:
        self._server.close()
        self._ui.abort_connections()

    async def wait_closed(self) -> None:
        await self._server.wait_closed()
        await self._ui.wait_connections()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._server.get_loop()

    def is_serving(self) -> bool:
        return self._server.is_serving()

    async def start_serving(self) -> None:
        await self._server.start_serving()

    async def serve_forever(self) -> None:
        await self._server.serve_forever()


async def start_web_server(rig: Rig, host: str, port: int) -> asyncio.AbstractServer:
    """Listen on ``host:port`` (port 0 picks a free one) as ``rig``'s Antminer web UI.

    Only Antminer rigs with the web UI enabled have one; starting it for anything else is a bug
    in the caller, so it raises ValueError rather than serving a UI the rig does not have.
    """
    if rig.family not in ("antminer", "vnish"):
        raise ValueError(f"{rig.name} is a {rig.family} rig; only Antminers (stock or VNish) serve this web UI")
    if not rig.web_enabled:
        raise ValueError(f"{rig.name} has its web UI disabled")
    responder = None
    if rig.family == "vnish":
        from attest.sim.vnish import vnish_responder  # the fork's REST API, its own module

        responder = vnish_responder(rig)
    ui = _WebUi(rig, responder)
    return WebServer(await asyncio.start_server(ui.serve_connection, host, port), ui)


async def start_http_server(rig: Rig, host: str, port: int, responder: Responder, *,
                            refuse_non_http: bool = False) -> WebServer:
    """Another firmware's HTTP service on this machinery (keep-alive, caps, the rig's behaviours):
    ``responder`` answers every request; ``refuse_non_http`` answers 400 at once to bytes that
    cannot begin a request."""
    ui = _WebUi(rig, responder, refuse_non_http=refuse_non_http)
    return WebServer(await asyncio.start_server(ui.serve_connection, host, port), ui)


__all__ = [
    "GARBAGE_BYTES",
    "REALM",
    "DigestGate",
    "HttpReply",
    "Responder",
    "WebServer",
    "html_reply",
    "json_reply",
    "parse_digest_credentials",
    "pools",
    "start_http_server",
    "start_web_server",
    "stats",
    "status_reply",
    "system_info",
]

"""What a connection's first bytes say about TLS: a ClientHello, and the server name (SNI) in it.

A bounded parser of our own (the standard library's ``ssl`` only offers the name to a server that
is willing to finish a handshake, and we never answer): it reads at most what the watch kept (the
first 4 KiB), follows a ClientHello split over several records, and never trusts a length field
further than the bytes it holds. A ClientHello cut off, larger than what is kept, or malformed
is said so; the server name is still given when it lies wholly inside the bytes there are.
"""

from __future__ import annotations

import enum
import re
import struct
from dataclasses import dataclass

_HANDSHAKE = 22
_CLIENT_HELLO = 1
_SERVER_NAME = 0
_HOST_NAME = 0
#: TLSPlaintext.length may not exceed 2^14 (RFC 8446 5.1); a record claiming more is not TLS.
_MAX_RECORD = 16384
_HOST = re.compile(rb"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9_-]{0,62}))*\.?")


class Hello(enum.Enum):
    """What the first bytes of a connection were, as far as TLS goes."""

    COMPLETE = "tls"  # a whole ClientHello
    NEED_MORE = "need-more"  # a ClientHello has begun; more bytes may complete it
    CUT_OFF = "tls-cut-off"  # began like a ClientHello, then the bytes stopped
    TOO_LARGE = "tls-too-large"  # declares more than the watch keeps
    MALFORMED = "tls-malformed"  # a handshake record whose contents do not parse
    NOT_TLS = "plain"  # not a TLS handshake at all


@dataclass(frozen=True)
class HelloReading:
    state: Hello
    sni: str | None = None  # the host_name, lower-case; escaped when not a valid host name
    sni_valid: bool = True


class _Short(Exception):
    """The bytes ran out before a length field said they would."""


class _Bad(Exception):
    """A field holds a value a ClientHello cannot have."""


def read_client_hello(data: bytes, *, ended: bool, cap: int) -> HelloReading:
    """``data``: the first bytes of a connection (at most ``cap``); ``ended``: no more will come
    (the peer closed, went quiet or the cap was reached)."""
    if not data:
        return HelloReading(Hello.NEED_MORE if not ended else Hello.NOT_TLS)
    if data[0] != _HANDSHAKE:
        return HelloReading(Hello.NOT_TLS)
    if len(data) >= 2 and data[1] != 3:  # record version 3.x for every TLS and SSLv3
        return HelloReading(Hello.NOT_TLS)
    try:
        body, declared, complete = _handshake_bytes(data)
    except _Bad:
        return HelloReading(Hello.MALFORMED)
    if body is None:
        return HelloReading(Hello.CUT_OFF if ended else Hello.NEED_MORE)
    too_large = not complete and ((declared is not None and declared + 4 + 5 > cap) or len(data) >= cap)
    try:
        sni, valid = _parse_hello(body[4:])
    except _Short:  # a whole ClientHello that runs short inside is malformed; a partial one is not there yet
        if complete:
            return HelloReading(Hello.MALFORMED)
        sni, valid = None, True
    except _Bad:  # past the cap nothing more will be read: what it declares is what it is
        if not too_large:
            return HelloReading(Hello.MALFORMED)
        sni, valid = None, True
    if complete:
        return HelloReading(Hello.COMPLETE, sni, valid)
    if too_large:
        return HelloReading(Hello.TOO_LARGE, sni, valid)
    return HelloReading(Hello.CUT_OFF if ended else Hello.NEED_MORE, sni, valid)


def _handshake_bytes(data: bytes) -> tuple[bytes | None, int | None, bool]:
    """The handshake message gathered from consecutive handshake records: (bytes so far, the
    declared ClientHello length, whether it is all there). None when not even its header is."""
    out = bytearray()
    at = 0
    declared: int | None = None
    while at + 5 <= len(data):
        content, major, _minor, length = struct.unpack_from(">BBBH", data, at)
        if content != _HANDSHAKE or major != 3:
            raise _Bad("a record that is not a handshake inside the ClientHello")
        if length == 0 or length > _MAX_RECORD:
            raise _Bad("record length out of range")
        out += data[at + 5: at + 5 + length]
        at += 5 + length
        if declared is None and len(out) >= 4:
            if out[0] != _CLIENT_HELLO:
                raise _Bad("the first handshake message is not a ClientHello")
            declared = int.from_bytes(out[1:4], "big")
            if declared < 38:  # version, random, session id length, one suite, one method
                raise _Bad("ClientHello too short to hold its fixed fields")
        if declared is not None and len(out) >= 4 + declared:
            return bytes(out[: 4 + declared]), declared, True
    if declared is None:
        return None, None, False
    return bytes(out), declared, False


def _parse_hello(hello: bytes) -> tuple[str | None, bool]:
    cur = _Cursor(hello)
    cur.take(2 + 32)  # client_version, random
    cur.take(cur.byte(max_value=32))  # legacy_session_id
    suites = cur.short()
    if suites < 2 or suites % 2:
        raise _Bad("cipher suites length")
    cur.take(suites)
    methods = cur.byte()
    if methods < 1:
        raise _Bad("no compression method")
    cur.take(methods)
    if cur.remaining() == 0:
        return None, True  # no extensions at all (SSLv3-era clients): no SNI
    end = cur.at + cur.short()
    while cur.at < end:
        kind, size = cur.short(), cur.short()
        body = cur.take(size)  # running short here: the extension is not (all) there
        if kind == _SERVER_NAME:
            try:
                return _host_name(body)
            except _Short:  # inside a whole extension: its own lengths are wrong
                raise _Bad("server_name extension shorter than its lengths") from None
    return None, True


def _host_name(ext: bytes) -> tuple[str | None, bool]:
    cur = _Cursor(ext)
    end = cur.short()
    while cur.at < 2 + end:
        name_type, size = cur.byte(), cur.short()
        name = cur.take(size)
        if name_type == _HOST_NAME:
            valid = bool(_HOST.fullmatch(name)) and len(name) <= 253
            text = name.decode("ascii").lower().rstrip(".") if valid else _escaped(name)
            return text, valid
    return None, True


def _escaped(data: bytes) -> str:
    """A server name that is no host name, as printable text (a hostile peer chose these bytes)."""
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b != 0x5C else f"\\x{b:02x}" for b in data[:255])


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def remaining(self) -> int:
        return len(self.data) - self.at

    def take(self, n: int) -> bytes:
        if n > self.remaining():
            raise _Short
        out = self.data[self.at: self.at + n]
        self.at += n
        return out

    def byte(self, *, max_value: int = 255) -> int:
        value = self.take(1)[0]
        if value > max_value:
            raise _Bad("field out of range")
        return value

    def short(self) -> int:
        return int.from_bytes(self.take(2), "big")

"""Antminer web CGI (lighttpd, HTTP digest auth): identity, firmware and pools as the UI reports them.

The web UI is where an Antminer reports its unit serial and MAC (the bmminer API does not), so
this driver is the `reported` source of identity. Everything is read as the device wrote it: the
driver checks shapes and types, never plausibility, and normalisation (MAC case) happens later.
See docs/protocols.md, "Antminer web CGI", for the requests and which field feeds which claim.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from attest.claim_values import malformed
from attest.drivers import epic, vnish
from attest.drivers.base import (
    AUTH_FAILED,
    MALFORMED_REPLY,
    NOT_THIS_FAMILY,
    CollectError,
    Endpoint,
    Session,
)
from attest.evidence import Assurance, Claim, ClaimValue, printable
from attest.transport.http import HttpClient, HttpReply, TransportError, fetch_head

NAME = "antminer_web"
KIND = "web"
DEFAULT_PORT = 80
SCHEMES = ("antminer+http",)

#: What ``identify`` answers for a host whose web UI is an Antminer's.
FAMILY = "antminer-web"
#: pyasic recognises an Antminer by this prefix of the digest realm; so do we.
REALM_MARK = 'realm="antMiner'

SYSTEM_INFO = "/cgi-bin/get_system_info.cgi"
STATS = "/cgi-bin/stats.cgi"
POOLS = "/cgi-bin/pools.cgi"

#: More hashboards or pools than any real unit has means the reply is not what it claims to be.
MAX_BOARDS = 16
MAX_POOLS = 32
MAX_STATS_ENTRIES = 8  # real firmware sends one
#: The probe in ``identify`` reads only a 401 page.
IDENTIFY_MAX_BYTES = 64 * 1024
#: Bytes of a bad reply quoted in an error message.
_QUOTE_CHARS = 120


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _recorder(label: str, session: Session) -> Callable[[str, bytes], None]:
    def record(direction: str, data: bytes) -> None:
        session.transcript.record(label, direction, data)

    return record


def _converted(exc: TransportError, endpoint: Endpoint) -> CollectError:
    return CollectError(exc.code, f"{endpoint.label} {printable(exc.message)}")


async def collect(endpoint: Endpoint, session: Session) -> list[Claim]:
    """Log in with the first credential the UI accepts, then read the three CGIs.

    Each page stands alone: a 404 or a broken stats.cgi costs that page's claims (a problem
    says so), never the serial already read from get_system_info. A UI without the Bitmain CGIs
    may be VNish's, whose REST API is read instead, or ePIC's dashboard, which holds nothing to read.
    """
    options = session.options
    origin = f"http://{_url_host(endpoint.host)}:{endpoint.port}"
    record = _recorder(endpoint.label, session)
    # With no credential at all, still ask once: a UI with auth switched off answers 200.
    attempts: list[tuple[str, str] | None] = [(c.username, c.password) for c in endpoint.credentials]
    if not attempts:
        attempts.append(None)
    refused: list[str] = []
    for auth in attempts:
        client = HttpClient(
            origin, auth=auth, timeout=options.timeout, max_bytes=options.max_reply_bytes, record=record
        )
        async with client:
            try:
                reply = await client.get(SYSTEM_INFO)
                if reply.status == 401:
                    refused.append(auth[0] if auth else "")
                    continue
                if reply.status == 404 and (info := await vnish.looks_like_vnish(client, endpoint)) is not None:
                    return await vnish.collect_over_web(client, endpoint, session, info, lambda: HttpClient(
                        origin, auth=None, timeout=options.timeout, max_bytes=options.max_reply_bytes, record=record))
                if reply.status == 404 and await epic.dashboard_at(client):
                    raise CollectError(NOT_THIS_FAMILY, f"{endpoint.label} serves ePIC's web dashboard, which holds "
                                       "no identity of its own: ePIC firmware is read over its HTTP API on the API "
                                       "port (4028)")
                if reply.status == 404:
                    raise CollectError(NOT_THIS_FAMILY, f"{endpoint.label} {SYSTEM_INFO}: not found (HTTP 404)")
                claims: list[Claim] = []
                for path, read in ((SYSTEM_INFO, _system_info_claims), (STATS, _stats_claims), (POOLS, _pool_claims)):
                    try:
                        page = reply if path == SYSTEM_INFO else await client.get(path)
                        claims += read(_json_object(page, endpoint, path), endpoint, session)
                    except CollectError as exc:
                        if exc.code == AUTH_FAILED:
                            raise
                        session.note_failure(endpoint.label, exc)
            except TransportError as exc:
                raise _converted(exc, endpoint) from None
        return claims
    if not endpoint.credentials:
        raise CollectError(AUTH_FAILED, f"{endpoint.label} requires credentials; none were given")
    users = ", ".join(printable(user, 64) for user in refused)
    raise CollectError(AUTH_FAILED, f"{endpoint.label} refused every credential tried (users: {users})")


async def identify(host: str, port: int, session: Session) -> str | None:
    """``"antminer-web"`` when ``GET /`` is refused with the Antminer digest realm, else None.

    Discovery runs this against every host of a range, so it never raises for a device that is
    absent, silent or something else.
    """
    label = f"{KIND}://{_url_host(host)}:{port}"
    try:
        reply = await fetch_head(
            host,
            port,
            "/",
            timeout=session.options.timeout,
            max_bytes=min(IDENTIFY_MAX_BYTES, session.options.max_reply_bytes),
            record=_recorder(label, session),
        )
    except TransportError:
        return None
    if reply.status == 401 and REALM_MARK in reply.header("www-authenticate"):
        return FAMILY
    return None


# --- reply parsing: the device is the adversary, so every shape and type is checked -----------


def _malformed(endpoint: Endpoint, path: str, why: str) -> CollectError:
    return CollectError(MALFORMED_REPLY, f"{endpoint.label} {path}: {why}")


def _json_object(
    reply: HttpReply, endpoint: Endpoint, path: str, *, missing_code: str = MALFORMED_REPLY
) -> dict[str, Any]:
    if reply.status == 401:
        raise CollectError(AUTH_FAILED, f"{endpoint.label} {path}: credentials refused mid-session")
    if reply.status == 404:
        raise CollectError(missing_code, f"{endpoint.label} {path}: not found (HTTP 404)")
    if reply.status != 200:
        raise _malformed(endpoint, path, f"unexpected HTTP status {reply.status}")
    try:
        text = reply.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        quoted = printable(reply.body[max(0, exc.start - 20) : exc.start + 20])
        raise _malformed(endpoint, path, f"not UTF-8 at byte {exc.start}: {quoted}") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and Python's cap on huge integer literals.
        quoted = printable(text, _QUOTE_CHARS)
        raise _malformed(endpoint, path, f"not JSON ({printable(str(exc), 200)}): {quoted}") from None
    if not isinstance(document, dict):
        raise _malformed(endpoint, path, f"expected a JSON object, got {type(document).__name__}")
    return document


def _text_field(document: dict[str, Any], key: str, endpoint: Endpoint, path: str,
                session: Session, name: str) -> str | None:
    """A string field as read; absent or empty means the device did not report it. A field of
    another type costs that field (VALUE_MALFORMED), not the page."""
    value = document.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        session.note(malformed(name, value, f"{endpoint.label} {path}", f"{key} is {type(value).__name__}, "
                               "expected a string", endpoint.label))
        return None
    return value


def _int_field(document: dict[str, Any], key: str, endpoint: Endpoint, path: str,
               session: Session, name: str) -> int | None:
    value = document.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
        session.note(malformed(name, value, f"{endpoint.label} {path}", f"{key} is not a count", endpoint.label))
        return None
    return value


def _object(value: object, what: str, endpoint: Endpoint, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(endpoint, path, f"{what} is {type(value).__name__}, expected an object")
    return value


def _list(value: object, what: str, limit: int, endpoint: Endpoint, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _malformed(endpoint, path, f"{what} is {type(value).__name__}, expected a list")
    if len(value) > limit:
        raise _malformed(endpoint, path, f"{what} has {len(value)} entries, more than {limit}")
    return value


def _claims(pairs: list[tuple[str, ClaimValue]], endpoint: Endpoint, path: str) -> list[Claim]:
    source = f"{endpoint.label} {path}"
    return [Claim(name, value, source, Assurance.REPORTED) for name, value in pairs if value is not None]


def _system_info_claims(info: dict[str, Any], endpoint: Endpoint, session: Session) -> list[Claim]:
    pairs: list[tuple[str, ClaimValue]] = [
        (name, _text_field(info, key, endpoint, SYSTEM_INFO, session, name))
        for name, key in (("unit.model", "minertype"), ("unit.serial", "serinum"), ("net.mac", "macaddr"))
    ]
    return _claims(pairs, endpoint, SYSTEM_INFO)


def _stats_claims(document: dict[str, Any], endpoint: Endpoint, session: Session) -> list[Claim]:
    info = _object(document.get("INFO", {}), "INFO", endpoint, STATS)
    pairs: list[tuple[str, ClaimValue]] = [
        ("firmware.version", _text_field(info, "miner_version", endpoint, STATS, session, "firmware.version")),
        ("firmware.build", _text_field(info, "CompileTime", endpoint, STATS, session, "firmware.build")),
    ]
    entries = _list(document.get("STATS"), "STATS", MAX_STATS_ENTRIES, endpoint, STATS)
    if not entries:
        raise _malformed(endpoint, STATS, "STATS is empty")
    first = _object(entries[0], "STATS[0]", endpoint, STATS)
    chains = _list(first.get("chain"), "STATS[0].chain", MAX_BOARDS, endpoint, STATS)
    seen: set[int] = set()
    for position, raw in enumerate(chains):
        if not isinstance(raw, dict):
            session.note_failure(endpoint.label, _malformed(endpoint, STATS, f"chain[{position}] is not an object"))
            continue
        # The slot is the chain's own index, never its place in the list: a sleeping or missing
        # board must not shift the boards after it.
        slot = _int_field(raw, "index", endpoint, STATS, session, f"chain[{position}].index")
        if slot is None or slot >= MAX_BOARDS:
            session.note_failure(endpoint.label, _malformed(endpoint, STATS, f"chain[{position}] has no usable index"))
            continue
        if slot in seen:
            session.note_failure(endpoint.label, _malformed(
                endpoint, STATS, f"hashboard slot {slot} appears twice; neither entry is used"))
            pairs = [(n, v) for n, v in pairs if not n.startswith(f"hashboard.{slot}.")]
            continue
        seen.add(slot)
        pairs.append((f"hashboard.{slot}.serial",
                      _text_field(raw, "sn", endpoint, STATS, session, f"hashboard.{slot}.serial")))
        pairs.append((f"hashboard.{slot}.chips",
                      _int_field(raw, "asic_num", endpoint, STATS, session, f"hashboard.{slot}.chips")))
    return _claims(pairs, endpoint, STATS)


def _pool_claims(document: dict[str, Any], endpoint: Endpoint, session: Session) -> list[Claim]:
    entries = _list(document.get("POOLS"), "POOLS", MAX_POOLS, endpoint, POOLS)
    pairs: list[tuple[str, ClaimValue]] = []
    for position, raw in enumerate(entries):
        pool = raw if isinstance(raw, dict) else {}
        name = f"config.pool.{position}.url"
        pairs.append((name, _text_field(pool, "url", endpoint, POOLS, session, name)))
    return _claims(pairs, endpoint, POOLS)


#: The page readers, also run on the unit's own CGI scripts over its serial console.
system_info_claims = _system_info_claims
stats_claims = _stats_claims

__all__ = ["DEFAULT_PORT", "FAMILY", "KIND", "NAME", "SCHEMES", "collect", "identify"]

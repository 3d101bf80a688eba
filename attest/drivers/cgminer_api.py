"""The CGMiner-family API wire, shared by the cgminer and whatsminer drivers.

One request per TCP connection; replies are read to NUL or EOF under the session's timeout and
size cap, parsed with the quirk-tolerant parser, and turned into plain dicts. Everything here
treats the reply as hostile: values are looked up with type checks, strings are length-capped and
nothing assumes a key exists. Expected failures leave as ``CollectError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from attest.drivers.base import MALFORMED_REPLY, CollectError, Endpoint, Session
from attest.drivers.jsonquirks import ApiJsonError, parse_api_json
from attest.evidence import Assurance, Claim, printable
from attest.transport import tcp

#: Real rigs have 3-4 hashboards and 3 pools; these bounds only stop a hostile reply.
MAX_SLOTS = 16
MAX_POOLS = 16

Reply = dict[str, Any]


class HttpOnApiPort(CollectError):
    """The API port answered a cgminer request with an HTTP reply: an HTTP service listens there
    (ePIC's firmware serves its REST API on 4028). Still a MALFORMED_REPLY to any caller that
    does not look further; the cgminer driver hands the endpoint to the ePIC reader."""

    def __init__(self, message: str, status_line: str) -> None:
        super().__init__(MALFORMED_REPLY, message)
        self.status_line = status_line


async def call(endpoint: Endpoint, session: Session, request: Mapping[str, str], what: str) -> Reply:
    """Send one JSON request and return the parsed reply.

    ``what`` names the request in errors (``version``, ``stats+pools``). The request and its
    reply are recorded next to each other even when several calls run concurrently, so the
    transcript reads as question, answer.
    """
    payload = json.dumps(dict(request), separators=(",", ":")).encode()
    pending: list[tuple[str, bytes]] = []
    try:
        raw = await tcp.request(
            endpoint.host,
            endpoint.port,
            payload,
            timeout=session.options.timeout,
            max_bytes=session.options.max_reply_bytes,
            record=lambda direction, data: pending.append((direction, data)),
        )
    except tcp.TransportError as exc:
        # An HTTP server that keeps the connection open after its answer ends the read by timeout:
        # what it said still names it.
        got = next((data for direction, data in pending if direction == "<"), b"")
        if got.startswith(b"HTTP/"):
            raise _http_on_api_port(endpoint, what, got) from None
        raise CollectError(exc.code, f"{endpoint.label} {what}: {exc.message}") from None
    finally:
        for direction, data in pending:
            session.transcript.record(endpoint.label, direction, data)
    if raw.startswith(b"HTTP/"):
        raise _http_on_api_port(endpoint, what, raw)
    try:
        return parse_api_json(raw)
    except ApiJsonError as exc:
        raise CollectError(
            MALFORMED_REPLY, f"{endpoint.label} {what}: {exc}; reply began {printable(raw, 80)!r}"
        ) from None


def _http_on_api_port(endpoint: Endpoint, what: str, raw: bytes) -> HttpOnApiPort:
    status_line = printable(raw.split(b"\r\n", 1)[0], 80)
    return HttpOnApiPort(f"{endpoint.label} {what}: an HTTP server answered ({status_line}), not a cgminer-family "
                         "API", status_line)


async def call_joined(
    endpoint: Endpoint, session: Session, commands: Sequence[str], *, key: str = "command",
    have: Mapping[str, Reply] | None = None,
) -> dict[str, Reply]:
    """Ask several commands in one ``a+b`` request; each command's own reply, by name.

    Firmware that refuses the joined form (some S19 builds answer one error for the lot) or leaves
    a part out gets the missing commands asked one at a time, as pyasic does.
    """
    parts: dict[str, Reply] = {c: dict(have[c]) for c in commands if have and c in have}
    wanted = [c for c in commands if c not in parts]
    if not wanted:
        return parts
    joined = await call(endpoint, session, {key: "+".join(wanted)}, "+".join(wanted))
    if "STATUS" not in joined:  # a single-command reply has STATUS at the top; a joined one not
        for command in wanted:
            part = first_dict(joined.get(command))
            if part is not None:
                parts[command] = part
    for command in wanted:
        if command not in parts:
            parts[command] = await call(endpoint, session, {key: command}, command)
    return parts


def first_dict(value: Any) -> dict[str, Any] | None:
    """``value[0]`` when value is a non-empty list whose first entry is an object."""
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return value[0]
    return None


def dicts(value: Any, limit: int) -> list[dict[str, Any]]:
    """The object entries of a list, at most ``limit`` of them; anything else gives none."""
    if not isinstance(value, list):
        return []
    return [entry for entry in value[:limit] if isinstance(entry, dict)]


def status_entry(reply: Reply) -> dict[str, Any] | None:
    """The STATUS object: cgminer writes a one-entry list, btminer's get_* a flat object."""
    status = reply.get("STATUS")
    if isinstance(status, list):
        return first_dict(status)
    if isinstance(status, str):
        return reply
    return None


def succeeded(reply: Reply) -> bool:
    """cgminer's rule: status S (success) or I (informational) means the data is there."""
    entry = status_entry(reply)
    return entry is not None and entry.get("STATUS") in ("S", "I")


def text(value: Any) -> str | None:
    """A device string as a claim value, stripped; numbers become text. Length and characters
    are judged once, for every driver, by attest.claim_values (a 10 KB "serial" is refused
    there with a problem, never cut to look like a real one)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def count(value: Any) -> int | None:
    """A non-negative integer count (chips), accepting the numeric strings some builds write."""
    if isinstance(value, bool):
        return None
    # isdigit() alone accepts '²' and other Unicode digits int() refuses: one such value in a
    # reply used to turn the whole endpoint into INTERNAL_ERROR.
    text = value.strip() if isinstance(value, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 9:
        value = int(text)
    if isinstance(value, int) and 0 <= value < 1_000_000:
        return value
    return None


def claim(name: str, value: str | int | None, source: str) -> list[Claim]:
    """Zero or one REPORTED claim: the API only ever tells us what the firmware says."""
    if value is None:
        return []
    return [Claim(name, value, source, Assurance.REPORTED)]


def pool_claims(pools_reply: Reply | None, source: str) -> list[Claim]:
    """``config.pool.N.url`` for each configured pool, N being its place in the POOLS list.

    Empty slots (Antminers always list three) keep their number but give no claim, so pool 2
    stays pool 2 whether or not pool 1 is set.
    """
    pools = pools_reply.get("POOLS") if pools_reply is not None else None
    if not isinstance(pools, list):
        return []
    claims: list[Claim] = []
    for index, pool in enumerate(pools[:MAX_POOLS]):
        if isinstance(pool, dict):
            claims += claim(f"config.pool.{index}.url", text(pool.get("URL")), source)
    return claims

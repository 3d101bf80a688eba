"""ePIC (PowerPlay-BMS on Antminer hardware, or ePIC's own UMC control boards): HTTP API on TCP 4028.

ePIC's firmware answers plain HTTP where the cgminer socket API would be, so a bare host reaches it
through the cgminer driver, which hands over when an HTTP reply comes back to its JSON request
(``epic+http://HOST`` names it directly). Only four open ``GET`` pages are read, each on a
connection of its own with the transport's caps and deadline, never a write: the ``POST``
endpoints (``/coin``, ``/miner``, ``/reboot``, ...) take the password and are not in READS, the
only paths this module will request.

- ``/summary``: ``Software`` ("PowerPlay-BMS v1.24.0") → ``firmware.version``; ``StratumConfigs``
  → ``config.pool.N.url`` (``Stratum``'s current pool when no list is given); ``HBs`` and
  ``HBStatus`` say which board slots answer.
- ``/capabilities``: ``Model`` → ``unit.model``; ``Control Board Version`` ``cpuSerial`` →
  ``control_board.serial``, ``cpuHardware`` → ``control_board.type``; ``Board Serial Numbers``
  → ``hashboard.N.serial``. That list carries no slot index: it names the boards that answer, in
  slot order, so it is placed on the slots ``/summary`` lists, and not at all when the two
  disagree (a serial on the wrong slot would accuse the wrong board).
- ``/network``: ``dhcp``/``static`` ``mac_address`` → ``net.mac``.
- ``/hashrate``: one ``[MH/s, %]`` pair per chip and board → ``hashboard.<Index>.chips``.

ePIC reports no unit serial (appraisal finds the unit by its MAC, as for an Avalon) and no PSU
serial. Each page stands alone: one that fails or is malformed costs its own claims (a problem
says so), a field of the wrong type costs that field. ePIC is not the manufacturer's firmware:
everything here is ``reported``, and its version is in no vendor's manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from attest.claim_values import malformed
from attest.drivers.base import (
    MALFORMED_REPLY,
    NOT_THIS_FAMILY,
    TIMEOUT,
    UNREACHABLE,
    CollectError,
    Endpoint,
    Session,
)
from attest.drivers.cgminer_api import MAX_POOLS, MAX_SLOTS, claim, count, text
from attest.evidence import Claim, printable
from attest.transport.errors import TransportError
from attest.transport.http import HttpClient, HttpReply, fetch

NAME = "epic"
KIND = "epic"
DEFAULT_PORT = 4028
SCHEMES = ("epic+http",)
#: What discovery names a host whose port 4028 answers as ePIC's API.
FAMILY = "epic"

SUMMARY = "/summary"
CAPABILITIES = "/capabilities"
NETWORK = "/network"
HASHRATE = "/hashrate"
#: The only requests this driver sends: open GETs. Writes are never made.
READS = (SUMMARY, CAPABILITIES, NETWORK, HASHRATE)

#: What the dashboard on port 80 calls itself (pyasic and asic-rs recognise ePIC by it).
DASHBOARD_MARK = b"Miner Web Dashboard"
#: More chips on one board than any real board has: the list is not a chip list.
MAX_CHIPS = 4096
#: The discovery probe reads at most this much of /summary.
IDENTIFY_MAX_BYTES = 64 * 1024


@dataclass
class _Page:
    path: str
    document: Any = None
    error: CollectError | None = None
    asked: bool = False


async def _get(endpoint: Endpoint, session: Session, path: str, max_bytes: int | None = None) -> Any:
    """One page's JSON document, on a connection of its own (a plain h11 GET: an httpx client's
    setup would cost more than the page); CollectError for every way it can fail."""
    if path not in READS:  # pragma: no cover - a programming error, never device input
        raise ValueError(f"{path} is not one of ePIC's read pages")

    def record(direction: str, data: bytes) -> None:
        session.transcript.record(endpoint.label, direction, data)

    try:
        reply = await fetch(endpoint.host, endpoint.port, path, timeout=session.options.timeout,
                            max_bytes=max_bytes or session.options.max_reply_bytes, record=record)
    except TransportError as exc:
        raise CollectError(exc.code, f"{endpoint.label} {printable(exc.message)}") from None
    return _document(reply, endpoint, path)


def _document(reply: HttpReply, endpoint: Endpoint, path: str) -> Any:
    if reply.status == 404:
        raise CollectError(NOT_THIS_FAMILY, f"{endpoint.label} GET {path}: not found (HTTP 404)")
    if reply.status != 200:
        raise CollectError(MALFORMED_REPLY, f"{endpoint.label} GET {path}: unexpected HTTP status {reply.status}")
    try:
        # A byte that is not UTF-8 becomes U+FFFD in its own string, which the claim check then
        # refuses: it costs that field, never the page.
        return json.loads(reply.body.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError) as exc:
        raise CollectError(MALFORMED_REPLY, f"{endpoint.label} GET {path}: not JSON "
                           f"({printable(str(exc), 120)}): {printable(reply.body, 120)}") from None


def looks_like_summary(document: Any) -> bool:
    """ePIC's /summary: an operating state, or its Software string beside its board list."""
    if not isinstance(document, dict):
        return False
    status = document.get("Status")
    return (isinstance(status, dict) and "Operating State" in status) or (
        isinstance(document.get("Software"), str) and "HBs" in document)


def _looks_like_epic(page: _Page) -> bool:
    doc = page.document
    if page.path == SUMMARY:
        return looks_like_summary(doc)
    if page.path == CAPABILITIES:
        return isinstance(doc, dict) and "Model" in doc and any(
            k in doc for k in ("Max HBs", "Board Serial Numbers", "Control Board Version"))
    if page.path == NETWORK:
        return isinstance(doc, dict) and any(isinstance(v, dict) and "mac_address" in v for v in list(doc.values())[:8])
    return False


async def identify(host: str, port: int, session: Session) -> str | None:
    """``"epic"`` when ``GET /summary`` on host:port answers as ePIC's; never raises."""
    endpoint = Endpoint(KIND, host, port)
    try:
        summary = await _get(endpoint, session, SUMMARY, min(IDENTIFY_MAX_BYTES, session.options.max_reply_bytes))
    except CollectError:
        return None
    return FAMILY if looks_like_summary(summary) else None


async def collect(endpoint: Endpoint, session: Session) -> list[Claim]:
    return await collect_over_api(endpoint, session)


async def collect_over_api(endpoint: Endpoint, session: Session) -> list[Claim]:
    """Claims from ePIC's four read pages on ``endpoint`` (kind ``epic``, or ``api`` when the
    cgminer driver hands over). NOT_THIS_FAMILY when nothing that answered is ePIC's."""
    pages = [_Page(path) for path in READS]
    for page in pages:
        page.asked = True
        try:
            page.document = await _get(endpoint, session, page.path)
        except CollectError as exc:
            page.error = exc
            if exc.code in (TIMEOUT, UNREACHABLE):
                break  # a dead or silent server: asking the other pages would only wait again
    answered = [p for p in pages if p.asked and p.error is None]
    if not any(_looks_like_epic(p) for p in answered):
        failure = next((p.error for p in pages if p.error is not None and p.error.code != NOT_THIS_FAMILY), None)
        if failure is not None and not answered:
            raise failure
        raise CollectError(NOT_THIS_FAMILY, f"{endpoint.label}: an HTTP server answers here, but none of "
                           f"{', '.join(READS)} is ePIC's API")
    for page in pages:
        if page.error is not None:
            session.note_failure(endpoint.label, page.error)
        elif not page.asked:
            session.note_failure(endpoint.label, CollectError(
                TIMEOUT, f"{endpoint.label} GET {page.path}: not asked, since an earlier page got no answer"))
    docs = {p.path: p.document for p in answered}
    reader = _Reader(endpoint, session)
    claims = reader.capabilities(docs.get(CAPABILITIES))
    claims += reader.network(docs.get(NETWORK))
    claims += reader.summary(docs.get(SUMMARY))
    claims += reader.board_serials(docs.get(CAPABILITIES), docs.get(SUMMARY))
    claims += reader.chips(docs.get(HASHRATE))
    return claims


# --- reading the pages: every shape and type checked, a bad field costs that field -----------------

class _Reader:
    def __init__(self, endpoint: Endpoint, session: Session) -> None:
        self.endpoint = endpoint
        self.session = session

    def source(self, path: str) -> str:
        return f"{self.endpoint.label} {path}"

    def wrong(self, name: str, value: object, path: str, why: str) -> None:
        self.session.note(malformed(name, value, self.source(path), why, self.endpoint.label))

    def field(self, document: dict[str, Any], key: str, name: str, path: str) -> str | None:
        """A text field as read; absent, null or empty means not reported. A field of another
        type costs that field (VALUE_MALFORMED)."""
        value = document.get(key)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.wrong(name, value, path, f"{key} is {type(value).__name__}, expected a string")
            return None
        return text(value)

    def obj(self, document: Any, path: str) -> dict[str, Any] | None:
        if document is None:
            return None
        if not isinstance(document, dict):
            self.session.note_failure(self.endpoint.label, CollectError(
                MALFORMED_REPLY, f"{self.source(path)}: expected a JSON object, got {type(document).__name__}"))
            return None
        return document

    def listing(self, value: Any, what: str, path: str, limit: int) -> list[Any] | None:
        if value is None:
            return None
        if not isinstance(value, list) or len(value) > limit:
            why = f"{len(value)} entries, more than {limit}" if isinstance(value, list) else type(value).__name__
            self.session.note_failure(self.endpoint.label, CollectError(
                MALFORMED_REPLY, f"{self.source(path)}: {what} is not a list of at most {limit} ({why}); not read"))
            return None
        return value

    def capabilities(self, document: Any) -> list[Claim]:
        caps = self.obj(document, CAPABILITIES)
        if caps is None:
            return []
        source = self.source(CAPABILITIES)
        claims = claim("unit.model", self.field(caps, "Model", "unit.model", CAPABILITIES), source)
        board = caps.get("Control Board Version")
        if isinstance(board, dict):
            claims += claim("control_board.serial",
                            self.field(board, "cpuSerial", "control_board.serial", CAPABILITIES), source)
            claims += claim("control_board.type",
                            self.field(board, "cpuHardware", "control_board.type", CAPABILITIES), source)
        elif board is not None:
            self.wrong("control_board.serial", board, CAPABILITIES,
                       f"Control Board Version is {type(board).__name__}, expected an object")
        return claims

    def network(self, document: Any) -> list[Claim]:
        net = self.obj(document, NETWORK)
        if net is None:
            return []
        # The active configuration's entry: dhcp, else static (ePIC's dashboard reads them so).
        for kind in ("dhcp", "static"):
            entry = net.get(kind)
            if isinstance(entry, dict) and entry.get("mac_address") not in (None, ""):
                return claim("net.mac", self.field(entry, "mac_address", "net.mac", NETWORK), self.source(NETWORK))
        return []

    def summary(self, document: Any) -> list[Claim]:
        summ = self.obj(document, SUMMARY)
        if summ is None:
            return []
        source = self.source(SUMMARY)
        claims = claim("firmware.version", self.field(summ, "Software", "firmware.version", SUMMARY), source)
        configs = self.listing(summ.get("StratumConfigs"), "StratumConfigs", SUMMARY, MAX_POOLS)
        if configs is not None:
            for index, entry in enumerate(configs):
                if isinstance(entry, dict):
                    claims += claim(f"config.pool.{index}.url",
                                    _pool_url(self.field(entry, "pool", f"config.pool.{index}.url", SUMMARY)), source)
        elif isinstance(stratum := summ.get("Stratum"), dict):
            claims += claim("config.pool.0.url",
                            _pool_url(self.field(stratum, "Current Pool", "config.pool.0.url", SUMMARY)), source)
        return claims

    def slots(self, summary: Any) -> list[int] | None:
        """The board slots /summary says answer, in order: ``HBStatus`` entries enabled, else the
        ``HBs`` listed. None when /summary does not say (or says it twice for one slot)."""
        if not isinstance(summary, dict):
            return None
        for key, wanted in (("HBStatus", True), ("HBs", False)):
            entries = summary.get(key)
            if not isinstance(entries, list) or len(entries) > MAX_SLOTS:
                continue
            found = [count(e.get("Index")) for e in entries if isinstance(e, dict)
                     and (not wanted or e.get("Enabled") is True)]
            if any(s is None or s >= MAX_SLOTS for s in found) or len(set(found)) != len(found):
                return None
            return sorted(s for s in found if s is not None)
        return None

    def board_serials(self, capabilities: Any, summary: Any) -> list[Claim]:
        if not isinstance(capabilities, dict):
            return []
        serials = self.listing(capabilities.get("Board Serial Numbers"), "Board Serial Numbers", CAPABILITIES,
                               MAX_SLOTS)
        if not serials:
            return []
        slots = self.slots(summary)
        most = count(capabilities.get("Max HBs"))
        if slots is None or len(slots) != len(serials):
            if slots is None and most is not None and len(serials) == most:
                slots = list(range(most))  # every board answers: the list is in slot order
            else:
                said = "not read" if slots is None else f"slots {slots}"
                self.session.note_failure(self.endpoint.label, CollectError(
                    MALFORMED_REPLY, f"{self.source(CAPABILITIES)}: Board Serial Numbers lists {len(serials)} "
                    f"boards but /summary has {said}: the serials cannot be placed in slots, so none is claimed"))
                return []
        source = self.source(CAPABILITIES)
        claims: list[Claim] = []
        for slot, value in zip(slots, serials, strict=True):
            name = f"hashboard.{slot}.serial"
            if isinstance(value, str):
                claims += claim(name, text(value), source)
            elif value is not None:
                self.wrong(name, value, CAPABILITIES, f"a {type(value).__name__}, expected a string")
        return claims

    def chips(self, document: Any) -> list[Claim]:
        boards = self.listing(document, "the board list", HASHRATE, MAX_SLOTS)
        if boards is None:
            return []
        chips: dict[int, int] = {}
        twice: set[int] = set()
        for position, board in enumerate(boards):
            slot = count(board.get("Index")) if isinstance(board, dict) else None
            data = board.get("Data") if isinstance(board, dict) else None
            if slot is not None and (slot in chips or slot in twice):
                chips.pop(slot, None)  # a slot listed twice: neither entry is believed
                twice.add(slot)
                why = f"slot {slot} appears twice; neither entry is used"
            elif slot is None or slot >= MAX_SLOTS or not isinstance(data, list) or len(data) > MAX_CHIPS:
                why = f"board entry {position} has no usable Index and chip list; its chips are not claimed"
            else:
                chips[slot] = len(data)
                continue
            self.session.note_failure(self.endpoint.label, CollectError(
                MALFORMED_REPLY, f"{self.source(HASHRATE)}: {why}"))
        return [c for slot, n in sorted(chips.items()) for c in claim(f"hashboard.{slot}.chips", n,
                                                                      self.source(HASHRATE))]


def _pool_url(value: str | None) -> str | None:
    """ePIC writes a pool as configured; one with no scheme is stratum v1 over TCP, the only kind
    its stratum configuration takes without one (pyasic reads it the same way)."""
    if value is None or "://" in value:
        return value
    return f"stratum+tcp://{value}"


async def dashboard_at(client: HttpClient) -> bool:
    """Whether the web UI on ``client``'s origin is ePIC's dashboard (for the web driver, whose
    Antminer CGIs are absent there): its page names itself "Miner Web Dashboard"."""
    try:
        reply = await client.get("/")
    except TransportError:
        return False
    return reply.status == 200 and DASHBOARD_MARK in reply.body[:IDENTIFY_MAX_BYTES]


__all__: list[str] = ["DEFAULT_PORT", "FAMILY", "KIND", "NAME", "READS", "SCHEMES", "collect", "collect_over_api",
                      "dashboard_at", "identify", "looks_like_summary"]

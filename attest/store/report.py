"""``attest store report`` and the Warehouse window: the warehouse's intake, across stations.

Per station, its records and their verdicts; units seen at more than one station; identity
changes across stations; units flagged (UNTRUSTED) and where; pushes the store refused. All of
it since a date (default: everything). Identity changes are found the way appraisal finds
them, from the records themselves (``Sighting.identity_parts``: a part counts only when both
records read it), so a change is reported even when the later station was offline at the time
and could not flag it then. A database prefilter (more than one identity fingerprint at more
than one station) keeps that to the few serials that can have one.

The JSON shape is a contract: ``{"stations": [{"id", "records", "verdicts": {VERDICT: N}}],
...}``; keys may be added, never renamed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from attest.history import Sighting, sighting_from_record
from attest.store.connection import LOOKUP_TIMEOUT_MS, StoreTarget, connect, mapped
from attest.store.schema import check_version

LIST_AT_MOST = 200


@dataclass(frozen=True)
class StationIntake:
    id: str
    records: int
    verdicts: dict[str, int]
    last_push: str | None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "records": self.records, "verdicts": self.verdicts, "last_push": self.last_push}


@dataclass(frozen=True)
class Change:
    """One part that differs between two stations' records of a serial."""

    serial: str
    earlier: Sighting
    later: Sighting
    parts: tuple[str, ...]  # "control board was CB1, now CB2"

    def to_json(self) -> dict[str, Any]:
        return {"serial": self.serial, "earlier": _sighting_json(self.earlier), "later": _sighting_json(self.later),
                "changes": list(self.parts)}


@dataclass
class StoreReport:
    store: str
    since: str | None
    stations: list[StationIntake] = field(default_factory=list)
    multi_station: list[dict[str, Any]] = field(default_factory=list)
    identity_changes: list[Change] = field(default_factory=list)
    flagged: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"store": self.store, "since": self.since, "stations": [s.to_json() for s in self.stations],
                "multi_station_units": self.multi_station,
                "identity_changes": [c.to_json() for c in self.identity_changes],
                "flagged": self.flagged, "refused_pushes": self.refused}


def store_report(target: StoreTarget, since: str | None = None) -> StoreReport:
    """``since``: ISO-8601 UTC, inclusive (records by their own time)."""
    report = StoreReport(target.display, since)
    args = {"since": since}
    window = "(%(since)s::timestamptz IS NULL OR r.time >= %(since)s::timestamptz)"
    with connect(target, statement_timeout_ms=LOOKUP_TIMEOUT_MS * 12) as conn, mapped(target):
        check_version(conn, target)
        counts: dict[str, dict[str, int]] = {}
        for station, verdict, n in conn.execute(
                f"SELECT s.station, r.verdict, count(r.idx) FROM attest.stations s LEFT JOIN attest.records r "
                f"ON r.station = s.station AND {window} GROUP BY s.station, r.verdict ORDER BY s.station", args):
            verdicts = counts.setdefault(station, {})
            if n:
                verdicts[verdict or "NONE"] = int(n)
        pushed = dict(conn.execute("SELECT station, max(received_at) FROM attest.pushes WHERE outcome = 'accepted' "
                                   "GROUP BY station").fetchall())
        report.stations = [StationIntake(s, sum(v.values()), dict(sorted(v.items())),
                                         _iso(pushed.get(s))) for s, v in counts.items()]
        for serial, stations, first, last, n in conn.execute(
                f"SELECT r.serial, array_agg(DISTINCT r.station ORDER BY r.station), min(r.time), max(r.time), "
                f"count(*) FROM attest.records r WHERE r.serial IS NOT NULL AND {window} GROUP BY r.serial "
                f"HAVING count(DISTINCT r.station) > 1 ORDER BY max(r.time) DESC LIMIT {LIST_AT_MOST}", args):
            report.multi_station.append({"serial": serial, "stations": list(stations), "first": _iso(first),
                                         "last": _iso(last), "records": int(n)})
        candidates = [row[0] for row in conn.execute(
            f"SELECT r.serial FROM attest.records r WHERE r.serial IS NOT NULL AND r.identity_sha256 IS NOT NULL "
            f"AND {window} GROUP BY r.serial HAVING count(DISTINCT r.station) > 1 "
            f"AND count(DISTINCT r.identity_sha256) > 1 ORDER BY max(r.time) DESC LIMIT {LIST_AT_MOST}", args)]
        for serial in candidates:
            rows = conn.execute(f"SELECT r.station, r.idx, r.data FROM attest.records r WHERE r.serial = %(serial)s "
                                f"AND {window} ORDER BY r.time, r.station, r.idx", {**args, "serial": serial},
                                binary=True).fetchall()
            report.identity_changes.extend(_changes(serial, rows))
        for station, index, serial, when, address, reasons in conn.execute(
                f"SELECT r.station, r.idx, r.serial, r.time, r.address, r.reasons FROM attest.records r "
                f"WHERE r.verdict = 'UNTRUSTED' AND {window} ORDER BY r.time DESC LIMIT {LIST_AT_MOST}", args):
            report.flagged.append({"station": station, "record": f"{station} #{index}", "serial": serial,
                                   "time": _iso(when), "address": address, "reasons": _findings(reasons)})
        for role, station, code, n, last, message in conn.execute(
                "SELECT role, station, code, count(*), max(received_at), (array_agg(message ORDER BY id DESC))[1] "
                "FROM attest.pushes WHERE outcome = 'refused' AND (%(since)s::timestamptz IS NULL OR "
                "received_at >= %(since)s::timestamptz) GROUP BY role, station, code ORDER BY max(received_at) DESC",
                args):
            report.refused.append({"role": role, "station": station, "code": code, "pushes": int(n),
                                   "last": _iso(last), "message": message})
    return report


def _changes(serial: str, rows: list[Any]) -> list[Change]:
    """Each later record whose parts differ from an earlier record at another station (the
    first difference per pair of stations, so a unit re-checked daily is one line, not dozens)."""
    sightings: list[Sighting] = []
    for station, index, data in rows:
        try:
            record = json.loads(bytes(data))
        except ValueError:
            continue
        s = sighting_from_record(record, reference=f"{station} #{index}") if isinstance(record, dict) else None
        if s is not None:
            sightings.append(s)
    out: list[Change] = []
    reported: set[tuple[str, str]] = set()
    for i, later in enumerate(sightings):
        for earlier in sightings[:i]:
            if earlier.station == later.station or (earlier.station, later.station) in reported:
                continue
            now = later.identity_parts()
            parts = tuple(f"{part} was {_text(was)}, now {_text(now[part])}"
                          for part, was in earlier.identity_parts().items()
                          if was is not None and now.get(part) is not None and was != now[part])
            if parts:
                out.append(Change(serial, earlier, later, parts))
                reported.add((earlier.station, later.station))
    return out


def _findings(reasons: list[str] | None) -> list[str]:
    """Reason codes worth a manager's eye first: the contraindicated ones are what flagged it."""
    from attest.verdict import REASONS, Status

    codes = list(reasons or [])
    bad = [c for c in codes if c in REASONS and REASONS[c].status is Status.CONTRAINDICATED]
    return bad or codes[:3]


def _text(value: object) -> str:
    return ", ".join(value) if isinstance(value, tuple) else str(value)


def _sighting_json(s: Sighting) -> dict[str, Any]:
    return {"station": s.station, "time": s.time, "record": s.record, "address": s.address, "verdict": s.verdict}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z") if hasattr(value, "isoformat") else str(value)

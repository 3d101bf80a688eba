"""``attest store verify``: every station's records in the store, against its own signed checkpoints.

The database is not believed, whoever wrote to it (a superuser can disable triggers): each
station's records are read in index order, each record's hash is recomputed from its bytes,
its signed ``index`` and ``previous_leaf`` are checked against its place, the columns queries
use against the signed bytes, and the tree is rebuilt as it goes, so that every checkpoint
the station pushed (its signature checked with the station's enrolled key) is compared with
the root of exactly the records it covers. What is named, with the station and the record:

- ``LOG_RECORD_EDITED``: a record's bytes no longer match its hash, or the next record's
  ``previous_leaf`` (when the hash was rewritten too), or a column was changed;
- ``LOG_ROOT_MISMATCH``: the records do not add up to a root the station signed;
- ``LOG_RECORDS_MISSING`` / ``LOG_TRUNCATED``: records the store accepted are gone;
- ``LOG_RECORDS_ADDED``: records no accepted push brought;
- ``LOG_SIGNATURE_INVALID`` / ``LOG_SIGNED_BY_OTHER_KEY``: a stored checkpoint is not the
  enrolled key's.

Memory stays flat: records stream through a server-side cursor and the tree is kept as its
frontier (a few dozen hashes), so a store of millions of records is checked in one pass.
The enrolled keys themselves are printed, to be compared with what each station shows
(``attest station show``): a store whose keys were replaced would check against the wrong ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from attest.log.checkpoint import Checkpoint
from attest.station import public_key_from_pem
from attest.store.connection import StoreTarget, connect, mapped
from attest.store.schema import check_version
from attest.store.server.ingest import push_node, root_of

STREAM_ROWS = 2000
_LIST_AT_MOST = 20


@dataclass(frozen=True)
class StoreFinding:
    station: str
    code: str  # a LOG_* code of attest.verdict.REASONS
    message: str
    record: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"station": self.station, "code": self.code, "record": self.record, "message": self.message}


@dataclass
class StationAudit:
    station: str
    fingerprint: str
    records: int = 0
    checkpoints: int = 0  # checkpoints compared with the records' root
    findings: list[StoreFinding] = field(default_factory=list)

    def add(self, code: str, message: str, record: int | None = None) -> None:
        if len(self.findings) < _LIST_AT_MOST:
            self.findings.append(StoreFinding(self.station, code, message, record))

    def to_json(self) -> dict[str, Any]:
        return {"station": self.station, "fingerprint": self.fingerprint, "records": self.records,
                "checkpoints_checked": self.checkpoints, "findings": [f.to_json() for f in self.findings]}


@dataclass
class AuditReport:
    store: str
    stations: list[StationAudit] = field(default_factory=list)

    @property
    def findings(self) -> list[StoreFinding]:
        return [f for s in self.stations for f in s.findings]

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "store": self.store, "stations": [s.to_json() for s in self.stations]}


def audit_store(target: StoreTarget, *, pins: Collection[str] = (),
                progress: Callable[[str, int], None] | None = None) -> AuditReport:
    """``pins``: station key fingerprints the auditor got from the stations themselves; when
    given, a station enrolled with any other key is named (a superuser replaced its key)."""
    report = AuditReport(target.display)
    with connect(target, autocommit=False) as conn, mapped(target):
        check_version(conn, target)
        conn.rollback()
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot for the audit
        stations = conn.execute("SELECT station, public_pem, fingerprint FROM attest.stations "
                                "ORDER BY station").fetchall()
        for station, pem, fingerprint in stations:
            audit = StationAudit(station, fingerprint)
            report.stations.append(audit)
            if pins and fingerprint not in pins:
                audit.add("LOG_SIGNED_BY_OTHER_KEY", f"station {station} is enrolled with key {fingerprint}, which is "
                          "none of the station keys given: its records are checked against a key nobody vouched for")
            _audit_station(conn, audit, pem, progress)
        conn.rollback()
    return report


def _audit_station(conn: Any, audit: StationAudit, pem: str, progress: Callable[[str, int], None] | None) -> None:
    station = audit.station
    key = public_key_from_pem(pem, f"the enrolled key of station {station}")
    covered: dict[int, list[tuple[int, bytes]]] = {}  # tree size -> (push id, signed root)
    accepted: set[int] = set()
    held = 0  # records the store said it held after its last accepted push
    for push_id, envelope, head in conn.execute(
            "SELECT id, checkpoint, head FROM attest.pushes WHERE station = %s AND outcome = 'accepted' ORDER BY id",
            (station,)):
        accepted.add(push_id)
        held = max(held, int(head or 0))
        try:
            checkpoint = Checkpoint.from_envelope(json.loads(envelope))
        except (ValueError, TypeError) as e:
            audit.add("LOG_SIGNATURE_INVALID", f"the checkpoint of push #{push_id} is damaged: {e}")
            continue
        if checkpoint.keyid != audit.fingerprint:
            audit.add("LOG_SIGNED_BY_OTHER_KEY", f"the checkpoint of push #{push_id} is signed by key "
                      f"{checkpoint.keyid[:16]}…, not station {station}'s enrolled key {audit.fingerprint[:16]}…")
        elif not checkpoint.signature_valid(key) or checkpoint.origin != station:
            audit.add("LOG_SIGNATURE_INVALID", f"the checkpoint of push #{push_id} is not validly signed by "
                      f"station {station}")
        else:
            covered.setdefault(checkpoint.tree_size, []).append((push_id, checkpoint.root_hash))
    frontier: list[tuple[int, bytes]] = []
    expected = 0
    previous: bytes | None = None
    suspect: int | None = None  # a record whose bytes may be edited, named when a root fails
    gap = False
    with conn.cursor(name=f"audit_{_cursor_number(station)}", binary=True) as cursor:
        cursor.itersize = STREAM_ROWS
        cursor.execute("SELECT idx, leaf_hash, data, push_id, serial, verdict, time FROM attest.records "
                       "WHERE station = %s ORDER BY idx", (station,))
        for idx, stored_hash, data, push_id, serial, verdict, _time in cursor:
            data = bytes(data)
            if idx != expected:
                audit.add("LOG_RECORDS_MISSING", f"records {expected}..{idx - 1} of station {station} are gone "
                          "from the store", expected)
                gap = True
            leaf = hashlib.sha256(b"\x00" + data).digest()
            if leaf != bytes(stored_hash):
                audit.add("LOG_RECORD_EDITED", f"record {idx} of station {station} was edited in the store: its "
                          "bytes no longer match the hash it was pushed with", idx)
            if push_id not in accepted:
                audit.add("LOG_RECORDS_ADDED", f"record {idx} of station {station} was not brought by any push "
                          "the store accepted", idx)
            record = _check_record(audit, idx, data, serial, verdict)
            signed_previous = record.get("previous_leaf") if record is not None else None
            if previous is not None and suspect is None and isinstance(signed_previous, str) \
                    and signed_previous != previous.hex():
                suspect = idx - 1
            push_node(frontier, 0, leaf)
            previous, expected = leaf, idx + 1
            audit.records += 1
            if not gap and expected in covered:
                root = root_of(frontier)
                for push_id_signed, signed in covered[expected]:
                    audit.checkpoints += 1
                    if root != signed:
                        who = f": record {suspect} was edited (the next record signed a different hash for it)" \
                            if suspect is not None else ""
                        audit.add("LOG_ROOT_MISMATCH", f"records 0..{expected - 1} of station {station} do not add "
                                  f"up to the root it signed (push #{push_id_signed}){who}", suspect)
                        break
            if progress is not None and audit.records % 50_000 == 0:
                progress(station, audit.records)
    if expected < held:
        audit.add("LOG_TRUNCATED", f"the store accepted {held} records of station {station} but holds only "
                  f"{expected}: records {expected}..{held - 1} were removed", expected)
    elif expected > held:
        audit.add("LOG_RECORDS_ADDED", f"the store holds {expected} records of station {station}, but its "
                  f"accepted pushes brought {held}", held)


def _check_record(audit: StationAudit, idx: int, data: bytes, serial: Any, verdict: Any) -> dict[str, Any] | None:
    """The record, after checking its place and the columns read from it; None if unreadable."""
    try:
        record = json.loads(data)
    except ValueError:
        audit.add("LOG_RECORD_EDITED", f"record {idx} of station {audit.station} is no longer JSON", idx)
        return None
    if not isinstance(record, dict):
        audit.add("LOG_RECORD_EDITED", f"record {idx} of station {audit.station} is no longer a record", idx)
        return None
    if record.get("index") != idx or record.get("station") != audit.station:
        audit.add("LOG_RECORDS_REORDERED", f"the record stored as record {idx} of station {audit.station} was "
                  f"signed as record {str(record.get('index'))[:20]} of {str(record.get('station'))[:64]}", idx)
    for column, value in (("serial", serial), ("verdict", verdict)):
        signed = record.get(column)
        if value != (signed if isinstance(signed, str) else None):
            audit.add("LOG_RECORD_EDITED", f"record {idx} of station {audit.station}: its {column} column was changed "
                      f"to {str(value)[:64]!r}; the signed record says {str(signed)[:64]!r}", idx)
    return record


def _cursor_number(station: str) -> str:
    """A server-side cursor name for this station (its name is not SQL-safe; its hash is)."""
    import hashlib

    return hashlib.sha256(station.encode()).hexdigest()[:16]

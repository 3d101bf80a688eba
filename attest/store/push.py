"""Pushing the station's log to the warehouse store: whatever the store does not hold yet.

Idempotent by construction: each push first asks the server how many records of this station
it holds (its head, the count after the last accepted push) and sends the records after it,
in parts, each part its own transaction (one ``INSERT`` into ``attest.pushes``, checked by the
server's ingest trigger). A part the server committed is never sent again; one it did not
commit (server killed, connection cut) is sent again next time, whole. Even a part sent twice
(its answer lost, two pushes at once from one station) is stored once: the server compares
what overlaps by hash and stores only what follows. So the station can push after every check
and on every ``attest store sync`` without counting anything itself.

Before sending, the station checks the server's last record of it is its own record at that
index: a store that holds something else (a log restored from an old backup, a different log
under the same station id) is a fork, reported and never pushed over.

Each part carries the latest checkpoint the station signed (over ``N`` records) and the hashes
of the perfect subtrees covering the records after the part up to ``N`` (``compact_range``), so
the server can check the part against the signed root without the whole log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attest.log.errors import LogError
from attest.log.sqlite import SqliteStore
from attest.store.connection import StoreTarget, connect, mapped
from attest.store.errors import StoreError
from attest.store.queue import note_failure, note_pushed
from attest.store.schema import check_version
from attest.store.server.ingest import compact_range

PART_RECORDS = 1000
PART_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class PushResult:
    station: str
    local: int  # records in the log (covered by its latest checkpoint)
    stored: int  # records of this station the store now holds
    sent: int  # records the store accepted in this push


def push_pending(log: Path, target: StoreTarget, *, part_records: int = PART_RECORDS,
                 after_part: Callable[[int], None] | None = None, now: datetime | None = None) -> PushResult:
    """Push what ``target`` lacks of the log at ``log``; the queue state is updated either way.

    ``after_part(stored)`` is called after each part the server accepted, before the station
    notes it in its queue: what a test kills the server at. Raises StoreError (LogError for the
    local log).
    """
    def accepted(stored: int) -> None:
        if after_part is not None:
            after_part(stored)
        note_pushed(log, target.display, stored, now)  # the queue shows what is left, part by part

    try:
        result = _push(log, target, part_records, accepted)
    except StoreError as e:
        note_failure(log, target.display, f"{e.code}: {e.message}", now)
        raise
    note_pushed(log, target.display, result.stored, now or datetime.now(UTC))
    return result


def _push(log: Path, target: StoreTarget, part_records: int, after_part: Callable[[int], None] | None) -> PushResult:
    with SqliteStore(log, create=False) as store:
        owner = store.owner()
        checkpoint = store.latest_checkpoint()
        if owner is None or checkpoint is None:
            return PushResult("", 0, 0, 0)
        station, size = owner.origin, checkpoint.tree_size
        envelope = json.dumps(checkpoint.envelope(), sort_keys=True)
        with connect(target) as conn, mapped(target):
            check_version(conn, target)
            head = _head(conn, station)
            if head > size:
                raise StoreError("STORE_FORK", f"{target.display} holds {head} records of station {station}, "
                                 f"but this log ({log}) signed only {size}: it is not the log pushed before")
            if head and _stored_leaf(conn, station, head - 1) != store.node(0, head - 1):
                raise StoreError("STORE_FORK", f"record {head - 1} of station {station} in {target.display} is not "
                                 f"record {head - 1} of this log ({log})")
            sent = 0
            start = head
            while start < size:
                rows = store.records(start, min(size, start + part_records))
                total, cut = 0, len(rows)
                for i, row in enumerate(rows):
                    total += len(row.data)
                    if total > PART_BYTES and i:
                        cut = i
                        break
                rows = rows[:cut]
                end = start + len(rows)
                right = [_node(store, level, index) for level, index in compact_range(end, size)]
                outcome = conn.execute(
                    "INSERT INTO attest.pushes (station, first_index, records, right_nodes, checkpoint) "
                    "VALUES (%s, %s, %s, %s, %s) RETURNING outcome, code, message, accepted, head",
                    (station, start, [r.data for r in rows], right, envelope), binary=True).fetchone()
                _raise_refusal(outcome, target)
                sent += int(outcome[3])
                start = int(outcome[4])
                if after_part is not None:
                    after_part(start)
            return PushResult(station, size, start, sent)


def _head(conn: Any, station: str) -> int:
    row = conn.execute("SELECT head FROM attest.pushes WHERE station = %s AND outcome = 'accepted' "
                       "ORDER BY id DESC LIMIT 1", (station,)).fetchone()
    return 0 if row is None else int(row[0])


def _stored_leaf(conn: Any, station: str, index: int) -> bytes | None:
    row = conn.execute("SELECT leaf_hash FROM attest.records WHERE station = %s AND idx = %s",
                       (station, index)).fetchone()
    return None if row is None else bytes(row[0])


def _node(store: SqliteStore, level: int, index: int) -> bytes:
    try:
        return store.node(level, index)
    except KeyError:
        raise LogError("LOG_STORE_UNAVAILABLE", f"{store.location} is damaged: Merkle node {level}/{index} "
                       "is missing") from None


def _raise_refusal(outcome: Any, target: StoreTarget) -> None:
    if outcome is None:
        raise StoreError("STORE_PERMISSION_DENIED", f"{target.display} did not take the push")
    if outcome[0] != "accepted":
        code = outcome[1] if isinstance(outcome[1], str) and outcome[1].startswith("STORE_") else \
            "STORE_RECORD_MALFORMED"
        try:
            raise StoreError(code, f"{target.display} refused the push: {outcome[2]}")
        except ValueError:  # a code this version does not know (a newer server)
            raise StoreError("STORE_RECORD_MALFORMED", f"{target.display} refused the push: {outcome[1]}: "
                             f"{outcome[2]}") from None

"""What this station has not yet pushed: the queue is its own SQLite log, plus one small table.

The log stays the source of truth and is never changed here. Beside its append-only tables
this module keeps ``store_push`` (``CREATE TABLE IF NOT EXISTS``, so an older log gains it on
first use and the log's schema version is untouched): per store, how many records the store
is known to hold, when a push last worked, and since when it has been failing. "Waiting" is
the log's size minus that count. The count is only a cache for showing the queue: every push
asks the server how far it got, so a lost answer or a stale count can never skip or repeat a
record.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from attest.log.canonical import iso_time
from attest.log.errors import LogError
from attest.log.sqlite import SqliteStore

_TABLE = """CREATE TABLE IF NOT EXISTS store_push (
    store TEXT PRIMARY KEY,        -- the store as shown (no password): postgresql://host:port/db
    pushed INTEGER NOT NULL,       -- records of this log the store holds, as last heard
    last_ok TEXT,                  -- ISO-8601 UTC of the last push that reached the server
    failing_since TEXT,            -- first failure since then (NULL while pushes work)
    last_error TEXT)"""


@dataclass(frozen=True)
class QueueState:
    """What the Warehouse window and ``attest store sync`` say about the queue."""

    store: str
    local: int  # records in the station's log
    pushed: int  # records the store was last known to hold
    last_ok: str | None
    failing_since: str | None
    last_error: str | None

    @property
    def waiting(self) -> int:
        return max(0, self.local - self.pushed)

    def summary(self) -> str:
        """"12 records waiting: server unreachable since 14:02" and the like, for a person."""
        if self.failing_since is not None:
            since = _clock(self.failing_since)
            what = "server unreachable" if (self.last_error or "").startswith("STORE_UNREACHABLE") else "push failing"
            return f"{self.waiting} records waiting: {what} since {since}"
        if self.waiting:
            return f"{self.waiting} records waiting to be pushed"
        when = f" (last push {_clock(self.last_ok)})" if self.last_ok else ""
        return f"all {self.local} records pushed{when}"


def _clock(iso: str) -> str:
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return iso
    today = datetime.now().astimezone().date()
    return moment.strftime("%H:%M") if moment.date() == today else moment.strftime("%Y-%m-%d %H:%M")


@contextlib.contextmanager
def _state(log: Path) -> Iterator[sqlite3.Connection]:
    SqliteStore(log, create=False).close()  # refuse anything but a Rig Attest log before writing to it
    try:
        db = sqlite3.connect(log, isolation_level=None, timeout=10.0)
    except sqlite3.Error as e:
        raise LogError("LOG_STORE_UNAVAILABLE", f"{log}: {e}") from None
    try:
        db.execute(_TABLE)
        yield db
    except sqlite3.Error as e:
        raise LogError("LOG_STORE_UNAVAILABLE", f"{log}: {e}") from None
    finally:
        db.close()


def queue_state(log: Path, store: str) -> QueueState:
    with SqliteStore(log, create=False) as records:
        local = records.count()
    with _state(log) as db:
        row = db.execute("SELECT pushed, last_ok, failing_since, last_error FROM store_push WHERE store = ?",
                         (store,)).fetchone()
    if row is None:
        return QueueState(store, local, 0, None, None, None)
    return QueueState(store, local, int(row[0]), row[1], row[2], row[3])


def note_pushed(log: Path, store: str, pushed: int, now: datetime | None = None) -> None:
    when = iso_time(now or datetime.now(UTC))
    with _state(log) as db:
        db.execute("INSERT INTO store_push (store, pushed, last_ok, failing_since, last_error) "
                   "VALUES (?, ?, ?, NULL, NULL) ON CONFLICT (store) DO UPDATE SET pushed = excluded.pushed, "
                   "last_ok = excluded.last_ok, failing_since = NULL, last_error = NULL", (store, pushed, when))


def note_failure(log: Path, store: str, error: str, now: datetime | None = None) -> None:
    """Remember the failure; ``failing_since`` keeps the first one until a push works again."""
    when = iso_time(now or datetime.now(UTC))
    with _state(log) as db:
        db.execute("INSERT INTO store_push (store, pushed, failing_since, last_error) VALUES (?, 0, ?, ?) "
                   "ON CONFLICT (store) DO UPDATE SET failing_since = COALESCE(store_push.failing_since, "
                   "excluded.failing_since), last_error = excluded.last_error", (store, when, error[:500]))

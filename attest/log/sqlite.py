"""The default log store: one SQLite file in WAL mode.

WAL lets the GUI's history view read while an intake run appends; ``synchronous=FULL`` makes
each committed batch survive a power cut, and with batching that is one fsync per batch, not
per rig. Append-only is enforced twice: by the code (nothing here updates or deletes) and by
triggers that abort any UPDATE, DELETE, or out-of-sequence INSERT (``INSERT OR REPLACE`` skips
delete triggers, so inserts are checked against what exists too). The triggers are a guard
rail against accidents, not the security: anyone with the file can drop them, and the signed
checkpoints are what an auditor relies on.

Every ``sqlite3`` failure becomes a ``LogError`` a person can act on (disk full, read-only,
locked, not a log); a failed batch rolls back whole, so nothing committed before is touched.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from attest.log.checkpoint import Checkpoint
from attest.log.errors import LogError
from attest.log.merkle import Node
from attest.log.store import LogOwner, NewRecord, Selection, StoreConflict, StoredRecord
from attest.station import data_directory

APPLICATION_ID = 0x52474154  # "RGAT": tells our log apart from any other SQLite file
SCHEMA_VERSION = 1
_APPEND_ONLY = "RAISE(ABORT, 'rig attest log is append-only')"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    idx INTEGER PRIMARY KEY,          -- the leaf index
    record BLOB NOT NULL,             -- RFC 8785 bytes: exactly what the leaf hash covers
    leaf_hash BLOB NOT NULL,
    batch TEXT NOT NULL, time TEXT NOT NULL, address TEXT NOT NULL, serial TEXT);
CREATE INDEX IF NOT EXISTS records_serial ON records(serial, idx);
CREATE INDEX IF NOT EXISTS records_batch ON records(batch);
CREATE INDEX IF NOT EXISTS records_time ON records(time);
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY, tree_size INTEGER NOT NULL, envelope TEXT NOT NULL);
"""
_TRIGGERS = {
    "records": "NEW.idx IS NOT (SELECT IFNULL(MAX(idx) + 1, 0) FROM records)",
    "nodes": "EXISTS (SELECT 1 FROM nodes WHERE level = NEW.level AND idx = NEW.idx)",
    "checkpoints": ("NEW.id IS NOT (SELECT IFNULL(MAX(id), 0) + 1 FROM checkpoints) "
                    "OR NEW.tree_size > (SELECT IFNULL(MAX(idx) + 1, 0) FROM records)"),
    "meta": "EXISTS (SELECT 1 FROM meta WHERE key = NEW.key)",
}


def default_log_path() -> Path:
    return data_directory() / "log.sqlite"


class SqliteStore:
    """``attest.log.store.Store`` on one SQLite file."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.location = str(path)
        target = Path(path)
        if not create and not target.exists():
            raise LogError("LOG_STORE_UNAVAILABLE", f"there is no log at {target}")
        if create:
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise _os_error(e, target) from None
        try:
            with _mapped(self.location):
                self._db = sqlite3.connect(target, isolation_level=None, timeout=10.0)
            try:
                with _mapped(self.location):
                    self._prepare(create)
            except BaseException:
                self._db.close()
                raise
        except LogError as e:
            if e.code == "LOG_STORE_UNAVAILABLE" and not os.access(target.parent, os.W_OK):
                # SQLite says only "unable to open": name the real cause, a read-only place.
                raise LogError("LOG_STORE_READ_ONLY", f"{target.parent} is not writable: {e.message}") from None
            raise

    def _prepare(self, create: bool) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        fresh = app_id == 0 and db.execute("SELECT COUNT(*) FROM sqlite_schema").fetchone()[0] == 0
        if app_id != APPLICATION_ID and not (fresh and create):
            raise LogError("LOG_STORE_UNAVAILABLE", f"{self.location} is not a Rig Attest log")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        if fresh:
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                for table, clash in _TRIGGERS.items():
                    db.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
                               f"BEGIN SELECT {_APPEND_ONLY}; END")
                    db.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
                               f"BEGIN SELECT {_APPEND_ONLY}; END")
                    db.execute(f"CREATE TRIGGER IF NOT EXISTS {table}_in_sequence BEFORE INSERT ON {table} "
                               f"WHEN {clash} BEGIN SELECT {_APPEND_ONLY}; END")
                db.execute(f"PRAGMA application_id={APPLICATION_ID}")
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        elif db.execute("PRAGMA user_version").fetchone()[0] > SCHEMA_VERSION:
            raise LogError("LOG_STORE_UNAVAILABLE",
                           f"{self.location} was written by a newer Rig Attest; update to read it")

    # --- reading ---------------------------------------------------------------------------

    def count(self) -> int:
        with _mapped(self.location):
            return int(self._db.execute("SELECT IFNULL(MAX(idx) + 1, 0) FROM records").fetchone()[0])

    def data_version(self) -> int:
        """Changes whenever another connection commits to the file (SQLite's ``PRAGMA
        data_version``); never for this connection's own commits."""
        with _mapped(self.location):
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def owner(self) -> LogOwner | None:
        with _mapped(self.location):
            rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if "origin" not in rows:
            return None
        return LogOwner(rows["origin"], rows["public_key"], rows["fingerprint"])

    def records(self, start: int, end: int) -> list[StoredRecord]:
        with _mapped(self.location):
            rows = self._db.execute("SELECT idx, record, leaf_hash FROM records WHERE idx >= ? AND idx < ? "
                                    "ORDER BY idx", (start, end)).fetchall()
        return [StoredRecord(i, bytes(r), bytes(h)) for i, r, h in rows]

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        with _mapped(self.location):
            rows = self._db.execute("SELECT leaf_hash FROM records WHERE idx >= ? AND idx < ? ORDER BY idx",
                                    (start, end)).fetchall()
        return [bytes(h) for (h,) in rows]

    def node(self, level: int, index: int) -> bytes:
        with _mapped(self.location):
            if level == 0:
                row = self._db.execute("SELECT leaf_hash FROM records WHERE idx = ?", (index,)).fetchone()
            else:
                row = self._db.execute("SELECT hash FROM nodes WHERE level = ? AND idx = ?",
                                       (level, index)).fetchone()
        if row is None:
            raise KeyError((level, index))
        return bytes(row[0])

    def select(self, selection: Selection) -> list[int]:
        where, args = [], []
        if selection.batch:
            where.append("batch = ?")
            args.append(selection.batch)
        if selection.since:
            where.append("time >= ?")
            args.append(selection.since)
        if selection.until:
            where.append("time < ?")
            args.append(selection.until)
        if selection.serials:
            where.append(f"serial IN ({','.join('?' * len(selection.serials))})")
            args.extend(selection.serials)
        sql = "SELECT idx FROM records" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY idx"
        with _mapped(self.location):
            return [i for (i,) in self._db.execute(sql, args)]

    def records_for_serial(self, serial: str, limit: int) -> list[tuple[int, bytes]]:
        """The newest ``limit`` records of ``serial`` (index, canonical bytes), newest first: one
        walk down the ``records_serial`` index, however large the log."""
        with _mapped(self.location):
            rows = self._db.execute("SELECT idx, record FROM records WHERE serial = ? ORDER BY idx DESC LIMIT ?",
                                    (serial, limit)).fetchall()
        return [(int(i), bytes(r)) for i, r in rows]

    def latest_index_for_serial(self, serial: str) -> int | None:
        with _mapped(self.location):
            row = self._db.execute("SELECT MAX(idx) FROM records WHERE serial = ?", (serial,)).fetchone()
        return None if row[0] is None else int(row[0])

    def latest_checkpoint(self) -> Checkpoint | None:
        with _mapped(self.location):
            row = self._db.execute("SELECT envelope FROM checkpoints ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        try:
            return Checkpoint.from_envelope(json.loads(row[0]))
        except ValueError as e:
            raise LogError("LOG_STORE_UNAVAILABLE", f"{self.location}: the latest checkpoint is damaged: {e}") from None

    # --- writing ---------------------------------------------------------------------------

    def append_batch(self, expected_size: int, records: Sequence[NewRecord], nodes: Sequence[Node],
                     checkpoint: Checkpoint | None, owner: LogOwner) -> None:
        with self._transaction():
            size = int(self._db.execute("SELECT IFNULL(MAX(idx) + 1, 0) FROM records").fetchone()[0])
            if size != expected_size:
                raise StoreConflict(f"the log holds {size} records, not {expected_size}")
            self._claim(owner)
            self._db.executemany(
                "INSERT INTO records (idx, record, leaf_hash, batch, time, address, serial) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(r.index, r.data, r.leaf_hash, r.batch, r.time, r.address, r.serial) for r in records])
            self._db.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)
            if checkpoint is not None:
                self._insert_checkpoint(checkpoint)

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self._transaction():
            self._insert_checkpoint(checkpoint)

    def _claim(self, owner: LogOwner) -> None:
        rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if "fingerprint" not in rows:
            self._db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                                 [("origin", owner.origin), ("public_key", owner.public_key_pem),
                                  ("fingerprint", owner.fingerprint)])
        elif rows["fingerprint"] != owner.fingerprint:
            raise LogError("LOG_WRONG_STATION",
                           f"{self.location} belongs to station {rows.get('origin')!r} "
                           f"(key {rows['fingerprint'][:16]}...), not {owner.origin!r}")

    def _insert_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._db.execute("INSERT INTO checkpoints (id, tree_size, envelope) "
                         "SELECT IFNULL(MAX(id), 0) + 1, ?, ? FROM checkpoints",
                         (checkpoint.tree_size, json.dumps(checkpoint.envelope(), sort_keys=True)))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One IMMEDIATE transaction: the write lock is taken before the size is read, so the
        size check and the inserts see the same log."""
        with _mapped(self.location):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


_FULL, _READONLY, _PERM = 13, 8, 3


@contextlib.contextmanager
def _mapped(location: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as e:
        raise _sqlite_error(e, location) from None
    except OSError as e:
        raise _os_error(e, Path(location)) from None


def _sqlite_error(e: sqlite3.Error, location: str) -> LogError:
    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
    text = str(e)
    if code == _FULL or "full" in text:
        return LogError("LOG_STORE_FULL", f"{location}: {text}; the batch was not recorded, "
                        "every earlier record is intact")
    if code in (_READONLY, _PERM) or "readonly" in text:
        return LogError("LOG_STORE_READ_ONLY", f"{location}: {text}; the batch was not recorded, "
                        "every earlier record is intact")
    if "append-only" in text:
        return LogError("LOG_STORE_UNAVAILABLE", f"{location}: refused to change a record: {text}")
    return LogError("LOG_STORE_UNAVAILABLE", f"{location}: {text}")


def _os_error(e: OSError, path: Path) -> LogError:
    if e.errno == errno.ENOSPC:
        return LogError("LOG_STORE_FULL", f"{path}: {e.strerror}")
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return LogError("LOG_STORE_READ_ONLY", f"{path}: {e.strerror}")
    return LogError("LOG_STORE_UNAVAILABLE", f"{path}: {e.strerror or e}")

"""The station never signs a checkpoint over a log it cannot prove extends its last signed one.

Each test edits the SQLite file as someone with the file (and the sqlite3 shell) can: the
append-only triggers dropped first, then a record, its leaf hash or the Merkle nodes rewritten.
A batch and an export are then refused with LOG_INCONSISTENT naming the first bad record, and
every record already in the log is still there, untouched.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from attest.log.commands import log_appraisals
from attest.log.errors import LogError
from attest.log.merkle import leaf_hash, push_leaf
from attest.log.sqlite import SqliteStore
from attest.log.verify import verify_bundle
from tests.log.synthetic import synthetic_appraisal


@pytest.fixture
def log(tmp_path: Path, signer, passphrase_env) -> Path:  # signer: the station key must exist
    """Three batches of four rigs, each signed as it was appended."""
    db = tmp_path / "log.sqlite"
    for b in range(3):
        log_appraisals(str(db), [synthetic_appraisal(b * 4 + i) for i in range(4)], batch_id=f"pallet-{b}")
    return db


def tamper(db: Path, statements: list[tuple[str, tuple[object, ...]]]) -> None:
    with sqlite3.connect(db) as conn:
        for (name,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger'").fetchall():
            conn.execute(f"DROP TRIGGER {name}")
        for sql, args in statements:
            conn.execute(sql, args)


def records(db: Path) -> list[bytes]:
    with sqlite3.connect(db) as conn:
        return [bytes(r) for (r,) in conn.execute("SELECT record FROM records ORDER BY idx")]


def edited(record: bytes) -> bytes:
    doc = json.loads(record)
    doc["verdict"] = "TRUSTED" if doc["verdict"] != "TRUSTED" else "UNTRUSTED"
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def rewrite_hashes(db: Path) -> None:
    """Recompute every leaf hash and Merkle node from the records, as a careful forger would, so
    the stored tree is self-consistent again (and a bundle exported from it verifies)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT idx, record FROM records ORDER BY idx").fetchall()
        frontier: list = []
        nodes = []
        for idx, record in rows:
            leaf = leaf_hash(bytes(record))
            conn.execute("UPDATE records SET leaf_hash = ? WHERE idx = ?", (leaf, idx))
            nodes += push_leaf(frontier, idx, leaf)
        conn.execute("DELETE FROM nodes")
        conn.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)


def refused(db: Path, tmp_path: Path) -> tuple[str, str]:
    """(the batch's refusal, the export's refusal): both LOG_INCONSISTENT."""
    before = records(db)
    with pytest.raises(LogError) as batch:
        log_appraisals(str(db), [synthetic_appraisal(99)], batch_id="after-the-edit")
    from attest.log.export import export_bundle
    from attest.station import load_signer

    with pytest.raises(LogError) as export, SqliteStore(db, create=False) as store:
        export_bundle(store, load_signer(b"correct horse battery staple"), tmp_path / "b.attestlog.jsonl")
    assert batch.value.code == export.value.code == "LOG_INCONSISTENT"
    assert records(db) == before  # nothing already recorded is lost or changed by the refusal
    assert not (tmp_path / "b.attestlog.jsonl").exists()
    return batch.value.message, export.value.message


def test_an_edited_record_refuses_the_next_batch_and_the_export_naming_it(log: Path, tmp_path: Path) -> None:
    tamper(log, [("UPDATE records SET record = ? WHERE idx = 5", (edited(records(log)[5]),))])
    batch, export = refused(log, tmp_path)
    assert "record 5: its bytes no longer hash to its stored leaf" in batch
    assert "record 5:" in export


def test_an_edit_with_every_hash_recomputed_is_still_refused_naming_the_record(log: Path, tmp_path: Path) -> None:
    """Before: the forged tree was self-consistent, so the next batch signed it and the export
    verified. The records' previous_leaf chain still names the edit, and the rebuilt root differs
    from the one the last checkpoint signed."""
    tamper(log, [("UPDATE records SET record = ? WHERE idx = 5", (edited(records(log)[5]),))])
    rewrite_hashes(log)
    batch, export = refused(log, tmp_path)
    assert "record 5: record 6 no longer names it as the leaf before" in batch
    assert "the last checkpoint signed 12 records with another root" in batch
    assert "record 5:" in export


def test_deleted_records_refuse_the_next_batch(log: Path, tmp_path: Path) -> None:
    tamper(log, [("DELETE FROM records WHERE idx >= 8", ())])
    batch, _ = refused(log, tmp_path)
    assert "its last checkpoint covers 12 records but it holds 8: records 8..11 are missing" in batch


def test_an_untouched_log_still_takes_batches_and_exports_that_verify(log: Path, tmp_path: Path) -> None:
    from attest.log.export import export_bundle
    from attest.station import load_signer

    log_appraisals(str(log), [synthetic_appraisal(50)], batch_id="pallet-3")
    with SqliteStore(log, create=False) as store:
        export_bundle(store, load_signer(b"correct horse battery staple"), tmp_path / "ok.attestlog.jsonl")
    assert verify_bundle(tmp_path / "ok.attestlog.jsonl").ok

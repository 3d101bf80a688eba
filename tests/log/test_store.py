"""The SQLite store: append-only, one transaction per batch, and failures that lose nothing."""

from __future__ import annotations

import itertools
import json
import sqlite3

import pytest

from attest.log.append import append_records, log_batch, record_from_appraisal
from attest.log.errors import LogError
from attest.log.export import export_bundle
from attest.log.merkle import Tree, consistency_proof, inclusion_proof, leaf_hash
from attest.log.sqlite import SqliteStore
from attest.log.store import Selection, open_store
from attest.log.verify import verify_bundle
from tests.log.synthetic import T0, make_signer, serial_of, synthetic_appraisal


def fill(store, signer, batches, size=10, start=0):
    checkpoints = []
    n = start
    for b in range(batches):
        appraisals = [synthetic_appraisal(n + i) for i in range(size)]
        checkpoints.append(log_batch(store, signer, appraisals, operator="alice", batch_id=f"b{b}", now=T0))
        n += size
    return checkpoints


def test_each_batch_is_recorded_with_a_checkpoint_over_it(store, signer):
    checkpoints = fill(store, signer, 3, size=7)
    assert [c.tree_size for c in checkpoints] == [7, 14, 21]
    assert store.count() == 21
    assert store.latest_checkpoint() == checkpoints[-1]
    leaves = store.leaf_hashes(0, 21)
    assert Tree(leaves).root() == checkpoints[-1].root_hash
    assert Tree(leaves).root(7) == checkpoints[0].root_hash
    assert all(c.signed_by(signer.identity.public_key) for c in checkpoints)


def test_record_holds_what_an_auditor_needs(store, signer):
    appraisal = synthetic_appraisal(3)
    log_batch(store, signer, [appraisal], operator="alice", batch_id="b7", now=T0)
    row = store.records(0, 1)[0]
    record = json.loads(row.data)
    assert row.leaf_hash == leaf_hash(row.data)
    assert record["index"] == 0 and record["previous_leaf"] is None
    assert record["address"] == appraisal.address and record["serial"] == serial_of(3)
    assert record["verdict"] == "UNTRUSTED"
    assert "HASHBOARD_SERIAL_MISMATCH" in [r["code"] for r in record["reasons"]]
    assert record["manifest"] == {"issuer": "Example Mining Hardware Ltd", "sequence": 42,
                                  "digest": "sha256:" + "5a" * 32}
    assert record["policy_digest"] == "sha256:" + "0c" * 32
    assert set(record["evidence"]) >= {"claims_sha256", "transcript_sha256"}
    assert record["claims"]["unit.serial"]["value"] == serial_of(3)
    assert (record["station"], record["operator"], record["batch"]) == ("bench-1", "alice", "b7")
    assert record["time"] == "2026-11-02T08:00:00.000Z" and record["tool_version"]
    assert record["identity_sha256"] == appraisal.evidence.identity_sha256()


def test_records_chain_to_the_leaf_before_them(store, signer):
    fill(store, signer, 2, size=5)
    rows = store.records(0, 10)
    for prev, row in itertools.pairwise(rows):
        assert json.loads(row.data)["previous_leaf"] == prev.leaf_hash.hex()


def test_reverification_is_a_new_record_and_receipts_pick_the_latest(store, signer):
    fill(store, signer, 1, size=3)
    log_batch(store, signer, [synthetic_appraisal(1)], operator="bob", now=T0)
    assert store.count() == 4
    assert store.latest_index_for_serial(serial_of(1)) == 3
    assert store.select(Selection(serials=(serial_of(1),))) == [1, 3]


@pytest.mark.parametrize("statement", [
    "UPDATE records SET record = x'00' WHERE idx = 1",
    "DELETE FROM records WHERE idx = 2",
    "INSERT OR REPLACE INTO records (idx, record, leaf_hash, batch, time, address) "
    "VALUES (1, x'00', x'00', 'b', 't', 'a')",
    "INSERT INTO records (idx, record, leaf_hash, batch, time, address) VALUES (9, x'00', x'00', 'b', 't', 'a')",
    "UPDATE nodes SET hash = x'00'",
    "INSERT OR REPLACE INTO nodes (level, idx, hash) VALUES (1, 0, x'00')",
    "DELETE FROM checkpoints",
    "UPDATE checkpoints SET tree_size = 1",
    "INSERT INTO checkpoints (tree_size, envelope) VALUES (99, '{}')",
    "UPDATE meta SET value = 'someone else'",
    "INSERT OR REPLACE INTO meta (key, value) VALUES ('fingerprint', 'x')",
])
def test_sqlite_itself_refuses_to_change_or_remove_records(store, signer, statement):
    fill(store, signer, 1, size=4)
    db = sqlite3.connect(store.location)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute(statement)
    db.close()
    assert store.count() == 4


def test_a_log_belongs_to_one_station(tmp_path, store, signer):
    fill(store, signer, 1, size=2)
    other = make_signer(tmp_path / "other-station", "bench-2")
    with pytest.raises(LogError) as e:
        log_batch(store, other, [synthetic_appraisal(9)], operator="mallory", now=T0)
    assert e.value.code == "LOG_WRONG_STATION"
    with pytest.raises(LogError):
        export_bundle(store, other, tmp_path / "x.attestlog.jsonl")
    assert store.count() == 2


def test_proofs_from_the_stored_nodes_equal_those_from_the_leaves(store, signer):
    n = 0
    for size in (1, 2, 3, 5, 8, 13, 21, 17):  # uneven batches cross many subtree boundaries
        append_records(store, signer, [_plain_record(n + i) for i in range(size)], now=T0)
        n += size
    tree = Tree(store.leaf_hashes(0, n))
    for m in range(n):
        assert inclusion_proof(store, m, n) == inclusion_proof(tree, m, n)
        assert consistency_proof(store, m + 1, n) == consistency_proof(tree, m + 1, n)


def test_a_writer_that_lost_the_race_rebuilds_its_batch_on_top(tmp_path, store, signer):
    fill(store, signer, 1, size=3)
    rival = SqliteStore(store.location)

    class Racing:
        """Lets the rival append between this writer's read of the size and its append."""

        def __init__(self) -> None:
            self.raced = False

        def __getattr__(self, name):
            return getattr(store, name)

        def append_batch(self, *args, **kwargs):
            if not self.raced:
                self.raced = True
                append_records(rival, signer, [_plain_record(100), _plain_record(101)], now=T0)
            return store.append_batch(*args, **kwargs)

    checkpoint = append_records(Racing(), signer, [_plain_record(200)], now=T0)
    rival.close()
    assert checkpoint.tree_size == 6 and store.count() == 6
    assert json.loads(store.records(5, 6)[0].data)["index"] == 5
    export_bundle(store, signer, tmp_path / "b.attestlog.jsonl")
    assert verify_bundle(tmp_path / "b.attestlog.jsonl").ok


def test_full_disk_loses_nothing_and_the_log_still_verifies(tmp_path, store, signer):
    fill(store, signer, 3, size=10)
    before = store.latest_checkpoint()
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # the next page the log needs is not there
    with pytest.raises(LogError) as e:
        fill(store, signer, 1, size=50, start=30)
    assert e.value.code == "LOG_STORE_FULL"
    assert "full" in e.value.message and "intact" in e.value.message
    assert store.count() == 30 and store.latest_checkpoint() == before
    store._db.execute("PRAGMA max_page_count = 1073741823")  # space freed
    fill(store, signer, 1, size=5, start=30)
    export_bundle(store, signer, tmp_path / "after.attestlog.jsonl")
    assert verify_bundle(tmp_path / "after.attestlog.jsonl").ok


def test_read_only_log_gives_a_clear_error_and_loses_nothing(tmp_path, store, signer):
    fill(store, signer, 2, size=5)
    store._db.execute("PRAGMA query_only = ON")
    with pytest.raises(LogError) as e:
        fill(store, signer, 1, size=5, start=10)
    assert e.value.code == "LOG_STORE_READ_ONLY"
    assert store.count() == 10


def test_read_only_data_directory_gives_a_clear_error_and_loses_nothing(tmp_path, signer, read_only):
    place = tmp_path / "data"
    place.mkdir()
    with SqliteStore(place / "log.sqlite") as s:
        fill(s, signer, 2, size=5)
        first = s.latest_checkpoint()
    with read_only(place):
        with pytest.raises(LogError) as e, SqliteStore(place / "log.sqlite") as s:
            fill(s, signer, 1, size=5, start=10)
        assert e.value.code == "LOG_STORE_READ_ONLY"
        with pytest.raises(LogError) as e:
            SqliteStore(place / "new.sqlite")
        assert e.value.code == "LOG_STORE_READ_ONLY"
    with SqliteStore(place / "log.sqlite") as s:
        assert s.count() == 10 and s.latest_checkpoint() == first


def test_files_that_are_not_our_log_are_refused(tmp_path):
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    (tmp_path / "text.sqlite").write_text("not a database at all, just some text " * 100)
    for path in (other, tmp_path / "text.sqlite"):
        with pytest.raises(LogError) as e:
            SqliteStore(path)
        assert e.value.code == "LOG_STORE_UNAVAILABLE"
    with pytest.raises(LogError) as e:
        open_store(tmp_path / "absent.sqlite", create=False)
    assert e.value.code == "LOG_STORE_UNAVAILABLE"
    assert not (tmp_path / "absent.sqlite").exists()


def test_default_log_lives_in_the_data_directory():
    from attest.station import data_directory

    with open_store() as s:
        assert s.location == str(data_directory() / "log.sqlite")


def _plain_record(n: int) -> dict:
    return record_from_appraisal(synthetic_appraisal(n), station_id="bench-1", operator="t", batch_id="b",
                                 now=T0)


def test_an_export_never_writes_through_a_planted_symlink(tmp_path):
    """The temporary file beside an export used to be ``.NAME.PID.tmp``: predictable, and opened
    without O_EXCL, so a symlink planted under that name in a shared folder was written through."""
    import os

    from attest.log.files import write_text_atomically

    victim = tmp_path / "station-settings.toml"
    victim.write_text("keep me\n")
    target = tmp_path / "exports" / "bundle.attestlog.jsonl"
    target.parent.mkdir()
    (target.parent / f".{target.name}.{os.getpid()}.tmp").symlink_to(victim)
    write_text_atomically(target, "the bundle\n")
    assert victim.read_text() == "keep me\n"
    assert target.read_text() == "the bundle\n" and not target.is_symlink()
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as an ordinary write would make it

"""A streaming run's records: committed in small groups as verdicts come, a revision citing the
record it supersedes, one checkpoint at the end that extends the last one, and a run cut short
that keeps what was judged. The station log as a History reads them back."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

import pytest

from attest.history import HistoryUnavailable
from attest.log.append import append_records, log_batch, record_from_appraisal
from attest.log.consistency import check_extends_last_signed
from attest.log.errors import LogError
from attest.log.export import export_bundle
from attest.log.history import LogHistory
from attest.log.sqlite import SqliteStore
from attest.log.stream import COMMIT_RECORDS, RecordStream
from attest.log.verify import verify_bundle
from attest.verdict import Verdict, reason
from tests.log.synthetic import T0, serial_of, synthetic_appraisal


def records(store):
    return [json.loads(r.data) for r in store.records(0, store.count())]


def test_a_revision_is_a_new_record_citing_the_one_it_supersedes(store, signer, tmp_path):
    first, other = synthetic_appraisal(1), synthetic_appraisal(2)
    stream = RecordStream(store, signer, operator="alice", batch_id="pallet-9")
    stream.appraised(first)
    stream.appraised(other)
    cloned = replace(first, verdict=Verdict.UNTRUSTED,
                     reasons=(*first.reasons, reason("SERIAL_CLONED", "same serial or MAC as 10.0.0.77")))
    stream.revised(cloned)  # its original still waits for a commit: it is committed first, then cited
    summary = stream.close()

    assert (summary.recorded, summary.revisions, summary.first, summary.ok) == (3, 1, 0, True)
    log = records(store)
    assert [r["verdict"] for r in log] == ["TRUSTED", "TRUSTED", "UNTRUSTED"]
    assert "supersedes" not in log[0] and "supersedes" not in log[1]
    assert log[2]["supersedes"] == {"index": 0, "leaf_hash": store.leaf_hashes(0, 1)[0].hex()}
    assert log[2]["batch"] == "pallet-9" and log[2]["address"] == first.address
    assert summary.checkpoint is not None and summary.checkpoint.tree_size == 3
    assert store.latest_checkpoint() == summary.checkpoint
    bundle = tmp_path / "b.attestlog.jsonl"
    export_bundle(store, signer, bundle)
    assert verify_bundle(bundle, pinned=signer.identity.fingerprint).ok


def test_records_wait_for_a_commit_in_groups_and_the_end_flushes_them(store, signer):
    stream = RecordStream(store, signer, operator="alice", batch_id="b")
    for n in range(COMMIT_RECORDS + 3):
        stream.appraised(synthetic_appraisal(n))
    assert store.count() == COMMIT_RECORDS  # one transaction for the first group, the rest waits
    assert store.latest_checkpoint() is None  # signed once, at the end
    summary = stream.close()
    assert store.count() == COMMIT_RECORDS + 3 == summary.recorded
    assert summary.checkpoint is not None and summary.checkpoint.tree_size == COMMIT_RECORDS + 3


def test_a_scheduled_commit_records_a_verdict_without_waiting_for_the_next(store, signer):
    timers = []

    class Timer:
        def __init__(self, delay, callback):
            self.delay, self.callback, self.cancelled = delay, callback, False
            timers.append(self)

        def cancel(self):
            self.cancelled = True

    stream = RecordStream(store, signer, operator="alice", batch_id="b", schedule=Timer)
    stream.appraised(synthetic_appraisal(1))
    stream.appraised(synthetic_appraisal(2))
    assert len(timers) == 1 and store.count() == 0
    timers[0].callback()  # what the event loop does COMMIT_SECONDS later
    assert store.count() == 2
    stream.close()


def test_a_run_cut_short_keeps_what_was_judged_and_signs_it(tmp_path, signer):
    path = tmp_path / "log.sqlite"
    store = SqliteStore(path)
    stream = RecordStream(store, signer, operator="alice", batch_id="interrupted")
    try:
        stream.appraised(synthetic_appraisal(1))
        stream.appraised(synthetic_appraisal(2))
        raise KeyboardInterrupt  # Ctrl-C in the middle of the run
    except KeyboardInterrupt:
        summary = stream.close()
    finally:
        store.close()
    with SqliteStore(path, create=False) as reopened:
        assert reopened.count() == 2 == summary.recorded
        assert reopened.latest_checkpoint().tree_size == 2


def test_a_failing_log_stops_recording_not_the_run_and_says_how_many(store, signer, monkeypatch):
    stream = RecordStream(store, signer, operator="alice", batch_id="b")
    stream.appraised(synthetic_appraisal(1))
    stream.flush()

    def full(*args, **kwargs):
        raise LogError("LOG_STORE_FULL", "disk full")

    monkeypatch.setattr(store, "append_batch", full)
    stream.appraised(synthetic_appraisal(2))
    stream.flush()
    stream.appraised(synthetic_appraisal(3))
    monkeypatch.undo()
    summary = stream.close()
    assert (summary.recorded, summary.not_recorded) == (1, 2)
    assert summary.error is not None and summary.error.code == "LOG_STORE_FULL"
    assert store.count() == 1 and summary.checkpoint is not None  # what was recorded is still signed


def test_nothing_is_signed_over_a_tree_that_does_not_extend_the_last_checkpoint(tmp_path, signer):
    path = tmp_path / "log.sqlite"
    with SqliteStore(path) as store:
        log_batch(store, signer, [synthetic_appraisal(n) for n in range(6)], operator="a", now=T0)
        stream = RecordStream(store, signer, operator="a", batch_id="next")
        stream.appraised(synthetic_appraisal(6))
        stream.appraised(synthetic_appraisal(7))
        stream.flush()  # 8 records: the new root is the stored node 3/0, over the 6 signed ones and 2 new
        check_extends_last_signed(store, 8)  # as stored: it extends
    db = sqlite3.connect(path)  # someone with the file swaps in another tree's top node
    db.execute("DROP TRIGGER nodes_no_update")
    db.execute("UPDATE nodes SET hash = ? WHERE level = 3 AND idx = 0", (b"\x00" * 32,))
    db.commit()
    db.close()
    with SqliteStore(path) as store:
        with pytest.raises(LogError) as e:
            check_extends_last_signed(store, 8)
        assert e.value.code == "LOG_INCONSISTENT"
        stream = RecordStream(store, signer, operator="a", batch_id="after")
        stream.appraised(synthetic_appraisal(8))
        summary = stream.close()
        assert summary.error is not None and summary.error.code == "LOG_INCONSISTENT"
        assert store.latest_checkpoint().tree_size == 6  # nothing new was signed


def test_a_forged_citation_is_named_by_the_offline_verifier(store, signer, tmp_path):
    log_batch(store, signer, [synthetic_appraisal(1)], operator="a", batch_id="b", now=T0)
    forged = record_from_appraisal(synthetic_appraisal(1), station_id=signer.station_id, operator="a", batch_id="b",
                                   now=T0, supersedes=(0, b"\x11" * 32))  # a station bug, or a forger's
    append_records(store, signer, [forged], now=T0)
    bundle = tmp_path / "b.attestlog.jsonl"
    export_bundle(store, signer, bundle)
    report = verify_bundle(bundle, pinned=signer.identity.fingerprint)
    assert [f.code for f in report.findings] == ["LOG_SUPERSEDES_INVALID"] and report.findings[0].index == 1


def test_the_station_log_as_history_newest_first_revisions_counted_once(tmp_path, signer):
    path = tmp_path / "log.sqlite"
    history = LogHistory(path)
    try:
        assert history.lookup(serial_of(1)) == []  # no log yet: no history, not an unavailable one
        with SqliteStore(path) as store:
            log_batch(store, signer, [synthetic_appraisal(1), synthetic_appraisal(2)], operator="a",
                      batch_id="monday", now=T0)
            stream = RecordStream(store, signer, operator="a", batch_id="tuesday")
            stream.appraised(synthetic_appraisal(1))
            stream.revised(synthetic_appraisal(1))
            stream.close()
        seen = history.lookup(serial_of(1))
        assert [(s.batch, s.record) for s in seen] == [("tuesday", "bench-1 #3"), ("monday", "bench-1 #0")]
        assert seen[0].mac == "02:00:00:00:00:01" and seen[0].hashboards == tuple(f"HB-0000001-{i}" for i in range(3))
        assert history.lookup("SN-NEVER-SEEN") == []
    finally:
        history.close()


def test_a_log_that_cannot_be_read_is_history_unavailable(tmp_path):
    bogus = tmp_path / "notes.sqlite"
    db = sqlite3.connect(bogus)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    history = LogHistory(bogus)
    try:
        with pytest.raises(HistoryUnavailable, match="not a Rig Attest log"):
            history.lookup(serial_of(1))
    finally:
        history.close()


def test_history_lookups_run_off_the_event_loop(tmp_path, signer, monkeypatch):
    import asyncio
    import threading

    path = tmp_path / "log.sqlite"
    with SqliteStore(path) as store:
        log_batch(store, signer, [synthetic_appraisal(1)], operator="a", batch_id="monday", now=T0)
    threads = []
    original = SqliteStore.records_for_serial

    def spied(self, serial, limit):
        threads.append(threading.current_thread().name)
        return original(self, serial, limit)

    monkeypatch.setattr(SqliteStore, "records_for_serial", spied)
    history = LogHistory(path)
    try:
        found = asyncio.run(history.sightings(serial_of(1)))
    finally:
        history.close()
    assert [s.record for s in found] == ["bench-1 #0"]
    assert threads and threads[0].startswith("log-history")  # the loop's thread never waited on the disk

"""kill -9 in the middle of a 5,000-rig intake: nothing committed is lost, the log verifies,
and the next run carries on from where the killed one stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from attest.log.append import record_from_appraisal
from attest.log.export import export_bundle
from attest.log.merkle import leaf_hash
from attest.log.sqlite import SqliteStore
from attest.log.verify import verify_bundle
from tests.log.synthetic import T0, synthetic_appraisal

ROOT = Path(__file__).resolve().parents[2]
BATCHES, BATCH_SIZE = 50, 100
KILL_AFTER = 2000


def run_worker(log: Path, first_batch: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.log.append_worker", str(log), str(first_batch),
                             str(BATCHES), str(BATCH_SIZE)], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def expected_record(index: int) -> dict:
    return record_from_appraisal(synthetic_appraisal(index), station_id="bench-1", operator="night-shift",
                                 batch_id=f"batch-{index // BATCH_SIZE:03d}", now=T0)


def test_sigkill_mid_intake_keeps_every_committed_record_and_the_next_run_continues(
        tmp_path, signer, passphrase_env):
    log = tmp_path / "intake.sqlite"
    worker = run_worker(log, 0)
    assert worker.stdout is not None
    reported = 0
    for line in worker.stdout:
        reported = int(line.split()[1])
        if reported >= KILL_AFTER:
            break
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    worker.stdout.close()
    assert worker.returncode == -signal.SIGKILL

    with SqliteStore(log) as store:
        count = store.count()
        assert KILL_AFTER <= reported <= count < BATCHES * BATCH_SIZE, "the kill did not land mid-run"
        assert count % BATCH_SIZE == 0, "a batch was half-committed"
        before_restart = store.latest_checkpoint()
        assert before_restart is not None and before_restart.tree_size == count
        for row in store.records(0, count):
            record = json.loads(row.data)
            assert row.leaf_hash == leaf_hash(row.data)
            expected = expected_record(row.index)
            assert {k: record[k] for k in expected} == expected, row.index
        export_bundle(store, signer, tmp_path / "killed.attestlog.jsonl")
    assert verify_bundle(tmp_path / "killed.attestlog.jsonl", pinned=signer.identity.fingerprint).ok

    rerun = run_worker(log, count // BATCH_SIZE)
    out, _ = rerun.communicate(timeout=60)
    assert rerun.returncode == 0 and out.splitlines()[-1] == f"committed {BATCHES * BATCH_SIZE}"
    with SqliteStore(log) as store:
        assert store.count() == BATCHES * BATCH_SIZE
        export_bundle(store, signer, tmp_path / "resumed.attestlog.jsonl")
    report = verify_bundle(tmp_path / "resumed.attestlog.jsonl", pinned=signer.identity.fingerprint,
                           since=before_restart)
    assert report.ok, report.findings
    assert report.since_size == count and report.tree_size == BATCHES * BATCH_SIZE

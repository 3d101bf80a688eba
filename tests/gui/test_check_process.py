"""The check process: started from our own install (never a ``gui/`` in the working directory) and
never handed the station key; the station signs only checkpoints that extend its log."""

from __future__ import annotations

import pickle
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from attest.address import PortProfile
from attest.log.checkpoint import PAYLOAD_TYPE, sign_checkpoint
from attest.log.commands import log_appraisals
from attest.log.merkle import leaf_hash, push_leaf, root_from_frontier
from attest.log.sqlite import SqliteStore
from attest.policy import Policy
from attest.station import load_signer
from gui.check_frames import SignRequest
from gui.verification import LogPlan, answer_sign_request, plan_check, worker_command
from tests.log.synthetic import synthetic_appraisal


def test_the_check_process_starts_our_gui_package_not_one_in_the_working_directory(tmp_path: Path) -> None:
    """``python -m gui.check_worker`` imported whatever ``gui/`` the station was started beside."""
    planted = tmp_path / "intake" / "gui"
    planted.mkdir(parents=True)
    marker = tmp_path / "planted-code-ran"
    (planted / "__init__.py").write_text("")
    (planted / "check_worker.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    done = subprocess.run(worker_command(), cwd=planted.parent, input=b"", capture_output=True, timeout=60)
    assert not marker.exists()
    assert done.returncode == 0, done.stderr.decode()  # ours: no plan on stdin, a clean exit


def test_the_plan_sent_to_the_check_process_holds_no_station_key(tmp_path: Path) -> None:
    signer = load_signer(b"test passphrase")
    plan = plan_check([], manifests=(), policy=Policy(), default_ports=PortProfile(), request_timeout=None,
                      hash_timeout=None, concurrency=None,
                      log=LogPlan.of(str(tmp_path / "log.sqlite"), signer, "tester"))
    sent = pickle.dumps(plan)
    raw = signer.private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                           serialization.NoEncryption())
    assert raw not in sent
    assert b"private" not in sent.lower()


def _request(signer, base: int, leaves: list[bytes], frontier: list, root: bytes | None = None) -> SignRequest:
    grown = list(frontier)
    for offset, leaf in enumerate(leaves):
        push_leaf(grown, base + offset, leaf)
    asked = root or root_from_frontier(grown)
    checkpoint = sign_checkpoint(signer, base + len(leaves), asked, datetime.now(UTC))
    from attest.dsse import pae

    return SignRequest(pae(PAYLOAD_TYPE, checkpoint.payload), base, tuple(leaves))


def test_the_station_signs_only_a_checkpoint_that_extends_its_log(tmp_path: Path) -> None:
    signer = load_signer(b"test passphrase")
    db = tmp_path / "log.sqlite"
    log_appraisals(str(db), [synthetic_appraisal(i) for i in range(5)], signer=signer, batch_id="first")
    plan = LogPlan.of(str(db), signer, "tester")
    with SqliteStore(db, create=False) as store:
        frontier = [(0, i, store.node(0, i)) for i in range(4, 5)] + [(2, 0, store.node(2, 0))]
        frontier.sort(key=lambda n: -n[0])
    new = [leaf_hash(b"record five"), leaf_hash(b"record six")]
    good = answer_sign_request(_request(signer, 5, new, frontier), plan, signer)
    assert good.signature is not None and not good.code
    forked = answer_sign_request(_request(signer, 5, new, frontier, root=b"\x07" * 32), plan, signer)
    assert forked.signature is None and forked.code == "LOG_INCONSISTENT"
    rewound = answer_sign_request(_request(signer, 3, new, frontier[:1]), plan, signer)
    assert rewound.signature is None and "built on 3 records" in rewound.message
    locked = answer_sign_request(_request(signer, 5, new, frontier), plan, None)
    assert locked.signature is None and locked.code == "STATION_PASSPHRASE_NEEDED"

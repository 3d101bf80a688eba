"""Per-rig receipts: checkable alone, and every alteration is refused with its reason."""

from __future__ import annotations

import json

import pytest

from attest.log.append import append_records, log_batch, record_from_appraisal
from attest.log.errors import LogError
from attest.log.receipt import make_receipt, receipt_for_serial, verify_receipt, write_receipt
from attest.log.sqlite import SqliteStore
from tests.log.synthetic import T0, make_signer, serial_of, synthetic_appraisal


@pytest.fixture
def log(store, signer):
    for b in range(5):
        log_batch(store, signer, [synthetic_appraisal(b * 7 + i) for i in range(7)], operator="a", now=T0)
    return store


def codes(report):
    return [f.code for f in report.findings]


def test_every_record_gets_a_receipt_that_verifies_alone(tmp_path, log, signer):
    for index in range(log.count()):
        path = tmp_path / f"r{index}.json"
        write_receipt(path, make_receipt(log, index))
        report = verify_receipt(path, pinned=signer.identity.fingerprint)
        assert report.ok, (index, report.findings)
        assert report.index == index and report.tree_size == 35


def test_receipt_by_serial_is_for_the_units_latest_record(tmp_path, log, signer):
    log_batch(log, signer, [synthetic_appraisal(9)], operator="b", now=T0)
    receipt = receipt_for_serial(log, serial_of(9))
    assert receipt["index"] == 35 and receipt["record"]["serial"] == serial_of(9)
    write_receipt(tmp_path / "r.json", receipt)
    assert verify_receipt(tmp_path / "r.json").ok
    with pytest.raises(LogError) as e:
        receipt_for_serial(log, "NO-SUCH-UNIT")
    assert e.value.code == "LOG_RECORD_NOT_FOUND"


def test_receipt_against_an_older_checkpoint_still_verifies(tmp_path, log, signer):
    old = log.latest_checkpoint()
    append_records(log, signer, [record_from_appraisal(synthetic_appraisal(99), station_id="bench-1",
                                                       operator="a", batch_id="x", now=T0)], now=T0)
    write_receipt(tmp_path / "r.json", make_receipt(log, 3, old))
    assert verify_receipt(tmp_path / "r.json").ok


def tampered(tmp_path, log, change):
    receipt = make_receipt(log, 10)
    change(receipt)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(receipt))
    return verify_receipt(path)


def test_edited_record_in_a_receipt_is_refused(tmp_path, log):
    report = tampered(tmp_path, log, lambda r: r["record"].update(verdict="TRUSTED"))
    assert codes(report) == ["LOG_RECORD_EDITED"]


def test_edited_record_with_rewritten_leaf_hash_fails_the_proof(tmp_path, log):
    def change(r):
        r["record"]["verdict"] = "TRUSTED"
        r["leaf_hash"] = "00" * 32
    assert codes(tampered(tmp_path, log, change)) == ["LOG_INCLUSION_PROOF_INVALID"]


def test_bent_proof_is_refused(tmp_path, log):
    assert codes(tampered(tmp_path, log, lambda r: r["inclusion_proof"].reverse())) == ["LOG_INCLUSION_PROOF_INVALID"]
    assert codes(tampered(tmp_path, log, lambda r: r.update(index=11))) == ["LOG_INCLUSION_PROOF_INVALID"]


def test_receipt_from_another_station_key_is_refused_when_pinned(tmp_path, log, signer):
    forger = make_signer(tmp_path / "forger", "bench-1")
    with SqliteStore(tmp_path / "forged.sqlite") as other:
        log_batch(other, forger, [synthetic_appraisal(10)], operator="m", now=T0)
        write_receipt(tmp_path / "forged.json", make_receipt(other, 0))
    assert verify_receipt(tmp_path / "forged.json").ok  # self-consistent...
    report = verify_receipt(tmp_path / "forged.json", pinned=signer.identity.fingerprint)
    assert codes(report) == ["LOG_SIGNED_BY_OTHER_KEY"]  # ...but not the station's


def test_swapped_station_key_in_the_receipt_is_named(tmp_path, log):
    forger = make_signer(tmp_path / "forger", "x")
    report = tampered(tmp_path, log, lambda r: r.update(station_key=forger.identity.public_pem))
    assert codes(report) == ["LOG_SIGNED_BY_OTHER_KEY"]


@pytest.mark.parametrize("text, code", [
    ("not json", "LOG_UNREADABLE"),
    ('{"format": "rigattest.receipt/v9"}', "LOG_FORMAT_UNKNOWN"),
    ('{"format": "rigattest.receipt/v1"}', "LOG_UNREADABLE"),
    ('{"format": "rigattest.receipt/v1", "format": "x"}', "LOG_UNREADABLE"),
])
def test_unreadable_receipts_are_exit_2_errors(tmp_path, text, code):
    (tmp_path / "r.json").write_text(text)
    with pytest.raises(LogError) as e:
        verify_receipt(tmp_path / "r.json")
    assert e.value.code == code and e.value.exit_code == 2

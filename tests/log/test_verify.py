"""`attest log verify` on exported bundles: every kind of tampering is detected and named.

Tampering is done here the way an attacker would, with plain JSON and hashlib, not through
the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import rfc8785

from attest.log.append import log_batch
from attest.log.checkpoint import PAYLOAD_TYPE, read_checkpoint_file
from attest.log.errors import LogError
from attest.log.export import export_bundle, save_latest_checkpoint
from attest.log.sqlite import SqliteStore
from attest.log.store import Selection
from attest.log.verify import verify_bundle
from tests.log.synthetic import T0, make_signer, serial_of, synthetic_appraisal

N = 12


@pytest.fixture
def bundle(tmp_path, store, signer):
    for b in range(3):
        log_batch(store, signer, [synthetic_appraisal(b * 4 + i) for i in range(4)], operator="alice",
                  batch_id=f"b{b}", now=T0)
    path = tmp_path / "intake.attestlog.jsonl"
    export_bundle(store, signer, path, now=T0)
    return path


def lines_of(path):
    return path.read_text().splitlines(keepends=True)


def write(path, lines):
    path.write_text("".join(lines))


def codes(report):
    return [f.code for f in report.findings]


def record_line(index, record, leaf=None):
    data = rfc8785.dumps(record)
    leaf = leaf or hashlib.sha256(b"\x00" + data).hexdigest()
    return f'{{"index":{index},"leaf_hash":"{leaf}","record":{data.decode()}}}\n'


def test_an_untouched_bundle_verifies_against_the_pinned_key(bundle, signer):
    report = verify_bundle(bundle, pinned=signer.identity.fingerprint)
    assert report.ok, report.findings
    assert (report.tree_size, report.shown, report.hidden) == (N, N, 0)
    assert report.key_pinned and report.station == "bench-1"


def test_edited_record_is_named_by_index_and_serial(bundle):
    lines = lines_of(bundle)
    assert '"verdict":"UNTRUSTED"' in lines[1 + 3]
    lines[1 + 3] = lines[1 + 3].replace('"verdict":"UNTRUSTED"', '"verdict":"TRUSTED"')
    write(bundle, lines)
    report = verify_bundle(bundle)
    assert codes(report) == ["LOG_RECORD_EDITED"]
    assert report.findings[0].index == 3 and serial_of(3) in report.findings[0].message


def test_edited_record_with_its_leaf_hash_rewritten_is_still_named(bundle):
    lines = lines_of(bundle)
    line = json.loads(lines[1 + 3])
    line["record"]["verdict"] = "TRUSTED"
    lines[1 + 3] = record_line(3, line["record"])
    write(bundle, lines)
    report = verify_bundle(bundle)
    assert codes(report) == ["LOG_RECORD_EDITED"] and report.findings[0].index == 3


def test_edited_last_record_with_its_leaf_hash_rewritten_is_named(bundle):
    lines = lines_of(bundle)
    line = json.loads(lines[N])
    line["record"]["operator"] = "nobody"
    lines[N] = record_line(N - 1, line["record"])
    write(bundle, lines)
    report = verify_bundle(bundle)
    assert codes(report) == ["LOG_RECORD_EDITED"] and report.findings[0].index == N - 1


def test_missing_records_are_named(bundle):
    lines = lines_of(bundle)
    del lines[1 + 4 : 1 + 6]
    write(bundle, lines)
    report = verify_bundle(bundle)
    assert codes(report) == ["LOG_RECORDS_MISSING"]
    assert report.findings[0].index == 4 and "4-5" in report.findings[0].message


def test_reordered_records_are_named(bundle):
    lines = lines_of(bundle)
    lines[1 + 2], lines[1 + 7] = lines[1 + 7], lines[1 + 2]
    write(bundle, lines)
    report = verify_bundle(bundle)
    assert codes(report) == ["LOG_RECORDS_REORDERED"]
    assert "record 2" in report.findings[0].message


def test_reordered_and_renumbered_records_are_named(bundle):
    lines = lines_of(bundle)
    a, b = json.loads(lines[1 + 2]), json.loads(lines[1 + 7])
    lines[1 + 2] = record_line(2, b["record"], b["leaf_hash"])
    lines[1 + 7] = record_line(7, a["record"], a["leaf_hash"])
    write(bundle, lines)
    report = verify_bundle(bundle)
    assert codes(report) == ["LOG_RECORDS_REORDERED"]
    assert "position 2 holds the record signed as record 7" in report.findings[0].message


@pytest.mark.parametrize("cut", ["mid-file", "checkpoint-line", "tail-records", "mid-checkpoint"])
def test_truncated_bundles_are_named(bundle, cut):
    lines = lines_of(bundle)
    if cut == "mid-file":
        bundle.write_bytes(bundle.read_bytes()[: len("".join(lines[:6])) + 40])
    elif cut == "checkpoint-line":
        write(bundle, lines[:-1])
    elif cut == "tail-records":
        write(bundle, [*lines[: 1 + N - 3], lines[-1]])
    else:
        bundle.write_bytes(bundle.read_bytes()[:-30])
    report = verify_bundle(bundle)
    assert codes(report) == ["LOG_TRUNCATED"]
    if cut == "tail-records":
        assert report.findings[0].index == N - 3


def forge_checkpoint(envelope, forger, **changes):
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload.update(changes)
    body = rfc8785.dumps(payload)
    pae = b"DSSEv1 %d %b %d %b" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(body), body)
    return {"payload": base64.b64encode(body).decode(), "payloadType": PAYLOAD_TYPE,
            "signatures": [{"keyid": forger.identity.fingerprint, "sig": base64.b64encode(forger.sign(pae)).decode()}]}


def test_bundle_resigned_by_another_key_fails_against_the_station_key(bundle, signer, tmp_path):
    forger = make_signer(tmp_path / "forger", "bench-1")
    lines = lines_of(bundle)
    header = json.loads(lines[0])
    header["station_key"], header["key_fingerprint"] = forger.identity.public_pem, forger.identity.fingerprint
    lines[0] = json.dumps(header) + "\n"
    lines[-1] = json.dumps({"checkpoint": forge_checkpoint(json.loads(lines[-1])["checkpoint"], forger)}) + "\n"
    write(bundle, lines)
    report = verify_bundle(bundle, pinned=signer.identity.fingerprint)
    assert codes(report) == ["LOG_SIGNED_BY_OTHER_KEY"]
    unpinned = verify_bundle(bundle)  # self-consistent: only pinning the key tells the difference
    assert unpinned.ok and not unpinned.key_pinned and unpinned.key_fingerprint == forger.identity.fingerprint


def test_checkpoint_signed_by_another_key_under_the_stations_header_is_named(bundle, tmp_path):
    forger = make_signer(tmp_path / "forger", "bench-1")
    lines = lines_of(bundle)
    lines[-1] = json.dumps({"checkpoint": forge_checkpoint(json.loads(lines[-1])["checkpoint"], forger)}) + "\n"
    write(bundle, lines)
    assert codes(verify_bundle(bundle)) == ["LOG_SIGNED_BY_OTHER_KEY"]


def test_checkpoint_edited_after_signing_is_named(bundle):
    lines = lines_of(bundle)
    envelope = json.loads(lines[-1])["checkpoint"]
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["tree_size"] = N - 1
    envelope["payload"] = base64.b64encode(rfc8785.dumps(payload)).decode()
    lines[-1] = json.dumps({"checkpoint": envelope}) + "\n"
    write(bundle, lines)
    report = verify_bundle(bundle)
    assert codes(report) == ["LOG_SIGNATURE_INVALID"]


def test_extra_records_are_named(bundle):
    lines = lines_of(bundle)
    write(bundle, [*lines, lines[3]])
    assert codes(verify_bundle(bundle)) == ["LOG_RECORDS_ADDED"]
    write(bundle, [*lines[:4], lines[3], *lines[4:]])
    assert codes(verify_bundle(bundle)) == ["LOG_RECORDS_ADDED"]
    unsigned = json.loads(lines[N])["record"] | {"index": N}
    write(bundle, [*lines[:-1], record_line(N, unsigned), lines[-1]])
    report = verify_bundle(bundle)
    assert codes(report) == ["LOG_RECORDS_ADDED"] and report.findings[0].index == N


@pytest.mark.parametrize("first_line, code", [
    ('{"format": "rigattest.log/v9", "station": "x", "station_key": "x"}\n', "LOG_FORMAT_UNKNOWN"),
    ('{"format": "something-else/v1"}\n', "LOG_FORMAT_UNKNOWN"),
    ('{"hello": "world"}\n', "LOG_FORMAT_UNKNOWN"),
    ("this is not json\n", "LOG_UNREADABLE"),
    ("", "LOG_UNREADABLE"),
])
def test_unknown_or_unreadable_formats_raise_exit_2_errors(bundle, first_line, code):
    lines = lines_of(bundle)
    write(bundle, [first_line, *lines[1:]] if first_line else [])
    with pytest.raises(LogError) as e:
        verify_bundle(bundle)
    assert e.value.code == code and e.value.exit_code == 2


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(LogError) as e:
        verify_bundle(tmp_path / "absent.attestlog.jsonl")
    assert e.value.code == "LOG_UNREADABLE"


def test_a_damaged_line_is_named(bundle):
    lines = lines_of(bundle)
    lines[1 + 5] = lines[1 + 5][:200] + "\n"
    write(bundle, lines)
    report = verify_bundle(bundle)
    assert codes(report) == ["LOG_RECORD_EDITED"] and report.findings[0].index == 5


def test_a_record_with_a_repeated_key_is_refused(bundle):
    lines = lines_of(bundle)
    lines[1 + 3] = lines[1 + 3].replace('"verdict":"UNTRUSTED"', '"verdict":"TRUSTED","verdict":"UNTRUSTED"')
    write(bundle, lines)
    assert codes(verify_bundle(bundle)) == ["LOG_RECORD_EDITED"]


def test_a_reformatted_but_unchanged_bundle_still_verifies(bundle):
    lines = lines_of(bundle)
    lines[1:-1] = [json.dumps(dict(reversed(json.loads(line).items())), indent=None) + "\r\n" for line in lines[1:-1]]
    write(bundle, lines)
    assert verify_bundle(bundle).ok


def test_consistency_with_an_earlier_checkpoint(tmp_path, store, signer):
    log_batch(store, signer, [synthetic_appraisal(i) for i in range(10)], operator="a", now=T0)
    save_latest_checkpoint(store, tmp_path / "monday.checkpoint.json")
    log_batch(store, signer, [synthetic_appraisal(i) for i in range(10, 15)], operator="a", now=T0)
    export_bundle(store, signer, tmp_path / "tuesday.attestlog.jsonl")
    monday = read_checkpoint_file(tmp_path / "monday.checkpoint.json")
    report = verify_bundle(tmp_path / "tuesday.attestlog.jsonl", since=monday)
    assert report.ok and report.since_size == 10


def test_rewritten_history_is_inconsistent_with_the_earlier_checkpoint(tmp_path, store, signer):
    log_batch(store, signer, [synthetic_appraisal(i) for i in range(10)], operator="a", now=T0)
    monday = save_latest_checkpoint(store, tmp_path / "monday.checkpoint.json")
    with SqliteStore(tmp_path / "rewritten.sqlite") as other:  # same key, a different past
        log_batch(other, signer, [synthetic_appraisal(i) for i in (0, 1, 2, 99, 4, 5, 6, 7, 8, 9)],
                  operator="a", now=T0)
        log_batch(other, signer, [synthetic_appraisal(i) for i in range(10, 15)], operator="a", now=T0)
        export_bundle(other, signer, tmp_path / "rewritten.attestlog.jsonl")
    with SqliteStore(tmp_path / "shorter.sqlite") as shorter:
        log_batch(shorter, signer, [synthetic_appraisal(i) for i in range(5)], operator="a", now=T0)
        export_bundle(shorter, signer, tmp_path / "shorter.attestlog.jsonl")
    rewritten = verify_bundle(tmp_path / "rewritten.attestlog.jsonl", since=monday)
    assert codes(rewritten) == ["LOG_INCONSISTENT"] and "rewritten" in rewritten.findings[0].message
    shorter_report = verify_bundle(tmp_path / "shorter.attestlog.jsonl", since=monday)
    assert codes(shorter_report) == ["LOG_INCONSISTENT"] and "removed" in shorter_report.findings[0].message


def test_earlier_checkpoint_from_another_station_key_is_named(tmp_path, bundle):
    forger = make_signer(tmp_path / "forger", "bench-1")
    with SqliteStore(tmp_path / "forged.sqlite") as other:
        log_batch(other, forger, [synthetic_appraisal(0)], operator="m", now=T0)
        foreign = other.latest_checkpoint()
    assert codes(verify_bundle(bundle, since=foreign)) == ["LOG_SIGNED_BY_OTHER_KEY"]


def test_selected_export_shows_some_records_and_still_verifies(tmp_path, store, signer):
    for b in range(3):
        log_batch(store, signer, [synthetic_appraisal(b * 4 + i) for i in range(4)], operator="a",
                  batch_id=f"b{b}", now=T0)
    path = tmp_path / "one-rig.attestlog.jsonl"
    export_bundle(store, signer, path, selection=Selection(serials=(serial_of(6), serial_of(9))))
    report = verify_bundle(path, pinned=signer.identity.fingerprint)
    assert report.ok and (report.shown, report.hidden, report.tree_size) == (2, N - 2, N)
    shown = [json.loads(line)["index"] for line in lines_of(path)[1:-1] if "record" in json.loads(line)]
    assert shown == [6, 9]
    batch = tmp_path / "b1.attestlog.jsonl"
    export_bundle(store, signer, batch, selection=Selection(batch="b1"))
    assert verify_bundle(batch).shown == 4
    lines = lines_of(path)
    hidden = json.loads(lines[1 + 9])
    lines[1 + 9] = json.dumps({"index": 9, "leaf_hash": hidden["leaf_hash"]}, separators=(",", ":")) + "\n"
    write(path, lines)
    assert codes(verify_bundle(path)) == ["LOG_RECORDS_MISSING"]


def test_an_empty_log_exports_and_verifies(tmp_path, store, signer):
    export_bundle(store, signer, tmp_path / "empty.attestlog.jsonl")
    report = verify_bundle(tmp_path / "empty.attestlog.jsonl", pinned=signer.identity.fingerprint)
    assert report.ok and report.tree_size == 0

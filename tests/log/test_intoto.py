"""The per-rig in-toto statements verify with securesystemslib given only the station's public key."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

from attest.log.append import log_batch
from attest.log.checkpoint import Checkpoint
from attest.log.intoto import export_statements
from tests.log.synthetic import T0, make_signer, serial_of, synthetic_appraisal

RIGS = 22  # includes unreachable units (every 11th from 5) that have no identity


@pytest.fixture
def statements(tmp_path, store, signer):
    log_batch(store, signer, [synthetic_appraisal(i) for i in range(RIGS)], operator="alice", batch_id="b1", now=T0)
    summary = export_statements(store, signer, tmp_path / "rigs.intoto.jsonl", None, store.count())
    lines = (tmp_path / "rigs.intoto.jsonl").read_text().splitlines()
    return summary, lines


def sslib_key_from_station_pem(pem: str) -> SSlibKey:
    """What a third party does with the published key: nothing of ours involved."""
    public = serialization.load_pem_public_key(pem.encode())
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SSlibKey.from_crypto(public, keyid=hashlib.sha256(raw).hexdigest())


def test_every_statement_verifies_with_securesystemslib(statements, signer):
    summary, lines = statements
    key = sslib_key_from_station_pem(signer.identity.public_pem)
    unreachable = sum(1 for i in range(RIGS) if i % 11 == 5)
    assert summary.written == len(lines) == RIGS - unreachable and summary.without_identity == unreachable
    for line in lines:
        envelope = Envelope.from_dict(json.loads(line))
        assert envelope.payload_type == "application/vnd.in-toto+json"
        assert list(envelope.verify([key], 1)) == [key.keyid]


def test_statement_follows_in_toto_v1_and_the_verification_summary_shape(statements):
    _, lines = statements
    by_serial = {}
    for line in lines:
        statement = json.loads(base64.b64decode(json.loads(line)["payload"]))
        by_serial[statement["subject"][0]["name"]] = statement
    trusted, untrusted = by_serial[serial_of(1)], by_serial[serial_of(3)]
    assert trusted["_type"] == "https://in-toto.io/Statement/v1"
    assert trusted["predicateType"] == "https://rigattest.example/verification-summary/v1"
    assert trusted["subject"][0]["digest"]["sha256"] == synthetic_appraisal(1).evidence.identity_sha256()
    p = trusted["predicate"]
    assert p["verifier"] == {"id": "bench-1", "version": {"rig-attest": p["verifier"]["version"]["rig-attest"]}}
    assert p["timeVerified"] == "2026-11-02T08:00:00.000Z"
    assert (p["verificationResult"], p["verdict"]) == ("PASSED", "TRUSTED")
    assert p["policy"]["digest"] == {"sha256": "0c" * 32}
    assert p["manifest"]["digest"] == {"sha256": "5a" * 32} and p["manifest"]["sequence"] == 42
    assert set(p["evidence"]) == {"claims", "transcript"} and p["log"]["index"] == 1
    assert untrusted["predicate"]["verificationResult"] == "FAILED"
    assert "HASHBOARD_SERIAL_MISMATCH" in untrusted["predicate"]["reasons"]


def test_an_altered_statement_or_a_foreign_key_fails_independent_verification(statements, signer, tmp_path):
    _, lines = statements
    doc = json.loads(lines[0])
    statement = json.loads(base64.b64decode(doc["payload"]))
    statement["predicate"]["verificationResult"] = "PASSED"
    statement["predicate"]["verdict"] = "TRUSTED"
    doc["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    key = sslib_key_from_station_pem(signer.identity.public_pem)
    with pytest.raises(VerificationError):
        Envelope.from_dict(doc).verify([key], 1)
    other = make_signer(tmp_path / "other", "bench-1")
    with pytest.raises(VerificationError):
        Envelope.from_dict(json.loads(lines[1])).verify([sslib_key_from_station_pem(other.identity.public_pem)], 1)


def test_checkpoints_are_dsse_too_and_never_mistaken_for_statements(statements, store, signer):
    _, lines = statements
    key = sslib_key_from_station_pem(signer.identity.public_pem)
    checkpoint = store.latest_checkpoint()
    assert Envelope.from_dict(checkpoint.envelope()).verify([key], 1)
    with pytest.raises(ValueError):
        Checkpoint.from_envelope(json.loads(lines[0]))

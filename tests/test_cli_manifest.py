"""`attest manifest sign|verify|inspect` through the real entry point: exit codes and messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization

from attest.cli import main
from attest.sim.pki import make_vendor_pki, write_trust_store
from attest.sim.runner import manifest_payload, plan_fleet


@pytest.fixture
def vendor(tmp_path):
    pki = make_vendor_pki("Demo Mining Hardware Ltd")
    write_trust_store(pki, tmp_path / "trust")
    key = tmp_path / "vendor.key"
    key.write_bytes(pki.vendor_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.BestAvailableEncryption(b"s3cret")))
    certs = tmp_path / "chain.pem"
    certs.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM)
                               for c in (pki.vendor_cert, pki.intermediate_cert)))
    payload = tmp_path / "payload.json"
    doc = manifest_payload(plan_fleet(3, "genuine", "127.0.9.1"), sequence=5, now=datetime.now(UTC))
    payload.write_text(json.dumps(doc, indent=1))
    return tmp_path, key, certs, payload


def sign(tmp_path, key, certs, payload, monkeypatch, passphrase="s3cret"):
    monkeypatch.setenv("ATTEST_SIGNING_PASSPHRASE", passphrase)
    out = tmp_path / "manifest.dsse.json"
    return main(["manifest", "sign", str(payload), "--key", str(key), "--cert", str(certs), "-o", str(out)]), out


def test_sign_then_verify_accepts_and_inspect_lists_devices(vendor, monkeypatch, capsys):
    tmp_path, key, certs, payload = vendor
    code, out = sign(tmp_path, key, certs, payload, monkeypatch)
    assert code == 0
    assert main(["manifest", "verify", str(out), "--trust", str(tmp_path / "trust")]) == 0
    assert "accepted: Demo Mining Hardware Ltd, sequence 5, 3 devices" in capsys.readouterr().out
    assert main(["manifest", "inspect", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["devices"] == 3 and info["sequence"] == 5


def test_altered_manifest_is_refused_with_exit_4_and_the_reason(vendor, monkeypatch, capsys):
    tmp_path, key, certs, payload = vendor
    _, out = sign(tmp_path, key, certs, payload, monkeypatch)
    env = json.loads(out.read_text())
    import base64
    body = base64.b64decode(env["payload"]).replace(b'"sequence":5', b'"sequence":6')
    env["payload"] = base64.b64encode(body).decode()
    out.write_text(json.dumps(env))
    assert main(["manifest", "verify", str(out), "--trust", str(tmp_path / "trust")]) == 4
    assert "refused: MANIFEST_SIGNATURE_INVALID" in capsys.readouterr().err


def test_rollback_is_refused_after_a_newer_manifest_was_accepted(vendor, monkeypatch, capsys):
    tmp_path, key, certs, payload = vendor
    _, older = sign(tmp_path, key, certs, payload, monkeypatch)
    older = older.rename(tmp_path / "older.dsse.json")
    doc = json.loads(payload.read_text())
    doc["sequence"] = 9
    payload.write_text(json.dumps(doc))
    _, newer = sign(tmp_path, key, certs, payload, monkeypatch)
    trust = str(tmp_path / "trust")
    assert main(["manifest", "verify", str(newer), "--trust", trust]) == 0
    assert main(["manifest", "verify", str(older), "--trust", trust]) == 4
    assert "MANIFEST_ROLLBACK" in capsys.readouterr().err


def test_wrong_passphrase_and_duplicate_keys_are_usage_errors(vendor, monkeypatch, capsys):
    tmp_path, key, certs, payload = vendor
    code, _ = sign(tmp_path, key, certs, payload, monkeypatch, passphrase="wrong")
    assert code == 2 and "SIGNING_KEY_UNUSABLE" in capsys.readouterr().err
    payload.write_text('{"schema": "rigattest.manifest/v1", "schema": "x"}')
    code, _ = sign(tmp_path, key, certs, payload, monkeypatch)
    assert code == 2 and "MANIFEST_DUPLICATE_KEYS" in capsys.readouterr().err


def test_missing_trust_store_and_unreadable_file_exit_2(tmp_path, capsys):
    assert main(["manifest", "inspect", str(tmp_path / "nope.json")]) == 2
    assert f"cannot read {tmp_path / 'nope.json'}: No such file or directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["manifest", "verify"])
    assert e.value.code == 2

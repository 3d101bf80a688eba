"""Signed manifests: the envelope and payload format, and every structural or time refusal.

Signer trust (chains, revocation, thresholds) is pinned in test_trust.py; openssl-made chains in
test_manifest_openssl.py.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from attest.manifest import (
    MAX_ENVELOPE_BYTES,
    MAX_PAYLOAD_BYTES,
    PAYLOAD_TYPE,
    Manifest,
    ManifestError,
    Signer,
    canonical_json,
    inspect_file,
    load_manifest,
    pae,
    parse_payload,
    sign_envelope,
    sign_file,
    verify_manifest,
)
from attest.sim.pki import make_vendor_pki
from attest.verdict import REASONS
from tests.manifest_helpers import (
    DIGEST,
    IDENTITY,
    ISSUER,
    NOW,
    manifest_payload,
    signed,
    store_for,
    to_bytes,
    vendor,
)


@pytest.fixture(scope="module")
def pki():
    return vendor()


@pytest.fixture
def trust(tmp_path, pki):
    return store_for(tmp_path / "trust", pki)


def refused(data: bytes, trust, code: str, **kwargs) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        verify_manifest(data, trust, now=kwargs.pop("now", NOW), **kwargs)
    assert info.value.code == code, info.value.message
    assert info.value.code in REASONS
    return info.value


def envelope_with_payload(pki, payload: bytes) -> bytes:
    return to_bytes(sign_envelope(payload, [pki.signer()]))


# --- the format ---------------------------------------------------------------------------------

def test_pae_matches_the_dsse_specification_example():
    assert pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_canonical_json_sorts_keys_and_drops_whitespace():
    assert canonical_json({"b": [1, "é"], "a": None}) == '{"a":null,"b":[1,"é"]}'.encode()


def test_envelope_signature_is_over_pae_with_key_id_and_certificate_chain(pki):
    envelope = sign_envelope(manifest_payload(), [pki.signer()])
    payload = base64.b64decode(envelope["payload"])
    assert envelope["payloadType"] == PAYLOAD_TYPE
    assert payload == canonical_json(manifest_payload())
    [sig] = envelope["signatures"]
    spki = pki.vendor_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert sig["keyid"] == hashlib.sha256(spki).hexdigest()
    assert [c.startswith("-----BEGIN CERTIFICATE-----") for c in sig["certs"]] == [True, True]
    pki.vendor_key.public_key().verify(base64.b64decode(sig["sig"]), pae(PAYLOAD_TYPE, payload),
                                       ec.ECDSA(hashes.SHA256()))


def test_pinned_key_envelope_has_no_certs_field():
    envelope = sign_envelope(manifest_payload(), [Signer(ed25519.Ed25519PrivateKey.generate())])
    assert "certs" not in envelope["signatures"][0]


def test_accepted_manifest_exposes_entries_firmware_and_signers(pki, trust):
    manifest = verify_manifest(signed([pki.signer()]), trust, now=NOW)
    assert (manifest.issuer, manifest.sequence) == (ISSUER, 42)
    assert manifest.digest == "sha256:" + hashlib.sha256(canonical_json(manifest_payload())).hexdigest()
    entry = manifest.entry_for_serial("SN-1")
    assert entry is not None and entry.control_board_serial == "CB-1" and entry.psu_serial == "PSU-1"
    assert [(hb.slot, hb.serial, hb.chips) for hb in entry.hashboards] == \
        [(0, "HB-10", None), (1, "HB-11", 108)]
    assert entry.origin == {"assembled_in": "US", "site": "Houston TX"}
    assert manifest.entry_for_identity(IDENTITY).serial is None
    assert manifest.entry_for_serial("nope") is None
    assert manifest.firmware[0].images["rootfs"] == DIGEST
    assert manifest.revoked_firmware[0].reason.startswith("remote shutdown")
    [signer] = manifest.signers
    assert signer.kind == "certificate" and "Manifest Signing" in signer.subject
    assert len(signer.chain) == 3 and "Root CA" in signer.chain[-1]
    summary = manifest.to_summary_json()
    assert summary["devices"] == 2 and summary["issued_at"] == "2026-11-01T00:00:00Z"
    assert summary["signers"][0]["keyid"] == signer.keyid
    json.dumps(summary)


# --- structural refusals --------------------------------------------------------------------

def test_wrong_payload_type_is_refused(pki, trust):
    envelope = sign_envelope(manifest_payload(), [pki.signer()])
    envelope["payloadType"] = "application/vnd.in-toto+json"
    error = refused(to_bytes(envelope), trust, "MANIFEST_WRONG_PAYLOAD_TYPE")
    assert "in-toto" in error.message


def test_truncated_envelope_is_refused_as_malformed(pki, trust):
    data = signed([pki.signer()])
    refused(data[: len(data) // 2], trust, "MANIFEST_MALFORMED")


@pytest.mark.parametrize("data", [b"", b"not json", b"[1, 2]", b'{"payload": 1}', b"\xff\xfe{}",
                                  b'{"payload": "%%%", "payloadType": "' + PAYLOAD_TYPE.encode()
                                  + b'", "signatures": [{"sig": ""}]}'])
def test_non_envelope_input_is_refused_as_malformed(trust, data):
    refused(data, trust, "MANIFEST_MALFORMED")


def test_deeply_nested_json_is_refused_as_malformed(trust):
    refused(b"[" * 200_000 + b"]" * 200_000, trust, "MANIFEST_MALFORMED")


def test_duplicate_key_in_envelope_is_refused(pki, trust):
    text = signed([pki.signer()]).decode()
    doubled = text.replace('"payloadType"', f'"payloadType": "{PAYLOAD_TYPE}", "payloadType"', 1)
    error = refused(doubled.encode(), trust, "MANIFEST_DUPLICATE_KEYS")
    assert "payloadType" in error.message


def test_duplicate_key_in_payload_is_refused_after_signature_check(pki, trust):
    body = canonical_json(manifest_payload())
    body = body.replace(b'"issuer":', b'"issuer":"Someone Else","issuer":', 1)
    error = refused(envelope_with_payload(pki, body), trust, "MANIFEST_DUPLICATE_KEYS")
    assert "'issuer'" in error.message


def test_non_canonical_payload_is_refused(pki, trust):
    body = json.dumps(manifest_payload(), indent=1).encode()
    error = refused(envelope_with_payload(pki, body), trust, "MANIFEST_NOT_CANONICAL")
    assert "byte 1" in error.message


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_in_payload_are_refused(pki, trust, token):
    body = canonical_json(manifest_payload()).replace(b'"sequence":42', b'"sequence":' + token)
    refused(envelope_with_payload(pki, body), trust, "MANIFEST_MALFORMED")


def test_number_outside_the_json_safe_range_is_not_canonical(pki, trust):
    body = canonical_json(manifest_payload()).replace(b'"sequence":42', b'"sequence":1e400')
    refused(envelope_with_payload(pki, body), trust, "MANIFEST_NOT_CANONICAL")


def test_oversized_envelope_is_refused_before_parsing(trust):
    refused(b" " * (MAX_ENVELOPE_BYTES + 1), trust, "MANIFEST_TOO_LARGE")


def test_oversized_payload_is_refused(pki, trust):
    envelope = sign_envelope(b"x" * (MAX_PAYLOAD_BYTES + 1), [pki.signer()])
    refused(to_bytes(envelope), trust, "MANIFEST_TOO_LARGE")


def test_too_many_signatures_are_refused(pki, trust):
    envelope = sign_envelope(manifest_payload(), [pki.signer()])
    envelope["signatures"] *= 17
    refused(to_bytes(envelope), trust, "MANIFEST_TOO_LARGE")


def test_unsigned_envelope_is_refused_as_signer_unknown(pki, trust):
    envelope = sign_envelope(manifest_payload(), [pki.signer()])
    envelope["signatures"] = []
    refused(to_bytes(envelope), trust, "MANIFEST_SIGNER_UNKNOWN")


def test_garbage_certificate_in_signature_is_refused_as_malformed(pki, trust):
    envelope = sign_envelope(manifest_payload(), [pki.signer()])
    envelope["signatures"][0]["certs"][0] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    error = refused(to_bytes(envelope), trust, "MANIFEST_MALFORMED")
    assert "certificate 1 of signature 1" in error.message


def test_payload_altered_after_signing_is_refused_as_signature_invalid(pki, trust):
    envelope = sign_envelope(manifest_payload(), [pki.signer()])
    other = sign_envelope(manifest_payload(sequence=43), [pki.signer()])
    envelope["payload"] = other["payload"]
    error = refused(to_bytes(envelope), trust, "MANIFEST_SIGNATURE_INVALID")
    assert "Manifest Signing" in error.message


def test_url_safe_base64_payload_is_accepted(pki, trust):
    envelope = sign_envelope(manifest_payload(), [pki.signer()])
    envelope["payload"] = envelope["payload"].replace("+", "-").replace("/", "_")
    assert verify_manifest(to_bytes(envelope), trust, now=NOW).sequence == 42


# --- schema -------------------------------------------------------------------------------------

def _device(**changes):
    device = dict(manifest_payload()["devices"][0])
    device.update(changes)
    return device


@pytest.mark.parametrize(("overrides", "where"), [
    ({"schema": "rigattest.manifest/v2"}, "schema"),
    ({"issuer": ""}, "issuer"),
    ({"sequence": -1}, "sequence"),
    ({"sequence": True}, "sequence"),
    ({"issued_at": "2026-11-01"}, "issued_at"),
    ({"expires_at": "2026-02-30T00:00:00Z"}, "expires_at"),
    ({"expires_at": "2026-10-01T00:00:00Z"}, "expires_at"),
    ({"extra": 1}, "unknown key 'extra'"),
    ({"firmware": [{"model": "S21", "version": "1", "images": {"rootfs": "md5:00"}}]},
     "firmware[0].images.rootfs"),
    ({"revoked_firmware": [{"digest": DIGEST}]}, "revoked_firmware[0]"),
    ({"devices": {}}, "devices"),
    ({"devices": [_device(), _device()]}, "devices[1].serial"),
    ({"devices": [_device(serial=None, identity_sha256=None)]}, "devices[0]"),
    ({"devices": [_device(identity_sha256="ABC")]}, "devices[0].identity_sha256"),
    ({"devices": [_device(hashboards=[{"slot": 0, "serial": "a"}, {"slot": 0, "serial": "b"}])]},
     "devices[0].hashboards"),
    ({"devices": [_device(origin={"site": 3})]}, "devices[0].origin.site"),
])
def test_schema_invalid_manifest_is_refused_naming_the_field(pki, trust, overrides, where):
    payload = manifest_payload(**overrides)
    error = refused(signed([pki.signer()], payload), trust, "MANIFEST_SCHEMA_INVALID")
    assert where in error.message


def test_missing_required_field_is_named():
    payload = manifest_payload()
    del payload["issuer"]
    with pytest.raises(ManifestError) as info:
        parse_payload(canonical_json(payload))
    assert info.value.code == "MANIFEST_SCHEMA_INVALID" and "'issuer'" in info.value.message


def test_parse_payload_returns_manifest_without_signers():
    manifest = parse_payload(canonical_json(manifest_payload()))
    assert isinstance(manifest, Manifest) and manifest.signers == ()


# --- time ---------------------------------------------------------------------------------------

def test_expired_manifest_is_refused(pki, trust):
    error = refused(signed([pki.signer()]), trust, "MANIFEST_EXPIRED",
                    now=NOW.replace(year=2027, day=1))
    assert "2027-11-01T00:00:00Z" in error.message


def test_manifest_issued_in_the_future_is_refused(pki, trust):
    payload = manifest_payload(issued_at="2026-11-02T13:00:00Z")
    error = refused(signed([pki.signer()], payload), trust, "MANIFEST_NOT_YET_VALID")
    assert "2026-11-02T13:00:00Z" in error.message


def test_manifest_issued_within_clock_skew_is_accepted(pki, trust):
    payload = manifest_payload(issued_at="2026-11-02T12:04:00Z")
    assert verify_manifest(signed([pki.signer()], payload), trust, now=NOW).sequence == 42


# --- files --------------------------------------------------------------------------------------

def test_load_manifest_reads_and_verifies_a_file(tmp_path, pki, trust):
    path = tmp_path / "m.dsse.json"
    path.write_bytes(signed([pki.signer()]))
    assert load_manifest(path, trust, now=NOW).issuer == ISSUER


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_unreadable_manifest_file_is_refused_as_malformed(tmp_path, trust, make):
    path = tmp_path / "m.dsse.json"
    if make == "directory":
        path.mkdir()
    with pytest.raises(ManifestError) as info:
        load_manifest(path, trust, now=NOW)
    assert info.value.code == "MANIFEST_MALFORMED" and str(path) in info.value.message


def test_oversized_manifest_file_is_refused_without_reading_it_all(tmp_path, trust):
    path = tmp_path / "big.json"
    with path.open("wb") as f:
        f.truncate(MAX_ENVELOPE_BYTES + 10)
    with pytest.raises(ManifestError) as info:
        load_manifest(path, trust, now=NOW)
    assert info.value.code == "MANIFEST_TOO_LARGE"


def test_sign_file_then_inspect_and_verify(tmp_path, pki, trust):
    (tmp_path / "payload.json").write_text(json.dumps(manifest_payload(), indent=2))
    key = tmp_path / "vendor.key"
    key.write_bytes(pki.vendor_key.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    certs = tmp_path / "chain.pem"
    certs.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM)
                               for c in pki.signer().certificates))
    out = tmp_path / "m.dsse.json"
    sign_file(tmp_path / "payload.json", key=key, certs=[certs], out=out)
    info = inspect_file(out)
    assert info["issuer"] == ISSUER and info["devices"] == 2 and "signers" not in info
    assert "Manifest Signing" in info["signatures"][0]["certificates"][0]
    assert load_manifest(out, trust, now=NOW).sequence == 42


def test_sign_file_refuses_an_invalid_payload(tmp_path, pki):
    (tmp_path / "payload.json").write_text(json.dumps(manifest_payload(schema="nope")))
    key = tmp_path / "k.pem"
    key.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(ManifestError) as info:
        sign_file(tmp_path / "payload.json", key=key, out=tmp_path / "out.json")
    assert info.value.code == "MANIFEST_SCHEMA_INVALID"
    assert not (tmp_path / "out.json").exists()


def test_signing_with_a_certificate_for_another_key_is_refused(pki):
    wrong = Signer(ec.generate_private_key(ec.SECP256R1()), pki.signer().certificates)
    with pytest.raises(ManifestError) as info:
        sign_envelope(manifest_payload(), [wrong])
    assert info.value.code == "SIGNING_KEY_UNUSABLE"


def test_signing_with_an_unsupported_curve_is_refused():
    with pytest.raises(ManifestError) as info:
        sign_envelope(manifest_payload(), [Signer(ec.generate_private_key(ec.SECP384R1()))])
    assert info.value.code == "SIGNING_KEY_UNUSABLE" and "secp384r1" in info.value.message


def test_verification_time_defaults_to_the_real_clock(tmp_path):
    live = make_vendor_pki(ISSUER)  # certificates valid around the real time
    trust = store_for(tmp_path / "t", live)
    old = manifest_payload(issued_at="2000-01-01T00:00:00Z", expires_at="2000-01-02T00:00:00Z")
    with pytest.raises(ManifestError) as info:
        verify_manifest(signed([live.signer()], old), trust)
    assert info.value.code == "MANIFEST_EXPIRED"

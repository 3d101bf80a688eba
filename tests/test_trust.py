"""The trust store: loading and managing it, pinned keys, k-of-n thresholds, per-issuer signer
lists, and the station's rollback memory. Certificate chains are in test_trust_chain.py."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from attest.dsse import key_id
from attest.manifest import ManifestError, Signer, sign_envelope, verify_manifest
from attest.sim.pki import make_vendor_pki, write_trust_store
from attest.trust import StationState, TrustError, TrustStore
from attest.trust_files import fingerprint
from tests.manifest_helpers import (
    ISSUER,
    NOW,
    leaf_signer,
    manifest_payload,
    signed,
    store_for,
    to_bytes,
    vendor,
    write_pem,
)


@pytest.fixture(scope="module")
def pki():
    return vendor()


@pytest.fixture(scope="module")
def eds():
    return [ed25519.Ed25519PrivateKey.generate() for _ in range(3)]


def refusal(data: bytes, trust: TrustStore, code: str, **kwargs) -> str:
    with pytest.raises(ManifestError) as info:
        verify_manifest(data, trust, now=NOW, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value.message


def issuer_toml(threshold: int, signers: list[str] | None = None) -> str:
    text = f'[issuers."{ISSUER}"]\nthreshold = {threshold}\n'
    if signers is not None:
        text += f"signers = {json.dumps(signers)}\n"
    return text


# --- pinned keys ------------------------------------------------------------------------------

def test_ed25519_pinned_key_signature_is_accepted(tmp_path, eds):
    trust = store_for(tmp_path / "t", keys=[eds[0].public_key()])
    manifest = verify_manifest(signed([Signer(eds[0])]), trust, now=NOW)
    [signer] = manifest.signers
    assert (signer.kind, signer.subject, signer.chain) == ("pinned-key", "keys/key0.pem", ())
    assert signer.keyid == key_id(eds[0].public_key())


@pytest.mark.parametrize("make", [lambda: ec.generate_private_key(ec.SECP256R1()),
                                  lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)],
                         ids=["p256", "rsa2048"])
def test_pinned_p256_and_rsa_keys_are_accepted(tmp_path, make):
    key = make()
    trust = store_for(tmp_path / "t", keys=[key.public_key()])
    assert verify_manifest(signed([Signer(key)]), trust, now=NOW).signers[0].kind == "pinned-key"


def test_pinned_key_is_found_without_a_keyid_hint(tmp_path, eds):
    trust = store_for(tmp_path / "t", keys=[eds[1].public_key(), eds[0].public_key()])
    envelope = sign_envelope(manifest_payload(), [Signer(eds[0])])
    del envelope["signatures"][0]["keyid"]
    assert verify_manifest(to_bytes(envelope), trust, now=NOW).signers[0].subject == "keys/key1.pem"


def test_pinned_key_signature_over_other_bytes_is_refused_as_signature_invalid(tmp_path, eds):
    trust = store_for(tmp_path / "t", keys=[eds[0].public_key()])
    envelope = sign_envelope(manifest_payload(), [Signer(eds[0])])
    envelope["signatures"][0]["sig"] = sign_envelope(manifest_payload(sequence=1),
                                                     [Signer(eds[0])])["signatures"][0]["sig"]
    message = refusal(to_bytes(envelope), trust, "MANIFEST_SIGNATURE_INVALID")
    assert "keys/key0.pem" in message and "Ed25519" in message


def test_bare_key_that_is_not_pinned_is_refused_as_signer_unknown(tmp_path, eds):
    trust = store_for(tmp_path / "t", keys=[eds[0].public_key()])
    message = refusal(signed([Signer(eds[1])]), trust, "MANIFEST_SIGNER_UNKNOWN")
    assert key_id(eds[1].public_key()) in message


def test_revoked_pinned_key_is_refused(tmp_path, eds):
    kid = key_id(eds[0].public_key())
    trust = store_for(tmp_path / "t", keys=[eds[0].public_key()],
                      toml=f'[revoked]\nkey_ids = ["{kid}"]\n')
    assert kid in refusal(signed([Signer(eds[0])]), trust, "MANIFEST_SIGNER_REVOKED")


# --- thresholds and issuer binding --------------------------------------------------------------

def test_two_of_three_threshold_is_met_by_two_distinct_keys(tmp_path, eds):
    trust = store_for(tmp_path / "t", keys=[k.public_key() for k in eds], toml=issuer_toml(2))
    manifest = verify_manifest(signed([Signer(eds[0]), Signer(eds[2])]), trust, now=NOW)
    assert len(manifest.signers) == 2


def test_one_signature_does_not_meet_a_threshold_of_two(tmp_path, eds):
    trust = store_for(tmp_path / "t", keys=[k.public_key() for k in eds], toml=issuer_toml(2))
    message = refusal(signed([Signer(eds[0])]), trust, "MANIFEST_THRESHOLD_NOT_MET")
    assert "requires 2" in message and "has 1" in message


def test_one_key_signing_twice_counts_once(tmp_path, eds):
    trust = store_for(tmp_path / "t", keys=[k.public_key() for k in eds], toml=issuer_toml(2))
    refusal(signed([Signer(eds[0]), Signer(eds[0])]), trust, "MANIFEST_THRESHOLD_NOT_MET")


def test_threshold_refusal_says_why_other_signatures_did_not_count(tmp_path, pki, eds):
    trust = store_for(tmp_path / "t", pki, keys=[eds[0].public_key()], toml=issuer_toml(2))
    expired = leaf_signer(pki, days_before=400, days_after=-1)
    message = refusal(signed([Signer(eds[0]), expired]), trust, "MANIFEST_THRESHOLD_NOT_MET")
    assert "Signature 2:" in message and "expired on" in message


def test_extra_signature_that_fails_does_not_block_a_met_threshold(tmp_path, pki, eds):
    trust = store_for(tmp_path / "t", pki)
    manifest = verify_manifest(signed([Signer(eds[1]), pki.signer()]), trust, now=NOW)
    assert [s.kind for s in manifest.signers] == ["certificate"]


def test_when_no_signature_counts_the_most_telling_failure_is_named(tmp_path, pki, eds):
    trust = store_for(tmp_path / "t", keys=[eds[0].public_key()])
    envelope = sign_envelope(manifest_payload(), [Signer(eds[1]), Signer(eds[0])])
    envelope["signatures"][1]["sig"] = envelope["signatures"][0]["sig"]
    message = refusal(to_bytes(envelope), trust, "MANIFEST_SIGNATURE_INVALID")
    assert "Signature 1:" in message and "Signature 2:" in message


def test_issuer_signers_list_excludes_other_trusted_keys(tmp_path, eds):
    allowed = key_id(eds[0].public_key())
    trust = store_for(tmp_path / "t", keys=[k.public_key() for k in eds],
                      toml=issuer_toml(1, [allowed]))
    message = refusal(signed([Signer(eds[1])]), trust, "MANIFEST_SIGNER_UNKNOWN")
    assert ISSUER in message and "does not allow" in message
    assert verify_manifest(signed([Signer(eds[0])]), trust, now=NOW).signers


def test_sim_trust_store_binds_the_issuer_to_its_own_root(tmp_path):
    demo, other = make_vendor_pki(ISSUER, now=NOW), make_vendor_pki("Other Vendor", now=NOW)
    write_trust_store(demo, tmp_path / "t")
    write_pem(tmp_path / "t" / "roots" / "other.pem", other.root_cert)
    trust = TrustStore.load(tmp_path / "t")
    assert verify_manifest(signed([demo.signer()]), trust, now=NOW).issuer == ISSUER
    refusal(signed([other.signer()]), trust, "MANIFEST_SIGNER_UNKNOWN")
    assert verify_manifest(signed([other.signer()], manifest_payload(issuer="Other Vendor")),
                           trust, now=NOW).issuer == "Other Vendor"


# --- loading a broken store -------------------------------------------------------------------

def load_error(directory) -> str:
    with pytest.raises(TrustError) as info:
        TrustStore.load(directory)
    assert info.value.code == "TRUST_STORE_INVALID"
    return info.value.message


def test_unreadable_root_pem_is_refused_naming_the_file(tmp_path):
    (tmp_path / "roots").mkdir()
    (tmp_path / "roots" / "vendor.pem").write_text("-----BEGIN CERTIFICATE-----\nnope\n")
    assert "roots/vendor.pem" in load_error(tmp_path)


def test_non_ca_certificate_in_roots_is_refused(tmp_path, pki):
    write_pem(tmp_path / "roots" / "leaf.pem", pki.vendor_cert)
    assert "not a CA certificate" in load_error(tmp_path)


@pytest.mark.parametrize(("key", "words"), [
    (lambda: ec.generate_private_key(ec.SECP384R1()), "secp384r1"),
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "RSA-1024"),
], ids=["p384", "rsa1024"])
def test_unusable_pinned_key_is_refused_at_load(tmp_path, key, words):
    write_pem(tmp_path / "keys" / "weak.pem", key().public_key())
    message = load_error(tmp_path)
    assert "keys/weak.pem" in message and words in message


def test_garbage_crl_is_refused_at_load(tmp_path):
    (tmp_path / "crl").mkdir()
    (tmp_path / "crl" / "x.der").write_bytes(b"\x30\x03\x02\x01\x01")
    assert "crl/x.der" in load_error(tmp_path)


@pytest.mark.parametrize(("toml", "words"), [
    ("[issuers.x]\nthershold = 2\n", "thershold"),
    ("[revoked]\nkey_ids = ['abc']\n", "not a SHA-256"),
    ("[revoked]\ncert_serials = ['xyz']\n", "not a hex serial"),
    (f"[issuers.x]\nthreshold = 2\nsigners = ['{'a' * 64}']\n", "could ever be accepted"),
    ("[issuers.x]\nthreshold = 0\n", "at least 1"),
    ("not = [toml", "not valid TOML"),
])
def test_bad_trust_toml_is_refused_at_load(tmp_path, toml, words):
    (tmp_path / "trust.toml").write_text(toml)
    assert words in load_error(tmp_path)


def test_missing_directory_is_refused_unless_created(tmp_path):
    assert "not a directory" in load_error(tmp_path / "absent")
    store = TrustStore.load(tmp_path / "absent", create=True)
    assert store.describe() == [] and (tmp_path / "absent" / "roots").is_dir()


# --- managing the store -------------------------------------------------------------------------

def test_add_describe_and_remove_roots_and_keys(tmp_path, pki, eds):
    store = TrustStore.load(tmp_path / "t", create=True)
    root_fp = fingerprint(pki.root_cert)
    assert store.add_root(write_pem(tmp_path / "in" / "root.pem", pki.root_cert)) == [root_fp]
    assert store.add_root(tmp_path / "in" / "root.pem") == []  # already trusted
    kid = store.add_pinned_key(write_pem(tmp_path / "in" / "ed.pem", eds[0].public_key()))
    assert kid == key_id(eds[0].public_key())
    reloaded = TrustStore.load(tmp_path / "t")
    kinds = {(d["kind"], d["id"]) for d in reloaded.describe()}
    assert kinds == {("root", root_fp), ("pinned-key", kid)}
    assert verify_manifest(signed([pki.signer(), Signer(eds[0])]), reloaded, now=NOW)
    store.remove(f"SHA256:{root_fp.upper()}")
    store.remove(kid)
    assert store.describe() == [] and TrustStore.load(tmp_path / "t").describe() == []


def test_removing_one_root_keeps_the_others_in_the_same_file(tmp_path, pki):
    other = vendor("Other")
    (tmp_path / "roots").mkdir()
    (tmp_path / "roots" / "bundle.pem").write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (pki.root_cert, other.root_cert)))
    store = TrustStore.load(tmp_path)
    store.remove(fingerprint(pki.root_cert))
    assert [d["subject"] for d in TrustStore.load(tmp_path).describe()] == ["O=Other,CN=Other Root CA"]


def test_removing_an_unknown_id_is_an_error(tmp_path):
    with pytest.raises(TrustError):
        TrustStore.load(tmp_path).remove("00" * 32)


def test_adding_a_non_ca_root_is_refused(tmp_path, pki):
    with pytest.raises(TrustError):
        TrustStore.load(tmp_path).add_root(write_pem(tmp_path / "leaf.pem", pki.vendor_cert))


def test_describe_lists_crls_revocations_and_issuer_rules(tmp_path, pki):
    from attest.sim.pki import make_crl

    write_pem(tmp_path / "crl" / "sub.pem", make_crl(pki.intermediate_cert, pki.intermediate_key,
                                                     [pki.vendor_cert], now=NOW))
    (tmp_path / "trust.toml").write_text('[revoked]\ncert_serials = ["0A"]\n' + issuer_toml(1))
    kinds = [d["kind"] for d in TrustStore.load(tmp_path).describe()]
    assert kinds == ["crl", "revoked-serial", "issuer"]


# --- station rollback state -------------------------------------------------------------------

def test_rollback_is_refused_across_two_station_state_instances_on_one_file(tmp_path, pki):
    trust = store_for(tmp_path / "t", pki)
    path = tmp_path / "state" / "accepted.json"
    verify_manifest(signed([pki.signer()], manifest_payload(sequence=43)), trust, now=NOW,
                    state=StationState(path))
    message = refusal(signed([pki.signer()]), trust, "MANIFEST_ROLLBACK", state=StationState(path))
    assert "43" in message and "42" in message


def test_different_manifest_under_an_accepted_sequence_is_refused(tmp_path, pki):
    trust, state = store_for(tmp_path / "t", pki), StationState(tmp_path / "s.json")
    verify_manifest(signed([pki.signer()]), trust, now=NOW, state=state)
    other = manifest_payload(devices=[{"serial": "X", "model": "Antminer S21"}])
    refusal(signed([pki.signer()], other), trust, "MANIFEST_SEQUENCE_REUSED", state=state)


def test_same_manifest_verified_twice_and_newer_ones_are_accepted(tmp_path, pki):
    trust, state = store_for(tmp_path / "t", pki), StationState(tmp_path / "s.json")
    for sequence in (42, 42, 50):
        data = signed([pki.signer()], manifest_payload(sequence=sequence))
        verify_manifest(data, trust, now=NOW, state=state)
    assert state.accepted()[ISSUER].sequence == 50
    # no temp files left; the lock file stays (it is never replaced, so every writer locks the same file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json", "s.json.lock", "t"]


def test_refused_manifest_is_not_recorded(tmp_path, pki):
    trust, state = store_for(tmp_path / "t", pki), StationState(tmp_path / "s.json")
    refusal(signed([pki.signer()], manifest_payload(sequence=99, expires_at="2026-11-02T00:00:00Z")),
            trust, "MANIFEST_EXPIRED", state=state)
    assert state.accepted() == {}


def test_default_station_state_lives_in_attest_home(tmp_path, monkeypatch, pki):
    monkeypatch.setenv("ATTEST_HOME", str(tmp_path / "home"))
    verify_manifest(signed([pki.signer()]), store_for(tmp_path / "t", pki), now=NOW,
                    state=StationState.default())
    saved = json.loads((tmp_path / "home" / "accepted-manifests.json").read_text())
    assert saved["issuers"][ISSUER]["sequence"] == 42


def test_corrupt_station_state_is_an_error_not_a_fresh_start(tmp_path, pki):
    (tmp_path / "s.json").write_text("{ truncated")
    with pytest.raises(TrustError) as info:
        verify_manifest(signed([pki.signer()]), store_for(tmp_path / "t", pki), now=NOW,
                        state=StationState(tmp_path / "s.json"))
    assert "corrupt" in info.value.message

"""Certificate-chain signers: each way a chain can be wrong gets its own refusal code and a
sentence naming the certificate; revocation by trust.toml and by CRL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from attest.dsse import key_id
from attest.manifest import ManifestError, Signer, verify_manifest
from attest.sim.pki import make_certificate, make_crl, name
from tests.manifest_helpers import ISSUER, NOW, leaf_signer, signed, store_for, vendor, write_pem


@pytest.fixture(scope="module")
def pki():
    return vendor()


@pytest.fixture
def trust(tmp_path, pki):
    return store_for(tmp_path / "trust", pki)


def refused(signer: Signer, trust, code: str) -> str:
    with pytest.raises(ManifestError) as info:
        verify_manifest(signed([signer]), trust, now=NOW)
    assert info.value.code == code, info.value.message
    return info.value.message


def sub_ca(pki, *, key=None, eku=(ExtendedKeyUsageOID.CODE_SIGNING,), days_after=1000, ca=True):
    key = key or ec.generate_private_key(ec.SECP256R1())
    cert = make_certificate(name("Other Sub-CA", ISSUER), key.public_key(),
                            issuer_cert=pki.root_cert, issuer_key=pki.root_key, ca=ca,
                            not_before=NOW - timedelta(days=400),
                            not_after=NOW + timedelta(days=days_after), eku=eku)
    return cert, key


def leaf_under(sub_cert, sub_key, pki):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_certificate(name("Leaf Under Other Sub-CA", ISSUER), key.public_key(),
                            issuer_cert=sub_cert, issuer_key=sub_key, ca=False,
                            not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=30))
    return Signer(key, [cert, sub_cert])


# --- accepted -------------------------------------------------------------------------------

def test_leaf_under_code_signing_sub_ca_is_accepted(pki, trust):
    manifest = verify_manifest(signed([pki.signer()]), trust, now=NOW)
    assert manifest.signers[0].kind == "certificate"


def test_bare_webpki_ca_policy_would_refuse_the_code_signing_sub_ca(pki):
    """Pins why certchain passes its own CA validator (DESIGN.md): without it, a sub-CA whose
    EKU is codeSigning is refused for lacking clientAuth."""
    verifier = PolicyBuilder().store(Store([pki.root_cert])).time(NOW).build_client_verifier()
    with pytest.raises(VerificationError):
        verifier.verify(pki.vendor_cert, [pki.intermediate_cert])


def test_rsa_2048_signer_certificate_is_accepted(pki, trust):
    signer = leaf_signer(pki, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    assert verify_manifest(signed([signer]), trust, now=NOW).sequence == 42


# --- refused ----------------------------------------------------------------------------------

def test_expired_vendor_certificate_is_refused_as_chain_expired(pki, trust):
    message = refused(leaf_signer(pki, days_before=400, days_after=-1), trust, "MANIFEST_CHAIN_EXPIRED")
    assert "signer certificate" in message and "Variant Manifest Signing" in message
    assert "expired on 2026-11-01 12:00 UTC" in message


def test_expired_sub_ca_is_refused_as_chain_expired(pki, trust):
    sub, key = sub_ca(pki, days_after=-2)
    message = refused(leaf_under(sub, key, pki), trust, "MANIFEST_CHAIN_EXPIRED")
    assert "intermediate certificate" in message and "Other Sub-CA" in message


def test_not_yet_valid_vendor_certificate_is_refused(pki, trust):
    message = refused(leaf_signer(pki, days_before=-3), trust, "MANIFEST_CHAIN_NOT_YET_VALID")
    assert "not valid before 2026-11-05 12:00 UTC" in message


def test_vendor_certificate_for_client_auth_is_refused_as_not_code_signing(pki, trust):
    signer = leaf_signer(pki, eku=[ExtendedKeyUsageOID.CLIENT_AUTH])
    message = refused(signer, trust, "MANIFEST_SIGNER_NOT_CODE_SIGNING")
    assert "allows only clientAuth" in message and "1.3.6.1.5.5.7.3.3" in message


def test_vendor_certificate_without_any_eku_is_refused_as_not_code_signing(pki, trust):
    message = refused(leaf_signer(pki, eku=None), trust, "MANIFEST_SIGNER_NOT_CODE_SIGNING")
    assert "has no extended key usage" in message


def test_sub_ca_limited_to_server_auth_is_refused_as_not_code_signing(pki, trust):
    sub, key = sub_ca(pki, eku=[ExtendedKeyUsageOID.SERVER_AUTH])
    message = refused(leaf_under(sub, key, pki), trust, "MANIFEST_SIGNER_NOT_CODE_SIGNING")
    assert "Other Sub-CA" in message and "serverAuth" in message


def test_vendor_certificate_without_digital_signature_usage_is_refused(pki, trust):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(name("Encipher Only")).issuer_name(
        pki.intermediate_cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=1))
        .add_extension(x509.KeyUsage(False, False, True, False, False, False, False, False, False),
                       critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            pki.intermediate_key.public_key()), critical=False)
        .sign(pki.intermediate_key, hashes.SHA256()))
    message = refused(Signer(key, [cert, pki.intermediate_cert]), trust,
                      "MANIFEST_SIGNER_NOT_CODE_SIGNING")
    assert "digitalSignature" in message


def test_forged_vendor_certificate_is_refused_as_chain_invalid(pki, trust):
    forger = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    forged = make_certificate(name("Forged Signing", ISSUER), key.public_key(),
                              issuer_cert=pki.intermediate_cert, issuer_key=forger, ca=False,
                              not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=1))
    message = refused(Signer(key, [forged, pki.intermediate_cert]), trust, "MANIFEST_CHAIN_INVALID")
    assert "did not sign it" in message


def test_certificate_issued_by_a_non_ca_is_refused_as_chain_invalid(pki, trust):
    not_ca, key = sub_ca(pki, ca=False)
    message = refused(leaf_under(not_ca, key, pki), trust, "MANIFEST_CHAIN_INVALID")
    assert "does not chain to a trusted root" in message


def test_chain_to_another_vendors_root_is_refused_as_signer_unknown(trust):
    message = refused(vendor("Someone Else").signer(), trust, "MANIFEST_SIGNER_UNKNOWN")
    assert "Someone Else Root CA" in message and "not a root in the trust store" in message


def test_missing_intermediate_is_refused_as_an_incomplete_chain(pki, trust):
    signer = Signer(pki.vendor_key, [pki.vendor_cert])
    message = refused(signer, trust, "MANIFEST_CHAIN_INCOMPLETE")
    assert "Sub-CA" in message and "missing that intermediate certificate" in message


def test_store_without_roots_refuses_certificate_signers(pki, tmp_path):
    message = refused(pki.signer(), store_for(tmp_path / "empty"), "MANIFEST_SIGNER_UNKNOWN")
    assert "no root certificates" in message


@pytest.fixture
def unchecked_signing(monkeypatch):
    """sign_envelope refuses keys no verifier accepts; bypass that to test the verifier."""
    monkeypatch.setattr("attest.manifest._check_signing_key", lambda signer: None)


@pytest.mark.usefixtures("unchecked_signing")
def test_rsa_1024_signer_certificate_is_refused_as_key_too_small(pki, trust):
    signer = leaf_signer(pki, key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    message = refused(signer, trust, "MANIFEST_SIGNER_KEY_TOO_SMALL")
    assert "RSA-1024" in message and "2048" in message


@pytest.mark.usefixtures("unchecked_signing")
def test_p384_signer_certificate_is_refused_as_unusable(pki, trust):
    signer = leaf_signer(pki, key=ec.generate_private_key(ec.SECP384R1()))
    message = refused(signer, trust, "MANIFEST_SIGNATURE_INVALID")
    assert "secp384r1" in message


def test_signing_with_rsa_1024_is_refused_before_any_signature_is_made(pki):
    signer = leaf_signer(pki, key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ManifestError) as info:
        signed([signer])
    assert info.value.code == "MANIFEST_SIGNER_KEY_TOO_SMALL"


# --- revocation -------------------------------------------------------------------------------

def test_signer_key_revoked_in_trust_toml_is_refused(pki, tmp_path):
    kid = key_id(pki.vendor_key.public_key())
    trust = store_for(tmp_path / "t", pki, toml=f'[revoked]\nkey_ids = ["SHA256:{kid.upper()}"]\n')
    message = refused(pki.signer(), trust, "MANIFEST_SIGNER_REVOKED")
    assert kid in message and "trust.toml" in message


def test_sub_ca_serial_revoked_in_trust_toml_refuses_its_leaves(pki, tmp_path):
    serial = f"{pki.intermediate_cert.serial_number:x}"
    trust = store_for(tmp_path / "t", pki, toml=f'[revoked]\ncert_serials = ["0x{serial}"]\n')
    message = refused(pki.signer(), trust, "MANIFEST_SIGNER_REVOKED")
    assert "Sub-CA" in message


def test_crl_revoking_the_vendor_certificate_refuses_the_signer(pki, tmp_path):
    trust_dir = tmp_path / "t"
    write_pem(trust_dir / "crl" / "sub-ca.pem",
              make_crl(pki.intermediate_cert, pki.intermediate_key, [pki.vendor_cert], now=NOW))
    message = refused(pki.signer(), store_for(trust_dir, pki), "MANIFEST_SIGNER_REVOKED")
    assert "crl/sub-ca.pem" in message and "Manifest Signing" in message


def test_der_crl_from_the_root_revoking_the_sub_ca_refuses_the_signer(pki, tmp_path):
    trust_dir = tmp_path / "t"
    (trust_dir / "crl").mkdir(parents=True)
    crl = make_crl(pki.root_cert, pki.root_key, [pki.intermediate_cert], now=NOW)
    (trust_dir / "crl" / "root.der").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    refused(pki.signer(), store_for(trust_dir, pki), "MANIFEST_SIGNER_REVOKED")


def test_crl_not_signed_by_the_issuing_ca_is_ignored(pki, tmp_path):
    """Anyone can write a CRL naming the sub-CA as issuer; only the sub-CA's key can revoke."""
    trust_dir = tmp_path / "t"
    impostor = ec.generate_private_key(ec.SECP256R1())
    write_pem(trust_dir / "crl" / "fake.pem",
              make_crl(pki.intermediate_cert, impostor, [pki.vendor_cert], now=NOW))
    assert verify_manifest(signed([pki.signer()]), store_for(trust_dir, pki), now=NOW).sequence == 42


def test_crl_not_listing_the_signer_leaves_it_trusted(pki, tmp_path):
    trust_dir = tmp_path / "t"
    other = leaf_signer(pki).certificates[0]
    write_pem(trust_dir / "crl" / "sub.pem",
              make_crl(pki.intermediate_cert, pki.intermediate_key, [other], now=NOW))
    assert verify_manifest(signed([pki.signer()]), store_for(trust_dir, pki), now=NOW).signers

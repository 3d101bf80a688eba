"""A demo vendor PKI shaped like a real code-signing hierarchy: root CA -> code-signing sub-CA
(EKU codeSigning) -> manifest-signing certificate (ECDSA P-256, EKU codeSigning).

The simulator uses it to sign the demo fleet's manifest and write a trust store that accepts it;
tests use the same builders to make the broken variants (expired, wrong EKU, revoked, ...).
Certificates carry the extensions ``cryptography``'s WebPKI CA profile insists on (critical
basicConstraints, keyUsage, subject/authority key identifiers), since verification uses it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from attest.manifest import Signer
from attest.trust_files import fingerprint

IssuingKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

_BACKDATE = timedelta(days=1)  # so a freshly made PKI is already valid on a slightly slow clock


@dataclass(frozen=True)
class VendorPKI:
    issuer: str
    root_cert: x509.Certificate
    root_key: ec.EllipticCurvePrivateKey
    intermediate_cert: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    vendor_cert: x509.Certificate
    vendor_key: ec.EllipticCurvePrivateKey

    def signer(self) -> Signer:
        return Signer(self.vendor_key, [self.vendor_cert, self.intermediate_cert])


def name(common_name: str, organisation: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    return x509.Name(attrs)


def make_certificate(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    *,
    issuer_cert: x509.Certificate | None,
    issuer_key: IssuingKey,
    ca: bool,
    not_before: datetime,
    not_after: datetime,
    eku: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.CODE_SIGNING,),
    path_length: int | None = None,
) -> x509.Certificate:
    """One certificate; ``issuer_cert=None`` makes it self-signed (a root)."""
    issuer_name = subject if issuer_cert is None else issuer_cert.subject
    issuer_public = issuer_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
                       critical=True)
        .add_extension(_key_usage(ca), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public),
                       critical=False)
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _key_usage(ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                         crl_sign=ca, encipher_only=False, decipher_only=False)


def make_vendor_pki(issuer: str, *, now: datetime | None = None) -> VendorPKI:
    now = now or datetime.now(UTC)
    start = now - _BACKDATE
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = make_certificate(name(f"{issuer} Root CA", issuer), root_key.public_key(),
                            issuer_cert=None, issuer_key=root_key, ca=True, not_before=start,
                            not_after=now + timedelta(days=3650), eku=None)
    sub_key = ec.generate_private_key(ec.SECP256R1())
    sub = make_certificate(name(f"{issuer} Code Signing Sub-CA", issuer), sub_key.public_key(),
                           issuer_cert=root, issuer_key=root_key, ca=True, not_before=start,
                           not_after=now + timedelta(days=1825), path_length=0)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_certificate(name(f"{issuer} Manifest Signing", issuer), leaf_key.public_key(),
                            issuer_cert=sub, issuer_key=sub_key, ca=False, not_before=start,
                            not_after=now + timedelta(days=365))
    return VendorPKI(issuer, root, root_key, sub, sub_key, leaf, leaf_key)


def make_crl(issuer_cert: x509.Certificate, issuer_key: IssuingKey,
             revoked: Sequence[x509.Certificate], *, now: datetime | None = None) -> x509.CertificateRevocationList:
    now = now or datetime.now(UTC)
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(issuer_cert.subject)
               .last_update(now - _BACKDATE)
               .next_update(now + timedelta(days=30)))
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(cert.serial_number)
            .revocation_date(now - timedelta(hours=1)).build())
    return builder.sign(issuer_key, hashes.SHA256())


def write_trust_store(pki: VendorPKI, directory: str | Path) -> Path:
    """roots/root.pem plus a trust.toml binding the issuer name to this root alone, so the demo
    store shows the setting a real multi-vendor station needs."""
    out = Path(directory)
    (out / "roots").mkdir(parents=True, exist_ok=True)
    (out / "roots" / "root.pem").write_bytes(pki.root_cert.public_bytes(serialization.Encoding.PEM))
    (out / "trust.toml").write_text(
        "# Only the demo vendor's root may sign manifests naming the demo vendor.\n"
        f"[issuers.{_toml_string(pki.issuer)}]\n"
        "threshold = 1\n"
        f"signers = [{_toml_string(fingerprint(pki.root_cert))}]\n",
        encoding="utf-8",
    )
    return out


def _toml_string(text: str) -> str:
    """JSON string syntax is TOML basic-string syntax, once DEL (raw-allowed in JSON) is escaped."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")

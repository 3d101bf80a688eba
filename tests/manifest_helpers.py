"""Shared builders for the manifest and trust tests: a payload, trust stores, signer variants."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from attest.evidence import identity_document, identity_fingerprint
from attest.manifest import Signer, sign_envelope
from attest.sim.pki import VendorPKI, make_certificate, make_vendor_pki, name
from attest.trust import TrustStore

ISSUER = "Example Mining Hardware Ltd"
#: A fixed clock: every certificate and manifest in these tests is dated against it.
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32
IDENTITY = identity_fingerprint(identity_document(
    serial="HID-2", mac="aa:bb:cc:00:00:02", control_board="CB-2", hashboards=["HB-20"], psu=None))


def manifest_payload(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": "rigattest.manifest/v1",
        "issuer": ISSUER,
        "sequence": 42,
        "issued_at": "2026-11-01T00:00:00Z",
        "expires_at": "2027-11-01T00:00:00Z",
        "firmware": [{"model": "Antminer S21", "version": "2026.09.1", "build": "Tue Sep 8 2026",
                      "images": {"rootfs": DIGEST, "boot": "sha256:" + "cd" * 32}}],
        "revoked_firmware": [{"digest": "sha256:" + "ef" * 32,
                              "reason": "remote shutdown hook (Antbleed)"}],
        "devices": [
            {"serial": "SN-1", "model": "Antminer S21", "mac": "aa:bb:cc:00:00:01",
             "control_board": {"serial": "CB-1"},
             "hashboards": [{"slot": 1, "serial": "HB-11", "chips": 108},
                            {"slot": 0, "serial": "HB-10", "chips": None}],
             "psu": {"serial": "PSU-1"}, "identity_sha256": None,
             "origin": {"assembled_in": "US", "site": "Houston TX"}},
            {"model": "Antminer S21", "identity_sha256": IDENTITY},
        ],
    }
    doc.update(overrides)
    return doc


def to_bytes(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, indent=2).encode()


def signed(signers: Sequence[Signer], payload: dict[str, Any] | bytes | None = None) -> bytes:
    return to_bytes(sign_envelope(manifest_payload() if payload is None else payload, signers))


def vendor(issuer: str = ISSUER) -> VendorPKI:
    return make_vendor_pki(issuer, now=NOW)


def store_for(directory: Path, *pkis: VendorPKI, toml: str = "",
              keys: Sequence[Any] = ()) -> TrustStore:
    """A trust store holding the roots of ``pkis``, pinned public ``keys`` and a trust.toml."""
    directory.mkdir(parents=True, exist_ok=True)
    for i, pki in enumerate(pkis):
        write_pem(directory / "roots" / f"root{i}.pem", pki.root_cert)
    for i, key in enumerate(keys):
        write_pem(directory / "keys" / f"key{i}.pem", key)
    if toml:
        (directory / "trust.toml").write_text(toml)
    return TrustStore.load(directory)


def write_pem(path: Path, thing: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(thing, x509.Certificate | x509.CertificateRevocationList):
        data = thing.public_bytes(serialization.Encoding.PEM)
    else:
        data = thing.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    path.write_bytes(data)
    return path


_DEFAULT = object()


def leaf_signer(pki: VendorPKI, *, key: Any = None, days_before: float = 1,
                days_after: float = 365, eku: Any = _DEFAULT,
                intermediate: x509.Certificate | None = None) -> Signer:
    """A signer certificate issued by ``pki``'s code-signing sub-CA, with the given twist:
    a negative ``days_before`` makes it not yet valid, a negative ``days_after`` expired."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    extra: dict[str, Any] = {} if eku is _DEFAULT else {"eku": eku}
    cert = make_certificate(name("Variant Manifest Signing", ISSUER), key.public_key(),
                            issuer_cert=pki.intermediate_cert, issuer_key=pki.intermediate_key,
                            ca=False, not_before=NOW - timedelta(days=days_before),
                            not_after=NOW + timedelta(days=days_after), **extra)
    return Signer(key, [cert, intermediate or pki.intermediate_cert])

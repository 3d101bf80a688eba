"""The station's trust store: whose signatures count on a manufacturing manifest.

A trust store is a directory the operator controls::

    roots/*.pem     vendor root CA certificates (a file may hold several). A manifest signature
                    that carries an X.509 chain counts when the chain leads to one of these, every
                    certificate is in date, and the signer certificate has the codeSigning
                    extended key usage (a sub-CA may be limited to codeSigning).
    keys/*.pem      pinned public keys (Ed25519, ECDSA P-256, RSA >= 2048), for vendors that sign
                    with a bare key. A signature by a pinned key counts whatever certificate it
                    carries.
    vendor-keys/*.pem
                    public keys vendors sign firmware files with (Bitmain's RSA root key), used
                    only by ``attest image`` for the vendor's own signatures, never for manifests.
    crl/*.pem|*.der certificate revocation lists. A CRL revokes a certificate only if the CRL's
                    signature verifies against the certificate in the signer's own chain that
                    issued the revoked one. Stale CRLs still count: a revocation does not expire.
    trust.toml      optional:
                        [revoked]
                        key_ids = ["<sha256 hex of DER SubjectPublicKeyInfo>", ...]
                        cert_serials = ["<hex serial>", ...]    # any certificate in a chain
                        [issuers."Example Mining Hardware Ltd"]
                        threshold = 2      # distinct trusted keys that must sign (default 1)
                        signers = ["<key id or root/CA SHA-256 fingerprint>", ...]

Without ``signers``, any trusted key may sign for any issuer name: a store holding roots of two
vendors lets either sign manifests naming the other. Set ``signers`` per issuer to bind each
issuer name to its own root or keys; the demo store written by ``attest.sim.pki`` does.

Station rollback state (``StationState``) lives outside the store, in the user's state
directory, because it is the station's memory rather than the operator's policy.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from attest.certchain import revocation_problem, subject, validate_chain
from attest.dsse import (
    MIN_RSA_BITS,
    SIGNING_KEY_TYPES,
    EnvelopeSignature,
    PublicKey,
    describe_key,
    key_id,
    signature_is_valid,
    unsupported_key_reason,
)
from attest.evidence import printable
from attest.manifest_model import ManifestError, SignerInfo
from attest.station_state import StationState
from attest.trust_files import (
    IssuerRule,
    LoadedCrl,
    PinnedKey,
    RootCert,
    TrustConfig,
    TrustError,
    fingerprint,
    normalise_id,
    parse_public_key_pem,
    parse_root_pem,
    read_bytes,
    read_config,
    read_crls,
    read_pinned_keys,
    read_roots,
    read_vendor_keys,
    write_atomically,
)

__all__ = ["SignatureCheck", "StationState", "TrustError", "TrustStore", "VerifiedSignature"]

#: When no signature counts, the refusal names the most telling failure: tampering first, then
#: problems with a signer we know, then "we do not know this signer at all".
_FAILURE_PRIORITY = (
    "MANIFEST_SIGNATURE_INVALID", "MANIFEST_SIGNER_REVOKED", "MANIFEST_SIGNER_KEY_TOO_SMALL",
    "MANIFEST_CHAIN_EXPIRED", "MANIFEST_CHAIN_NOT_YET_VALID", "MANIFEST_SIGNER_NOT_CODE_SIGNING",
    "MANIFEST_CHAIN_WEAK_ALGORITHM", "MANIFEST_CHAIN_INVALID", "MANIFEST_CHAIN_INCOMPLETE", "MANIFEST_SIGNER_UNKNOWN",
)


@dataclass(frozen=True)
class VerifiedSignature:
    info: SignerInfo
    ids: frozenset[str]  # key id plus the fingerprints of its chain: what [issuers] signers match


@dataclass(frozen=True)
class SignatureCheck:
    """Every signature of one envelope, sorted into the ones that count and why the rest don't."""

    verified: tuple[VerifiedSignature, ...]
    failures: tuple[ManifestError, ...]

    def failure_summary(self) -> str:
        return " ".join(f.message for f in self.failures)


class TrustStore:
    def __init__(self, directory: Path, roots: list[RootCert], keys: list[PinnedKey],
                 crls: list[LoadedCrl], config: TrustConfig,
                 vendor_keys: list[PinnedKey] | None = None) -> None:
        self.directory = directory
        self.roots = roots
        self.keys = {k.keyid: k for k in keys}
        self.crls = crls
        self.config = config
        self.vendor_keys = {k.keyid: k for k in vendor_keys or []}

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, create: bool = False) -> TrustStore:
        """Read and check every file now; ``create`` makes an empty store (the GUI's first run)."""
        path = Path(directory)
        if create:
            for sub in ("roots", "keys", "crl"):
                (path / sub).mkdir(parents=True, exist_ok=True)
        if not path.is_dir():
            raise TrustError(f"{path} is not a directory")
        return cls(path, read_roots(path), read_pinned_keys(path), read_crls(path),
                   read_config(path), read_vendor_keys(path))

    def reload(self) -> None:
        fresh = TrustStore.load(self.directory)
        self.roots, self.keys, self.crls, self.config = fresh.roots, fresh.keys, fresh.crls, fresh.config
        self.vendor_keys = fresh.vendor_keys

    # --- verifying -------------------------------------------------------------------------

    def check_signatures(self, message: bytes, signatures: Sequence[EnvelopeSignature], *,
                         now: datetime) -> SignatureCheck:
        """Verify each signature over ``message`` (the DSSE PAE bytes) and establish its key's
        trust. Raises when none counts, naming the most telling failure."""
        verified: list[VerifiedSignature] = []
        failures: list[ManifestError] = []
        for sig in signatures:
            try:
                verified.append(self._check_one(message, sig, now))
            except ManifestError as e:
                prefix = f"Signature {sig.index}: " if len(signatures) > 1 else ""
                failures.append(ManifestError(e.code, prefix + e.message))
        if not verified:
            worst = min(failures, key=lambda f: _FAILURE_PRIORITY.index(f.code)
                        if f.code in _FAILURE_PRIORITY else len(_FAILURE_PRIORITY))
            message_text = worst.message if len(failures) == 1 else \
                f"No signature counts. {' '.join(f.message for f in failures)}"
            raise ManifestError(worst.code, message_text)
        return SignatureCheck(tuple(verified), tuple(failures))

    def accept_for_issuer(self, issuer: str, check: SignatureCheck) -> tuple[SignerInfo, ...]:
        """Apply trust.toml's per-issuer rule to signatures already verified; distinct keys are
        counted, so one key signing twice is still one signature."""
        rule = self.config.issuers.get(issuer, IssuerRule())
        counted: dict[str, SignerInfo] = {}
        not_allowed: list[SignerInfo] = []
        for v in check.verified:
            if rule.signers is not None and not v.ids & rule.signers:
                not_allowed.append(v.info)
            else:
                counted.setdefault(v.info.keyid, v.info)
        if not counted:
            who = ", ".join(f"'{s.subject}' (key {s.keyid[:16]}…)" for s in not_allowed)
            raise ManifestError("MANIFEST_SIGNER_UNKNOWN",
                                f"The manifest names the issuer '{issuer}', but it is signed only by "
                                f"{who}, which trust.toml does not allow to sign for that issuer.")
        if len(counted) < rule.threshold:
            others = f" {check.failure_summary()}" if check.failures else ""
            if not_allowed:
                others += (f" {len(not_allowed)} more valid signature(s) are by keys trust.toml does not "
                           "allow to sign for this issuer.")
            raise ManifestError("MANIFEST_THRESHOLD_NOT_MET",
                                f"'{issuer}' requires {rule.threshold} signatures by distinct trusted "
                                f"keys; this manifest has {len(counted)}.{others}")
        return tuple(counted.values())

    def _check_one(self, message: bytes, sig: EnvelopeSignature, now: datetime) -> VerifiedSignature:
        if sig.certs:
            leaf = sig.certs[0]
            pinned = self.keys.get(key_id(leaf.public_key()))
            if pinned is None:
                return self._check_chained(message, sig, now)
            return self._verified_pinned(message, sig, pinned)
        hint = normalise_id(sig.keyid) if sig.keyid else None
        if hint is not None and hint in self.keys:
            return self._verified_pinned(message, sig, self.keys[hint])
        for pinned in self.keys.values():
            if signature_is_valid(pinned.public_key, sig.sig, message):
                return self._verified_pinned(message, sig, pinned)
        named = f"the key {printable(hint, limit=80)}" if hint else "a key that it does not name"
        raise ManifestError("MANIFEST_SIGNER_UNKNOWN",
                            f"The manifest is signed by {named}, carries no certificate, and no "
                            f"pinned key in {self.directory / 'keys'} verifies it.")

    def _verified_pinned(self, message: bytes, sig: EnvelopeSignature,
                         pinned: PinnedKey) -> VerifiedSignature:
        if pinned.keyid in self.config.revoked_key_ids:
            raise ManifestError("MANIFEST_SIGNER_REVOKED",
                                f"The pinned key {pinned.keyid} ({pinned.file}) is revoked in trust.toml.")
        info = SignerInfo(pinned.keyid, "pinned-key", pinned.file, ())
        self._require_signature(message, sig, pinned.public_key, f"the pinned key {pinned.file}")
        return VerifiedSignature(info, frozenset({pinned.keyid}))

    def _check_chained(self, message: bytes, sig: EnvelopeSignature, now: datetime) -> VerifiedSignature:
        leaf = sig.certs[0]
        chain = validate_chain(leaf, sig.certs[1:], [r.cert for r in self.roots], now=now)
        problem = revocation_problem(chain, revoked_key_ids=self.config.revoked_key_ids,
                                     revoked_serials=self.config.revoked_serials, crls=self.crls)
        if problem is not None:
            raise problem
        key = leaf.public_key()
        reason = unsupported_key_reason(key)
        if reason is not None or not isinstance(key, SIGNING_KEY_TYPES):
            raise ManifestError("MANIFEST_SIGNATURE_INVALID",
                                f"The signer certificate '{subject(leaf)}' holds an unusable key: {reason}.")
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
            raise ManifestError("MANIFEST_SIGNER_KEY_TOO_SMALL",
                                f"The signer certificate '{subject(leaf)}' holds an RSA-{key.key_size} "
                                f"key; at least {MIN_RSA_BITS} bits are required.")
        self._require_signature(message, sig, key, f"the certificate '{subject(leaf)}'")
        kid = key_id(key)
        info = SignerInfo(kid, "certificate", subject(leaf), tuple(subject(c) for c in chain))
        return VerifiedSignature(info, frozenset({kid, *(fingerprint(c) for c in chain)}))

    @staticmethod
    def _require_signature(message: bytes, sig: EnvelopeSignature, key: PublicKey, who: str) -> None:
        if not signature_is_valid(key, sig.sig, message):
            raise ManifestError("MANIFEST_SIGNATURE_INVALID",
                                f"The signature by {who} ({describe_key(key)}) does not match the "
                                "manifest's contents: it was altered or damaged after signing.")

    # --- managing (the GUI's trust dialog) ------------------------------------------------

    def add_root(self, pem_path: str | os.PathLike[str]) -> list[str]:
        """Copy a root certificate file into roots/; returns the fingerprints added."""
        source = Path(pem_path)
        data = read_bytes(source, source.parent)
        certs = parse_root_pem(data, source.name)
        added: list[str] = []
        for cert in certs:
            fp = fingerprint(cert)
            if any(r.fingerprint == fp for r in self.roots):
                continue
            target = self.directory / "roots" / f"{_slug(cert)}-{fp[:12]}.pem"
            write_atomically(target, cert.public_bytes(serialization.Encoding.PEM))
            added.append(fp)
        self.reload()
        return added

    def add_pinned_key(self, pem_path: str | os.PathLike[str]) -> str:
        """Copy a public key into keys/ (normalised to SubjectPublicKeyInfo PEM); returns its id."""
        source = Path(pem_path)
        pinned = parse_public_key_pem(read_bytes(source, source.parent), source.name)
        if pinned.keyid not in self.keys:
            pem = pinned.public_key.public_bytes(serialization.Encoding.PEM,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
            write_atomically(self.directory / "keys" / f"{pinned.keyid[:16]}.pem", pem)
            self.reload()
        return pinned.keyid

    def remove(self, identifier: str) -> list[Path]:
        """Remove the root (by certificate fingerprint) or pinned key (by key id) named; a roots
        file holding other certificates is rewritten without it. Returns the files changed."""
        wanted = normalise_id(identifier)
        changed: list[Path] = []
        for root in [r for r in self.roots if r.fingerprint == wanted]:
            path = self.directory / root.file
            keep = [r.cert for r in self.roots if r.file == root.file and r.fingerprint != wanted]
            if keep:
                write_atomically(path, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in keep))
            else:
                path.unlink()
            changed.append(path)
        if wanted in self.keys:
            path = self.directory / self.keys[wanted].file
            path.unlink()
            changed.append(path)
        if not changed:
            raise TrustError(f"no root certificate or pinned key with id {identifier} in {self.directory}",
                             code="TRUST_STORE_INVALID")
        self.reload()
        return changed

    def describe(self) -> list[dict[str, Any]]:
        """One plain dict per thing the store trusts or refuses, for display."""
        out: list[dict[str, Any]] = []
        for r in self.roots:
            out.append({"kind": "root", "id": r.fingerprint, "subject": subject(r.cert),
                        "not_before": r.cert.not_valid_before_utc.isoformat(),
                        "not_after": r.cert.not_valid_after_utc.isoformat(), "file": r.file})
        for k in self.keys.values():
            out.append({"kind": "pinned-key", "id": k.keyid, "key_type": describe_key(k.public_key),
                        "file": k.file})
        for k in self.vendor_keys.values():
            out.append({"kind": "vendor-key", "id": k.keyid, "key_type": describe_key(k.public_key),
                        "file": k.file})
        for c in self.crls:
            out.append({"kind": "crl", "issuer": c.crl.issuer.rfc4514_string(),
                        "last_update": c.crl.last_update_utc.isoformat(),
                        "next_update": _iso_or_none(c.crl.next_update_utc),
                        "revoked": len(c.crl), "file": c.file})
        out += [{"kind": "revoked-key", "id": k} for k in sorted(self.config.revoked_key_ids)]
        out += [{"kind": "revoked-serial", "id": f"{s:x}"} for s in sorted(self.config.revoked_serials)]
        for name, rule in sorted(self.config.issuers.items()):
            out.append({"kind": "issuer", "issuer": name, "threshold": rule.threshold,
                        "signers": None if rule.signers is None else sorted(rule.signers)})
        return out


def _iso_or_none(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _slug(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    text = str(names[0].value) if names else "root"
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "root"

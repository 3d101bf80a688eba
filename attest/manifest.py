"""Signed manufacturing manifests: sign, verify, load.

A manifest is a DSSE envelope whose payload is RFC 8785 canonical JSON (DESIGN.md, "Signed
manufacturing manifest"). Verification never trusts the payload before its signatures: the
cheap structural checks on the envelope come first (size, strict JSON, payload type), then every
signature is checked over the exact payload bytes, and only then is the payload parsed and its
contents (issuer threshold, validity period, rollback) judged. Every refusal is a
``ManifestError`` with a stable code from ``attest.verdict.REASONS``.

The data model and payload schema live in ``attest.manifest_model`` and the DSSE primitives in
``attest.dsse``; both are re-exported here, which is the module to import.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from attest.canonical import canonical_json
from attest.certchain import load_certificate, subject
from attest.dsse import (
    MIN_RSA_BITS,
    DuplicateKeyError,
    EnvelopeSignature,
    NotJsonError,
    PrivateKey,
    b64decode,
    b64encode,
    key_id,
    pae,
    sign_bytes,
    strict_json_loads,
    unsupported_key_reason,
)
from attest.manifest_model import (
    MAX_ENVELOPE_BYTES,
    MAX_PAYLOAD_BYTES,
    PAYLOAD_TYPE,
    SCHEMA,
    FirmwareRelease,
    HashboardEntry,
    Manifest,
    ManifestEntry,
    ManifestError,
    RevokedFirmware,
    SignerInfo,
    parse_payload,
)
from attest.trust import StationState, TrustStore

__all__ = [
    "MAX_ENVELOPE_BYTES", "MAX_PAYLOAD_BYTES", "PAYLOAD_TYPE", "SCHEMA", "Envelope",
    "FirmwareRelease", "HashboardEntry", "Manifest", "ManifestEntry", "ManifestError",
    "ManifestFileUnreadable", "RevokedFirmware", "Signer", "SignerInfo", "canonical_json", "inspect_file",
    "load_manifest",
    "pae", "parse_payload", "read_envelope", "sign_envelope", "sign_file", "verify_manifest",
]

#: Clocks on intake benches drift; a manifest issued minutes "in the future" is not suspicious.
CLOCK_SKEW = timedelta(minutes=5)
#: Real manifests carry one to a handful; the caps bound the work a hostile file can demand.
MAX_SIGNATURES = 16
MAX_CERTS_PER_SIGNATURE = 8


class ManifestFileUnreadable(ManifestError):
    """The manifest file could not be read at all (missing, a directory, no permission).

    Still a refusal (MANIFEST_MALFORMED) for callers that only know ManifestError, such as the
    GUI's manifest list; the CLI tells it apart, because a mistyped path is a usage error (exit
    2, "cannot read FILE"), not a manifest that was checked and refused."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__("MANIFEST_MALFORMED", f"{path} cannot be read: {reason}.")
        self.path = path
        self.reason = reason


@dataclass
class Signer:
    """A signing key and, optionally, its certificate chain: leaf first, then intermediates."""

    private_key: PrivateKey
    certificates: list[x509.Certificate] = field(default_factory=list)


@dataclass(frozen=True)
class Envelope:
    """A structurally valid envelope of our payload type; nothing in it is trusted yet."""

    payload: bytes
    signatures: tuple[EnvelopeSignature, ...]


# --- signing ------------------------------------------------------------------------------------

def sign_envelope(payload: dict[str, Any] | bytes, signers: Sequence[Signer]) -> dict[str, Any]:
    """A DSSE envelope over ``payload``: a dict is canonicalised (RFC 8785); bytes are signed as
    given, so tests and tools can produce exactly the payload they mean to."""
    if not signers:
        raise ValueError("sign_envelope needs at least one signer")
    body = canonical_json(payload) if isinstance(payload, dict) else bytes(payload)
    message = pae(PAYLOAD_TYPE, body)
    signatures = []
    for signer in signers:
        public = signer.private_key.public_key()
        _check_signing_key(signer)
        entry: dict[str, Any] = {"keyid": key_id(public),
                                 "sig": b64encode(sign_bytes(signer.private_key, message))}
        if signer.certificates:
            entry["certs"] = [c.public_bytes(serialization.Encoding.PEM).decode("ascii")
                              for c in signer.certificates]
        signatures.append(entry)
    return {"payload": b64encode(body), "payloadType": PAYLOAD_TYPE, "signatures": signatures}


def _check_signing_key(signer: Signer) -> None:
    """Refuse to produce a signature every verifier would refuse."""
    public = signer.private_key.public_key()
    problem = unsupported_key_reason(public)
    if problem:
        raise ManifestError("SIGNING_KEY_UNUSABLE", f"The signing key is unusable: {problem}.")
    if isinstance(public, rsa.RSAPublicKey) and public.key_size < MIN_RSA_BITS:
        raise ManifestError("MANIFEST_SIGNER_KEY_TOO_SMALL",
                            f"The RSA-{public.key_size} signing key is too small; at least "
                            f"{MIN_RSA_BITS} bits are required.")
    if signer.certificates and key_id(signer.certificates[0].public_key()) != key_id(public):
        raise ManifestError("SIGNING_KEY_UNUSABLE",
                            f"The certificate '{subject(signer.certificates[0])}' is for a different "
                            "key than the signing key; give the leaf certificate first.")


# --- reading the envelope -------------------------------------------------------------------

def read_envelope(data: bytes) -> Envelope:
    """The structural checks, cheapest first; no signature is looked at yet."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise ManifestError("MANIFEST_TOO_LARGE", f"The manifest file is {len(data)} bytes; the "
                            f"limit is {MAX_ENVELOPE_BYTES}.")
    try:
        doc = strict_json_loads(data)
    except DuplicateKeyError as e:
        raise ManifestError("MANIFEST_DUPLICATE_KEYS",
                            f"The envelope repeats the key {e.key!r} in one object.") from None
    except NotJsonError as e:
        raise ManifestError("MANIFEST_MALFORMED", f"The manifest file is not JSON: {e}.") from None
    if not isinstance(doc, dict):
        raise _malformed("the file is JSON but not an object")
    payload_type, payload_text, raw_sigs = doc.get("payloadType"), doc.get("payload"), doc.get("signatures")
    if not isinstance(payload_type, str) or not isinstance(payload_text, str) or not isinstance(raw_sigs, list):
        raise _malformed("it needs the string fields 'payload' and 'payloadType' and a "
                         "'signatures' list")
    if payload_type != PAYLOAD_TYPE:
        raise ManifestError("MANIFEST_WRONG_PAYLOAD_TYPE",
                            f"The envelope holds {payload_type[:100]!r}, not {PAYLOAD_TYPE!r}.")
    try:
        payload = b64decode(payload_text)
    except ValueError:
        raise _malformed("its 'payload' is not valid base64") from None
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ManifestError("MANIFEST_TOO_LARGE", f"The manifest payload is {len(payload)} bytes; "
                            f"the limit is {MAX_PAYLOAD_BYTES}.")
    if not raw_sigs:
        raise ManifestError("MANIFEST_SIGNER_UNKNOWN", "The manifest carries no signatures.")
    if len(raw_sigs) > MAX_SIGNATURES:
        raise ManifestError("MANIFEST_TOO_LARGE", f"The envelope carries {len(raw_sigs)} signatures; "
                            f"the limit is {MAX_SIGNATURES}.")
    return Envelope(payload, tuple(_signature(s, i) for i, s in enumerate(raw_sigs, start=1)))


def _malformed(problem: str) -> ManifestError:
    return ManifestError("MANIFEST_MALFORMED", f"The file is not a DSSE envelope: {problem}.")


def _signature(raw: Any, index: int) -> EnvelopeSignature:
    if not isinstance(raw, dict) or not isinstance(raw.get("sig"), str):
        raise _malformed(f"signature {index} has no 'sig' string")
    keyid, certs = raw.get("keyid"), raw.get("certs", [])
    if keyid is not None and not isinstance(keyid, str):
        raise _malformed(f"signature {index} has a 'keyid' that is not a string")
    if not isinstance(certs, list) or not all(isinstance(c, str) for c in certs):
        raise _malformed(f"signature {index} has a 'certs' field that is not a list of PEM strings")
    if len(certs) > MAX_CERTS_PER_SIGNATURE:
        raise ManifestError("MANIFEST_TOO_LARGE", f"Signature {index} carries {len(certs)} "
                            f"certificates; the limit is {MAX_CERTS_PER_SIGNATURE}.")
    try:
        sig = b64decode(raw["sig"])
    except ValueError:
        raise _malformed(f"signature {index} is not valid base64") from None
    return EnvelopeSignature(index, keyid or None, sig,
                             tuple(_certificate(pem, index, n) for n, pem in enumerate(certs, start=1)))


def _certificate(pem: str, index: int, number: int) -> x509.Certificate:
    try:
        return load_certificate(pem.encode("utf-8"))
    except (ValueError, UnicodeEncodeError):
        raise _malformed(f"certificate {number} of signature {index} is not a PEM certificate") from None


# --- verifying ------------------------------------------------------------------------------

def verify_manifest(data: bytes, trust: TrustStore, *, now: datetime | None = None,
                    state: StationState | None = None) -> Manifest:
    """The whole check of one manifest file's bytes; on success (and with ``state``) remember
    its sequence so an older one is refused later. Raises ManifestError, or TrustError when
    the station's own state file is broken."""
    now = _utc(now)
    envelope = read_envelope(data)
    check = trust.check_signatures(pae(PAYLOAD_TYPE, envelope.payload), envelope.signatures, now=now)
    manifest = parse_payload(envelope.payload)
    signers = trust.accept_for_issuer(manifest.issuer, check)
    if manifest.expires_at < now:
        raise ManifestError("MANIFEST_EXPIRED", f"The manifest from '{manifest.issuer}' (sequence "
                            f"{manifest.sequence}) expired at {_iso(manifest.expires_at)}.")
    if manifest.issued_at > now + CLOCK_SKEW:
        raise ManifestError("MANIFEST_NOT_YET_VALID",
                            f"The manifest from '{manifest.issuer}' is issued at "
                            f"{_iso(manifest.issued_at)}, after this station's time {_iso(now)}.")
    if state is not None:
        state.check(manifest.issuer, manifest.sequence, manifest.digest)
        state.record(manifest.issuer, manifest.sequence, manifest.digest)
    return replace(manifest, signers=signers)


def load_manifest(path: str | os.PathLike[str], trust: TrustStore, *, now: datetime | None = None,
                  state: StationState | None = None) -> Manifest:
    return verify_manifest(_read_capped(Path(path)), trust, now=now, state=state)


def _read_capped(path: Path) -> bytes:
    """Read at most one byte past the cap, so a huge file is refused without loading it."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_ENVELOPE_BYTES + 1)
    except OSError as e:
        raise ManifestFileUnreadable(path, e.strerror or str(e)) from None
    if len(data) > MAX_ENVELOPE_BYTES:
        raise ManifestError("MANIFEST_TOO_LARGE",
                            f"{path} is larger than the {MAX_ENVELOPE_BYTES}-byte limit.")
    return data


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- files, for the CLI ---------------------------------------------------------------------

def inspect_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a manifest file says, WITHOUT checking its signatures (``attest manifest inspect``)."""
    envelope = read_envelope(_read_capped(Path(path)))
    summary = parse_payload(envelope.payload).to_summary_json()
    summary.pop("signers")  # nothing was verified; list what the signatures claim instead
    summary["signatures"] = [
        {"keyid": s.keyid, "certificates": [subject(c) for c in s.certs]} for s in envelope.signatures
    ]
    return summary


def sign_file(payload: str | os.PathLike[str], *, key: str | os.PathLike[str],
              certs: Sequence[str | os.PathLike[str]] = (), out: str | os.PathLike[str],
              passphrase: bytes | None = None) -> None:
    """``attest manifest sign``: check the payload is a valid manifest, then sign it."""
    try:
        doc = strict_json_loads(Path(payload).read_bytes())
    except OSError as e:
        raise ManifestError("MANIFEST_MALFORMED", f"{payload} cannot be read: {e.strerror or e}.") from None
    except DuplicateKeyError as e:
        raise ManifestError("MANIFEST_DUPLICATE_KEYS", f"{payload} repeats the key {e.key!r}.") from None
    except NotJsonError as e:
        raise ManifestError("MANIFEST_MALFORMED", f"{payload} is not JSON: {e}.") from None
    if not isinstance(doc, dict):
        raise ManifestError("MANIFEST_SCHEMA_INVALID", f"{payload} is not a JSON object.")
    parse_payload(canonical_json(doc))
    signer = Signer(_private_key(Path(key), passphrase), [c for p in certs for c in _cert_file(Path(p))])
    envelope = sign_envelope(doc, [signer])
    Path(out).write_text(json.dumps(envelope, indent=2) + "\n", encoding="utf-8")


def _private_key(path: Path, passphrase: bytes | None = None) -> PrivateKey:
    """Vendors keep signing keys encrypted; ``passphrase`` opens one (None for a plain PEM)."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    except OSError as e:
        raise ManifestError("SIGNING_KEY_UNUSABLE", f"{path} cannot be read: {e.strerror or e}.") from None
    except TypeError:
        what = "is encrypted: give its passphrase" if passphrase is None else "is not encrypted: give no passphrase"
        raise ManifestError("SIGNING_KEY_UNUSABLE", f"{path} {what}.") from None
    except ValueError as e:
        raise ManifestError("SIGNING_KEY_UNUSABLE",
                            f"{path} is not a PEM private key, or the passphrase is wrong: {e}.") from None
    signing_types = (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)
    problem = unsupported_key_reason(key.public_key())
    if problem or not isinstance(key, signing_types):
        raise ManifestError("SIGNING_KEY_UNUSABLE", f"{path}: {problem}.")
    return key


def _cert_file(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as e:
        raise ManifestError("SIGNING_KEY_UNUSABLE", f"{path} cannot be read: {e.strerror or e}.") from None
    except ValueError as e:
        raise ManifestError("SIGNING_KEY_UNUSABLE", f"{path} is not a PEM certificate file: {e}.") from None

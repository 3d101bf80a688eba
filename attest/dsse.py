"""DSSE building blocks: canonical JSON, the PAE encoding, key ids and raw signatures.

Kept apart from the manifest so that the format rules (what bytes are signed, how a key is
named) live in one place and cannot drift between signing and verifying. Nothing here decides
trust; it only answers "is this a well-formed signature by this key over these bytes".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
#: The key classes a manifest signer may use (EC further limited to P-256).
SIGNING_KEY_TYPES = (ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey, rsa.RSAPublicKey)

#: RSA below this is breakable by well-funded attackers; cryptography's path validation only
#: checks issuing keys, so signer keys are checked here.
MIN_RSA_BITS = 2048

_HASH = hashes.SHA256()


@dataclass(frozen=True)
class EnvelopeSignature:
    """One entry of an envelope's ``signatures``, decoded but not yet trusted in any way."""

    index: int  # 1-based position in the envelope, for messages
    keyid: str | None  # the envelope's hint: unauthenticated, only used to pick a pinned key
    sig: bytes
    certs: tuple[x509.Certificate, ...]  # leaf first, then intermediates; may be empty


class DuplicateKeyError(ValueError):
    """A JSON object repeats a key: two parsers could read two different documents."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} appears twice in one JSON object")
        self.key = key


class NotJsonError(ValueError):
    """The bytes are not strict JSON (RFC 8259): truncated, not UTF-8, NaN/Infinity, too deep."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: binds the payload type into what is signed, so a
    signature over one kind of document can never be replayed as another."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def strict_json_loads(data: bytes) -> Any:
    """Parse JSON the way a verifier must: UTF-8 only, no repeated keys, no NaN/Infinity.

    Python's json accepts all three by default, and each lets two readers of the same file
    disagree about what it says.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NotJsonError(f"not UTF-8 (byte {e.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_object, parse_constant=_no_constant)
    except DuplicateKeyError:
        raise
    except RecursionError:
        raise NotJsonError("nested too deeply") from None
    except json.JSONDecodeError as e:
        raise NotJsonError(f"{e.msg} at line {e.lineno} column {e.colno}") from None


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise NotJsonError(f"{name} is not a JSON number")


def b64decode(text: str) -> bytes:
    """DSSE says standard base64; verifiers should also take the URL-safe alphabet."""
    try:
        if "-" in text or "_" in text:
            return base64.b64decode(text, altchars=b"-_", validate=True)
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_id(public_key: PublicKeyTypes) -> str:
    """SHA-256 hex of the DER SubjectPublicKeyInfo: names a key the same way whether it came
    from a certificate, a pinned PEM or an envelope."""
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def describe_key(public_key: object) -> str:
    """Short human name for a key type, for refusal messages."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    return type(public_key).__name__


def unsupported_key_reason(public_key: object) -> str | None:
    """Why this key may not sign manifests (None when it may). RSA size is judged separately
    because it has its own refusal code."""
    if isinstance(public_key, ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        return None
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve,
                                                                         ec.SECP256R1):
        return None
    return (f"{describe_key(public_key)} keys cannot sign manifests; use Ed25519, "
            f"ECDSA P-256 or RSA of {MIN_RSA_BITS} bits or more")


def sign_bytes(private_key: PrivateKey, data: bytes) -> bytes:
    """Ed25519 raw; ECDSA DER over SHA-256; RSA-PSS over SHA-256 (salt = digest length)."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return private_key.sign(data, ec.ECDSA(_HASH))
    if isinstance(private_key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(_HASH), salt_length=padding.PSS.DIGEST_LENGTH)
        return private_key.sign(data, pss, _HASH)
    raise TypeError(f"cannot sign with {type(private_key).__name__}")


def signature_is_valid(public_key: PublicKey, signature: bytes, data: bytes) -> bool:
    """RSA takes PSS or PKCS#1 v1.5: vendor tooling differs (securesystemslib signs PSS,
    `openssl dgst -sign` PKCS#1 v1.5), and both are sound with SHA-256."""
    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(_HASH))
        elif isinstance(public_key, rsa.RSAPublicKey):
            return _rsa_signature_is_valid(public_key, signature, data)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _rsa_signature_is_valid(public_key: rsa.RSAPublicKey, signature: bytes, data: bytes) -> bool:
    schemes: Sequence[padding.AsymmetricPadding] = (
        padding.PSS(mgf=padding.MGF1(_HASH), salt_length=padding.PSS.AUTO),
        padding.PKCS1v15(),
    )
    for scheme in schemes:
        try:
            public_key.verify(signature, data, scheme, _HASH)
        except (InvalidSignature, ValueError):
            continue
        return True
    return False

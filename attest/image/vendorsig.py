"""Vendor signatures on firmware files: RSA PKCS#1 v1.5 over SHA-256, as ``openssl dgst -sha256
-sign`` makes them, checked with the trust store's ``vendor-keys/`` (never its manifest keys).

A signature is reported as exactly what it covers and who made it (``VendorSignature``); the
walker turns each into a reason. Vendor revocation data the station holds sits beside the keys:
``vendor-keys/runme-md5-blacklist.txt`` (one MD5 a line, ``#`` comments), the list Bitmain's
upgrader refuses ``runme.sh`` scripts by.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from attest.image.model import VendorSignature

if TYPE_CHECKING:
    from attest.image.containers.base import Context

BLACKLIST_FILE = "runme-md5-blacklist.txt"
_HEX = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}")


def rsa_verifies(key: object, signature: bytes, data: bytes | memoryview) -> bool:
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    try:
        key.verify(signature, bytes(data), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, UnsupportedAlgorithm):
        return False
    return True


def signature_bytes(raw: bytes | memoryview) -> bytes:
    """Raw signature bytes; a base64 text form (some tools write one) is decoded."""
    data = bytes(raw)
    if len(data) in (256, 384, 512):
        return data
    try:
        return base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        return data


def load_embedded_key(pem: bytes | memoryview) -> rsa.RSAPublicKey | None:
    """A bare RSA public key shipped inside a package (Bitmain's cert.pem, a BMU's miner.pem).
    Anything else is None, never an exception: ``UnsupportedAlgorithm`` (an EC key on a curve the
    library lacks) used to escape and end the whole package as IMAGE_CORRUPT, unaudited."""
    try:
        key = serialization.load_pem_public_key(bytes(pem).strip(b"\0 \r\n") + b"\n")
    except (ValueError, TypeError, UnsupportedAlgorithm):  # an EC key on a curve OpenSSL lacks, ...
        return None
    return key if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048 else None


def check_with_vendor_keys(ctx: Context, scheme: str, covers: str, data: bytes | memoryview,
                           signature: bytes | memoryview | None, path: str) -> bool:
    """Check one root-key signature; record it; True when a vendor key verifies it."""
    keys = [] if ctx.trust is None else list(ctx.trust.vendor_keys.values())
    if signature is None:
        ctx.signature(VendorSignature(scheme, covers, "vendor root key", "missing", path))
        return False
    sig = signature_bytes(signature)
    for key in keys:
        if rsa_verifies(key.public_key, sig, data):
            ctx.signature(VendorSignature(scheme, covers, f"vendor key {key.file}", "valid", path))
            return True
    if not keys:
        ctx.signature(VendorSignature(scheme, covers, "vendor root key (none in the trust store's vendor-keys/)",
                                      "unknown-key", path))
    else:
        ctx.signature(VendorSignature(scheme, covers, f"none of the {len(keys)} vendor key(s) in the trust store",
                                      "invalid", path))
    return False


def check_with_embedded_key(ctx: Context, scheme: str, covers: str, data: bytes | memoryview,
                            signature: bytes | memoryview | None, key: rsa.RSAPublicKey | None,
                            key_name: str, key_trusted: bool, path: str) -> bool:
    """A signature by a key the package carries: only as good as that key's own signature."""
    if signature is None:
        ctx.signature(VendorSignature(scheme, covers, key_name, "missing", path))
        return False
    if key is None:
        ctx.signature(VendorSignature(scheme, covers, f"{key_name} (not an RSA-2048+ public key)", "invalid", path))
        return False
    if not rsa_verifies(key, signature_bytes(signature), data):
        ctx.signature(VendorSignature(scheme, covers, key_name, "invalid", path))
        return False
    if not key_trusted:
        ctx.signature(VendorSignature(scheme, covers, f"{key_name}, itself not verified by a vendor key",
                                      "unknown-key", path))
        return False
    ctx.signature(VendorSignature(scheme, covers, key_name, "valid", path))
    return True


def runme_blacklist(ctx: Context) -> frozenset[str]:
    if ctx.trust is None:
        return frozenset()
    return _read_blacklist(ctx.trust.directory / "vendor-keys" / BLACKLIST_FILE)


def _read_blacklist(path: Path) -> frozenset[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[: 4 << 20]
    except OSError:
        return frozenset()
    return frozenset(m.group(0).lower() for line in text.splitlines()
                     if (m := _HEX.search(line.split("#", 1)[0])))

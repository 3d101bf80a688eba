"""Reading a trust store directory: every file checked at load, so a broken store fails loudly
with the file named, instead of quietly trusting less (or more) than the operator meant.

The layout is documented in ``attest.trust``; this module only turns files into values.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import tomllib
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from attest.certchain import DECODE_ERRORS, decode_fully
from attest.dsse import (
    MIN_RSA_BITS,
    SIGNING_KEY_TYPES,
    PublicKey,
    key_id,
    unsupported_key_reason,
)
from attest.evidence import printable
from attest.file_kind import not_a_public_key, not_a_root_certificate

#: No trust store file is legitimately this big; a cap keeps a mistaken path from eating memory.
MAX_TRUST_FILE_BYTES = 4 * 1024 * 1024

_HEX_ID = re.compile(r"[0-9a-f]{64}")
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)


class TrustError(Exception):
    """The trust store itself is broken or cannot be changed as asked. ``code`` is a key of
    ``attest.verdict.REASONS``; ``message`` names the file and what is wrong with it."""

    def __init__(self, message: str, code: str = "TRUST_STORE_INVALID") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RootCert:
    cert: x509.Certificate
    fingerprint: str  # SHA-256 hex of the DER certificate
    file: str  # path relative to the store, for messages and removal


@dataclass(frozen=True)
class PinnedKey:
    public_key: PublicKey
    keyid: str
    file: str


@dataclass(frozen=True)
class LoadedCrl:
    crl: x509.CertificateRevocationList
    file: str


@dataclass(frozen=True)
class IssuerRule:
    """trust.toml ``[issuers."Name"]``: how many distinct keys must sign, and (if set) which
    keys or roots may sign for this issuer at all."""

    threshold: int = 1
    signers: frozenset[str] | None = None


@dataclass(frozen=True)
class TrustConfig:
    revoked_key_ids: frozenset[str] = frozenset()
    revoked_serials: frozenset[int] = frozenset()
    issuers: dict[str, IssuerRule] = field(default_factory=dict)


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def read_bytes(path: Path, store: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_TRUST_FILE_BYTES:
            raise TrustError(f"{_rel(path, store)} is larger than {MAX_TRUST_FILE_BYTES} bytes")
        return path.read_bytes()
    except OSError as e:
        raise TrustError(f"{_rel(path, store)} cannot be read: {e.strerror or e}") from None


def _rel(path: Path, store: Path) -> str:
    try:
        return path.relative_to(store).as_posix()
    except ValueError:
        return str(path)


def _files(directory: Path, suffixes: Iterable[str]) -> list[Path]:
    if not directory.is_dir():
        return []
    wanted = tuple(suffixes)
    return sorted(p for p in directory.iterdir() if p.is_file() and p.name.endswith(wanted))


def parse_root_pem(data: bytes, where: str) -> list[x509.Certificate]:
    """Every certificate in a PEM file; each must be a CA, since only CAs can anchor a chain."""
    try:
        certs = _decoded(lambda: x509.load_pem_x509_certificates(data))
    except DECODE_ERRORS:
        try:  # the same certificate in binary DER form (.cer/.der) is as good
            certs = _decoded(lambda: [x509.load_der_x509_certificate(data)])
        except DECODE_ERRORS:
            raise TrustError(not_a_root_certificate(where, data)) from None
    for cert in certs:
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise TrustError(f"{where}: '{printable(cert.subject.rfc4514_string(), limit=200)}' is not a CA "
                             "certificate (no basicConstraints CA:TRUE), so it cannot be a root: import the "
                             "certificate at the top of the vendor's chain, its root CA")
    return certs


def _decoded(load: Callable[[], list[x509.Certificate]]) -> list[x509.Certificate]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cert cryptography only half-accepts is refused
        certs = load()
        for cert in certs:
            decode_fully(cert)
    return certs


def read_roots(store: Path) -> list[RootCert]:
    out: list[RootCert] = []
    for path in _files(store / "roots", [".pem"]):
        where = _rel(path, store)
        out += [RootCert(c, fingerprint(c), where) for c in parse_root_pem(read_bytes(path, store), where)]
    return out


def parse_public_key_pem(data: bytes, where: str) -> PinnedKey:
    try:
        key = serialization.load_pem_public_key(data)
    except UnsupportedAlgorithm:
        raise TrustError(f"{where} is not a PEM public key this station can use: its algorithm or curve is not "
                         "supported (use Ed25519, ECDSA P-256/P-384 or RSA of 2048 bits or more)") from None
    except (ValueError, TypeError):
        raise TrustError(not_a_public_key(where, data)) from None
    problem = unsupported_key_reason(key)
    if problem or not isinstance(key, SIGNING_KEY_TYPES):
        raise TrustError(f"{where}: {problem}")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise TrustError(f"{where}: an RSA-{key.key_size} key is too small to pin; "
                         f"at least {MIN_RSA_BITS} bits are required")
    return PinnedKey(key, key_id(key), where)


def read_pinned_keys(store: Path) -> list[PinnedKey]:
    return [parse_public_key_pem(read_bytes(p, store), _rel(p, store))
            for p in _files(store / "keys", [".pem"])]


def read_vendor_keys(store: Path) -> list[PinnedKey]:
    """vendor-keys/*.pem: the keys vendors sign firmware files with (Bitmain's RSA root). Kept
    apart from keys/ so a firmware-signing key can never count as a manifest signer."""
    return [parse_public_key_pem(read_bytes(p, store), _rel(p, store))
            for p in _files(store / "vendor-keys", [".pem"])]


def read_crls(store: Path) -> list[LoadedCrl]:
    out: list[LoadedCrl] = []
    for path in _files(store / "crl", [".pem", ".der"]):
        where = _rel(path, store)
        data = read_bytes(path, store)
        try:
            if path.suffix == ".der":
                crls = [x509.load_der_x509_crl(data)]
            else:
                blocks = _PEM_CRL.findall(data)
                if not blocks:
                    raise ValueError("no '-----BEGIN X509 CRL-----' block")
                crls = [x509.load_pem_x509_crl(b) for b in blocks]
            for crl in crls:
                _decode_crl(crl)
        except DECODE_ERRORS as e:
            raise TrustError(f"{where} is not a CRL: {e}") from None
        out += [LoadedCrl(c, where) for c in crls]
    return out


def _decode_crl(crl: x509.CertificateRevocationList) -> None:
    """Decode every field now, so a damaged CRL fails the load rather than a later verification."""
    crl.issuer.rfc4514_string()
    list(crl.extensions)
    _ = crl.last_update_utc, crl.next_update_utc
    for entry in crl:
        _ = entry.serial_number, entry.revocation_date_utc
        list(entry.extensions)


def read_config(store: Path) -> TrustConfig:
    """trust.toml is optional; unknown keys are errors, since a misspelt ``thershold`` silently
    ignored would lower the bar the operator set."""
    path = store / "trust.toml"
    if not path.exists():
        return TrustConfig()
    try:
        doc = tomllib.loads(read_bytes(path, store).decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise TrustError(f"trust.toml is not valid TOML: {e}") from None
    _only(doc, {"revoked", "issuers"}, "trust.toml")
    revoked = _table(doc.get("revoked", {}), "[revoked]")
    _only(revoked, {"key_ids", "cert_serials"}, "[revoked]")
    issuers = _table(doc.get("issuers", {}), "[issuers]")
    return TrustConfig(
        revoked_key_ids=frozenset(_hex_id(v, "[revoked] key_ids")
                                  for v in _strings(revoked.get("key_ids", []), "[revoked] key_ids")),
        revoked_serials=frozenset(_serial(v) for v in
                                  _strings(revoked.get("cert_serials", []), "[revoked] cert_serials")),
        issuers={name: _issuer_rule(name, rule) for name, rule in issuers.items()},
    )


def _only(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise TrustError(f"trust.toml: unknown key {unknown[0]!r} in {where}; "
                         f"expected {', '.join(sorted(allowed))}")


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TrustError(f"trust.toml: {where} must be a table")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TrustError(f"trust.toml: {where} must be a list of strings")
    return value


def normalise_id(value: str) -> str:
    """Key ids and fingerprints are accepted as printed by common tools: optional ``sha256:``
    prefix, colons, any case."""
    text = value.strip().lower()
    text = text.removeprefix("sha256:").replace(":", "")
    return text


def _hex_id(value: str, where: str) -> str:
    text = normalise_id(value)
    if not _HEX_ID.fullmatch(text):
        raise TrustError(f"trust.toml: {where}: {value!r} is not a SHA-256 hex key id or fingerprint")
    return text


def _serial(value: str) -> int:
    text = value.strip().lower().removeprefix("0x").replace(":", "")
    try:
        return int(text, 16)
    except ValueError:
        raise TrustError(f"trust.toml: [revoked] cert_serials: {value!r} is not a hex serial") from None


def _issuer_rule(name: str, value: Any) -> IssuerRule:
    where = f'[issuers."{name}"]'
    rule = _table(value, where)
    _only(rule, {"threshold", "signers"}, where)
    threshold = rule.get("threshold", 1)
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise TrustError(f"trust.toml: {where} threshold must be a whole number of at least 1")
    signers = None
    if "signers" in rule:
        signers = frozenset(_hex_id(v, f"{where} signers") for v in _strings(rule["signers"],
                                                                            f"{where} signers"))
        if len(signers) < threshold:
            raise TrustError(f"trust.toml: {where} needs {threshold} signatures but allows only "
                             f"{len(signers)} signer(s), so no manifest could ever be accepted")
    return IssuerRule(threshold, signers)


def write_atomically(path: Path, data: bytes) -> None:
    """Write-then-rename, so a crash never leaves a half-written trust or state file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

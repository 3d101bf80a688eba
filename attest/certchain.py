"""X.509 path validation for manifest signers, and the revocation checks cryptography leaves out.

``cryptography.x509.verification`` decides whether a chain is good; when it says no, we look at
the certificates ourselves to name the precise problem (expired, not yet valid, not for code
signing, unknown root), because its error strings are not an interface.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from attest.dsse import key_id
from attest.evidence import printable
from attest.manifest_model import ManifestError

if TYPE_CHECKING:
    from attest.trust_files import LoadedCrl

CODE_SIGNING = ExtendedKeyUsageOID.CODE_SIGNING
ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
_MAX_DEPTH = 8


def _ca_allows_code_signing(_policy: Policy, cert: x509.Certificate,
                            eku: x509.ExtendedKeyUsage | None) -> None:
    """webpki_defaults_ca() wants clientAuth in a CA's EKU and so refuses a code-signing sub-CA;
    real code-signing hierarchies restrict their sub-CAs to codeSigning."""
    if eku is None or CODE_SIGNING in eku or ANY_EKU in eku:
        return
    raise ValueError(f"CA {cert.subject.rfc4514_string()} is limited to other purposes than code signing")


def _leaf_has_code_signing(_policy: Policy, cert: x509.Certificate,
                           eku: x509.ExtendedKeyUsage) -> None:
    if CODE_SIGNING not in eku:
        raise ValueError(f"{cert.subject.rfc4514_string()} lacks the codeSigning extended key usage")


#: What cryptography may raise while decoding hostile DER lazily, field by field.
DECODE_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion, x509.DuplicateExtension,
                 x509.UnsupportedGeneralNameType, Warning)


def load_certificate(pem: bytes) -> x509.Certificate:
    """Parse a PEM certificate and decode every field now. cryptography decodes lazily, so a
    corrupt subject or extension would otherwise surface as a ValueError deep inside
    verification; raises ValueError instead."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a certificate cryptography only half-accepts is refused
            cert = x509.load_pem_x509_certificate(pem)
            decode_fully(cert)
    except DECODE_ERRORS as e:
        raise ValueError(str(e) or type(e).__name__) from None
    return cert


def decode_fully(cert: x509.Certificate) -> None:
    cert.subject.rfc4514_string()
    cert.issuer.rfc4514_string()
    list(cert.extensions)
    cert.public_key()
    _ = cert.serial_number, cert.not_valid_before_utc, cert.not_valid_after_utc
    _ = cert.signature_hash_algorithm


def subject(cert: x509.Certificate) -> str:
    """The subject as safe plain text: it comes from an untrusted envelope until verified."""
    return plain_name(cert.subject)


def plain_name(value: x509.Name) -> str:
    return printable(value.rfc4514_string(), limit=300)


def validate_chain(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                   roots: Sequence[x509.Certificate], *, now: datetime) -> list[x509.Certificate]:
    """The verified path leaf -> root, or ManifestError with the most precise code we can name."""
    if not roots:
        raise ManifestError("MANIFEST_SIGNER_UNKNOWN",
                            f"The signer certificate '{subject(leaf)}' cannot be checked: the trust "
                            "store holds no root certificates.")
    verifier = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(now)
        .max_chain_depth(_MAX_DEPTH)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca().may_be_present(
                x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _ca_allows_code_signing),
            ee_policy=ExtensionPolicy.permit_all().require_present(
                x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _leaf_has_code_signing),
        )
        .build_client_verifier()
    )
    try:
        chain = verifier.verify(leaf, list(intermediates)).chain
    except VerificationError as e:
        raise _diagnose(leaf, intermediates, roots, now, str(e)) from None
    _require_digital_signature(leaf)
    return chain


def _require_digital_signature(leaf: x509.Certificate) -> None:
    """A key usage without digitalSignature forbids signing anything, manifests included; the
    permissive end-entity policy would let it through."""
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.digital_signature:
        raise ManifestError("MANIFEST_SIGNER_NOT_CODE_SIGNING",
                            f"The signer certificate '{subject(leaf)}' has a key usage without "
                            "digitalSignature, so it may not sign manifests.")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _likely_path(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
                 roots: Sequence[x509.Certificate]) -> tuple[list[x509.Certificate], bool]:
    """The path a person would draw from the leaf, and whether it reached a trusted root."""
    path = [leaf]
    pool = list(intermediates)
    while len(path) <= _MAX_DEPTH:
        cert = path[-1]
        if cert in roots:
            return path, True
        root = next((r for r in roots if _issued_by(cert, r)), None)
        if root is not None:
            return [*path, root], True
        nxt = next((c for c in pool if c not in path and _issued_by(cert, c)), None)
        if nxt is None:
            return path, False
        path.append(nxt)
    return path, False


def _when(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _role(index: int, last: int, reached_root: bool) -> str:
    if index == 0:
        return "signer"
    return "root" if index == last and reached_root else "intermediate"


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    return getattr(oid, "_name", None) or oid.dotted_string


def _eku_names(eku: x509.ExtendedKeyUsage) -> str:
    return ", ".join(_oid_name(oid) for oid in eku)


def _diagnose(leaf: x509.Certificate, intermediates: Sequence[x509.Certificate],
              roots: Sequence[x509.Certificate], now: datetime, error: str) -> ManifestError:
    path, reached_root = _likely_path(leaf, intermediates, roots)
    top = path[-1]
    if not reached_root:
        return _unreached_root(leaf, top, len(path) - 1, intermediates, roots)
    last = len(path) - 1
    for i, cert in enumerate(path):
        role = _role(i, last, reached_root)
        if cert.not_valid_after_utc < now:
            return ManifestError("MANIFEST_CHAIN_EXPIRED",
                                 f"The {role} certificate '{subject(cert)}' (serial "
                                 f"{cert.serial_number:#x}) expired on {_when(cert.not_valid_after_utc)}.")
        if cert.not_valid_before_utc > now:
            return ManifestError("MANIFEST_CHAIN_NOT_YET_VALID",
                                 f"The {role} certificate '{subject(cert)}' (serial "
                                 f"{cert.serial_number:#x}) is not valid before "
                                 f"{_when(cert.not_valid_before_utc)}.")
    try:
        leaf_eku: x509.ExtendedKeyUsage | None = leaf.extensions.get_extension_for_class(
            x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        leaf_eku = None
    if leaf_eku is None or CODE_SIGNING not in leaf_eku:
        allowed = "has no extended key usage" if leaf_eku is None else \
            f"allows only {_eku_names(leaf_eku)}"
        return ManifestError("MANIFEST_SIGNER_NOT_CODE_SIGNING",
                             f"The signer certificate '{subject(leaf)}' {allowed}; it needs codeSigning "
                             "(1.3.6.1.5.5.7.3.3).")
    for cert in path[1:]:
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if CODE_SIGNING not in eku and ANY_EKU not in eku:
            return ManifestError("MANIFEST_SIGNER_NOT_CODE_SIGNING",
                                 f"The CA certificate '{subject(cert)}' may only issue certificates "
                                 f"for {_eku_names(eku)}, not for code signing.")
    return ManifestError("MANIFEST_CHAIN_INVALID",
                         f"The signer certificate '{subject(leaf)}' does not chain to a trusted root: "
                         f"{printable(error, limit=300)}.")


#: Hashes whose signatures can be forged: a certificate signed with one proves nothing.
_WEAK_HASHES = {"sha1": "SHA-1", "md5": "MD5"}


def _weak_hash(cert: x509.Certificate) -> str | None:
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    return None if algorithm is None else _WEAK_HASHES.get(algorithm.name)


def _self_issued(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def _unreached_root(leaf: x509.Certificate, top: x509.Certificate, depth: int,
                    intermediates: Sequence[x509.Certificate], roots: Sequence[x509.Certificate]) -> ManifestError:
    """Why the path a person would draw from the signer stops at ``top`` without a trusted root."""
    role = "signer" if depth == 0 else "intermediate"
    named_issuers = [c for c in [*roots, *intermediates] if c.subject == top.issuer and c is not top]
    weak = _weak_hash(top)
    if weak is not None and (named_issuers or _self_issued(top)):
        by = f"'{plain_name(top.issuer)}'" if not _self_issued(top) else "itself"
        return ManifestError("MANIFEST_CHAIN_WEAK_ALGORITHM",
                             f"The {role} certificate '{subject(top)}' is signed by {by} with {weak} "
                             f"({_oid_name(top.signature_algorithm_oid)}): {weak} signatures are refused, "
                             "because they can be forged.")
    if _self_issued(top):
        other = " (the trust store holds a different certificate with that name)" \
            if any(r.subject == top.subject for r in roots) else ""
        what = f"'{subject(top)}' (SHA-256 fingerprint {_fingerprint(top)[:16]}…)"
        if depth == 0:
            return ManifestError("MANIFEST_SIGNER_UNKNOWN", f"The signer certificate {what} is self-signed and "
                                 f"is not a root in the trust store{other}.")
        return ManifestError("MANIFEST_SIGNER_UNKNOWN", f"The signer certificate '{subject(leaf)}' chains up to "
                             f"the self-signed root {what}, which is not a root in the trust store{other}.")
    if named_issuers:
        return ManifestError("MANIFEST_CHAIN_INVALID",
                             f"The {role} certificate '{subject(top)}' names '{plain_name(top.issuer)}' as its "
                             "issuer, but that certificate's key did not sign it.")
    if depth == 0:  # a signer carried alone: most often the vendor left its intermediate out
        return ManifestError("MANIFEST_CHAIN_INCOMPLETE",
                             f"The signer certificate '{subject(leaf)}' was issued by '{plain_name(top.issuer)}', "
                             "which the manifest does not carry and the trust store does not hold: the manifest "
                             "is missing that intermediate certificate (or it is a root you have not imported).")
    return ManifestError("MANIFEST_SIGNER_UNKNOWN",
                         f"The signer certificate '{subject(leaf)}' chains up to '{plain_name(top.issuer)}', "
                         "which is not a root in the trust store.")


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def revocation_problem(chain: Sequence[x509.Certificate], *, revoked_key_ids: frozenset[str],
                       revoked_serials: frozenset[int],
                       crls: Sequence[LoadedCrl]) -> ManifestError | None:
    """cryptography does not check revocation. A CRL only counts when its signature verifies
    against the certificate in this very chain that issued the revoked one."""
    for cert in chain:
        kid = key_id(cert.public_key())
        if kid in revoked_key_ids:
            return ManifestError("MANIFEST_SIGNER_REVOKED",
                                 f"The key {kid} of certificate '{subject(cert)}' is revoked in trust.toml.")
        if cert.serial_number in revoked_serials:
            return ManifestError("MANIFEST_SIGNER_REVOKED",
                                 f"The certificate '{subject(cert)}' (serial {cert.serial_number:#x}) "
                                 "is revoked in trust.toml.")
    for cert, issuer in itertools.pairwise(chain):
        for loaded in crls:
            crl = loaded.crl
            if crl.issuer != issuer.subject or not _crl_signed_by(crl, issuer):
                continue
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None:
                return ManifestError("MANIFEST_SIGNER_REVOKED",
                                     f"The certificate '{subject(cert)}' (serial {cert.serial_number:#x}) "
                                     f"was revoked on {_when(entry.revocation_date_utc)} by "
                                     f"'{subject(issuer)}' ({loaded.file}).")
    return None


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False

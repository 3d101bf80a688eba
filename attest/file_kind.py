"""What a file is, in a technician's words, when it is not the certificate or key asked for.

Importing the wrong file into the trust store is an everyday mistake: the vendor's private key
instead of its certificate, the signed manifest, a DER file, a screenshot of the certificate.
cryptography's own error ("Unable to load PEM file. See https://cryptography.io/...") names
none of these; this module looks at the bytes and says what they are.
"""

from __future__ import annotations

import re

MANIFEST = "a signed manifest (a DSSE envelope)"
JSON = "a JSON document"
_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,40})-----")

#: PEM block label -> what it is.
_PEM_KINDS = {
    b"CERTIFICATE": "a certificate",
    b"TRUSTED CERTIFICATE": "an OpenSSL 'trusted certificate'",
    b"X509 CRL": "a certificate revocation list (CRL)",
    b"CERTIFICATE REQUEST": "a certificate signing request (CSR)",
    b"NEW CERTIFICATE REQUEST": "a certificate signing request (CSR)",
    b"PUBLIC KEY": "a bare public key",
    b"RSA PUBLIC KEY": "a bare RSA public key",
    b"PRIVATE KEY": "a PRIVATE key",
    b"ENCRYPTED PRIVATE KEY": "an encrypted PRIVATE key",
    b"RSA PRIVATE KEY": "an RSA PRIVATE key",
    b"EC PRIVATE KEY": "an EC PRIVATE key",
    b"OPENSSH PRIVATE KEY": "an OpenSSH PRIVATE key",
    b"PGP PUBLIC KEY BLOCK": "a PGP public key, which Rig Attest does not use",
    b"PGP SIGNATURE": "a PGP signature",
}

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"), (b"\x1f\x8b", "a gzip-compressed file"), (b"\xfd7zXZ\x00", "an xz file"),
    (b"\x7fELF", "a program (ELF)"), (b"SQLite format 3\x00", "an SQLite database"),
)


def pem_labels(data: bytes) -> list[bytes]:
    return _PEM_LABEL.findall(data[:1_000_000])


def describe(data: bytes) -> str:
    """A short phrase naming what ``data`` is: "an EC PRIVATE key", "a signed manifest", ..."""
    if not data.strip():
        return "empty"
    text = data.lstrip()[:65536]
    if text.startswith(b"{"):  # before PEM: a manifest carries its signer's certificates inside
        return MANIFEST if b'"payloadType"' in text else JSON
    labels = pem_labels(data)
    if labels:
        kinds = sorted({_PEM_KINDS.get(label, f"a PEM '{label.decode()}' block") for label in labels})
        return " and ".join(kinds)
    head = data[:64]
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if data[:1] == b"\x30":  # an ASN.1 SEQUENCE: binary DER
        return "binary DER data"
    if _is_text(data[:4096]):
        return "a text file with no PEM block"
    return "binary data that is no certificate or key format Rig Attest knows"


def _is_text(sample: bytes) -> bool:
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def not_a_root_certificate(where: str, data: bytes) -> str:
    """Why ``data`` cannot be imported as a vendor root certificate, and what to do instead."""
    kind = describe(data)
    labels = pem_labels(data) if kind not in (MANIFEST, JSON) else []
    if any(b"PRIVATE KEY" in label for label in labels):
        return (f"{where} is {kind}, not a certificate. A private key must never be copied to a station: "
                "ask the vendor for its root CA certificate (a file that starts with -----BEGIN CERTIFICATE-----).")
    if b"PUBLIC KEY" in labels or b"RSA PUBLIC KEY" in labels:
        return f"{where} is {kind}, not a certificate: import it with Import pinned key… instead."
    if b"X509 CRL" in labels:
        return f"{where} is {kind}, not a certificate: copy it into the trust store's crl/ folder instead."
    if b"CERTIFICATE" in labels:
        return f"{where} holds a certificate block that cannot be read: the file is damaged or was edited."
    if kind == MANIFEST:
        return f"{where} is {kind}, not a certificate: load it as a manifest instead."
    return (f"{where} is {kind}, not a certificate. A vendor root certificate is a PEM file that starts with "
            "-----BEGIN CERTIFICATE----- (or the same in binary DER form).")


def not_a_public_key(where: str, data: bytes) -> str:
    """Why ``data`` cannot be pinned as a public key, and what to do instead."""
    kind = describe(data)
    labels = pem_labels(data) if kind not in (MANIFEST, JSON) else []
    if any(b"PRIVATE KEY" in label for label in labels):
        return (f"{where} is {kind}, not a public key. A private key must never be copied to a station: "
                "ask the vendor for the public key (a file that starts with -----BEGIN PUBLIC KEY-----).")
    if b"CERTIFICATE" in labels:
        return (f"{where} is {kind}, not a bare public key: to trust a vendor's certificates, import its root CA "
                "certificate with Import root certificate… instead.")
    if b"PUBLIC KEY" in labels or b"RSA PUBLIC KEY" in labels:
        return f"{where} holds a public key block that cannot be read: the file is damaged or was edited."
    return (f"{where} is {kind}, not a public key. A pinned key is a PEM file that starts with "
            "-----BEGIN PUBLIC KEY-----.")

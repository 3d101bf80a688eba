"""Importing the wrong file into the trust store says what the file is, in our words, never a
library's FAQ link (issue 18). The files are made by `openssl`, as a vendor or technician would."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from attest.trust import TrustError, TrustStore
from tests.conftest import skip_unless_ci


@pytest.fixture(autouse=True)
def _needs_openssl() -> None:
    if shutil.which("openssl") is None:
        skip_unless_ci("needs the openssl command")


def openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("wrong-files")
    openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "vendor.key")
    openssl(d, "pkey", "-in", "vendor.key", "-pubout", "-out", "vendor.pub.pem")
    openssl(d, "req", "-x509", "-new", "-key", "vendor.key", "-subj", "/CN=Example Root CA", "-days", "30",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            "-out", "root.pem")
    openssl(d, "x509", "-in", "root.pem", "-outform", "DER", "-out", "root.cer")
    openssl(d, "req", "-new", "-key", "vendor.key", "-subj", "/CN=Example Signing", "-out", "signing.csr")
    (d / "manifest.dsse.json").write_text(json.dumps({"payloadType": "application/vnd.rigattest.manifest.v1+json",
                                                      "payload": "e30=", "signatures": []}))
    (d / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (d / "notes.txt").write_text("the root is on the vendor's portal\n")
    (d / "empty.pem").write_text("")
    return d


@pytest.mark.parametrize("name, says", [
    ("vendor.key", "is a PRIVATE key, not a certificate. A private key must never be copied to a station"),
    ("vendor.pub.pem", "is a bare public key, not a certificate: import it with Import pinned key"),
    ("signing.csr", "is a certificate signing request (CSR), not a certificate"),
    ("manifest.dsse.json", "is a signed manifest (a DSSE envelope), not a certificate: load it as a manifest"),
    ("photo.png", "is a PNG image, not a certificate"),
    ("notes.txt", "is a text file with no PEM block, not a certificate"),
    ("empty.pem", "is empty, not a certificate"),
])
def test_a_wrong_file_imported_as_a_root_says_what_it_is(files, tmp_path, name, says):
    store = TrustStore.load(tmp_path / "trust", create=True)
    with pytest.raises(TrustError) as info:
        store.add_root(files / name)
    assert f"{name} {says}" in info.value.message
    assert "cryptography.io" not in info.value.message and "http" not in info.value.message
    assert store.roots == []


@pytest.mark.parametrize("name, says", [
    ("vendor.key", "is a PRIVATE key, not a public key"),
    ("root.pem", "is a certificate, not a bare public key: to trust a vendor's certificates, import its root CA"),
    ("photo.png", "is a PNG image, not a public key"),
])
def test_a_wrong_file_pinned_as_a_key_says_what_it_is(files, tmp_path, name, says):
    store = TrustStore.load(tmp_path / "trust", create=True)
    with pytest.raises(TrustError) as info:
        store.add_pinned_key(files / name)
    assert f"{name} {says}" in info.value.message and "cryptography.io" not in info.value.message


def test_a_root_certificate_in_binary_der_form_is_imported(files, tmp_path):
    store = TrustStore.load(tmp_path / "trust", create=True)
    [added] = store.add_root(files / "root.cer")
    assert [r.fingerprint for r in TrustStore.load(tmp_path / "trust").roots] == [added]

"""Chains made by the `openssl` command line, the way a vendor's PKI team would make them, so the
verifier is not only ever tested against certificates our own code built."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from attest.manifest import ManifestError, Signer, verify_manifest
from attest.trust import TrustStore
from tests.conftest import on_ci
from tests.manifest_helpers import manifest_payload, signed

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None and not on_ci(), reason="needs the openssl command")

ROOT_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = OpenSSL Test Root CA
O = OpenSSL Test Vendor
[v3_root]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""

VENDOR_EXT = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

# `openssl ca` is the openssl 3.0 way to choose both validity dates (x509 -not_after is 3.4+).
CA_CNF = """\
[ca]
default_ca = test_ca
[test_ca]
database = index.txt
new_certs_dir = .
certificate = root.pem
private_key = root.key
serial = serial
default_md = sha256
policy = policy_any
unique_subject = no
[policy_any]
commonName = supplied
organizationName = optional
"""


def openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory) -> Path:
    """Root CA (P-256) and a vendor key with its CSR, all made by openssl."""
    d = tmp_path_factory.mktemp("openssl")
    (d / "root.cnf").write_text(ROOT_CNF)
    (d / "vendor.ext").write_text(VENDOR_EXT)
    (d / "ca.cnf").write_text(CA_CNF)
    (d / "index.txt").write_text("")
    (d / "serial").write_text("1002\n")
    for key in ("root.key", "vendor.key"):
        openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
    openssl(d, "req", "-x509", "-new", "-config", "root.cnf", "-extensions", "v3_root", "-key",
            "root.key", "-days", "3650", "-sha256", "-out", "root.pem")
    openssl(d, "req", "-new", "-key", "vendor.key", "-subj",
            "/CN=OpenSSL Test Manifest Signing/O=OpenSSL Test Vendor", "-out", "vendor.csr")
    (d / "trust" / "roots").mkdir(parents=True)
    shutil.copy(d / "root.pem", d / "trust" / "roots" / "root.pem")
    return d


def vendor_signer(d: Path, cert_file: str) -> Signer:
    key = serialization.load_pem_private_key((d / "vendor.key").read_bytes(), password=None)
    return Signer(key, [x509.load_pem_x509_certificate((d / cert_file).read_bytes())])


def live_payload() -> dict:
    now = datetime.now(UTC)
    return manifest_payload(issued_at=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                            expires_at=(now + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))


def test_openssl_made_code_signing_chain_verifies(ca_dir):
    openssl(ca_dir, "x509", "-req", "-in", "vendor.csr", "-CA", "root.pem", "-CAkey", "root.key",
            "-set_serial", "0x1001", "-days", "365", "-sha256", "-extfile", "vendor.ext",
            "-out", "vendor.pem")
    manifest = verify_manifest(signed([vendor_signer(ca_dir, "vendor.pem")], live_payload()),
                               TrustStore.load(ca_dir / "trust"))
    [signer] = manifest.signers
    assert "OpenSSL Test Manifest Signing" in signer.subject
    assert "OpenSSL Test Root CA" in signer.chain[-1]


def test_openssl_made_expired_vendor_certificate_is_refused_as_chain_expired(ca_dir):
    openssl(ca_dir, "ca", "-batch", "-config", "ca.cnf", "-in", "vendor.csr", "-out", "expired.pem",
            "-startdate", "240101000000Z", "-enddate", "250101000000Z", "-extfile", "vendor.ext",
            "-notext")
    with pytest.raises(ManifestError) as info:
        verify_manifest(signed([vendor_signer(ca_dir, "expired.pem")], live_payload()),
                        TrustStore.load(ca_dir / "trust"))
    assert info.value.code == "MANIFEST_CHAIN_EXPIRED"
    assert "expired on 2025-01-01 00:00 UTC" in info.value.message


# --- refusals explained (issue 18): each chain made as a careless or hostile vendor would ---------

INTERMEDIATE_EXT = """\
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def refusal(ca_dir: Path, *cert_files: str, key: str = "vendor.key") -> ManifestError:
    private = serialization.load_pem_private_key((ca_dir / key).read_bytes(), password=None)
    certs = [x509.load_pem_x509_certificate((ca_dir / f).read_bytes()) for f in cert_files]
    with pytest.raises(ManifestError) as info:
        verify_manifest(signed([Signer(private, certs)], live_payload()), TrustStore.load(ca_dir / "trust"))
    return info.value


def test_a_complete_chain_to_a_self_signed_root_outside_the_store_is_not_a_root_in_the_trust_store(ca_dir):
    openssl(ca_dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "stranger.key")
    openssl(ca_dir, "req", "-x509", "-new", "-key", "stranger.key", "-subj", "/CN=stranger", "-days", "30",
            "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "stranger.pem")
    openssl(ca_dir, "x509", "-req", "-in", "vendor.csr", "-CA", "stranger.pem", "-CAkey", "stranger.key",
            "-set_serial", "0x2001", "-days", "30", "-sha256", "-extfile", "vendor.ext", "-out", "by-stranger.pem")
    error = refusal(ca_dir, "by-stranger.pem", "stranger.pem")
    assert error.code == "MANIFEST_SIGNER_UNKNOWN"
    assert "the self-signed root 'CN=stranger'" in error.message
    assert "not a root in the trust store" in error.message and "did not sign" not in error.message


def test_a_sha1_signed_certificate_under_the_trusted_root_says_sha1_is_refused(ca_dir):
    openssl(ca_dir, "x509", "-req", "-in", "vendor.csr", "-CA", "root.pem", "-CAkey", "root.key",
            "-set_serial", "0x2002", "-days", "30", "-sha1", "-extfile", "vendor.ext", "-out", "sha1.pem")
    error = refusal(ca_dir, "sha1.pem")
    assert error.code == "MANIFEST_CHAIN_WEAK_ALGORITHM"
    assert "ecdsa-with-SHA1" in error.message and "SHA-1 signatures are refused" in error.message
    assert "did not sign" not in error.message


def test_a_chain_missing_its_intermediate_says_the_intermediate_is_missing(ca_dir):
    (ca_dir / "intermediate.ext").write_text(INTERMEDIATE_EXT)
    openssl(ca_dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "sub.key")
    openssl(ca_dir, "req", "-new", "-key", "sub.key", "-subj", "/CN=OpenSSL Test Sub-CA", "-out", "sub.csr")
    openssl(ca_dir, "x509", "-req", "-in", "sub.csr", "-CA", "root.pem", "-CAkey", "root.key", "-set_serial",
            "0x2003", "-days", "30", "-sha256", "-extfile", "intermediate.ext", "-out", "sub.pem")
    openssl(ca_dir, "x509", "-req", "-in", "vendor.csr", "-CA", "sub.pem", "-CAkey", "sub.key", "-set_serial",
            "0x2004", "-days", "30", "-sha256", "-extfile", "vendor.ext", "-out", "under-sub.pem")
    error = refusal(ca_dir, "under-sub.pem")
    assert error.code == "MANIFEST_CHAIN_INCOMPLETE"
    assert "'CN=OpenSSL Test Sub-CA', which the manifest does not carry" in error.message
    assert "missing that intermediate certificate" in error.message
    # With the intermediate carried, the same signer is accepted: the diagnosis named the real gap.
    private = serialization.load_pem_private_key((ca_dir / "vendor.key").read_bytes(), password=None)
    certs = [x509.load_pem_x509_certificate((ca_dir / f).read_bytes()) for f in ("under-sub.pem", "sub.pem")]
    assert verify_manifest(signed([Signer(private, certs)], live_payload()), TrustStore.load(ca_dir / "trust"))

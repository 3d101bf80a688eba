"""`attest image` on files built with the real tools: each gives its intended verdict and reason."""

from __future__ import annotations

from attest.appraise import Appraisal
from attest.image.appraise_image import check_file
from attest.image.walk import inspect_file
from attest.manifest import Manifest
from attest.trust import TrustStore
from attest.verdict import Verdict
from tests.image.conftest import Kit


def check(kit: Kit, name: str, trust: TrustStore, manifest: Manifest) -> Appraisal:
    return check_file(str(kit[name]), trust, [manifest])


def codes(a: Appraisal) -> list[str]:
    return [r.code for r in a.reasons]


def details(a: Appraisal, code: str) -> list[str]:
    return [r.detail for r in a.reasons if r.code == code]


def test_genuine_bitmain_package_is_trusted_with_each_signature_named(kit: Kit, trust: TrustStore,
                                                                      manifest: Manifest) -> None:
    a = check(kit, "genuine", trust, manifest)
    assert a.verdict is Verdict.TRUSTED, codes(a)
    valid = details(a, "VENDOR_SIGNATURE_VALID")
    assert any(d.startswith("covers runme.sh; signer vendor key vendor-keys/bitmain-root.pem") for d in valid)
    assert any(d.startswith("covers cert.pem; signer vendor key") for d in valid)
    assert any(d.startswith("covers fw.tar.gz; signer cert.pem") for d in valid)
    [release] = details(a, "FIRMWARE_SIGNED_RELEASE")
    assert "Antminer S19 2026.09.1" in release and "fw.tar.gz/rootfs.squashfs = rootfs" in release
    nodes = list(inspect_file(kit["genuine"]).nodes())
    # uramdisk.image.gz: a 64-byte uImage header, then a gzip'd ext2 ramdisk, walked to its files
    # (a layer's payload keeps its container's path, so three layers share this one)
    assert [n.format for n in nodes if n.path == "fw.tar.gz/uramdisk.image.gz"] == ["uimage", "gzip", "ext"]
    paths = {n.path for n in nodes}
    assert {"fw.tar.gz/uramdisk.image.gz/etc/init.d/rcS", "fw.tar.gz/rootfs.squashfs/usr/bin/bmminer"} <= paths


def test_one_byte_changed_in_rootfs_is_untrusted(kit: Kit, trust: TrustStore, manifest: Manifest) -> None:
    a = check(kit, "tampered", trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    assert details(a, "VENDOR_SIGNATURE_INVALID")[0].startswith("covers fw.tar.gz")
    assert details(a, "FIRMWARE_DIGEST_UNKNOWN") == ["image fw.tar.gz/rootfs.squashfs"]


def test_antbleed_in_bmminer_is_found_with_path_and_context(kit: Kit, trust: TrustStore, manifest: Manifest) -> None:
    a = check(kit, "antbleed", trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    assert a.top_reason is not None and a.top_reason.code == "BACKDOOR_INDICATOR"
    [finding] = details(a, "BACKDOOR_INDICATOR")
    assert finding.startswith("fw.tar.gz/rootfs.squashfs/usr/bin/bmminer: antbleed: ")
    assert "auth.minerlink.com" in finding and "\x00" not in finding  # plain text, NULs escaped
    assert details(a, "FIRMWARE_REVOKED") == ["fw.tar.gz/rootfs.squashfs: remote shutdown hook (Antbleed)"]
    assert a.evidence.value("indicator.antbleed") == "fw.tar.gz/rootfs.squashfs/usr/bin/bmminer"


def test_valid_vendor_signatures_but_rootfs_not_in_manifest_is_untrusted_naming_it(
        kit: Kit, trust: TrustStore, manifest: Manifest) -> None:
    a = check(kit, "withdrawn", trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    assert len(details(a, "VENDOR_SIGNATURE_VALID")) == 3
    assert not {"VENDOR_SIGNATURE_INVALID", "VENDOR_SIGNATURE_MISSING"} & set(codes(a))
    assert a.top_reason is not None and a.top_reason.code == "FIRMWARE_DIGEST_UNKNOWN"
    assert a.top_reason.detail == "image fw.tar.gz/rootfs.squashfs"
    assert a.top_reason.found == kit.digests["withdrawn-rootfs"]


def test_without_vendor_keys_signatures_are_unknown_not_valid(kit: Kit, manifest: Manifest, tmp_path) -> None:
    (tmp_path / "keys").mkdir()
    a = check_file(str(kit["genuine"]), TrustStore.load(tmp_path), [manifest])
    assert "VENDOR_SIGNATURE_VALID" not in codes(a)
    assert "VENDOR_KEY_UNKNOWN" in codes(a)


def test_no_manifest_is_never_a_pass(kit: Kit, trust: TrustStore) -> None:
    a = check_file(str(kit["genuine"]), trust, [])
    assert a.verdict is Verdict.UNKNOWN and "NO_MANIFEST" in codes(a)


def test_genuine_bmu_checks_root_miner_pem_each_file_and_bmu_sig(kit: Kit, trust: TrustStore,
                                                                  manifest: Manifest) -> None:
    a = check(kit, "bmu", trust, manifest)
    assert a.verdict is Verdict.TRUSTED, codes(a)
    covers = [d.split(";")[0] for d in details(a, "VENDOR_SIGNATURE_VALID")]
    assert covers == ["covers miner.pem (in the BMU header)", "covers devicetree.dtb", "covers uImage",
                      "covers minerfs.image.gz", "covers the BMU header and every file and file signature (bmu.sig)"]


def test_bmu_with_broken_per_file_signature_is_untrusted_naming_the_file(kit: Kit, trust: TrustStore,
                                                                         manifest: Manifest) -> None:
    a = check(kit, "bmu-broken", trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    [bad] = details(a, "VENDOR_SIGNATURE_INVALID")
    assert bad.startswith("covers uImage; signer miner.pem")


def test_aup_listed_in_manifest_is_trusted_and_says_crc_is_integrity_only(kit: Kit, trust: TrustStore,
                                                                          manifest: Manifest) -> None:
    a = check(kit, "aup", trust, manifest)
    assert a.verdict is Verdict.TRUSTED
    assert "VENDOR_CHECKSUM_ONLY" in codes(a)
    assert "whole file is package 'good.aup'" in details(a, "FIRMWARE_SIGNED_RELEASE")[0]


def test_aup_with_good_crc_but_not_in_manifest_is_not_trusted(kit: Kit, trust: TrustStore, manifest: Manifest,
                                                              tmp_path) -> None:
    from tests.image import builders as b

    other = b.aup(tmp_path / "other.aup", b"AVALON-FW\0other build")
    a = check_file(str(other), trust, [manifest])
    assert a.verdict is not Verdict.TRUSTED
    assert "VENDOR_CHECKSUM_ONLY" in codes(a)


def test_aup_with_bad_crc_is_untrusted(kit: Kit, trust: TrustStore, manifest: Manifest) -> None:
    a = check(kit, "aup-bad-crc", trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    assert a.top_reason is not None and a.top_reason.code == "IMAGE_CHECKSUM_MISMATCH"
    assert "AUP payload CRC32" in a.top_reason.detail


def test_uimage_with_bad_data_crc_is_untrusted(kit: Kit, trust: TrustStore, manifest: Manifest) -> None:
    a = check(kit, "uimage-bad-crc", trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    assert a.top_reason is not None and a.top_reason.code == "IMAGE_CHECKSUM_MISMATCH"
    assert "uImage data CRC32" in a.top_reason.detail


def test_ubi_image_volume_matches_the_ubifs_image_mkfs_made(kit: Kit, trust: TrustStore, manifest: Manifest) -> None:
    a = check(kit, "ubi", trust, manifest)
    assert a.verdict is Verdict.TRUSTED, codes(a)
    assert details(a, "FIRMWARE_SIGNED_RELEASE") == ["Antminer S9 2026.09.1-nand: rootfs = rootfs"]
    paths = {n.path for n in inspect_file(kit["ubi"]).nodes()}
    assert "rootfs/usr/bin/bmminer" in paths


def test_flash_dump_is_split_by_its_own_mtdparts(kit: Kit, trust: TrustStore, manifest: Manifest) -> None:
    inspection = inspect_file(kit["dump"])
    assert inspection.dump_layout is not None and inspection.dump_layout.startswith("pl35x-nand:")
    parts = [n.name for n in inspection.root.children]
    assert parts == ["BOOT.bin-env-dts-kernel", "angstram-rootfs", "upgrade-rootfs"]
    a = check(kit, "dump", trust, manifest)
    assert a.verdict is Verdict.TRUSTED, codes(a)
    assert "angstram-rootfs/rootfs = rootfs" in details(a, "FIRMWARE_SIGNED_RELEASE")[0]


def test_fit_image_hashes_are_checked(tmp_path) -> None:
    from tests.image import builders as b

    kernel = tmp_path / "zImage"
    kernel.write_bytes(b"\x00\x00\xa0\xe1" * 256)
    its = tmp_path / "fit.its"
    its.write_text(f"""/dts-v1/;
/ {{ description = "test"; #address-cells = <1>;
  images {{ kernel {{ data = /incbin/("{kernel}"); type = "kernel"; arch = "arm"; os = "linux";
      compression = "none"; load = <0x8000>; entry = <0x8000>; hash-1 {{ algo = "sha256"; }}; }}; }};
  configurations {{ default = "conf"; conf {{ kernel = "kernel"; }}; }}; }};
""")
    fit = tmp_path / "image.itb"
    b.run("mkimage", "-f", its, fit)
    good = inspect_file(fit)
    assert not good.findings and [n.name for n in good.root.children] == ["kernel"]
    data = bytearray(fit.read_bytes())
    at = data.find(b"\x00\x00\xa0\xe1" * 4)
    data[at] ^= 0xFF
    (tmp_path / "bad.itb").write_bytes(bytes(data))
    bad = inspect_file(tmp_path / "bad.itb")
    assert [f.code for f in bad.findings] == ["IMAGE_CHECKSUM_MISMATCH"]


def test_dump_without_its_own_layout_is_split_by_the_manifests(kit: Kit, trust: TrustStore,
                                                               manifest: Manifest) -> None:
    assert inspect_file(kit["dump-no-env"]).dump_layout is None  # alone: not recognised
    a = check(kit, "dump-no-env", trust, manifest)
    assert a.verdict is Verdict.TRUSTED, codes(a)
    assert "angstram-rootfs/rootfs = rootfs" in details(a, "FIRMWARE_SIGNED_RELEASE")[0]


def test_a_package_key_on_an_unsupported_curve_leaves_the_rest_audited(kit: Kit, trust: TrustStore,
                                                                       manifest: Manifest, tmp_path) -> None:
    """cryptography raises UnsupportedAlgorithm (not ValueError) for an EC key on secp112r1: it
    escaped the key loader and ended the whole package as IMAGE_CORRUPT, so the Antbleed binary
    inside was never looked at and the verdict was UNKNOWN instead of UNTRUSTED."""
    import tarfile

    from tests.image import builders as b

    stage = tmp_path / "stage"
    with tarfile.open(kit["antbleed"]) as tf:
        names = tf.getnames()
        tf.extractall(stage, filter="data")
    b.run("openssl", "ecparam", "-name", "secp112r1", "-genkey", "-noout", "-out", tmp_path / "ec.key")
    b.run("openssl", "ec", "-in", tmp_path / "ec.key", "-pubout", "-out", stage / "cert.pem")
    package = b.tar(tmp_path / "odd-key.tar.gz", stage, names, gz=True)
    a = check_file(str(package), trust, [manifest])
    assert a.verdict is Verdict.UNTRUSTED
    assert "IMAGE_CORRUPT" not in codes(a)
    assert details(a, "BACKDOOR_INDICATOR")[0].startswith("fw.tar.gz/rootfs.squashfs/usr/bin/bmminer: antbleed")
    assert any("not an RSA-2048+ public key" in d for d in details(a, "VENDOR_SIGNATURE_INVALID"))


def test_a_trust_store_key_on_an_unsupported_curve_is_a_clear_trust_error(tmp_path) -> None:
    import pytest

    from attest.trust_files import TrustError
    from tests.image import builders as b

    (tmp_path / "vendor-keys").mkdir()
    b.run("openssl", "ecparam", "-name", "secp112r1", "-genkey", "-noout", "-out", tmp_path / "ec.key")
    b.run("openssl", "ec", "-in", tmp_path / "ec.key", "-pubout", "-out", tmp_path / "vendor-keys" / "odd.pem")
    with pytest.raises(TrustError, match="not a PEM public key this station can use"):
        TrustStore.load(tmp_path)

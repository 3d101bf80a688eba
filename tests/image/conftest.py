"""One session-wide kit of firmware files, built once with the real tools (see builders.py)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from attest.manifest import Manifest, Signer, load_manifest, sign_envelope
from attest.trust import StationState, TrustStore
from tests.conftest import skip_unless_ci
from tests.image import builders as b
from tests.manifest_helpers import manifest_payload, to_bytes

ANTBLEED_BMMINER = (b"\x7fELF\x01\x01\x01" + b"\0" * 40 + b"setup_send_mac_socket\0send_mac\0auth.minerlink.com\0"
                    b'{"ctrl_board":"%s","id":"%d","hashboard":[%s]}\0' + b"\0" * 64)
CLEAN_BMMINER = b"\x7fELF\x01\x01\x01" + b"\0" * 40 + b"bmminer 2.0.0 stratum+tcp\0" + b"\0" * 64
RUNME = b"#!/bin/sh\nset -e\ntar -xzf fw.tar.gz -C /tmp/upgrade\nsh /tmp/upgrade/install.sh\n"


@dataclass
class Kit:
    root: Path
    trust: Path
    manifest: Path
    files: dict[str, Path] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)  # what ``manifest`` signs
    signer: Signer | None = None  # the manifest's key, for a newer manifest from the same issuer

    def __getitem__(self, name: str) -> Path:
        return self.files[name]

    def newer_manifest(self, **changes: Any) -> Path:
        """The same issuer's manifest with the next sequence and ``changes`` (e.g. a release dropped)."""
        assert self.signer is not None
        payload = {**self.payload, "sequence": self.payload["sequence"] + 1, **changes}
        out = self.root / f"manifest-{payload['sequence']}.dsse.json"
        out.write_bytes(to_bytes(sign_envelope(payload, [self.signer])))
        return out


def _rootfs(work: Path, name: str, bmminer: bytes, version: str) -> Path:
    src = b.tree(work / f"{name}-tree", {
        "usr/bin/bmminer": bmminer,
        "etc/init.d/S70miner": "#!/bin/sh\n/usr/bin/bmminer --api-listen &\n",
        "etc/version": version,
    })
    return b.squashfs(src, work / f"{name}.squashfs")


def _package(work: Path, name: str, root_key: Path, pkg_key: Path, pkg_pub: Path, rootfs: Path, kernel: Path,
             ramdisk: Path, *, tamper_rootfs: bool = False) -> Path:
    stage = work / name
    fw = stage / "fw"
    fw.mkdir(parents=True)
    shutil.copy(rootfs, fw / "rootfs.squashfs")
    shutil.copy(kernel, fw / "uImage")
    shutil.copy(ramdisk, fw / "uramdisk.image.gz")
    b.tar(stage / "fw.tar.gz", fw, ["rootfs.squashfs", "uImage", "uramdisk.image.gz"], gz=True)
    (stage / "runme.sh").write_bytes(RUNME)
    shutil.copy(pkg_pub, stage / "cert.pem")
    (stage / "version_number").write_text("2026.09.1\n")
    b.sign(root_key, stage / "runme.sh")
    b.sign(root_key, stage / "cert.pem")
    b.sign(pkg_key, stage / "fw.tar.gz")
    if tamper_rootfs:  # after signing, as an attacker without the vendor's keys must
        image = bytearray((fw / "rootfs.squashfs").read_bytes())
        image[8] ^= 0x01  # the superblock's mkfs time: the image still reads, its digest changes
        (fw / "rootfs.squashfs").write_bytes(bytes(image))
        b.tar(stage / "fw.tar.gz", fw, ["rootfs.squashfs", "uImage", "uramdisk.image.gz"], gz=True)
    members = ["runme.sh", "runme.sh.sig", "cert.pem", "cert.pem.sig", "fw.tar.gz", "fw.tar.gz.sig", "version_number"]
    return b.tar(work / f"{name}.tar.gz", stage, members, gz=True)


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    missing = b.missing_tools()
    if missing:
        skip_unless_ci(f"image tools not installed: {', '.join(missing)} (.ci/run installs them)")
    return build_kit(tmp_path_factory.mktemp("firmware"))


def build_kit(work: Path) -> Kit:
    """Every file of the kit in ``work`` (also bench/fuzz.py's seeds)."""
    root_key, root_pub = b.rsa_key(work / "bitmain-root.key")
    pkg_key, pkg_pub = b.rsa_key(work / "package.key")

    kernel = b.uimage(_kernel_bytes(work), work / "uImage")
    ramdisk_raw = b.ext2(b.tree(work / "ramdisk-tree", {"etc/inittab": "::sysinit:/etc/init.d/rcS\n",
                                                        "etc/init.d/rcS": "#!/bin/sh\nmount -a\n"}),
                         work / "ramdisk.ext2", kib=512)
    ramdisk = b.uimage(b.gzip_file(ramdisk_raw, work / "ramdisk.ext2.gz"), work / "uramdisk.image.gz",
                       kind="ramdisk", compression="gzip", name="ramdisk")
    genuine_rootfs = _rootfs(work, "rootfs-genuine", CLEAN_BMMINER, "2026.09.1")
    withdrawn_rootfs = _rootfs(work, "rootfs-withdrawn", CLEAN_BMMINER, "2025.02.3")
    antbleed_rootfs = _rootfs(work, "rootfs-antbleed", ANTBLEED_BMMINER, "2017.03.1")

    kit = Kit(work, work / "trust", work / "manifest.dsse.json")
    args = (root_key, pkg_key, pkg_pub)
    kit.files["genuine"] = _package(work, "genuine", *args, genuine_rootfs, kernel, ramdisk)
    kit.files["tampered"] = _package(work, "tampered", *args, genuine_rootfs, kernel, ramdisk, tamper_rootfs=True)
    kit.files["antbleed"] = _package(work, "antbleed", *args, antbleed_rootfs, kernel, ramdisk)
    kit.files["withdrawn"] = _package(work, "withdrawn", *args, withdrawn_rootfs, kernel, ramdisk)

    bmu_work = work / "bmu"
    bmu_work.mkdir()
    bmu_files = [b.dtb(bmu_work / "devicetree.dtb"), shutil.copy(kernel, bmu_work / "uImage"),
                 b.gzip_file(genuine_rootfs, bmu_work / "minerfs.image.gz")]
    kit.files["bmu"] = b.bmu(work / "good.bmu", bmu_work, root_key, [Path(f) for f in bmu_files])
    kit.files["bmu-broken"] = b.bmu(work / "broken.bmu", bmu_work, root_key, [Path(f) for f in bmu_files],
                                    break_signature_of="uImage")

    kit.files["aup"] = b.aup(work / "good.aup", b"AVALON-FW\0" + b"avalon payload" * 100)
    kit.files["aup-bad-crc"] = b.aup(work / "bad.aup", b"AVALON-FW\0" + b"avalon payload" * 100, bad_crc=True)
    bad = bytearray(kernel.read_bytes())
    bad[200] ^= 0xFF
    (work / "bad-crc.uImage").write_bytes(bytes(bad))
    kit.files["uimage-bad-crc"] = work / "bad-crc.uImage"

    ubi_src = b.tree(work / "ubi-tree", {"usr/bin/bmminer": CLEAN_BMMINER, "etc/version": "2026.09.1-nand"})
    ubi_work = work / "ubi"
    ubi_work.mkdir()
    ubifs, ubi = b.ubi_image(ubi_src, ubi_work)
    kit.files["ubi"] = ubi
    kit.files["dump"] = _flash_dump(work / "s9.dump", ubi)
    kit.files["dump-no-env"] = _flash_dump(work / "s9-no-env.dump", ubi, env=False)

    digests = {
        "rootfs": b.sha256(genuine_rootfs), "kernel": b.sha256(kernel), "ramdisk": b.sha256(ramdisk),
        "ubi-rootfs": b.sha256(ubifs), "antbleed-rootfs": b.sha256(antbleed_rootfs),
        "withdrawn-rootfs": b.sha256(withdrawn_rootfs),
        **{f"bmu-{p.name}": b.sha256(Path(p)) for p in map(Path, bmu_files)},
        "aup": b.sha256(kit.files["aup"]),
    }
    kit.digests = digests
    _trust_and_manifest(kit, root_pub, digests)
    return kit


def _kernel_bytes(work: Path) -> Path:
    p = work / "zImage"
    p.write_bytes(b"\x00\x00\xa0\xe1" * 512 + b"Linux version 4.6.0-xilinx\0")
    return p


#: An S9's NAND layout, scaled down (the offsets are what the walker reads from the dump itself).
DUMP_MTDPARTS = "mtdparts=pl35x-nand:256k(BOOT.bin-env-dts-kernel),4m(angstram-rootfs),256k(upgrade-rootfs)"


def _flash_dump(out: Path, ubi: Path, *, env: bool = True) -> Path:
    boot = bytearray(b"\xff" * (256 << 10))
    if env:  # U-Boot's environment, holding the layout; a dump of a wiped environment has none
        text = b"bootargs=console=ttyPS0,115200 root=ubi0:rootfs ubi.mtd=1 rootfstype=ubifs " + DUMP_MTDPARTS.encode()
        boot[0x1000:0x1000 + len(text)] = text
    rootfs = ubi.read_bytes().ljust(4 << 20, b"\xff")
    out.write_bytes(bytes(boot) + rootfs + b"\xff" * (256 << 10))
    return out


def _trust_and_manifest(kit: Kit, root_pub: Path, d: dict[str, str]) -> None:
    (kit.trust / "vendor-keys").mkdir(parents=True)
    shutil.copy(root_pub, kit.trust / "vendor-keys" / "bitmain-root.pem")
    key = ed25519.Ed25519PrivateKey.generate()
    (kit.trust / "keys").mkdir()
    (kit.trust / "keys" / "vendor.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    payload = manifest_payload(
        firmware=[
            {"model": "Antminer S19", "version": "2026.09.1", "build": "Tue Sep 8 2026",
             "images": {"rootfs": d["rootfs"], "kernel": d["kernel"], "ramdisk": d["ramdisk"]}},
            {"model": "Antminer S9", "version": "2026.09.1-nand", "build": "Tue Sep 8 2026",
             "images": {"rootfs": d["ubi-rootfs"]}, "flash_layout": DUMP_MTDPARTS.removeprefix("mtdparts=")},
            {"model": "Antminer S21", "version": "2026.10.2", "build": "Fri Oct 9 2026",
             "images": {"devicetree": d["bmu-devicetree.dtb"], "kernel": d["bmu-uImage"],
                        "minerfs": d["bmu-minerfs.image.gz"]}},
            {"model": "AvalonMiner 1246", "version": "20240101", "build": "20240101",
             "images": {"payload": "sha256:" + "00" * 32}, "packages": {"good.aup": d["aup"]}},
        ],
        revoked_firmware=[{"digest": d["antbleed-rootfs"], "reason": "remote shutdown hook (Antbleed)"}],
    )
    kit.payload, kit.signer = payload, Signer(key)
    kit.manifest.write_bytes(to_bytes(sign_envelope(payload, [kit.signer])))


@pytest.fixture(scope="session")
def trust(kit: Kit) -> TrustStore:
    return TrustStore.load(kit.trust)


@pytest.fixture(scope="session")
def manifest(kit: Kit, trust: TrustStore, tmp_path_factory: pytest.TempPathFactory) -> Manifest:
    state = StationState(tmp_path_factory.mktemp("state") / "state.json")
    return load_manifest(kit.manifest, trust, state=state)

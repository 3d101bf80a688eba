"""Which flash readings count for what: the rig's own digests never make firmware TRUSTED, a rig
that contradicts the station lied, a dump that contradicts the live rig does not vouch for it,
and flash no release lists is judged by what it holds."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from attest.appraise import appraise
from attest.evidence import Assurance, Claim, Evidence
from attest.manifest import canonical_json, parse_payload
from attest.policy import policy_from_dict
from attest.sim.runner import manifest_payload, plan_fleet
from attest.sim.scenarios import ALLOWED_POOL
from attest.verdict import Verdict

POLICY = policy_from_dict({"pools": {"allow": [ALLOWED_POOL]}})
R, D, M, B, OFF = (Assurance.REPORTED, Assurance.DEVICE, Assurance.MEASURED, Assurance.BOOTLOADER,
                   Assurance.OFFLINE)
BAD = "sha256:" + "ba" * 32


@pytest.fixture(scope="module")
def rig():
    return plan_fleet(1, "genuine", "127.0.9.1")[0]


@pytest.fixture(scope="module")
def manifest(rig):
    return parse_payload(canonical_json(manifest_payload([rig], sequence=7, now=datetime.now(UTC))))


def identity(rig) -> list[Claim]:
    claims = [Claim("unit.model", rig.model, "api", R), Claim("unit.serial", rig.serial, "web", R),
              Claim("net.mac", rig.mac, "web", R), Claim("firmware.version", rig.firmware_version, "api", R),
              Claim("control_board.serial", rig.control_board_serial, "ssh", M)]
    claims += [Claim(f"hashboard.{hb.slot}.serial", hb.serial, "web", R) for hb in rig.hashboards]
    return claims + [Claim(f"config.pool.{i}.url", p.url, "api", R) for i, p in enumerate(rig.pools)]


def digests(rig, assurance: Assurance, *, suffix: str = "sha256", **override: str) -> list[Claim]:
    return [Claim(f"firmware.image.{name}.{suffix}",
                  override.get(name, "sha256:" + hashlib.sha256(data).hexdigest()), f"reading {assurance.label}",
                  assurance) for name, data in rig.images.items()]


def partition(index: int, name: str, size: int, content: str, assurance: Assurance = M) -> list[Claim]:
    return [Claim(f"firmware.partition.mtd{index}.name", name, "ssh", assurance),
            Claim(f"firmware.partition.mtd{index}.size", size, "ssh", assurance),
            Claim(f"firmware.partition.mtd{index}.content", content, "ssh", assurance)]


def judged(rig, manifest, *claims: list[Claim]):
    ev = Evidence(rig.host, tuple(identity(rig) + [c for group in claims for c in group]))
    a = appraise(ev, [manifest], POLICY)
    return a.verdict, {r.code: r for r in a.reasons}


def test_measured_digests_with_an_agreeing_self_report_are_trusted(rig, manifest):
    verdict, reasons = judged(rig, manifest, digests(rig, M), digests(rig, D, suffix="device_sha256"))
    assert verdict is Verdict.TRUSTED, list(reasons)
    assert "every image measured or better" in reasons["FIRMWARE_SIGNED_RELEASE"].detail


def test_the_rigs_own_signed_digests_alone_are_never_trusted(rig, manifest):
    verdict, reasons = judged(rig, manifest, digests(rig, D, suffix="device_sha256"))
    assert verdict is Verdict.WARNING and "FIRMWARE_DEVICE_DIGEST_ONLY" in reasons
    assert "FIRMWARE_SIGNED_RELEASE" not in reasons


def test_a_digest_named_sha256_but_at_device_assurance_still_does_not_count(rig, manifest):
    verdict, reasons = judged(rig, manifest, digests(rig, D))
    assert verdict is Verdict.WARNING and "FIRMWARE_SIGNED_RELEASE" not in reasons


def test_the_rigs_own_unsigned_digest_is_untrusted_it_says_so_itself(rig, manifest):
    verdict, reasons = judged(rig, manifest, digests(rig, D, suffix="device_sha256", rootfs=BAD))
    assert verdict is Verdict.UNTRUSTED and "the rig's own sha256sum" in reasons["FIRMWARE_DIGEST_UNKNOWN"].detail


def test_a_self_report_that_contradicts_the_station_is_a_lie(rig, manifest):
    genuine = digests(rig, D, suffix="device_sha256")
    verdict, reasons = judged(rig, manifest, digests(rig, M, rootfs=BAD), genuine)
    assert verdict is Verdict.UNTRUSTED
    lie = reasons["FIRMWARE_SELF_REPORT_DIFFERS"]
    assert lie.expected == BAD and lie.found == next(c.value for c in genuine if "rootfs" in c.name)
    assert "FIRMWARE_DIGEST_UNKNOWN" in reasons


def test_a_self_report_that_contradicts_uboot_is_a_lie_too(rig, manifest):
    verdict, reasons = judged(rig, manifest, digests(rig, B), digests(rig, D, suffix="device_sha256", boot=BAD))
    assert verdict is Verdict.UNTRUSTED and "image boot" in reasons["FIRMWARE_SELF_REPORT_DIFFERS"].detail


def test_a_miner_binary_self_report_that_contradicts_the_stream_is_a_lie(rig, manifest):
    miner = [Claim("firmware.miner.sha256", BAD, "ssh", M),
             Claim("firmware.miner.device_sha256", "sha256:00", "ssh", D)]
    verdict, reasons = judged(rig, manifest, digests(rig, M), miner)
    assert verdict is Verdict.UNTRUSTED and "miner binary" in reasons["FIRMWARE_SELF_REPORT_DIFFERS"].detail


def test_an_agreeing_dump_lifts_the_verdict_to_offline(rig, manifest):
    verdict, reasons = judged(rig, manifest, digests(rig, M), digests(rig, OFF))
    assert verdict is Verdict.TRUSTED and "every image offline or better" in reasons["FIRMWARE_SIGNED_RELEASE"].detail


@pytest.mark.parametrize("live, dump", [("genuine", "modified"), ("modified", "genuine")])
def test_a_dump_that_contradicts_the_live_rig_is_untrusted(rig, manifest, live, dump):
    readings = {"genuine": {}, "modified": {"rootfs": BAD}}
    verdict, reasons = judged(rig, manifest, digests(rig, M, **readings[live]), digests(rig, OFF, **readings[dump]))
    assert verdict is Verdict.UNTRUSTED and "FIRMWARE_DUMP_DIFFERS" in reasons and "FIRMWARE_DIGEST_UNKNOWN" in reasons


def test_a_dump_alone_is_judged_at_offline(rig, manifest):
    verdict, reasons = judged(rig, manifest, digests(rig, OFF))
    assert verdict is Verdict.TRUSTED and "offline" in reasons["FIRMWARE_SIGNED_RELEASE"].detail


def test_unlisted_partitions_are_judged_by_what_they_hold(rig, manifest):
    for content, code, verdict in [("code: an ELF executable (32-bit) at offset 0x0", "FIRMWARE_UNSIGNED_CONTENT",
                                    Verdict.UNTRUSTED),
                                   ("filesystem: a squashfs image at offset 0x0", "FIRMWARE_UNSIGNED_CONTENT",
                                    Verdict.UNTRUSTED),
                                   ("data", "FIRMWARE_UNSIGNED_DATA", Verdict.WARNING)]:
        got, reasons = judged(rig, manifest, digests(rig, M), partition(4, "upgrade-rootfs", 4096, content))
        assert got is verdict and "upgrade-rootfs (mtd4, 4096 bytes)" in reasons[code].detail, content
    got, reasons = judged(rig, manifest, digests(rig, M), partition(4, "spare", 4096, "erased: every byte is 0xFF"))
    assert got is Verdict.TRUSTED, list(reasons)


def test_mutable_partitions_only_count_when_they_hold_code(rig, manifest):
    fine = partition(2, "config", 16384, "filesystem: a JFFS2 image at offset 0x0") + partition(3, "env", 16384, "data")
    assert judged(rig, manifest, digests(rig, M), fine)[0] is Verdict.TRUSTED
    verdict, reasons = judged(rig, manifest, digests(rig, M),
                              partition(3, "env", 16384, "code: U-Boot environment: bootcmd: `tftp 0x1 x` fetches"))
    assert verdict is Verdict.UNTRUSTED and "the rig rewrites it, yet it holds code" in \
        reasons["FIRMWARE_UNSIGNED_CONTENT"].detail


def test_a_partition_with_a_name_we_refused_is_judged_whatever_it_is_called(rig, manifest):
    refused = [*partition(5, "rootfs", 4096, "filesystem: a squashfs image at offset 0x0"),
               Claim("firmware.partition.mtd5.rejected", 'name "rootfs" is listed more than once', "ssh", M)]
    verdict, reasons = judged(rig, manifest, digests(rig, M), refused)
    assert verdict is Verdict.UNTRUSTED and "mtd5" in reasons["FIRMWARE_UNSIGNED_CONTENT"].detail


def test_an_unlisted_image_only_digested_is_a_warning_its_content_unseen(rig, manifest):
    extra = [Claim("firmware.image.recovery.sha256", BAD, "u-boot", B)]
    verdict, reasons = judged(rig, manifest, digests(rig, B), extra)
    assert verdict is Verdict.WARNING and "not examined" in reasons["FIRMWARE_UNSIGNED_DATA"].detail


def test_a_boot_environment_read_through_uboot_that_fetches_code_is_untrusted(rig, manifest):
    env = [Claim("uboot.env.content", "code: bootcmd: `tftpboot 0x1 x` fetches code over the network", "u-boot", B)]
    verdict, reasons = judged(rig, manifest, digests(rig, B), env)
    assert verdict is Verdict.UNTRUSTED and "U-Boot's environment" in reasons["FIRMWARE_UNSIGNED_CONTENT"].detail


def test_a_partition_that_could_not_be_read_is_never_trusted(rig, manifest):
    failed = [Claim("firmware.partition.mtd4.name", "extra", "ssh", M),
              Claim("firmware.partition.mtd4.read", "failed: cat gave exit status 1 after 0 of 4096 bytes", "ssh", M)]
    verdict, reasons = judged(rig, manifest, digests(rig, M), failed)
    assert verdict is Verdict.WARNING and "could not be read" in reasons["FIRMWARE_UNSIGNED_DATA"].detail


def test_a_dump_that_agrees_with_the_measured_flash_is_not_blamed_for_the_rigs_lie(rig, manifest):
    genuine = digests(rig, D, suffix="device_sha256")
    verdict, reasons = judged(rig, manifest, digests(rig, M, rootfs=BAD), digests(rig, OFF, rootfs=BAD), genuine)
    assert verdict is Verdict.UNTRUSTED
    assert "FIRMWARE_SELF_REPORT_DIFFERS" in reasons and "FIRMWARE_DUMP_DIFFERS" not in reasons


def test_with_only_the_rigs_word_live_a_dump_is_checked_against_it(rig, manifest):
    verdict, reasons = judged(rig, manifest, digests(rig, D, suffix="device_sha256"), digests(rig, OFF, rootfs=BAD))
    assert verdict is Verdict.UNTRUSTED and "FIRMWARE_DUMP_DIFFERS" in reasons

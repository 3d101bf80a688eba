"""The fail-open paths of issue 14 on a live rig, each closed: a rig that lies about its own flash,
a partition no signed release lists, a U-Boot environment that fetches and runs a script.

Each rig is a simulated unit on real loopback sockets (API, web CGI, SSH), verified by host
through attest.fleet.verify_many exactly as `attest verify` does. Before the station measured the
flash itself, the first three were TRUSTED.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from attest.address import HostTarget, PortProfile
from attest.appraise import Appraisal
from attest.credentials import Credentials
from attest.drivers.base import CollectOptions
from attest.fleet import BatchDone, verify_many
from attest.manifest import load_manifest
from attest.policy import load_policy
from attest.sim.runner import start_fleet
from attest.sim.scenarios import apply_scenario
from attest.trust import TrustStore
from tests.conftest import free_loopback_base

#: Slot -> the change made to that (otherwise genuine) rig after the fleet started.
CHANGES = ("genuine", "lying-sha256sum", "unlisted-partition", "env-script", "unlisted-data", "modified-firmware")


async def _verify_changed_fleet(out: Path) -> dict[str, Appraisal]:
    fleet = await start_fleet(len(CHANGES), "genuine", out, base=free_loopback_base(), consoles=False)
    try:
        for rig, change in zip(fleet.rigs, CHANGES, strict=True):
            if change == "unlisted-data":  # bytes with no code in them: a warning, never ignored
                rig.extra_partitions["calib"] = random.Random(7).randbytes(8192)
            elif change != "genuine":
                apply_scenario(rig, change, random.Random(0))
        trust = TrustStore.load(out / "trust")
        manifests = [load_manifest(out / "manifest.dsse.json", trust)]
        events = [e async for e in verify_many(
            [HostTarget(r.host) for r in fleet.rigs], manifests=manifests, policy=load_policy(out / "policy.toml"),
            ports=PortProfile(**fleet.ports or {}), credentials=Credentials(), options=CollectOptions(timeout=10.0))]
        done = events[-1]
        assert isinstance(done, BatchDone)
        by_host = {a.address: a for a in done.appraisals}
        return {change: by_host[rig.host] for rig, change in zip(fleet.rigs, CHANGES, strict=True)}
    finally:
        await fleet.close()


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Appraisal]:
    return asyncio.run(_verify_changed_fleet(tmp_path_factory.mktemp("fail-closed")))


def _codes(appraisal: Appraisal) -> dict[str, str]:
    return {r.code: f"{r.detail} (expected {r.expected}, found {r.found})" for r in appraisal.reasons}


def test_a_genuine_rig_stays_trusted(verdicts: dict[str, Appraisal]) -> None:
    assert verdicts["genuine"].verdict.value == "TRUSTED", _codes(verdicts["genuine"])


def test_a_rig_whose_sha256sum_prints_genuine_digests_is_untrusted(verdicts: dict[str, Appraisal]) -> None:
    appraisal = verdicts["lying-sha256sum"]
    codes = _codes(appraisal)
    assert appraisal.verdict.value == "UNTRUSTED", codes
    assert "FIRMWARE_DIGEST_UNKNOWN" in codes and "rootfs" in codes["FIRMWARE_DIGEST_UNKNOWN"]
    assert "FIRMWARE_SELF_REPORT_DIFFERS" in codes and "rootfs" in codes["FIRMWARE_SELF_REPORT_DIFFERS"]


def test_an_honest_modified_rig_is_untrusted_without_being_called_a_liar(verdicts: dict[str, Appraisal]) -> None:
    codes = _codes(verdicts["modified-firmware"])
    assert verdicts["modified-firmware"].verdict.value == "UNTRUSTED"
    assert "FIRMWARE_DIGEST_UNKNOWN" in codes and "FIRMWARE_SELF_REPORT_DIFFERS" not in codes


def test_an_elf_in_a_partition_no_release_lists_is_untrusted(verdicts: dict[str, Appraisal]) -> None:
    appraisal = verdicts["unlisted-partition"]
    codes = _codes(appraisal)
    assert appraisal.verdict.value == "UNTRUSTED", codes
    assert "upgrade-rootfs" in codes["FIRMWARE_UNSIGNED_CONTENT"] and "ELF" in codes["FIRMWARE_UNSIGNED_CONTENT"]


def test_a_boot_environment_that_fetches_and_runs_a_script_is_untrusted(verdicts: dict[str, Appraisal]) -> None:
    appraisal = verdicts["env-script"]
    codes = _codes(appraisal)
    assert appraisal.verdict.value == "UNTRUSTED", codes
    detail = codes["FIRMWARE_UNSIGNED_CONTENT"]
    assert "env" in detail and "tftpboot" in detail and "source" in detail


def test_data_in_an_unlisted_partition_is_a_warning_naming_it_and_its_size(verdicts: dict[str, Appraisal]) -> None:
    appraisal = verdicts["unlisted-data"]
    codes = _codes(appraisal)
    assert appraisal.verdict.value == "WARNING", codes
    assert "calib" in codes["FIRMWARE_UNSIGNED_DATA"] and "8192 bytes" in codes["FIRMWARE_UNSIGNED_DATA"]

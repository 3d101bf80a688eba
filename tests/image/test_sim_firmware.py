"""The simulator's firmware-scenario rigs hand out their update file, and `attest image` on it
agrees with `attest verify` on the rig (real processes, real loopback sockets)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import sim_process

pytestmark = pytest.mark.timeout(180)


def attest(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attest.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory):
    with sim_process(tmp_path_factory, 13) as sim:
        yield sim


def test_only_firmware_scenarios_hand_out_a_file(sim) -> None:
    _, fleet, _ = sim
    handed = {r["scenario"] for r in fleet["rigs"] if "firmware_file" in r}
    assert handed == {"modified-firmware", "antbleed"}


@pytest.mark.parametrize(("scenario", "image_reason"), [("modified-firmware", "FIRMWARE_DIGEST_UNKNOWN"),
                                                         ("antbleed", "BACKDOOR_INDICATOR")])
def test_attest_image_on_the_file_agrees_with_attest_verify_on_the_rig(sim, scenario: str, image_reason: str) -> None:
    out, fleet, env = sim
    rig = next(r for r in fleet["rigs"] if r["scenario"] == scenario)
    common = ["--manifest", str(out / "manifest.dsse.json"), "--trust", str(out / "trust"), "--json"]
    ports = ",".join(f"{k}={v}" for k, v in fleet["ports"].items())
    verified = attest("verify", rig["host"], *common, "--policy", str(out / "policy.toml"), "--ports", ports, env=env)
    imaged = attest("image", rig["firmware_file"], *common, env=env)
    device, image = json.loads(verified.stdout), json.loads(imaged.stdout)
    assert image["address"] == rig["firmware_file"]
    assert (image["verdict"], imaged.returncode) == (device["verdict"], verified.returncode) == ("UNTRUSTED", 4)
    image_codes = {r["code"] for r in image["reasons"]}
    device_codes = {r["code"] for r in device["reasons"]}
    assert image_reason in image_codes and image_reason in device_codes
    if scenario == "modified-firmware":  # the rootfs changed after the vendor signed fw.tar.gz
        [unknown] = [r for r in image["reasons"] if r["code"] == "FIRMWARE_DIGEST_UNKNOWN"]
        assert unknown["detail"] == "image fw.tar.gz/rootfs"
        assert "VENDOR_SIGNATURE_INVALID" in image_codes
    else:  # an Antbleed-era build the vendor did sign
        assert "VENDOR_SIGNATURE_INVALID" not in image_codes
        assert any(r["code"] == "BACKDOOR_INDICATOR" and "usr/bin/bmminer" in r["detail"] for r in image["reasons"])

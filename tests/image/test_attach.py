"""A flash dump attached to its unit: its images count at ``offline``; one that disagrees with
the live unit, or names another unit, does not vouch for it.

The CLI tests run `attest sim` and `attest verify --attach` as real processes; the dumps are the
simulated rigs' flash chips back to back, as an external programmer would read them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from attest.evidence import Assurance, Claim, Evidence
from attest.image.attach import AttachedDumps, DumpError, read_dump
from attest.sim.runner import plan_fleet
from attest.sim.scenarios import apply_scenario, make_rig
from attest.sim.uboot import flash_dump
from tests.conftest import sim_process


def write_dump(tmp_path: Path, name: str, rig) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_bytes(flash_dump(rig))
    return path


def test_a_dump_becomes_offline_claims_partition_by_partition(tmp_path):
    rig = make_rig(0, "unlisted-partition", "127.0.0.1")
    reading = read_dump(write_dump(tmp_path, "unit.bin", rig), None, [])
    claims = {c.name: c for c in reading.claims}
    assert all(c.assurance is Assurance.OFFLINE and "external programmer" in c.source for c in reading.claims)
    assert reading.layout == "mtdparts=nand0:64k(boot),192k(rootfs),16k(config),16k(env),32k(upgrade-rootfs)"
    assert claims["firmware.image.rootfs.sha256"].value == "sha256:" + hashlib.sha256(rig.images["rootfs"]).hexdigest()
    assert claims["firmware.partition.mtd4.name"].value == "upgrade-rootfs"
    assert str(claims["firmware.partition.mtd4.content"].value).startswith("code: an ELF executable")
    assert str(claims["firmware.partition.mtd3.content"].value).startswith("data: a U-Boot environment")
    assert claims["firmware.dump.unit_serial"].value == rig.serial
    assert reading.problems == ()


def test_a_file_that_is_no_flash_dump_is_refused(tmp_path):
    path = tmp_path / "not-a-dump.bin"
    path.write_bytes(b"\x00" * 4096)
    with pytest.raises(DumpError, match="not a flash dump"):
        read_dump(path, None, [])
    with pytest.raises(OSError):
        read_dump(tmp_path / "missing.bin", None, [])


def test_dumps_go_to_the_unit_they_were_attached_to_by_serial_or_address(tmp_path):
    rig = make_rig(0, "genuine", "127.0.0.1")
    reading = read_dump(write_dump(tmp_path, "unit.bin", rig), None, [])
    source = AttachedDumps(by_serial={rig.serial: reading}, by_address={"10.0.0.9": reading})

    unit = Evidence("10.0.0.5", (Claim("unit.serial", rig.serial, "web", Assurance.REPORTED),))
    other = Evidence("10.0.0.6", (Claim("unit.serial", "SOMEONE-ELSE", "web", Assurance.REPORTED),))
    assert asyncio.run(source.claims_for(unit))[0] == reading.claims
    assert asyncio.run(source.claims_for(other)) == ((), ())
    assert source.unused() == ["10.0.0.9"]
    assert asyncio.run(source.claims_for(Evidence("10.0.0.9", ())))[0] == reading.claims
    assert source.unused() == []


# --- attest verify --attach, against a simulated fleet -----------------------------------------

@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with sim_process(tmp_path_factory, 2, "genuine") as sim:
        yield sim


def attest_verify(sim, host: str, *extra: str) -> subprocess.CompletedProcess[str]:
    out, fleet, env = sim
    ports = ",".join(f"{k}={v}" for k, v in fleet["ports"].items())
    return subprocess.run([sys.executable, "-m", "attest.cli", "verify", host, "--manifest",
                           str(out / "manifest.dsse.json"), "--trust", str(out / "trust"), "--policy",
                           str(out / "policy.toml"), "--ports", ports, "--json", *extra],
                          capture_output=True, text=True, env=env, timeout=90, check=False)


def fleet_rigs(sim):  # type: ignore[no-untyped-def]
    _, fleet, _ = sim
    return plan_fleet(len(fleet["rigs"]), "genuine", fleet["rigs"][0]["host"])


def test_verify_with_the_units_own_dump_is_trusted_at_offline(sim, tmp_path):
    rig = fleet_rigs(sim)[0]
    result = attest_verify(sim, rig.host, "--attach", f"{rig.serial}={write_dump(tmp_path, 'rig1.bin', rig)}")
    assert result.returncode == 0, result.stdout + result.stderr
    line = json.loads(result.stdout)
    assert line["claims"]["firmware.image.rootfs.sha256"]["assurance"] == "offline"
    signed = next(r for r in line["reasons"] if r["code"] == "FIRMWARE_SIGNED_RELEASE")
    assert "offline or better" in signed["detail"]
    assert "flash dump for" in result.stderr and "4 partitions" in result.stderr


def test_a_dump_holding_an_implant_the_live_rig_hides_is_untrusted(sim, tmp_path):
    rig = fleet_rigs(sim)[0]
    implanted = make_rig(0, "genuine", rig.host)
    apply_scenario(implanted, "modified-firmware", random.Random(0))
    result = attest_verify(sim, rig.host, "--attach", f"{rig.serial}={write_dump(tmp_path, 'x.bin', implanted)}")
    assert result.returncode == 4
    codes = {r["code"] for r in json.loads(result.stdout)["reasons"]}
    assert {"FIRMWARE_DUMP_DIFFERS", "FIRMWARE_DIGEST_UNKNOWN"} <= codes


def test_another_units_dump_is_untrusted_even_when_its_images_are_genuine(sim, tmp_path):
    first, second = fleet_rigs(sim)
    result = attest_verify(sim, first.host, "--attach", f"{first.serial}={write_dump(tmp_path, 'b.bin', second)}")
    assert result.returncode == 4
    differs = [r for r in json.loads(result.stdout)["reasons"] if r["code"] == "FIRMWARE_DUMP_DIFFERS"]
    assert differs and second.serial in differs[0]["detail"]


def test_an_attachment_no_unit_answers_for_is_said_and_bad_attachments_stop_the_run(sim, tmp_path):
    rig = fleet_rigs(sim)[0]
    dump = write_dump(tmp_path, "d.bin", rig)
    result = attest_verify(sim, rig.host, "--attach", f"NOBODY-1234={dump}")
    assert result.returncode == 0 and "no checked unit answered with serial NOBODY-1234" in result.stderr
    assert json.loads(result.stdout)["claims"]["firmware.image.rootfs.sha256"]["assurance"] == "measured"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff" * 8192)
    for spec, words in ((str(dump), "expected SERIAL=DUMP.bin"), (f"X={tmp_path / 'none.bin'}", "cannot read"),
                        (f"X={junk}", "not a flash dump")):
        bad = attest_verify(sim, rig.host, "--attach", spec)
        assert bad.returncode == 2 and words in bad.stderr, bad.stderr

"""Clones across time: every check consults the station's signed log, so a serial checked in an
earlier batch with another MAC (and control board) is UNTRUSTED, naming that earlier check.

Two simulated fleets stand for two days at the bench: the first all genuine, the second `mixed`,
whose replaced-control-board rig is the same unit (its slot gives the same serial) with its control
board and MAC replaced since.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import sim_process
from tests.test_end_to_end import attest, verify_args


@pytest.fixture(scope="module")
def monday(tmp_path_factory):
    with sim_process(tmp_path_factory, 5, "genuine") as sim:
        yield sim


@pytest.fixture(scope="module")
def tuesday(tmp_path_factory):
    with sim_process(tmp_path_factory, 5, "mixed") as sim:
        yield sim


def test_a_serial_seen_with_another_mac_in_an_earlier_batch_is_identity_changed_since(monday, tuesday, tmp_path):
    env = {**monday[2], "ATTEST_PASSPHRASE": "correct horse", "ATTEST_HOME": str(tmp_path / "home")}
    assert attest("station", "init", "--id", "bench-9", "--no-input", env=env).returncode == 0
    log = str(tmp_path / "log.sqlite")
    # A rig's serial comes from its slot in the fleet: the same slot on both days is the same unit.
    slot = next(i for i, r in enumerate(tuesday[1]["rigs"]) if r["scenario"] == "replaced-control-board")
    first_rig, later_rig = monday[1]["rigs"][slot], tuesday[1]["rigs"][slot]

    first = attest(*verify_args(monday[0], {"ports": monday[1]["ports"], "rigs": [first_rig]}), "--json",
                   "--log", log, "--no-input", env=env)
    assert first.returncode == 0, first.stderr
    (line,) = [json.loads(x) for x in first.stdout.splitlines()]
    serial, mac = line["claims"]["unit.serial"]["value"], line["claims"]["net.mac"]["value"]
    assert "IDENTITY_SEEN_BEFORE" not in {r["code"] for r in line["reasons"]}  # never checked here before

    again = attest(*verify_args(monday[0], {"ports": monday[1]["ports"], "rigs": [first_rig]}), "--json",
                   "--log", log, "--no-input", env=env)
    (line,) = [json.loads(x) for x in again.stdout.splitlines()]
    seen = next(r for r in line["reasons"] if r["code"] == "IDENTITY_SEEN_BEFORE")
    assert line["verdict"] == "TRUSTED" and "checked once before at station bench-9" in seen["detail"]

    later = attest(*verify_args(tuesday[0], {"ports": tuesday[1]["ports"], "rigs": [later_rig]}), "--json",
                   "--log", log, "--no-input", env=env)
    assert later.returncode == 4, later.stderr
    (line,) = [json.loads(x) for x in later.stdout.splitlines()]
    assert line["claims"]["unit.serial"]["value"] == serial and line["claims"]["net.mac"]["value"] != mac
    changed = next(r for r in line["reasons"] if r["code"] == "IDENTITY_CHANGED_SINCE")
    assert line["verdict"] == "UNTRUSTED" and changed["status"] == "contraindicated"
    assert "at station bench-9 (record bench-9 #1)" in changed["detail"]  # the newest earlier check
    assert f"MAC was {mac.lower()}, now " in changed["detail"] and "control board was" in changed["detail"]

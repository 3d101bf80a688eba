"""Check ▸ Attach flash dump…: the dump is read off the GUI thread, sits on the selected row, and
the rig's next check (in the check process) counts its images at assurance offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from attest.address import HostTarget, PortProfile
from attest.evidence import Assurance
from attest.sim.runner import plan_fleet
from attest.sim.uboot import flash_dump
from attest.verdict import Verdict
from tests.conftest import sim_process

CHECK_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with sim_process(tmp_path_factory, 1, "genuine") as sim:
        yield sim


def test_the_check_menu_has_attach_flash_dump(window) -> None:
    action = window.actions["attach_dump"]
    assert action.text() == "Attach flash &dump…" and action.shortcut().toString() == "Ctrl+Shift+D"


def test_a_file_that_is_no_dump_attaches_nothing_and_says_why(qtbot, window, tmp_path: Path) -> None:
    window.intake.add_targets([HostTarget("10.0.0.7")])
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\xff" * 8192)
    with qtbot.waitSignal(window.dumps.relay.failed, timeout=10_000) as failed:
        window.dumps.attach("10.0.0.7", junk)
    assert "not a flash dump" in failed.args[1]
    assert window.model.row("10.0.0.7").dump is None


def test_an_attached_dump_counts_at_offline_in_the_rigs_next_check(qtbot, window, sim, tmp_path: Path) -> None:
    out, fleet, _ = sim
    host = fleet["rigs"][0]["host"]
    rig = plan_fleet(1, "genuine", host)[0]
    dump = tmp_path / "rig-001.bin"
    dump.write_bytes(flash_dump(rig))
    window.station.open_trust(out / "trust")
    window.station.open_policy(out / "policy.toml")
    window.station.ports = PortProfile(**fleet["ports"])
    with qtbot.waitSignal(window.manifestsChanged, timeout=10_000):
        window.load_manifests([out / "manifest.dsse.json"])
    window.intake.add_targets([HostTarget(host)])
    assert window.table.select_device(host)
    with qtbot.waitSignal(window.dumps.attached, timeout=10_000):
        window.dumps.attach(host, dump)
    row = window.model.row(host)
    assert row is not None and row.dump is not None and row.dump.partitions == 4
    assert "Flash dump attached: rig-001.bin" in window.detail.summary_text()
    with qtbot.waitSignal(window.checkFinished, timeout=CHECK_TIMEOUT_MS):
        assert window.verify_selected()
    appraisal = window.model.row(host).appraisal
    assert appraisal is not None and appraisal.verdict is Verdict.TRUSTED, [r.code for r in appraisal.reasons]
    rootfs = appraisal.evidence.best("firmware.image.rootfs.sha256")
    assert rootfs is not None and rootfs.assurance is Assurance.OFFLINE

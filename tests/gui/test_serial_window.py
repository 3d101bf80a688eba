"""A serial rig checked from the window: through the check process, with its console live."""

from __future__ import annotations

import json
import shutil

import pytest

from gui.verification import serial_address
from tests.conftest import free_loopback_base


@pytest.fixture
def console_fleet(jobs, tmp_path):
    from attest.sim.runner import start_fleet

    fleet = jobs.call_blocking(start_fleet(1, "genuine", tmp_path / "sim", base=free_loopback_base(),
                                           consoles=True), timeout=30)
    yield fleet
    jobs.call_blocking(fleet.close(), timeout=10)
    shutil.rmtree(tmp_path / "sim", ignore_errors=True)


def test_a_serial_rig_is_verified_and_its_console_shows_live(qtbot, window, console_fleet):
    out = console_fleet.out
    window.station.open_trust(out / "trust")
    window.station.open_policy(out / "policy.toml")
    with qtbot.waitSignal(window.manifestsChanged, timeout=10_000):
        window.load_manifests([out / "manifest.dsse.json"])
    endpoint = json.loads((out / "fleet.json").read_text())["rigs"][0]["endpoints"]["serial"]
    device = endpoint.removeprefix("serial://")
    address = window.intake.add_serial(serial_address(device, 115200))
    assert window.table.select_device(address)
    chunks: list[object] = []
    window.checks.consoleOutput.connect(chunks.append)
    with qtbot.waitSignal(window.checkFinished, timeout=60_000):
        assert window.verify_all()
    row = window.model.row(address)
    assert row.verdict is not None and row.verdict.value == "TRUSTED", row.appraisal and row.appraisal.reasons
    assert chunks, "no console output reached the window"
    shown = window.detail.console.text_of(window.detail.console.shown)
    assert "U-Boot" in shown or "login" in shown or "#" in shown

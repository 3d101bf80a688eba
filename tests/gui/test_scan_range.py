"""Scan range…: rows appear while the range is still being probed, a hung rig is a row, empty addresses add nothing,
Stop ends the scan and keeps the rows, and an endpoint URL is refused with where it belongs."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from attest.address import PortProfile
from attest.sim.runner import free_base, start_fleet
from gui.dialogs.scan_range import ScanRangeDialog
from gui.models.rows import RowKind

#: The scan tests' own loopback block (see tests/gui/conftest.py for the others'); free_base moves
#: elsewhere when another run holds it.
SCAN_BASE = "127.0.11.1"


@pytest.fixture
def scan_fleet(jobs, tmp_path):
    """Two genuine rigs at .1 and .2 and an unresponsive one at .3 (it accepts on every port and
    never answers, so probing it takes the whole discovery timeout)."""
    base = free_base(SCAN_BASE)
    prefix = base.rsplit(".", 1)[0]
    genuine = jobs.call_blocking(start_fleet(2, "genuine", tmp_path / "genuine", base=base), timeout=30)
    silent = jobs.call_blocking(start_fleet(1, "unresponsive", tmp_path / "silent", base=f"{prefix}.3",
                                            ports=genuine.ports), timeout=30)
    yield prefix, genuine, silent
    for fleet in (genuine, silent):
        jobs.call_blocking(fleet.close(), timeout=10)
    shutil.rmtree(tmp_path / "genuine", ignore_errors=True)
    shutil.rmtree(tmp_path / "silent", ignore_errors=True)


# Pressing Scan range… again raises the open dialog, which the offscreen platform cannot do.
@pytest.mark.qt_log_ignore("This plugin does not support raise\\(\\)")
def test_scan_range_adds_rows_live_and_stop_keeps_them(qtbot, window, scan_fleet):
    prefix, genuine, silent = scan_fleet
    action = window.actions["scan_range"]
    assert action.text() == "Scan &range…" and action.shortcut().toString() == "Ctrl+R"
    dialog = window.scan_range_dialog()
    assert isinstance(dialog, ScanRangeDialog) and dialog.isVisible()
    assert window.scan_range_dialog() is dialog  # one scan window, not one per press
    ports = PortProfile(**genuine.ports)
    dialog.api.setValue(ports.api)
    dialog.web.setValue(ports.web)
    dialog.ssh.setValue(ports.ssh)
    running_when_rows_arrived: list[bool] = []
    window.intake.rowsAdded.connect(lambda _ids: running_when_rows_arrived.append(dialog.running))

    dialog.ranges.setText(f"{prefix}.0/29")  # .1 to .6: two rigs, one silent rig, three empty addresses
    assert "6 address(es) to probe" in dialog.status.text()
    with qtbot.waitSignal(dialog.scanFinished, timeout=30_000) as finished:
        assert dialog.scan.isEnabled()
        dialog.scan.click()
        assert dialog.running and not dialog.scan.isEnabled()

    assert finished.args[0].endswith(": 6 addresses: 3 answered (2 identified, 1 not identified), 3 silent")
    assert window.statusBar().currentMessage() == finished.args[0]
    rows = {r.host: r for r in window.model.rows()}
    hung = silent.rigs[0].host
    assert set(rows) == {r.host for r in genuine.rigs} | {hung}  # the hung rig is a row; empty addresses are not
    assert all(r.kind is RowKind.HOST and r.label.startswith("answers: api (") for h, r in rows.items() if h != hung)
    assert rows[hung].label.startswith(f"opens {ports.api} (api)") and rows[hung].discovered is not None
    assert [r.host for r in window.model.rows()] == sorted(rows, key=lambda h: int(h.rsplit(".", 1)[1]))
    # The rigs became rows while the silent address was still being probed: the table is fed live.
    assert running_when_rows_arrived and all(running_when_rows_arrived)
    assert dialog.progress.value() == dialog.progress.maximum() == 6
    assert not dialog.running and dialog.scan.isEnabled()

    dialog.ranges.setText(f"{silent.rigs[0].host}/32")  # probing it takes the whole discovery timeout
    with qtbot.waitSignal(dialog.scanFinished, timeout=30_000) as stopped:
        assert dialog.start()
        assert not dialog.start()  # one scan at a time
        qtbot.waitUntil(dialog.stop_button.isEnabled, timeout=10_000)  # once the scan reports it started
        dialog.stop_button.click()
    assert stopped.args[0].endswith("(stopped)")
    assert {r.host for r in window.model.rows()} == {r.host for r in genuine.rigs} | {hung}  # the rows stay


def test_scan_range_refuses_an_endpoint_and_nonsense(qtbot, window):
    dialog = window.scan_range_dialog()
    dialog.ranges.setText("cgminer://10.0.4.17:4028")
    assert not dialog.scan.isEnabled() and "Add host or range" in dialog.status.text()
    assert not dialog.start()
    dialog.ranges.setText("10.0.4.0/24, not a host!")
    assert not dialog.scan.isEnabled() and "not a valid host" in dialog.status.text()
    dialog.ranges.setText("10.0.4.0/30 10.0.5.9")
    assert dialog.scan.isEnabled() and "3 address(es) to probe" in dialog.status.text()
    dialog.close()  # closing with nothing running is harmless
    assert not dialog.running


@pytest.fixture
def broken_fleet(jobs, tmp_path):
    """Two genuine rigs at .1 and .2, then a hung rig (.3) and one that answers garbage (.4)."""
    base = free_base(SCAN_BASE)
    prefix = base.rsplit(".", 1)[0]
    fleets = [jobs.call_blocking(start_fleet(2, "genuine", tmp_path / "genuine", base=base), timeout=30)]
    for n, scenario in ((3, "unresponsive"), (4, "garbage")):
        fleets.append(jobs.call_blocking(start_fleet(1, scenario, tmp_path / scenario, base=f"{prefix}.{n}",
                                                     ports=fleets[0].ports), timeout=30))
    yield prefix, fleets
    for fleet in fleets:
        jobs.call_blocking(fleet.close(), timeout=10)
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_scanned_range_checked_gives_a_row_per_rig_and_the_broken_ones_unknown(qtbot, window, broken_fleet):
    prefix, (genuine, hung, garbage) = broken_fleet
    window.settings = replace(window.settings, request_timeout=1.0)  # the hung rig's TIMEOUT comes sooner
    window.station.open_trust(genuine.out / "trust")
    window.station.open_policy(genuine.out / "policy.toml")
    window.station.ports = PortProfile(**genuine.ports)
    with qtbot.waitSignal(window.manifestsChanged, timeout=10_000):
        window.load_manifests([genuine.out / "manifest.dsse.json"])
    dialog = window.scan_range_dialog()
    ports = PortProfile(**genuine.ports)
    dialog.api.setValue(ports.api)
    dialog.web.setValue(ports.web)
    dialog.ssh.setValue(ports.ssh)
    dialog.ranges.setText(f"{prefix}.0/29")
    with qtbot.waitSignal(dialog.scanFinished, timeout=30_000) as finished:
        dialog.scan.click()
    assert finished.args[0].endswith("6 addresses: 4 answered (2 identified, 2 not identified), 2 silent")
    dialog.reject()
    with qtbot.waitSignal(window.checkFinished, timeout=60_000):
        assert window.verify_all()
    rows = {r.host: r for r in window.model.rows()}
    assert list(rows) == [f"{prefix}.{n}" for n in (1, 2, 3, 4)]  # every rig, in address order
    assert {h: r.verdict.value for h, r in rows.items()} == {
        **{r.host: "TRUSTED" for r in genuine.rigs}, hung.rigs[0].host: "UNKNOWN", garbage.rigs[0].host: "UNKNOWN"}
    for broken in (hung.rigs[0].host, garbage.rigs[0].host):
        assert rows[broken].top_code == "NOT_IDENTIFIED"
        assert rows[broken].top_reason.startswith(f"Does not identify as a miner: {broken} opens {ports.api} (api)")

"""Getting rigs in: the add-host dialog, ranges found by discovery, serial consoles (a silent one
is an honest UNKNOWN), a serial adapter that vanished, and a scanned serial folded into its rig."""

from __future__ import annotations

import os
import shutil

import pytest

from attest.address import PortProfile, RangeTarget, parse_address
from attest.sim.runner import start_fleet
from gui.dialogs.add_host import AddHostDialog, AddHostRequest
from gui.dialogs.add_serial import AddSerialDialog
from gui.models.rows import RowKind, RowState
from tests.gui.conftest import RANGE_BASE


def test_add_host_dialog_accepts_what_the_cli_accepts(qtbot):
    dialog = AddHostDialog(PortProfile(api=4028, web=8080, ssh=2222))
    qtbot.addWidget(dialog)
    dialog.address.setText("not a host!")
    assert not dialog.ok.isEnabled()
    assert "not a valid host" in dialog.error.text()
    dialog.address.setText("10.0.4.300")
    assert not dialog.ok.isEnabled()
    assert dialog.error.text() == "'10.0.4.300' is not an IPv4 address: 300 is more than 255"
    dialog.address.setText("10.0.4.0/29")
    assert dialog.ok.isEnabled() and "range of 8 addresses" in dialog.error.text()
    dialog.address.setText("ssh://root:secret@10.0.4.17:2222")
    dialog.username.setText("")
    request = dialog.request()
    assert request.target.address == "ssh://root@10.0.4.17:2222"  # the password never reaches the row
    assert request.credential.username == "root" and request.ports.web == 8080


def test_serial_consoles_are_checked_through_the_console_driver(qtbot, window):
    controller, agent = os.openpty()  # a real tty device, present while the test runs
    try:
        device = os.ttyname(agent)
        dialog = AddSerialDialog(window)
        qtbot.addWidget(dialog)
        dialog.port.setEditText(device)
        address = dialog.address()
        assert address == f"serial://{device}"  # the spelling the core reports back with its events
        window.intake.add_serial(address)
        gone = window.intake.add_serial("serial:///dev/ttyUSB-unplugged?baud=115200")
        with qtbot.waitSignal(window.checkFinished, timeout=10_000):
            assert window.verify_all()
    finally:
        os.close(controller)
        os.close(agent)
    present = window.model.row(address)
    assert present.kind is RowKind.SERIAL and present.verdict.value == "UNKNOWN"
    top = present.appraisal.top_reason  # a console that says nothing: the driver says what it tried
    assert top.code == "TIMEOUT" and "the console sent nothing" in top.detail
    vanished = window.model.row(gone)
    assert vanished.verdict.value == "UNKNOWN"
    assert vanished.appraisal.top_reason.code == "UNREACHABLE"
    assert "No such file or directory" in vanished.appraisal.top_reason.detail
    assert window.table.select_device(gone)
    assert "cannot open /dev/ttyUSB-unplugged" in window.detail.summary_text()


@pytest.fixture
def range_fleet(jobs, tmp_path):
    fleet = jobs.call_blocking(start_fleet(2, "genuine", tmp_path / "sim", base=RANGE_BASE), timeout=30)
    yield fleet
    jobs.call_blocking(fleet.close(), timeout=10)
    shutil.rmtree(tmp_path / "sim", ignore_errors=True)


def test_a_range_adds_the_hosts_that_answer_and_a_scanned_serial_finds_its_rig(qtbot, window, range_fleet):
    ports = PortProfile(**range_fleet.ports)
    window.station.open_trust(range_fleet.out / "trust")
    window.station.open_policy(range_fleet.out / "policy.toml")
    with qtbot.waitSignal(window.manifestsChanged, timeout=10_000):
        window.load_manifests([range_fleet.out / "manifest.dsse.json"])
    first = range_fleet.rigs[0]
    window.scan_serial(first.serial + "\n")  # scanned before the rig is plugged in
    pending = window.model.row(f"pending:{first.serial}")
    assert pending.state is RowState.PENDING and pending.model == first.model  # known from the manifest
    network = parse_address(RANGE_BASE.rsplit(".", 1)[0] + ".0/29")
    assert isinstance(network, RangeTarget)
    with qtbot.waitSignal(window.intake.discoveryFinished, timeout=20_000) as found:
        window.intake.add_request(AddHostRequest(network, ports))
    assert found.args[0] == (f"Range {network.address}: 6 addresses: 2 answered (2 identified, "
                             "0 not identified), 4 silent.")
    assert window.statusBar().currentMessage() == found.args[0]
    hosts = {r.host for r in window.model.rows() if r.kind is RowKind.HOST}
    assert hosts == {r.host for r in range_fleet.rigs}
    with qtbot.waitSignal(window.checkFinished, timeout=30_000):
        assert window.verify_all()
    assert window.model.row(f"pending:{first.serial}") is None  # folded into the real row
    assert window.table.current_device() == first.host
    assert {r.verdict.value for r in window.model.rows()} == {"TRUSTED"}

"""The signed log from the station's side: every check logged, the history, receipts, exports,
the auditor's verify dialog, and the station key's passphrase flow."""

from __future__ import annotations

import json
import shutil

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from attest.address import HostTarget, PortProfile
from attest.log.receipt import verify_receipt
from attest.log.store import Selection
from attest.log.verify import verify_bundle
from attest.sim.runner import start_fleet
from attest.station import load_identity
from gui.dialogs.export_log import ExportRequest
from gui.dialogs.station_key import PassphraseDialog
from gui.dialogs.verify_log import verify_file
from gui.models.history import entry_of
from gui.verification import BatchLogged, LogFailed
from tests.conftest import free_loopback_base


@pytest.fixture
def fleet(jobs, tmp_path):
    fleet = jobs.call_blocking(start_fleet(2, "genuine", tmp_path / "sim", base=free_loopback_base()), timeout=30)
    yield fleet
    jobs.call_blocking(fleet.close(), timeout=10)
    shutil.rmtree(tmp_path / "sim", ignore_errors=True)


def checked(qtbot, window, fleet, times: int = 1):
    window.station.open_trust(fleet.out / "trust")
    window.station.open_policy(fleet.out / "policy.toml")
    window.station.ports = PortProfile(**fleet.ports)
    with qtbot.waitSignal(window.manifestsChanged, timeout=10_000):
        window.load_manifests([fleet.out / "manifest.dsse.json"])
    window.intake.add_targets([HostTarget(r.host) for r in fleet.rigs])
    for _ in range(times):
        with qtbot.waitSignal(window.checkFinished, timeout=30_000):
            assert window.verify_all()
    return window


def test_every_check_is_logged_and_the_history_finds_it(qtbot, window, fleet):
    checked(qtbot, window, fleet, times=2)  # a re-verification is a new record, never an update
    logged = window.checks.last_log
    assert isinstance(logged, BatchLogged) and (logged.first, logged.size) == (2, 4)
    history = window.log_commands.show_history()
    qtbot.waitUntil(lambda: history.model.rowCount() == 4, timeout=10_000)
    first = fleet.rigs[0]
    history.search.setText(first.serial[-6:])
    assert history.proxy.rowCount() == 2  # both checks of that rig, newest first
    assert {history.proxy.index(r, 2).data() for r in range(2)} == {first.serial}
    history.verdict.setCurrentIndex(history.verdict.findData("UNTRUSTED"))
    assert history.proxy.rowCount() == 0
    history.verdict.setCurrentIndex(history.verdict.findData("TRUSTED"))
    assert history.proxy.rowCount() == 2
    assert "4 records in the log" in history.status.text()


def test_receipt_export_and_the_auditor_dialog(qtbot, window, fleet, tmp_path):
    checked(qtbot, window, fleet)
    commands = window.log_commands
    receipt = tmp_path / "receipt.json"
    with qtbot.waitSignal(commands.done, timeout=10_000):
        commands.save_receipt(str(receipt), serial=fleet.rigs[1].serial)
    report = verify_receipt(receipt, pinned=load_identity().fingerprint)
    assert report.ok and report.record["serial"] == fleet.rigs[1].serial

    bundle = tmp_path / "log.attestlog.jsonl"
    with qtbot.waitSignal(commands.done, timeout=10_000):
        commands.export(ExportRequest(str(bundle), Selection(serials=(fleet.rigs[0].serial,)),
                                      str(tmp_path / "log.intoto.jsonl")))
    checked_bundle = verify_bundle(bundle)
    assert checked_bundle.ok and (checked_bundle.shown, checked_bundle.hidden) == (1, 1)
    assert len((tmp_path / "log.intoto.jsonl").read_text().splitlines()) == 1

    dialog = commands.verify_dialog()
    dialog.path.setText(str(bundle))
    dialog.station_key.setText(load_identity().fingerprint)
    dialog.verify()
    qtbot.waitUntil(lambda: dialog.last is not None, timeout=10_000)
    assert dialog.last.ok and "(matches the key given)" in dialog.result.toPlainText()

    lines = bundle.read_text().splitlines()
    shown = next(i for i, line in enumerate(lines) if '"record":' in line)  # verdicts land in the order given
    record_text = json.dumps(json.loads(lines[shown])).replace('"TRUSTED"', '"UNTRUSTED"', 1)
    tampered = tmp_path / "tampered.attestlog.jsonl"
    tampered.write_text("\n".join([*lines[:shown], record_text, *lines[shown + 1:]]) + "\n")
    verdict = verify_file(str(tampered), "", "")
    assert not verdict.ok and "refused" in verdict.text
    assert verify_file(str(receipt), "0" * 64, "").text.startswith("refused")  # another station's key
    assert "not to a receipt" in verify_file(str(receipt), "", str(bundle)).text


def test_the_pdf_names_no_checkpoint_before_any_check(qtbot, window, tmp_path):
    snap = window.commands.visible_rows_snapshot()
    assert snap.station_key == ("test-bench", load_identity().fingerprint)
    assert snap.checkpoint is None


def test_a_log_that_cannot_be_written_keeps_the_verdicts_and_says_so(qtbot, window, fleet, tmp_path):
    window.station_log.unlock(window)
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the log's directory should be")
    window.station_log._path = blocked / "log.sqlite"
    checked(qtbot, window, fleet)
    failed = window.checks.last_log
    assert isinstance(failed, LogFailed), failed
    assert failed.code.startswith(("LOG_", "STATION_"))
    assert {r.verdict.value for r in window.model.rows()} == {"TRUSTED"}  # the verdicts stand
    assert "NOT recorded in the signed log" in window.summary.status.text()


def test_device_text_in_the_history_is_plain(qtbot):
    record = {"serial": "<b>x</b><img src=http://evil/>", "verdict": "UNKNOWN", "address": "10.0.0.1\x1b[2J",
              "reasons": [{"code": "TIMEOUT"}], "time": "2026-11-25T10:00:00Z", "batch": "b", "operator": "o"}
    entry = entry_of(7, json.dumps(record).encode())
    assert entry.serial == "<b>x</b><img src=http://evil/>"  # shown as these characters, never as markup
    assert "\x1b" not in entry.address
    assert entry_of(8, b"\xff not json").verdict == ""  # a damaged record is a blank line, not a crash


def _answer_dialog(passphrases: list[str]) -> list[str]:
    """Fill each passphrase dialog that opens with the next passphrase; returns what it saw."""
    seen: list[str] = []

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, PassphraseDialog):
            seen.append(dialog.problem.text() if dialog.problem.isVisibleTo(dialog) else "")
            text = passphrases.pop(0) if passphrases else None
            if text is None:
                dialog.reject()
                return
            dialog.passphrase.setText(text)
            dialog.repeat.setText(text)
            dialog._accept_if_valid()
        if passphrases or not seen:
            QTimer.singleShot(20, answer)

    QTimer.singleShot(20, answer)
    return seen


def test_the_key_is_asked_for_and_a_wrong_passphrase_is_said_in_the_dialog(qtbot, window, monkeypatch):
    monkeypatch.delenv("ATTEST_PASSPHRASE")
    seen = _answer_dialog(["wrong", "test passphrase"])
    assert window.station_log.unlock(window)
    assert seen == ["", "That passphrase does not open the station key. Try again."]
    assert window.station_log.signer is not None
    window.station_log.lock()
    _answer_dialog([])  # declined
    assert not window.station_log.unlock(window)
    window.intake.add_targets([HostTarget("127.0.0.1")])
    _answer_dialog([])
    assert not window.verify_all()  # no check runs unrecorded
    assert "station key was not opened" in window.statusBar().currentMessage()


def test_a_revision_in_the_history_names_the_record_it_revises(qtbot):
    record = {"serial": "SN1", "verdict": "UNTRUSTED", "address": "10.0.0.1", "top_reason": "SERIAL_CLONED",
              "time": "2026-11-25T10:00:00Z", "batch": "b", "operator": "o",
              "supersedes": {"index": 3, "leaf_hash": "00" * 32}}
    assert entry_of(9, json.dumps(record).encode()).reason == "SERIAL_CLONED (revises #3)"

"""The acceptance run: the real window, the demo fleet, Verify all, and what a technician then sees.

One verified window is shared by the module's tests (a check of the demo fleet takes seconds);
the tests that run their own check (re-verify, cancel) come last.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from PySide6.QtCore import QTimer
from pytestqt.qtbot import QtBot

from attest.log.export import export_bundle
from attest.log.store import open_store
from attest.log.verify import verify_bundle
from attest.sim.scenarios import MIXED
from gui.app import start_demo_in
from gui.demo import expected_verdict
from gui.jobs import JobRunner
from gui.main_window import MainWindow
from gui.models.rows import RowKind, RowState
from gui.settings import StationSettings
from gui.station import Station
from gui.verification import BatchLogged
from tests.conftest import free_loopback_base, skip_unless_ci

CHECK_TIMEOUT_MS = 60_000
#: The status bar right after Verify all (later tests' exports write there too).
STATUS_AFTER_CHECK: dict[str, str] = {}


class TickRecorder:
    """A 10 ms QTimer that notes when it fired: if the GUI thread stalls, the gap shows it."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.times.append(time.monotonic()))

    def start(self) -> None:
        self.times.clear()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def longest_gap(self) -> float:
        return max((b - a for a, b in zip(self.times, self.times[1:], strict=False)), default=float("inf"))


@pytest.fixture(scope="module")
def demo(request, qapp):
    bot = QtBot(request)
    jobs = JobRunner()
    win = MainWindow(jobs, StationSettings(station_name="gui-test", operator="tester"), Station())
    home = start_demo_in(win, base=free_loopback_base())  # other runs on this machine hold fixed blocks
    win.show()
    with bot.waitSignal(win.demoReady, timeout=30_000):
        pass
    ticks = TickRecorder()
    ticks.start()
    with bot.waitSignal(win.checkFinished, timeout=CHECK_TIMEOUT_MS):
        assert win.verify_all()
    ticks.stop()
    STATUS_AFTER_CHECK["bar"] = win.statusBar().currentMessage()
    yield win, bot, ticks
    win.close()
    jobs.shutdown()
    shutil.rmtree(home, ignore_errors=True)


def scenario_of(win: MainWindow) -> dict[str, str]:
    return {h: s for h, s in win.demo.hosts}


def row_for(win: MainWindow, scenario: str):
    host = next(h for h, s in win.demo.hosts if s == scenario)
    return win.model.row(host)


def test_demo_loads_its_manifest_and_rigs(demo):
    win, _, _ = demo
    assert len(win.station.accepted()) == 1
    assert "Demo Mining Hardware Ltd" in win.manifests.text()
    assert "chain:" in win.manifests.text()  # the signer chain is shown
    assert win.model.rowCount() == len(MIXED)


def test_every_scenario_gets_its_designed_verdict(demo):
    win, _, _ = demo
    scenarios = scenario_of(win)
    got = {scenarios[r.device_id]: (r.verdict.value if r.verdict else None) for r in win.model.rows()}
    assert got == {s: expected_verdict(s) for s in MIXED}  # the demo watches its rigs' network
    assert all(r.state is RowState.DONE for r in win.model.rows())
    summary = win.summary.label.text()
    assert summary.startswith("2 trusted · 11 warning · 7 untrusted · 2 unknown"), summary


def test_the_network_tab_shows_what_the_watch_saw_with_its_judgement(demo):
    win, _, _ = demo
    antbleed = row_for(win, "antbleed")
    assert win.table.select_device(antbleed.device_id)
    text = win.detail.network.text()
    assert "auth.minerlink.com" in text and "indicator: antbleed" in text and "check-in of antbleed" in text
    phone = row_for(win, "phone-home")
    assert win.table.select_device(phone.device_id)
    text = win.detail.network.text()
    assert "TLS name telemetry.example.org" in text or "telemetry.example.org\tA" in text
    assert "unlisted: not on the egress allow-list" in text
    assert "pool.ntp.org\tA" in text and "allowed: on the egress allow-list" in text


def test_untrusted_row_shows_the_mismatch_in_the_detail_pane(demo):
    win, _, _ = demo
    row = row_for(win, "swapped-hashboard")
    assert win.table.select_device(row.device_id)
    assert win.detail.device_id == row.device_id
    text = win.detail.summary_text()
    assert "UNTRUSTED" in win.detail.verdict.text()
    assert "A hashboard serial differs from the manifest's for that slot." in text
    assert "HASHBOARD_SERIAL_MISMATCH" in text and "slot 1" in text
    mismatch = next(r for r in row.appraisal.reasons if r.code == "HASHBOARD_SERIAL_MISMATCH")
    assert f"{mismatch.expected}" in win.detail.mismatches.text()
    assert f"{mismatch.found}" in win.detail.mismatches.text()
    assert "photograph the hashboard labels" in text  # the remediation, in plain words
    assert win.detail.claims.topLevelItemCount() >= 3  # claims grouped by category
    assert "stats" in win.detail.transcript.toPlainText() or win.detail.transcript.toPlainText()


def test_barcode_selects_the_matching_row(demo):
    win, bot, _ = demo
    row = row_for(win, "pool-hijack")
    win.filters.scan.setFocus()
    bot.keyClicks(win.filters.scan, row.serial)
    bot.keyClick(win.filters.scan, "\r")
    assert win.table.current_device() == row.device_id
    assert win.detail.device_id == row.device_id
    assert win.filters.scan.text() == ""  # ready for the next scan


def test_unknown_barcode_creates_a_pending_row(demo):
    win, bot, _ = demo
    bot.keyClicks(win.filters.scan, "  NOPE0000000001 ")
    bot.keyClick(win.filters.scan, "\r")
    pending = win.model.row("pending:NOPE0000000001")
    assert pending is not None and pending.kind is RowKind.PENDING
    assert win.table.current_device() == pending.device_id
    assert "not in any loaded manifest" in win.detail.summary_text()
    win.model.remove_rows([pending.device_id])


def test_pdf_report_holds_every_serial(demo, tmp_path):
    win, bot, _ = demo
    if shutil.which("pdftotext") is None:
        skip_unless_ci("pdftotext (poppler-utils) is not installed")
    out = tmp_path / "report.pdf"
    with bot.waitSignal(win.commands.exportFinished, timeout=30_000):
        win.commands.export_pdf(out)
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    serials = {r.serial for r in win.model.rows() if r.serial}
    assert len(serials) >= 10
    missing = [s for s in serials if s not in text]
    assert not missing, missing
    assert "7 untrusted" in text
    assert "HASHBOARD_SERIAL_MISMATCH" in text
    # The report is tied to the signed log: the station key's fingerprint and the checkpoint root.
    logged = win.checks.last_log
    assert isinstance(logged, BatchLogged)
    assert win.station_log.identity().fingerprint in text
    assert logged.root_hex in text


def test_verify_all_is_recorded_in_the_signed_log(demo):
    win, _, _ = demo
    logged = win.checks.last_log
    assert isinstance(logged, BatchLogged), logged
    # A record per verdict as it was given, and one more per verdict a clone read later revised.
    revised = [r for r in win.model.rows() if r.revised_because]
    assert revised and all(r.verdict.value == "UNTRUSTED" for r in revised)
    assert (logged.first, logged.size, logged.revisions) == (0, win.model.rowCount() + len(revised), len(revised))
    report = verify_bundle_after_export(win)
    assert report.ok and report.tree_size == logged.size
    assert report.root_hash == logged.root_hex
    assert f"Signed log: {logged.size} records ({len(revised)} revision" in win.summary.status.text()
    assert STATUS_AFTER_CHECK["bar"] == win.summary.status.text()  # the result, not "press Verify all"


def verify_bundle_after_export(win: MainWindow):
    """The log the window wrote, exported and verified offline as an auditor would."""
    out = win.station_log.path.with_suffix(".attestlog.jsonl")
    with open_store(win.station_log.path, create=False) as store:
        export_bundle(store, win.station_log.signer, out)
    return verify_bundle(out, pinned=win.station_log.identity().fingerprint)


def test_csv_has_one_line_per_rig(demo, tmp_path):
    win, bot, _ = demo
    out = tmp_path / "table.csv"
    with bot.waitSignal(win.commands.exportFinished, timeout=10_000):
        win.commands.export_csv(out)
    lines = out.read_text().splitlines()
    assert lines[0].startswith("address,status,unit_serial")
    assert len(lines) == 1 + win.model.rowCount()


def test_event_loop_kept_turning_during_verify_all(demo):
    _, _, ticks = demo
    duration = ticks.times[-1] - ticks.times[0]
    assert duration > 1.0
    assert len(ticks.times) > duration / 0.010 * 0.5  # at least half the 10 ms ticks arrived
    assert ticks.longest_gap() < 0.25, f"the GUI thread stalled for {ticks.longest_gap() * 1000:.0f} ms"


def test_reverify_then_cancel_leaves_no_row_spinning_and_keeps_what_was_judged(demo):
    win, bot, _ = demo
    before = win.checks.last_log
    assert isinstance(before, BatchLogged)
    assert win.reverify()
    assert win.actions["cancel"].isEnabled()
    began = {r.device_id: r.checked_at for r in win.model.rows()}
    # Some rigs judged again already, others (the unresponsive ones) still being checked.
    bot.waitUntil(lambda: any(r.state is RowState.DONE and r.checked_at != began[r.device_id]
                              for r in win.model.rows()), timeout=CHECK_TIMEOUT_MS)
    started = time.monotonic()
    with bot.waitSignal(win.checkFinished, timeout=10_000) as blocker:
        win.checks.cancel()
    assert blocker.args[0].startswith("Check cancelled.")
    assert time.monotonic() - started < 5
    assert not any(r.state.busy for r in win.model.rows())
    assert any(r.state is RowState.CANCELLED for r in win.model.rows())
    assert win.actions["verify_all"].isEnabled()
    # What was judged before the cancel is in the signed log, after the first check's records.
    after = win.checks.last_log
    assert isinstance(after, BatchLogged) and after.records > 0 and after.first == before.size
    assert f"The {after.records} verdicts given before it are recorded" in blocker.args[0]
    report = verify_bundle_after_export(win)
    assert report.ok and report.tree_size == after.size

"""The intake station's main window: composes the table, detail pane, manifests and commands.

It owns no protocol code and does no I/O itself: device checks, manifest verification, trust
changes and exports all go through ``gui.jobs``; this class wires widgets to those jobs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QSplitter, QVBoxLayout, QWidget

from attest.address import HostTarget
from attest.log.commands import default_operator
from attest.log.errors import LogError
from attest.watch import WatchError
from gui.actions import build_actions
from gui.check_controller import CheckController
from gui.commands import StationCommands
from gui.demo import DEMO_WATCH_SECONDS, DemoFleet
from gui.dialogs.add_host import AddHostDialog
from gui.dialogs.add_serial import AddSerialDialog
from gui.dialogs.attach_dump import DumpAttacher
from gui.dialogs.image_check import check_files, split_drop, verify_firmware_dialog
from gui.dialogs.scan_range import ScanRangeDialog
from gui.intake import Intake
from gui.jobs import JobRunner
from gui.log_commands import LogCommands
from gui.models.device_filter import DeviceFilterProxy
from gui.models.device_table import Column, DeviceTableModel
from gui.settings import StationSettings
from gui.station import LoadedManifest, Station, check_manifest_files
from gui.station_log import StationLog
from gui.verification import WatchPlan, plan_check, watch_plan
from gui.views.detail import DetailPane
from gui.views.device_table import DeviceTableView
from gui.views.first_steps import TableOrFirstSteps
from gui.views.manifest_panel import ManifestPanel
from gui.views.summary_bar import FilterBar, SummaryBar
from gui.views.warehouse import WarehouseWindow

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    manifestsChanged = Signal()
    checkFinished = Signal(str)
    demoReady = Signal()

    def __init__(self, jobs: JobRunner, settings: StationSettings, station: Station | None = None) -> None:
        super().__init__()
        self.jobs = jobs
        self.settings = settings
        self.station = station or Station(ports=settings.port_profile())
        self.demo: DemoFleet | None = None
        self.demo_home: Path | None = None
        self.setWindowTitle(f"Rig Attest — {settings.station}")
        self.setAcceptDrops(True)
        self.model = DeviceTableModel(self)
        self.proxy = DeviceFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = DeviceTableView(self.model, self.proxy)
        self.detail = DetailPane()
        self.detail.policy_for_network = lambda: self.station.policy
        self.filters = FilterBar()
        self.summary = SummaryBar()
        self.manifests = ManifestPanel()
        self.checks = CheckController(jobs, self.model, self)
        self.station_log = StationLog(self)
        self.intake = Intake(jobs, self.model, self)
        self.scan_range: ScanRangeDialog | None = None
        self.warehouse: WarehouseWindow | None = None
        self.commands = StationCommands(self)
        self.log_commands = LogCommands(self)
        self.dumps = DumpAttacher(self, self.model, self.station, self.table.current_device, self._rows_changed,
                                  self.statusBar().showMessage, self.show_error)
        self._layout()
        self.actions = build_actions(self, {
            "add_host": self.add_host_dialog, "scan_range": self.scan_range_dialog,
            "add_serial": self.add_serial_dialog,
            "load_manifest": self.load_manifest_dialog, "export_csv": self.commands.csv_dialog,
            "verify_firmware": lambda: verify_firmware_dialog(self, self.station.trust, self.station.accepted(),
                                                              self.demo.directory / "firmware" if self.demo else None),
            "export_pdf": self.commands.pdf_dialog, "quit": self.close,
            "verify_selected": self.verify_selected, "verify_all": self.verify_all, "reverify": self.reverify,
            "cancel": self.checks.cancel, "remove_rows": self.remove_selected, "attach_dump": self.dumps.choose,
            "scan": lambda: self.filters.scan.setFocus(), "filter": lambda: self.filters.filter.setFocus(),
            "trust_store": self.commands.trust_dialog, "settings": self.commands.settings_dialog,
            "pool_allow": self.commands.pool_allow_dialog,
            "history": self.log_commands.show_history, "export_log": self.log_commands.export_dialog,
            "save_receipt": self.log_commands.receipt_dialog, "verify_log": self.log_commands.verify_dialog,
            "lock_key": self.station_log.lock, "warehouse": self.show_warehouse})
        self._connect()
        self.refresh_status()
        self.filters.scan.setFocus()

    def _layout(self) -> None:
        centre = QWidget()
        layout = QVBoxLayout(centre)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.filters)
        layout.addWidget(self.summary)
        split = QSplitter(Qt.Orientation.Horizontal)
        self.table_area = TableOrFirstSteps(self.table, self.model)
        split.addWidget(self.table_area)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([1140, 460])
        self.splitter = split
        layout.addWidget(split, 1)
        self.setCentralWidget(centre)
        dock = QDockWidget("Manifests", self)
        dock.setObjectName("manifests-dock")
        dock.setWidget(self.manifests)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.manifest_dock = dock
        self.resize(1600, 940)
        self.resizeDocks([dock], [170], Qt.Orientation.Vertical)

    def _connect(self) -> None:
        self.filters.textChanged.connect(self.proxy.set_text)
        self.filters.verdictsChanged.connect(self.proxy.set_verdicts)
        self.filters.serialScanned.connect(self.scan_serial)
        self.model.summaryChanged.connect(self.summary.set_counts)
        self.table.currentDeviceChanged.connect(self._show_device)
        self.table.filtersCleared.connect(self.filters.reset)
        self.table.activated_device.connect(lambda _id: self.detail.tabs.setFocus())
        self.summary.cancelRequested.connect(self.checks.cancel)
        self.summary.poolsRequested.connect(self.commands.pool_allow_dialog)
        steps = self.table_area.steps
        steps.trustRequested.connect(self.commands.trust_dialog)
        steps.manifestRequested.connect(self.load_manifest_dialog)
        steps.addHostRequested.connect(self.add_host_dialog)
        steps.scanRangeRequested.connect(self.scan_range_dialog)
        self.checks.started.connect(self._check_started)
        self.checks.progressed.connect(self._progressed)
        self.checks.rowsChanged.connect(self._rows_changed)
        self.checks.pendingResolved.connect(self._pending_resolved)
        self.checks.finished.connect(self._check_finished)
        self.checks.consoleOutput.connect(lambda c: self.detail.append_console(c.endpoint, c.direction, c.data))
        self.checks.failed.connect(lambda text: self.show_error("The check stopped", text))
        self.intake.rowsAdded.connect(lambda _ids: self.refresh_status())
        self.station_log.changed.connect(self.refresh_status)
        self.intake.rangeRowsAdded.connect(self._range_rows_added)
        self.intake.discoveryFinished.connect(self.statusBar().showMessage)
        self.manifests.filesDropped.connect(self.load_manifests)
        self.manifests.loadRequested.connect(self.load_manifest_dialog)
        self.manifests.removeRequested.connect(self._forget_manifest)

    # --- rigs --------------------------------------------------------------------------------
    def add_host_dialog(self) -> None:
        dialog = AddHostDialog(self.station.ports, self)
        if dialog.exec() and (request := dialog.request()) is not None:
            self.intake.add_request(request)

    def scan_range_dialog(self) -> ScanRangeDialog:
        """Scan range…: a modeless dialog, so the table stays in use while rows arrive; one at a time."""
        dialog = self.scan_range
        if dialog is None:
            dialog = self.scan_range = ScanRangeDialog(self.intake, self.station.ports, self)
            dialog.scanFinished.connect(self.statusBar().showMessage)
            dialog.scanFinished.connect(lambda _text: self.refresh_status())
        if dialog.isVisible():  # pressed again while open: bring it back to the front
            dialog.raise_()
        dialog.show()
        dialog.activateWindow()
        return dialog

    def add_serial_dialog(self) -> None:
        dialog = AddSerialDialog(self)
        if dialog.exec():
            self.table.select_device(self.intake.add_serial(dialog.address()))

    def scan_serial(self, text: str) -> None:
        device_id = self.intake.scan(text, self.station.accepted(), current=self.table.current_device())
        if device_id is None:
            return
        self.table.select_device(device_id)
        row = self.model.row(device_id)
        matches = self.model.ids_for_serial(row.serial) if row is not None and row.serial else []
        if len(matches) > 1:
            at = matches.index(device_id) + 1
            text = (f"{len(matches)} rows have serial {row.serial if row else ''}: showing {at} of "
                    f"{len(matches)} (scan it again for the next)")
            self.filters.show_scan_note(f"{at} of {len(matches)} rows with this serial", text)
            self.statusBar().showMessage(text)
        else:
            self.filters.show_scan_note("")

    def _range_rows_added(self, _ids: list[str]) -> None:
        """A range's rows read best in address order: sort by host unless the operator chose a sort."""
        if self.model.sort_column is None:
            self.table.sortByColumn(Column.HOST, Qt.SortOrder.AscendingOrder)

    def remove_selected(self) -> None:
        if not self.checks.running:
            self.model.remove_rows(self.table.selected_devices())

    def _show_device(self, device_id: str) -> None:
        self.detail.show_row(self.model.row(device_id) if device_id else None)

    def _rows_changed(self, ids: list[str]) -> None:
        if self.detail.device_id and self.detail.device_id in ids:
            self._show_device(self.detail.device_id)

    def _pending_resolved(self, pending: str, real: str) -> None:
        """A scanned serial turned up on a rig: if the operator was on the scan, follow it."""
        if self.table.current_device() in ("", pending):
            self.table.select_device(real)

    # --- checks ------------------------------------------------------------------------------
    def verify_selected(self) -> bool:
        return self._verify(self.table.selected_devices() or [self.table.current_device()])

    def verify_all(self) -> bool:
        return self._verify([r.device_id for r in self.model.rows()])

    def reverify(self) -> bool:
        return self._verify(self.checks.last_ids)

    def _verify(self, ids: list[str]) -> bool:
        rows = [r for i in ids if i and (r := self.model.row(i)) is not None]
        if self.checks.running or not rows:
            return False
        s = self.settings
        try:
            if not self.station_log.unlock(self):
                self.statusBar().showMessage("Not checked: every check is recorded in the signed log, "
                                             "and the station key was not opened.")
                return False
        except LogError as e:
            self.show_error("The station key cannot be used", f"{e.code}: {e.message}")
            return False
        plan = plan_check(rows, manifests=self.station.accepted(), policy=self.station.policy,
                          default_ports=self.station.ports, request_timeout=s.request_timeout or None,
                          hash_timeout=s.hash_timeout or None, concurrency=s.concurrency or None,
                          log=self.station_log.plan(s.operator or default_operator(), s.store_url),
                          watch=self._watch_plan())
        if plan.skipped:
            self.statusBar().showMessage(f"{len(plan.skipped)} scanned serial(s) have no address yet: skipped.")
        return self.checks.start(plan, self.station_log.signer)

    def _watch_plan(self) -> WatchPlan | None:
        """The demo watches its own rigs; a station watches where its settings say (off when empty)."""
        try:
            if self.demo is not None and self.demo.watch:
                return watch_plan(self.demo.watch, DEMO_WATCH_SECONDS, self.station.policy)
            return watch_plan(self.settings.watch_address, self.settings.watch_seconds, self.station.policy)
        except WatchError as e:
            self.statusBar().showMessage(f"Network watch off: {e.message}")
            return None

    def _check_started(self, total: int) -> None:
        self.summary.start(total, "Checking…")
        self.table.set_busy(True)
        self._set_running(True)

    def _progressed(self, done: int, total: int) -> None:
        self.summary.step(done)
        if done >= total:  # every rig read; only its last verdicts and the log are left
            self.table.set_busy(False)
            self.summary.status.setText("Appraising the last rigs…")

    def _check_finished(self, text: str) -> None:
        self.summary.finish(text)
        self.statusBar().showMessage(text)
        self.table.set_busy(False)
        self._set_running(False)
        self._show_device(self.detail.device_id)
        self.checkFinished.emit(text)

    def _set_running(self, running: bool) -> None:
        for name in ("verify_selected", "verify_all", "reverify", "remove_rows"):
            self.actions[name].setEnabled(not running)
        self.actions["cancel"].setEnabled(running)

    # --- manifests ---------------------------------------------------------------------------
    def load_manifest_dialog(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        paths, _ = QFileDialog.getOpenFileNames(self, "Load manifests", "", "Manifests (*.json);;All files (*)")
        if paths:
            self.load_manifests([Path(p) for p in paths])

    def load_manifests(self, paths: list[Path]) -> None:
        """Verify each file on the job thread; refused ones are listed with the reason, unused."""
        trust = self.station.trust
        files = self.station.judged_with([Path(p) for p in paths])

        async def op() -> list[LoadedManifest]:
            return check_manifest_files(files, trust)

        def done(results: list[LoadedManifest]) -> None:
            self.station.record(results)
            self.refresh_manifests()
            refused = [r for r in results if not r.accepted]
            if refused:
                self.statusBar().showMessage(f"{len(refused)} manifest(s) refused: " + ", ".join(
                    f"{r.path.name} ({r.code})" for r in refused))

        self.jobs.run_in_background(op, on_success=done,
                                    on_failure=lambda e: self.show_error("Loading manifests failed", str(e)))

    def recheck_manifests(self) -> None:
        """After a trust change: judge every loaded file again, so a removed root stops counting."""
        if self.station.manifests:
            self.load_manifests(self.station.manifest_paths())

    def _forget_manifest(self, path: Path) -> None:
        self.station.forget(path)
        self.refresh_manifests()

    def refresh_manifests(self) -> None:
        self.manifests.show_manifests(self.station.manifests)
        self.refresh_status()
        self.manifestsChanged.emit()

    # --- demo --------------------------------------------------------------------------------
    def attach_demo(self, demo: DemoFleet) -> None:
        """The demo fleet is up: use its trust store and policy, add its rigs, load its manifest."""
        self.demo = demo
        self.station_log.open_demo_key()
        self.station.open_trust(demo.trust_dir)
        self.station.open_policy(demo.policy)
        self.station.ports = demo.ports
        scenarios = dict(demo.hosts)
        self.intake.add_targets([HostTarget(h) for h, _ in demo.hosts],
                                labels={h: f"demo scenario: {s}" for h, s in scenarios.items()})
        self.manifestsChanged.connect(self._demo_loaded)
        self.load_manifests([demo.manifest])

    def _demo_loaded(self) -> None:
        self.manifestsChanged.disconnect(self._demo_loaded)
        self.statusBar().showMessage("Demo fleet ready: press Verify all (Ctrl+Shift+Enter).")
        self.demoReady.emit()

    def show_warehouse(self) -> WarehouseWindow:
        """Log > Warehouse…: today's intake at every station, and this station's push queue."""
        if self.warehouse is None:
            identity = self.station_log.identity
            self.warehouse = WarehouseWindow(self.jobs, lambda: (self.settings.store_url, self.station_log.path,
                                                                 (i.station_id if (i := identity()) else "")), self)
            self.checks.storeSynced.connect(lambda _r: self.warehouse.reload() if self.warehouse.isVisible() else None)
        self.warehouse.show()
        self.warehouse.raise_()
        self.warehouse.reload()
        return self.warehouse

    # --- chrome ------------------------------------------------------------------------------
    def refresh_status(self) -> None:
        s = self.station
        parts = [f"Station {self.station_name()}"]
        self.setWindowTitle(f"Rig Attest — {self.station_name()}")
        if self.settings.operator:
            parts.append(f"operator {self.settings.operator}")
        accepted = len(s.accepted())
        parts.append(f"{accepted} manifest(s) in use" if accepted else "no manifest loaded")
        parts.append(f"trust store {s.trust_dir}" if s.trust else f"trust store unavailable {s.trust_error}".strip())
        parts.append(f"policy {s.policy_path.name}" if s.policy_path else "default policy")
        if s.policy_error:
            parts.append(f"policy error: {s.policy_error}")
        self.station_label_text = " · ".join(parts)
        self.summary.set_pools_checked(s.policy.pool_allow is not None)
        self.table_area.steps.set_done(trusted=bool(s.trust and (s.trust.roots or s.trust.keys)), manifests=accepted)
        self.statusBar().setToolTip(self.station_label_text)
        self.commands.update_station_label(self.station_label_text)

    def station_name(self) -> str:
        """One name for this station everywhere (title, status bar, PDF): its signing key's id once
        it has a key, since that is the name its signed records carry; else the configured name."""
        identity = self.station_log.identity()
        return identity.station_id if identity is not None else self.settings.station

    def show_error(self, title: str, text: str) -> None:
        log.error("%s: %s", title, text)
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.open()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            manifests, firmware = split_drop(paths)  # by content: a manifest is a DSSE JSON envelope
            if manifests:
                self.load_manifests(manifests)
            if firmware:
                check_files(self, firmware, self.station.trust, self.station.accepted())
            event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.checks.cancel()
        if self.demo is not None:
            fleet, self.demo = self.demo.fleet, None
            try:
                self.jobs.call_blocking(fleet.close(), timeout=10)
            except Exception:  # closing is best effort: the process is ending anyway
                log.exception("closing the demo fleet")
        super().closeEvent(event)

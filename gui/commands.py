"""The station's less frequent commands: exports, the trust store and the settings.

Split from the main window to keep it about layout and checks. Exports snapshot the rows on the
GUI thread and write the file on the job thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication, QFileDialog, QLabel

from attest.log.errors import LogError
from attest.log.store import open_store
from gui.dialogs.pool_allow_list import PoolAllowListDialog
from gui.dialogs.settings_dialog import SettingsDialog
from gui.dialogs.trust_store import TrustStoreDialog
from gui.export.csv_export import write_csv
from gui.export.pdf_report import write_pdf
from gui.export.snapshot import ReportSnapshot, snapshot
from gui.jobs import in_qt_thread
from gui.models.device_table import Role
from gui.settings import default_policy_path, save_settings
from gui.theme import apply_theme
from gui.verification import BatchLogged
from gui.warehouse import try_store


def latest_checkpoint(log_path: Path) -> tuple[int, str, str] | None:
    """The log's latest signed checkpoint (job thread), or None when there is no log yet."""
    if not log_path.exists():
        return None
    try:
        with open_store(log_path, create=False) as store:
            checkpoint = store.latest_checkpoint()
    except LogError:
        return None  # the report says it is not tied to a checkpoint rather than failing
    return None if checkpoint is None else (checkpoint.tree_size, checkpoint.root_hash.hex(), checkpoint.time)


if TYPE_CHECKING:
    from gui.main_window import MainWindow


class StationCommands(QObject):
    exportFinished = Signal(str)  # the path written
    exportFailed = Signal(str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.station_label = QLabel()
        self.station_label.setTextFormat(Qt.TextFormat.PlainText)
        window.statusBar().addPermanentWidget(self.station_label)

    def update_station_label(self, text: str) -> None:
        self.station_label.setText(text)

    # --- exports -----------------------------------------------------------------------------
    def visible_rows_snapshot(self) -> ReportSnapshot:
        """The rows as the table shows them: filtered and sorted the way the operator sees them."""
        w = self.window
        ids = [str(w.proxy.index(i, 0).data(Role.DEVICE_ID)) for i in range(w.proxy.rowCount())]
        rows = [r for i in ids if (r := w.model.row(i)) is not None]
        identity = w.station_log.identity()
        logged = w.checks.last_log
        checkpoint = (logged.size, logged.root_hex, logged.time) if isinstance(logged, BatchLogged) else None
        return snapshot(rows, station=w.station_name(), operator=w.settings.operator,
                        manifests=w.station.accepted(),
                        station_key=(identity.station_id, identity.fingerprint) if identity else None,
                        checkpoint=checkpoint)

    def csv_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export CSV", "rig-attest.csv", "CSV (*.csv)")
        if path:
            self.export(Path(path), write_csv)

    def pdf_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export PDF report", "rig-attest-report.pdf",
                                              "PDF (*.pdf)")
        if path:
            self.export(Path(path), write_pdf)

    def export_csv(self, path: Path) -> None:
        self.export(path, write_csv)

    def export_pdf(self, path: Path) -> None:
        self.export(path, write_pdf)

    def export(self, path: Path, writer: Callable[[ReportSnapshot, Path], int]) -> None:
        snap = self.visible_rows_snapshot()
        log_path = self.window.station_log.path

        async def op() -> int:
            report = snap
            if report.station_key is not None and report.checkpoint is None:
                report = replace(report, checkpoint=latest_checkpoint(log_path))
            return await in_qt_thread(lambda: writer(report, path))

        def done(_: object) -> None:
            self.window.statusBar().showMessage(f"Saved {path}")
            self.exportFinished.emit(str(path))

        def failed(error: BaseException) -> None:
            self.window.show_error("Export failed", f"{path}: {error}")
            self.exportFailed.emit(str(error))

        self.window.jobs.run_in_background(op, on_success=done, on_failure=failed)

    # --- trust and settings ------------------------------------------------------------------
    def trust_dialog(self) -> TrustStoreDialog | None:
        w = self.window
        if w.station.trust is None:
            w.show_error("No trust store", w.station.trust_error or "Set a trust store directory in Settings.")
            return None
        dialog = TrustStoreDialog(w.station.trust, w.jobs, w)
        dialog.changed.connect(w.recheck_manifests)
        dialog.open()
        return dialog

    def pool_allow_dialog(self) -> PoolAllowListDialog:
        """Set the pools this station accepts, in the policy file it uses (one is made if none)."""
        w = self.window
        path = w.station.policy_path or default_policy_path()
        seen = [str(c.value) for r in w.model.rows() if r.evidence is not None for c in r.evidence.claims
                if c.name.startswith("config.pool.") and c.name.endswith(".url") and c.value]
        dialog = PoolAllowListDialog(w.station.policy, path, seen, w)
        dialog.accepted.connect(lambda: self._pools_saved(path))
        dialog.open()
        return dialog

    def _pools_saved(self, path: Path) -> None:
        w = self.window
        w.station.open_policy(path)
        if w.demo is None and w.settings.policy_path != str(path):  # the demo's policy is its own
            w.settings = replace(w.settings, policy_path=str(path))
            save_settings(w.settings)
        w.refresh_status()
        w.statusBar().showMessage(f"Pool allow-list saved in {path}: verify again to judge the rigs' pools.")

    def settings_dialog(self) -> SettingsDialog:
        dialog = SettingsDialog(self.window.settings, self.window)
        dialog.accepted.connect(lambda: self.apply_settings(dialog))
        dialog.test_store.clicked.connect(lambda: self.test_store(dialog))
        dialog.open()
        return dialog

    def test_store(self, dialog: SettingsDialog) -> None:
        """The settings' Test button: reach the warehouse store as this station would (job thread)."""
        url, log = dialog.store_url.text().strip(), self.window.station_log.path
        dialog.store_result.setText("Connecting…")

        async def op() -> str:
            return await asyncio.to_thread(try_store, url, log)

        self.window.jobs.run_in_background(op, on_success=dialog.store_result.setText,
                                           on_failure=lambda e: dialog.store_result.setText(str(e)))

    def apply_settings(self, dialog: SettingsDialog) -> None:
        w = self.window
        new = dialog.result_settings()
        old, w.settings = w.settings, new
        save_settings(new)
        if new.theme != old.theme:
            app = QApplication.instance()
            if isinstance(app, QApplication):
                apply_theme(app, new.theme)
                w.filters.refresh_icons()
                w.refresh_manifests()
        if w.demo is None:  # the demo keeps its own trust store and policy
            if new.trust_dir != old.trust_dir and new.trust_dir:
                w.station.open_trust(Path(new.trust_dir), create=True)
                w.recheck_manifests()
            if new.policy_path != old.policy_path:
                w.station.open_policy(new.policy_file())
            w.station.ports = new.port_profile()
        w.refresh_status()

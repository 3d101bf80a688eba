"""The signed log's commands: history, export, receipts, and the auditor's verify dialog.

Every file and crypto step runs on the job thread; the dialogs only collect choices. A command
that needs to sign (an export signs a fresh checkpoint) opens the station key first, as a check
does. Receipts need no key: they carry a checkpoint the station already signed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from attest.log.errors import LogError
from attest.log.export import export_bundle
from attest.log.intoto import export_statements
from attest.log.receipt import make_receipt, receipt_for_serial, write_receipt
from attest.log.store import open_store
from attest.station import StationSigner
from gui.dialogs.export_log import ExportLogDialog, ExportRequest
from gui.dialogs.verify_log import VerifyLogDialog
from gui.views.history import HistoryWindow

if TYPE_CHECKING:
    from gui.main_window import MainWindow


def export_log(path: Path, signer: StationSigner, request: ExportRequest) -> str:
    """Job thread: the bundle (and statements); returns one line saying what was written."""
    with open_store(path, create=False) as store:
        summary = export_bundle(store, signer, request.path, selection=request.selection)
        text = (f"Exported {request.path}: {summary.tree_size} records, {summary.shown} shown in full; "
                f"root {summary.checkpoint.root_hash.hex()[:16]}…")
        if request.intoto_path:
            selection = request.selection
            indices = None if selection.everything else store.select(selection)
            written = export_statements(store, signer, request.intoto_path, indices, summary.tree_size)
            text += f" {written.written} in-toto statements in {request.intoto_path}."
    return text


def save_receipt(path: Path, out: str, *, index: int | None = None, serial: str | None = None) -> str:
    """Job thread: one rig's receipt, by record index or by the unit's latest record."""
    with open_store(path, create=False) as store:
        receipt = make_receipt(store, index) if index is not None else receipt_for_serial(store, serial or "")
    write_receipt(out, receipt)
    return f"Receipt for record {receipt['index']} saved to {out}"


class LogCommands(QObject):
    done = Signal(str)  # what was written
    failed = Signal(str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.history: HistoryWindow | None = None
        self.verifier: VerifyLogDialog | None = None

    def show_history(self) -> HistoryWindow:
        w = self.window
        if self.history is None:
            self.history = HistoryWindow(w.jobs, lambda: w.station_log.path, w)
            self.history.exportRequested.connect(lambda: self.export_dialog(self.history))
            self.history.receiptRequested.connect(lambda index: self.receipt_dialog(index=index, parent=self.history))
            self.history.verifyRequested.connect(self.verify_dialog)
            w.checks.logged.connect(lambda _result: self.history.reload() if self.history.isVisible() else None)
        self.history.show()
        self.history.raise_()
        self.history.reload()
        return self.history

    def export_dialog(self, parent: QWidget | None = None) -> ExportLogDialog | None:
        w = self.window
        batches = self.history.batches() if self.history is not None else []
        serials = [s for i in w.table.selected_devices() if (r := w.model.row(i)) is not None and (s := r.serial)]
        dialog = ExportLogDialog(batches, serials, parent or w)
        dialog.accepted.connect(lambda: self._export(dialog))
        dialog.open()
        return dialog

    def _export(self, dialog: ExportLogDialog) -> None:
        request = dialog.request()
        if request is not None:
            self.export(request)

    def export(self, request: ExportRequest) -> None:
        w = self.window
        try:
            if not w.station_log.unlock(w):
                return
        except LogError as e:
            self._failed(f"{e.code}: {e.message}")
            return
        signer, path = w.station_log.signer, w.station_log.path
        assert signer is not None

        async def op() -> str:
            return export_log(path, signer, request)

        w.jobs.run_in_background(op, on_success=self._done, on_failure=self._failure)

    def receipt_dialog(self, *, index: int | None = None, parent: QWidget | None = None) -> None:
        """Save receipt…: for a history record, else for the selected rig's latest record."""
        w = self.window
        serial = None
        if index is None:
            row = w.model.row(w.table.current_device())
            serial = row.serial if row is not None else ""
            if not serial:
                self._failed("Select a rig whose serial was read: its receipt is found by serial.")
                return
        name = f"receipt-{index if index is not None else 'latest'}.json"
        out, _ = QFileDialog.getSaveFileName(parent or w, "Save receipt", name, "Receipt (*.json)")
        if out:
            self.save_receipt(out, index=index, serial=serial)

    def save_receipt(self, out: str, *, index: int | None = None, serial: str | None = None) -> None:
        path = self.window.station_log.path

        async def op() -> str:
            return save_receipt(path, out, index=index, serial=serial)

        self.window.jobs.run_in_background(op, on_success=self._done, on_failure=self._failure)

    def verify_dialog(self) -> VerifyLogDialog:
        if self.verifier is None:
            self.verifier = VerifyLogDialog(self.window.jobs, self.window)
        self.verifier.show()
        self.verifier.raise_()
        return self.verifier

    def _done(self, text: str) -> None:
        self.window.statusBar().showMessage(text)
        self.done.emit(text)

    def _failure(self, error: BaseException) -> None:
        text = f"{error.code}: {error.message}" if isinstance(error, LogError) else f"{type(error).__name__}: {error}"
        self._failed(text)

    def _failed(self, text: str) -> None:
        self.window.show_error("Signed log", text)
        self.failed.emit(text)


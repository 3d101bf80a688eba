"""Verification history: the station's signed log, searchable, newest first.

A window of its own (not a tab of the main one), so a supervisor can keep it open beside the
table while rigs are checked; it reloads after each logged batch. The date range is asked of the
store; the serial search and verdict filter act on what was read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from attest.log.store import Selection
from gui.jobs import Job, JobRunner
from gui.models.history import History, HistoryFilter, HistoryModel, days_selection, read_history

VERDICTS = ("", "TRUSTED", "WARNING", "UNTRUSTED", "UNKNOWN")
#: Fixed widths (measuring 20,000 rows' text would stall): a full serial, time and batch id fit.
COLUMN_WIDTHS = (60, 190, 190, 110, 260, 170, 230, 110)


class HistoryWindow(QDialog):
    exportRequested = Signal()
    receiptRequested = Signal(int)  # the record's index
    verifyRequested = Signal()
    loaded = Signal(int)  # entries shown after a reload

    def __init__(self, jobs: JobRunner, log_path: Callable[[], Path], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.log_path = log_path
        self.job: Job | None = None
        self.history = History((), 0, 0)
        self.setWindowTitle("Verification history — signed log")
        self.setModal(False)
        self.resize(1200, 640)
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search serial or address…")
        self.search.setClearButtonEnabled(True)
        self.verdict = QComboBox()
        for v in VERDICTS:
            self.verdict.addItem(v or "All verdicts", v)
        self.use_dates = QCheckBox("&Dates")
        today = QDate.currentDate()
        self.since = QDateEdit(today.addDays(-30))
        self.until = QDateEdit(today)
        for edit in (self.since, self.until):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
        self.use_dates.toggled.connect(self.since.setEnabled)
        self.use_dates.toggled.connect(self.until.setEnabled)
        for widget in (QLabel("&Find:"), self.search, self.verdict, self.use_dates, self.since, QLabel("to"),
                       self.until):
            bar.addWidget(widget)
        bar.itemAt(0).widget().setBuddy(self.search)  # type: ignore[attr-defined]
        layout.addLayout(bar)
        self.model = HistoryModel(self)
        self.proxy = HistoryFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.DescendingOrder)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        for column, width in enumerate(COLUMN_WIDTHS):
            header.resizeSection(column, width)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)  # the reason: the longest text
        self.table.setWordWrap(False)
        layout.addWidget(self.table, 1)
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.status)
        buttons = QHBoxLayout()
        self.receipt_button = QPushButton("Save &receipt…")
        self.export_button = QPushButton("&Export signed log…")
        self.verify_button = QPushButton("&Verify a log or receipt…")
        reload_button = QPushButton("Re&load")
        close = QPushButton("Close")
        for b in (self.receipt_button, self.export_button, self.verify_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(reload_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)
        self.search.textChanged.connect(self._filter)
        self.verdict.currentIndexChanged.connect(self._filter)
        self.use_dates.toggled.connect(self.reload)
        self.since.dateChanged.connect(self._dates_changed)
        self.until.dateChanged.connect(self._dates_changed)
        self.receipt_button.clicked.connect(self._receipt)
        self.export_button.clicked.connect(self.exportRequested)
        self.verify_button.clicked.connect(self.verifyRequested)
        reload_button.clicked.connect(self.reload)
        close.clicked.connect(self.close)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self._selection_changed()

    def selection(self) -> Selection:
        if not self.use_dates.isChecked():
            return Selection()
        return days_selection(self.since.date(), self.until.date())

    def reload(self) -> None:
        if self.job is not None:
            self.job.cancel()
        path, selection = self.log_path(), self.selection()
        self.status.setText("Reading the log…")

        async def op() -> History:
            return read_history(path, selection)

        self.job = self.jobs.run_in_background(op, on_success=self._show, on_failure=self._failed)

    def batches(self) -> list[str]:
        """Batches in what was read, newest first (for the export dialog's batch choice)."""
        return list(dict.fromkeys(e.batch for e in self.history.entries if e.batch))

    def selected_index(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        value = self.proxy.data(rows[0], Qt.ItemDataRole.UserRole)
        return int(value) if value is not None else None

    def _show(self, history: History) -> None:
        self.job = None
        self.history = history
        self.model.set_entries(history.entries)
        self._update_status()
        self.loaded.emit(len(history.entries))

    def _failed(self, error: BaseException) -> None:
        self.job = None
        self.status.setText(f"The log could not be read: {getattr(error, 'message', error)}")

    def _filter(self) -> None:
        self.proxy.set_filter(self.search.text(), str(self.verdict.currentData() or ""))
        self._update_status()

    def _dates_changed(self) -> None:
        if self.use_dates.isChecked():
            self.reload()

    def _update_status(self) -> None:
        h = self.history
        if h.total == 0:
            self.status.setText(f"No records yet in {self.log_path()}.")
            return
        parts = [f"{self.proxy.rowCount()} shown of {len(h.entries)} read",
                 f"{h.total} records in the log ({self.log_path()})"]
        if h.matched > len(h.entries):
            parts.append(f"the {h.matched - len(h.entries)} oldest of this range were not read: narrow the dates")
        self.status.setText(" · ".join(parts))

    def _selection_changed(self, *_args: object) -> None:
        self.receipt_button.setEnabled(self.selected_index() is not None)

    def _receipt(self) -> None:
        index = self.selected_index()
        if index is not None:
            self.receiptRequested.emit(index)

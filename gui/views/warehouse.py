"""The Warehouse window: today's intake at every station, units flagged elsewhere, and the push queue.

A window of its own, like the verification history, for the manager's screen beside the
bench. Everything it shows is read on the job thread (``gui.warehouse``, in
``asyncio.to_thread``: psycopg and SQLite block); it reloads after each check, every minute
while open, and on Refresh. The queue line is this station's own ("12 records waiting: server
unreachable since 14:02") and is shown even when the server is down. Device and station text
is shown as plain text only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from attest.evidence import printable
from attest.verdict import Verdict
from gui.icons import verdict_icon
from gui.jobs import Job, JobRunner
from gui.theme import is_dark
from gui.views.reasons import plain_label
from gui.warehouse import WarehouseView, load_warehouse, sync_now

VERDICTS = ("TRUSTED", "WARNING", "UNTRUSTED", "UNKNOWN")
REFRESH_MS = 60_000


def _table(headers: list[str]) -> tuple[QTableView, QStandardItemModel]:
    model = QStandardItemModel(0, len(headers))
    model.setHorizontalHeaderLabels(headers)
    view = QTableView()
    view.setModel(model)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.verticalHeader().setVisible(False)
    view.setWordWrap(False)
    view.horizontalHeader().setStretchLastSection(True)
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return view, model


def _item(text: object, *, number: bool = False) -> QStandardItem:
    item = QStandardItem(printable(str(text)) if text is not None else "")
    item.setEditable(False)
    if number:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _clock(iso: object) -> str:
    text = str(iso or "")
    return text[11:16] if len(text) >= 16 else text


def _when(iso: str) -> str:
    return iso[:16].replace("T", " ")


class WarehouseWindow(QDialog):
    loaded = Signal(object)  # the WarehouseView shown
    synced = Signal(str)

    def __init__(self, jobs: JobRunner, where: Callable[[], tuple[str, Path, str]],
                 parent: QWidget | None = None) -> None:
        """``where()`` gives (store URL setting, this station's log, this station's id) now."""
        super().__init__(parent)
        self.jobs = jobs
        self.where = where
        self.job: Job | None = None
        self.view: WarehouseView | None = None
        self.setWindowTitle("Warehouse — all stations")
        self.setModal(False)
        self.resize(1100, 720)
        layout = QVBoxLayout(self)
        self.store_label = plain_label("")
        self.store_label.setObjectName("warehouse-store")
        layout.addWidget(self.store_label)
        queue_row = QHBoxLayout()
        self.queue_label = plain_label("")
        self.queue_label.setObjectName("warehouse-queue")
        font = self.queue_label.font()
        font.setBold(True)
        self.queue_label.setFont(font)
        queue_row.addWidget(self.queue_label, 1)
        self.sync_button = QPushButton("&Sync now")
        self.sync_button.setToolTip("Push this station's waiting records to the warehouse store")
        self.refresh_button = QPushButton("&Refresh")
        queue_row.addWidget(self.sync_button)
        queue_row.addWidget(self.refresh_button)
        layout.addLayout(queue_row)
        layout.addWidget(QLabel("<b>Today's intake</b> by station and verdict"))
        self.intake, self.intake_model = _table(["Station", "Records", *[v.title() for v in VERDICTS], "Last push"])
        self.intake.setMaximumHeight(140)
        layout.addWidget(self.intake)
        layout.addWidget(QLabel("<b>Units flagged at other stations</b> today (UNTRUSTED)"))
        self.flagged, self.flagged_model = _table(["Time", "Station", "Serial", "Address", "Why"])
        layout.addWidget(self.flagged, 1)
        layout.addWidget(QLabel("<b>Identity changes across stations</b> today"))
        self.changes, self.changes_model = _table(["Serial", "Earlier", "Later", "What changed"])
        self.changes.setMaximumHeight(160)
        layout.addWidget(self.changes)
        self.status = plain_label("")
        layout.addWidget(self.status)
        close = QPushButton("Close")
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        bottom.addWidget(close)
        layout.addLayout(bottom)
        close.clicked.connect(self.close)
        self.refresh_button.clicked.connect(self.reload)
        self.sync_button.clicked.connect(self.sync)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        if self.isVisible():
            self.reload()

    def reload(self) -> None:
        if self.job is not None:
            return  # one read at a time; the running one shows the newest state anyway
        url, log, station = self.where()
        self.status.setText("Reading the warehouse store…")

        async def op() -> WarehouseView:
            return await asyncio.to_thread(load_warehouse, url, log, station)

        self.job = self.jobs.run_in_background(op, on_success=self._show, on_failure=self._failed)

    def sync(self) -> None:
        url, log, _ = self.where()
        self.sync_button.setEnabled(False)
        self.status.setText("Pushing this station's records…")

        async def op() -> str:
            return await asyncio.to_thread(sync_now, url, log)

        def done(text: str) -> None:
            self.sync_button.setEnabled(True)
            self.synced.emit(text)
            self.status.setText(text)
            self.reload()

        self.jobs.run_in_background(op, on_success=done, on_failure=self._failed)

    def _show(self, view: WarehouseView) -> None:
        self.job = None
        self.view = view
        self.store_label.setText(f"Warehouse store {view.store}" if view.store else "No warehouse store")
        self.queue_label.setText(f"This station ({view.station or 'no key yet'}): "
                                 + (view.queue.summary() if view.queue is not None else "nothing recorded yet"))
        self.intake_model.removeRows(0, self.intake_model.rowCount())
        self.flagged_model.removeRows(0, self.flagged_model.rowCount())
        self.changes_model.removeRows(0, self.changes_model.rowCount())
        dark = is_dark()
        if view.report is not None:
            for s in view.report.stations:
                name = _item(s.id + ("  (this station)" if s.id == view.station else ""))
                self.intake_model.appendRow([name, _item(s.records, number=True),
                                             *[_item(s.verdicts.get(v, 0), number=True) for v in VERDICTS],
                                             _item(_clock(s.last_push))])
            for f in view.flagged_elsewhere:
                serial = _item(f["serial"] or "-")
                serial.setIcon(verdict_icon(Verdict.UNTRUSTED, dark, 16))
                self.flagged_model.appendRow([_item(_clock(f["time"])), _item(f["station"]), serial,
                                              _item(f["address"]), _item(", ".join(f["reasons"]))])  # type: ignore[arg-type]
            for c in view.report.identity_changes:
                self.changes_model.appendRow([_item(c.serial), _item(f"{c.earlier.station} {_when(c.earlier.time)}"),
                                              _item(f"{c.later.station} {_when(c.later.time)}"),
                                              _item("; ".join(c.parts))])
            for table in (self.intake, self.flagged, self.changes):
                for column in range(table.model().columnCount() - 1):  # the last one stretches
                    table.resizeColumnToContents(column)
        self.status.setText(view.problem or f"{len(view.report.stations) if view.report else 0} stations; "
                            "today's records, from local midnight")
        self.loaded.emit(view)

    def _failed(self, error: BaseException) -> None:
        self.job = None
        self.sync_button.setEnabled(True)
        self.status.setText(f"The warehouse could not be read: {getattr(error, 'message', error)}")

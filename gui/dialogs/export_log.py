"""Export signed log…: which records, and where the bundle (and in-toto statements) go.

The bundle always covers the whole log as signed (the auditor must be able to check nothing was
removed); the range only chooses which records are shown in full, the rest travelling as hashes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from attest.log.store import Selection
from gui.models.history import days_selection


@dataclass(frozen=True)
class ExportRequest:
    path: str
    selection: Selection
    intoto_path: str | None


class ExportLogDialog(QDialog):
    def __init__(self, batches: Sequence[str], serials: Sequence[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export signed log")
        layout = QVBoxLayout(self)
        note = QLabel("The bundle holds the whole log as the station signed it; records outside the range "
                      "travel as hashes only, so an auditor can still check that nothing was removed.")
        note.setTextFormat(Qt.TextFormat.PlainText)
        note.setWordWrap(True)
        layout.addWidget(note)
        grid = QGridLayout()
        self.group = QButtonGroup(self)
        self.everything = QRadioButton("&Everything")
        self.by_batch = QRadioButton("One &batch:")
        self.by_dates = QRadioButton("&Dates:")
        self.by_serials = QRadioButton("&Serials:")
        for i, button in enumerate((self.everything, self.by_batch, self.by_dates, self.by_serials)):
            self.group.addButton(button, i)
            grid.addWidget(button, i, 0)
        self.everything.setChecked(True)
        self.batch = QComboBox()
        self.batch.addItems(list(batches))
        grid.addWidget(self.batch, 1, 1)
        dates = QHBoxLayout()
        today = QDate.currentDate()
        self.since = QDateEdit(today.addDays(-7))
        self.until = QDateEdit(today)
        for edit in (self.since, self.until):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        dates.addWidget(self.since)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.until)
        grid.addLayout(dates, 2, 1)
        self.serials = QLineEdit(", ".join(serials))
        self.serials.setPlaceholderText("serials, separated by commas")
        grid.addWidget(self.serials, 3, 1)
        layout.addLayout(grid)
        out = QHBoxLayout()
        self.path = QLineEdit(f"rig-attest-{datetime.now(UTC):%Y%m%d}.attestlog.jsonl")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out.addWidget(QLabel("&File:"))
        out.addWidget(self.path, 1)
        out.addWidget(browse)
        layout.addLayout(out)
        self.intoto = QCheckBox("Also write per-rig in-toto statements (DSSE, JSON Lines) beside it")
        layout.addWidget(self.intoto)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export signed log", self.path.text(),
                                              "Rig Attest log (*.attestlog.jsonl);;All files (*)")
        if path:
            self.path.setText(path)

    def selection(self) -> Selection:
        chosen = self.group.checkedId()
        if chosen == 1 and self.batch.currentText():
            return Selection(batch=self.batch.currentText())
        if chosen == 2:
            return days_selection(self.since.date(), self.until.date())
        if chosen == 3:
            serials = tuple(s.strip() for s in self.serials.text().split(",") if s.strip())
            return Selection(serials=serials)
        return Selection()

    def request(self) -> ExportRequest | None:
        path = self.path.text().strip()
        if not path:
            return None
        intoto = None
        if self.intoto.isChecked():
            intoto = path.removesuffix(".jsonl").removesuffix(".attestlog") + ".intoto.jsonl"
        return ExportRequest(path, self.selection(), intoto)

"""The strip above the table: counts per verdict, the check's progress, and the filter controls."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QToolButton,
    QWidget,
)

from attest.verdict import Verdict
from gui.icons import verdict_icon
from gui.models.device_filter import UNCHECKED
from gui.models.device_table import plain_tooltip
from gui.theme import is_dark

_ORDER = (Verdict.TRUSTED, Verdict.WARNING, Verdict.UNTRUSTED, Verdict.UNKNOWN)


def summary_text(counts: Counter[str]) -> str:
    """``182 trusted · 9 warning · 3 untrusted · 6 unknown`` (+ not checked, when any)."""
    parts = [f"{counts.get(v.value, 0)} {v.value.lower()}" for v in _ORDER]
    if counts.get(UNCHECKED):
        parts.append(f"{counts[UNCHECKED]} not checked")
    return " · ".join(parts)


class SummaryBar(QWidget):
    cancelRequested = Signal()
    poolsRequested = Signal()  # "Set allow-list…" beside "pools not checked"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.label = QLabel(summary_text(Counter()))
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setAccessibleName("Summary")
        font = QFont(self.label.font())
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        self.label.setFont(font)
        layout.addWidget(self.label)
        self.pools = QLabel("· pools not checked")
        self.pools.setTextFormat(Qt.TextFormat.PlainText)
        self.pools.setFont(font)
        self.pools.setToolTip("The station policy has no pool allow-list, so a rig's pools are not judged: "
                              "a hijacked pool would pass.")
        self.pools_button = QPushButton("Set pool allow-list…")
        self.pools_button.clicked.connect(self.poolsRequested)
        layout.addWidget(self.pools)
        layout.addWidget(self.pools_button)
        layout.addStretch(1)
        self.set_pools_checked(True)
        self.status = QLabel("")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.status)
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(260)
        self.progress.setFormat("%v / %m rigs")
        self.progress.setVisible(False)
        layout.addWidget(self.progress)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop the running check (Esc)")
        self.cancel.setVisible(False)
        self.cancel.clicked.connect(self.cancelRequested)
        layout.addWidget(self.cancel)

    def set_counts(self, counts: Counter[str]) -> None:
        self.label.setText(summary_text(counts))

    def set_pools_checked(self, checked: bool) -> None:
        """Whether the policy has a pool allow-list; without one the line says pools are not checked."""
        self.pools.setVisible(not checked)
        self.pools_button.setVisible(not checked)

    def text(self) -> str:
        return self.label.text() + (f" {self.pools.text()}" if self.pools.isVisibleTo(self) else "")

    def start(self, total: int, text: str) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel.setVisible(True)
        self.cancel.setEnabled(True)
        self.status.setText(text)

    def step(self, done: int) -> None:
        self.progress.setValue(done)

    def finish(self, text: str) -> None:
        self.progress.setVisible(False)
        self.cancel.setVisible(False)
        self.status.setText(text)


class FilterBar(QWidget):
    """The barcode field, the filter box and one chip per verdict."""

    textChanged = Signal(str)
    verdictsChanged = Signal(object)  # frozenset of verdict values, or None for all
    serialScanned = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        scan_label = QLabel("&Scan serial:")
        self.scan = QLineEdit()
        self.scan.setPlaceholderText("scan a barcode or type a serial, then Enter")
        self.scan.setClearButtonEnabled(True)
        self.scan.setMinimumWidth(240)
        self.scan.setMaxLength(128)
        self.scan.setAccessibleName("Scan serial")
        scan_label.setBuddy(self.scan)
        self.scan.returnPressed.connect(self._scanned)
        layout.addWidget(scan_label)
        layout.addWidget(self.scan)
        self.scan_note = QLabel("")  # "2 rows have serial X: showing 1 of 2": a serial on several rigs
        self.scan_note.setTextFormat(Qt.TextFormat.PlainText)
        self.scan_note.setAccessibleName("Scan result")
        self.scan_note.setVisible(False)
        layout.addWidget(self.scan_note)
        layout.addSpacing(16)
        filter_label = QLabel("&Filter:")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("serial, model, host, reason…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setAccessibleName("Filter")
        filter_label.setBuddy(self.filter)
        self.filter.textChanged.connect(self.textChanged)
        layout.addWidget(filter_label)
        layout.addWidget(self.filter, 1)
        self.chips: dict[str, QToolButton] = {}
        dark = is_dark()
        for verdict in (*_ORDER, None):
            value = verdict.value if verdict else UNCHECKED
            chip = QToolButton()
            chip.setText(verdict.value.capitalize() if verdict else "Not checked")
            chip.setIcon(verdict_icon(verdict, dark))
            chip.setIconSize(QSize(16, 16))
            chip.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            chip.setCheckable(True)
            chip.setAutoRaise(False)
            chip.setToolTip(f"Show only {chip.text().lower()} rigs (several chips combine)")
            chip.toggled.connect(self._chips_changed)
            self.chips[value] = chip
            layout.addWidget(chip)

    def show_scan_note(self, text: str, tooltip: str = "") -> None:
        """Say what the last scan matched when it was more than one row ("" hides the note)."""
        self.scan_note.setText(text)
        self.scan_note.setToolTip(plain_tooltip(tooltip or text) if text else "")  # holds device text
        self.scan_note.setVisible(bool(text))

    def refresh_icons(self) -> None:
        """Re-paint the chip badges after a theme change."""
        dark = is_dark()
        for value, chip in self.chips.items():
            chip.setIcon(verdict_icon(Verdict(value) if value else None, dark))

    def reset(self) -> None:
        """Show the filters as cleared (the proxy was already cleared) without re-emitting."""
        for widget in (self.filter, *self.chips.values()):
            widget.blockSignals(True)
        self.filter.clear()
        for chip in self.chips.values():
            chip.setChecked(False)
        for widget in (self.filter, *self.chips.values()):
            widget.blockSignals(False)

    def _chips_changed(self) -> None:
        chosen = frozenset(v for v, chip in self.chips.items() if chip.isChecked())
        self.verdictsChanged.emit(chosen or None)

    def _scanned(self) -> None:
        text = self.scan.text()
        self.scan.clear()
        if text.strip():
            self.serialScanned.emit(text)

"""What an empty station shows instead of an empty table: the three steps to a first verdict.

A new station has no trusted vendor, no manifest and no rigs, and an empty table says nothing
about which comes first. Until the first rig is added, the table's place holds the steps, each
with the button that does it and a tick once it is done; the table takes over as soon as a rig
is in it.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from gui.views.reasons import plain_label

_DONE, _TODO = "✓", "○"


class FirstSteps(QFrame):
    trustRequested = Signal()
    manifestRequested = Signal()
    addHostRequested = Signal()
    scanRangeRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("first-steps")
        self.setAccessibleName("Getting started")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(48, 36, 48, 36)
        title = plain_label("No rigs yet: three steps to the first verdict", selectable=False)
        big = QFont(title.font())
        big.setPointSizeF(big.pointSizeF() * 1.45)
        big.setBold(True)
        title.setFont(big)
        outer.addWidget(title)
        outer.addSpacing(14)
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(18)
        self.marks: list[QLabel] = []
        self.texts: list[QLabel] = []
        steps = (
            ("1. Trust your vendor's root certificate",
             "Once per vendor: the certificate (or public key) that vouches for its manifests. Get it from "
             "the vendor over a channel you trust, not from the e-mail that brings the manifest.",
             [("&Trust store…", self.trustRequested)]),
            ("2. Load the shipment's signed manifest",
             "The .dsse.json file the vendor signed for this delivery: every unit it built and the "
             "firmware it signed. You can also drop it on this window.",
             [("&Load manifest…", self.manifestRequested)]),
            ("3. Add the rigs",
             "A host (10.0.4.17), a range (10.0.4.0/24) or an endpoint URL; or scan each unit's serial "
             "barcode into Scan serial above. Then press Verify all.",
             [("&Add host or range…", self.addHostRequested), ("Scan &range…", self.scanRangeRequested)]),
        )
        for row, (heading, text, buttons) in enumerate(steps):
            mark = QLabel(_TODO)
            mark.setTextFormat(Qt.TextFormat.PlainText)
            mark_font = QFont(mark.font())
            mark_font.setPointSizeF(mark_font.pointSizeF() * 1.6)
            mark.setFont(mark_font)
            mark.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter)
            self.marks.append(mark)
            grid.addWidget(mark, row, 0)
            body = QVBoxLayout()
            body.setSpacing(4)
            head = plain_label(heading, selectable=False)
            head.setFont(_bold(head.font()))
            body.addWidget(head)
            detail = plain_label(text, selectable=False)
            self.texts.append(detail)
            body.addWidget(detail)
            row_of_buttons = QHBoxLayout()
            for label, signal in buttons:
                button = QPushButton(label)
                button.clicked.connect(signal)
                row_of_buttons.addWidget(button)
            row_of_buttons.addStretch(1)
            body.addLayout(row_of_buttons)
            grid.addLayout(body, row, 1)
        grid.setColumnStretch(1, 1)
        outer.addLayout(grid)
        outer.addSpacing(18)
        self.demo_hint = plain_label("Just looking? Start the app with attest-gui --demo (or make run) for a "
                                     "simulated fleet with one rig of every kind.", selectable=False)
        self.demo_hint.setEnabled(False)
        outer.addWidget(self.demo_hint)
        outer.addStretch(1)

    def set_done(self, *, trusted: bool, manifests: int) -> None:
        """Tick the steps already done (the third is done when a rig is added: then this hides)."""
        for mark, done in zip(self.marks, (trusted, manifests > 0, False), strict=True):
            mark.setText(_DONE if done else _TODO)
            mark.setToolTip("done" if done else "to do")

    def text(self) -> str:
        return "\n".join(f"{m.text()} {t.text()}" for m, t in zip(self.marks, self.texts, strict=True))


class TableOrFirstSteps(QStackedWidget):
    """The device table, or the first steps while the table has no rows."""

    def __init__(self, table: QWidget, model: QAbstractItemModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.steps = FirstSteps()
        self.table = table
        self.model = model
        self.addWidget(self.steps)
        self.addWidget(table)
        model.rowsInserted.connect(self._follow)
        model.rowsRemoved.connect(self._follow)
        model.modelReset.connect(self._follow)
        self._follow()

    def _follow(self, *_args: QModelIndex | int) -> None:
        self.setCurrentWidget(self.table if self.model.rowCount() else self.steps)


def _bold(font: QFont) -> QFont:
    f = QFont(font)
    f.setBold(True)
    return f

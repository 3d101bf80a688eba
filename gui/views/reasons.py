"""The reasons behind a verdict, in plain words, and the expected-vs-found table for mismatches.

Every string that may hold device text goes into a widget set to plain text: a serial such as
``<b>x</b><img src=...>`` must show as those characters, never as markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from attest.evidence import printable
from attest.verdict import Reason, Status, Verdict
from gui.icons import verdict_pixmap
from gui.theme import is_dark

#: A reason's status drawn with the badge of the verdict it pushes towards.
STATUS_BADGE = {Status.CONTRAINDICATED: Verdict.UNTRUSTED, Status.WARNING: Verdict.WARNING,
                Status.AFFIRMING: Verdict.TRUSTED, Status.NONE: Verdict.UNKNOWN}
STATUS_WORD = {Status.CONTRAINDICATED: "contradicts the manifest", Status.WARNING: "weaker evidence",
               Status.AFFIRMING: "matches", Status.NONE: "could not check"}
_SEVERITY = {Status.CONTRAINDICATED: 0, Status.WARNING: 1, Status.NONE: 2, Status.AFFIRMING: 3}
#: Above the checks that passed when something else did not: each covers only what it names.
CAVEAT = ("What did check out: each line below covers only what its detail names; none of them "
          "outweighs the findings above.")


def plain_label(text: str = "", *, wrap: bool = True, selectable: bool = True) -> QLabel:
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def ordered(reasons: Sequence[Reason]) -> list[Reason]:
    """Worst first, so the finding that decided the verdict is what the eye meets."""
    return sorted(reasons, key=lambda r: _SEVERITY[r.status])


class ReasonCard(QFrame):
    def __init__(self, reason: Reason, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName(f"reason-{reason.code}")
        outer = QHBoxLayout(self)
        outer.setContentsMargins(8, 6, 8, 6)
        badge = QLabel()
        badge.setTextFormat(Qt.TextFormat.PlainText)
        badge.setPixmap(verdict_pixmap(STATUS_BADGE[reason.status], is_dark(), 20))
        badge.setAlignment(Qt.AlignmentFlag.AlignTop)
        badge.setToolTip(STATUS_WORD[reason.status])
        outer.addWidget(badge)
        body = QVBoxLayout()
        body.setSpacing(2)
        outer.addLayout(body, 1)
        self.message = plain_label(reason.message)
        bold = QFont(self.message.font())
        bold.setBold(True)
        self.message.setFont(bold)
        body.addWidget(self.message)
        self.code = plain_label(f"{reason.code} · {reason.category} · {STATUS_WORD[reason.status]}")
        self.code.setEnabled(False)  # secondary text
        body.addWidget(self.code)
        self.detail = plain_label(f"Detail: {printable(reason.detail)}") if reason.detail else None
        if self.detail is not None:
            body.addWidget(self.detail)
        if reason.expected is not None or reason.found is not None:
            body.addWidget(plain_label(f"Expected: {_value(reason.expected)}    Found: {_value(reason.found)}"))
        self.remediation = plain_label(f"What to do: {reason.remediation}") if reason.remediation else None
        if self.remediation is not None:
            body.addWidget(self.remediation)


class ReasonList(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)  # spare height goes below the cards, never between them
        self.cards: list[ReasonCard] = []
        self.caveat: QLabel | None = None
        self.caveat_before: ReasonCard | None = None

    def set_reasons(self, reasons: Sequence[Reason]) -> None:
        for card in self.cards:
            card.deleteLater()
        if self.caveat is not None:
            self.caveat.deleteLater()
            self.caveat = None
        self.cards = [ReasonCard(r, self) for r in ordered(reasons)]
        findings = any(r.status in (Status.CONTRAINDICATED, Status.WARNING) for r in reasons)
        for card, r in zip(self.cards, ordered(reasons), strict=True):
            if findings and r.status is Status.AFFIRMING and self.caveat is None:
                # A green tick under a red finding reads as "but it's fine": say what it covers.
                self.caveat = plain_label(CAVEAT)
                self.caveat.setObjectName("affirming-caveat")
                self.caveat_before = card
                self._layout.insertWidget(self._layout.count() - 1, self.caveat)
            self._layout.insertWidget(self._layout.count() - 1, card)

    def text(self) -> str:
        """Everything the cards say, for tests and for copying."""
        parts = []
        for card in self.cards:
            if self.caveat is not None and card is self.caveat_before:
                parts.append(self.caveat.text())
            parts += [card.message.text(), card.code.text()]
            parts += [w.text() for w in (card.detail, card.remediation) if w is not None]
        return "\n".join(parts)


class MismatchTable(QTreeWidget):
    """Expected next to found, one line per mismatch, so the difference is read not hunted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["Mismatch", "Expected (manifest)", "Found (on the rig)"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        # The values are what must be read in full; the mismatch's name gives way (elided, whole in
        # its tooltip) when the detail pane is narrow.
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setAccessibleName("Expected and found")

    def set_reasons(self, reasons: Sequence[Reason]) -> int:
        self.clear()
        rows = [r for r in ordered(reasons) if r.expected is not None or r.found is not None]
        for r in rows:
            what = r.code.replace("_", " ").lower().capitalize() + (f" ({printable(r.detail)})" if r.detail else "")
            item = QTreeWidgetItem([what, _value(r.expected), _value(r.found)])
            item.setToolTip(0, f"{what} ({r.code})")
            self.addTopLevelItem(item)
        self.setVisible(bool(rows))
        height = self.header().sizeHint().height() + max(1, len(rows)) * (self.fontMetrics().height() + 8) + 6
        self.setFixedHeight(min(height, 220))
        return len(rows)

    def text(self) -> str:
        items = [self.topLevelItem(i) for i in range(self.topLevelItemCount())]
        return "\n".join(" | ".join(item.text(c) for c in range(3)) for item in items if item is not None)


def _value(value: str | None) -> str:
    return "(none)" if value is None else printable(value, limit=512).replace("\n", " ")

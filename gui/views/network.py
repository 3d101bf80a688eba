"""The detail pane's Network tab: what the rig looked up and connected to during the station's
network watch, each with its judgement (a known backdoor, unlisted, allowed).

Names, server names and first bytes all come from the device, so every cell is plain text made
printable and bounded (``cell_text``); nothing here is rich text.
"""

from __future__ import annotations

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from attest.egress import INDICATOR, UNLISTED, Judgement, judge_evidence
from attest.evidence import Evidence
from attest.policy import Policy
from gui.models.rows import cell_text
from gui.views.reasons import plain_label

NO_WATCH = ("No network watch ran for this check. To see what a rig tries to reach, give the rigs this "
            "station as their DNS server and enter its intake address as Network watch in the Settings dialog "
            "(Station menu).")


class NetworkView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        self.note = plain_label("")
        layout.addWidget(self.note)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(5)
        self.tree.setHeaderLabels(["Seen", "Name or port", "Detail", "Times", "Judgement"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setAccessibleName("Network lookups and connections")
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in enumerate((90, 200, 260, 50)):
            self.tree.setColumnWidth(column, width)
        layout.addWidget(self.tree, 1)

    def show_evidence(self, evidence: Evidence | None, policy: Policy) -> None:
        self.tree.clear()
        watched = evidence.best("egress.watch") if evidence is not None else None
        if evidence is None or watched is None:
            self.note.setText(NO_WATCH if evidence is not None else "")
            self.tree.setVisible(False)
            return
        judgements = judge_evidence(evidence, policy)
        self.note.setText("Watched: " + cell_text(watched.value) if judgements else
                          "The rig looked up nothing and connected nowhere during the watch (noted, not a pass): "
                          + cell_text(watched.value))
        self.tree.setVisible(bool(judgements))
        for j in judgements:
            self.tree.addTopLevelItem(self._row(j))

    def _row(self, j: Judgement) -> QTreeWidgetItem:
        item = j.item
        if item.kind == "lookup":
            cells = ["Lookup", cell_text(item.name), cell_text(item.qtype)]
        else:
            detail = [cell_text(item.outcome)]
            if item.name:
                detail.append(f"TLS name {cell_text(item.name)}")
            if item.checkins:
                detail.append("check-in of " + cell_text(", ".join(item.checkins)))
            if item.size:
                detail.append(f"{item.size} bytes")
            if item.preview:
                detail.append(cell_text(item.preview))
            cells = ["Connection", f"port {item.port}", "; ".join(detail)]
        row = QTreeWidgetItem([*cells, str(item.count), f"{j.status}: {cell_text(j.why)}"])
        if j.status in (INDICATOR, UNLISTED):
            bold = QFont(self.tree.font())
            bold.setBold(True)
            row.setFont(4, bold)
        return row

    def text(self) -> str:
        """What the tab shows, as plain text (tests)."""
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        rows = ["\t".join(item.text(c) for c in range(5)) for item in items]
        return "\n".join([self.note.text(), *rows])

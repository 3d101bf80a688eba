"""The detail pane for the selected rig: verdict, reasons, evidence and the raw transcript.

Technicians debug with the transcript and argue with the claims, so both are a tab away; what
decided the verdict (worst reasons, expected vs found) is what the pane opens on. A serial rig
also gets its console, live while it is checked (gui/views/console_log.py).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from attest.evidence import Claim, Evidence, printable
from attest.policy import Policy
from gui.icons import verdict_pixmap
from gui.models.rows import DeviceRow, RowKind, RowState, cell_text
from gui.theme import is_dark, verdict_colours
from gui.views.console_log import ConsoleLogView, console_label
from gui.views.history_note import history_line
from gui.views.network import NetworkView
from gui.views.reasons import MismatchTable, ReasonList, plain_label

CLAIM_GROUPS = (("identity", ("unit.", "net.")), ("hardware", ("control_board.", "hashboard.", "psu.")),
                ("firmware", ("firmware.", "indicator.")), ("configuration", ("config.",)))


def claim_group(name: str) -> str:
    for group, prefixes in CLAIM_GROUPS:
        if name.startswith(prefixes):
            return group
    return "other"


class DetailPane(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.device_id = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        header = QHBoxLayout()
        self.badge = QLabel()
        self.badge.setTextFormat(Qt.TextFormat.PlainText)
        self.badge.setFixedSize(44, 44)
        header.addWidget(self.badge, 0, Qt.AlignmentFlag.AlignTop)
        titles = QVBoxLayout()
        self.verdict = plain_label("No rig selected", selectable=False)
        big = QFont(self.verdict.font())
        big.setPointSizeF(big.pointSizeF() * 1.6)
        big.setBold(True)
        self.verdict.setFont(big)
        self.verdict.setAccessibleName("Verdict")
        self.title = plain_label("")
        self.title.setAccessibleName("Rig")
        self.subtitle = plain_label("")
        titles.addWidget(self.verdict)
        titles.addWidget(self.title)
        titles.addWidget(self.subtitle)
        header.addLayout(titles, 1)
        layout.addLayout(header)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)
        self.tabs.addTab(self._summary_tab(), "&Verdict")
        self.claims = QTreeWidget()
        self.claims.setColumnCount(4)
        self.claims.setHeaderLabels(["Claim", "Value", "Source", "Assurance"])
        self.claims.setUniformRowHeights(True)
        self.claims.setAlternatingRowColors(True)
        self.claims.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.claims.setColumnWidth(0, 190)
        self.claims.setColumnWidth(1, 220)
        self.claims.setColumnWidth(2, 240)
        self.tabs.addTab(self.claims, "&Claims")
        self.transcript = QPlainTextEdit()
        self.transcript.setReadOnly(True)
        self.transcript.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.transcript.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.transcript.setAccessibleName("Transcript")
        self.tabs.addTab(self.transcript, "&Transcript")
        self.network = NetworkView()
        self.tabs.addTab(self.network, "&Network")
        self.policy_for_network: Callable[[], Policy] = Policy  # the station's policy judges the tab's rows
        self.console = ConsoleLogView()
        self.console_tab = self.tabs.addTab(self.console, "C&onsole")
        self.show_row(None)

    def _summary_tab(self) -> QWidget:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 4, 4, 4)
        self.note = plain_label("")
        layout.addWidget(self.note)
        self.mismatch_title = plain_label("Expected vs found", selectable=False)
        self.mismatch_title.setFont(_bold(self.mismatch_title.font()))
        layout.addWidget(self.mismatch_title)
        self.mismatches = MismatchTable()
        layout.addWidget(self.mismatches)
        self.reasons_title = plain_label("Reasons", selectable=False)
        self.reasons_title.setFont(_bold(self.reasons_title.font()))
        layout.addWidget(self.reasons_title)
        self.reasons = ReasonList()
        layout.addWidget(self.reasons)
        self.categories = plain_label("")
        self.categories.setEnabled(False)
        layout.addWidget(self.categories)
        layout.addStretch(1)
        scroll.setWidget(body)
        return scroll

    def append_console(self, endpoint: str, direction: str, data: bytes) -> None:
        """A chunk of a serial console as it crossed the line (attest.drivers.base.ConsoleOutput)."""
        self.console.append(endpoint, direction, data)

    def show_row(self, row: DeviceRow | None) -> None:
        """Render ``row`` (None: nothing selected). Called again whenever the row changes."""
        serial = row is not None and row.kind is RowKind.SERIAL
        self.tabs.setTabVisible(self.console_tab, serial)
        wanted = console_label(row.device_id) if row is not None and serial else ""
        if wanted != self.console.shown:
            self.console.show_console(wanted)
        self.device_id = row.device_id if row else ""
        if row is None:
            self._header(None, "No rig selected", "", "Select a rig in the table to see why it got its verdict.")
            self._body(None)
            return
        verdict_word = row.verdict.value if row.verdict and row.state is RowState.DONE else row.state.value.upper()
        if row.state.busy and row.verdict:
            verdict_word = f"{row.state.value.upper()} (was {row.verdict.value})"
        title = " · ".join(p for p in (row.serial or "serial not read", row.model) if p)
        self._header(row, verdict_word, title, row.device_id + (f"  ({row.label})" if row.label else ""))
        self._body(row)

    def _header(self, row: DeviceRow | None, verdict: str, title: str, subtitle: str) -> None:
        v = row.verdict if row else None
        self.badge.setPixmap(verdict_pixmap(v, is_dark(), 44))
        self.verdict.setText(verdict)
        colour = verdict_colours(v).accent.name() if v else ""
        self.verdict.setStyleSheet(f"color: {colour};" if colour else "")
        self.title.setText(title)
        self.subtitle.setText(subtitle)

    def _body(self, row: DeviceRow | None) -> None:
        appraisal = row.appraisal if row else None
        notes = [row.note] if row and row.note else []
        if row and row.state is RowState.DONE and row.revised_because:
            was = f" (it was {row.previous_verdict.value})" if row.previous_verdict else ""
            notes.append(f"Verdict revised{was}: {row.revised_because}, read later in the check, has the same "
                         "serial or MAC.")
        if appraisal is not None and (history := history_line(appraisal.reasons)):
            notes.append(history)
        if row and row.state is RowState.PENDING:
            notes.append("This serial was scanned but no address reaches it yet: add its host or serial "
                         "console, then verify.")
        if row is not None and row.dump is not None:
            notes.append(f"Flash dump attached: {row.dump.summary}. Its images count at assurance offline "
                         "from the rig's next check.")
        if appraisal is not None and appraisal.manifest is not None:
            m = appraisal.manifest
            notes.append(f"Judged against the manifest from {m.issuer}, sequence {m.sequence}.")
        if appraisal is not None and any(r.code == "CONFIGURATION_NOT_CHECKED" for r in appraisal.reasons):
            notes.append("Pools not checked: the station policy has no pool allow-list, so a hijacked pool would "
                         "pass (Pool allow-list… in the Station menu sets one).")
        self.note.setText("\n".join(notes))
        self.note.setVisible(bool(notes))
        reasons = appraisal.reasons if appraisal else ()
        shown = self.mismatches.set_reasons(reasons)
        self.mismatch_title.setVisible(shown > 0)
        self.reasons.set_reasons(reasons)
        self.reasons_title.setVisible(bool(reasons))
        if appraisal is not None:
            self.categories.setText("Categories: " + ", ".join(
                f"{name} {status.value}" for name, status in appraisal.categories.items()))
        else:
            self.categories.setText("")
        evidence = row.evidence if row else None
        self._claims(evidence)
        self.network.show_evidence(evidence, self.policy_for_network())
        self.transcript.setPlainText(evidence.transcript.to_text() if evidence else "")

    def _claims(self, evidence: Evidence | None) -> None:
        self.claims.clear()
        if evidence is None:
            return
        groups: dict[str, list[Claim]] = {}
        for claim in evidence.claims:
            groups.setdefault(claim_group(claim.name), []).append(claim)
        order = [g for g, _ in CLAIM_GROUPS] + ["other"]
        for group in order:
            claims = groups.get(group)
            if not claims:
                continue
            parent = QTreeWidgetItem([f"{group} ({len(claims)})"])
            parent.setFirstColumnSpanned(True)
            parent.setFont(0, _bold(self.claims.font()))
            for c in claims:
                value = "(none)" if c.value is None else cell_text(c.value)
                child = QTreeWidgetItem([c.name, value, printable(c.source, limit=300), c.assurance.label])
                parent.addChild(child)
            self.claims.addTopLevelItem(parent)
            parent.setExpanded(True)

    def summary_text(self) -> str:
        """What the Verdict tab says, as plain text (tests, copy to clipboard)."""
        return "\n".join((self.verdict.text(), self.title.text(), self.subtitle.text(), self.note.text(),
                          self.mismatches.text(), self.reasons.text()))


def _bold(font: QFont) -> QFont:
    f = QFont(font)
    f.setBold(True)
    return f

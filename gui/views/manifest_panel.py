"""The loaded manifests: who issued each, which sequence, how long it is valid, for how many units,
and who signed it (the chain that made the signature count). Refused files stay listed with the
reason, so an operator sees why a shipment's manifest is not being used.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from attest.evidence import printable
from attest.verdict import REASONS, Verdict
from gui.icons import verdict_icon
from gui.station import LoadedManifest
from gui.theme import is_dark, verdict_colours

PATH_ROLE = Qt.ItemDataRole.UserRole + 10


def manifest_lines(loaded: LoadedManifest) -> tuple[str, list[str]]:
    """The title and detail lines shown for one manifest file (plain text)."""
    name = loaded.path.name
    m = loaded.manifest
    if m is None:
        info = REASONS.get(loaded.code)
        lines = [f"Refused: {loaded.code}", printable(loaded.message, limit=600)]
        if info is not None:
            lines.append(f"What to do: {info.remediation}")
        lines += ["Not used for checks.", f"File: {loaded.path}"]
        return f"REFUSED — {name} ({loaded.code})", lines
    if loaded.superseded_by is not None:
        newer = loaded.superseded_by
        lines = [f"Sequence {m.sequence}: superseded by sequence {newer.sequence} of the same issuer, also loaded.",
                 "Not used for checks: only an issuer's newest manifest is (an older one may still list "
                 "releases the vendor has withdrawn).", f"File: {loaded.path}"]
        return f"SUPERSEDED — {printable(m.issuer, limit=120)} — sequence {m.sequence}", lines
    lines = [f"Sequence {m.sequence}",
             f"Valid {m.issued_at:%Y-%m-%d %H:%M} → {m.expires_at:%Y-%m-%d %H:%M} UTC"
             + (" (EXPIRED)" if loaded.expired else ""),
             f"{len(m.devices)} devices · {len(m.firmware)} firmware releases · "
             f"{len(m.revoked_firmware)} revoked digests"]
    for signer in m.signers:
        lines.append(f"Signed by {printable(signer.subject, limit=200)} ({signer.kind}, key {signer.keyid[:16]}…)")
        if signer.chain:
            lines.append("   chain: " + " → ".join(printable(s, limit=120) for s in signer.chain))
    lines.append(f"File: {loaded.path}")
    return f"{printable(m.issuer, limit=120)} — sequence {m.sequence}", lines


class ManifestPanel(QWidget):
    filesDropped = Signal(list)  # list[Path]
    loadRequested = Signal()
    removeRequested = Signal(object)  # Path

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Manifests (drop files here)"])
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.tree.setAccessibleName("Manifests")
        layout.addWidget(self.tree, 1)
        row = QHBoxLayout()
        load = QPushButton("&Load manifest…")
        load.clicked.connect(self.loadRequested)
        remove = QPushButton("Remove")
        remove.clicked.connect(self._remove)
        row.addWidget(load)
        row.addWidget(remove)
        row.addStretch(1)
        layout.addLayout(row)

    def show_manifests(self, manifests: list[LoadedManifest]) -> None:
        """Accepted manifests first and open, refused ones after them and closed to their one-line
        title (reason code included), so a refused file never pushes the one in use out of view.
        A refusal is opened only when no manifest is accepted: then it is what the operator needs."""
        self.tree.clear()
        dark = is_dark()
        in_use = any(m.accepted for m in manifests)
        for loaded in sorted(manifests, key=lambda m: not m.accepted):
            title, lines = manifest_lines(loaded)
            item = QTreeWidgetItem([title])
            item.setData(0, PATH_ROLE, str(loaded.path))
            verdict = Verdict.TRUSTED if loaded.used and not loaded.expired else \
                Verdict.WARNING if loaded.accepted else Verdict.UNTRUSTED
            item.setIcon(0, verdict_icon(verdict, dark))
            if not loaded.used:
                item.setForeground(0, verdict_colours(verdict, dark).accent)
            for line in lines:
                child = QTreeWidgetItem([line])
                child.setData(0, PATH_ROLE, str(loaded.path))
                item.addChild(child)
            if not loaded.accepted:
                item.setToolTip(0, printable(loaded.message, limit=600))
            self.tree.addTopLevelItem(item)
            item.setExpanded(loaded.accepted or not in_use)

    def text(self) -> str:
        out = []
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            out.append(item.text(0))
            out += ["  " + item.child(j).text(0) for j in range(item.childCount())]
        return "\n".join(out)

    def _remove(self) -> None:
        item = self.tree.currentItem()
        if item is not None and item.data(0, PATH_ROLE):
            self.removeRequested.emit(Path(str(item.data(0, PATH_ROLE))))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.filesDropped.emit(paths)
            event.acceptProposedAction()

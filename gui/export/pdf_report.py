"""The PDF report of a batch: a summary, then one section per rig with its verdict and reasons.

Built with QTextCursor inserts, never HTML: every string from a device goes in as plain text,
so a serial like ``<b>x</b>`` prints as those characters. Runs on the job thread (QTextDocument
and QPdfWriter need no GUI thread), so a 1,000-rig report never freezes the window.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from PySide6.QtCore import QMarginsF
from PySide6.QtGui import (
    QColor,
    QFont,
    QPageLayout,
    QPageSize,
    QPdfWriter,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)

from attest.verdict import Verdict
from gui.export.snapshot import ReportSnapshot, RigLine
from gui.theme import verdict_colours

_ORDER = ("TRUSTED", "WARNING", "UNTRUSTED", "UNKNOWN")
#: Print is read without colour more often than not: the verdict word always leads.
_MARK = {"TRUSTED": "[OK]", "WARNING": "[!]", "UNTRUSTED": "[X]", "UNKNOWN": "[?]", "": "[ ]"}


class _Writer:
    def __init__(self, doc: QTextDocument) -> None:
        self.cursor = QTextCursor(doc)
        self.base = QFont("DejaVu Sans")
        self.base.setPointSizeF(9.5)
        doc.setDefaultFont(self.base)

    def fmt(self, *, size: float = 9.5, bold: bool = False, colour: QColor | None = None,
            mono: bool = False) -> QTextCharFormat:
        f = QTextCharFormat()
        font = QFont("DejaVu Sans Mono" if mono else "DejaVu Sans")
        font.setPointSizeF(size)
        font.setBold(bold)
        f.setFont(font)
        if colour is not None:
            f.setForeground(colour)
        return f

    def block(self, *, top: float = 0, bottom: float = 2, indent: int = 0, page_break: bool = False) -> None:
        b = QTextBlockFormat()
        b.setTopMargin(top)
        b.setBottomMargin(bottom)
        b.setIndent(indent)
        if page_break:
            b.setPageBreakPolicy(QTextFormat.PageBreakFlag.PageBreak_AlwaysBefore)
        self.cursor.insertBlock(b)

    def text(self, text: str, fmt: QTextCharFormat | None = None) -> None:
        self.cursor.insertText(text, fmt or self.fmt())


def build_document(snap: ReportSnapshot) -> QTextDocument:
    doc = QTextDocument()
    w = _Writer(doc)
    w.text("Rig Attest — verification report", w.fmt(size=18, bold=True))
    w.block(top=4)
    w.text(f"Station {snap.station}" + (f" · operator {snap.operator}" if snap.operator else "")
           + f" · {snap.created:%Y-%m-%d %H:%M %Z} · Rig Attest {snap.tool_version}")
    w.block(top=4)
    if snap.station_key is not None:
        w.text(f"Recorded in the signed log of station {snap.station_key[0]}; its key's SHA-256 fingerprint:",
               w.fmt(size=9))
        w.block()
        w.text(snap.station_key[1], w.fmt(mono=True, size=8))
    else:
        w.text("No station key: this report is not tied to a signed verification log.", w.fmt(size=9))
    w.block()
    if snap.checkpoint is not None:
        size, root, when = snap.checkpoint
        w.text(f"Latest signed checkpoint: {size} records, signed {when}; its root hash:", w.fmt(size=9))
        w.block()
        w.text(root, w.fmt(mono=True, size=8))
    else:
        w.text("No signed log checkpoint yet: these verdicts are not in the station's log.", w.fmt(size=9))
    counts = Counter(r.verdict for r in snap.rigs)
    w.block(top=10)
    w.text("Summary", w.fmt(size=13, bold=True))
    w.block()
    summary = " · ".join(f"{counts.get(v, 0)} {v.lower()}" for v in _ORDER)
    if counts.get(""):
        summary += f" · {counts['']} not checked"
    w.text(f"{len(snap.rigs)} rigs: {summary}", w.fmt(size=11, bold=True))
    for issuer, sequence, digest in snap.manifests:
        w.block()
        w.text(f"Manifest: {issuer}, sequence {sequence}, {digest}")
    if not snap.manifests:
        w.block()
        w.text("No manifest was accepted: every rig is at best UNKNOWN.")
    w.block(top=6)
    for rig in snap.rigs:
        w.block()
        w.text(f"{_MARK[rig.verdict]} {rig.verdict or rig.status:<10}  {rig.serial or '(serial not read)'}"
               f"  {rig.device_id}", w.fmt(mono=True, size=8.5))
    for rig in snap.rigs:
        _rig_section(w, rig)
    return doc


def _rig_section(w: _Writer, rig: RigLine) -> None:
    verdict = Verdict(rig.verdict) if rig.verdict else None
    w.block(top=14, bottom=2)
    w.text(f"{_MARK[rig.verdict]} {rig.verdict or rig.status.upper()}  ",
           w.fmt(size=12, bold=True, colour=verdict_colours(verdict, dark=False).accent))
    w.text(rig.serial or "(serial not read)", w.fmt(size=12, bold=True))
    w.block()
    facts = [f"address {rig.device_id}", f"model {rig.model or '?'}", f"firmware {rig.firmware or '?'}"]
    if rig.checked_at:
        facts.append(f"checked {rig.checked_at}")
    w.text(" · ".join(facts))
    if not rig.reasons:
        w.block(indent=1)
        w.text(rig.top_reason or "Not checked.")
    for r in rig.reasons:
        w.block(top=3, indent=1)
        w.text(f"{r.code} ({r.status}): ", w.fmt(bold=True))
        w.text(r.message)
        if r.detail:
            w.block(indent=2)
            w.text(f"Detail: {r.detail}")
        if r.expected is not None or r.found is not None:
            w.block(indent=2)
            w.text(f"Expected: {r.expected if r.expected is not None else '(none)'}    "
                   f"Found: {r.found if r.found is not None else '(none)'}", w.fmt(mono=True, size=8.5))
        if r.remediation and r.status in ("contraindicated", "warning", "none"):
            w.block(indent=2)
            w.text(f"What to do: {r.remediation}")


def write_pdf(snap: ReportSnapshot, path: Path) -> int:
    """Write the report; returns the page count. Runs on the job thread."""
    writer = QPdfWriter(str(path))
    writer.setTitle("Rig Attest verification report")
    writer.setCreator(f"Rig Attest {snap.tool_version}")
    writer.setResolution(300)
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4), QPageLayout.Orientation.Portrait,
                                     QMarginsF(15, 15, 15, 15), QPageLayout.Unit.Millimeter))
    doc = build_document(snap)
    doc.print_(writer)  # no page size set: print_ paginates for the writer's page itself
    return doc.pageCount()

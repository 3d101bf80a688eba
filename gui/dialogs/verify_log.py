"""Verify a log or receipt…: the auditor's check, offline, of a file someone handed them.

It runs the same verifier as ``attest log verify`` / ``verify-receipt`` and shows its findings
word for word (as plain text: everything in the file is the sender's). Pinning the station key
(a PEM file or the fingerprint the station published) is what ties the file to that station;
without it the dialog says so rather than letting "OK" suggest more than it means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from attest.log.checkpoint import read_checkpoint_file
from attest.log.commands import bundle_lines, pinned_fingerprint, receipt_lines, refusal_lines
from attest.log.errors import LogError
from attest.log.receipt import FORMAT as RECEIPT_FORMAT
from attest.log.receipt import verify_receipt
from attest.log.verify import verify_bundle
from gui.jobs import JobRunner

#: A receipt is one small JSON document; a bundle is JSON Lines. Peek this far to tell them apart.
PEEK_BYTES = 1 << 20


@dataclass(frozen=True)
class Verdict:
    ok: bool
    text: str


def verify_file(path: str, station_key: str, since: str) -> Verdict:
    """Job thread: check a bundle or a receipt; every outcome is a Verdict, never a traceback.
    The words are the CLI's (``attest log verify`` / ``verify-receipt``), so both say the same."""
    try:
        pinned = pinned_fingerprint(station_key.strip() or None)
        if _is_receipt(Path(path)):
            if since.strip():
                return Verdict(False, "An earlier checkpoint applies to a log bundle, not to a receipt.")
            r = verify_receipt(path, pinned=pinned)
            return Verdict(r.ok, "\n".join(receipt_lines(path, r) if r.ok else refusal_lines(path, r.findings)))
        earlier = read_checkpoint_file(since.strip()) if since.strip() else None
        b = verify_bundle(path, pinned=pinned, since=earlier)
        return Verdict(b.ok, "\n".join(bundle_lines(path, b) if b.ok else refusal_lines(path, b.findings)))
    except LogError as e:
        return Verdict(False, "\n".join(refusal_lines(path, [e])))


def _is_receipt(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(PEEK_BYTES)
    except OSError as e:
        raise LogError("LOG_UNREADABLE", f"cannot read {path}: {e.strerror or e}") from None
    try:
        doc = json.loads(head)
    except ValueError:
        return False  # JSON Lines (a bundle), or not JSON at all: the bundle reader says which
    return isinstance(doc, dict) and doc.get("format") == RECEIPT_FORMAT


class VerifyLogDialog(QDialog):
    def __init__(self, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.setWindowTitle("Verify a log or receipt")
        self.resize(760, 420)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.path = self._file_row(form, "&File:", "Log bundle or receipt",
                                   "Rig Attest logs and receipts (*.jsonl *.json);;All files (*)")
        self.station_key = self._file_row(form, "Station &key:", "Station public key",
                                          "PEM (*.pem);;All files (*)")
        self.station_key.setPlaceholderText("the station's public key file, or its 64-hex fingerprint")
        self.since = self._file_row(form, "&Earlier checkpoint:", "Earlier checkpoint", "JSON (*.json);;All files (*)")
        self.since.setPlaceholderText("optional: a checkpoint saved earlier, that the log must extend")
        layout.addLayout(form)
        self.result = QPlainTextEdit()  # plain text: the file's contents are the sender's
        self.result.setReadOnly(True)
        self.result.setFont(QFont("DejaVu Sans Mono", 9))
        layout.addWidget(self.result, 1)
        self.outcome = QLabel()
        self.outcome.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.outcome)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.verify_button = buttons.addButton("&Verify", QDialogButtonBox.ButtonRole.ActionRole)
        self.verify_button.clicked.connect(self.verify)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.last: Verdict | None = None

    def _file_row(self, form: QFormLayout, label: str, title: str, filters: str) -> QLineEdit:
        edit = QLineEdit()
        browse = QPushButton("Browse…")
        row = QHBoxLayout()
        row.addWidget(edit, 1)
        row.addWidget(browse)

        def choose() -> None:
            path, _ = QFileDialog.getOpenFileName(self, title, edit.text(), filters)
            if path:
                edit.setText(path)

        browse.clicked.connect(choose)
        caption = QLabel(label)  # a QLabel, so the & gives a keyboard shortcut instead of showing
        caption.setBuddy(edit)
        form.addRow(caption, row)
        return edit

    def verify(self) -> None:
        path, key, since = self.path.text().strip(), self.station_key.text(), self.since.text()
        if not path:
            self.outcome.setText("Choose a file to verify.")
            return
        self.verify_button.setEnabled(False)
        self.outcome.setText("Verifying…")

        async def op() -> Verdict:
            return verify_file(path, key, since)

        self.jobs.run_in_background(op, on_success=self._show,
                                    on_failure=lambda e: self._show(Verdict(False, f"{type(e).__name__}: {e}")))

    def _show(self, verdict: Verdict) -> None:
        self.last = verdict
        self.verify_button.setEnabled(True)
        self.result.setPlainText(verdict.text)
        self.outcome.setText("✔ Holds: nothing was edited, removed or reordered." if verdict.ok
                             else "✘ Refused: see the findings above.")

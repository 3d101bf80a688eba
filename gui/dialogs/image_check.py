"""File ▸ Verify firmware file…, and firmware files dropped on the window: `attest image` in a dialog.

The file is read in a child process (``attest.image.isolated``) with a hard memory cap and a
deadline: a file crafted to get past the readers' budgets could otherwise exhaust this process's
memory and kill the window with it, and a running verify of a pallet besides. Waiting for that
child is plain blocking work, so it runs on Qt's global thread pool rather than the station's job
loop (which belongs to device checks): a 256 MB dump must not hold up a verify, nor the GUI
thread. The pool thread only waits and judges; its result reaches the dialog through a queued
signal, and nothing in it touches a widget.

Everything shown comes from the file (names, quoted bytes) and goes into plain-text widgets only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from attest.appraise import Appraisal
from attest.image.appraise_image import detail_lines
from attest.image.isolated import check_file_isolated
from attest.image.limits import Limits
from attest.manifest import Manifest
from attest.trust import TrustStore
from attest.verdict import Verdict
from gui.views.reasons import ReasonList, plain_label

log = logging.getLogger(__name__)

_SNIFF_BYTES = 64 * 1024
#: What a verdict means for a file someone is about to flash.
FILE_VERDICT = {
    Verdict.TRUSTED: "the file is a release the manufacturer signed",
    Verdict.WARNING: "check the findings with the vendor before flashing",
    Verdict.UNTRUSTED: "do not flash this file",
    Verdict.UNKNOWN: "not verified; do not rely on this file until it is",
}


#: The budgets a dropped file is checked under (the defaults; a test lowers them).
CHECK_LIMITS = Limits()


def is_manifest(path: Path) -> bool:
    """A signed manifest is a DSSE JSON envelope; anything else dropped is taken for firmware.
    Decided by content (the first 64 KiB), never by the file's name."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return True  # unreadable: the manifest loader reports it with its own reason
    text = head.lstrip()
    if not text.startswith(b"{"):
        return False
    if b'"payloadType"' in text and b'"signatures"' in text:
        return True
    try:
        doc = json.loads(head)
    except ValueError:
        return len(head) == _SNIFF_BYTES  # a large JSON document cut off by the sniff: let the loader judge
    return isinstance(doc, dict)


def split_drop(paths: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """(manifests, firmware files) among the dropped files."""
    manifests = [p for p in paths if is_manifest(p)]
    return manifests, [p for p in paths if p not in manifests]


class _Relay(QObject):
    done = Signal(object)
    failed = Signal(str)


class _ImageCheckJob(QRunnable):
    def __init__(self, path: Path, trust: TrustStore | None, manifests: Sequence[Manifest], relay: _Relay) -> None:
        super().__init__()
        self.path, self.trust, self.manifests, self.relay = path, trust, tuple(manifests), relay

    def run(self) -> None:  # on a pool thread: compute only, never touch a widget
        try:
            result = check_file_isolated(str(self.path), self.trust, self.manifests, limits=CHECK_LIMITS)
        except OSError as e:
            self._send(self.relay.failed, f"Cannot read {self.path}: {e.strerror or e}")
        except Exception as e:  # a bug in Rig Attest, not a finding: shown once, logged with context
            log.exception("checking firmware file %s", self.path)
            self._send(self.relay.failed, f"Rig Attest failed while checking {self.path} ({type(e).__name__}); "
                       "see the log.")
        else:
            self._send(self.relay.done, result)

    def _send(self, signal: object, value: object) -> None:
        try:
            signal.emit(value)  # type: ignore[attr-defined]
        except RuntimeError:  # the dialog was closed and deleted while the file was being read
            log.info("firmware check of %s finished after its dialog closed", self.path)


class ImageCheckDialog(QDialog):
    """One file's verdict, reasons (as the detail pane shows a rig's) and every finding as text."""

    finished_check = Signal(object)  # the Appraisal, or None when the file could not be read

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.appraisal: Appraisal | None = None
        self.setWindowTitle(f"Firmware file — {path.name}")
        self.resize(820, 620)
        layout = QVBoxLayout(self)
        self.file_label = plain_label(str(path))
        self.verdict_label = plain_label("Checking…")
        font = QFont(self.verdict_label.font())
        font.setPointSize(font.pointSize() + 4)
        font.setBold(True)
        self.verdict_label.setFont(font)
        self.top_label = plain_label("")
        self.reasons = ReasonList()
        self.findings = QPlainTextEdit()
        self.findings.setReadOnly(True)
        self.findings.setPlaceholderText("Findings appear here when the check is done.")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.reasons)
        for widget in (self.file_label, self.verdict_label, self.top_label):
            layout.addWidget(widget)
        layout.addWidget(scroll, 3)
        layout.addWidget(plain_label("Every finding as text, worst first (to copy into a report):"))
        layout.addWidget(self.findings, 1)
        layout.addWidget(buttons)
        self.relay = _Relay(self)
        self.relay.done.connect(self.show_result)
        self.relay.failed.connect(self.show_failure)

    def start(self, trust: TrustStore | None, manifests: Sequence[Manifest],
              pool: QThreadPool | None = None) -> None:
        (pool or QThreadPool.globalInstance()).start(_ImageCheckJob(self.path, trust, manifests, self.relay))

    def show_result(self, appraisal: Appraisal) -> None:
        self.appraisal = appraisal
        top = appraisal.top_reason
        self.verdict_label.setText(f"{appraisal.verdict.value}: {FILE_VERDICT[appraisal.verdict]}")
        self.top_label.setText(f"{top.message} ({top.code})" if top else "")
        self.reasons.set_reasons(appraisal.reasons)
        self.findings.setPlainText("\n".join(detail_lines(appraisal)))
        self.finished_check.emit(appraisal)

    def show_failure(self, text: str) -> None:
        self.verdict_label.setText("Not checked")
        self.findings.setPlainText(text)
        self.finished_check.emit(None)


def check_files(window: QWidget, paths: Sequence[Path], trust: TrustStore | None,
                manifests: Sequence[Manifest]) -> list[ImageCheckDialog]:
    """A dialog per file, each checked in the background and shown at once (non-modal)."""
    dialogs = []
    for path in paths:
        dialog = ImageCheckDialog(Path(path), window)
        dialog.start(trust, manifests)
        dialog.show()
        dialogs.append(dialog)
    return dialogs


def verify_firmware_dialog(window: QWidget, trust: TrustStore | None, manifests: Sequence[Manifest],
                           start: Path | None = None) -> list[ImageCheckDialog]:
    """``start``: the folder the file dialog opens in (the demo's firmware files, in demo mode)."""
    paths, _ = QFileDialog.getOpenFileNames(window, "Verify firmware file", str(start or ""),
                                            "Firmware files and flash dumps (*)")
    return check_files(window, [Path(p) for p in paths], trust, manifests)

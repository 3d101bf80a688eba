"""The trust store dialog: import and remove vendor roots and pinned keys.

Changes go through ``TrustStore``'s own helpers (which check the file before copying it in);
the dialog runs them as background jobs and reports ``TrustError`` messages as they are.
After any change the window re-checks every loaded manifest, so a removed root stops counting.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from attest.trust import TrustError, TrustStore
from gui.jobs import JobRunner
from gui.views.reasons import plain_label

_KIND_WORDS = {"root": "Vendor root", "pinned-key": "Pinned key", "crl": "CRL", "revoked-key": "Revoked key",
               "revoked-serial": "Revoked certificate", "issuer": "Issuer rule"}


def describe_entry(entry: dict[str, Any]) -> list[str]:
    kind = _KIND_WORDS.get(entry["kind"], entry["kind"])
    if entry["kind"] == "root":
        return [kind, entry["subject"], f"{entry['not_before'][:10]} → {entry['not_after'][:10]}", entry["id"]]
    if entry["kind"] == "pinned-key":
        return [kind, entry["key_type"], entry["file"], entry["id"]]
    if entry["kind"] == "crl":
        return [kind, entry["issuer"], f"{entry['revoked']} revoked", entry["file"]]
    if entry["kind"] == "issuer":
        return [kind, entry["issuer"], f"threshold {entry['threshold']}", ""]
    return [kind, "", "", entry.get("id", "")]


class TrustStoreDialog(QDialog):
    changed = Signal()

    def __init__(self, trust: TrustStore, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.trust = trust
        self.jobs = jobs
        self.setWindowTitle("Trust store")
        self.resize(820, 420)
        layout = QVBoxLayout(self)
        layout.addWidget(plain_label(f"Whose signatures count on a manifest. Store: {trust.directory}"))
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Kind", "Subject / key", "Valid / detail", "Id (fingerprint)"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._selection)
        layout.addWidget(self.tree, 1)
        self.message = plain_label("")
        layout.addWidget(self.message)
        row = QHBoxLayout()
        self.import_root = QPushButton("Import &root certificate…")
        self.import_root.clicked.connect(lambda: self._import("root"))
        self.import_key = QPushButton("Import pinned &key…")
        self.import_key.clicked.connect(lambda: self._import("key"))
        self.remove = QPushButton("R&emove")
        self.remove.setEnabled(False)
        self.remove.clicked.connect(self._remove)
        for button in (self.import_root, self.import_key, self.remove):
            row.addWidget(button)
        row.addStretch(1)
        layout.addLayout(row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.refresh()

    def refresh(self) -> None:
        self.tree.clear()
        entries = self.trust.describe()
        if not any(e["kind"] in ("root", "pinned-key") for e in entries) and not self.message.text():
            self.message.setText("No vendor is trusted yet: import your vendor's root certificate (or its public "
                                 "key to pin), obtained over a channel you trust, not with the manifest.")
        for entry in entries:
            item = QTreeWidgetItem(describe_entry(entry))
            removable = entry["kind"] in ("root", "pinned-key")
            item.setData(0, 256, entry["id"] if removable else "")
            self.tree.addTopLevelItem(item)

    def import_file(self, kind: str, path: Path) -> None:
        """Import ``path`` as a root (``kind='root'``) or a pinned key, off the GUI thread."""
        action: Callable[[Path], object] = self.trust.add_root if kind == "root" else self.trust.add_pinned_key

        async def op() -> object:
            return action(path)

        self._run(op, f"Imported {path.name}.")

    def remove_id(self, identifier: str) -> None:
        async def op() -> object:
            return self.trust.remove(identifier)

        self._run(op, "Removed.")

    def _import(self, kind: str) -> None:
        title = "Import vendor root certificate" if kind == "root" else "Import pinned public key"
        path, _ = QFileDialog.getOpenFileName(self, title, "", "PEM files (*.pem *.crt *.cer);;All files (*)")
        if path:
            self.import_file(kind, Path(path))

    def _remove(self) -> None:
        item = self.tree.currentItem()
        identifier = item.data(0, 256) if item is not None else ""
        if identifier:
            self.remove_id(str(identifier))

    def _selection(self) -> None:
        item = self.tree.currentItem()
        self.remove.setEnabled(bool(item is not None and item.data(0, 256)))

    def _run(self, op: Callable[[], Any], done: str) -> None:
        self.setEnabled(False)

        def ok(_: object) -> None:
            self.message.setText(done)
            self.refresh()
            self.changed.emit()

        def failed(error: BaseException) -> None:
            text = error.message if isinstance(error, TrustError) else f"{type(error).__name__}: {error}"
            self.message.setText(f"Not changed: {text}")

        self.jobs.run_in_background(op, on_success=ok, on_failure=failed, on_finished=lambda: self.setEnabled(True))

"""Asking for the station key's passphrase, or setting the key up the first time.

Every check the station runs is recorded in its signed log, so the key must be open before a
check starts, not after a pallet has been read. Wrong passphrases are said in the dialog itself,
so the technician can try again without losing their place.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)


class PassphraseDialog(QDialog):
    """Unlock (``create=False``) or create (``create=True``: station id + passphrase twice)."""

    def __init__(self, *, create: bool, where: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.create = create
        self.setWindowTitle("Set up the station key" if create else "Unlock the station key")
        self.setMinimumWidth(560)  # the explanation wraps to a few readable lines, not a narrow column
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.setSpacing(12)
        intro = QLabel(
            "Every check is recorded in this station's signed verification log. This station has no "
            f"signing key yet: choose a passphrase to protect the new key (kept in {where})."
            if create else
            "Every check is recorded in this station's signed verification log. Enter the passphrase "
            "of the station key to sign it.")
        intro.setTextFormat(Qt.TextFormat.PlainText)
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        form.setVerticalSpacing(10)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.station_id = QLineEdit()
        self.station_id.setPlaceholderText("e.g. intake-bench-3 (optional)")
        if create:
            form.addRow("Station &id:", self.station_id)
        self.passphrase = QLineEdit()
        self.passphrase.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("&Passphrase:", self.passphrase)
        self.repeat = QLineEdit()
        self.repeat.setEchoMode(QLineEdit.EchoMode.Password)
        if create:
            form.addRow("&Repeat:", self.repeat)
        layout.addLayout(form)
        self.problem = QLabel()
        self.problem.setTextFormat(Qt.TextFormat.PlainText)
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("font-weight: bold")
        self.problem.hide()
        layout.addWidget(self.problem)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create key" if create else "Unlock")
        buttons.accepted.connect(self._accept_if_valid)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.passphrase.setFocus()

    def show_problem(self, text: str) -> None:
        self.problem.setText(text)
        self.problem.show()
        self.passphrase.selectAll()
        self.passphrase.setFocus()

    def secret(self) -> bytes:
        return self.passphrase.text().encode("utf-8")

    def chosen_id(self) -> str | None:
        return self.station_id.text().strip() or None

    def _accept_if_valid(self) -> None:
        if not self.passphrase.text():
            self.show_problem("Enter a passphrase.")
        elif self.create and self.passphrase.text() != self.repeat.text():
            self.show_problem("The two passphrases differ.")
        else:
            self.accept()

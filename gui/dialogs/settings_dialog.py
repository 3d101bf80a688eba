"""The settings dialog: station identity, how hard to check, the look, and where trust lives."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from attest.address import AddressError, PortProfile
from attest.watch import DEFAULT_WINDOW_SECONDS, WatchError, parse_listen
from gui.settings import StationSettings
from gui.theme import THEMES
from gui.views.reasons import plain_label

FROM_POLICY = "from policy"


class SettingsDialog(QDialog):
    def __init__(self, settings: StationSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.station = QLineEdit(settings.station_name)
        self.station.setPlaceholderText(settings.station)
        form.addRow("&Station name:", self.station)
        self.operator = QLineEdit(settings.operator)
        form.addRow("&Operator:", self.operator)
        self.request_timeout = _seconds(settings.request_timeout, 0, 600)
        form.addRow("&Request timeout:", self.request_timeout)
        self.hash_timeout = _seconds(settings.hash_timeout, 0, 3600)
        form.addRow("&Hash timeout:", self.hash_timeout)
        self.concurrency = QSpinBox()
        self.concurrency.setRange(0, 1024)
        self.concurrency.setSpecialValueText(FROM_POLICY)
        self.concurrency.setValue(settings.concurrency)
        form.addRow("&Concurrent rigs:", self.concurrency)
        self.ports = QLineEdit(settings.ports)
        self.ports.setPlaceholderText(PortProfile().to_text())
        form.addRow("Default &ports:", self.ports)
        self.theme = QComboBox()
        self.theme.addItems(list(THEMES))
        self.theme.setCurrentText(settings.theme)
        form.addRow("&Theme:", self.theme)
        self.trust_dir = _path_row(settings.trust_dir, directory=True)
        form.addRow("Trust &store:", self.trust_dir[0])
        self.policy = _path_row(settings.policy_path, directory=False)
        form.addRow("Po&licy file:", self.policy[0])
        self.watch_address = QLineEdit(settings.watch_address)
        self.watch_address.setPlaceholderText("off (this station's intake address, e.g. 10.0.4.1 or 10.0.4.1:53)")
        self.watch_address.setToolTip("Answer the rigs' DNS and watch what they connect to during each check "
                                      "(the rigs must get this station as their DNS server)")
        form.addRow("Network &watch:", self.watch_address)
        self.watch_seconds = _seconds(settings.watch_seconds, 0, 3600)
        self.watch_seconds.setSpecialValueText(f"default ({DEFAULT_WINDOW_SECONDS:g} s)")
        form.addRow("Watch w&indow:", self.watch_seconds)
        self.store_url = QLineEdit(settings.store_url)
        self.store_url.setPlaceholderText("postgresql://db.example/attest?sslmode=verify-full "
                                          "(empty: this station only)")
        self.store_url.setToolTip("The warehouse store this station replicates to; enrol the station first "
                                  "(attest station enroll --store URL)")
        self.test_store = QPushButton("&Test")
        store_row = QWidget()
        row = QHBoxLayout(store_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.store_url, 1)
        row.addWidget(self.test_store)
        form.addRow("&Warehouse store:", store_row)
        form.labelForField(store_row).setBuddy(self.store_url)  # type: ignore[attr-defined]
        self.store_result = plain_label("")
        form.addRow("", self.store_result)
        layout.addLayout(form)
        self.error = plain_label("")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._base = settings

    def result_settings(self) -> StationSettings:
        return replace(self._base, station_name=self.station.text().strip(), operator=self.operator.text().strip(),
                       request_timeout=self.request_timeout.value(), hash_timeout=self.hash_timeout.value(),
                       concurrency=self.concurrency.value(), ports=self.ports.text().strip(),
                       theme=self.theme.currentText(), trust_dir=self.trust_dir[1].text().strip(),
                       policy_path=self.policy[1].text().strip(), watch_address=self.watch_address.text().strip(),
                       watch_seconds=self.watch_seconds.value(),
                       store_url=self.store_url.text().strip())

    def _accept(self) -> None:
        try:
            PortProfile.parse(self.ports.text().strip() or None)
        except AddressError as e:
            self.error.setText(e.message)
            return
        if self.watch_address.text().strip():
            try:
                parse_listen(self.watch_address.text())
            except WatchError as e:
                self.error.setText(e.message)
                return
        self.accept()


def _seconds(value: float, low: float, high: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(1)
    box.setSuffix(" s")
    box.setSpecialValueText(FROM_POLICY)
    box.setValue(value)
    return box


def _path_row(value: str, *, directory: bool) -> tuple[QWidget, QLineEdit]:
    holder = QWidget()
    row = QHBoxLayout(holder)
    row.setContentsMargins(0, 0, 0, 0)
    edit = QLineEdit(value)
    row.addWidget(edit, 1)
    browse = QPushButton("Browse…")

    def pick() -> None:
        chosen = (QFileDialog.getExistingDirectory(holder, "Trust store directory", edit.text()) if directory
                  else QFileDialog.getOpenFileName(holder, "Policy file", edit.text(), "TOML (*.toml)")[0])
        if chosen:
            edit.setText(chosen)

    browse.clicked.connect(pick)
    row.addWidget(browse)
    return holder, edit

"""Add a serial console: a port from pyserial's list (or any pyserial URL), a baud rate, and
whether to stay in the bootloader (``stay=bootloader``: stop autoboot, read U-Boot, leave the
unit at its prompt) rather than read U-Boot and then the Linux shell.

Listing ports reads the OS's device list only; nothing is opened here, so a busy or flaky
adapter cannot hang the dialog.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from serial.tools import list_ports

from attest.address import parse_address
from attest.evidence import printable
from gui.verification import serial_address
from gui.views.reasons import plain_label

BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


def available_ports() -> list[tuple[str, str]]:
    """(device, description) for every serial port the OS lists now."""
    return [(p.device, printable(p.description or "", limit=120)) for p in sorted(list_ports.comports())]


class AddSerialDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add serial console")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        row = QHBoxLayout()
        self.port = QComboBox()
        self.port.setEditable(True)  # a pyserial URL (socket://, rfc2217://) or an unlisted path
        self.port.setMinimumWidth(300)
        self.port.lineEdit().setPlaceholderText("/dev/ttyUSB0 or socket://host:port")
        self.port.editTextChanged.connect(self._validate)
        row.addWidget(self.port, 1)
        refresh = QPushButton("&Refresh")
        refresh.clicked.connect(self.refresh)
        row.addWidget(refresh)
        form.addRow("&Port:", row)
        self.baud = QComboBox()
        for b in BAUDS:
            self.baud.addItem(str(b), b)
        self.baud.setCurrentText("115200")  # 115200 8N1: every miner control board we know
        form.addRow("&Baud:", self.baud)
        self.stay = QCheckBox("Stay in the &bootloader")
        self.stay.setToolTip("Stop autoboot and read U-Boot only, leaving the unit at its U-Boot prompt "
                             "(a running unit is rebooted into it). Unticked: U-Boot when it is reachable "
                             "without a reset, then the Linux shell.")
        form.addRow("", self.stay)
        layout.addLayout(form)
        self.note = plain_label("The check finds the console where it is (U-Boot countdown or prompt, "
                                "login, shell) and logs in with the station's credentials for the port.")
        self.note.setEnabled(False)
        layout.addWidget(self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Add")
        layout.addWidget(buttons)
        self.refresh()

    def refresh(self) -> None:
        current = self.port.currentText()
        self.port.clear()
        for device, description in available_ports():
            self.port.addItem(f"{device} — {description}" if description else device, device)
        if current:
            self.port.setEditText(current)
        self._validate()

    def device(self) -> str:
        index = self.port.currentIndex()
        text = self.port.currentText().strip()
        if index >= 0 and text == self.port.itemText(index):
            return str(self.port.itemData(index))
        return text

    def address(self) -> str:
        address = serial_address(self.device(), int(self.baud.currentData()))
        if self.stay.isChecked():  # an endpoint option, so the row and the log say how it was read
            address = parse_address(address + ("&" if "?" in address else "?") + "stay=bootloader").address
        return address

    def _validate(self) -> None:
        self.ok.setEnabled(bool(self.device()))

"""Add a host, a range or an explicit endpoint, with its port profile and credentials.

The address is parsed by the core's own ``parse_address`` as it is typed, so the dialog accepts
exactly what the CLI accepts and says why it refuses anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from attest.address import AddressError, EndpointTarget, HostTarget, PortProfile, RangeTarget, Target, parse_address
from attest.drivers.base import Credential
from gui.views.reasons import plain_label


@dataclass(frozen=True)
class AddHostRequest:
    target: Target
    ports: PortProfile
    credential: Credential | None = field(default=None, repr=False)
    credential_kind: str = "any"


class AddHostDialog(QDialog):
    def __init__(self, ports: PortProfile, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add host or range")
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.address = QLineEdit()
        self.address.setPlaceholderText("10.0.4.17   ·   10.0.4.0/24   ·   cgminer://10.0.4.17:4028")
        self.address.textChanged.connect(self._validate)
        form.addRow("&Address:", self.address)
        self.api, self.web, self.ssh = add_port_row(form, ports)
        self.username = QLineEdit()
        self.username.setPlaceholderText("optional: the station's credentials file and vendor defaults apply")
        form.addRow("&Username:", self.username)
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        form.addRow("Pass&word:", self.password)
        self.kind = QComboBox()
        self.kind.addItems(["any", "ssh", "web"])
        self.kind.setToolTip("Which logins these credentials are for")
        form.addRow("Credentials &for:", self.kind)
        layout.addLayout(form)
        self.error = plain_label("")
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok.setText("Add")
        layout.addWidget(buttons)
        self._validate()

    def _parsed(self) -> Target | None:
        try:
            return parse_address(self.address.text())
        except AddressError as e:
            self.error.setText(e.message if self.address.text().strip() else "")
            return None

    def _validate(self) -> None:
        target = self._parsed()
        if target is not None:
            if isinstance(target, RangeTarget):
                self.error.setText(f"A range of {target.network.num_addresses} addresses: every host that "
                                   "answers is added.")
            else:
                self.error.setText("")
        self.ok.setEnabled(target is not None)

    def request(self) -> AddHostRequest | None:
        target = self._parsed()
        if target is None:
            return None
        ports = PortProfile(api=self.api.value(), web=self.web.value(), ssh=self.ssh.value())
        user = self.username.text().strip()
        credential = Credential(user, self.password.text()) if user else None
        if isinstance(target, EndpointTarget) and target.username and target.password and credential is None:
            credential = Credential(target.username, target.password)
        return AddHostRequest(target, ports, credential, self.kind.currentText())


def add_port_row(form: QFormLayout, ports: PortProfile) -> tuple[QSpinBox, QSpinBox, QSpinBox]:
    """The "Ports: API [4028] web [80] SSH [22]" row the host and range dialogs share."""
    row = QHBoxLayout()
    boxes = _port(ports.api), _port(ports.web), _port(ports.ssh)
    for label, box in zip(("API", "web", "SSH"), boxes, strict=True):
        row.addWidget(plain_label(label, wrap=False, selectable=False))
        row.addWidget(box)
    row.addStretch(1)
    caption = QLabel("&Ports:")  # a QLabel buddy: Alt+P reaches the API port, no "&" shown
    caption.setBuddy(boxes[0])
    form.addRow(caption, row)
    return boxes


def _port(value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(1, 65535)
    box.setValue(value)
    return box


def describe(target: Target) -> str:
    if isinstance(target, HostTarget):
        return target.host
    return target.address

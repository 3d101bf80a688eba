"""The station's signed log, as the GUI holds it: which log, and the key that signs it.

The key is opened once per session (``ATTEST_PASSPHRASE`` for unattended intake lines, else a
passphrase dialog) and kept in memory until the station closes or the operator locks it: asking
for it before every check of a long shift would teach people to pick weak passphrases. It is
never written anywhere and never leaves this process: the check process asks it to sign each
batch's checkpoint (``gui.verification.LogPlan``).
A technician who declines to open the key gets no check: an unrecorded check is what the log
exists to rule out.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from attest.log.errors import LogError
from attest.log.sqlite import default_log_path
from attest.station import StationIdentity, StationSigner, init_station, load_identity, load_signer, station_directory
from gui.dialogs.station_key import PassphraseDialog
from gui.verification import LogPlan

PASSPHRASE_ENV = "ATTEST_PASSPHRASE"


class StationLog(QObject):
    changed = Signal()  # the key was opened or locked

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.signer: StationSigner | None = None
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        """The log file, fixed when the key is opened: the log lives beside the key that signs it
        (under ATTEST_HOME or the user data dir), and the demo moves ATTEST_HOME when it starts."""
        return self._path or default_log_path()

    def _opened(self, signer: StationSigner) -> None:
        self.signer = signer
        self._path = default_log_path()
        self.changed.emit()

    def identity(self) -> StationIdentity | None:
        if self.signer is not None:
            return self.signer.identity
        try:
            return load_identity()
        except LogError:
            return None

    def plan(self, operator: str, store_url: str = "") -> LogPlan | None:
        return None if self.signer is None else LogPlan.of(str(self.path), self.signer, operator, store_url)

    def lock(self) -> None:
        self.signer = None
        self.changed.emit()

    def open_demo_key(self) -> None:
        """Demo mode: a throwaway station key (ATTEST_HOME is the demo's temporary directory)."""
        secret = secrets.token_urlsafe(24).encode()
        try:
            load_identity()
        except LogError:
            init_station(secret, "demo-station")
            self._opened(load_signer(secret))

    def unlock(self, parent: QWidget | None) -> bool:
        """Open the key for the session, asking as needed; False when the operator declined."""
        if self.signer is not None:
            return True
        try:
            load_identity()
        except LogError as e:
            if e.code != "STATION_NOT_INITIALISED":
                raise
            return self._create(parent)
        env = os.environ.get(PASSPHRASE_ENV)
        problem = ""
        if env:
            try:
                self._opened(load_signer(env.encode("utf-8")))
            except LogError as e:
                if e.code != "STATION_PASSPHRASE_WRONG":
                    raise
                problem = f"{PASSPHRASE_ENV} does not open the station key; enter the passphrase."
            else:
                return True
        dialog = PassphraseDialog(create=False, where=str(station_directory()), parent=parent)
        if problem:
            dialog.show_problem(problem)
        while dialog.exec():
            try:
                self._opened(load_signer(dialog.secret()))
            except LogError as e:
                if e.code != "STATION_PASSPHRASE_WRONG":
                    raise
                dialog.show_problem("That passphrase does not open the station key. Try again.")
                continue
            return True
        return False

    def _create(self, parent: QWidget | None) -> bool:
        dialog = PassphraseDialog(create=True, where=str(station_directory()), parent=parent)
        while dialog.exec():
            try:
                init_station(dialog.secret(), dialog.chosen_id())
            except LogError as e:
                if e.code != "STATION_FILES_INVALID":  # a bad station id: let them fix it
                    raise
                dialog.show_problem(e.message)
                continue
            self._opened(load_signer(dialog.secret()))
            return True
        return False

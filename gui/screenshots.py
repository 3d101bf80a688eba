"""Re-make the README's screenshots from the real window (run under Xvfb on a headless box):

    xvfb-run -a -s "-screen 0 1700x1050x24" .venv/bin/python -m gui.screenshots light
    xvfb-run -a -s "-screen 0 1700x1050x24" .venv/bin/python -m gui.screenshots dark

Writes docs/main-THEME.png, and for light also docs/detail-untrusted.png (the demo fleet,
verified, with the swapped-hashboard rig selected), docs/history.png (the verification history),
docs/firmware-file.png (the antbleed rig's update file checked), docs/first-start.png (a station
with nothing set up) and docs/trust-import-error.png (a private key offered as a root
certificate). Kept with the app so the pictures can be redone whenever the window changes,
instead of going stale.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer, SignalInstance
from PySide6.QtWidgets import QApplication

from gui.app import start_demo_in
from gui.jobs import JobRunner
from gui.main_window import MainWindow
from gui.settings import StationSettings
from gui.station import Station
from gui.theme import apply_theme

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _wait(signal: SignalInstance | None = None, ms: int = 60_000) -> None:
    loop = QEventLoop()
    if signal is not None:
        signal.connect(loop.quit)
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def main(argv: list[str]) -> int:
    theme = argv[0] if argv else "light"
    app = QApplication([])
    apply_theme(app, theme)
    jobs = JobRunner()
    window = MainWindow(jobs, StationSettings(station_name="intake-bench-3", operator="A. Technician",
                                              theme=theme), Station())
    home = start_demo_in(window)
    window.show()
    _wait(window.demoReady)
    window.verify_all()
    _wait(window.checkFinished)
    if window.demo is None:
        print("the demo fleet did not start", file=sys.stderr)
        return 1
    window.table.select_device(next(h for h, s in window.demo.hosts if s == "swapped-hashboard"))
    _wait(ms=400)  # let the detail pane's layout settle before grabbing
    DOCS.mkdir(exist_ok=True)
    window.grab().save(str(DOCS / f"main-{theme}.png"))
    if theme == "light":
        window.detail.grab().save(str(DOCS / "detail-untrusted.png"))
        _history(window)
        _firmware_file(window)
    window.close()
    jobs.shutdown()
    shutil.rmtree(home, ignore_errors=True)
    if theme == "light":
        _first_start(theme)
    return 0


def _history(window: MainWindow) -> None:
    history = window.log_commands.show_history()
    history.resize(1300, 520)
    _wait(ms=1500)  # the records load on the job thread
    history.grab().save(str(DOCS / "history.png"))
    history.close()


def _firmware_file(window: MainWindow) -> None:
    from gui.dialogs.image_check import check_files

    assert window.demo is not None
    [dialog] = check_files(window, [window.demo.directory / "firmware" / "rig-006.tar.gz"],
                           window.station.trust, window.station.accepted())
    dialog.resize(900, 760)
    _wait(dialog.finished_check)
    _wait(ms=400)
    dialog.grab().save(str(DOCS / "firmware-file.png"))
    dialog.close()


def _first_start(theme: str) -> None:
    """A station with nothing set up (a throwaway trust store), then a private key offered as a
    vendor root certificate."""
    import tempfile

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from gui.dialogs.trust_store import TrustStoreDialog

    jobs = JobRunner()
    with tempfile.TemporaryDirectory(prefix="rig-attest-shots-") as tmp:
        station = Station()
        station.open_trust(Path(tmp) / "trust", create=True)
        window = MainWindow(jobs, StationSettings(station_name="intake-bench-3", operator="A. Technician",
                                                  theme=theme), station)
        window.show()
        _wait(ms=600)
        window.grab().save(str(DOCS / "first-start.png"))
        key = Path(tmp) / "vendor-signing.key"
        key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        assert station.trust is not None
        dialog = TrustStoreDialog(station.trust, jobs, window)
        dialog.show()
        dialog.import_file("root", key)
        _wait(ms=1500)
        dialog.grab().save(str(DOCS / "trust-import-error.png"))
        dialog.close()
        window.close()
    jobs.shutdown()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

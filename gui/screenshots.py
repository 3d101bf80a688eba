"""Re-make the README's screenshots from the real window (run under Xvfb on a headless box):

    xvfb-run -a -s "-screen 0 1700x1050x24" .venv/bin/python -m gui.screenshots light
    xvfb-run -a -s "-screen 0 1700x1050x24" .venv/bin/python -m gui.screenshots dark

Writes docs/main-THEME.png, and for light also docs/detail-untrusted.png: the demo fleet,
verified, with the swapped-hashboard rig selected. Kept with the app so the pictures can be
redone whenever the window changes, instead of going stale.
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
    window.close()
    jobs.shutdown()
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Entry point of ``attest-gui``: the technician's intake station.

``attest-gui --demo`` starts a simulated mixed fleet in the background (on the job thread's
loop), with its own manifest, trust store and policy and a throwaway station state, so a new
user can press "Verify all" and see every kind of verdict within a minute.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from gui.demo import demo_home, start_demo
from gui.jobs import JobRunner
from gui.main_window import MainWindow
from gui.resources import APP_ID, app_icon
from gui.selftest import report_time_to_window, run_self_test
from gui.settings import APPLICATION, ORGANISATION, StationSettings, load_settings
from gui.station import Station, default_trust_dir
from gui.theme import apply_theme
from gui.verification import prepare_worker


def build_station(settings: StationSettings) -> Station:
    """The operator's own trust store (created empty on first run) and policy."""
    station = Station(ports=settings.port_profile())
    station.open_trust(Path(settings.trust_dir) if settings.trust_dir else default_trust_dir(), create=True)
    station.open_policy(settings.policy_file())
    return station


def create_window(jobs: JobRunner, settings: StationSettings, *, demo: bool) -> MainWindow:
    window = MainWindow(jobs, settings, None if demo else build_station(settings))
    if demo:
        start_demo_in(window)
    return window


def start_demo_in(window: MainWindow, *, base: str | None = None, count: int | None = None) -> Path:
    """Start the simulator on the job thread; the window attaches it when it is up."""
    home = demo_home()

    async def op() -> object:
        kwargs = {"count": count} if count else {}
        return await start_demo(home, base=base, **kwargs)

    window.demo_home = home
    window.statusBar().showMessage("Starting the simulated demo fleet…")
    window.jobs.run_in_background(op, on_success=window.attach_demo,
                                  on_failure=lambda e: window.show_error("The demo fleet did not start", str(e)))
    return home


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["--check-worker"]:  # a bundle's check process (gui.verification.worker_command)
        from gui.check_worker import main as check_worker_main

        return check_worker_main()
    if given[:1] == ["--image-worker"]:  # a bundle's firmware file check (attest.image.isolated)
        from attest.image.worker import main as image_worker_main

        return image_worker_main()
    parser = argparse.ArgumentParser(prog="attest-gui", description="Rig Attest intake station")
    parser.add_argument("--demo", action="store_true", help="start a simulated fleet to try the station on")
    parser.add_argument("--self-test", action="store_true",
                        help="headless smoke test: load resources, verify a small demo fleet, print OK (exit 0)")
    parser.add_argument("--time-to-window", action="store_true",
                        help="print how long the window took to appear, then quit (start-up measurement)")
    args, qt_args = parser.parse_known_args(argv)
    if args.self_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a bundle's smoke test needs no display
    logging.basicConfig(level=logging.WARNING, format="attest-gui: %(levelname)s: %(name)s: %(message)s")
    app = QApplication([sys.argv[0], *qt_args])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setDesktopFileName(APP_ID)  # Wayland and the taskbar match the window to the .desktop file
    app.setWindowIcon(app_icon())
    if args.self_test:
        apply_theme(app, "light")
        return run_self_test(app, quiet=True)
    settings = load_settings()
    apply_theme(app, settings.theme)
    jobs = JobRunner()
    window = create_window(jobs, settings, demo=args.demo)
    app.styleHints().colorSchemeChanged.connect(lambda _scheme: _follow_system(app, window))
    if args.time_to_window:
        report_time_to_window(window, app, started)
    window.show()
    jobs.run_in_background(prepare_worker)  # the first "Verify" need not wait for a check process
    _quit_on_interrupt(app)
    gc.freeze()  # startup's objects live for the whole session: keep them out of every full GC pass
    try:
        return app.exec()
    finally:
        jobs.shutdown()
        if window.demo_home is not None:
            shutil.rmtree(window.demo_home, ignore_errors=True)


def _quit_on_interrupt(app: QApplication) -> None:
    """Ctrl+C in the terminal, or SIGTERM (a closed session, a `kill`), closes the station
    cleanly: the demo fleet stopped and its temporary directory, station key included, removed.

    Python only runs its signal handlers when it gets control, so a slow timer hands it control
    while Qt's loop is idle.
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda _sig, _frame: app.closeAllWindows())
    timer = QTimer(app)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def _follow_system(app: QApplication, window: MainWindow) -> None:
    """The desktop switched light/dark: follow it, unless the operator chose a theme."""
    if window.settings.theme == "system":
        apply_theme(app, "system")
        window.filters.refresh_icons()
        window.refresh_manifests()


if __name__ == "__main__":
    sys.exit(main())

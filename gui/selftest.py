"""``attest-gui --self-test`` and ``--time-to-window``: smoke checks for a built bundle.

The self-test is what CI runs on the PyInstaller bundle (``make dist-test``), so it goes through
the same code a technician's click does: resources loaded by ``gui.resources``, the demo fleet
started by ``gui.app.start_demo_in``, the real ``MainWindow`` and its "Verify all" (job thread,
``verify_many``, batch appraisal). A bundle that left out a Qt plugin, a data file or a lazily
imported module fails here with a message, instead of on a technician's bench.

It verifies a two-rig demo fleet, ``genuine`` and ``modified-firmware``: a pass needs both a
TRUSTED and an UNTRUSTED verdict, so a bundle that cannot hash flash over SSH (every rig UNKNOWN
or WARNING) or cannot check signatures does not pass by accident. It writes nothing outside a
temporary directory: no settings are read or saved, and the demo's station state is throwaway.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

from PySide6.QtCore import (
    QEvent,
    QEventLoop,
    QMessageLogContext,
    QObject,
    QTimer,
    QtMsgType,
    SignalInstance,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication, QWidget

from attest import __version__
from gui.demo import expected_verdict
from gui.jobs import JobRunner
from gui.main_window import MainWindow
from gui.resources import app_icon, check_resources
from gui.settings import StationSettings
from gui.station import Station

SELF_TEST_RIGS = 2  # the mixed fleet's first two: genuine (TRUSTED), modified-firmware (UNTRUSTED)
DEMO_TIMEOUT_S = 60.0
CHECK_TIMEOUT_S = 120.0


def run_self_test(app: QApplication, out: TextIO = sys.stdout, *, quiet: bool = False) -> int:
    """0 and ``OK ...`` on stdout when every step passed; 1 and ``FAIL: why`` on stderr otherwise.

    ``quiet`` drops the offscreen platform's note that it cannot resize native windows (printed
    on every show, and meaningless headless), so a CI log shows only what matters.
    """
    from gui.app import start_demo_in  # gui.app imports this module for its flags

    if quiet:
        qInstallMessageHandler(_drop_offscreen_noise)
    started = time.monotonic()
    problems = check_resources()
    if problems:
        return _fail("resources: " + "; ".join(problems))
    if app_icon().isNull():
        return _fail("the app icon did not load")
    jobs = JobRunner()
    errors: list[str] = []
    window = MainWindow(jobs, StationSettings(station_name="self-test", operator="self-test", theme="light"),
                        Station())
    # Errors the window would show in a dialog are collected instead: nobody is there to click OK.
    window.show_error = lambda title, text: errors.append(f"{title}: {text}")  # type: ignore[method-assign]
    home = start_demo_in(window, count=SELF_TEST_RIGS)
    try:
        window.show()
        if not _wait(window.demoReady, DEMO_TIMEOUT_S, errors):
            return _fail(_why("the demo fleet did not start", DEMO_TIMEOUT_S, errors))
        if not window.verify_all():
            return _fail("Verify all did not start a check")
        if not _wait(window.checkFinished, CHECK_TIMEOUT_S, errors):
            return _fail(_why("the check did not finish", CHECK_TIMEOUT_S, errors))
        assert window.demo is not None
        seen: list[str] = []
        for host, scenario in window.demo.hosts:
            row = window.model.row(host)
            got = row.verdict.value if row is not None and row.verdict is not None else "none"
            expected = expected_verdict(scenario)
            seen.append(f"{scenario}={got}")
            if got != expected:
                reasons = ", ".join(r.code for r in row.appraisal.reasons) if row and row.appraisal else "no appraisal"
                return _fail(f"rig {host} ({scenario}) is {got}, expected {expected} ({reasons})")
        print(f"OK rig-attest {__version__} self-test: resources loaded, demo verified "
              f"({', '.join(seen)}) in {time.monotonic() - started:.1f} s", file=out)
        return 0
    finally:
        window.close()
        jobs.shutdown()
        shutil.rmtree(home, ignore_errors=True)


def _drop_offscreen_noise(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
    if "does not support propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def _wait(signal: SignalInstance, timeout_s: float, errors: list[str]) -> bool:
    """Run Qt's loop until ``signal``, an error, or the timeout; True only for the signal."""
    loop = QEventLoop()
    fired: list[bool] = []

    def on_signal(*_args: object) -> None:
        fired.append(True)
        loop.quit()

    signal.connect(on_signal)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(int(timeout_s * 1000))
    poll = QTimer()
    poll.timeout.connect(lambda: loop.quit() if errors else None)
    poll.start(100)
    loop.exec()
    timer.stop()
    poll.stop()
    signal.disconnect(on_signal)
    return bool(fired) and not errors


def _why(what: str, timeout_s: float, errors: list[str]) -> str:
    return f"{what}: " + ("; ".join(errors) if errors else f"nothing within {timeout_s:.0f} s")


def _fail(message: str) -> int:
    print(f"FAIL: attest-gui self-test: {message}", file=sys.stderr)
    return 1


def seconds_since_process_start() -> float | None:
    """Time since the OS started this process (Linux), so interpreter start-up and, in a bundle,
    unpacking and imports are counted. None where the OS does not say."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat, 20 after ")"


class FirstShow(QObject):
    """Calls ``then`` once, on the window's first paint after it is shown (the window is on screen)."""

    def __init__(self, window: QWidget, then: Callable[[], None]) -> None:
        super().__init__(window)
        self._then = then
        self._shown = False
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Show:
            self._shown = True
        elif event.type() == QEvent.Type.Paint and self._shown:
            watched.removeEventFilter(self)
            QTimer.singleShot(0, self._then)
        return False


def report_time_to_window(window: QWidget, app: QApplication, python_started: float,
                          out: TextIO = sys.stdout) -> FirstShow:
    """Print how long the process took to put the window on screen, then quit the app."""

    def done() -> None:
        since_start = seconds_since_process_start()
        in_python = time.perf_counter() - python_started
        start = f"{since_start:.3f} s since process start, " if since_start is not None else ""
        # CPU seconds spent so far: unlike wall time, not inflated by other programs on a busy machine.
        print(f"window shown: {start}{in_python:.3f} s since main() began, {time.process_time():.3f} s of CPU",
              file=out, flush=True)
        app.closeAllWindows()
        app.quit()

    return FirstShow(window, done)

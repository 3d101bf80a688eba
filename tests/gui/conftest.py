"""GUI test setup: headless Qt, throwaway QSettings, one job runner per test.

QT_QPA_PLATFORM is set before anything imports Qt, so the tests run on CI without a display.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from attest.sim.rig import Rig
from attest.sim.runner import plan_fleet, write_artefacts
from attest.station import init_station
from gui.jobs import JobRunner
from gui.main_window import MainWindow
from gui.settings import StationSettings
from gui.station import Station
from gui.theme import apply_theme

#: The GUI tests' own loopback block, apart from the CLI end-to-end tests' fleets.
DEMO_BASE = "127.0.7.1"
RANGE_BASE = "127.0.8.1"


@pytest.fixture(scope="session", autouse=True)
def isolated_qsettings(tmp_path_factory: pytest.TempPathFactory) -> None:
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope,
                      str(tmp_path_factory.mktemp("qsettings")))


@pytest.fixture(scope="session", autouse=True)
def light_theme(qapp) -> None:
    apply_theme(qapp, "light")


@pytest.fixture(autouse=True)
def station_key(isolated_station_state: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every check is logged: each test's station (under its own ATTEST_HOME) has a key that
    ATTEST_PASSPHRASE opens, as on an unattended intake line."""
    init_station(b"test passphrase", "test-bench")
    monkeypatch.setenv("ATTEST_PASSPHRASE", "test passphrase")


@pytest.fixture
def jobs():
    runner = JobRunner()
    yield runner
    runner.shutdown()


@pytest.fixture
def window(qtbot, jobs):
    """A plain station window (no demo), with an empty trust store of its own."""
    win = MainWindow(jobs, StationSettings(station_name="test-bench", operator="tester"), Station())
    qtbot.addWidget(win)
    return win


def write_signed_fleet(out: Path, count: int = 3, scenario: str = "genuine") -> list[Rig]:
    """A manifest, trust store and policy for a planned fleet, without starting any server."""
    rigs = plan_fleet(count, scenario, "127.0.9.1")
    ports = {"api": 4028, "web": 80, "ssh": 22}
    write_artefacts(rigs, out, ports, {r.name: ports for r in rigs})
    return rigs


@pytest.fixture
def signed_fleet(tmp_path: Path) -> tuple[Path, list[Rig]]:
    out = tmp_path / "fleet"
    rigs = write_signed_fleet(out)
    yield out, rigs
    shutil.rmtree(out, ignore_errors=True)

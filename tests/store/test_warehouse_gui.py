"""The Warehouse window and the store-URL station setting, against a real PostgreSQL."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QSettings

from attest.store.push import push_pending
from gui.jobs import JobRunner
from gui.main_window import MainWindow
from gui.settings import StationSettings
from gui.station import Station as GuiStation
from gui.views.warehouse import WarehouseWindow
from tests.store.conftest import station_url
from tests.store.test_push import enrolled, fill, login_of

pytestmark = pytest.mark.real


@pytest.fixture
def jobs():
    runner = JobRunner()
    yield runner
    runner.shutdown()


@pytest.fixture(autouse=True)
def throwaway_qsettings(tmp_path) -> None:
    QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))


def rows(model) -> list[list[str]]:
    return [[model.item(r, c).text() for c in range(model.columnCount())] for r in range(model.rowCount())]


def test_warehouse_window_shows_two_stations_and_the_queue(qtbot, jobs, superuser_url, stations, monkeypatch):
    a, b = (enrolled(stations(n), superuser_url) for n in ("bench", "dock"))
    fill(a, 12, start=900_000)
    fill(b, 8, start=900_100)
    for station in (a, b):
        push_pending(station.log, login_of(station))
    fill(a, 5, start=900_200)  # checked since: waiting to be pushed
    monkeypatch.setenv("ATTEST_HOME", str(a.home))  # this station is a: its login, its log
    url = station_url(superuser_url)
    window = WarehouseWindow(jobs, lambda: (url, a.log, a.id))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.loaded, timeout=30_000):
        window.reload()
    intake = {row[0].split()[0]: row for row in rows(window.intake_model)}
    assert intake[a.id][1:6] == ["12", "9", "0", "2", "1"]  # records, trusted, warning, untrusted, unknown
    assert intake[b.id][1:6] == ["8", "6", "0", "1", "1"]
    assert "(this station)" in intake[a.id][0]
    flagged = rows(window.flagged_model)
    assert flagged and {row[1] for row in flagged if row[1] in (a.id, b.id)} == {b.id}  # only other stations
    assert "HASHBOARD_SERIAL_MISMATCH" in next(row[4] for row in flagged if row[1] == b.id)
    assert window.queue_label.text().endswith("5 records waiting to be pushed")
    with qtbot.waitSignal(window.synced, timeout=30_000) as synced:
        window.sync_button.click()
    assert synced.args[0].startswith("Pushed 5 records")
    qtbot.waitUntil(lambda: "all 17 records pushed" in window.queue_label.text(), timeout=30_000)


def test_an_unreachable_store_shows_what_waits_and_since_when(qtbot, jobs, stations):
    a = stations("bench")
    fill(a, 3)
    dead = "postgresql://127.0.0.1:1/attest"
    window = WarehouseWindow(jobs, lambda: (dead, a.log, a.id))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.synced, timeout=30_000):
        window.sync_button.click()
    qtbot.waitUntil(lambda: window.view is not None and window.job is None, timeout=30_000)
    assert "3 records waiting: server unreachable since " in window.queue_label.text()
    assert window.status.text().startswith("STORE_UNREACHABLE")


def test_the_store_setting_is_tested_against_the_real_server(qtbot, jobs, superuser_url, stations, monkeypatch):
    a = enrolled(stations("bench"), superuser_url)
    monkeypatch.setenv("ATTEST_HOME", str(a.home))
    window = MainWindow(jobs, StationSettings(station_name=a.id), GuiStation())
    qtbot.addWidget(window)
    dialog = window.commands.settings_dialog()
    qtbot.addWidget(dialog)
    dialog.store_url.setText(station_url(superuser_url))
    dialog.test_store.click()
    qtbot.waitUntil(lambda: dialog.store_result.text().startswith("Connected"), timeout=30_000)
    assert f"this login is station {a.id}" in dialog.store_result.text()
    dialog.accept()
    assert window.settings.store_url == station_url(superuser_url)
    dialog = window.commands.settings_dialog()
    qtbot.addWidget(dialog)
    dialog.store_url.setText("postgresql://127.0.0.1:1/attest")
    dialog.test_store.click()
    qtbot.waitUntil(lambda: dialog.store_result.text().startswith("STORE_UNREACHABLE"), timeout=30_000)
    dialog.reject()


def test_a_station_check_consults_the_store_and_pushes_after_logging(superuser_url, stations, monkeypatch,
                                                                     tmp_path_factory):
    """The GUI's check (gui.verification, as its check process runs it) with the store setting."""
    import asyncio

    from attest.address import HostTarget, PortProfile
    from attest.credentials import load_credentials
    from attest.drivers.base import CollectOptions
    from attest.manifest import load_manifest
    from attest.policy import load_policy
    from attest.trust import StationState, TrustStore
    from gui.verification import CheckPlan, LogPlan, StoreSynced, run_check_here
    from tests.conftest import sim_process

    a = enrolled(stations("bench"), superuser_url)
    monkeypatch.setenv("ATTEST_HOME", str(a.home))
    with sim_process(tmp_path_factory, 1, "genuine", ("--seed", "gui-check")) as (out, fleet, _):
        manifest = load_manifest(out / "manifest.dsse.json", TrustStore.load(out / "trust"),
                                 state=StationState(a.home / "state.json"))
        policy = load_policy(out / "policy.toml")
        plan = CheckPlan(((PortProfile(**fleet["ports"]), (HostTarget(fleet["rigs"][0]["host"]),)),), (), (manifest,),
                         policy, load_credentials(None, allow_vendor_defaults=True), CollectOptions(timeout=10), 4,
                         LogPlan.of(str(a.log), a.signer, "op", station_url(superuser_url)))

        async def run() -> list[object]:
            return [event async for event in run_check_here(plan, a.signer)]

        events = asyncio.run(run())
    synced = next(e for e in events if isinstance(e, StoreSynced))
    assert synced.code == "" and synced.sent == 1 and synced.queue.summary().startswith("all 1 records pushed")
    appraised = [e.appraisal for e in events if type(e).__name__ == "DeviceAppraised"]
    assert appraised[0].verdict.value == "TRUSTED"
    assert "HISTORY_UNAVAILABLE" not in {r.code for r in appraised[0].reasons}  # the store was consulted

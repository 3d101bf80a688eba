"""The Network tab and the watch setting: device text stays plain, the setting is checked and kept,
and a check plan carries the watch to the check process."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel, QTreeWidget

from attest.credentials import Credentials
from attest.drivers.base import CollectOptions
from attest.evidence import Assurance, Claim, Evidence
from attest.policy import policy_from_dict
from attest.watch import WatchError
from gui.dialogs.settings_dialog import SettingsDialog
from gui.settings import StationSettings, load_settings, save_settings
from gui.verification import CheckPlan, WatchPlan, run_check_here, watch_plan
from gui.views.network import NO_WATCH, NetworkView

OBS = Assurance.OBSERVED
POLICY = policy_from_dict({"egress": {"allow": ["pool.ntp.org"], "watch_ports": [7000, 443]}})


def evidence(*claims: Claim) -> Evidence:
    return Evidence("10.0.4.17", (Claim("unit.serial", "S1", "api", Assurance.REPORTED), *claims))


def test_rows_show_each_lookup_and_connection_with_its_judgement_as_plain_text(qtbot):
    view = NetworkView()
    qtbot.addWidget(view)
    hostile = "<b>evil</b>\x1b[31m.example"
    view.show_evidence(evidence(
        Claim("egress.watch", "3 lookup(s) ...", "watch", OBS),
        Claim("egress.dns.0.name", "pool.ntp.org", "watch", OBS), Claim("egress.dns.0.type", "A", "watch", OBS),
        Claim("egress.dns.0.count", 4, "watch", OBS),
        Claim("egress.dns.1.name", hostile, "watch", OBS), Claim("egress.dns.1.type", "TXT", "watch", OBS),
        Claim("egress.connect.0.port", 7000, "watch", OBS), Claim("egress.connect.0.outcome", "plain", "watch", OBS),
        Claim("egress.connect.0.checkin", "antbleed", "watch", OBS),
        Claim("egress.connect.0.preview", '{"ctrl_board":"x"}', "watch", OBS)), POLICY)
    text = view.text()
    assert "Lookup\tpool.ntp.org\tA\t4\tallowed: on the egress allow-list" in text
    assert "\\x1b" in text and "\x1b" not in text  # escaped, never passed to the widget raw
    assert "unlisted: not on the egress allow-list" in text
    assert "Connection\tport 7000\tplain; check-in of antbleed" in text and "indicator: antbleed" in text
    tree = view.findChild(QTreeWidget)
    assert tree is not None and tree.topLevelItemCount() == 3
    assert all(label.textFormat().name == "PlainText" for label in view.findChildren(QLabel))


def test_no_watch_says_how_to_turn_it_on_and_a_quiet_rig_is_noted(qtbot):
    view = NetworkView()
    qtbot.addWidget(view)
    view.show_evidence(evidence(), POLICY)
    assert view.text().strip() == NO_WATCH
    view.show_evidence(evidence(Claim("egress.watch", "0 lookup(s), 0 kind(s) of connection", "watch", OBS)), POLICY)
    assert "looked up nothing and connected nowhere" in view.text() and "not a pass" in view.text()


def test_the_watch_setting_is_checked_kept_and_planned(qtbot, tmp_path):
    dialog = SettingsDialog(StationSettings())
    qtbot.addWidget(dialog)
    dialog.watch_address.setText("0.0.0.0")
    dialog._accept()
    assert "one address of this station" in dialog.error.text() and dialog.result() == 0
    dialog.watch_address.setText("10.0.4.1:5353")
    dialog.watch_seconds.setValue(45)
    dialog._accept()
    chosen = dialog.result_settings()
    assert (chosen.watch_address, chosen.watch_seconds) == ("10.0.4.1:5353", 45)
    store = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    save_settings(chosen, store)
    loaded = load_settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert (loaded.watch_address, loaded.watch_seconds) == ("10.0.4.1:5353", 45)
    plan = watch_plan(loaded.watch_address, loaded.watch_seconds, POLICY)
    assert plan is not None and (plan.address, plan.dns_port, plan.seconds, plan.ports) == ("10.0.4.1", 5353, 45,
                                                                                          (7000, 443))
    assert watch_plan("", 0, POLICY) is None
    assert watch_plan("10.0.4.1", 0, POLICY).seconds == 30  # the default window


def test_a_watch_that_cannot_listen_stops_the_check_with_the_reason_before_any_rig_is_read():
    plan = CheckPlan((), (), (), POLICY, Credentials(), CollectOptions(), 1,
                     watch=WatchPlan("192.0.2.77", 5300, 5.0, (7000,)))

    async def consume():
        return [e async for e in run_check_here(plan)]

    with pytest.raises(WatchError, match="not one of this station's"):
        asyncio.run(consume())

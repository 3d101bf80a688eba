"""The window a new user meets: the first steps on an empty station, pools said to be unchecked
with an offer to fix it, the manifest in use kept in view, one station name (issue 18)."""

from __future__ import annotations

from pathlib import Path

from attest.address import HostTarget
from attest.appraise import Appraisal
from attest.evidence import Assurance, Claim, Evidence
from attest.policy import load_policy
from attest.verdict import Verdict, reason
from gui.dialogs.pool_allow_list import PoolAllowListDialog
from gui.dialogs.station_key import PassphraseDialog
from gui.models.rows import DeviceRow, RowKind, RowState
from gui.station import LoadedManifest, Station
from gui.views.first_steps import FirstSteps
from tests.gui.conftest import write_signed_fleet


def test_an_empty_station_shows_the_three_steps_until_a_rig_is_added(qtbot, window, tmp_path):
    window.show()
    area = window.table_area
    assert area.currentWidget() is area.steps
    assert "Get it from the vendor over a channel you trust" in area.steps.text()
    assert [m.text() for m in area.steps.marks] == ["○", "○", "○"]
    titles = [b.text() for b in area.steps.findChildren(type(window.summary.cancel))]
    assert {"&Trust store…", "&Load manifest…", "&Add host or range…", "Scan &range…"} <= set(titles)
    window.intake.add_targets([HostTarget("10.0.4.17")])
    assert area.currentWidget() is window.table
    window.model.remove_rows(["10.0.4.17"])
    assert area.currentWidget() is area.steps


def test_the_steps_tick_as_the_trust_store_and_a_manifest_are_set_up(qtbot, window, tmp_path):
    out = tmp_path / "fleet"
    write_signed_fleet(out)
    window.station = Station()
    window.station.open_trust(out / "trust")
    with qtbot.waitSignal(window.manifestsChanged, timeout=10_000):
        window.load_manifests([out / "manifest.dsse.json"])
    assert [m.text() for m in window.table_area.steps.marks] == ["✓", "✓", "○"]


def test_each_step_button_opens_what_it_names(qtbot, window, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(window, "load_manifest_dialog", lambda: opened.append("manifest"))
    steps = FirstSteps()
    qtbot.addWidget(steps)
    steps.manifestRequested.connect(window.load_manifest_dialog)
    steps.manifestRequested.emit()
    assert opened == ["manifest"]


def _checked_row(window, address: str, pools: list[str]) -> None:
    claims = tuple(Claim(f"config.pool.{i}.url", url, "api", Assurance.REPORTED) for i, url in enumerate(pools))
    evidence = Evidence(address, (Claim("unit.serial", "SN-1", "api", Assurance.REPORTED), *claims))
    appraisal = Appraisal(address, Verdict.TRUSTED, (reason("CONFIGURATION_NOT_CHECKED"),), {}, evidence)
    window.model.add_rows([DeviceRow(address, RowKind.HOST, host=address, state=RowState.DONE,
                                     verdict=Verdict.TRUSTED, appraisal=appraisal, evidence=evidence)])


def test_without_a_pool_allow_list_the_summary_and_each_rig_say_pools_not_checked(qtbot, window, tmp_path):
    window.show()
    window.refresh_status()
    assert window.station.policy.pool_allow is None
    assert window.summary.pools.isVisible() and window.summary.pools_button.isVisible()
    assert "pools not checked" in window.summary.text()
    _checked_row(window, "10.0.4.17", ["stratum+tcp://198.51.100.66:4444"])
    window.table.select_device("10.0.4.17")
    assert "Pools not checked: the station policy has no pool allow-list" in window.detail.summary_text()


def test_the_offer_sets_the_allow_list_in_the_policy_and_the_notice_goes(qtbot, window, tmp_path, monkeypatch):
    window.show()
    policy = tmp_path / "policy.toml"
    policy.write_text("# ours\n[timeouts]\nrequest = 4.0\n")
    window.station.open_policy(policy)
    _checked_row(window, "10.0.4.17", ["stratum+tcp://198.51.100.66:4444"])
    dialog = window.commands.pool_allow_dialog()
    qtbot.addWidget(dialog)
    assert "stratum+tcp://198.51.100.66:4444" in "".join(
        w.text() for w in dialog.findChildren(type(window.summary.label)))  # seen, listed, not added
    assert dialog.chosen_rules() == []
    assert not dialog.save() and "no rule given" in dialog.problem.text()
    dialog.rules.setPlainText("pool.example-mining.net:3333\n*.braiins.com\n")
    assert dialog.save()
    assert load_policy(policy).pool_allow == ("pool.example-mining.net:3333", "*.braiins.com")
    assert load_policy(policy).request_timeout == 4.0 and "# ours" in policy.read_text()
    assert window.station.policy.pool_allow is not None
    assert not window.summary.pools.isVisible() and "pools not checked" not in window.summary.text()
    assert isinstance(dialog, PoolAllowListDialog)


def test_a_refused_manifest_never_pushes_the_accepted_one_out_of_view(qtbot, window, tmp_path):
    out = tmp_path / "fleet"
    write_signed_fleet(out)
    window.station.open_trust(out / "trust")
    with qtbot.waitSignal(window.manifestsChanged, timeout=10_000):
        window.load_manifests([out / "manifest.dsse.json"])
    junk = [tmp_path / f"photo{i}.json" for i in range(3)]
    for path in junk:
        path.write_bytes(b"\x89PNG not a manifest")
    with qtbot.waitSignal(window.manifestsChanged, timeout=10_000):
        window.load_manifests(junk)
    tree = window.manifests.tree
    first = tree.topLevelItem(0)
    assert "Demo Mining Hardware Ltd" in first.text(0) and first.isExpanded()
    refused = [tree.topLevelItem(i) for i in range(1, tree.topLevelItemCount())]
    assert len(refused) == 3
    assert all(not item.isExpanded() and "(MANIFEST_MALFORMED)" in item.text(0) for item in refused)


def test_a_refusal_is_open_when_nothing_is_accepted(qtbot, window):
    window.station.manifests = [LoadedManifest(Path("x.dsse.json"), code="MANIFEST_EXPIRED", message="old")]
    window.refresh_manifests()
    assert window.manifests.tree.topLevelItem(0).isExpanded()


def test_the_station_has_one_name_its_key_id(qtbot, window, tmp_path):
    """conftest's station key is 'test-bench'; a different configured name gives way to it."""
    window.settings.station_name = "vm"
    window.refresh_status()
    assert window.station_name() == "test-bench"
    assert window.windowTitle() == "Rig Attest — test-bench"
    assert window.station_label_text.startswith("Station test-bench")
    assert window.commands.visible_rows_snapshot().station == "test-bench"


def test_the_passphrase_dialog_has_room(qtbot):
    dialog = PassphraseDialog(create=True, where="/home/tech/.local/share/rig-attest/station")
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.width() >= 560
    assert dialog.passphrase.width() >= 300

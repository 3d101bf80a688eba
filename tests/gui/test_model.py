"""The device table model and proxy: Qt's model contract, batching, 10,000 rows, hostile text."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from attest.address import HostTarget
from attest.appraise import Appraisal
from attest.evidence import Assurance, Claim, Evidence
from attest.verdict import CATEGORIES, Status, Verdict, reason
from gui.models.device_filter import UNCHECKED, DeviceFilterProxy
from gui.models.device_table import Column, DeviceTableModel, Role
from gui.models.rows import DeviceRow, RowKind, RowState
from gui.views.detail import DetailPane
from gui.views.device_table import DeviceTableView

HOSTILE = "<b>x</b><img src=http://198.51.100.1/x.png>"


def host_row(i: int) -> DeviceRow:
    host = f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"
    return DeviceRow(host, RowKind.HOST, host=host, target=HostTarget(host))


def appraisal(address: str, verdict: Verdict, serial: str = "S1", *codes: tuple[str, str]) -> Appraisal:
    claims = (Claim("unit.serial", serial, f"api://{address}:4028 stats", Assurance.REPORTED),
              Claim("unit.model", "Antminer S21", f"api://{address}:4028 stats", Assurance.REPORTED))
    reasons = tuple(reason(code, detail) for code, detail in codes) or (reason("IDENTITY_MATCHES_MANIFEST"),)
    return Appraisal(address, verdict, reasons, dict.fromkeys(CATEGORIES, Status.NONE), Evidence(address, claims))


def test_model_keeps_qts_contract_through_inserts_changes_and_removals(qtmodeltester):
    model = DeviceTableModel()
    model.add_rows([host_row(i) for i in range(20)])
    qtmodeltester.check(model)
    proxy = DeviceFilterProxy()
    proxy.setSourceModel(model)
    qtmodeltester.check(proxy)
    model.row("10.0.0.3").apply_appraisal(appraisal("10.0.0.3", Verdict.UNTRUSTED), datetime.now())
    model.touch(["10.0.0.3"], immediate=True)
    model.add_rows([host_row(i) for i in range(15, 30)])  # five of these are already there
    model.remove_rows(["10.0.0.1", "10.0.0.7"])
    proxy.set_verdicts(frozenset({"UNTRUSTED"}))
    proxy.sort(Column.VERDICT, Qt.SortOrder.DescendingOrder)
    assert model.rowCount() == 28
    assert proxy.rowCount() == 1


def test_changes_are_batched_into_few_data_changed_signals(qtbot):
    model = DeviceTableModel()
    model.add_rows([host_row(i) for i in range(300)])
    seen = []
    model.dataChanged.connect(lambda top, bottom: seen.append((top.row(), bottom.row())))
    for i in range(300):  # a burst of 300 events, one row each
        model.row_at(i).state = RowState.CHECKING
        model.touch([model.row_at(i).device_id])
    assert seen == []  # nothing until the flush timer fires
    qtbot.waitUntil(lambda: bool(seen), timeout=1000)
    assert seen == [(0, 299)]


def test_ten_thousand_rows_insert_filter_and_sort(qtbot):
    """Behaviour at 10,000 rows; how fast it is, bench/gui_table_bench.py measures."""
    model = DeviceTableModel()
    proxy = DeviceFilterProxy()
    proxy.setSourceModel(model)
    view = DeviceTableView(model, proxy)
    qtbot.addWidget(view)
    view.resize(1200, 700)
    view.show()
    model.add_rows(ten_thousand_rows())
    qtbot.waitExposed(view)
    proxy.set_text("jyzz0000270f")
    assert proxy.rowCount() == 1
    proxy.set_text("")
    assert view.select_device("10.0.1.2")
    view.sortByColumn(Column.VERDICT, Qt.SortOrder.DescendingOrder)
    assert proxy.index(0, 0).data(Role.VERDICT) == "UNTRUSTED"
    assert proxy.index(2_499, 0).data(Role.VERDICT) == "UNTRUSTED"
    assert proxy.index(2_500, 0).data(Role.VERDICT) is None
    assert view.current_device() == "10.0.1.2"  # the selection follows its row through the sort
    view.sortByColumn(Column.HOST, Qt.SortOrder.AscendingOrder)
    hosts = [proxy.index(r, Column.HOST).data() for r in range(3)]
    assert hosts == sorted(hosts, key=lambda h: tuple(int(p) for p in h.split(".")))
    proxy.set_verdicts(frozenset({UNCHECKED}))
    assert proxy.rowCount() == 7_500
    assert view.select_device("10.0.39.12")  # hidden by the chip: select_device clears filters
    assert proxy.rowCount() == 10_000


def ten_thousand_rows() -> list:
    """10,000 host rows, every fourth UNTRUSTED (shared with bench/gui_table_bench.py)."""
    rows = [host_row(i) for i in range(10_000)]
    for i, r in enumerate(rows):
        r.serial = f"JYZZ{i:08X}"
        if i % 4 == 0:
            r.apply_appraisal(appraisal(r.device_id, Verdict.UNTRUSTED, r.serial), datetime.now())
    return rows


def test_hostile_serial_is_shown_literally_everywhere(qtbot):
    model = DeviceTableModel()
    row = host_row(1)
    row.apply_appraisal(appraisal(row.device_id, Verdict.UNTRUSTED, HOSTILE,
                                  ("DEVICE_NOT_IN_MANIFEST", f"serial {HOSTILE}")), datetime.now())
    model.add_rows([row])
    assert model.index(0, Column.SERIAL).data() == HOSTILE
    tooltip = model.index(0, Column.HOST).data(Qt.ItemDataRole.ToolTipRole)
    assert "<img" not in tooltip  # escaped, so Qt's rich-text guess shows it as text
    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.show_row(row)
    labels = pane.findChildren(QLabel)
    assert all(label.textFormat() == Qt.TextFormat.PlainText for label in labels)
    assert HOSTILE in pane.title.text()
    assert f"serial {HOSTILE}" in pane.summary_text()
    assert pane.claims.topLevelItem(0).child(0).text(1) == HOSTILE


def test_unchecked_rows_sort_below_checked_ones_by_verdict_severity():
    model = DeviceTableModel()
    rows = [host_row(i) for i in range(4)]
    for r, v in zip(rows[:3], (Verdict.WARNING, Verdict.UNTRUSTED, Verdict.TRUSTED), strict=True):
        r.apply_appraisal(appraisal(r.device_id, v), datetime.now())
    model.add_rows(rows)
    proxy = DeviceFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(Column.VERDICT, Qt.SortOrder.DescendingOrder)
    order = [proxy.index(i, 0).data(Role.VERDICT) for i in range(4)]
    assert order == ["UNTRUSTED", "WARNING", "TRUSTED", None]


def test_rows_added_to_a_sorted_table_land_in_order(qtmodeltester):
    model = DeviceTableModel()
    model.add_rows([host_row(i) for i in range(0, 40, 4)])
    model.sort(Column.HOST, Qt.SortOrder.AscendingOrder)
    qtmodeltester.check(model)
    model.add_rows([host_row(i) for i in (41, 2, 3, 17, 1)])  # between, before and after the rows there
    hosts = [r.host for r in model.rows()]
    assert hosts == sorted(hosts, key=lambda h: int(h.rsplit(".", 1)[1]))
    assert all(model.row_number(r.device_id) == i for i, r in enumerate(model.rows()))
    model.sort(Column.HOST, Qt.SortOrder.DescendingOrder)
    model.add_rows([host_row(i) for i in (50, 5, 18)])
    hosts = [int(r.host.rsplit(".", 1)[1]) for r in model.rows()]
    assert hosts == sorted(hosts, reverse=True)
    assert all(model.row_number(r.device_id) == i for i, r in enumerate(model.rows()))


def test_a_host_with_unicode_digits_sorts_as_a_name_instead_of_crashing_the_sort():
    from gui.models.device_table import _host_key

    assert _host_key("10.0.0.\u00b2") == "1" + "10.0.0.\u00b2"  # int('²') raised inside the sort
    assert _host_key("10.0.0.2") < _host_key("10.0.0.10")

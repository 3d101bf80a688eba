"""The table a technician reads at a glance: full hosts, reasons in words (code in the tooltip),
a range in address order, a revised verdict that shows, a serial on two rows found in turn, and
the history line of the detail pane."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt

from attest.address import PortProfile, parse_address
from attest.appraise import Appraisal
from attest.fleet import DeviceAppraised, DeviceRevised, Discovered
from attest.verdict import Verdict, reason
from gui.dialogs.add_host import AddHostRequest
from gui.models.device_table import Column
from gui.models.rows import RowState
from tests.gui.test_model import appraisal


def discovered(host: str, identified: bool = True) -> Discovered:
    if identified:
        return Discovered(host, {"api": "bmminer"})
    return Discovered(host, {}, {"api": 4028, "ssh": 22}, "api://x:4028 \\xff\\xfeSTATUS=S")


def request() -> AddHostRequest:
    return AddHostRequest(parse_address("127.232.1.0/24"), PortProfile())


def test_a_range_arrives_in_address_order_with_every_answering_host_and_full_hosts(qtbot, window):
    found = [discovered("127.232.1.200"), discovered("127.232.1.3", identified=False), discovered("127.232.1.20")]
    window.intake.add_discovered(found[:2], request())
    window.intake.add_discovered(found[2:], request())  # a later flush, as a scan goes on
    assert [r.host for r in window.model.rows()] == ["127.232.1.3", "127.232.1.20", "127.232.1.200"]
    hung = window.model.row("127.232.1.3")
    assert hung.discovered is found[1] and hung.label.startswith("opens 4028 (api), 22 (ssh)")
    qtbot.waitUntil(lambda: window.table.columnWidth(Column.HOST)
                    >= window.table.fontMetrics().horizontalAdvance("127.232.1.200") + 12, timeout=5_000)
    window.model.row("127.232.1.20").apply_evidence(appraisal("127.232.1.20", Verdict.TRUSTED,
                                                              "JYZZ0123456789ABCDEF0001").evidence)
    window.model.touch(["127.232.1.20"])
    qtbot.waitUntil(lambda: window.table.columnWidth(Column.SERIAL)
                    >= window.table.fontMetrics().horizontalAdvance("JYZZ0123456789ABCDEF0001") + 12, timeout=5_000)


def test_the_top_reason_is_in_words_with_its_code_in_the_tooltip(window):
    window.intake.add_discovered([discovered("10.0.4.17")], request())
    row = window.model.row("10.0.4.17")
    row.apply_appraisal(appraisal("10.0.4.17", Verdict.UNTRUSTED, "S1",
                                  ("HASHBOARD_SERIAL_MISMATCH", "slot 1")), datetime.now())
    window.model.touch([row.device_id], immediate=True)
    index = window.model.index(window.model.row_number(row.device_id), Column.REASON)
    assert index.data() == "Hashboard swapped: slot 1"
    tip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert "HASHBOARD_SERIAL_MISMATCH" in tip and "What to do: Quarantine the unit" in tip
    window.proxy.set_text("hashboard_serial_mismatch")  # the code still finds it
    assert window.proxy.rowCount() == 1


def test_a_verdict_revised_by_a_later_clone_shows_in_the_row_and_the_detail_pane(qtbot, window):
    window.intake.add_discovered([discovered("10.0.4.1"), discovered("10.0.4.2")], request())
    first = appraisal("10.0.4.1", Verdict.TRUSTED, "SN-TWIN", ("FIRMWARE_SIGNED_RELEASE", "Antminer S21 2026.09.1"))
    clone = appraisal("10.0.4.2", Verdict.UNTRUSTED, "SN-TWIN", ("SERIAL_CLONED", "same serial or MAC as 10.0.4.1"))
    revised = Appraisal(first.address, Verdict.UNTRUSTED,
                        (*first.reasons, reason("SERIAL_CLONED", "same serial or MAC as 10.0.4.2")),
                        first.categories, first.evidence)
    window.checks._on_events([DeviceAppraised(first), DeviceAppraised(clone)])
    assert window.model.row("10.0.4.1").verdict is Verdict.TRUSTED
    window.checks._on_events([DeviceRevised(revised, first, "10.0.4.2")])
    row = window.model.row("10.0.4.1")
    assert (row.verdict, row.state, row.status_text) == (Verdict.UNTRUSTED, RowState.DONE, "Revised")
    status_tip = window.model.index(window.model.row_number("10.0.4.1"), Column.STATUS).data(
        Qt.ItemDataRole.ToolTipRole)
    assert "verdict revised (was TRUSTED): 10.0.4.2 has the same serial or MAC" in status_tip
    window.table.select_device("10.0.4.1")
    assert "Verdict revised (it was TRUSTED): 10.0.4.2, read later in the check" in window.detail.summary_text()

    # Both rigs carry the serial: scanning it steps from the selected one to the other, and says so.
    window.filters.scan.setText("SN-TWIN")
    window.filters.scan.returnPressed.emit()
    assert window.table.current_device() == "10.0.4.2"
    assert window.filters.scan_note.text() == "2 of 2 rows with this serial"
    assert "2 rows have serial SN-TWIN" in window.statusBar().currentMessage()
    window.scan_serial("SN-TWIN")
    assert window.table.current_device() == "10.0.4.1"
    assert window.filters.scan_note.text() == "1 of 2 rows with this serial"
    window.scan_serial("SN-NO-SUCH")
    assert window.filters.scan_note.text() == ""  # one row (here: a new pending one): no note


def test_the_detail_pane_says_how_often_the_unit_was_checked(window):
    window.intake.add_discovered([discovered("10.0.4.9")], request())
    seen = appraisal("10.0.4.9", Verdict.TRUSTED, "S9", ("IDENTITY_SEEN_BEFORE",
                     "checked 2 times before at station bench-1, first 2026-11-25 14:02 UTC, last 2026-12-01 "
                     "09:00 UTC; same identity"))
    window.checks._on_events([DeviceAppraised(seen)])
    window.table.select_device("10.0.4.9")
    assert "History: checked 3 times, first 2026-11-25 (this check included; at station bench-1)." \
        in window.detail.summary_text()
    changed = appraisal("10.0.4.9", Verdict.UNTRUSTED, "S9", ("IDENTITY_CHANGED_SINCE",
                        "since the check of 2026-11-25 14:02 UTC at station bench-1 (record bench-1 #41): "
                        "MAC was 02:00:00:00:00:01, now 02:00:00:00:00:09"))
    window.checks._on_events([DeviceAppraised(changed)])
    window.detail.show_row(window.model.row("10.0.4.9"))
    assert ("History: its identity changed since the check of 2026-11-25 14:02 UTC at station bench-1 "
            "(record bench-1 #41)") in window.detail.summary_text()

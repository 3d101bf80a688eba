"""How long the device table takes with 10,000 rows: insert, filter, sort.

    .venv/bin/python bench/gui_table_bench.py

Uses the same 10,000 rows as tests/gui/test_model.py (which checks the behaviour); prints the
timings, asserts nothing.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from gui.models.device_filter import DeviceFilterProxy
from gui.models.device_table import Column, DeviceTableModel
from gui.views.device_table import DeviceTableView
from tests.gui.test_model import ten_thousand_rows


def main() -> int:
    app = QApplication([])
    model = DeviceTableModel()
    proxy = DeviceFilterProxy()
    proxy.setSourceModel(model)
    view = DeviceTableView(model, proxy)
    view.resize(1200, 700)
    view.show()
    rows = ten_thousand_rows()
    started = time.perf_counter()
    model.add_rows(rows)
    app.processEvents()
    insert = time.perf_counter() - started
    started = time.perf_counter()
    proxy.set_text("jyzz0000270f")
    filtered = time.perf_counter() - started
    proxy.set_text("")
    started = time.perf_counter()
    view.sortByColumn(Column.VERDICT, Qt.SortOrder.DescendingOrder)
    app.processEvents()
    sort = time.perf_counter() - started
    paints = []
    for _ in range(5):
        started = time.perf_counter()
        view.viewport().repaint()
        paints.append(time.perf_counter() - started)
    paint = sorted(paints)[2]
    print(f"10,000 rows: insert and show {insert * 1000:.0f} ms, filter {filtered * 1000:.0f} ms, "
          f"sort by verdict {sort * 1000:.0f} ms, a repaint (median of 5) {paint * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

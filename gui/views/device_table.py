"""The device table view: fixed row heights and painted cells, so 10,000 rows scroll smoothly.

Serial, model, host and firmware columns fit their content: a full host (127.232.1.200) or serial
tells rigs apart, a cut one does not. The model keeps the longest text of each (updated as rows
change, never a scan of 10,000 rows), and the view measures that one string when it grows.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QKeyEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from gui.models.device_filter import DeviceFilterProxy
from gui.models.device_table import FITTED, HEADERS, Column, DeviceTableModel, Role
from gui.views.delegates import SpinnerClock, StatusDelegate, VerdictDelegate

SPIN_MS = 80
ROW_HEIGHT = 30
_WIDTHS = {Column.STATUS: 104, Column.SERIAL: 178, Column.MODEL: 150, Column.HOST: 100,
           Column.FIRMWARE: 88, Column.VERDICT: 136, Column.REASON: 360, Column.CHECKED: 80}
#: Fitted columns grow and shrink with their content within these bounds (pixels). The top reason
#: takes what is left, so the firmware column stops short of a fork's long build string (its
#: tooltip and the detail pane have it whole).
_FIT_BOUNDS = {Column.SERIAL: (90, 300), Column.MODEL: (90, 220), Column.HOST: (80, 340), Column.FIRMWARE: (80, 150)}
#: Cell text is drawn inside the style's margins; room for them and for the sort arrow.
_FIT_PADDING = 28
FIT_MS = 150


class DeviceTableView(QTableView):
    currentDeviceChanged = Signal(str)  # device id, "" when nothing is current
    activated_device = Signal(str)  # Enter / double-click: the operator wants the details
    filtersCleared = Signal()  # select_device had to clear the filters to show a row

    def __init__(self, model: DeviceTableModel, proxy: DeviceFilterProxy, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = model
        self.proxy = proxy
        self.clock = SpinnerClock()
        font = QFont(self.font())
        font.setPointSizeF(max(font.pointSizeF(), 10.5))
        self.setFont(font)
        self.setModel(proxy)
        self.setItemDelegateForColumn(Column.STATUS, StatusDelegate(self.clock, proxy.row_for, self))
        self.setItemDelegateForColumn(Column.VERDICT, VerdictDelegate(proxy.row_for, self))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        # No sort until the operator clicks a header: rows keep the order they were added in
        # (a range's hosts in address order), and inserting 10,000 rows costs no comparisons.
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.setSortingEnabled(True)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        vertical = self.verticalHeader()
        vertical.setVisible(False)
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # never measure 10,000 rows
        vertical.setDefaultSectionSize(ROW_HEIGHT)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setHighlightSections(False)
        for column, width in _WIDTHS.items():
            self.setColumnWidth(column, width)
        header.setSectionResizeMode(Column.REASON, QHeaderView.ResizeMode.Stretch)
        self.setAccessibleName("Devices")
        self._spinner = QTimer(self)
        self._spinner.setInterval(SPIN_MS)
        self._spinner.timeout.connect(self._spin)
        self._fitted: dict[int, int] = {}  # column -> the width fit_columns last gave it
        self._fit = QTimer(self)
        self._fit.setSingleShot(True)
        self._fit.setInterval(FIT_MS)
        self._fit.timeout.connect(self.fit_columns)
        model.widestChanged.connect(lambda: None if self._fit.isActive() else self._fit.start())
        self.selectionModel().currentRowChanged.connect(self._current_changed)
        self.doubleClicked.connect(lambda index: self.activated_device.emit(str(index.data(Role.DEVICE_ID))))

    def fit_columns(self) -> None:
        """Size the fitted columns to their widest text; a column the operator resized is left alone."""
        metrics = self.fontMetrics()
        for column in FITTED:
            low, high = _FIT_BOUNDS[column]
            text = self.source.widest.get(column, "")
            wanted = max(metrics.horizontalAdvance(text), metrics.horizontalAdvance(HEADERS[column])) + _FIT_PADDING
            width = max(low, min(high, wanted))
            last = self._fitted.get(column)
            if last is not None and self.columnWidth(column) != last:
                continue  # resized by hand since: the operator's choice stands
            if width != self.columnWidth(column):
                self.setColumnWidth(column, width)
            self._fitted[column] = width

    def set_busy(self, busy: bool) -> None:
        """Spin while a check runs; stop (and cost nothing) when idle."""
        if busy and not self._spinner.isActive():
            self._spinner.start()
        elif not busy:
            self._spinner.stop()
            self.viewport().update()

    def current_device(self) -> str:
        index = self.currentIndex()
        return str(index.data(Role.DEVICE_ID)) if index.isValid() else ""

    def selected_devices(self) -> list[str]:
        return [str(i.data(Role.DEVICE_ID)) for i in self.selectionModel().selectedRows()]

    def select_device(self, device_id: str) -> bool:
        """Make ``device_id`` current, selected and visible; clears filters that hide it."""
        row = self.source.row_number(device_id)
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.source.index(row, 0))
        if not index.isValid() and self.proxy.is_filtering():
            self.proxy.clear_filters()
            self.filtersCleared.emit()
            index = self.proxy.mapFromSource(self.source.index(row, 0))
        if not index.isValid():
            return False
        flags = (QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
                 | QItemSelectionModel.SelectionFlag.Current)
        self.selectionModel().setCurrentIndex(index, flags)
        self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentIndex().isValid():
            self.activated_device.emit(self.current_device())
            return
        super().keyPressEvent(event)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.currentDeviceChanged.emit(str(current.data(Role.DEVICE_ID)) if current.isValid() else "")

    def _spin(self) -> None:
        self.clock.advance()
        top = self.rowAt(0)
        if top < 0:
            return
        bottom = self.rowAt(self.viewport().height() - 1)
        bottom = self.proxy.rowCount() - 1 if bottom < 0 else bottom
        x = self.columnViewportPosition(Column.STATUS)
        width = self.columnWidth(Column.STATUS)
        y_top = self.rowViewportPosition(top)
        y_bottom = self.rowViewportPosition(bottom) + self.rowHeight(bottom)
        self.viewport().update(x, y_top, width, y_bottom - y_top)

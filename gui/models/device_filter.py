"""Sorting and filtering of the device table: a text box and verdict chips.

Sorting is the source model's (``DeviceTableModel.sort``): one Python sort over keys it keeps
per row, instead of Qt asking Python for both sides of each of 140,000 comparisons.

``multiData`` answers every role of a cell in one Python call: Qt's delegates ask for about eight
roles per cell, and QSortFilterProxyModel would turn each into its own call into Python. Each
call must take the GIL, which the job thread holds while it works; fewer calls per repaint is
what keeps the table painting smoothly during a 1,000-rig check.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QModelRoleDataSpan, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt

from gui.models.device_table import DeviceTableModel, Role
from gui.models.rows import DeviceRow

#: The chip for rows without a verdict yet (not checked, pending, checking).
UNCHECKED = ""


class DeviceFilterProxy(QSortFilterProxyModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._needle = ""
        self._verdicts: frozenset[str] | None = None  # None: every verdict shows
        self.setSortRole(Role.SORT)
        self.setDynamicSortFilter(True)

    def set_text(self, text: str) -> None:
        needle = text.strip().lower()
        if needle != self._needle:
            self.beginFilterChange()
            self._needle = needle
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_verdicts(self, verdicts: frozenset[str] | None) -> None:
        """Show only rows whose verdict value is in ``verdicts`` (``UNCHECKED`` for none yet)."""
        if verdicts != self._verdicts:
            self.beginFilterChange()
            self._verdicts = verdicts
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def is_filtering(self) -> bool:
        return bool(self._needle) or self._verdicts is not None

    def clear_filters(self) -> None:
        self.beginFilterChange()
        self._needle = ""
        self._verdicts = None
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """The source model sorts its rows (see DeviceTableModel.sort); this proxy only filters."""
        source = self.sourceModel()
        if isinstance(source, DeviceTableModel):
            source.sort(column, order)
        else:
            super().sort(column, order)

    def multiData(self, index: QModelIndex | QPersistentModelIndex, roles: QModelRoleDataSpan) -> None:
        source = self.sourceModel()
        if not isinstance(source, DeviceTableModel):
            super().multiData(index, roles)
            return
        mapped = self.mapToSource(index)
        source.fill_roles(mapped.row(), mapped.column(), roles)

    def row_for(self, index: QModelIndex | QPersistentModelIndex) -> DeviceRow | None:
        """The row behind a proxy index, without a call through Qt (for the delegates)."""
        source = self.sourceModel()
        r = self.mapToSource(index).row()
        if not isinstance(source, DeviceTableModel) or r < 0:
            return None
        return source.row_at(r)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        if not self._needle and self._verdicts is None:
            return True
        model = self.sourceModel()
        if not isinstance(model, DeviceTableModel):
            return True
        row = model.row_at(source_row)
        if self._verdicts is not None and (row.verdict.value if row.verdict else UNCHECKED) not in self._verdicts:
            return False
        return not self._needle or self._needle in row.search_text()

"""The signed log as a table: one line per record, newest first.

``read_history`` runs on the job thread and returns plain entries; the model only shows them.
(The module uses Qt only for the model classes and QDate; reading the log needs none.)
Records are read straight from the store (never trusted more than the log itself: a record's
fields are device text and are shown as plain text). The store is asked for the date range, so
reaching back months never decodes the whole log; the newest ``HISTORY_LIMIT`` of the range are
shown, and the window says when older ones were left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDate,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

from attest.evidence import printable
from attest.log.canonical import iso_time
from attest.log.store import Selection, open_store

HISTORY_LIMIT = 20_000
COLUMNS = ("#", "Time (UTC)", "Serial", "Verdict", "Top reason", "Address", "Batch", "Operator")


@dataclass(frozen=True)
class HistoryEntry:
    index: int
    time: str
    serial: str
    verdict: str
    reason: str
    address: str
    batch: str
    operator: str

    def cells(self) -> tuple[str, ...]:
        return (str(self.index), self.time.replace("T", " ").removesuffix("Z"), self.serial, self.verdict,
                self.reason, self.address, self.batch, self.operator)


@dataclass(frozen=True)
class History:
    entries: tuple[HistoryEntry, ...]  # newest first
    matched: int  # records in the range; more than len(entries) when older ones were left out
    total: int  # records in the whole log


def read_history(path: Path, selection: Selection, limit: int = HISTORY_LIMIT) -> History:
    """Entries for ``selection`` (job thread). A missing log is an empty history, not an error."""
    if not path.exists():
        return History((), 0, 0)
    with open_store(path, create=False) as store:
        total = store.count()
        indices = list(range(total)) if selection.everything else store.select(selection)
        chosen = indices[-limit:]
        entries: list[HistoryEntry] = []
        for start, end in _runs(chosen):
            for record in store.records(start, end):
                entries.append(entry_of(record.index, record.data))
    entries.reverse()
    return History(tuple(entries), len(indices), total)


def days_selection(first: QDate, last: QDate) -> Selection:
    """Records from the start of ``first`` through the whole of ``last`` (UTC), as a person means it."""
    since = datetime(*first.getDate(), tzinfo=UTC)
    until = datetime(*last.addDays(1).getDate(), tzinfo=UTC)
    return Selection(since=iso_time(since), until=iso_time(until))


def entry_of(index: int, data: bytes) -> HistoryEntry:
    try:
        doc: Any = json.loads(data)
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    top = doc.get("top_reason")
    reasons = doc.get("reasons")
    if top is None and isinstance(reasons, list) and reasons and isinstance(reasons[0], dict):
        top = reasons[0].get("code")  # a record from before top_reason was written
    cited = doc.get("supersedes")
    if isinstance(cited, dict) and isinstance(cited.get("index"), int):  # a verdict revised later in its check
        top = f"{_text(top)} (revises #{cited['index']})"
    return HistoryEntry(index, _text(doc.get("time")), _text(doc.get("serial")), _text(doc.get("verdict")),
                        _text(top), _text(doc.get("address")), _text(doc.get("batch")), _text(doc.get("operator")))


def _text(value: object) -> str:
    return "" if value is None else printable(str(value))[:200]


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Contiguous [start, end) runs, so a range is read in a few queries rather than one per record."""
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


class HistoryModel(QAbstractTableModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.entries: tuple[HistoryEntry, ...] = ()

    def set_entries(self, entries: tuple[HistoryEntry, ...]) -> None:
        self.beginResetModel()
        self.entries = entries
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self.entries[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.cells()[index.column()]
        if role == Qt.ItemDataRole.UserRole:
            return entry.index if index.column() == 0 else entry.cells()[index.column()]
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None


class HistoryFilter(QSortFilterProxyModel):
    """Serial (and address) search and the verdict filter, applied to what was read."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._needle = ""
        self._verdict = ""
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def set_filter(self, needle: str, verdict: str) -> None:
        self.beginFilterChange()
        self._needle, self._verdict = needle.strip().lower(), verdict
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        if not isinstance(model, HistoryModel):
            return True
        entry = model.entries[source_row]
        if self._verdict and entry.verdict != self._verdict:
            return False
        return not self._needle or self._needle in entry.serial.lower() or self._needle in entry.address.lower()

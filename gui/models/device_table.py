"""The device table model: one row per device, keyed by device id (an id -> row dict).

Updates from a big check arrive in bursts; rows are changed in place and marked dirty, and a
100 ms timer turns the dirty rows into a few ``dataChanged`` signals (one per contiguous run).
One signal per event would make the sort/filter proxy and the view redo their work thousands
of times during a 1,000-rig check.
"""

from __future__ import annotations

import bisect
import enum
import html
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleDataSpan,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)

from attest.evidence import printable
from attest.verdict import Verdict
from gui.models.rows import DeviceRow, RowState

FLUSH_MS = 100
MAX_RUNS = 32  # past this many separate runs, one signal over the whole span is cheaper

AnyIndex = QModelIndex | QPersistentModelIndex


class Column(enum.IntEnum):
    STATUS = 0
    SERIAL = 1
    MODEL = 2
    HOST = 3
    FIRMWARE = 4
    VERDICT = 5
    REASON = 6
    CHECKED = 7


HEADERS = ("Status", "Unit serial", "Model", "Host", "Firmware", "Verdict", "Top reason", "Checked at")


class Role(enum.IntEnum):
    VERDICT = Qt.ItemDataRole.UserRole + 1  # Verdict.value or None
    STATE = Qt.ItemDataRole.UserRole + 2  # RowState.name
    SORT = Qt.ItemDataRole.UserRole + 3  # a key that sorts the column sensibly
    DEVICE_ID = Qt.ItemDataRole.UserRole + 4


_STATE_ORDER = {s: i for i, s in enumerate(RowState)}
_SORT_ROLE = int(Role.SORT)
_DISPLAY_ROLE = int(Qt.ItemDataRole.DisplayRole)
_SERVED = frozenset({_DISPLAY_ROLE, _SORT_ROLE, int(Role.VERDICT), int(Role.STATE), int(Role.DEVICE_ID),
                     int(Qt.ItemDataRole.ToolTipRole)})


#: Columns the view sizes to their content (the widest text they hold), and the row field each shows;
#: the rest are fixed or stretch.
_FITTED_FIELDS = {Column.SERIAL: "serial", Column.MODEL: "model", Column.HOST: "host", Column.FIRMWARE: "firmware"}
FITTED = tuple(_FITTED_FIELDS)


class DeviceTableModel(QAbstractTableModel):
    summaryChanged = Signal(object)  # Counter: verdict value (or "" for unchecked) -> rows
    widestChanged = Signal()  # a fitted column now holds a longer text than before

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[DeviceRow] = []
        self._keys: list[tuple[Any, ...]] = []  # per row, per column: what the proxy sorts by
        self._index: dict[str, int] = {}
        self._by_serial: dict[str, list[str]] = {}  # serial -> every row that has it (clones: several)
        self.widest: dict[int, str] = {c: "" for c in FITTED}  # per fitted column, its longest text
        self._dirty: set[int] = set()
        self._sort: tuple[int, Qt.SortOrder] | None = None
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(FLUSH_MS)
        self._flush.timeout.connect(self.flush)

    # --- reading -----------------------------------------------------------------------------
    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(HEADERS):
            return HEADERS[section]
        return None

    # flags() is deliberately not overridden: QAbstractTableModel's C++ default (enabled,
    # selectable, never has children) is right, and a Python override costs a call per cell
    # per repaint.

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        return self.value(index.row(), index.column(), role)

    def multiData(self, index: AnyIndex, roles: QModelRoleDataSpan) -> None:
        """All the roles a delegate wants for one cell in one call (see DeviceFilterProxy)."""
        self.fill_roles(index.row(), index.column(), roles)

    def fill_roles(self, r: int, col: int, roles: QModelRoleDataSpan) -> None:
        """Answer only the roles this model serves; the rest stay invalid (no call per role)."""
        for i in range(len(roles)):
            item = roles[i]
            role = item.role()
            if role in _SERVED:
                item.setData(self.value(r, col, role))

    def value(self, r: int, col: int, role: int) -> Any:
        """``data()`` without the trip through Qt: the proxy calls this directly."""
        if not 0 <= r < len(self._rows) or not 0 <= col < len(HEADERS):
            return None
        if role == _SORT_ROLE:  # first: sorting 10,000 rows asks this ~150,000 times
            return self._keys[r][col]
        row = self._rows[r]
        if role == _DISPLAY_ROLE:
            return _display(row, col)
        if role == Role.VERDICT:
            return row.verdict.value if row.verdict else None
        if role == Role.STATE:
            return row.state.name
        if role == Role.DEVICE_ID:
            return row.device_id
        if role == Qt.ItemDataRole.ToolTipRole:
            return _tooltip(row, col)
        return None

    # --- rows ----------------------------------------------------------------------------------
    def row(self, device_id: str) -> DeviceRow | None:
        i = self._index.get(device_id)
        return None if i is None else self._rows[i]

    def row_at(self, row: int) -> DeviceRow:
        return self._rows[row]

    def rows(self) -> list[DeviceRow]:
        return list(self._rows)

    def row_number(self, device_id: str) -> int | None:
        return self._index.get(device_id)

    def id_for_serial(self, serial: str) -> str | None:
        ids = self.ids_for_serial(serial)
        return ids[0] if ids else None

    def ids_for_serial(self, serial: str) -> list[str]:
        """Every row with ``serial``, in table order: two rigs claiming one serial are both found."""
        return sorted(self._by_serial.get(serial, ()), key=lambda i: self._index.get(i, 0))

    def _note_serial(self, serial: str, device_id: str) -> None:
        ids = self._by_serial.setdefault(serial, [])
        if device_id not in ids:
            ids.append(device_id)

    def _note_widths(self, rows: Sequence[DeviceRow]) -> bool:
        """Keep each fitted column's longest text; True when one grew (one C-level max per column)."""
        grew = False
        for column, name in _FITTED_FIELDS.items():
            longest = max((getattr(r, name) for r in rows), key=len, default="")
            if len(longest) > len(self.widest[column]):
                self.widest[column] = longest
                grew = True
        return grew

    def add_rows(self, rows: Sequence[DeviceRow]) -> list[str]:
        """Add rows whose id is new; returns the ids actually added.

        Unsorted, they are appended in one insert. Sorted (a range is shown in address order),
        each goes where it belongs: one insert per run of rows landing in the same gap, usually
        one at the end, so 50 hosts into a 10,000-row table cost no resort of the table.
        """
        fresh: list[DeviceRow] = []
        seen: set[str] = set()
        for r in rows:
            if r.device_id not in self._index and r.device_id not in seen:
                fresh.append(r)
                seen.add(r.device_id)
        if not fresh:
            return []
        end = len(self._rows)
        if self._sort is None:
            self._insert_block(end, fresh)
        else:
            self._insert_sorted(fresh)
        if all(self._rows[end + i] is r for i, r in enumerate(fresh)):  # all appended: the old rows kept their place
            self._index.update((r.device_id, end + i) for i, r in enumerate(fresh))
        else:  # once per call, not per gap filled: 10,000 rows take about 2 ms
            self._index = {r.device_id: i for i, r in enumerate(self._rows)}
        for r in fresh:
            if r.serial:
                self._note_serial(r.serial, r.device_id)
        grew = self._note_widths(fresh)
        self._emit_summary()
        if grew:
            self.widestChanged.emit()
        return [r.device_id for r in fresh]

    def _insert_block(self, at: int, block: Sequence[DeviceRow]) -> None:
        """Rows in at ``at``; ``_index`` is brought up to date by the caller, once."""
        self.beginInsertRows(QModelIndex(), at, at + len(block) - 1)
        self._rows[at:at] = block
        self._keys[at:at] = [_sort_keys(r) for r in block]
        self.endInsertRows()

    def _insert_sorted(self, fresh: list[DeviceRow]) -> None:
        assert self._sort is not None
        column, order = self._sort
        descending = order == Qt.SortOrder.DescendingOrder
        existing = [k[column] for k in self._keys]
        if descending:  # bisect needs ascending keys: search the table read backwards
            existing.reverse()
        placed: dict[int, list[DeviceRow]] = {}
        for r in sorted(fresh, key=lambda r: _sort_key(r, column), reverse=descending):
            key = _sort_key(r, column)
            gap = (len(existing) - bisect.bisect_left(existing, key)) if descending \
                else bisect.bisect_right(existing, key)
            placed.setdefault(gap, []).append(r)
        offset = 0
        for gap in sorted(placed):
            self._insert_block(gap + offset, placed[gap])
            offset += len(placed[gap])

    def remove_rows(self, device_ids: Iterable[str]) -> None:
        doomed = sorted((self._index[i] for i in set(device_ids) if i in self._index), reverse=True)
        if not doomed:
            return
        self.flush()
        for i in doomed:  # one signal per row; removal is rare (resolving a scanned serial)
            self.beginRemoveRows(QModelIndex(), i, i)
            del self._rows[i]
            del self._keys[i]
            self.endRemoveRows()
        self._reindex()
        self.widest = {c: "" for c in FITTED}
        self._note_widths(self._rows)
        self._emit_summary()
        self.widestChanged.emit()

    def touch(self, device_ids: Iterable[str], *, immediate: bool = False) -> None:
        """Rows changed in place: refresh indexes now, tell the views within ``FLUSH_MS``."""
        changed: list[DeviceRow] = []
        for device_id in device_ids:
            i = self._index.get(device_id)
            if i is None:
                continue
            self._dirty.add(i)
            self._keys[i] = _sort_keys(self._rows[i])
            serial = self._rows[i].serial
            if serial:
                self._note_serial(serial, device_id)
            changed.append(self._rows[i])
        if self._note_widths(changed):
            self.widestChanged.emit()
        if immediate:
            self.flush()
        elif self._dirty and not self._flush.isActive():
            self._flush.start()

    def flush(self) -> None:
        """Emit the pending changes now (also what the timer calls)."""
        self._flush.stop()
        if not self._dirty:
            return
        dirty, self._dirty = sorted(self._dirty), set()
        runs = _runs(dirty)
        if len(runs) > MAX_RUNS:
            runs = [(dirty[0], dirty[-1])]
        last = len(HEADERS) - 1
        for top, bottom in runs:
            self.dataChanged.emit(self.index(top, 0), self.index(bottom, last))
        self._emit_summary()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the rows themselves, with Python's sort over the precomputed keys.

        QSortFilterProxyModel's own sort calls ``data()`` for both sides of every comparison:
        some 280,000 calls into Python for 10,000 rows, two seconds with the GUI frozen. Here it
        is one ``list.sort`` (milliseconds) and one layout change; the proxy only filters.
        Rows keep their place while a check changes them (nothing jumps under the cursor); the
        table is sorted again when the check ends (``resort``) or a header is clicked.
        """
        self._sort = None if column < 0 else (column, order)
        self.resort()

    def resort(self) -> None:
        if self._sort is None or not self._rows:
            return
        column, order = self._sort
        self.flush()
        keys = self._keys
        order_by = sorted(range(len(self._rows)), key=lambda i: keys[i][column],
                          reverse=order == Qt.SortOrder.DescendingOrder)
        if order_by == list(range(len(order_by))):
            return  # already in order (a table filled in address order): no layout change to repaint
        self.layoutAboutToBeChanged.emit()
        moved_to = [0] * len(order_by)
        for new, old in enumerate(order_by):
            moved_to[old] = new
        self._rows = [self._rows[i] for i in order_by]
        self._keys = [keys[i] for i in order_by]
        self._index = {r.device_id: i for i, r in enumerate(self._rows)}  # serials and widths stay as they are
        before = self.persistentIndexList()  # the selection and current row follow their rows
        self.changePersistentIndexList(before, [self.index(moved_to[i.row()], i.column()) for i in before])
        self.layoutChanged.emit()

    @property
    def sort_column(self) -> int | None:
        """The column the rows are kept sorted by, or None (the order they were added in)."""
        return None if self._sort is None else self._sort[0]

    def summary(self) -> Counter[str]:
        return Counter(r.verdict.value if r.verdict else "" for r in self._rows)

    def _emit_summary(self) -> None:
        self.summaryChanged.emit(self.summary())

    def _reindex(self) -> None:
        self._index = {r.device_id: i for i, r in enumerate(self._rows)}
        by_serial: dict[str, list[str]] = {}
        for r in self._rows:
            if r.serial:
                by_serial.setdefault(r.serial, []).append(r.device_id)
        self._by_serial = by_serial


def _runs(sorted_rows: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for r in sorted_rows:
        if runs and r == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], r)
        else:
            runs.append((r, r))
    return runs


def _display(row: DeviceRow, col: int) -> str:
    if col == Column.STATUS:
        return row.status_text
    if col == Column.SERIAL:
        return row.serial
    if col == Column.MODEL:
        return row.model
    if col == Column.HOST:
        return row.host
    if col == Column.FIRMWARE:
        return row.firmware
    if col == Column.VERDICT:
        return row.verdict_text
    if col == Column.REASON:
        return row.top_reason or row.note
    if col == Column.CHECKED:
        return row.checked_text
    return ""


_VERDICT_SORT = {None: -1, **{v: v.severity for v in Verdict}}


def _sort_keys(row: DeviceRow) -> tuple[Any, ...]:
    return tuple(_sort_key(row, col) for col in range(len(HEADERS)))


def _sort_key(row: DeviceRow, col: int) -> Any:
    if col in (Column.STATUS, Column.VERDICT):
        return _VERDICT_SORT[row.verdict] * 100 + _STATE_ORDER[row.state]
    if col == Column.CHECKED:
        return row.checked_at.timestamp() if row.checked_at else 0.0
    if col == Column.HOST:
        return _host_key(row.host)
    return _display(row, col).lower()


def _host_key(host: str) -> str:
    """Dotted quads sort numerically (127.0.1.2 before 127.0.1.10); names sort as text."""
    parts = host.split(".")
    if len(parts) == 4 and all(p.isascii() and p.isdigit() for p in parts):
        return "0" + ".".join(f"{int(p):03d}" for p in parts)
    return "1" + host.lower()


def plain_tooltip(text: str) -> str:
    """Qt guesses whether a tooltip is rich text; escaped text inside <p> always shows literally."""
    return "<p style='white-space:pre-wrap'>" + html.escape(text) + "</p>"


def _tooltip(row: DeviceRow, col: int) -> str | None:
    text = _tooltip_text(row, col)
    return None if text is None else plain_tooltip(text)


def _tooltip_text(row: DeviceRow, col: int) -> str | None:
    if col == Column.STATUS:
        parts = [row.state.value]
        if row.state is RowState.DONE and row.revised_because:
            was = f" (was {row.previous_verdict.value})" if row.previous_verdict else ""
            parts.append(f"verdict revised{was}: {row.revised_because} has the same serial or MAC")
        if row.note:
            parts.append(row.note)
        return " — ".join(parts)
    if col == Column.HOST:
        extra = f" ({row.label})" if row.label else ""
        return f"{row.device_id}{extra}"
    if col == Column.REASON and row.appraisal is not None and row.appraisal.top_reason is not None:
        top = row.appraisal.top_reason
        lines = [f"{top.code}: {top.message}"]
        if top.detail:
            lines.append(f"Detail: {printable(top.detail, limit=1000)}")
        if top.remediation:
            lines.append(f"What to do: {top.remediation}")
        return "\n".join(lines)
    if col == Column.CHECKED and row.checked_at is not None:
        return row.checked_at.astimezone().isoformat(timespec="seconds")
    return None


def now() -> datetime:
    return datetime.now().astimezone()

"""Delegates that paint the status and verdict cells: badges and spinners, never a widget per cell.

The spinner angle comes from one shared clock the view advances only while rows are busy, so an
idle table costs no repaints at all.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPalette, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from attest.verdict import Verdict
from gui.icons import paint_verdict_shape, verdict_pixmap
from gui.models.rows import DeviceRow, RowState
from gui.theme import is_dark, verdict_colours

AnyIndex = QModelIndex | QPersistentModelIndex


class SpinnerClock:
    """The angle every spinner shows right now (degrees); advanced by the view's timer."""

    def __init__(self) -> None:
        self.angle = 0

    def advance(self, step: int = 30) -> None:
        self.angle = (self.angle + step) % 360


RowLookup = Callable[[AnyIndex], DeviceRow | None]
_LEFT_MIDDLE = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
_SELECTED = QStyle.StateFlag.State_Selected


def _background(option: QStyleOptionViewItem, painter: QPainter) -> None:
    style = option.widget.style() if option.widget is not None else None
    if style is not None:
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter, option.widget)


def _text_colour(option: QStyleOptionViewItem) -> QColor:
    role = QPalette.ColorRole.HighlightedText if option.state & _SELECTED else QPalette.ColorRole.Text
    return option.palette.color(role)


class StatusDelegate(QStyledItemDelegate):
    """A spinner while the row is being checked, else the verdict's shape and a word.

    Paints from the row object itself (``row_for``) and from cached pixmaps: a repaint during a
    big check must not make dozens of calls back into Python per cell.
    """

    def __init__(self, clock: SpinnerClock, row_for: RowLookup, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.clock = clock
        self.row_for = row_for

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        row = self.row_for(index)
        if row is None:
            return
        painter.save()
        _background(option, painter)
        rect = option.rect.adjusted(6, 0, -4, 0)
        side = min(rect.height() - 8, 20)
        top = rect.center().y() - side // 2 + 1
        if row.state.busy:
            self._paint_spinner(painter, QRectF(rect.left(), top, side, side), option,
                                still=row.state is not RowState.CHECKING)
        else:
            verdict = row.verdict if row.state is RowState.DONE else None
            painter.drawPixmap(rect.left(), top, verdict_pixmap(verdict, is_dark(option.palette), side))
        painter.setPen(_text_colour(option))
        painter.drawText(rect.adjusted(side + 8, 0, 0, 0), _LEFT_MIDDLE, row.status_text)
        painter.restore()

    def _paint_spinner(self, painter: QPainter, rect: QRectF, option: QStyleOptionViewItem, *,
                       still: bool) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        colour = option.palette.color(QPalette.ColorRole.Highlight)
        track = option.palette.color(QPalette.ColorRole.Mid)
        width = max(2.0, rect.width() / 7)
        r = rect.adjusted(width / 2, width / 2, -width / 2, -width / 2)
        painter.setPen(QPen(track, width))
        painter.drawEllipse(r)
        painter.setPen(QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        if still:  # a still quarter: waiting (for a slot, or for the batch), not talking to the rig
            painter.drawArc(r, 90 * 16, -90 * 16)
        else:
            painter.drawArc(r, -self.clock.angle * 16, 100 * 16)

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        return QSize(110, 26)


class VerdictDelegate(QStyledItemDelegate):
    """The verdict as a pill: its colour, its shape and its word, bold enough to read from afar."""

    def __init__(self, row_for: RowLookup, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.row_for = row_for

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        row = self.row_for(index)
        _background(option, painter)
        if row is None or row.verdict is None:
            return
        pill = _pill(row.verdict, is_dark(option.palette), option.font.key(), option.rect.height())
        y = option.rect.top() + (option.rect.height() - pill.height() / pill.devicePixelRatio()) / 2
        painter.drawPixmap(QPointF(option.rect.left() + 4, y), pill)

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        return QSize(140, 26)


@lru_cache(maxsize=64)
def _pill(verdict: Verdict, dark: bool, font_key: str, row_height: int) -> QPixmap:
    """One pill per verdict, theme, font and row height, painted once and then blitted."""
    font = QFont()
    font.fromString(font_key)
    font.setBold(True)
    metrics = QFontMetrics(font)
    colours = verdict_colours(verdict, dark)
    height = min(row_height - 6, metrics.height() + 6)
    side = height - 6
    width = metrics.horizontalAdvance(verdict.value) + side + 20
    ratio = 2.0  # crisp on HiDPI screens and in screenshots
    pixmap = QPixmap(int(width * ratio), int(height * ratio))
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    path = QPainterPath()
    path.addRoundedRect(QRectF(0, 0, width, height), height / 2, height / 2)
    p.fillPath(path, colours.fill)
    icon = QRectF(4, 3, side, side)
    # The shape in the pill is drawn inverted (text colour on fill) so it stays visible.
    p.setPen(QPen(colours.text, 1.2))
    p.setBrush(colours.text)
    p.drawEllipse(icon.adjusted(1, 1, -1, -1))
    paint_verdict_shape(p, icon.adjusted(2, 2, -2, -2), verdict, dark)
    p.setFont(font)
    p.setPen(colours.text)
    p.drawText(QRectF(side + 8, 0, width - side - 14, height), Qt.AlignmentFlag.AlignVCenter, verdict.value)
    p.end()
    return pixmap

"""Verdict badges painted as vectors: a distinct shape per verdict, so colour is never the only cue.

Painted rather than drawn from font glyphs, because a station's fonts may lack ✔/✖ and because a
technician a metre away tells a circle from an octagon faster than one green from another.
"""

from __future__ import annotations

import math
from functools import lru_cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

from attest.verdict import Verdict
from gui.theme import verdict_colours

SHAPE_NAMES = {Verdict.TRUSTED: "circle with a tick", Verdict.WARNING: "triangle with an exclamation mark",
               Verdict.UNTRUSTED: "octagon with a cross", Verdict.UNKNOWN: "ring with a question mark",
               None: "hollow dot"}


def paint_verdict_shape(p: QPainter, rect: QRectF, verdict: Verdict | None, dark: bool) -> None:
    """Paint the badge of ``verdict`` into ``rect`` (square is best)."""
    colours = verdict_colours(verdict, dark)
    side = min(rect.width(), rect.height())
    r = QRectF(rect.center().x() - side / 2, rect.center().y() - side / 2, side, side).adjusted(1, 1, -1, -1)
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    ink = QPen(colours.text, max(1.6, side / 9), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap,
               Qt.PenJoinStyle.RoundJoin)
    if verdict is Verdict.TRUSTED:
        _fill(p, _ellipse(r), colours.fill)
        p.setPen(ink)
        p.drawPolyline(QPolygonF([_at(r, 0.28, 0.52), _at(r, 0.44, 0.68), _at(r, 0.73, 0.34)]))
    elif verdict is Verdict.WARNING:
        _fill(p, _polygon([_at(r, 0.5, 0.04), _at(r, 0.97, 0.92), _at(r, 0.03, 0.92)]), colours.fill)
        p.setPen(ink)
        p.drawLine(_at(r, 0.5, 0.36), _at(r, 0.5, 0.62))
        p.drawPoint(_at(r, 0.5, 0.78))
    elif verdict is Verdict.UNTRUSTED:
        points = [_at(r, 0.5 + 0.5 * math.cos(math.radians(22.5 + 45 * i)),
                      0.5 + 0.5 * math.sin(math.radians(22.5 + 45 * i))) for i in range(8)]
        _fill(p, _polygon(points), colours.fill)
        p.setPen(ink)
        p.drawLine(_at(r, 0.32, 0.32), _at(r, 0.68, 0.68))
        p.drawLine(_at(r, 0.68, 0.32), _at(r, 0.32, 0.68))
    elif verdict is Verdict.UNKNOWN:
        _fill(p, _ellipse(r), colours.fill)
        font = QFont(p.font())
        font.setBold(True)
        font.setPixelSize(max(6, int(side * 0.7)))
        p.setFont(font)
        p.setPen(colours.text)
        p.drawText(r, Qt.AlignmentFlag.AlignCenter, "?")
    else:
        p.setPen(QPen(colours.accent, max(1.2, side / 10)))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawEllipse(r.adjusted(side * 0.2, side * 0.2, -side * 0.2, -side * 0.2))
    p.restore()


@lru_cache(maxsize=64)
def _verdict_pixmap(verdict: Verdict | None, size: int, dark: bool) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    p = QPainter(pixmap)
    paint_verdict_shape(p, QRectF(0, 0, size, size), verdict, dark)
    p.end()
    return pixmap


def verdict_icon(verdict: Verdict | None, dark: bool, size: int = 32) -> QIcon:
    return QIcon(_verdict_pixmap(verdict, size, dark))


def verdict_pixmap(verdict: Verdict | None, dark: bool, size: int) -> QPixmap:
    return _verdict_pixmap(verdict, size, dark)


def _fill(p: QPainter, path: QPainterPath, colour: QColor) -> None:
    p.fillPath(path, colour)


def _ellipse(r: QRectF) -> QPainterPath:
    path = QPainterPath()
    path.addEllipse(r)
    return path


def _polygon(points: list[QPointF]) -> QPainterPath:
    path = QPainterPath()
    path.addPolygon(QPolygonF(points))
    path.closeSubpath()
    return path


def _at(r: QRectF, fx: float, fy: float) -> QPointF:
    return QPointF(r.left() + fx * r.width(), r.top() + fy * r.height())

"""Verdict badges: a distinct shape per verdict, so colour is never the only cue.

The shapes are SVG files in ``gui/assets/verdicts/`` (loaded through ``gui.resources``), drawn
as paths rather than font glyphs, because a station's fonts may lack ✔/✖ and because a
technician a metre away tells a disc from an octagon faster than one green from another. This
module keeps the small API the views use; pixmaps are cached per verdict, size and theme.
"""

from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap

from attest.verdict import Verdict
from gui.resources import SHAPE_NAMES, paint_verdict

__all__ = ["SHAPE_NAMES", "paint_verdict_shape", "verdict_icon", "verdict_pixmap"]


def paint_verdict_shape(p: QPainter, rect: QRectF, verdict: Verdict | None, dark: bool) -> None:
    """Paint the badge of ``verdict`` into ``rect``, centred in the largest square that fits."""
    side = min(rect.width(), rect.height())
    square = QRectF(rect.center().x() - side / 2, rect.center().y() - side / 2, side, side)
    p.save()
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    paint_verdict(p, square, verdict, dark)
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

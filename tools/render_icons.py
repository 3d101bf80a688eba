"""Render the app icon's PNG sizes from its SVG (gui/assets/icons/hicolor/scalable/apps/).

Run after editing the SVG, and commit the PNGs:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tools/render_icons.py

Qt's own SVG renderer draws them, the same one the app uses, so what the desktop shows at 16 px
is what the window shows. Small sizes are drawn at 4x and scaled down smoothly: thin pins and the
shield's outline then blend instead of snapping to whole pixels.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gui.resources import ICON_SIZES, app_icon_png, app_icon_svg, render_svg_image  # noqa: E402

ASSETS = ROOT / "gui" / "assets"


def main() -> int:
    _app = QGuiApplication([])
    renderer = QSvgRenderer(QByteArray((ASSETS / app_icon_svg()).read_bytes()))
    if not renderer.isValid():
        print(f"{app_icon_svg()}: not valid SVG", file=sys.stderr)
        return 1
    for size in ICON_SIZES:
        big = render_svg_image(renderer, size * 4)
        image = big.scaled(size, size, Qt.AspectRatioMode.IgnoreAspectRatio,
                           Qt.TransformationMode.SmoothTransformation)
        out = ASSETS / app_icon_png(size)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not image.save(str(out), "PNG"):
            print(f"could not write {out}", file=sys.stderr)
            return 1
        print(out.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())

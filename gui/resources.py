"""The one place the app's files are found and loaded: app icon, verdict badges.

Why package data read through ``importlib.resources`` (and not paths next to the repository or a
compiled ``.qrc``): the same code then works from a checkout (``pip install -e .``), from an
installed wheel and from the PyInstaller bundle, which copies ``gui/assets`` beside the
frozen modules. No ``pyside6-rcc`` step is needed to build.

Verdict badges are SVG files whose shapes differ (disc, triangle, octagon, diamond), so colour
is never the only cue. Their colours come from ``gui.theme``: each file carries the light
theme's colours in one ``<style>`` block, which is swapped for the theme in use when loaded.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

from PySide6.QtCore import QByteArray, QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from attest.verdict import Verdict
from gui.theme import verdict_colours

APP_ID = "org.rigattest.RigAttest"  # the desktop file, the AppStream id and the icon's name
#: Rendered PNG sizes of the app icon (tools/render_icons.py makes them from the SVG).
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)

_VERDICT_FILES = {Verdict.TRUSTED: "trusted", Verdict.WARNING: "warning", Verdict.UNTRUSTED: "untrusted",
                  Verdict.UNKNOWN: "unknown", None: "pending"}
SHAPE_NAMES = {Verdict.TRUSTED: "disc with a tick", Verdict.WARNING: "triangle with an exclamation mark",
               Verdict.UNTRUSTED: "octagon with a cross", Verdict.UNKNOWN: "diamond with a question mark",
               None: "hollow dot"}
_STYLE = re.compile(rb"<style[^>]*>.*?</style>", re.DOTALL)


class ResourceError(RuntimeError):
    """A resource file is missing or unreadable: the installation is broken, not the input."""


def root() -> Traversable:
    return resources.files("gui").joinpath("assets")


def read_bytes(relative: str) -> bytes:
    try:
        return root().joinpath(relative).read_bytes()
    except OSError as exc:
        raise ResourceError(f"missing resource gui/assets/{relative}: {exc}") from exc


def app_icon_svg() -> str:
    return f"icons/hicolor/scalable/apps/{APP_ID}.svg"


def app_icon_png(size: int) -> str:
    return f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png"


@lru_cache(maxsize=1)
def app_icon() -> QIcon:
    """The window and taskbar icon: the rendered PNGs (crisp at small sizes), the SVG above them."""
    icon = QIcon()
    for size in ICON_SIZES:
        pixmap = QPixmap()
        if pixmap.loadFromData(read_bytes(app_icon_png(size)), "PNG"):
            icon.addPixmap(pixmap)
    renderer = QSvgRenderer(QByteArray(read_bytes(app_icon_svg())))
    if renderer.isValid():
        icon.addPixmap(render_svg(renderer, 1024))
    return icon


def verdict_svg(verdict: Verdict | None, dark: bool) -> bytes:
    """The badge's SVG with the theme's colours for ``verdict`` (None: not checked yet)."""
    data = read_bytes(f"verdicts/{_VERDICT_FILES[verdict]}.svg")
    c = verdict_colours(verdict, dark)
    fill, ink, accent = c.fill.name(), c.text.name(), c.accent.name()
    style = (f'<style type="text/css">.fill{{fill:{fill};stroke:{fill};stroke-width:1.6;stroke-linejoin:round}}'
             f".ink{{fill:none;stroke:{ink};stroke-linecap:round;stroke-linejoin:round}}"
             f".dot{{fill:{ink}}}.ring{{fill:none;stroke:{accent}}}</style>").encode()
    themed, count = _STYLE.subn(lambda _m: style, data, count=1)
    if count != 1:
        raise ResourceError(f"gui/assets/verdicts/{_VERDICT_FILES[verdict]}.svg has no <style> block")
    return themed


@lru_cache(maxsize=16)
def verdict_renderer(verdict: Verdict | None, dark: bool) -> QSvgRenderer:
    renderer = QSvgRenderer(QByteArray(verdict_svg(verdict, dark)))
    if not renderer.isValid():
        raise ResourceError(f"gui/assets/verdicts/{_VERDICT_FILES[verdict]}.svg is not valid SVG")
    renderer.setAspectRatioMode(Qt.AspectRatioMode.KeepAspectRatio)
    return renderer


def paint_verdict(p: QPainter, rect: QRectF, verdict: Verdict | None, dark: bool) -> None:
    verdict_renderer(verdict, dark).render(p, rect)


def render_svg(renderer: QSvgRenderer, size: int) -> QPixmap:
    return QPixmap.fromImage(render_svg_image(renderer, size))


def render_svg_image(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(QSize(size, size), QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    renderer.render(p, QRectF(0, 0, size, size))
    p.end()
    return image


def check_resources() -> list[str]:
    """Every resource the app needs, loaded and rendered once: the problems, or [] when all is well.

    Used by ``attest-gui --self-test`` to catch a bundle that left a file behind.
    """
    problems: list[str] = []
    try:
        if not QSvgRenderer(QByteArray(read_bytes(app_icon_svg()))).isValid():
            problems.append(f"{app_icon_svg()} is not valid SVG")
        for size in ICON_SIZES:
            image = QImage.fromData(read_bytes(app_icon_png(size)), "PNG")
            if image.size() != QSize(size, size):
                problems.append(f"{app_icon_png(size)} is {image.width()}x{image.height()}, not {size}x{size}")
        for verdict in _VERDICT_FILES:
            for dark in (False, True):
                image = render_svg_image(verdict_renderer(verdict, dark), 32)
                if image.pixelColor(16, 16).alpha() == 0 and verdict is not None:
                    problems.append(f"the {verdict_name(verdict)} badge renders empty")
    except ResourceError as exc:
        problems.append(str(exc))
    return problems


def verdict_name(verdict: Verdict | None) -> str:
    return verdict.value if verdict is not None else "not-checked"

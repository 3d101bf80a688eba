"""The app's files: present, loadable, and badges that differ by shape, not only by colour."""

from __future__ import annotations

import itertools

import pytest
from PySide6.QtCore import QByteArray, QSize
from PySide6.QtGui import QImage
from PySide6.QtSvg import QSvgRenderer

import gui.resources as res
from attest.verdict import Verdict
from gui.theme import verdict_colours

BADGES = [Verdict.TRUSTED, Verdict.WARNING, Verdict.UNTRUSTED, Verdict.UNKNOWN, None]


def _structure(image: QImage) -> list[int]:
    """Each pixel as empty, dark or light: what is left of a badge without its hue."""
    out = []
    for y in range(image.height()):
        for x in range(image.width()):
            c = image.pixelColor(x, y)
            out.append(0 if c.alpha() < 128 else 1 if c.lightness() < 128 else 2)
    return out


def test_every_resource_loads():
    assert res.check_resources() == []


def test_app_icon_has_every_size_and_the_svg():
    icon = res.app_icon()
    assert not icon.isNull()
    sizes = {s.width() for s in icon.availableSizes()}
    assert set(res.ICON_SIZES) <= sizes
    for size in res.ICON_SIZES:
        image = QImage.fromData(res.read_bytes(res.app_icon_png(size)), "PNG")
        assert image.size() == QSize(size, size)
        assert image.pixelColor(size // 2, size // 2).alpha() == 255  # the shield, not a blank square
    assert QSvgRenderer(QByteArray(res.read_bytes(res.app_icon_svg()))).isValid()


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(BADGES, 2)))
def test_badges_differ_in_shape_not_only_colour(a, b):
    """Compare outline and glyph with the hue removed: a colour-blind technician must still tell them apart."""
    ma = _structure(res.render_svg_image(res.verdict_renderer(a, False), 32))
    mb = _structure(res.render_svg_image(res.verdict_renderer(b, False), 32))
    differing = sum(x != y for x, y in zip(ma, mb, strict=True))
    assert differing > 100, f"{res.verdict_name(a)} and {res.verdict_name(b)} have nearly the same outline"


@pytest.mark.parametrize("dark", [False, True])
@pytest.mark.parametrize("verdict", [Verdict.TRUSTED, Verdict.WARNING, Verdict.UNTRUSTED, Verdict.UNKNOWN])
def test_badges_take_the_theme_colours(verdict, dark):
    image = res.render_svg_image(res.verdict_renderer(verdict, dark), 64)
    fill = verdict_colours(verdict, dark).fill
    # A point inside every shape but below every glyph: centred, near the bottom.
    got = image.pixelColor(32, 55)
    assert (got.red(), got.green(), got.blue()) == (fill.red(), fill.green(), fill.blue())


def test_a_badge_file_without_its_style_block_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(res, "read_bytes", lambda _rel: b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    with pytest.raises(res.ResourceError, match="no <style> block"):
        res.verdict_svg(Verdict.TRUSTED, False)


def test_a_missing_file_is_reported_not_raised(monkeypatch):
    real = res.read_bytes

    def missing_png(relative: str) -> bytes:
        if relative.endswith(".png"):
            raise res.ResourceError(f"missing resource gui/assets/{relative}")
        return real(relative)

    monkeypatch.setattr(res, "read_bytes", missing_png)
    res.verdict_renderer.cache_clear()
    problems = res.check_resources()
    assert problems and "missing resource" in problems[0]

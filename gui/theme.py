"""Light and dark palettes, and the colours of the four verdicts in each.

The station follows the system colour scheme unless the operator picks one. Verdict colours are
never the only cue: every badge also has its own shape (gui/icons.py) and the verdict's word.
Colours were picked for contrast of at least 4.5:1 between a badge's fill and its text.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from attest.verdict import Verdict

THEMES = ("system", "light", "dark")


@dataclass(frozen=True)
class VerdictColours:
    fill: QColor
    text: QColor  # on the fill
    accent: QColor  # for text on the window background


_LIGHT = {
    Verdict.TRUSTED: ("#1b7a3a", "#ffffff", "#176a32"),
    Verdict.WARNING: ("#9a5400", "#ffffff", "#8a4b00"),
    Verdict.UNTRUSTED: ("#c0262d", "#ffffff", "#b0222a"),
    Verdict.UNKNOWN: ("#55606e", "#ffffff", "#4b5563"),
    None: ("#d7dbe0", "#1f2933", "#52606d"),
}
_DARK = {
    Verdict.TRUSTED: ("#52c47a", "#0b1f12", "#6fd694"),
    Verdict.WARNING: ("#f2a93b", "#231500", "#f6bd63"),
    Verdict.UNTRUSTED: ("#ff6f6f", "#2a0606", "#ff8a8a"),
    Verdict.UNKNOWN: ("#aab4c3", "#111820", "#c2cad6"),
    None: ("#3a4350", "#e4e7eb", "#b8c0cc"),
}


def is_dark(palette: QPalette | None = None) -> bool:
    pal = palette if palette is not None else QGuiApplication.palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def verdict_colours(verdict: Verdict | None, dark: bool | None = None) -> VerdictColours:
    table = _DARK if (is_dark() if dark is None else dark) else _LIGHT
    fill, text, accent = table[verdict]
    return VerdictColours(QColor(fill), QColor(text), QColor(accent))


def apply_theme(app: QApplication, theme: str) -> None:
    """``system`` follows the desktop's scheme; ``light``/``dark`` force one, on any platform."""
    app.setStyle("Fusion")  # one look everywhere, and its palettes are fully ours to set
    hints = app.styleHints()
    if theme == "dark" or (theme == "system" and hints.colorScheme() == Qt.ColorScheme.Dark):
        app.setPalette(dark_palette())
    else:
        app.setPalette(light_palette())


def light_palette() -> QPalette:
    return _palette(window="#f4f5f7", base="#ffffff", alt="#eef1f4", text="#16202b", button="#e9ecef",
                    highlight="#2563c9", highlighted_text="#ffffff", mid="#b8c0cc", disabled="#8a94a3",
                    link="#1d4fa5", tooltip="#fffbe6")


def dark_palette() -> QPalette:
    return _palette(window="#1e2228", base="#16191e", alt="#1c2026", text="#e6e9ed", button="#2a2f37",
                    highlight="#3b82f6", highlighted_text="#ffffff", mid="#4a5260", disabled="#7b8494",
                    link="#8ab4ff", tooltip="#2a2f37")


def _palette(*, window: str, base: str, alt: str, text: str, button: str, highlight: str,
             highlighted_text: str, mid: str, disabled: str, link: str, tooltip: str) -> QPalette:
    R = QPalette.ColorRole
    pal = QPalette()
    for role, colour in ((R.Window, window), (R.Base, base), (R.AlternateBase, alt), (R.Text, text),
                         (R.WindowText, text), (R.Button, button), (R.ButtonText, text),
                         (R.Highlight, highlight), (R.HighlightedText, highlighted_text),
                         (R.Mid, mid), (R.Midlight, button), (R.Dark, mid), (R.Link, link),
                         (R.ToolTipBase, tooltip), (R.ToolTipText, text), (R.PlaceholderText, disabled),
                         (R.BrightText, highlighted_text)):
        pal.setColor(role, QColor(colour))
    for role in (R.Text, R.WindowText, R.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor(disabled))
    return pal

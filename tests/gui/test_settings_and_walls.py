"""Settings persist and apply; the theme switch keeps both schemes legible; the GUI keeps to its
side of DESIGN.md's walls (devices only through fleet, the simulator only in demo mode)."""

from __future__ import annotations

import ast
from pathlib import Path

from PySide6.QtCore import QSettings

from attest.verdict import Verdict
from gui.dialogs.settings_dialog import SettingsDialog
from gui.settings import StationSettings, load_settings, save_settings
from gui.theme import apply_theme, is_dark, verdict_colours

GUI = Path(__file__).resolve().parents[2] / "gui"


def test_settings_round_trip_through_qsettings(tmp_path):
    store = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    save_settings(StationSettings(station_name="bench-2", operator="Ana", request_timeout=7.5, concurrency=32,
                                  theme="dark", ports="api=4028,web=8080,ssh=2222"), store)
    loaded = load_settings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    assert (loaded.station, loaded.operator, loaded.request_timeout, loaded.concurrency) == ("bench-2", "Ana", 7.5, 32)
    assert loaded.port_profile().web == 8080 and loaded.theme == "dark"


def test_settings_dialog_applies_the_dark_theme_and_back(qtbot, window, qapp):
    dialog = window.commands.settings_dialog()
    qtbot.addWidget(dialog)
    assert isinstance(dialog, SettingsDialog)
    dialog.operator.setText("Ana")
    dialog.theme.setCurrentText("dark")
    dialog.accept()
    try:
        assert window.settings.operator == "Ana"
        assert is_dark(qapp.palette())
        assert "operator Ana" in window.station_label_text
    finally:
        apply_theme(qapp, "light")
    assert not is_dark(qapp.palette())


def contrast(a, b) -> float:
    def lum(c):
        def ch(v):
            v /= 255
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
        return 0.2126 * ch(c.red()) + 0.7152 * ch(c.green()) + 0.0722 * ch(c.blue())
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_verdict_badges_are_legible_in_light_and_dark():
    for dark in (False, True):
        for verdict in Verdict:
            colours = verdict_colours(verdict, dark)
            assert contrast(colours.fill, colours.text) >= 4.5, (verdict, dark)


def gui_imports() -> dict[str, set[str]]:
    out = {}
    for path in GUI.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        out[str(path.relative_to(GUI))] = names
    return out


def test_gui_reaches_devices_only_through_fleet_and_starts_the_sim_only_in_demo_mode():
    for module, names in gui_imports().items():
        assert not any(n.startswith("attest.transport") for n in names), module
        drivers = {n for n in names if n.startswith("attest.drivers")}
        assert drivers <= {"attest.drivers.base"}, (module, drivers)  # plain data types only
        if module != "demo.py":
            assert not any(n.startswith("attest.sim") for n in names), module

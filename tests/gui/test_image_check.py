"""File ▸ Verify firmware file and firmware dropped on the window: the verdict, reasons and
findings of `attest image`, checked off the GUI thread and shown as plain text."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent

from attest.verdict import Verdict
from gui.dialogs.image_check import ImageCheckDialog, is_manifest, split_drop
from tests.conftest import skip_unless_ci
from tests.image import builders as b

ANTBLEED = b"\x7fELF" + b"\0" * 32 + b"<b>auth.minerlink.com</b>\0setup_send_mac_socket\0"


@pytest.fixture
def antbleed_rootfs(tmp_path: Path) -> Path:
    if b.missing_tools():
        skip_unless_ci("image tools not installed")
    src = b.tree(tmp_path / "root", {"usr/bin/bmminer": ANTBLEED, "etc/version": "2017.04.1\n"})
    return b.squashfs(src, tmp_path / "rootfs.squashfs")


def test_drop_is_split_by_content_not_name(tmp_path: Path, signed_fleet) -> None:
    out, _ = signed_fleet
    disguised = tmp_path / "firmware.bin"
    disguised.write_bytes((out / "manifest.dsse.json").read_bytes())
    blob = tmp_path / "manifest.json"
    blob.write_bytes(b"\x1f\x8b\x08\x00 not json at all")
    assert is_manifest(disguised) and not is_manifest(blob)
    assert split_drop([disguised, blob]) == ([disguised], [blob])


def test_dropped_firmware_file_shows_verdict_reasons_and_findings(qtbot, window, antbleed_rootfs: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(antbleed_rootfs))])
    event = QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    [dialog] = window.findChildren(ImageCheckDialog)
    with qtbot.waitSignal(dialog.finished_check, timeout=20000) as blocker:
        pass
    appraisal = blocker.args[0] if blocker.args else dialog.appraisal
    assert appraisal is not None and appraisal.verdict is Verdict.UNTRUSTED
    assert dialog.verdict_label.text() == "UNTRUSTED: do not flash this file"
    assert dialog.top_label.text() == "The file holds a known backdoor indicator. (BACKDOOR_INDICATOR)"
    assert "unit" not in dialog.reasons.text().lower()  # a file has no unit to quarantine
    text = dialog.findings.toPlainText()
    assert "BACKDOOR_INDICATOR: usr/bin/bmminer: antbleed: " in text
    assert "<b>auth.minerlink.com</b>" in text  # file bytes shown as the characters they are
    assert dialog.verdict_label.textFormat() == Qt.TextFormat.PlainText
    assert not window.station.manifests  # a firmware file is never taken for a manifest


def test_file_menu_has_verify_firmware_file(window) -> None:
    action = window.actions["verify_firmware"]
    assert action.text() == "Verify &firmware file…"
    assert any(a is action for a in window.menuBar().actions()[0].menu().actions())


def test_unreadable_file_says_not_checked(qtbot, window, tmp_path: Path) -> None:
    from gui.dialogs.image_check import check_files

    [dialog] = check_files(window, [tmp_path / "missing.bin"], None, ())
    with qtbot.waitSignal(dialog.finished_check, timeout=20000):
        pass
    assert dialog.verdict_label.text() == "Not checked" and "Cannot read" in dialog.findings.toPlainText()


def test_a_green_line_beside_an_untrusted_finding_says_what_it_covers(qtbot, tmp_path) -> None:
    """The demo's antbleed update file: its images match a signed release, its miner binary holds a
    backdoor. The match is shown under a caveat, worded for a file, naming the images it covers."""
    import json

    from attest.image.appraise_image import check_file
    from attest.manifest import load_manifest
    from attest.trust import TrustStore
    from gui.dialogs.image_check import ImageCheckDialog
    from gui.views.reasons import CAVEAT
    from tests.gui.conftest import write_signed_fleet

    out = tmp_path / "fleet"
    write_signed_fleet(out, count=13, scenario="mixed")
    fleet = json.loads((out / "fleet.json").read_text())
    path = next(r["firmware_file"] for r in fleet["rigs"] if r["scenario"] == "antbleed")
    trust = TrustStore.load(out / "trust")
    appraisal = check_file(path, trust, [load_manifest(out / "manifest.dsse.json", trust)])
    dialog = ImageCheckDialog(Path(path))
    qtbot.addWidget(dialog)
    dialog.show_result(appraisal)
    text = dialog.reasons.text()
    assert text.index("The file holds a known backdoor indicator.") < text.index(CAVEAT)
    assert text.index(CAVEAT) < text.index("These images in the file match a release the manufacturer signed")
    assert "Every measured flash image" not in text and "Quarantine the unit" not in text


def test_the_firmware_file_dialog_opens_in_the_demo_firmware_folder(qtbot, window, monkeypatch, tmp_path) -> None:
    from PySide6.QtWidgets import QFileDialog

    from gui.demo import DemoFleet

    seen: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *args: (seen.append(args[2]), ([], ""))[1])
    window.demo = DemoFleet(None, tmp_path / "sim", window.station.ports, [])  # type: ignore[arg-type]
    try:
        window.actions["verify_firmware"].trigger()
    finally:
        window.demo = None
    assert seen == [str(tmp_path / "sim" / "firmware")]


def test_a_file_that_would_exhaust_memory_is_read_in_a_child_and_the_window_lives(qtbot, window, tmp_path,
                                                                                   monkeypatch) -> None:
    """The check used to run in the window's own process: a file past the readers' budgets
    would have taken the window down with it. Here the child's memory cap is lowered so 256 MB
    of zeros (a 250 KB gzip) exceed it: the child runs out, the dialog says so, the window stays."""
    import zlib

    import gui.dialogs.image_check as image_check
    from attest.image.limits import Limits

    d = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = tmp_path / "firmware.gz"
    bomb.write_bytes(b"".join(d.compress(bytes(1 << 20)) for _ in range(256)) + d.flush())
    monkeypatch.setattr(image_check, "CHECK_LIMITS", Limits(max_memory_bytes=160 << 20))
    import resource
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(bomb))])
    window.dropEvent(QDropEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                Qt.KeyboardModifier.NoModifier))
    [dialog] = window.findChildren(ImageCheckDialog)
    qtbot.waitUntil(lambda: dialog.appraisal is not None, timeout=60_000)
    assert dialog.appraisal.verdict is Verdict.UNKNOWN
    assert dialog.verdict_label.text().startswith("UNKNOWN: not verified")
    assert dialog.appraisal.top_reason.code == "IMAGE_TOO_COSTLY"
    assert "needs more memory than its budget" in dialog.findings.toPlainText()
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before  # KiB on Linux
    assert grown < 64 << 10  # the 256 MB were expanded in the child, never in the window's process

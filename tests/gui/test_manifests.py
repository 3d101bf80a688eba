"""Manifests and trust in the window: accepted ones show their signer chain; refused ones show the
reason and are never used; the trust store dialog changes what counts."""

from __future__ import annotations

import json

from attest.sim.runner import ISSUER
from gui.dialogs.trust_store import TrustStoreDialog
from gui.station import Station


def load(qtbot, window, *paths):
    with qtbot.waitSignal(window.manifestsChanged, timeout=10_000):
        window.load_manifests(list(paths))


def test_a_signed_manifest_shows_issuer_sequence_validity_devices_and_signers(qtbot, window, signed_fleet):
    out, rigs = signed_fleet
    window.station.open_trust(out / "trust")
    load(qtbot, window, out / "manifest.dsse.json")
    assert len(window.station.accepted()) == 1
    text = window.manifests.text()
    assert f"{ISSUER} — sequence" in text
    assert f"{len(rigs)} devices" in text
    assert "Valid " in text and " → " in text
    assert "Signed by" in text and "chain:" in text and "Sub-CA" in text


def test_a_file_that_is_not_a_manifest_is_refused_with_its_reason_and_not_used(qtbot, window, signed_fleet, tmp_path):
    out, _ = signed_fleet
    window.station.open_trust(out / "trust")
    junk = tmp_path / "photo.json"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n not a manifest")
    load(qtbot, window, junk)
    assert window.station.accepted() == ()
    text = window.manifests.text()
    assert "REFUSED — photo.json" in text
    assert "MANIFEST_MALFORMED" in text
    assert "Not used for checks." in text


def test_a_tampered_manifest_is_refused_as_altered(qtbot, window, signed_fleet, tmp_path):
    out, _ = signed_fleet
    window.station.open_trust(out / "trust")
    envelope = json.loads((out / "manifest.dsse.json").read_text())
    envelope["payload"] = envelope["payload"][:-8] + "AAAAAAA="
    bad = tmp_path / "tampered.dsse.json"
    bad.write_text(json.dumps(envelope))
    load(qtbot, window, bad, out / "manifest.dsse.json")
    assert len(window.station.accepted()) == 1  # the good one is still used
    assert "REFUSED — tampered.dsse.json" in window.manifests.text()


def test_trust_dialog_imports_and_removes_a_root_and_manifests_are_rechecked(qtbot, window, signed_fleet, tmp_path):
    out, _ = signed_fleet
    window.station = Station()
    window.station.open_trust(tmp_path / "empty-trust", create=True)
    load(qtbot, window, out / "manifest.dsse.json")
    assert "MANIFEST_SIGNER_UNKNOWN" in window.manifests.text()
    dialog = TrustStoreDialog(window.station.trust, window.jobs, window)
    qtbot.addWidget(dialog)
    dialog.changed.connect(window.recheck_manifests)
    root = next((out / "trust" / "roots").glob("*.pem"))
    with qtbot.waitSignal(window.manifestsChanged, timeout=10_000):
        dialog.import_file("root", root)
    assert dialog.tree.topLevelItemCount() == 1
    assert dialog.tree.topLevelItem(0).text(0) == "Vendor root"
    assert len(window.station.accepted()) == 1
    root_id = dialog.tree.topLevelItem(0).data(0, 256)
    with qtbot.waitSignal(window.manifestsChanged, timeout=10_000):
        dialog.remove_id(root_id)
    assert dialog.tree.topLevelItemCount() == 0
    assert window.station.accepted() == ()


def test_trust_dialog_reports_a_bad_file_plainly(qtbot, window, tmp_path):
    window.station.open_trust(tmp_path / "trust", create=True)
    dialog = TrustStoreDialog(window.station.trust, window.jobs, window)
    qtbot.addWidget(dialog)
    bogus = tmp_path / "root.pem"
    bogus.write_text("<b>not a certificate</b>")
    dialog.import_file("root", bogus)
    qtbot.waitUntil(lambda: dialog.message.text().startswith("Not changed:"), timeout=5000)
    assert dialog.tree.topLevelItemCount() == 0


def test_an_older_sequence_of_one_issuer_is_superseded_in_either_load_order(qtbot, window, tmp_path):
    """Sequence 43 withdraws every release sequence 42 lists. Loaded one after the other, in
    either order, only 43 is used; 42 is listed as superseded. (Before: 42 then 43 kept both in
    use, so a rig running a withdrawn release matched 42; 43 then 42 refused 42 as a rollback.)"""
    from tests.manifest_helpers import ISSUER as HELPER_ISSUER
    from tests.manifest_helpers import manifest_payload, signed, store_for, vendor

    pki = vendor()
    store_for(tmp_path / "trust", pki)
    old, new = tmp_path / "m42.dsse.json", tmp_path / "m43.dsse.json"
    old.write_bytes(signed([pki.signer()], manifest_payload(sequence=42)))
    new.write_bytes(signed([pki.signer()], manifest_payload(sequence=43, firmware=[])))
    for first, second in ((old, new), (new, old)):
        window.station = Station()
        window.station.open_trust(tmp_path / "trust")
        load(qtbot, window, first)
        load(qtbot, window, second)
        assert [m.sequence for m in window.station.accepted()] == [43]
        text = window.manifests.text()
        assert f"SUPERSEDED — {HELPER_ISSUER} — sequence 42" in text
        assert "superseded by sequence 43 of the same issuer" in text and "REFUSED" not in text

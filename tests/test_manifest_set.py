"""Of several manifests from one issuer only the highest sequence is used, whatever the order they
are loaded in (the CLI's order: tests/image/test_cli_image.py; the GUI's: tests/gui/test_manifests.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from attest.manifest_set import load_manifest_files, newest_per_issuer
from attest.station_state import StationState
from tests.manifest_helpers import ISSUER, NOW, manifest_payload, signed, store_for, vendor


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def two_sequences(tmp_path: Path) -> tuple[object, Path, Path]:
    """Sequence 42 lists the rootfs release; sequence 43 withdraws it (no firmware at all)."""
    pki = vendor()
    trust = store_for(tmp_path / "trust", pki)
    old = write(tmp_path / "m42.dsse.json", signed([pki.signer()], manifest_payload(sequence=42)))
    new = write(tmp_path / "m43.dsse.json", signed([pki.signer()], manifest_payload(sequence=43, firmware=[])))
    return trust, old, new


@pytest.mark.parametrize("order", ["old-first", "new-first"])
def test_only_the_newest_of_one_issuer_is_used_whatever_the_order(two_sequences, tmp_path, order) -> None:
    trust, old, new = two_sequences
    paths = [old, new] if order == "old-first" else [new, old]
    loads = load_manifest_files(paths, trust, state=StationState(tmp_path / "state.json"), now=NOW)
    used = [x.manifest.sequence for x in loads if x.used]
    assert used == [43]
    [superseded] = [x for x in loads if x.superseded_by is not None]
    assert superseded.path == old and superseded.superseded_by.sequence == 43 and not superseded.code
    assert StationState(tmp_path / "state.json").accepted()[ISSUER].sequence == 43


def test_the_appraisal_itself_ignores_a_superseded_manifest(two_sequences, tmp_path) -> None:
    trust, old, new = two_sequences
    loads = load_manifest_files([old, new], trust, state=None, now=NOW)
    both = [x.manifest for x in load_manifest_files([old], trust, state=None, now=NOW)] + \
        [x.manifest for x in loads if x.used]
    assert [m.sequence for m in newest_per_issuer(both)] == [43]
    assert [m.sequence for m in newest_per_issuer(reversed(both))] == [43]

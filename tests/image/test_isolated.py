"""The file is read in a child process with a hard memory cap and deadline: whatever it costs
there, the station (the CLI, the GUI window) is untouched and the verdict says what was not read."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from attest.image.appraise_image import appraise_inspection
from attest.image.isolated import check_file_isolated, inspect_isolated
from attest.image.limits import Limits
from attest.image.walk import inspect_file
from attest.image.wire import inspection_to_json
from attest.manifest import Manifest
from attest.trust import TrustStore
from attest.verdict import Verdict
from tests.image.conftest import Kit

pytestmark = pytest.mark.timeout(120)


def zero_bomb(path: Path, megabytes: int) -> Path:
    """A gzip stream of zeros: about a thousandth of its expanded size."""
    d = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    path.write_bytes(b"".join(d.compress(chunk) for _ in range(megabytes)) + d.flush())
    return path


def test_the_child_reads_a_file_exactly_as_the_station_would(kit: Kit, trust: TrustStore, manifest: Manifest) -> None:
    for name in ("genuine", "dump"):
        isolated = inspect_isolated(kit[name], trust, layouts=[r.flash_layout for r in manifest.firmware])
        here = inspect_file(kit[name], trust, layouts=[r.flash_layout for r in manifest.firmware])
        assert inspection_to_json(isolated) == inspection_to_json(here)
    assert check_file_isolated(str(kit["genuine"]), trust, [manifest]).verdict is Verdict.TRUSTED


def test_a_file_that_needs_more_memory_than_the_cap_is_too_costly_and_the_station_lives(tmp_path: Path) -> None:
    """256 MB of zeros in a 250 KB gzip, within the byte caps but over a 160 MB memory cap: the
    child runs out, the station does not."""
    bomb = zero_bomb(tmp_path / "zeros.gz", 256)
    inspection = inspect_isolated(bomb, limits=Limits(max_memory_bytes=160 << 20))
    [finding] = inspection.findings
    assert finding.code == "IMAGE_TOO_COSTLY"
    assert "memory" in finding.detail and "left unread" in finding.detail
    assert appraise_inspection(inspection, []).verdict is Verdict.UNKNOWN


def test_a_child_past_its_deadline_is_stopped_and_the_file_is_named_unread(tmp_path: Path) -> None:
    bomb = zero_bomb(tmp_path / "zeros.gz", 4)
    inspection = inspect_isolated(bomb, limits=Limits(max_seconds=0), grace_seconds=0)
    [finding] = inspection.findings
    assert finding.code == "IMAGE_TOO_COSTLY"
    assert finding.detail == ("the check of this file ran past 0 s and was stopped; left unread: the file and "
                              "everything after it")
    assert inspection.root.sha256.startswith("sha256:") and inspection.root.size == bomb.stat().st_size

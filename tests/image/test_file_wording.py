"""A firmware file's result speaks of a file: no unit to quarantine, no "every flash image" beside
a backdoor, and an unknown format said as such (issue 18)."""

from __future__ import annotations

import os

import pytest

from attest.cli import main
from attest.image.appraise_image import check_file
from attest.manifest import load_manifest
from attest.trust import TrustStore
from attest.verdict import Status, Verdict
from tests.image.conftest import Kit


def test_a_backdoored_file_is_worded_for_a_file(kit: Kit) -> None:
    trust = TrustStore.load(kit.trust)
    result = check_file(str(kit["antbleed"]), trust, [load_manifest(kit.manifest, trust)])
    assert result.verdict is Verdict.UNTRUSTED
    backdoor = next(r for r in result.reasons if r.code == "BACKDOOR_INDICATOR")
    assert backdoor.message == "The file holds a known backdoor indicator."
    assert backdoor.remediation.startswith("Do not flash this file")
    for r in result.reasons:
        assert "unit" not in r.remediation.lower(), (r.code, r.remediation)
        assert "every measured flash image" not in r.message.lower(), r.code


def test_a_file_that_matches_a_release_says_which_images_it_covers(kit: Kit) -> None:
    trust = TrustStore.load(kit.trust)
    result = check_file(str(kit["genuine"]), trust, [load_manifest(kit.manifest, trust)])
    signed = next(r for r in result.reasons if r.code == "FIRMWARE_SIGNED_RELEASE")
    assert signed.status is Status.AFFIRMING
    assert "only the ones the detail names" in signed.message and "rootfs" in signed.detail


def test_unrecognised_bytes_without_a_manifest_say_the_format_was_not_recognised(tmp_path, capsys) -> None:
    junk = tmp_path / "firmware.bin"
    junk.write_bytes(os.urandom(4096))
    assert main(["image", str(junk)]) == 3
    out = capsys.readouterr().out
    assert "IMAGE_FORMAT_UNKNOWN (the format was not recognised" in out.splitlines()[1]
    assert "NO_MANIFEST: No manifest was given" in out
    assert "1 file: 0 trusted" in out


@pytest.mark.parametrize("manifest", [False, True])
def test_unrecognised_bytes_are_the_top_reason_with_or_without_a_manifest(kit: Kit, tmp_path, manifest) -> None:
    junk = tmp_path / "firmware.bin"
    junk.write_bytes(os.urandom(4096))
    trust = TrustStore.load(kit.trust)
    manifests = [load_manifest(kit.manifest, trust)] if manifest else []
    result = check_file(str(junk), trust, manifests)
    assert result.verdict is Verdict.UNKNOWN
    assert result.top_reason is not None and result.top_reason.code == "IMAGE_FORMAT_UNKNOWN"

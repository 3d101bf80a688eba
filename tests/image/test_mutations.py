"""Damaged copies of every test image (bit flips, overwritten blocks, zeroed runs, truncation):
each inspection ends in a verdict, never an exception, and quickly; and no copy whose signed
content changed is ever TRUSTED.

"Signed content" is every layer the verdict can rest on: a layer whose digest a manifest release
lists, or one a vendor signature covers. A damaged copy may stay TRUSTED only if all of those
are byte for byte the original's (the damage fell in tar padding, a header field no unpacker
uses, per-unit flash...); and then GNU tar must list the same members as our reader."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from attest.image.appraise_image import check_file
from attest.image.walk import inspect_file
from attest.manifest import Manifest
from attest.trust import TrustStore
from attest.verdict import Verdict
from tests.image.conftest import Kit
from tests.image.test_hidden_members import assert_tar_members_agree

SOURCES = ("genuine", "bmu", "aup", "ubi", "dump")
EXTRA = ("uImage", "uramdisk.image.gz", "rootfs-genuine.squashfs", "ramdisk.ext2", "ubi/rootfs.ubifs")


def mutate(data: bytes, rnd: random.Random) -> bytes:
    d = bytearray(data)
    mode = rnd.choice(("flip", "block", "zero", "truncate"))
    at = rnd.randrange(len(d))
    if mode == "flip":
        for _ in range(rnd.randint(1, 8)):
            d[rnd.randrange(len(d))] ^= 1 << rnd.randrange(8)
    elif mode == "block":
        d[at:at + 64] = bytes(rnd.randrange(256) for _ in range(64))
    elif mode == "zero":
        d[at:at + 512] = bytes(512)
    else:
        del d[at:]
    return bytes(d)


def signed_content(path: Path, trust: TrustStore, manifest: Manifest) -> set[tuple[str, str]]:
    listed = {d for r in manifest.firmware for d in (*r.images.values(), *r.packages.values())}
    layouts = [r.flash_layout for r in manifest.firmware if r.flash_layout]
    return {(n.path, n.sha256) for n in inspect_file(path, trust, layouts=layouts).nodes()
            if n.sha256 and (n.sha256 in listed or n.vendor_signed)}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", SOURCES + EXTRA)
def test_damaged_copies_end_in_a_verdict_and_none_with_changed_signed_content_is_trusted(
        kit: Kit, trust: TrustStore, manifest: Manifest, tmp_path: Path, name: str) -> None:
    source = kit[name] if name in kit.files else kit.root / name
    original = source.read_bytes()
    vouched = signed_content(source, trust, manifest)
    rnd = random.Random(name)
    target = tmp_path / ("damaged" + "".join(source.suffixes))
    for _ in range(12):
        target.write_bytes(mutate(original, rnd))
        started = time.monotonic()
        appraisal = check_file(str(target), trust, [manifest])
        assert isinstance(appraisal.verdict, Verdict)
        assert time.monotonic() - started < 10
        if appraisal.verdict is Verdict.TRUSTED:
            assert signed_content(target, trust, manifest) == vouched, "signed content changed, yet TRUSTED"
            assert_tar_members_agree(target)

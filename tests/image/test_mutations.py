"""Damaged copies of every test image (bit flips, overwritten blocks, zeroed runs, truncation):
each inspection ends in a verdict, never an exception, and quickly."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from attest.image.appraise_image import check_file
from attest.manifest import Manifest
from attest.trust import TrustStore
from attest.verdict import Verdict
from tests.image.conftest import Kit

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


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", SOURCES + EXTRA)
def test_damaged_copies_end_in_a_verdict(kit: Kit, trust: TrustStore, manifest: Manifest, tmp_path: Path,
                                         name: str) -> None:
    original = (kit[name] if name in kit.files else kit.root / name).read_bytes()
    rnd = random.Random(name)
    target = tmp_path / "damaged"
    for _ in range(12):
        target.write_bytes(mutate(original, rnd))
        started = time.monotonic()
        appraisal = check_file(str(target), trust, [manifest])
        assert isinstance(appraisal.verdict, Verdict)
        assert time.monotonic() - started < 10

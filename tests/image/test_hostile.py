"""Hostile files are the normal case: each ends in a clear UNKNOWN or UNTRUSTED reason, with no
traceback, no hang and nothing written outside the inspection's private temporary directory."""

from __future__ import annotations

import gzip
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from attest.image.appraise_image import check_file
from attest.image.limits import Limits
from attest.image.walk import inspect_file
from attest.manifest import Manifest
from attest.trust import TrustStore
from attest.verdict import Verdict
from tests.conftest import skip_unless_ci
from tests.image import builders as b
from tests.image.conftest import Kit

pytestmark = pytest.mark.timeout(30)
#: A file that is not in the manifest is also UNTRUSTED by digest; either way, never a pass.
NOT_A_PASS = (Verdict.UNKNOWN, Verdict.UNTRUSTED)


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Inspections run with an empty working directory and an empty temp root; both must still be
    empty afterwards (the private temp dir is gone, and nothing escaped it)."""
    work, temp = tmp_path / "cwd", tmp_path / "tmp"
    work.mkdir()
    temp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    yield tmp_path / "in"
    assert list(work.iterdir()) == []
    assert list(temp.iterdir()) == []


def codes_of(path: Path, trust: TrustStore, manifest: Manifest) -> tuple[Verdict, list[str]]:
    a = check_file(str(path), trust, [manifest])
    return a.verdict, [r.code for r in a.reasons]


def _tar_with(src: Path, out: Path, *members: str) -> Path:
    return b.tar(out, src, list(members), extra=["-P"])


def test_path_traversal_member_is_untrusted(sandbox: Path, tmp_path: Path, trust: TrustStore,
                                           manifest: Manifest) -> None:
    inner = b.tree(tmp_path / "t" / "a", {"ok.txt": "fine\n"})
    (tmp_path / "t" / "evil.sh").write_text("echo pwned\n")
    out = _tar_with(inner, tmp_path / "trav.tar", "ok.txt", "../evil.sh")
    verdict, codes = codes_of(out, trust, manifest)
    assert verdict is Verdict.UNTRUSTED and "IMAGE_UNSAFE_MEMBER" in codes


def test_absolute_path_member_is_untrusted(sandbox: Path, tmp_path: Path, trust: TrustStore,
                                           manifest: Manifest) -> None:
    src = b.tree(tmp_path / "abs", {"etc/passwd": "root::0:0::/:/bin/sh\n"})
    out = _tar_with(src, tmp_path / "abs.tar", str(src / "etc" / "passwd"))
    a = check_file(str(out), trust, [manifest])
    assert a.verdict is Verdict.UNTRUSTED
    assert any(r.code == "IMAGE_UNSAFE_MEMBER" and "absolute path" in r.detail for r in a.reasons)


def test_symlink_escaping_the_folder_is_untrusted(sandbox: Path, tmp_path: Path, trust: TrustStore,
                                                 manifest: Manifest) -> None:
    src = tmp_path / "sym"
    src.mkdir()
    os.symlink("../../../../etc/shadow", src / "shadow")
    verdict, codes = codes_of(b.tar(tmp_path / "sym.tar", src, ["shadow"]), trust, manifest)
    assert verdict is Verdict.UNTRUSTED and "IMAGE_UNSAFE_MEMBER" in codes


def test_hard_link_is_untrusted(sandbox: Path, tmp_path: Path, trust: TrustStore, manifest: Manifest) -> None:
    src = b.tree(tmp_path / "hl", {"a": "data\n"})
    os.link(src / "a", src / "b")
    a = check_file(str(b.tar(tmp_path / "hl.tar", src, ["a", "b"])), trust, [manifest])
    assert a.verdict is Verdict.UNTRUSTED
    assert any(r.code == "IMAGE_UNSAFE_MEMBER" and "hard link" in r.detail for r in a.reasons)


def test_device_node_is_untrusted(sandbox: Path, tmp_path: Path, trust: TrustStore, manifest: Manifest) -> None:
    src = tmp_path / "dev"
    src.mkdir()
    out = tmp_path / "dev.tar"
    script = f"mknod {src}/mem c 1 1 && tar -C {src} -cf {out} mem"
    if os.geteuid() == 0:
        b.run("sh", "-c", script)
    elif shutil.which("fakeroot"):
        b.run("fakeroot", "sh", "-c", script)
    else:
        skip_unless_ci("making a device node needs root or fakeroot")
    a = check_file(str(out), trust, [manifest])
    assert a.verdict is Verdict.UNTRUSTED
    assert any(r.code == "IMAGE_UNSAFE_MEMBER" and "device node" in r.detail for r in a.reasons)


def test_decompression_bomb_stops_at_the_cap(sandbox: Path, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.gz"
    bomb.write_bytes(b.run("sh", "-c", "head -c 67108864 /dev/zero | gzip -9"))
    assert bomb.stat().st_size < 1 << 20
    inspection = inspect_file(bomb, limits=Limits(max_member_bytes=8 << 20, max_expanded_bytes=16 << 20))
    assert [f.code for f in inspection.findings] == ["IMAGE_LIMIT_EXCEEDED"]


def test_archive_of_too_many_entries_stops_at_the_cap(sandbox: Path, tmp_path: Path) -> None:
    src = b.tree(tmp_path / "many", {f"f{i}": "" for i in range(600)})
    out = b.tar(tmp_path / "many.tar", src, sorted(p.name for p in src.iterdir()))
    inspection = inspect_file(out, limits=Limits(max_entries=500))
    assert [f.code for f in inspection.findings] == ["IMAGE_LIMIT_EXCEEDED"]


def test_containers_nested_past_the_depth_cap_end_unknown(sandbox: Path, tmp_path: Path, trust: TrustStore,
                                                          manifest: Manifest) -> None:
    data = b"innermost\n"
    for _ in range(24):
        data = gzip.compress(data, mtime=0)
    (tmp_path / "deep.gz").write_bytes(data)
    a = check_file(str(tmp_path / "deep.gz"), trust, [manifest])
    assert a.verdict is Verdict.UNKNOWN
    assert a.top_reason is not None and a.top_reason.code == "IMAGE_LIMIT_EXCEEDED"
    assert "nest deeper" in a.top_reason.detail


def test_filesystem_directory_loop_is_refused(sandbox: Path, tmp_path: Path, trust: TrustStore,
                                              manifest: Manifest) -> None:
    image = b.ext2(b.tree(tmp_path / "loop", {"d/f": "x\n"}), tmp_path / "loop.ext2", kib=512)
    b.run("debugfs", "-w", "-R", "link /d /d/again", image)  # a directory that contains itself
    verdict, codes = codes_of(image, trust, manifest)
    assert verdict in NOT_A_PASS and "IMAGE_NESTING_LOOP" in codes


def test_layer_equal_to_its_container_is_a_loop(sandbox: Path, tmp_path: Path) -> None:
    """A container whose payload is its own bytes (as in a gzip quine) is followed once, never again."""
    from attest.image import walk

    path = b.tar(tmp_path / "self.tar", b.tree(tmp_path / "s", {"x": "y"}), ["x"])
    original = walk.READERS["tar"]
    walk.READERS["tar"] = lambda ctx, data, p: iter([walk.Child("again", data)])
    try:
        inspection = inspect_file(path)
    finally:
        walk.READERS["tar"] = original
    assert [f.code for f in inspection.findings] == ["IMAGE_NESTING_LOOP"]


def test_truncated_package_is_unknown(sandbox: Path, kit: Kit, tmp_path: Path, trust: TrustStore,
                                      manifest: Manifest) -> None:
    data = kit["genuine"].read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    verdict, codes = codes_of(tmp_path / "cut.tar.gz", trust, manifest)
    assert verdict is Verdict.UNKNOWN and "IMAGE_TRUNCATED" in codes, codes


def test_corrupt_package_is_refused(sandbox: Path, kit: Kit, tmp_path: Path, trust: TrustStore,
                                    manifest: Manifest) -> None:
    data = bytearray(kit["genuine"].read_bytes())
    middle = len(data) // 2
    data[middle:middle + 4096] = random.Random(4096).randbytes(4096)  # seeded: the same damage every run
    (tmp_path / "bad.tar.gz").write_bytes(bytes(data))
    verdict, codes = codes_of(tmp_path / "bad.tar.gz", trust, manifest)
    assert verdict in NOT_A_PASS
    # deflate fed garbage either fails at once, decodes to a wrong CRC, or runs past the end
    assert {"IMAGE_CORRUPT", "IMAGE_CHECKSUM_MISMATCH", "IMAGE_TRUNCATED"} & set(codes)


def test_uimage_declaring_more_than_the_file_holds_is_truncated(sandbox: Path, kit: Kit, tmp_path: Path,
                                                                trust: TrustStore, manifest: Manifest) -> None:
    data = (kit.root / "uImage").read_bytes()
    (tmp_path / "short.uImage").write_bytes(data[:-100])
    verdict, codes = codes_of(tmp_path / "short.uImage", trust, manifest)
    assert verdict in NOT_A_PASS and codes[0] == "IMAGE_TRUNCATED"


def test_squashfs_declaring_more_than_the_file_holds_is_truncated(sandbox: Path, kit: Kit, tmp_path: Path,
                                                                  trust: TrustStore, manifest: Manifest) -> None:
    data = (kit.root / "rootfs-genuine.squashfs").read_bytes()
    bytes_used = int.from_bytes(data[40:48], "little")  # the superblock's size of the image
    (tmp_path / "short.squashfs").write_bytes(data[:bytes_used - 100])
    verdict, codes = codes_of(tmp_path / "short.squashfs", trust, manifest)
    assert verdict in NOT_A_PASS and codes[0] == "IMAGE_TRUNCATED"


def test_unrecognised_bytes_are_unverifiable_never_a_pass(sandbox: Path, tmp_path: Path, trust: TrustStore,
                                                          manifest: Manifest) -> None:
    (tmp_path / "blob.bin").write_bytes(os.urandom(4096))
    verdict, codes = codes_of(tmp_path / "blob.bin", trust, manifest)
    assert verdict is Verdict.UNKNOWN and "IMAGE_FORMAT_UNKNOWN" in codes


def test_empty_file_is_unknown(sandbox: Path, tmp_path: Path, trust: TrustStore, manifest: Manifest) -> None:
    (tmp_path / "empty").write_bytes(b"")
    verdict, codes = codes_of(tmp_path / "empty", trust, manifest)
    assert verdict is Verdict.UNKNOWN and "IMAGE_TRUNCATED" in codes, codes

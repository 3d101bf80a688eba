"""The serial console driver against a real U-Boot: Debian's qemu_arm build, booted by QEMU.

QEMU's ``-serial pty`` gives the board's UART as a real pseudo-terminal, so ``attest collect
serial:///dev/pts/N`` runs exactly as it would on a USB-UART adapter. What U-Boot prints is
checked against the U-Boot binary itself: its version banner and its default environment are
strings inside ``u-boot.bin``, so a claim that did not come from this U-Boot cannot pass.

CI installs ``qemu-system-arm`` and ``u-boot-qemu`` (.ci/run) and must run these; elsewhere they
skip when QEMU or the U-Boot image is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from attest.drivers.base import CollectOptions
from attest.drivers.console_text import UBOOT_PROMPT, tail
from attest.drivers.uboot import UBoot, choose_hash_algorithm, parse_hash, parse_version
from attest.transport.serial import open_link
from tests.conftest import skip_unless_ci

UBOOT_BIN = Path("/usr/lib/u-boot/qemu_arm/u-boot.bin")
PTY_LINE = re.compile(r"char device redirected to (/dev/pts/\d+)")
#: RAM on QEMU's arm virt board starts at 0x40000000; U-Boot's own loadaddr is 0x40200000.
SCRATCH = 0x40200000


def _qemu() -> str:
    qemu = shutil.which("qemu-system-arm")
    if qemu is None or not UBOOT_BIN.is_file():
        if os.environ.get("CI"):
            pytest.fail("CI must have qemu-system-arm and u-boot-qemu installed (.ci/run installs them)")
        skip_unless_ci("needs qemu-system-arm and u-boot-qemu (/usr/lib/u-boot/qemu_arm/u-boot.bin)")
    return qemu


@pytest.fixture
def uboot_pty() -> Iterator[str]:
    """A freshly powered-on QEMU arm virt board running Debian's U-Boot; yields its console pty."""
    command = [_qemu(), "-M", "virt", "-nographic", "-bios", str(UBOOT_BIN), "-serial", "pty",
               "-monitor", "none"]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield _pty_of(proc)
    finally:
        proc.kill()
        proc.wait(timeout=20)
        assert proc.stdout is not None
        proc.stdout.close()


def _pty_of(proc: subprocess.Popen[bytes], seconds: float = 20.0) -> str:
    """QEMU's "char device redirected to /dev/pts/N" line, read without blocking past ``seconds``."""
    assert proc.stdout is not None
    said = b""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=0.2):
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            said += chunk
            found = PTY_LINE.search(said.decode("utf-8", "replace"))
            if found:
                return found[1]
    pytest.fail(f"QEMU gave no pty within {seconds:g} s; it said: {said[-500:]!r}")


def _embedded(text: str) -> bool:
    return text.encode() in UBOOT_BIN.read_bytes()


@pytest.mark.real
def test_attest_collect_reads_the_real_uboot_version_and_environment(uboot_pty: str) -> None:
    result = subprocess.run([sys.executable, "-m", "attest.cli", "collect", f"serial://{uboot_pty}", "--json"],
                            capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, (result.stdout, result.stderr)
    doc = json.loads(result.stdout)
    claims = doc["claims"]
    assert doc["problems"] == [], doc["problems"]

    version = claims["uboot.version"]
    assert version["assurance"] == "bootloader"
    assert re.fullmatch(r"U-Boot 20\d\d\.\d\d\S* \(.+\)", version["value"]), version
    assert _embedded(version["value"]), "the version claim is not the banner inside u-boot.bin"

    assert claims["uboot.env.count"]["value"] >= 20
    bootcmd = claims["uboot.env.bootcmd"]
    assert bootcmd["assurance"] == "bootloader"
    assert _embedded(f"bootcmd={bootcmd['value']}"), bootcmd  # Debian's default: run distro_bootcmd
    assert _embedded(f"bootdelay={claims['uboot.env.bootdelay']['value']}")
    assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", claims["net.mac"]["value"])
    assert claims["net.mac"]["assurance"] == "bootloader"
    # No mtdparts on this board, so no flash region to hash: said, not silently skipped.
    assert claims["uboot.flash.integrity"]["value"].startswith("not read")
    # Nothing to boot (no disk, TFTP refused): U-Boot comes back to its prompt, which is said.
    assert claims["console.linux"]["value"].startswith("not reached")


@pytest.mark.real
def test_real_uboot_without_hash_falls_back_to_crc32_and_its_output_parses(uboot_pty: str) -> None:
    """Debian's qemu_arm U-Boot has no ``hash`` command: the driver must use crc32 (weak), and the
    crc32 it parses must be the CRC of what is in RAM (known bytes written there with ``mw.b``)."""
    options = CollectOptions(timeout=10.0, hash_timeout=10.0)

    async def run() -> tuple[str, str | None, str | None]:
        async with await open_link(uboot_pty, timeout=10.0) as link:
            await link.write(b"\x03")
            await link.read_until(lambda b: UBOOT_PROMPT.search(tail(b)), timeout=30.0, max_bytes=1 << 20,
                                  what="the U-Boot prompt")
            uboot = UBoot(link, options)
            version = parse_version(await uboot.run("version"))
            await uboot.run(f"mw.b 0x{SCRATCH:x} 0x41 0x100")
            algorithm, _first = await choose_hash_algorithm(uboot, SCRATCH, 0x100, options)
            crc = parse_hash(await uboot.run(f"crc32 0x{SCRATCH:x} 0x100"), "crc32", SCRATCH, 0x100)
            return algorithm, crc, version

    algorithm, crc, version = asyncio.run(run())
    assert version is not None and _embedded(version)
    assert algorithm == "crc32"
    assert crc == f"{zlib.crc32(b'A' * 0x100):08x}"

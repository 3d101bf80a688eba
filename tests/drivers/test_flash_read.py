"""The streamed half of the shell plan against an in-memory runner and streamer: what the station
hashes itself, the rig's word beside it, and every limit a hostile rig can push against."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Callable

import pytest

from attest.drivers.base import TIMEOUT, CollectError, CollectOptions
from attest.drivers.flash_read import StreamedOutput
from attest.drivers.shell import CMD_MINER_DIGESTS
from attest.drivers.shell_plan import collect_shell_evidence
from attest.evidence import Assurance, Claim
from attest.indicators import IndicatorScan, default_indicators
from tests.drivers.test_shell import SOURCE, FakeRunner, genuine_replies, ok

BOOT = b"boot image" * 400
ROOTFS = b"rootfs image" * 300
CONFIG = bytes(0x4000)
MINER = b"\x7fELF bmminer" + b"x" * 5000
ANTBLEED = next(i for i in default_indicators() if i.id == "antbleed")
FLASH = {"/dev/mtd0": BOOT, "/dev/mtd1": ROOTFS, "/dev/mtd2": CONFIG}
MTD = (b"dev:    size   erasesize  name\n" + b"".join(
    b'mtd%d: %08x 00020000 "%s"\n' % (i, len(data), name) for i, (name, data) in
    enumerate([(b"boot", BOOT), (b"rootfs", ROOTFS), (b"config", CONFIG)])))


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class FakeStreamer:
    """Streams files in random-sized chunks, as a network would; ``files`` may be changed per test."""

    def __init__(self, files: dict[str, bytes], *, delay: float = 0.0) -> None:
        self.files = files
        self.delay = delay
        self.commands: list[str] = []
        self.rnd = random.Random(9)

    async def __call__(self, command: str, sink: Callable[[bytes], None], *, timeout: float, idle: float,
                       max_bytes: int) -> StreamedOutput:
        self.commands.append(command)
        if self.delay:
            await asyncio.sleep(self.delay)
        data, errors = b"", b""
        for path in command.removeprefix("cat ").split():  # cat goes on past a missing file, as cat does
            if path in self.files:
                data += self.files[path]
            else:
                errors += f"cat: {path}: No such file or directory\n".encode()
        sent = 0
        while sent < len(data):
            chunk = data[sent:sent + self.rnd.choice([1, 100, 4096, 32768])]
            if sent + len(chunk) > max_bytes:
                raise CollectError("REPLY_TOO_LARGE", f"the output of {command!r} passed {max_bytes} bytes")
            sink(chunk)
            sent += len(chunk)
        return StreamedOutput(1 if errors else 0, sent, errors)


def replies(**change: object) -> dict[str, object]:
    base = genuine_replies()
    base["cat /proc/mtd"] = ok(MTD)
    base["sha256sum /dev/mtd0 /dev/mtd1"] = ok(f"{sha(BOOT)[7:]}  /dev/mtd0\n{sha(ROOTFS)[7:]}  /dev/mtd1\n".encode())
    base.update(change)
    return base


def measure(streamer: FakeStreamer, options: CollectOptions | None = None, **change: object) -> dict[str, Claim]:
    runner = FakeRunner(replies(**change))  # type: ignore[arg-type]
    claims = asyncio.run(collect_shell_evidence(runner, SOURCE, options or CollectOptions(), stream=streamer))
    return {c.name: c for c in claims}


def test_the_station_hashes_what_streamed_and_keeps_the_rigs_digest_as_its_word():
    claims = measure(FakeStreamer({**FLASH, "/usr/bin/bmminer": MINER}))
    for name, data in (("boot", BOOT), ("rootfs", ROOTFS)):
        assert claims[f"firmware.image.{name}.sha256"].value == sha(data)
        assert claims[f"firmware.image.{name}.sha256"].assurance is Assurance.MEASURED
        assert claims[f"firmware.image.{name}.device_sha256"].assurance is Assurance.DEVICE
    assert claims["firmware.partition.mtd2.content"].value == "erased: every byte is 0x00"
    assert claims["firmware.miner.sha256"].value == sha(MINER)
    assert claims["firmware.stream.bytes"].value == len(BOOT) + len(ROOTFS) + len(CONFIG) + len(MINER)
    assert str(claims["scan.indicators"].value).endswith("streamed: 0 found")


def test_a_pattern_split_across_chunks_is_still_found():
    pattern = ANTBLEED.patterns[0].encode()
    scan = IndicatorScan(default_indicators())
    for i in range(len(pattern)):
        scan.feed(pattern[i:i + 1])
    assert ANTBLEED.patterns[0] in scan.found
    claims = measure(FakeStreamer({**FLASH, "/usr/bin/btminer": MINER + pattern + MINER}),
                     **{CMD_MINER_DIGESTS: ok(f"{sha(MINER)[7:]}  /usr/bin/btminer\n".encode(), 1)})
    assert claims["indicator.antbleed"].value == f"{ANTBLEED.patterns[0]} in /usr/bin/btminer"
    assert claims["indicator.antbleed"].assurance is Assurance.MEASURED


def test_the_flash_streams_in_one_channel_split_by_proc_mtd_sizes():
    streamer = FakeStreamer({**FLASH, "/usr/bin/bmminer": MINER})
    measure(streamer)
    assert [c for c in streamer.commands if c.startswith("cat /dev")] == ["cat /dev/mtd0 /dev/mtd1 /dev/mtd2"]
    assert [c for c in streamer.commands if c.startswith("cat /usr")] == ["cat /usr/bin/bmminer"]  # what sha256sum saw


def test_a_failing_partition_is_pinned_down_by_reading_each_on_its_own():
    streamer = FakeStreamer({"/dev/mtd0": BOOT, "/dev/mtd2": CONFIG, "/usr/bin/bmminer": MINER})
    claims = measure(streamer)
    assert "cat /dev/mtd1" in streamer.commands
    assert str(claims["firmware.partition.mtd1.read"].value).startswith("failed: cat gave exit status 1 after 0 of")
    assert claims["firmware.image.boot.sha256"].value == sha(BOOT)


def test_without_a_sha256sum_every_miner_binary_is_read():
    streamer = FakeStreamer({**FLASH, "/usr/bin/cgminer": MINER})
    claims = measure(streamer, **{CMD_MINER_DIGESTS: ok(b"", 127, b"sh: sha256sum: not found\n")})
    assert claims["firmware.miner.path"].value == "/usr/bin/cgminer"
    assert "firmware.miner.device_sha256" not in claims
    assert sum(c.startswith("cat /usr/bin/") for c in streamer.commands) == 3


def test_a_binary_that_cannot_be_read_makes_the_scan_failed_not_clean():
    files = {**FLASH, "/usr/bin/bmminer": MINER}
    streamer = FakeStreamer(files)

    async def broken(command: str, sink: Callable[[bytes], None], **kwargs: object) -> StreamedOutput:
        if command == "cat /usr/bin/bmminer":
            return StreamedOutput(1, 10, b"cat: read error: Input/output error\n")
        return await FakeStreamer.__call__(streamer, command, sink, **kwargs)  # type: ignore[arg-type]

    claims = measure(broken)  # type: ignore[arg-type]
    assert str(claims["scan.indicators"].value).startswith("failed: cat /usr/bin/bmminer gave exit status 1")


def test_a_binary_past_its_cap_or_a_flash_past_the_rigs_byte_cap_is_a_clear_limit():
    big = FakeStreamer({**FLASH, "/usr/bin/bmminer": MINER})
    with pytest.raises(CollectError) as caught:
        measure(big, CollectOptions(max_binary_bytes=1000))
    assert caught.value.code == "MEASUREMENT_LIMIT_EXCEEDED" and "/usr/bin/bmminer" in caught.value.message
    whole = FakeStreamer({**FLASH, "/usr/bin/bmminer": MINER})
    with pytest.raises(CollectError) as caught:
        measure(whole, CollectOptions(max_measured_bytes=len(BOOT)))
    assert caught.value.code == "MEASUREMENT_LIMIT_EXCEEDED" and "nothing was measured" in caught.value.message
    assert whole.commands == []  # refused before the first byte


def test_the_time_budget_covers_all_streaming_of_one_rig():
    slow = FakeStreamer({**FLASH, "/usr/bin/bmminer": MINER}, delay=0.2)

    async def budgeted(command: str, sink: Callable[[bytes], None], *, timeout: float, idle: float,
                       max_bytes: int) -> StreamedOutput:
        try:
            async with asyncio.timeout(timeout):
                return await slow(command, sink, timeout=timeout, idle=idle, max_bytes=max_bytes)
        except TimeoutError:
            raise CollectError(TIMEOUT, f"{command!r}: not finished within {timeout:g} s") from None

    with pytest.raises(CollectError) as caught:
        measure(budgeted, CollectOptions(measure_timeout=0.1))  # type: ignore[arg-type]
    assert caught.value.code == "MEASUREMENT_LIMIT_EXCEEDED" and "measure_timeout" in caught.value.message


@pytest.mark.parametrize("seed", range(6))
def test_hostile_streams_never_crash(seed: int):
    rnd = random.Random(seed)
    junk = [b"\x7fELF\x01\x01\x01" * 3000, b"#!/bin/sh\n" * 5000, bytes(rnd.randrange(256) for _ in range(70_000)),
            b"\xff" * 100_000, b"hsqs" + bytes(70_000), b""]

    async def hostile(command: str, sink: Callable[[bytes], None], *, timeout: float, idle: float,
                      max_bytes: int) -> StreamedOutput:
        data = rnd.choice(junk)[:max_bytes]
        for at in range(0, len(data), 997):
            sink(data[at:at + 997])
        return StreamedOutput(rnd.choice([0, 1, None, -1]), len(data), rnd.choice([b"", b"\xff\xfe" * 400]))

    claims = measure(hostile)  # type: ignore[arg-type]
    assert all(len(str(c.value)) <= 700 for c in claims.values())

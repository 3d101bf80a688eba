"""The pyserial console transport: bounded reads, caps, busy ports, on pyserial's loop:// port."""

from __future__ import annotations

import asyncio
import time

import pytest

from attest.transport.errors import REPLY_TOO_LARGE, TIMEOUT, UNREACHABLE, TransportError
from attest.transport.serial import open_link


def run(coro):  # a tiny test helper
    return asyncio.run(coro)


def test_loop_port_reads_back_what_was_written_and_counts_and_records_it() -> None:
    recorded: list[tuple[str, bytes]] = []

    async def go() -> tuple[bytes, int, int]:
        async with await open_link("loop://", record=lambda d, b: recorded.append((d, b))) as link:
            await link.write(b"version\r")
            buffer, _ = await link.read_until(lambda b: b.endswith(b"\r"), timeout=2, max_bytes=64, what="echo")
            return buffer, link.bytes_sent, link.bytes_received

    buffer, sent, received = run(go())
    assert buffer == b"version\r" and sent == received == 8
    assert (">", b"version\r") in recorded and ("<", b"version\r") in recorded


def test_a_secret_is_sent_but_never_recorded() -> None:
    recorded: list[bytes] = []

    async def go() -> None:
        async with await open_link("loop://", record=lambda d, b: recorded.append(b)) as link:
            await link.write(b"hunter2\r", secret=True)
            await link.read_until(lambda b: b"\r" in b, timeout=2, max_bytes=64, what="echo")

    run(go())
    assert recorded[1] == b"[secret withheld]"  # [0] is the open line
    assert not any(b"hunter2" in b for b in recorded[:2])


def test_silence_times_out_on_time_saying_nothing_arrived() -> None:
    async def go() -> None:
        async with await open_link("loop://") as link:
            await link.read_until(lambda b: False, timeout=0.4, max_bytes=64, what="the U-Boot prompt")

    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        run(go())
    assert caught.value.code == TIMEOUT
    assert "waiting for the U-Boot prompt" in caught.value.message and "nothing arrived" in caught.value.message
    assert time.monotonic() - started < 2.0


def test_idle_limit_ends_a_wait_long_before_the_total_and_quotes_what_came() -> None:
    async def go() -> None:
        async with await open_link("loop://") as link:
            await link.write(b"partial reply")
            await link.read_until(lambda b: False, timeout=30, idle=0.3, max_bytes=1024, what="end of `printenv`")

    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        run(go())
    assert time.monotonic() - started < 3.0
    assert caught.value.code == TIMEOUT and "partial reply" in caught.value.message


def test_more_than_the_cap_is_refused_quoting_the_last_bytes() -> None:
    async def go() -> None:
        async with await open_link("loop://") as link:
            await link.write(b"x" * 300 + b"THE END")
            await link.read_until(lambda b: False, timeout=3, max_bytes=256, what="end of `printenv`")

    with pytest.raises(TransportError) as caught:
        run(go())
    assert caught.value.code == REPLY_TOO_LARGE and "more than 256 bytes" in caught.value.message


def test_a_missing_device_is_unreachable() -> None:
    with pytest.raises(TransportError) as caught:
        run(open_link("/dev/ttyRIGATTEST-none", timeout=2))
    assert caught.value.code == UNREACHABLE


def test_a_port_already_in_use_by_another_check_is_refused_until_closed() -> None:
    async def go() -> None:
        first = await open_link("loop://")
        try:
            with pytest.raises(TransportError) as caught:
                await open_link("loop://")
            assert caught.value.code == UNREACHABLE and "already in use" in caught.value.message
        finally:
            await first.close()
        second = await open_link("loop://")  # free again once closed
        await second.close()

    run(go())


def test_bad_parity_is_refused_before_opening() -> None:
    with pytest.raises(TransportError) as caught:
        run(open_link("loop://", parity="Q"))
    assert caught.value.code == UNREACHABLE

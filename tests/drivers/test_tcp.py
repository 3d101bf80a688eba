"""The TCP request/reply transport against small hostile peers on loopback."""

from __future__ import annotations

import asyncio
import time

import pytest

from attest.transport import tcp
from tests.drivers.loopback import closed_port, never_answer, read_request, replying, reset, serve, stream_forever


async def exchange(port: int, *, timeout: float = 2.0, max_bytes: int = 4096, **kwargs: object) -> bytes:
    return await tcp.request("127.0.0.1", port, b'{"command":"version"}', timeout=timeout, max_bytes=max_bytes,
                             **kwargs)  # type: ignore[arg-type]


def failure(coro_factory) -> tcp.TransportError:
    async def main() -> tcp.TransportError:
        with pytest.raises(tcp.TransportError) as caught:
            await coro_factory()
        return caught.value
    return asyncio.run(main())


def test_reply_ends_at_the_first_nul_without_waiting_for_close():
    async def nul_then_hold(reader, writer):
        await read_request(reader)
        writer.write(b'{"id":1}\x00after the terminator')
        await writer.drain()
        await asyncio.Event().wait()  # keeps the connection open: only the NUL can end the read

    async def main() -> bytes:
        async with serve(nul_then_hold) as port:
            return await exchange(port)

    assert asyncio.run(main()) == b'{"id":1}\x00'


def test_reply_without_nul_ends_at_eof():
    async def main() -> bytes:
        async with serve(replying(b'{"STATUS":"S"}')) as port:
            return await exchange(port)

    assert asyncio.run(main()) == b'{"STATUS":"S"}'


def test_sent_and_received_bytes_are_recorded_in_order():
    seen: list[tuple[str, bytes]] = []

    async def main() -> None:
        async with serve(replying(b"{}\x00")) as port:
            await exchange(port, record=lambda d, b: seen.append((d, b)))

    asyncio.run(main())
    assert seen == [(">", b'{"command":"version"}'), ("<", b"{}\x00")]


def test_refused_connection_is_unreachable():
    port = closed_port()
    error = failure(lambda: exchange(port))
    assert error.code == tcp.UNREACHABLE


def test_peer_that_never_answers_times_out_within_the_timeout():
    async def main() -> tuple[tcp.TransportError, float]:
        async with serve(never_answer) as port:
            start = time.monotonic()
            with pytest.raises(tcp.TransportError) as caught:
                await exchange(port, timeout=0.3)
            return caught.value, time.monotonic() - start

    error, elapsed = asyncio.run(main())
    assert error.code == tcp.TIMEOUT
    assert "no reply" in error.message
    assert 0.25 < elapsed < 1.5


def test_reply_over_the_cap_is_too_large():
    async def main() -> None:
        async with serve(replying(b"x" * 5000 + b"\x00")) as port:
            await exchange(port, max_bytes=4096)

    assert failure(main).code == tcp.REPLY_TOO_LARGE


def test_reply_of_exactly_the_cap_is_accepted():
    async def main() -> bytes:
        async with serve(replying(b"x" * 4095 + b"\x00")) as port:
            return await exchange(port, max_bytes=4096)

    assert len(asyncio.run(main())) == 4096


def test_endless_stream_stops_at_the_cap():
    received: list[tuple[str, bytes]] = []

    async def main() -> None:
        async with serve(stream_forever) as port:
            await exchange(port, max_bytes=100_000, timeout=5.0, record=lambda d, b: received.append((d, b)))

    start = time.monotonic()
    assert failure(main).code == tcp.REPLY_TOO_LARGE
    assert time.monotonic() - start < 3
    assert len(received[-1][1]) <= 100_001  # never held more than one byte past the cap


def test_endless_slow_drip_is_cut_at_the_deadline():
    async def drip(reader, writer):
        await read_request(reader)
        while True:  # one byte at a time, forever: the size cap never trips, the deadline must
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.02)

    async def main() -> None:
        async with serve(drip) as port:
            await exchange(port, timeout=0.4, max_bytes=1_000_000)

    error = failure(main)
    assert error.code == tcp.TIMEOUT
    assert "incomplete" in error.message


def test_close_before_any_reply_byte_is_a_reset():
    async def close_silently(reader, writer):
        await read_request(reader)
        writer.close()

    async def main() -> None:
        async with serve(close_silently) as port:
            await exchange(port)

    assert failure(main).code == tcp.CONNECTION_RESET


def test_reset_before_reply_is_a_reset():
    async def rst(reader, writer):
        await read_request(reader)
        reset(writer)

    async def main() -> None:
        async with serve(rst) as port:
            await exchange(port)

    assert failure(main).code == tcp.CONNECTION_RESET


def test_reset_in_the_middle_of_a_reply_is_a_reset():
    async def half_then_rst(reader, writer):
        await read_request(reader)
        writer.write(b'{"STATUS":[{"STATUS":"S","Msg":"half')
        await writer.drain()
        reset(writer)

    async def main() -> None:
        async with serve(half_then_rst) as port:
            await exchange(port)

    assert failure(main).code == tcp.CONNECTION_RESET

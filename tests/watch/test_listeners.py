"""The sinkhole's TCP listeners over real sockets: first bytes, TLS names, and hostile connections."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from attest.watch import Connection, Notice, WatchLimits
from tests.watch.conftest import next_matching, run, watch_on
from tests.watch.test_tls import client_hello

CHECKIN = b'{"ctrl_board":"02:A7:00:11:22:33","id":"4","hashboard":[{"ID":"0123456789abcdef01234567"}]}'


async def connect(block: list[str], source: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(block[0], port, local_addr=(source, 0))


def is_conn(source: str):
    return lambda o: isinstance(o, Connection) and o.source == source


def test_a_tls_client_is_seen_with_its_server_name_and_gets_nothing_back(block):
    async def go():
        async with watch_on(block) as watch:
            queue = watch.subscribe()
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            try:
                await asyncio.open_connection(block[0], 8443, ssl=ctx, server_hostname="telemetry.example.org",
                                              local_addr=(block[1], 0))
                refused = None
            except (ssl.SSLError, ConnectionError) as e:
                refused = e
            return await next_matching(queue, is_conn(block[1])), refused

    conn, refused = run(go)
    assert (conn.port, conn.outcome, conn.sni) == (8443, "tls", "telemetry.example.org")
    assert conn.first_bytes.startswith(b"\x16\x03") and conn.size == len(conn.first_bytes)
    assert refused is not None  # the handshake never completes: the watch answers nothing


def test_a_plain_check_in_is_kept_with_the_indicator_it_matches(block):
    async def go():
        async with watch_on(block) as watch:
            queue = watch.subscribe()
            reader, writer = await connect(block, block[2], 7000)
            writer.write(CHECKIN)
            await writer.drain()
            reply = await reader.read(100)  # the watch resets the connection: nothing comes back
            writer.close()
            return await next_matching(queue, is_conn(block[2])), reply

    conn, reply = run(go)
    assert (conn.port, conn.outcome, conn.sni, conn.checkins) == (7000, "plain", None, ("antbleed",))
    assert conn.first_bytes == CHECKIN and reply == b""


def test_a_connection_that_never_sends_is_silent_and_holds_no_one_else_up(block):
    async def go():
        async with watch_on(block) as watch:
            queue = watch.subscribe()
            _, mute = await connect(block, block[3], 7000)
            _reader, writer = await connect(block, block[4], 7000)  # meanwhile another rig talks
            writer.write(b"hello from another rig")
            await writer.drain()
            talker = await next_matching(queue, is_conn(block[4]))
            silent = await next_matching(queue, is_conn(block[3]))
            mute.close()
            writer.close()
            return talker, silent

    talker, silent = run(go)
    assert talker.first_bytes == b"hello from another rig"
    assert (silent.outcome, silent.size, silent.first_bytes) == ("silent", 0, b"")


def test_a_client_hello_cut_off_is_kept_as_cut_off(block):
    hello = client_hello("cut.example.org")

    async def go():
        async with watch_on(block) as watch:
            queue = watch.subscribe()
            _, writer = await connect(block, block[5], 8443)
            writer.write(hello[: len(hello) // 2])
            await writer.drain()
            writer.close()  # the client goes away mid-hello
            early = await next_matching(queue, is_conn(block[5]))
            _, writer = await connect(block, block[6], 8443)
            writer.write(hello[:60])  # then stops sending, and stays
            await writer.drain()
            stalled = await next_matching(queue, is_conn(block[6]))
            writer.close()
            return early, stalled

    early, stalled = run(go)
    assert (early.outcome, early.sni) == ("tls-cut-off", "cut.example.org")
    assert (stalled.outcome, stalled.sni, stalled.size) == ("tls-cut-off", None, 60)


def test_an_oversized_client_hello_is_read_no_further_than_the_cap(block):
    huge = b"\x16\x03\x01\x40\x00" + b"\x01" + (60_000).to_bytes(3, "big") + bytes(20_000)

    async def go():
        async with watch_on(block) as watch:
            queue = watch.subscribe()
            _, writer = await connect(block, block[7], 8443)
            writer.write(huge)
            with contextlib.suppress(ConnectionError):  # the watch resets once it has judged the first bytes
                await writer.drain()
            conn = await next_matching(queue, is_conn(block[7]))
            writer.close()
            return conn, watch.limits

    conn, limits = run(go)
    assert conn.outcome == "tls-too-large" and conn.size <= limits.first_bytes


def test_plain_bytes_past_the_cap_are_not_read(block):
    async def go():
        async with watch_on(block) as watch:
            queue = watch.subscribe()
            _, writer = await connect(block, block[8], 7000)
            writer.write(b"A" * 100_000)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            conn = await next_matching(queue, is_conn(block[8]))
            writer.close()
            return conn, watch.limits

    conn, limits = run(go)
    assert (conn.outcome, conn.size, len(conn.first_bytes)) == ("plain", limits.first_bytes, limits.first_bytes)


def test_more_connections_at_once_than_a_source_may_hold_are_closed_and_counted(block):
    limits = WatchLimits(first_bytes_timeout=5.0, idle_timeout=0.2, connections_per_source=2)

    async def go():
        async with watch_on(block, limits=limits) as watch:
            queue = watch.subscribe()
            held = [await connect(block, block[9], 7000) for _ in range(2)]
            reader, writer = await connect(block, block[9], 7000)  # the third: refused at once
            refused = await reader.read(10)
            notice = await next_matching(queue, lambda o: isinstance(o, Notice) and o.source == block[9])
            other = await connect(block, block[10], 7000)  # another rig is not affected
            other[1].write(b"still seen")
            seen = await next_matching(queue, is_conn(block[10]))
            for _, w in [*held, other]:
                w.close()
            writer.close()
            return refused, notice, seen, watch.observations.sources[block[9]].connections_refused

    refused, notice, seen, count = run(go)
    assert refused == b"" and count == 1 and "more connections at once" in notice.message
    assert seen.first_bytes == b"still seen"


def test_closing_the_watch_resets_connections_it_is_still_reading(block):
    async def go():
        watch = await watch_on(block, limits=WatchLimits(first_bytes_timeout=30.0)).start()
        reader, writer = await connect(block, block[11], 7000)
        writer.write(b"x")
        async with asyncio.timeout(5):  # not the 30 s the connection could still be read for
            await watch.close()
        try:
            return await reader.read(10)
        except ConnectionResetError:
            return b""
        finally:
            writer.close()

    assert run(go) == b""

"""A simulated rig's port-4028 API server: bmminer or btminer, and the rig's misbehaviours.

Plain asyncio servers, one listening socket per rig and one task per open connection, so a fleet
of 1,000 rigs runs in one process with no threads. Like cgminer, one request per connection:
read it, answer, close. What the answer says is ``attest.sim.api_replies``; here is the framing
and the behaviour (``unresponsive`` accepts and never writes, ``garbage`` writes non-JSON bytes,
``slow`` answers after SLOW_DELAY_SECONDS). Clients are untrusted too: a request is read up to
MAX_REQUEST_BYTES within REQUEST_READ_SECONDS, and a client that stops reading cannot hold a
connection open forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref

from attest.sim.api_replies import Clock, render_reply
from attest.sim.rig import GARBAGE, SLOW, SLOW_DELAY_SECONDS, UNRESPONSIVE, Rig

MAX_REQUEST_BYTES = 8 * 1024  # cgminer's API reads one buffer of about this size
REQUEST_READ_SECONDS = 10.0
#: Bound on writing a reply and closing, against clients that never read.
WRITE_SECONDS = 10.0
#: What ``garbage`` rigs answer: no JSON, bytes that are not UTF-8, no NUL terminator.
GARBAGE_REPLY = b'\xff\xfeSTATUS=S,When=0,Code=11,Msg=Summary|\xc3\x28{"STATUS":[{\x80\x81\r\n'

FAMILIES = ("antminer", "whatsminer", "whatsminer3", "avalon", "vnish", "braiins", "luxos")

# Each server's connection tasks, so stop_api_server can end connections that stay open.
_connections: weakref.WeakKeyDictionary[asyncio.Server, set[asyncio.Task[None]]] = (
    weakref.WeakKeyDictionary()
)


async def start_api_server(rig: Rig, host: str, port: int) -> asyncio.Server:
    """Listen on host:port (0 picks a free port) and answer as the rig's firmware would."""
    if rig.family not in FAMILIES:
        raise ValueError(f"no API for rig family {rig.family!r}; known: {', '.join(FAMILIES)}")
    started = time.monotonic()
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            tasks.add(task)
        try:
            await _serve_connection(rig, started, reader, writer)
        finally:
            if task is not None:
                tasks.discard(task)

    server = await asyncio.start_server(serve, host, port, reuse_address=True)
    _connections[server] = tasks
    return server


async def stop_api_server(server: asyncio.Server) -> None:
    """Stop listening and end every open connection (an unresponsive rig holds them open)."""
    server.close()
    tasks = _connections.pop(server, set())
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await server.wait_closed()


async def _serve_connection(
    rig: Rig, started: float, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        request = await _read_request(reader)
        behaviour = rig.behaviour
        if behaviour == UNRESPONSIVE:
            # Keep the connection, read and drop whatever comes, never answer.
            while await reader.read(4096):
                pass
            return
        if request is None:
            return
        if behaviour == GARBAGE:
            reply = GARBAGE_REPLY
        else:
            if behaviour == SLOW:
                await asyncio.sleep(SLOW_DELAY_SECONDS)
            # An hour's head start: a freshly started fleet looks like rigs that have been hashing.
            clock = Clock(when=int(time.time()), elapsed=int(time.monotonic() - started) + 3600)
            reply = render_reply(rig, request, clock)
        async with asyncio.timeout(WRITE_SECONDS):
            writer.write(reply)
            await writer.drain()
    except (OSError, TimeoutError):
        pass  # the client went away or stopped reading; nothing to tell anyone
    finally:
        if writer.transport.get_write_buffer_size():
            writer.transport.abort()  # unsent bytes would hold a graceful close open
        else:
            writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), WRITE_SECONDS)


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """The request bytes: up to a NUL or newline, a complete JSON object, EOF or the cap."""
    buffer = bytearray()
    try:
        async with asyncio.timeout(REQUEST_READ_SECONDS):
            while len(buffer) < MAX_REQUEST_BYTES:
                chunk = await reader.read(MAX_REQUEST_BYTES - len(buffer))
                if not chunk:
                    break
                buffer += chunk
                if _complete(buffer):
                    break
    except TimeoutError:
        pass
    return bytes(buffer) if buffer else None


def _complete(buffer: bytearray) -> bool:
    # Clients do not close their side before reading (pyasic, nc both wait), so a request ends
    # where its JSON does; a NUL or newline also ends one, as typed into nc.
    if b"\x00" in buffer or b"\n" in buffer:
        return True
    try:
        json.loads(buffer.decode("utf-8", errors="replace"))
    except ValueError:
        return False
    return True

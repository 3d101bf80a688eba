"""Small hostile TCP peers on loopback for the transport and API driver tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable

from attest.drivers.base import CollectOptions, Session
from attest.evidence import Transcript

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def session(timeout: float = 2.0, max_reply_bytes: int = 1024 * 1024) -> Session:
    return Session(CollectOptions(timeout=timeout, max_reply_bytes=max_reply_bytes), Transcript())


@contextlib.asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[int]:
    """Run ``handler`` per connection on 127.0.0.1; on exit drop connections, await handlers."""
    live: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        live[task] = writer
        try:
            await handler(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            live.pop(task, None)
            writer.transport.abort()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task, writer in list(live.items()):
            writer.transport.abort()
            task.cancel()
        await asyncio.gather(*live, return_exceptions=True)
        await server.wait_closed()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST rather than a FIN: SO_LINGER with a zero timeout, then close."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The client's request: our drivers send one JSON object and wait, so one read is enough."""
    return await reader.read(65536)


def replying(*replies: bytes) -> Handler:
    """A handler that reads a request and answers ``replies`` in turn, one per connection."""
    queue = list(replies)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(queue.pop(0) if len(queue) > 1 else queue[0])
        await writer.drain()
        writer.close()

    return handler


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await asyncio.Event().wait()


async def stream_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    chunk = b'{"STATUS":[' + b"1," * 32768
    while True:
        writer.write(chunk)
        await writer.drain()

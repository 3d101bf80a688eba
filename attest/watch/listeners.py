"""The sinkhole's TCP listeners: accept what a rig connects to, keep its first bytes, answer nothing.

Every connection is read for at most ``first_bytes`` bytes and ``first_bytes_timeout`` seconds
(``idle_timeout`` once bytes have started and paused), then closed with a reset. Nothing is ever
written back and nothing is forwarded: the watch learns where the rig wanted to go and what it
meant to say first, and the rig learns nothing. A source may hold only a few connections open at
once, and the watch a bounded number overall; more are closed at once and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import time
from collections.abc import Callable, Sequence

from attest.indicators import Indicator
from attest.watch.observations import Connection, ObservationLog, source_key
from attest.watch.tls import Hello, HelloReading, read_client_hello


class ConnectionCatcher:
    def __init__(self, observations: ObservationLog, mac_for: Callable[[str], str | None],
                 indicators: Sequence[Indicator]) -> None:
        self.observations = observations
        self.limits = observations.limits
        self.mac_for = mac_for
        self.indicators = [i for i in indicators if i.network is not None and i.network.checkins]
        self.open_total = 0
        self._open: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[object]] = set()

    async def reset_all(self) -> None:
        """Reset every connection still being read and wait for its handler (the watch is closing):
        a handler left running would be cancelled by the loop's end, which asyncio reports as an error."""
        for writer in list(self._open):
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.limits.idle_timeout + 1.0)

    def handler(self, port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._tasks.add(task)
            try:
                await self.catch(port, reader, writer)
            finally:
                if task is not None:
                    self._tasks.discard(task)
        return handle

    async def catch(self, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source = source_key(str(peer[0])) if isinstance(peer, tuple) and peer else "unknown"
        record = self.observations.source(source)
        if record is None:
            writer.transport.abort()
            return
        if (record.open_connections >= self.limits.connections_per_source
                or self.open_total >= self.limits.connections_total):
            record.connections_refused += 1
            self.observations.notice(record, "busy", "opened more connections at once than the watch holds: "
                                     "the rest were closed unread and counted")
            writer.transport.abort()
            return
        record.open_connections += 1
        self.open_total += 1
        self._open.add(writer)
        began = time.time()
        try:
            data, hello, ended = await self._first_bytes(reader)
        finally:
            record.open_connections -= 1
            self.open_total -= 1
            self._open.discard(writer)
            with contextlib.suppress(Exception):
                writer.transport.abort()  # a reset: never a reply, and no lingering close
        outcome = self._outcome(data, hello, ended)
        checkins = tuple(i.id for i in self.indicators if i.network is not None and i.network.checkin_in(data))
        self.observations.add_connection(record, Connection(
            began, source, self.mac_for(source), port, outcome, hello.sni, len(data),
            bytes(data), checkins))

    async def _first_bytes(self, reader: asyncio.StreamReader) -> tuple[bytearray, HelloReading, bool]:
        """Read until the cap, a whole ClientHello, the peer's close, or a timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.first_bytes_timeout
        cap = self.limits.first_bytes
        data = bytearray()
        ended = False
        hello = read_client_hello(b"", ended=False, cap=cap)
        while len(data) < cap:
            wait = deadline - loop.time()
            if data:
                wait = min(wait, self.limits.idle_timeout)
            if wait <= 0:
                break
            try:
                async with asyncio.timeout(wait):
                    chunk = await reader.read(cap - len(data))
            except TimeoutError:
                break
            except (ConnectionError, OSError):
                ended = True
                break
            if not chunk:
                ended = True
                break
            data += chunk
            hello = read_client_hello(bytes(data), ended=False, cap=cap)
            if hello.state in (Hello.COMPLETE, Hello.TOO_LARGE, Hello.MALFORMED):
                break
        if hello.state is Hello.NEED_MORE:
            hello = read_client_hello(bytes(data), ended=True, cap=cap)
        return data, hello, ended

    @staticmethod
    def _outcome(data: bytearray, hello: HelloReading, ended: bool) -> str:
        if not data:
            return "closed" if ended else "silent"
        return hello.state.value


async def start_listeners(catcher: ConnectionCatcher, host: str, ports: Sequence[int]
                          ) -> tuple[list[asyncio.Server], dict[int, str]]:
    """A listener per port; the ports that could not be bound, each with why (never fatal: the
    watch still sees the lookups and the other ports)."""
    servers: list[asyncio.Server] = []
    failed: dict[int, str] = {}
    for port in ports:
        try:
            servers.append(await asyncio.start_server(catcher.handler(port), host, port,
                                                      limit=catcher.limits.first_bytes, reuse_address=True))
        except OSError as e:
            failed[port] = bind_failure(port, e)
    return servers, failed


def bind_failure(port: int, error: OSError) -> str:
    """Why a port could not be listened on, in the words a technician acts on."""
    if error.errno in (errno.EACCES, errno.EPERM) and port < 1024:
        return "permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE"
    if error.errno == errno.EADDRINUSE:
        return "another program already listens there"
    if error.errno == errno.EADDRNOTAVAIL:
        return "the address is not one of this station's"
    return error.strerror or str(error)

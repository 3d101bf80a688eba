"""Helpers for the watch's tests: a watch on a loopback address no other test uses, rigs on others."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from typing import TypeVar

import dns.asyncquery
import dns.message
import pytest

from attest.watch import Notice, Observation, Watch, WatchLimits
from tests.conftest import free_loopback_base

T = TypeVar("T")
DNS_PORT = 5300
#: Short enough that a silent connection is given up quickly; the watch's own default is 5 s.
FAST = WatchLimits(first_bytes_timeout=0.6, idle_timeout=0.2)


@pytest.fixture
def block() -> list[str]:
    """A free 127.X.Y.0/24: [0] the sinkhole, the rest addresses for rigs."""
    base = ipaddress.ip_address(free_loopback_base())
    return [str(base + i) for i in range(0, 20)]


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await coro_fn()
    return asyncio.run(main())


async def query(server: str, name: str, rdtype: str = "A", *, source: str, port: int = DNS_PORT,
                timeout: float = 3.0) -> dns.message.Message:
    return await dns.asyncquery.udp(dns.message.make_query(name, rdtype), server, port=port, source=source,
                                    timeout=timeout)


async def next_matching(queue: asyncio.Queue[Observation | Notice], pred: Callable[[object], bool],
                        timeout: float = 10.0) -> Observation | Notice:
    """The first streamed observation ``pred`` accepts (the watch says when it saw it: no sleeping)."""
    async with asyncio.timeout(timeout):
        while True:
            item = await queue.get()
            if pred(item):
                return item


def watch_on(block: list[str], *, ports: tuple[int, ...] = (7000, 8443), limits: WatchLimits = FAST) -> Watch:
    return Watch(block[0], DNS_PORT, tcp_ports=ports, limits=limits)

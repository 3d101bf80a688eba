"""What the watch saw, per source address, held within fixed bounds whatever the sources send.

A rig that asks for the same name every few seconds is one lookup with a count, not thousands of
records; each source keeps at most ``max_lookups`` distinct lookups and ``max_connection_kinds``
distinct kinds of connection (port, TLS name, outcome, check-in), and the watch at most
``max_sources`` sources. What goes past a bound is counted, never stored, and said once per
source (a ``Notice``), so a flooding or hostile address costs a few counters and every other
rig's observations stay as they were.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field, replace

#: first bytes kept per connection kind once the whole watch holds this many bytes of them
STORED_BYTES_BUDGET = 16 * 1024 * 1024
SHORT_SAMPLE_BYTES = 256


@dataclass(frozen=True)
class WatchLimits:
    """Every bound of the watch in one place (tests shrink the timeouts)."""

    first_bytes: int = 4096  # kept per connection, and the most ever read from one
    first_bytes_timeout: float = 5.0  # a connection that sends nothing this long is "silent"
    idle_timeout: float = 0.5  # once bytes came, this long without more ends the reading
    queries_per_second: float = 50.0  # per source, parsed and answered; the rest counted only
    query_burst: float = 200.0
    max_dns_packet: int = 4096  # a bigger datagram is no query a rig would send
    max_sources: int = 4096
    max_lookups: int = 64  # distinct (name, type, MAC) per source
    max_connection_kinds: int = 32  # distinct (port, TLS name, outcome, check-in, MAC) per source
    connections_per_source: int = 8  # open at once
    connections_total: int = 512
    stream_queue: int = 10_000  # observations a slow subscriber may fall behind by


@dataclass(frozen=True, slots=True)
class Lookup:
    """A DNS query the watch answered with the sinkhole (the first of its kind from a source)."""

    time: float  # seconds since the epoch
    source: str
    mac: str | None
    name: str  # lower-case, without the final dot, non-printable bytes escaped as \\DDD
    qtype: str  # "A", "AAAA", "TXT", "TYPE65534", ...


@dataclass(frozen=True, slots=True)
class Connection:
    """A TCP connection to the sinkhole: what its first bytes were (never answered, never forwarded)."""

    time: float
    source: str
    mac: str | None
    port: int
    outcome: str  # tls | tls-cut-off | tls-too-large | tls-malformed | plain | silent | closed
    sni: str | None
    size: int  # bytes received, at most WatchLimits.first_bytes
    first_bytes: bytes
    checkins: tuple[str, ...] = ()  # ids of network indicators whose check-in is in first_bytes


@dataclass(frozen=True)
class Notice:
    """Something about a source said once: a bound it passed, malformed packets it sent."""

    time: float
    source: str
    message: str


Observation = Lookup | Connection


@dataclass(slots=True)
class Tally:
    first: float
    last: float
    count: int = 1


@dataclass
class SourceRecord:
    address: str
    lookups: dict[tuple[str, str, str | None], tuple[Lookup, Tally]] = field(default_factory=dict)
    connections: dict[tuple[object, ...], tuple[Connection, Tally]] = field(default_factory=dict)
    queries_over_rate: int = 0
    lookups_over_cap: int = 0
    connections_over_cap: int = 0
    connections_refused: int = 0  # too many open at once
    malformed: int = 0
    open_connections: int = 0
    notices: set[str] = field(default_factory=set)
    _tokens: float = 0.0
    _refilled: float = 0.0

    def take_query_token(self, now: float, limits: WatchLimits) -> bool:
        """A token bucket per source: bursts are fine, a flood is counted and not parsed."""
        if self._refilled == 0.0:
            self._tokens, self._refilled = limits.query_burst, now
        self._tokens = min(limits.query_burst, self._tokens + (now - self._refilled) * limits.queries_per_second)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def copy(self) -> SourceRecord:
        """A frozen-in-time copy for a watch window (tallies copied, observations shared)."""
        return SourceRecord(
            self.address,
            {k: (o, replace(t)) for k, (o, t) in self.lookups.items()},
            {k: (o, replace(t)) for k, (o, t) in self.connections.items()},
            self.queries_over_rate, self.lookups_over_cap, self.connections_over_cap, self.connections_refused,
            self.malformed, 0, set(self.notices))

    @property
    def macs(self) -> list[str]:
        seen = [o.mac for o, _ in self.lookups.values()] + [o.mac for o, _ in self.connections.values()]
        return list(dict.fromkeys(m for m in seen if m))


def source_key(address: str) -> str:
    """One spelling per address: an IPv4-mapped IPv6 peer is its IPv4 address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class ObservationLog:
    """Every source's record, and the subscribers that stream new observations."""

    def __init__(self, limits: WatchLimits) -> None:
        self.limits = limits
        self.sources: dict[str, SourceRecord] = {}
        self.sources_refused = 0  # packets and connections from sources past max_sources
        self.stream_dropped = 0
        self._stored_bytes = 0
        self._subscribers: list[asyncio.Queue[Observation | Notice]] = []

    def source(self, address: str) -> SourceRecord | None:
        record = self.sources.get(address)
        if record is None:
            if len(self.sources) >= self.limits.max_sources:
                self.sources_refused += 1
                return None
            record = self.sources[address] = SourceRecord(address)
        return record

    def add_lookup(self, record: SourceRecord, lookup: Lookup) -> None:
        key = (lookup.name, lookup.qtype, lookup.mac)
        held = record.lookups.get(key)
        if held is not None:
            held[1].last, held[1].count = lookup.time, held[1].count + 1
            return
        if len(record.lookups) >= self.limits.max_lookups:
            record.lookups_over_cap += 1
            self.notice(record, "lookups", f"more than {self.limits.max_lookups} different lookups: "
                        "the rest are counted, not kept")
            return
        record.lookups[key] = (lookup, Tally(lookup.time, lookup.time))
        self._publish(lookup)

    def add_connection(self, record: SourceRecord, conn: Connection) -> None:
        key = (conn.port, conn.sni, conn.outcome, conn.checkins, conn.mac)
        held = record.connections.get(key)
        if held is not None:
            held[1].last, held[1].count = conn.time, held[1].count + 1
            return
        if len(record.connections) >= self.limits.max_connection_kinds:
            record.connections_over_cap += 1
            self.notice(record, "connections", f"more than {self.limits.max_connection_kinds} different kinds "
                        "of connection: the rest are counted, not kept")
            return
        if self._stored_bytes + len(conn.first_bytes) > STORED_BYTES_BUDGET:
            conn = replace(conn, first_bytes=conn.first_bytes[:SHORT_SAMPLE_BYTES])
        self._stored_bytes += len(conn.first_bytes)
        record.connections[key] = (conn, Tally(conn.time, conn.time))
        self._publish(conn)

    def notice(self, record: SourceRecord, key: str, message: str) -> None:
        """Say ``message`` about a source once (per ``key``), however often it happens."""
        if key in record.notices:
            return
        record.notices.add(key)
        self._publish(Notice(time.time(), record.address, message))

    def snapshot(self) -> dict[str, SourceRecord]:
        return {address: record.copy() for address, record in self.sources.items()}

    def subscribe(self) -> asyncio.Queue[Observation | Notice]:
        queue: asyncio.Queue[Observation | Notice] = asyncio.Queue(self.limits.stream_queue)
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Observation | Notice]) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    def _publish(self, item: Observation | Notice) -> None:
        for queue in self._subscribers:
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                self.stream_dropped += 1

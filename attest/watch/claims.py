"""What the watch saw a rig do, as ``observed`` claims joining its evidence (an EvidenceSource).

Claim names are stable (the CLI contract): ``egress.watch`` (what was watched, for how long, and
what the watch could not see), ``egress.mac`` (the MAC the station's kernel learnt for the rig's
address), ``egress.dns.N.{name,type,count}`` for each distinct lookup in the order first seen, and
``egress.connect.N.{port,outcome,sni,bytes,count,checkin,preview}`` for each distinct kind of
connection. Every rig of a run is judged over the same window, which starts when the watch does
and lasts ``seconds``: its claims are taken from one snapshot made when the window closes.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from attest.address import AddressError, EndpointTarget, HostTarget, parse_address
from attest.evidence import Assurance, Claim, Evidence, Problem, printable
from attest.watch.neighbours import no_mac_reason
from attest.watch.observations import SourceRecord, source_key

if TYPE_CHECKING:
    from attest.watch.watch import Watch

PREVIEW_BYTES = 96
_TLS_OUTCOMES = ("tls", "tls-cut-off", "tls-too-large", "tls-malformed")


def host_of(address: str) -> str | None:
    """The IP a device address stands for, or None (a serial console, a host name)."""
    try:
        target = parse_address(address)
    except AddressError:
        return None
    if not isinstance(target, HostTarget | EndpointTarget) or (
            isinstance(target, EndpointTarget) and target.kind == "serial"):
        return None
    try:
        return source_key(str(ipaddress.ip_address(target.host.strip("[]"))))
    except ValueError:
        return None


def source_claims(record: SourceRecord | None, *, watched: str, seconds: float, started: float,
                  blind_ports: dict[int, str], dns_source: str, tcp_source: str) -> list[Claim]:
    """The claims for one source (None: it did nothing the watch saw)."""
    o = Assurance.OBSERVED
    lookups = list(record.lookups.values()) if record else []
    conns = list(record.connections.values()) if record else []
    since = datetime.fromtimestamp(started, UTC).strftime("%H:%M:%S UTC")
    macs = record.macs if record else []
    parts = [f"{len(lookups)} lookup(s), {len(conns)} kind(s) of connection in {seconds:g} s from {since}",
             f"watching {watched}"]
    if record is not None and not macs:
        parts.append(f"MAC: {no_mac_reason(record.address)}")
    if blind_ports:
        parts.append("not listening on " + ", ".join(f"{p} ({why})" for p, why in sorted(blind_ports.items())))
    if record is not None:
        counted = [(record.queries_over_rate, "queries past the rate limit"),
                   (record.malformed, "malformed DNS packets"),
                   (record.lookups_over_cap, "lookups past the cap"),
                   (record.connections_over_cap + record.connections_refused, "connections past the caps")]
        parts += [f"{n} {what} (counted, not kept)" for n, what in counted if n]
    claims = [Claim("egress.watch", "; ".join(parts), dns_source, o)]
    if macs:
        claims.append(Claim("egress.mac", ", ".join(macs), dns_source, o))
    for n, (lookup, tally) in enumerate(lookups):
        claims += [Claim(f"egress.dns.{n}.name", lookup.name, dns_source, o),
                   Claim(f"egress.dns.{n}.type", lookup.qtype, dns_source, o),
                   Claim(f"egress.dns.{n}.count", tally.count, dns_source, o)]
    for n, (conn, tally) in enumerate(conns):
        where = tcp_source.format(port=conn.port)
        claims += [Claim(f"egress.connect.{n}.port", conn.port, where, o),
                   Claim(f"egress.connect.{n}.outcome", conn.outcome, where, o),
                   Claim(f"egress.connect.{n}.bytes", conn.size, where, o),
                   Claim(f"egress.connect.{n}.count", tally.count, where, o)]
        if conn.sni:
            claims.append(Claim(f"egress.connect.{n}.sni", conn.sni, where, o))
        if conn.checkins:
            claims.append(Claim(f"egress.connect.{n}.checkin", ", ".join(conn.checkins), where, o))
        if conn.first_bytes and conn.outcome not in _TLS_OUTCOMES:
            claims.append(Claim(f"egress.connect.{n}.preview", printable(conn.first_bytes[:PREVIEW_BYTES]), where, o))
    return claims


class WatchSource:
    """The watch as an ``attest.fleet.EvidenceSource``: each device's claims, once the window closes."""

    def __init__(self, watch: Watch, seconds: float) -> None:
        self.watch = watch
        self.seconds = seconds
        self.ends_at = watch.started_at + seconds
        self._snapshot: dict[str, SourceRecord] | None = None
        self._freezing: asyncio.Future[dict[str, SourceRecord]] | None = None
        self.asked: set[str] = set()

    async def snapshot(self) -> dict[str, SourceRecord]:
        """What every source did in the window (waits for the window to close)."""
        if self._snapshot is not None:
            return self._snapshot
        if self._freezing is None:
            self._freezing = asyncio.ensure_future(self._freeze())
        return await asyncio.shield(self._freezing)

    async def _freeze(self) -> dict[str, SourceRecord]:
        delay = self.ends_at - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)  # the window is a span of time: there is nothing else to wait on
        self._snapshot = self.watch.observations.snapshot()
        return self._snapshot

    async def claims_for(self, evidence: Evidence) -> tuple[Sequence[Claim], Sequence[Problem]]:
        host = host_of(evidence.address)
        if host is None:
            if parse_address_kind(evidence.address) == "serial":
                return (), ()  # a serial console has no address on the intake network
            return [Claim("egress.watch", "not matched: the watch knows rigs by IP address, and this one was "
                          "named by host name", self.watch.dns_source, Assurance.OBSERVED)], ()
        snapshot = await self.snapshot()
        self.asked.add(host)
        return source_claims(snapshot.get(host), watched=self.watch.describe(), seconds=self.seconds,
                             started=self.watch.started_wall, blind_ports=self.watch.not_listening,
                             dns_source=self.watch.dns_source, tcp_source=self.watch.tcp_source), ()

    def unclaimed(self) -> list[SourceRecord]:
        """Sources the watch saw that were none of the devices asked about (another DHCP lease?)."""
        if self._snapshot is None:
            return []
        return [r for a, r in self._snapshot.items() if a not in self.asked and (r.lookups or r.connections)]


def parse_address_kind(address: str) -> str | None:
    try:
        target = parse_address(address)
    except AddressError:
        return None
    return target.kind if isinstance(target, EndpointTarget) else None

"""The watch itself: a DNS sinkhole and TCP listeners on one station address, started and stopped
together, with the observations they share."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
from collections.abc import Sequence
from types import TracebackType

from attest.indicators import Indicator, network_indicators
from attest.policy import DEFAULT_WATCH_PORTS
from attest.watch.claims import WatchSource
from attest.watch.listeners import ConnectionCatcher, bind_failure, start_listeners
from attest.watch.neighbours import Neighbours
from attest.watch.observations import Notice, Observation, ObservationLog, WatchLimits

DNS_PORT = 53
#: How long a check watches the rigs when not told: firmware that phones home every few minutes
#: needs longer (--watch-seconds), but most check in when they boot and then every minute or so.
DEFAULT_WINDOW_SECONDS = 30.0
DNS_RECEIVE_BUFFER = 4 * 1024 * 1024


class WatchError(Exception):
    """The watch cannot run as asked; ``message`` says what to change."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR``, ``ADDR:PORT``, ``[V6ADDR]:PORT`` or ``V6ADDR``: the station's own address on the
    intake network (the sinkhole every name resolves to) and the DNS port (default 53)."""
    text = text.strip()
    host, port = text, DNS_PORT
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise WatchError(f"bad watch address {text!r}: use ADDR, ADDR:PORT or [IPv6]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        port_text = ""
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise WatchError(f"bad DNS port in {text!r}: a number from 1 to 65535")
        port = int(port_text)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise WatchError(f"bad watch address {text!r}: the station's IP address on the intake network, "
                         "e.g. 10.0.4.1 or 10.0.4.1:53") from None
    if ip.is_unspecified or ip.is_multicast:
        raise WatchError(f"the watch needs one address of this station, not {host}: every name is answered "
                         "with it, so rigs connect there")
    return str(ip), port


class Watch:
    """``async with Watch(address, port) as watch:``; ``watch.evidence_source(seconds)`` for a verify,
    ``watch.subscribe()`` to stream what it sees."""

    def __init__(self, address: str, dns_port: int = DNS_PORT, *, tcp_ports: Sequence[int] = DEFAULT_WATCH_PORTS,
                 indicators: Sequence[Indicator] | None = None, limits: WatchLimits | None = None) -> None:
        self.address = address
        self.dns_port = dns_port
        self.indicators = tuple(network_indicators(None if indicators is None else tuple(indicators)))
        extra = [p for i in self.indicators if i.network is not None for p in i.network.ports]
        self.tcp_ports = tuple(dict.fromkeys([*tcp_ports, *extra]))
        self.limits = limits or WatchLimits()
        self.observations = ObservationLog(self.limits)
        self.neighbours = Neighbours()
        self.not_listening: dict[int, str] = {}
        self.started_at = 0.0  # loop time
        self.started_wall = 0.0
        self.dns: asyncio.DatagramProtocol | None = None
        self._dns_transport: asyncio.DatagramTransport | None = None
        self._servers: list[asyncio.Server] = []
        self._catcher = ConnectionCatcher(self.observations, self.neighbours.mac_for, self.indicators)

    @property
    def dns_source(self) -> str:
        return f"watch://{self._host_text()}:{self.dns_port} dns"

    @property
    def tcp_source(self) -> str:
        return f"watch://{self._host_text()}:{{port}} tcp"

    def _host_text(self) -> str:
        return f"[{self.address}]" if ":" in self.address else self.address

    def describe(self) -> str:
        listening = [p for p in self.tcp_ports if p not in self.not_listening]
        return (f"DNS on {self._host_text()}:{self.dns_port}, TCP "
                f"{', '.join(str(p) for p in listening) or 'no port'}")

    async def start(self) -> Watch:
        from attest.watch.dns import DnsResponder  # dnspython loads when a watch starts, not with every command

        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: DnsResponder(self.address, self.observations, self.neighbours.mac_for),
                local_addr=(self.address, self.dns_port))
        except OSError as e:
            raise WatchError(f"cannot answer DNS on {self._host_text()}:{self.dns_port}: "
                             f"{bind_failure(self.dns_port, e)}") from None
        self._dns_transport, self.dns = transport, protocol
        sock = transport.get_extra_info("socket")
        if sock is not None:  # room for a burst while the loop is busy (the kernel caps it at rmem_max)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, DNS_RECEIVE_BUFFER)
        self._servers, self.not_listening = await start_listeners(self._catcher, self.address, self.tcp_ports)
        self.started_at, self.started_wall = loop.time(), time.time()
        return self

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        await self._catcher.reset_all()  # connections still being read are reset, not waited for
        for server in self._servers:
            await server.wait_closed()
        self._servers = []
        if self._dns_transport is not None:
            self._dns_transport.close()
            self._dns_transport = None
        await self.neighbours.close()

    async def __aenter__(self) -> Watch:
        return await self.start()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    def subscribe(self) -> asyncio.Queue[Observation | Notice]:
        return self.observations.subscribe()

    def evidence_source(self, seconds: float) -> WatchSource:
        """For ``verify_many(sources=...)``: each device's claims, from a window of ``seconds``
        that began when the watch started."""
        return WatchSource(self, seconds)

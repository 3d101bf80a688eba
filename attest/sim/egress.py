"""What a simulated rig does on the network, when the fleet is given a DNS server (`attest sim --dns`).

Every few seconds each rig, from its own loopback address, does what its scenario's firmware
would: looks up its pools' host names and an NTP host through the given server, and opens a
stratum connection to its first named pool with a ``mining.subscribe`` (a genuine rig). The
``antbleed`` rig also looks up ``auth.minerlink.com`` and sends bmminer's check-in to its port
7000; the ``phone-home`` rig looks up an unlisted host and opens TLS to it with that name as SNI.
Every step is bounded by a timeout and its failures ignored, as firmware retries: the station's
watch may not be up yet. Without --dns a rig does nothing on the network, and a 1,000-rig fleet
starts as fast as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import json
import random
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from attest.sim.rig import Rig

NTP_HOST = "pool.ntp.org"
ANTBLEED_HOST = "auth.minerlink.com"
ANTBLEED_PORT = 7000
PHONE_HOME_HOST = "telemetry.example.org"
PHONE_HOME_PORT = 443
STEP_TIMEOUT = 3.0
DEFAULT_EVERY = 5.0


def parse_dns_server(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[V6]:PORT``): where the fleet sends its DNS queries."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise ValueError(f"--dns takes ADDR:PORT (the station's watch), not {text!r}") from None
    if not sep or not 0 < number < 65536:
        raise ValueError(f"--dns takes ADDR:PORT (the station's watch), not {text!r}")
    return host, number


def checkin(rig: Rig, counter: int) -> bytes:
    """bmminer's Antbleed check-in: the control board's MAC, a counter and each hashboard's ID,
    as one JSON line without a newline (antbleed.com; Bitmain's published bmminer source)."""
    boards = [{"ID": hashlib.sha256(hb.serial.encode()).hexdigest()[:24]} for hb in rig.hashboards]
    body = {"ctrl_board": rig.mac.upper(), "id": str(counter), "hashboard": boards}
    return json.dumps(body, separators=(",", ":")).encode()


def subscribe_line(rig: Rig) -> bytes:
    agent = "btminer/2.0" if rig.family == "whatsminer" else "bmminer/2.0.0"
    return json.dumps({"id": 1, "method": "mining.subscribe", "params": [agent]}).encode() + b"\n"


_tls: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    """One client context for the fleet: no CA store is loaded (a ClientHello is all that is sent)."""
    global _tls
    if _tls is None:
        _tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _tls.check_hostname = False
        _tls.verify_mode = ssl.CERT_NONE
    return _tls


@dataclass
class RigNetwork:
    """One rig's behaviour on the network: a task that acts every ``every`` seconds (jittered)."""

    rig: Rig
    dns_server: tuple[str, int]
    every: float = DEFAULT_EVERY
    rounds: int = 0
    _rnd: random.Random = field(default_factory=random.Random)

    async def run(self) -> None:
        await asyncio.sleep(self._rnd.uniform(0.05, min(self.every, 1.5)))  # stagger the fleet's first round
        while True:
            with contextlib.suppress(Exception):  # a rig's network trouble never stops the fleet
                await self.one_round()
            await asyncio.sleep(self.every * self._rnd.uniform(0.8, 1.2))

    async def one_round(self) -> None:
        self.rounds += 1
        pools = [(p.hostname, p.port) for p in (urlsplit(pool.url) for pool in self.rig.pools)
                 if p.hostname and not _is_ip(p.hostname)]
        names = [h for h, _ in pools] + [NTP_HOST]
        if "antbleed" in self.rig.beacons:
            names.append(ANTBLEED_HOST)
        if "phone-home" in self.rig.beacons:
            names.append(PHONE_HOME_HOST)
        found = dict(zip(names, await asyncio.gather(*(self.resolve(n) for n in names)), strict=True))
        steps = []
        if pools and found.get(pools[0][0]):
            steps.append(self.send(found[pools[0][0]], pools[0][1] or 3333, subscribe_line(self.rig)))
        if "antbleed" in self.rig.beacons and found.get(ANTBLEED_HOST):
            steps.append(self.send(found[ANTBLEED_HOST], ANTBLEED_PORT, checkin(self.rig, self.rounds), reply=True))
        if "phone-home" in self.rig.beacons and found.get(PHONE_HOME_HOST):
            steps.append(self.tls_hello(found[PHONE_HOME_HOST], PHONE_HOME_PORT, PHONE_HOME_HOST))
        await asyncio.gather(*steps, return_exceptions=True)

    async def resolve(self, name: str) -> str | None:
        import dns.asyncquery  # only a fleet given --dns loads dnspython
        import dns.exception
        import dns.message
        import dns.rdatatype

        where, port = self.dns_server
        try:
            answer = await dns.asyncquery.udp(dns.message.make_query(name, "A"), where, timeout=STEP_TIMEOUT,
                                              port=port, source=self.rig.host)
        except (dns.exception.DNSException, OSError, ValueError):
            return None
        for rrset in answer.answer:
            if rrset.rdtype == dns.rdatatype.A:
                for rdata in rrset:
                    return str(rdata.address)
        return None

    async def send(self, address: str, port: int, data: bytes, *, reply: bool = False) -> None:
        async with asyncio.timeout(STEP_TIMEOUT):
            reader, writer = await asyncio.open_connection(address, port, local_addr=(self.rig.host, 0))
            try:
                writer.write(data)
                await writer.drain()
                if reply:  # bmminer waits for "true"/"false" (a "false" would stop it mining)
                    await reader.read(1024)
            finally:
                writer.close()

    async def tls_hello(self, address: str, port: int, name: str) -> None:
        async with asyncio.timeout(STEP_TIMEOUT):
            _, writer = await asyncio.open_connection(address, port, local_addr=(self.rig.host, 0), ssl=_tls_context(),
                                                      server_hostname=name, ssl_handshake_timeout=STEP_TIMEOUT)
            writer.close()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass
class FleetNetwork:
    """Every rig's network task, as one closable thing for the fleet (attest.sim.runner)."""

    rigs: Sequence[RigNetwork]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> FleetNetwork:
        self.tasks = [asyncio.ensure_future(r.run()) for r in self.rigs]
        return self

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()

    async def wait_closed(self) -> None:
        await asyncio.gather(*self.tasks, return_exceptions=True)


def fleet_network(rigs: Sequence[Rig], dns_server: tuple[str, int], every: float = DEFAULT_EVERY) -> FleetNetwork:
    return FleetNetwork([RigNetwork(r, dns_server, every, _rnd=random.Random(f"net/{r.name}")) for r in rigs]).start()

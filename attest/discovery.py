"""Discovery: which addresses of a range hold something of a rig, asked concurrently and lazily.

Each address gets a short probe per port of the profile (the drivers' ``identify``: the API's
``version``, the web UI's digest realm, an SSH banner). ``attest scan`` wants every service named
(``thorough``); a verify only needs to know a rig is there, so it asks the API first and the rest
only where the API says nothing (see API_HEAD_START). A fixed pool of workers draws addresses from
one iterator, so a /16 is never a list of 65,534 strings or tasks, and only counts are kept.

A host that identifies as nothing we read is still reported when it opens any miner port of the
profile (API, Whatsminer v3, web, SSH, gRPC): a rig whose firmware hangs or answers garbage is
exactly the one a technician must see, so it is ``Discovered`` with no services, the ports it
opened and the first bytes it sent (capped, as plain text). Only addresses where nothing accepts
a connection are silent, and those are counted, never listed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType

from attest.address import EndpointTarget, HostTarget, PortProfile, RangeTarget, Target
from attest.drivers import antminer_web, braiins, cgminer, ssh, whatsminer3
from attest.drivers.base import CollectError, CollectOptions, Session
from attest.evidence import Transcript, printable

#: Seconds a discovery probe waits on one port; a real LAN rig answers in milliseconds.
DISCOVERY_TIMEOUT = 2.0
#: Addresses probed at once. Each probe is at most three short connections.
DISCOVERY_CONCURRENCY = 256
#: How long the API probe runs alone before web and SSH are asked too (``thorough=False``). A
#: miner's API usually answers well within it, so a live rig costs one connection. One that has
#: not answered yet gets a bare connect: the kernel accepts for a listening port however busy the
#: miner's software is, so a slow API is waited for, and only an address where nothing accepts
#: (or which refuses, or answers as no miner) is asked about web and SSH.
API_HEAD_START = 0.25
#: A DiscoveryProgress event after this many addresses.
PROGRESS_EVERY = 32
#: Probing starts with this many workers and adds as many again every PROBE_RAMP_SECONDS up to
#: its concurrency: 256 first probes at once bury the first rigs' answers (and the first
#: collections that follow them) under every other address's; a ramp finds the first hosts in
#: milliseconds and is at full width within two seconds, a small part of a range's timeouts.
PROBE_RAMP_FIRST = 32
PROBE_RAMP_SECONDS = 0.25
#: Bytes of a probe's replies kept per address, to say what a host that did not identify said.
SAID_CAP_BYTES = 512
#: ... and characters of it shown: enough to recognise a banner or an error page, never a flood.
SAID_CHARS = 160
#: The ports of the profile whose opening makes an address a row (even one that does not identify).
MINER_PORTS = ("api", "whatsminer3", "web", "ssh", "grpc")

log = logging.getLogger(__name__)

# --- events ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Discovered:
    """Found: something of the port profile answered on ``host``.

    ``services`` names what identified (endpoint kind -> family). A host that opened a miner port
    but identified as nothing has no services: ``opened`` lists those ports (kind -> port) and
    ``said`` is what it sent back, as capped plain text ("" when it said nothing).
    """

    host: str
    services: dict[str, str]  # endpoint kind -> what answered there (e.g. "bmminer", "antminer-web")
    opened: dict[str, int] = field(default_factory=dict)
    said: str = ""

    @property
    def identified(self) -> bool:
        return bool(self.services)

    def not_identified_text(self) -> str:
        """For a person: which ports opened and what came back ("" when it identified)."""
        if self.identified:
            return ""
        ports = ", ".join(f"{port} ({kind})" for kind, port in self.opened.items()) or "a miner port"
        said = f"it said: {self.said}" if self.said else "it said nothing"
        return f"{self.host} opens {ports} but does not identify as a miner; {said}"


@dataclass(frozen=True)
class DiscoveryProgress:
    """How far probing the ranges has got: ``probed`` of ``addresses``, ``found`` answered, of
    which ``identified`` as a miner."""

    addresses: int
    probed: int
    found: int
    identified: int = 0


@dataclass(frozen=True)
class DiscoveryDone:
    """Every range probed, or the deadline stopped it (then ``probed < addresses``).

    ``found`` hosts answered on a miner port, ``identified`` of them as a miner; the others are
    rows all the same (UNKNOWN, NOT_IDENTIFIED when verified); ``silent`` addresses opened nothing.
    """

    addresses: int
    probed: int
    found: int
    identified: int = 0

    @property
    def cut_short(self) -> bool:
        return self.probed < self.addresses

    @property
    def not_identified(self) -> int:
        return self.found - self.identified

    @property
    def silent(self) -> int:
        return self.probed - self.found

    def summary(self) -> str:
        """"254 addresses: 200 answered (170 identified, 30 not identified), 54 silent"."""
        text = (f"{self.addresses} address{'es' if self.addresses != 1 else ''}: {self.found} answered "
                f"({self.identified} identified, {self.not_identified} not identified), {self.silent} silent")
        if self.cut_short:
            text += f", {self.addresses - self.probed} never probed"
        return text


DiscoveryEvent = Discovered | DiscoveryProgress | DiscoveryDone


# --- probing ---------------------------------------------------------------------------------

def range_addresses(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Iterator[str]:
    """The range's host addresses, lazily: a /16 is 65,534 strings only one at a time."""
    if network.num_addresses == 1:
        return iter([str(network.network_address)])
    return (str(h) for h in network.hosts())


def range_size(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> int:
    """How many addresses :func:`range_addresses` gives, without listing them."""
    n = network.num_addresses
    if n == 1:
        return 1
    if network.version == 4:
        return n if network.prefixlen >= 31 else n - 2
    return n if network.prefixlen >= 127 else n - 1  # hosts() leaves out the subnet-router anycast


def _probe_session(options: CollectOptions) -> Session:
    # Discovery keeps only the first bytes of replies: what a host that does not identify said.
    return Session(CollectOptions(timeout=min(options.timeout, DISCOVERY_TIMEOUT), max_reply_bytes=64 * 1024),
                   Transcript(cap_bytes=SAID_CAP_BYTES))


def _said(transcript: Transcript) -> str:
    """The first bytes the host sent, per endpoint, as one capped line of plain text."""
    parts = [f"{endpoint} {printable(data, limit=SAID_CHARS)}" for endpoint, direction, data in transcript.entries
             if direction == "<" and data]
    text = "; ".join(" ".join(part.replace("\\r", " ").split()) for part in parts)  # one line, runs of space as one
    return text if len(text) <= SAID_CHARS else text[: SAID_CHARS - 3] + "..."


def _miner_ports(ports: PortProfile) -> dict[str, int]:
    """The profile's miner ports, each port once (the first kind that names it)."""
    out: dict[str, int] = {}
    for kind in MINER_PORTS:
        port = getattr(ports, kind)
        if port not in out.values():
            out[kind] = port
    return out


async def _opened_ports(host: str, ports: dict[str, int], timeout: float) -> dict[str, int]:
    """Which of ``ports`` accept a TCP connection within ``timeout`` (each closed at once, unused)."""
    accepted = await asyncio.gather(*(_accepts(host, port, timeout) for port in ports.values()))
    return {kind: port for (kind, port), ok in zip(ports.items(), accepted, strict=True) if ok}


def _unidentified(host: str, opened: dict[str, int], session: Session) -> Discovered:
    return Discovered(host, {}, opened, _said(session.transcript) if opened else "")


async def _identify(kind: str, driver: ModuleType, host: str, port: int, session: Session) -> tuple[str, str | None]:
    try:
        return kind, await driver.identify(host, port, session)
    except CollectError:
        return kind, None
    except Exception:  # a driver bug on one address's odd reply must not end the range's probing
        log.exception("identifying %s on %s:%s failed", kind, host, port)
        return kind, None


async def probe_host(host: str, ports: PortProfile, options: CollectOptions, *,
                     thorough: bool = True) -> Discovered:
    """Which of the port profile's services answer on ``host``, and as what.

    ``thorough`` asks API, web and SSH at once and reports each (what `attest scan` shows).
    Otherwise the question is only "is anything of a rig here?": the API is asked first, and web
    and SSH only when it has not identified a miner within API_HEAD_START; the first service
    that answers ends the probe. Where nothing identifies, the result still says which miner
    ports accepted a connection and what came back (no services, ``opened`` and ``said``).
    """
    session = _probe_session(options)
    # Which family answers here: firmware from 2024 on may answer only Whatsminer API v3 (4433),
    # and Braiins OS names itself on its gRPC API (50051).
    probes = (("api", cgminer, ports.api), ("web", antminer_web, ports.web), ("ssh", ssh, ports.ssh),
              ("whatsminer3", whatsminer3, ports.whatsminer3), ("grpc", braiins, ports.grpc))
    timeout = session.options.timeout
    if thorough:
        found, opened = await asyncio.gather(
            asyncio.gather(*(_identify(kind, drv, host, port, session) for kind, drv, port in probes)),
            _opened_ports(host, _miner_ports(ports), timeout))
        services = {kind: family for kind, family in found if family}
        return Discovered(host, services) if services else _unidentified(host, opened, session)
    kind, drv, port = probes[0]
    pending = {asyncio.ensure_future(_identify(kind, drv, host, port, session))}
    opening: asyncio.Future[dict[str, int]] | None = None
    try:
        done, _ = await asyncio.wait(pending, timeout=API_HEAD_START)
        if not done and await _accepts(host, port, API_HEAD_START):
            done, pending = await asyncio.wait(pending)  # listening: its answer decides
        answer = _first_answer(done)
        if answer:
            return Discovered(host, answer)
        pending = {t for t in pending if not t.done()}
        pending |= {asyncio.ensure_future(_identify(k, d, host, p, session)) for k, d, p in probes[1:]}
        opening = asyncio.ensure_future(_opened_ports(host, _miner_ports(ports), timeout))
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            answer = _first_answer(done)
            if answer:
                return Discovered(host, answer)
        return _unidentified(host, await opening, session)
    finally:
        leftover = {*pending, *([opening] if opening is not None and not opening.done() else [])}
        for task in leftover:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)


async def _accepts(host: str, port: int, timeout: float) -> bool:
    """Whether ``host:port`` accepts a TCP connection within ``timeout``; the connection is
    closed at once, unused."""
    try:
        async with asyncio.timeout(timeout):
            transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, host, port)
    except (OSError, TimeoutError):
        return False
    transport.close()
    return True


def _first_answer(done: set[asyncio.Future[tuple[str, str | None]]]) -> dict[str, str]:
    return {kind: family for kind, family in (t.result() for t in done) if family}


class Prober:
    """Probes addresses drawn lazily from one iterator by a fixed pool of workers.

    Each address comes tagged (which range it belongs to); each host that answers goes to
    ``on_found`` with its tag. Only counts are kept, so a /16 costs the same memory as a /28.
    """

    def __init__(self, addresses: Iterator[tuple[int, str]], total: int, *, ports: PortProfile,
                 options: CollectOptions, concurrency: int, thorough: bool,
                 on_found: Callable[[int, Discovered], None],
                 on_progress: Callable[[DiscoveryProgress | DiscoveryDone], None]) -> None:
        self._addresses = addresses
        self.total = total
        self.probed = 0
        self.found = 0
        self.identified = 0
        self._ports, self._options, self._thorough = ports, options, thorough
        self._concurrency = max(1, min(concurrency, total))
        self._on_found, self._on_progress = on_found, on_progress

    async def run(self) -> None:
        self._on_progress(DiscoveryProgress(self.total, 0, 0, 0))
        workers = [asyncio.ensure_future(self._worker()) for _ in range(min(self._concurrency, PROBE_RAMP_FIRST))]
        try:
            while len(workers) < self._concurrency:
                await asyncio.wait(workers, timeout=PROBE_RAMP_SECONDS)
                if any(w.done() for w in workers):
                    break  # a worker ends when the addresses run out (or it failed): wider is no use
                more = min(PROBE_RAMP_FIRST, self._concurrency - len(workers))
                workers.extend(asyncio.ensure_future(self._worker()) for _ in range(more))
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        self._on_progress(self.done())

    def done(self) -> DiscoveryDone:
        return DiscoveryDone(self.total, self.probed, self.found, self.identified)

    async def _worker(self) -> None:
        # One shared iterator: next() never awaits, so two workers never get the same address.
        for tag, host in self._addresses:
            found = await probe_host(host, self._ports, self._options, thorough=self._thorough)
            self.probed += 1
            if found.services or found.opened:
                self.found += 1
                self.identified += found.identified
                self._on_found(tag, found)
            if self.probed % PROGRESS_EVERY == 0 and self.probed < self.total:
                self._on_progress(DiscoveryProgress(self.total, self.probed, self.found, self.identified))


async def discover_events(hosts: Iterable[str], *, ports: PortProfile, options: CollectOptions,
                          total: int | None = None, concurrency: int = DISCOVERY_CONCURRENCY,
                          thorough: bool = True, deadline: float | None = None) -> AsyncIterator[DiscoveryEvent]:
    """Probe every host, ``concurrency`` at once: each host that answers as it answers, with
    progress, and DiscoveryDone last. ``deadline`` (seconds) stops probing; DiscoveryDone then
    says how many addresses were left."""
    if total is None:
        hosts = list(hosts)
        total = len(hosts)
    events: asyncio.Queue[DiscoveryEvent] = asyncio.Queue()
    prober = Prober(((0, h) for h in hosts), total, ports=ports, options=options, concurrency=concurrency,
                     thorough=thorough, on_found=lambda _, found: events.put_nowait(found),
                     on_progress=events.put_nowait)
    task = asyncio.ensure_future(prober.run())
    ends_at = None if deadline is None else asyncio.get_running_loop().time() + deadline
    try:
        while True:
            try:
                async with asyncio.timeout_at(ends_at):
                    event = await events.get()
            except TimeoutError:
                break
            yield event
            if isinstance(event, DiscoveryDone):
                return
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        while not events.empty():
            event = events.get_nowait()
            if isinstance(event, Discovered):
                yield event
        yield prober.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def discover(hosts: Iterable[str], *, ports: PortProfile, options: CollectOptions,
                   concurrency: int = DISCOVERY_CONCURRENCY, thorough: bool = True) -> AsyncIterator[Discovered]:
    """Probe every host with bounded concurrency; yields only hosts where something answered
    (identified or not: see ``Discovered.identified``)."""
    async for event in discover_events(hosts, ports=ports, options=options, concurrency=concurrency,
                                       thorough=thorough):
        if isinstance(event, Discovered):
            yield event


async def expand(targets: Sequence[Target], *, ports: PortProfile,
                 options: CollectOptions) -> list[HostTarget | EndpointTarget]:
    """Ranges become the hosts that answer in them, in address order; the rest pass through.

    ``verify_many`` takes ranges itself and starts on each host as it is found; this is for
    callers that want the list first.
    """
    out: list[HostTarget | EndpointTarget] = []
    for target in targets:
        if isinstance(target, RangeTarget):
            found = [d.host async for d in discover(range_addresses(target.network), ports=ports, options=options,
                                                    thorough=False)]
            out.extend(HostTarget(h) for h in sorted(found, key=address_order))
        else:
            out.append(target)
    return out


def address_order(host: str) -> tuple[int, int | str]:
    try:
        return 0, int(ipaddress.ip_address(host))
    except ValueError:
        return 1, host

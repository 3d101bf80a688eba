"""The network watch under hostile input: memory, CPU, and what it still records for honest rigs.

    .venv/bin/python bench/watch_bench.py [--seconds 10] [--rate 10000] [--sources 1000]

Phases, each against one watch in this process on a free loopback address (numbers printed):

1. flood: another process sends ``--rate`` DNS queries a second from one address, each for a new
   name, plus 2,000 malformed datagrams a second from a second address, plus 300 TCP connections
   that never send and 100 ClientHellos cut off, while an honest rig looks a name up and sends a
   check-in every half second. Printed: RSS before, after and peak, the watch's CPU seconds, what
   the flood cost in records (a few) against counters (the rest), and what the honest rig kept.
2. many sources: ``--sources`` addresses each ask for 70 different names, the most the per-source
   cap lets any one keep being 64: memory then is the bound in practice (sources x cap).
3. fleet start: `start_fleet(1000)` with and without --dns (rigs that do nothing on the network
   start as fast as before; with --dns each rig gets one task).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.message

from attest.sim.runner import free_base, start_fleet
from attest.watch import Watch

DNS_PORT = 5300

SENDER = r"""
import os, socket, struct, sys, time
source, server, kind = sys.argv[1], sys.argv[2], sys.argv[6]
port, rate, seconds = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
def query(n, tag):
    name = b"".join(bytes([len(p)]) + p for p in (b"n%d" % n, tag, b"example")) + b"\0"
    return struct.pack(">HHHHHH", n & 0xFFFF, 0x0100, 1, 0, 0, 0) + name + b"\0\1\0\1"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((source, 0))
s.setblocking(False)
sent, start = 0, time.monotonic()
while (elapsed := time.monotonic() - start) < seconds:
    while sent < rate * elapsed:
        packet = query(sent, b"flood") if kind == "flood" else os.urandom(12 + sent % 300)
        try:
            s.sendto(packet, (server, port))
        except BlockingIOError:
            pass
        sent += 1
    time.sleep(0.0005)
print(sent)
"""

MANY = r"""
import socket, struct, sys
server, port, base, sources, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
import ipaddress, time
first = ipaddress.ip_address(base)
sent = 0
for i in range(sources):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((str(first + i), 0))
    for n in range(names):
        name = b"".join(bytes([len(p)]) + p for p in (b"h%d" % n, b"s%d" % i, b"example")) + b"\0"
        s.sendto(struct.pack(">HHHHHH", n, 0x0100, 1, 0, 0, 0) + name + b"\0\1\0\1", (server, port))
        sent += 1
        if sent % 100 == 0:
            time.sleep(0.02)  # about 5,000 a second: what one watch parses and answers, so none are lost
    s.close()
print(sent)
"""


def rss_kib() -> tuple[int, int]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def honest_rig(sinkhole: str, source: str, until: float) -> tuple[int, int]:
    asked = answered = 0
    while time.monotonic() < until:
        asked += 1
        try:
            await dns.asyncquery.udp(dns.message.make_query("pool.example-mining.net", "A"), sinkhole, port=DNS_PORT,
                                     source=source, timeout=1.0)
            answered += 1
        except dns.exception.Timeout:
            pass
        try:
            _, w = await asyncio.open_connection(sinkhole, 7000, local_addr=(source, 0))
            w.write(b'{"ctrl_board":"02:A7:00:00:00:01","id":"1","hashboard":[]}')
            await w.drain()
            w.close()
        except OSError:
            pass
        await asyncio.sleep(0.5)
    return asked, answered


async def hostile_tcp(sinkhole: str, source: str) -> list[asyncio.StreamWriter]:
    held = []
    for _ in range(300):  # never send (the per-source cap closes most at once)
        try:
            held.append((await asyncio.open_connection(sinkhole, 443, local_addr=(source, 0)))[1])
        except OSError:
            break
    for _ in range(100):  # a ClientHello header, then nothing
        try:
            _, w = await asyncio.open_connection(sinkhole, 443, local_addr=(source, 0))
            w.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(40))
            held.append(w)
        except OSError:
            break
    return held


async def flood_phase(args: argparse.Namespace) -> None:
    base = ipaddress.ip_address(free_base(None))
    sinkhole, flood, junk, rig, tcp = (str(base + i) for i in range(5))
    async with Watch(sinkhole, DNS_PORT, tcp_ports=(443, 7000)) as watch:
        rss0, _ = rss_kib()
        cpu0 = cpu_seconds()
        senders = [await asyncio.create_subprocess_exec(
            sys.executable, "-c", SENDER, source, sinkhole, str(DNS_PORT), str(rate), str(args.seconds), kind,
            stdout=asyncio.subprocess.PIPE)
            for source, rate, kind in ((flood, args.rate, "flood"), (junk, 2000, "junk"))]
        held = await hostile_tcp(sinkhole, tcp)
        asked, answered = await honest_rig(sinkhole, rig, time.monotonic() + args.seconds)
        sent = [int((await p.communicate())[0]) for p in senders]
        for w in held:
            w.close()
        rss1, peak = rss_kib()
        cpu = cpu_seconds() - cpu0
        seen = watch.observations.snapshot()
    f, j, r, t = seen[flood], seen.get(junk), seen[rig], seen.get(tcp)
    print(f"flood: {sent[0]} queries in {args.seconds:g} s from one address ({sent[0] / args.seconds:,.0f}/s), "
          f"{sent[1]} malformed datagrams from another, {len(held)} hostile TCP connections")
    print(f"  flood kept {len(f.lookups)} lookups (cap), counted {f.queries_over_rate} past the rate and "
          f"{f.lookups_over_cap} past the cap; the malformed sender: {j.malformed if j else 0} counted malformed, "
          f"{j.queries_over_rate if j else 0} past the rate (never parsed)")
    if t is not None:
        print(f"  hostile TCP: {len(t.connections)} kinds kept, {t.connections_refused} refused past the "
              "per-source cap")
    print(f"  honest rig: {answered}/{asked} queries answered; kept {len(r.lookups)} lookup, "
          f"{sum(tl.count for _, tl in r.connections.values())} check-ins counted")
    print(f"  RSS {rss0 / 1024:.1f} MiB before, {rss1 / 1024:.1f} MiB after, peak {peak / 1024:.1f} MiB; "
          f"watch CPU {cpu:.2f} s over {args.seconds:g} s")


async def many_sources_phase(args: argparse.Namespace) -> None:
    sinkhole = free_base(None)
    first = ipaddress.ip_address(sinkhole) + 256  # the next /24: one address per source
    async with Watch(sinkhole, DNS_PORT, tcp_ports=(7000,)) as watch:
        rss0, _ = rss_kib()
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", MANY, sinkhole, str(DNS_PORT), str(first),
                                                    str(args.sources), "70", stdout=asyncio.subprocess.PIPE)
        sent = int((await proc.communicate())[0])
        kept = -1
        while kept != (now := sum(len(r.lookups) for r in watch.observations.sources.values())):
            kept = now
            await asyncio.sleep(0.3)  # until the datagrams still in the socket buffer have been read
        rss1, peak = rss_kib()
        kept = sum(len(r.lookups) for r in watch.observations.sources.values())
        sources = len(watch.observations.sources)
    print(f"many sources: {sent} queries from {args.sources} addresses (70 names each): {sources} sources kept, "
          f"{kept} lookups kept (cap 64 each); RSS {rss0 / 1024:.1f} -> {rss1 / 1024:.1f} MiB (peak {peak / 1024:.1f})")


async def fleet_start_phase() -> None:
    for dns_server in (None, ("127.0.0.1", 5399), None):
        with tempfile.TemporaryDirectory() as tmp:
            began = time.perf_counter()
            fleet = await start_fleet(1000, "mixed", Path(tmp), base=free_base(None), consoles=False, dns=dns_server)
            took = time.perf_counter() - began
            await fleet.close()
        print(f"fleet start: 1,000 rigs {'with' if dns_server else 'without'} --dns in {took:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=10_000)
    parser.add_argument("--sources", type=int, default=1000)
    args = parser.parse_args()
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"python {sys.version.split()[0]}; {socket.gethostname()}; load average {' '.join(load)}")
    asyncio.run(flood_phase(args))
    asyncio.run(many_sources_phase(args))
    asyncio.run(fleet_start_phase())


if __name__ == "__main__":
    main()

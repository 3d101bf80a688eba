"""Real clients in their own network namespace, seen by the watch: dig, curl and nc.

A rig's network is made of a namespace (``ip netns add``) joined to the station's by a veth pair;
its resolv.conf (``/etc/netns/NAME/resolv.conf``, which ``ip netns exec`` mounts over
/etc/resolv.conf) names the station as its DNS server, as DHCP option 6 would on an intake
network. Real `dig`, `curl` (TLS, so it sends its SNI) and `nc` (Antbleed's check-in) run there;
the watch runs here in the station's namespace, and must see each with the right name, port, SNI
and the MAC of the rig's end of the veth, learnt from the kernel's neighbour table.

Needs root (CAP_NET_ADMIN) and dnsutils, curl, netcat-openbsd and iproute2; CI (.ci/run) has
them and must run this, elsewhere it skips.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from attest.watch import Connection, Lookup, Watch, WatchLimits

pytestmark = pytest.mark.real

CHECKIN = '{"ctrl_board":"02:A7:00:11:22:33","id":"1","hashboard":[{"ID":"00112233445566778899aabb"}]}'


def _needs(tools: tuple[str, ...]) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    why = f"needs {', '.join(missing)}" if missing else ("needs root for ip netns" if os.geteuid() != 0 else "")
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the namespace test: {why} (.ci/run installs dnsutils, curl, iproute2)")
        pytest.skip(why)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@dataclass
class RigNamespace:
    name: str
    station: str  # the station's address on the veth (the watch's)
    rig: str
    rig_mac: str

    def run(self, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True,
                              timeout=timeout, check=False)


@pytest.fixture
def rig_netns() -> Iterator[RigNamespace]:
    _needs(("ip", "dig", "curl", "nc"))
    tag = f"{os.getpid() % 100000}{random.randrange(100)}"
    name, here, there = f"rigattest-{tag}", f"ras{tag}", f"rar{tag}"
    subnet = f"10.{random.randrange(200, 250)}.{random.randrange(256)}"
    station, rig = f"{subnet}.1", f"{subnet}.2"
    etc = Path("/etc/netns") / name
    try:
        ip("netns", "add", name)
        ip("link", "add", here, "type", "veth", "peer", "name", there)
        ip("link", "set", there, "netns", name)
        ip("addr", "add", f"{station}/30", "dev", here)
        ip("link", "set", here, "up")
        ip("netns", "exec", name, "ip", "addr", "add", f"{rig}/30", "dev", there)
        ip("netns", "exec", name, "ip", "link", "set", there, "up")
        ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {station}\noptions timeout:2 attempts:2\n")
        mac = subprocess.run(["ip", "netns", "exec", name, "cat", f"/sys/class/net/{there}/address"],
                             capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        yield RigNamespace(name, station, rig, mac)
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True, timeout=10, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10, check=False)
        shutil.rmtree(etc, ignore_errors=True)


def test_dig_curl_and_nc_in_their_own_namespace_are_seen_with_names_ports_sni_and_mac(rig_netns):
    ns = rig_netns

    async def go():
        async with Watch(ns.station, 53, tcp_ports=(443, 7000), limits=WatchLimits(first_bytes_timeout=3)) as watch:
            def clients() -> tuple[str, str, str]:
                dig = ns.run("dig", f"@{ns.station}", "+short", "+tries=2", "+time=3", "pool.example-mining.net", "A")
                curl = ns.run("curl", "-sS", "--max-time", "5", "https://update.example.org/firmware")
                nc = ns.run("sh", "-c", f"printf '%s' '{CHECKIN}' | nc -w 2 auth.minerlink.com 7000")
                return dig.stdout.strip(), curl.stderr, nc.stderr
            answers = await asyncio.to_thread(clients)
            return answers, watch.observations.snapshot()[ns.rig]

    (dig_answer, curl_err, _), seen = asyncio.run(go())
    assert dig_answer == ns.station  # dig got the sinkhole
    assert curl_err  # curl failed: the watch answers no TLS, forwards nothing
    lookups = {(o.name, o.qtype) for o, _ in seen.lookups.values()}
    assert {("pool.example-mining.net", "A"), ("update.example.org", "A"), ("auth.minerlink.com", "A")} <= lookups
    conns: dict[int, Connection] = {c.port: c for c, _ in seen.connections.values()}
    assert (conns[443].outcome, conns[443].sni) == ("tls", "update.example.org")
    assert (conns[7000].outcome, conns[7000].checkins) == ("plain", ("antbleed",))
    assert conns[7000].first_bytes == CHECKIN.encode()
    observed = [o for o, _ in seen.lookups.values()] + list(conns.values())
    assert {o.mac for o in observed} == {ns.rig_mac}  # bound to the rig's network card
    assert all(isinstance(o, Lookup | Connection) and o.source == ns.rig for o in observed)

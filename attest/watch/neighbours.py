"""The MAC behind a source address, from the kernel's neighbour table.

An address alone is cheap to borrow on a shared network; the MAC the station's kernel learnt for
it (from the ARP or neighbour discovery that had to happen before the rig's packet could reach
us) binds an observation to a network card. IPv4 entries come from ``/proc/net/arp``, IPv6 ones
from ``ip -6 neigh`` (there is no proc file for them). Loopback has no link layer and so no MAC:
a simulated rig on 127.0.1.x never has one, and that is said rather than guessed.

Reads are cached briefly and bounded: a flood of packets from new addresses costs one read of the
table a second, not one per packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import shutil
import time

ARP_TABLE = "/proc/net/arp"
#: A table larger than this is read no further (a /16 of neighbours is about 5 MiB of text).
MAX_TABLE_BYTES = 8 * 1024 * 1024
TABLE_TTL_SECONDS = 1.0
IP_TIMEOUT_SECONDS = 2.0
_INCOMPLETE = "00:00:00:00:00:00"
_ATF_COM = 0x2  # the entry is complete (a MAC was learnt)


def no_mac_reason(address: str) -> str:
    """Why an address has no MAC: said in the evidence instead of leaving a blank."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if ip.is_loopback:
        return "loopback has no link layer, so no MAC"
    return "not in the station's neighbour table (the rig is not on the station's own network segment?)"


def parse_arp_table(text: str) -> dict[str, str]:
    """``/proc/net/arp``: address -> lower-case MAC, complete entries only."""
    out: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 6:
            continue
        address, _hw_type, flags, mac = fields[0], fields[1], fields[2], fields[3].lower()
        try:
            complete = int(flags, 16) & _ATF_COM
        except ValueError:
            continue
        if complete and mac != _INCOMPLETE and len(mac) == 17:
            out[address] = mac
    return out


def parse_ip_neigh_json(data: bytes) -> dict[str, str]:
    """``ip -j -6 neigh``: address -> lower-case MAC for entries that have one."""
    try:
        entries = json.loads(data.decode("utf-8", "replace"))
    except ValueError:
        return {}
    out: dict[str, str] = {}
    if isinstance(entries, list):
        for e in entries:
            if isinstance(e, dict) and isinstance(e.get("dst"), str) and isinstance(e.get("lladdr"), str):
                with contextlib.suppress(ValueError):
                    out[str(ipaddress.ip_address(e["dst"]))] = e["lladdr"].lower()
    return out


class Neighbours:
    """Answers ``mac_for(address)`` from a briefly cached copy of the kernel's tables."""

    def __init__(self, arp_path: str = ARP_TABLE) -> None:
        self._arp_path = arp_path
        self._v4: dict[str, str] = {}
        self._v4_read_at = -1e9
        self._v6: dict[str, str] = {}
        self._v6_read_at = -1e9
        self._v6_task: asyncio.Task[None] | None = None

    def mac_for(self, address: str) -> str | None:
        """The MAC the kernel holds for ``address`` now, or None. Never blocks on a process:
        an IPv6 lookup starts a refresh of that table and is answered by the next call."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        if ip.is_loopback:
            return None
        if ip.version == 4:
            mac = self._v4.get(address)
            if mac is None and time.monotonic() - self._v4_read_at > TABLE_TTL_SECONDS:
                self._read_arp()
                mac = self._v4.get(address)
            return mac
        mac = self._v6.get(str(ip))
        if mac is None and time.monotonic() - self._v6_read_at > TABLE_TTL_SECONDS:
            self._refresh_v6()
        return mac

    def _read_arp(self) -> None:
        self._v4_read_at = time.monotonic()
        try:
            with open(self._arp_path, encoding="ascii", errors="replace") as f:
                self._v4 = parse_arp_table(f.read(MAX_TABLE_BYTES))
        except OSError:
            self._v4 = {}

    def _refresh_v6(self) -> None:
        self._v6_read_at = time.monotonic()
        if self._v6_task is not None and not self._v6_task.done():
            return
        try:
            self._v6_task = asyncio.get_running_loop().create_task(self._read_v6())
        except RuntimeError:  # no loop: nothing to refresh with
            self._v6_task = None

    async def _read_v6(self) -> None:
        ip = shutil.which("ip")
        if ip is None:
            return
        proc = await asyncio.create_subprocess_exec(ip, "-j", "-6", "neigh", "show", stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL)
        try:
            async with asyncio.timeout(IP_TIMEOUT_SECONDS):
                out = await proc.stdout.read(MAX_TABLE_BYTES) if proc.stdout else b""
                await proc.wait()
        except TimeoutError:
            return
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        self._v6 = parse_ip_neigh_json(out)

    async def close(self) -> None:
        if self._v6_task is not None:
            self._v6_task.cancel()
            await asyncio.gather(self._v6_task, return_exceptions=True)

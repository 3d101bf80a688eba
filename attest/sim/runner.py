"""Run a simulated fleet: plan rigs, write the signed manifest, trust store, policy and fleet.json,
and serve every rig's API, web and SSH endpoints until stopped.

On Linux every rig has its own loopback address (127.0.1.1, 127.0.1.2, ...) with one port
profile, so a fleet is scanned exactly like a subnet; elsewhere rigs share 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import random
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from attest.evidence import identity_document, identity_fingerprint, normalise_mac
from attest.manifest import sign_envelope
from attest.sim import api_server, braiins, epic, ssh_server, web_server, whatsminer3
from attest.sim.console import HAS_PTY, RigConsole
from attest.sim.egress import DEFAULT_EVERY, NTP_HOST, fleet_network
from attest.sim.firmware_file import write_firmware_files
from attest.sim.pki import make_vendor_pki, write_trust_store
from attest.sim.rig import Rig
from attest.sim.scenarios import (
    ALLOWED_POOL,
    FAMILY_SCENARIOS,
    SCENARIOS,
    SERIAL_SCENARIOS,
    TAMPER_SCENARIOS,
    make_rig,
    releases,
    revoked_releases,
    without_binary_indicators,
)

ISSUER = "Demo Mining Hardware Ltd"
DEFAULT_BASE = "127.0.1.1"
REAL_PORTS = {"api": 4028, "web": 80, "ssh": 22, "whatsminer3": 4433, "grpc": 50051}
UNPRIVILEGED_PORTS = {"api": 4028, "web": 8080, "ssh": 2222, "whatsminer3": 4433, "grpc": 50051}
#: Each console holds a pty (Linux allows 4096 in all, shared with every terminal on the machine):
#: fleets up to this size get one per rig unless told otherwise, bigger ones only when asked.
CONSOLE_LIMIT = 64
#: Scenarios a mixed fleet's clone copies: already UNTRUSTED for their own reason, so the
#: table's verdicts hold and the clone reason shows up on both units.
CLONE_VICTIMS = ("modified-firmware", "swapped-hashboard", "revoked-firmware", "antbleed")


class Closable(Protocol):
    def close(self) -> None: ...
    async def wait_closed(self) -> None: ...


@dataclass
class _ApiServerHandle:
    """asyncio.Server's own wait_closed leaves an unresponsive rig's connections open (3.11) or
    waits on them forever (3.12+); stop_api_server ends them."""

    server: asyncio.Server

    def close(self) -> None:
        self.server.close()

    async def wait_closed(self) -> None:
        await api_server.stop_api_server(self.server)


@dataclass
class SimFleet:
    out: Path
    rigs: list[Rig]
    ports: dict[str, int] | None  # one profile for all rigs (Linux), else None: per-rig ports
    rig_ports: dict[str, dict[str, int]]
    servers: list[Closable] = field(default_factory=list)

    @property
    def fleet_json(self) -> Path:
        return self.out / "fleet.json"

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()


def scenario_names(scenario: str) -> list[str]:
    """``mixed``: every scenario, then one genuine rig per firmware family; ``families``: the
    family rigs alone (the bench's fleet of every family)."""
    if scenario == "mixed":
        return [*SCENARIOS, *FAMILY_SCENARIOS]
    if scenario == "families":
        return list(FAMILY_SCENARIOS)
    known = [*SCENARIOS, *SERIAL_SCENARIOS, *TAMPER_SCENARIOS, *FAMILY_SCENARIOS]
    if scenario not in known:
        raise ValueError(f"unknown scenario {scenario!r}; use mixed, families or one of: {', '.join(known)}")
    return [scenario]


def rig_hosts(count: int, base: str) -> list[str]:
    if not sys.platform.startswith("linux"):
        return ["127.0.0.1"] * count
    start = ipaddress.IPv4Address(base)
    hosts = [str(start + i) for i in range(count)]
    if not all(ipaddress.IPv4Address(h) in ipaddress.IPv4Network("127.0.0.0/8") for h in hosts):
        raise ValueError(f"a fleet of {count} from {base} leaves the loopback range 127.0.0.0/8")
    return hosts


def plan_fleet(count: int, scenario: str, base: str = DEFAULT_BASE, *, seed: str | None = None) -> list[Rig]:
    """``seed`` makes other units (the default is the demo's); two fleets with one seed hold the
    same units, serial for serial: one pallet arriving at two stations."""
    names = scenario_names(scenario)
    hosts = rig_hosts(count, base)
    seeded = {} if seed is None else {"seed": seed}
    rigs = [make_rig(i, names[i % len(names)], hosts[i], **seeded) for i in range(count)]
    for i, rig in enumerate(rigs):
        if rig.scenario != "cloned-serial":
            continue
        victim = _clone_victim(rigs, i, mixed=scenario == "mixed")
        if victim is None:
            print(f"warning: {rig.name} has no other rig to clone; it runs as a genuine unit",
                  file=sys.stderr)
            continue
        clone = make_rig(victim, "genuine", rig.host, model_name=rigs[victim].model, **seeded)
        clone.name, clone.scenario, clone.clone_of = rig.name, "cloned-serial", rigs[victim].name
        clone.host_key_seed = rig.host_key_seed  # another machine: its own host key
        rigs[i] = clone
    return rigs


def _clone_victim(rigs: list[Rig], index: int, *, mixed: bool) -> int | None:
    if mixed:
        before = [j for j in range(index - 1, -1, -1) if rigs[j].scenario in CLONE_VICTIMS]
        after = [j for j in range(index + 1, len(rigs)) if rigs[j].scenario in CLONE_VICTIMS]
        return (before or after or [None])[0]
    if index % 2 == 1:
        return index - 1
    return 0 if index > 0 else (1 if len(rigs) > 1 else None)


def manifest_payload(rigs: Sequence[Rig], *, sequence: int, now: datetime) -> dict[str, Any]:
    """What the factory would sign for this fleet: every unit as built, except those the
    scenario keeps out (not-in-manifest) and clones (they copy a listed unit)."""
    devices = []
    for rig in rigs:
        if rig.scenario == "not-in-manifest" or rig.clone_of or rig.as_built is None:
            continue
        b = rig.as_built
        identity = identity_document(serial=b.serial, mac=b.mac, control_board=b.control_board_serial,
                                     hashboards=[s for _, s, _ in b.hashboards], psu=b.psu_serial)
        devices.append({
            "serial": b.serial, "model": b.model, "mac": normalise_mac(b.mac),
            "control_board": {"serial": b.control_board_serial},
            "hashboards": [{"slot": slot, "serial": s, "chips": chips} for slot, s, chips in b.hashboards],
            "psu": {"serial": b.psu_serial},
            "identity_sha256": identity_fingerprint(identity),
            "origin": {"assembled_in": "US", "site": "Houston TX", "assembled_at": "2026-10-02"},
        })
    return {
        "schema": "rigattest.manifest/v1",
        "issuer": ISSUER,
        "sequence": sequence,
        "issued_at": _iso(now - timedelta(days=1)),
        "expires_at": _iso(now + timedelta(days=365)),
        "firmware": [{"model": r.model, "version": r.version, "build": r.build, "images": r.digests()}
                     for r in releases()],
        "revoked_firmware": [{"digest": d, "reason": f"{r.model} {r.version}: remote shutdown hook (Antbleed)"}
                             for r in revoked_releases() for d in r.digests().values()],
        "devices": devices,
    }


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


POLICY_TOML = f"""# Station policy for the simulated demo fleet.
[pools]
allow = ["{ALLOWED_POOL}"]

[credentials]
allow_vendor_defaults = true

[timeouts]
request = 5.0
hash = 60.0

# What rigs may reach, judged when `attest verify --watch` watches them (the pool above counts too).
[egress]
allow = ["{NTP_HOST}", "*.{NTP_HOST}"]
vendor_update_hosts = ["firmware.demo-mining.example"]
allow_vendor_updates = false
"""


def write_artefacts(rigs: Sequence[Rig], out: Path, ports: dict[str, int] | None,
                    rig_ports: dict[str, dict[str, int]], consoles: dict[str, str] | None = None,
                    dns: tuple[str, int] | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    pki = make_vendor_pki(ISSUER, now=now)
    write_trust_store(pki, out / "trust")
    # A sequence that grows with time, so a station that verified yesterday's demo accepts today's.
    payload = manifest_payload(rigs, sequence=int(time.time()), now=now)
    envelope = sign_envelope(payload, [pki.signer()])
    (out / "manifest.dsse.json").write_text(json.dumps(envelope, indent=2) + "\n")
    (out / "policy.toml").write_text(POLICY_TOML)
    fleet: dict[str, Any] = {"ports": ports, "rigs": [_rig_entry(r, rig_ports[r.name], (consoles or {}).get(r.name))
                                                      for r in rigs]}
    if dns is not None:  # where the rigs send their DNS queries (the station's watch, attest verify --watch)
        fleet["dns"] = f"{dns[0]}:{dns[1]}" if ":" not in dns[0] else f"[{dns[0]}]:{dns[1]}"
    # Firmware-scenario rigs hand out their update file, for `attest image` (issue #9).
    firmware = write_firmware_files(list(rigs), out)
    for entry in fleet["rigs"]:
        if entry["name"] in firmware:
            entry["firmware_file"] = firmware[entry["name"]]
    (out / "fleet.json").write_text(json.dumps(fleet, indent=2) + "\n")
    if ports is not None:  # one port profile (Linux): `attest verify @OUT/hosts.txt --ports "$(cat OUT/ports.txt)"`
        (out / "hosts.txt").write_text("".join(f"{r.host}\n" for r in rigs))
        (out / "ports.txt").write_text(",".join(f"{k}={v}" for k, v in ports.items()) + "\n")


def _rig_entry(rig: Rig, ports: dict[str, int], console: str | None = None) -> dict[str, Any]:
    web_scheme = "vnish+http" if rig.family == "vnish" else "antminer+http"
    entry: dict[str, Any] = {
        "name": rig.name, "scenario": rig.scenario, "model": rig.model, "host": rig.host,
        "family": rig.family,
        "endpoints": {
            # ePIC serves HTTP on the API port; a cgminer:// address reaches it too (handed over).
            "api": f"{'epic+http' if rig.family == 'epic' else 'cgminer'}://{rig.host}:{ports['api']}",
            "web": f"{web_scheme}://{rig.host}:{ports['web']}" if _serves_web(rig) else None,
            "ssh": f"ssh://{rig.username}@{rig.host}:{ports['ssh']}" if rig.ssh_enabled else None,
            "serial": f"serial://{console}" if console else None,
        },
    }
    if rig.family == "whatsminer3":
        entry["endpoints"]["whatsminer3"] = f"whatsminer://{rig.host}:{ports['whatsminer3']}"
    if rig.family == "braiins":
        entry["endpoints"]["grpc"] = f"braiins+grpc://{rig.host}:{ports['grpc']}"
    if rig.clone_of:
        entry["clone_of"] = rig.clone_of
    return entry


def _serves_web(rig: Rig) -> bool:
    return rig.family in ("antminer", "vnish") and rig.web_enabled


def can_bind(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_base(preferred: str | None = DEFAULT_BASE, *, tries: int = 200) -> str:
    """``preferred`` if its API port is free, else a random free 127.X.Y.1 block, so a demo,
    a test run and a technician's own `attest sim` can share one machine."""
    if preferred is not None and can_bind(preferred, REAL_PORTS["api"]):
        return preferred
    rnd = random.Random()
    for _ in range(tries):
        base = f"127.{rnd.randrange(2, 250)}.{rnd.randrange(1, 250)}.1"
        if can_bind(base, REAL_PORTS["api"]):
            return base
    raise RuntimeError("no free loopback block for a simulated fleet")


def choose_ports(
    rigs: Sequence[Rig], requested: dict[str, int] | None
) -> tuple[dict[str, int] | None, dict[str, dict[str, int]]]:
    if not sys.platform.startswith("linux"):
        per_rig = {r.name: {"api": 14028 + 5 * i, "web": 18080 + 5 * i, "ssh": 12222 + 5 * i,
                            "whatsminer3": 14433 + 5 * i, "grpc": 15051 + 5 * i}
                   for i, r in enumerate(rigs)}
        return None, per_rig
    # A requested profile may name only the classic three; the newer channels keep their ports.
    ports = None if requested is None else {**{k: REAL_PORTS[k] for k in ("whatsminer3", "grpc")}, **requested}
    if ports is None:
        first = rigs[0].host if rigs else DEFAULT_BASE
        real_ok = all(can_bind(first, p) for p in REAL_PORTS.values())
        ports = REAL_PORTS if real_ok else UNPRIVILEGED_PORTS
    return dict(ports), {r.name: dict(ports) for r in rigs}


def _raise_fd_limit(rigs: int) -> None:
    """Three listeners per rig plus live connections: 1,000 rigs need more than the default 1,024."""
    try:
        import resource  # POSIX only; Windows has no such limit to raise
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, rigs * 8 + 256))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def start_fleet(count: int, scenario: str, out: Path, *, base: str = DEFAULT_BASE,
                      ports: dict[str, int] | None = None, consoles: bool | None = None,
                      dns: tuple[str, int] | None = None, dns_every: float = DEFAULT_EVERY,
                      binary_indicators: bool = True, seed: str | None = None) -> SimFleet:
    """``consoles``: a serial console (pty) per rig; None gives them to fleets of up to CONSOLE_LIMIT.
    ``dns``: the rigs resolve and connect through this server every ``dns_every`` seconds as their
    scenario's firmware would (attest.sim.egress); None: they do nothing on the network.
    ``binary_indicators`` False: no rig's miner binary carries a backdoor string (an antbleed rig
    still checks in on the network). ``seed``: see plan_fleet; it also fixes the fleet's SSH host keys."""
    rigs = plan_fleet(count, scenario, base, seed=seed)
    if not binary_indicators:
        for rig in rigs:
            without_binary_indicators(rig)
    _raise_fd_limit(len(rigs))
    profile, rig_ports = choose_ports(rigs, ports)
    fleet = SimFleet(out, rigs, profile, rig_ports)
    paths: dict[str, str] = {}
    if consoles is None:  # a console is a pty: POSIX only, and a scarce one
        consoles = HAS_PTY and len(rigs) <= CONSOLE_LIMIT
    if consoles:
        for rig in rigs:
            console = await RigConsole(rig).start()
            fleet.servers.append(console)
            paths[rig.name] = console.path
    write_artefacts(rigs, out, profile, rig_ports, paths, dns)
    try:
        for rig in rigs:
            p = rig_ports[rig.name]
            if rig.family == "epic":  # HTTP on the API port, and its dashboard on the web port
                fleet.servers.extend(await epic.start_epic_servers(rig, rig.host, p["api"], p["web"]))
            else:
                fleet.servers.append(_ApiServerHandle(await api_server.start_api_server(rig, rig.host, p["api"])))
            if _serves_web(rig):
                fleet.servers.append(await web_server.start_web_server(rig, rig.host, p["web"]))
            if rig.family == "whatsminer3":
                fleet.servers.append(await whatsminer3.start_v3_server(rig, rig.host, p["whatsminer3"]))
            if rig.family == "braiins":
                fleet.servers.append(await braiins.start_grpc_server(rig, rig.host, p["grpc"]))
            if rig.ssh_enabled:
                server = await ssh_server.start_ssh_server(rig, rig.host, p["ssh"])
                if server is not None:
                    fleet.servers.append(server)
        if dns is not None:
            fleet.servers.append(fleet_network(rigs, dns, dns_every))
    except BaseException:
        await fleet.close()
        raise
    return fleet


async def serve_forever(count: int, scenario: str, out: Path, *, base: str = DEFAULT_BASE,
                        ports: dict[str, int] | None = None, consoles: bool | None = None,
                        dns: tuple[str, int] | None = None, dns_every: float = DEFAULT_EVERY,
                        binary_indicators: bool = True, seed: str | None = None) -> None:
    fleet = await start_fleet(count, scenario, out, base=base, ports=ports, consoles=consoles, dns=dns,
                              dns_every=dns_every, binary_indicators=binary_indicators, seed=seed)
    print(f"ready {fleet.fleet_json}", flush=True)
    print(verify_hint(fleet), file=sys.stderr, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await fleet.close()


def verify_hint(fleet: SimFleet) -> str:
    """The command that checks this fleet, as a person would type it next."""
    if fleet.ports is None:
        return f"attest: the rigs and their ports are listed in {fleet.fleet_json}"
    out = fleet.out
    ports = ",".join(f"{k}={v}" for k, v in fleet.ports.items())
    return (f"attest: verify this fleet with: attest verify @{out / 'hosts.txt'} "
            f"--manifest {out / 'manifest.dsse.json'} --trust {out / 'trust'} --policy {out / 'policy.toml'} "
            f"--ports {ports}")


def default_out_dir() -> Path:
    return Path(os.environ.get("ATTEST_SIM_OUT", "sim-out"))

"""Demo mode: a simulated mixed fleet on loopback, with its manifest, trust store and policy.

The simulator runs on the job thread's event loop (``start_fleet`` is a coroutine and its servers
must live on a running loop); the station state goes to a temporary ``ATTEST_HOME`` so a demo
never touches the operator's real rollback memory. Only this module and the CLI start ``sim``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from attest.address import PortProfile
from attest.sim.runner import SimFleet, scenario_names, start_fleet
from attest.sim.runner import free_base as sim_free_base
from attest.sim.scenarios import MIXED, UNDER_WATCH

DEMO_FLEET = len(scenario_names("mixed"))  # one rig per scenario and per firmware family: every verdict kind
DEMO_BASE = "127.0.1.1"
#: The demo watches its rigs' network: each looks up and connects every two seconds, so a six-second
#: window, which runs alongside the ten or so seconds the rigs take to read, sees each a few times.
DEMO_DNS_EVERY = 2.0
DEMO_WATCH_SECONDS = 6.0
DEMO_DNS_PORT = 5300


@dataclass
class DemoFleet:
    fleet: SimFleet
    directory: Path
    ports: PortProfile
    hosts: list[tuple[str, str]]  # (host, scenario) in fleet order
    watch: str | None = None  # "ADDR:PORT": the sinkhole the rigs resolve through (the check's watch)

    @property
    def manifest(self) -> Path:
        return self.directory / "manifest.dsse.json"

    @property
    def trust_dir(self) -> Path:
        return self.directory / "trust"

    @property
    def policy(self) -> Path:
        return self.directory / "policy.toml"


def expected_verdict(scenario: str, *, watched: bool = True) -> str:
    """The verdict DESIGN.md says a full verification of ``scenario`` gives (what the self-test
    checks); the demo watches its rigs' network, which changes what ``UNDER_WATCH`` names."""
    return UNDER_WATCH[scenario][0] if watched and scenario in UNDER_WATCH else MIXED[scenario]


def free_base(preferred: str = DEMO_BASE) -> str:
    """``preferred`` if its block is free, else another 127.X.Y.1 (a CLI `attest sim` may run)."""
    return sim_free_base(preferred)


def demo_home() -> Path:
    """A fresh temporary station state for the demo (set as ATTEST_HOME)."""
    home = Path(tempfile.mkdtemp(prefix="rig-attest-demo-"))
    os.environ["ATTEST_HOME"] = str(home / "station")
    return home


async def start_demo(home: Path, *, count: int = DEMO_FLEET, base: str | None = None) -> DemoFleet:
    """Start the fleet and write its artefacts under ``home``; runs on the job thread."""
    chosen = base or free_base()
    sinkhole = sim_free_base(None)  # a loopback block of its own: its ports are free for the watch
    fleet = await start_fleet(count, "mixed", home / "sim", base=chosen, dns=(sinkhole, DEMO_DNS_PORT),
                              dns_every=DEMO_DNS_EVERY)
    ports = PortProfile(**fleet.ports) if fleet.ports else PortProfile()
    return DemoFleet(fleet, home / "sim", ports, [(r.host, r.scenario) for r in fleet.rigs],
                     f"{sinkhole}:{DEMO_DNS_PORT}")

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
from attest.sim.runner import SimFleet, start_fleet
from attest.sim.runner import free_base as sim_free_base
from attest.sim.scenarios import MIXED

DEMO_FLEET = len(MIXED)  # one rig per scenario and per firmware family: every verdict kind
DEMO_BASE = "127.0.1.1"


@dataclass
class DemoFleet:
    fleet: SimFleet
    directory: Path
    ports: PortProfile
    hosts: list[tuple[str, str]]  # (host, scenario) in fleet order

    @property
    def manifest(self) -> Path:
        return self.directory / "manifest.dsse.json"

    @property
    def trust_dir(self) -> Path:
        return self.directory / "trust"

    @property
    def policy(self) -> Path:
        return self.directory / "policy.toml"


def expected_verdict(scenario: str) -> str:
    """The verdict DESIGN.md says a full verification of ``scenario`` gives (what the self-test checks)."""
    return MIXED[scenario]


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
    fleet = await start_fleet(count, "mixed", home / "sim", base=chosen)
    ports = PortProfile(**fleet.ports) if fleet.ports else PortProfile()
    return DemoFleet(fleet, home / "sim", ports, [(r.host, r.scenario) for r in fleet.rigs])

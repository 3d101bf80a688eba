"""Simulated rigs' consoles on real ptys for the serial tests, and collecting from them.

Each test powers on its own rig console (attest.sim.console) in the test's event loop and reads
it through the real driver over the real pty, exactly as `attest collect serial://...` would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from attest.address import PortProfile, parse_address
from attest.collect import collect
from attest.credentials import Credentials
from attest.drivers.base import CollectOptions, ConsoleOutput
from attest.evidence import Evidence
from attest.sim.console import RigConsole
from attest.sim.rig import Rig
from attest.sim.scenarios import make_rig

#: Short limits so a bad console fails fast; still far above what the simulated rig needs.
FAST = CollectOptions(timeout=3.0, hash_timeout=4.0, boot_timeout=8.0)


@dataclass
class Collected:
    evidence: Evidence
    seconds: float
    console: RigConsole

    def claims(self) -> dict[str, object]:
        return {c.name: c.value for c in self.evidence.claims}

    def problem(self) -> tuple[str, str]:
        assert len(self.evidence.problems) == 1, self.evidence.problems
        return self.evidence.problems[0].code, self.evidence.problems[0].detail


def genuine_rig(index: int = 0, change: Callable[[Rig], None] | None = None) -> Rig:
    """Slot ``index`` of the demo fleet as built (an Antminer S21 for 0), then ``change`` applied."""
    rig = make_rig(index, "genuine", "127.0.0.1")
    if change is not None:
        change(rig)
    return rig


async def collect_console(rig: Rig, query: str = "", *, user: str = "root:root", options: CollectOptions = FAST,
                          prepare: Callable[[str], None] | None = None, countdown: int = 2,
                          listen: Callable[[ConsoleOutput], None] | None = None) -> Collected:
    """Power on ``rig``'s console, then collect ``serial://USER@PTY?QUERY`` through the driver.

    ``prepare(pty)`` runs (in a thread) once the console is up, before the collection: a test
    uses it to leave the console somewhere (logged in, at the U-Boot prompt).
    """
    console = await RigConsole(rig, countdown=countdown, boot_seconds=0.5).start()
    try:
        if prepare is not None:
            await asyncio.to_thread(prepare, console.path)
        at = f"{user}@" if user else ""
        target = parse_address(f"serial://{at}{console.path}" + (f"?{query}" if query else ""))
        started = time.monotonic()
        if listen is not None:
            options = replace(options, on_console=listen)
        evidence = await collect(target, ports=PortProfile(), credentials=Credentials(allow_vendor_defaults=False),
                                 options=options)
        return Collected(evidence, time.monotonic() - started, console)
    finally:
        console.close()
        await console.wait_closed()


def with_options(**changes: float) -> CollectOptions:
    return replace(FAST, **changes)

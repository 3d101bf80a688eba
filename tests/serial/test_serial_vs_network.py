"""A rig verified over its serial console alone gets the verdict it gets over the network.

Each scenario runs as its own simulated fleet of one (API, web, SSH and a pty console), verified
twice through attest.fleet.verify_many: once by host (every network endpoint), once by
``serial://root@PTY`` alone. Verdicts and reason codes must match; and the shell evidence, read by
the same plan (attest.drivers.shell) over SSH and over the console, must be the same claims.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from attest.address import PortProfile, parse_address
from attest.appraise import Appraisal
from attest.credentials import Credentials
from attest.drivers.base import CollectOptions
from attest.evidence import Assurance
from attest.fleet import BatchDone, verify_many
from attest.manifest import load_manifest
from attest.policy import load_policy
from attest.sim.runner import UNPRIVILEGED_PORTS, start_fleet
from attest.sim.scenarios import SCENARIOS, SERIAL_SCENARIOS
from attest.trust import TrustStore
from tests.conftest import free_loopback_base

OPTIONS = CollectOptions(timeout=5.0, hash_timeout=8.0, boot_timeout=15.0)


async def _verify_both_ways(scenario: str, out: Path) -> tuple[Appraisal, Appraisal]:
    fleet = await start_fleet(1, scenario, out, base=free_loopback_base(), ports=dict(UNPRIVILEGED_PORTS),
                              consoles=True)
    try:
        trust = TrustStore.load(out / "trust")
        manifests = [load_manifest(out / "manifest.dsse.json", trust)]
        policy = load_policy(out / "policy.toml")
        rig = fleet.rigs[0]
        console = next(s for s in fleet.servers if getattr(s, "rig", None) is rig)
        results = []
        for address in (rig.host, f"serial://root@{console.path}"):
            async for event in verify_many([parse_address(address)], manifests=manifests, policy=policy,
                                           ports=PortProfile(**UNPRIVILEGED_PORTS), credentials=Credentials(),
                                           options=OPTIONS):
                if isinstance(event, BatchDone):
                    results.append(event.appraisals[0])
        return results[0], results[1]
    finally:
        await fleet.close()


@pytest.mark.parametrize("scenario", ["genuine", "modified-firmware", "swapped-hashboard"])
def test_serial_alone_gets_the_network_verdict(scenario: str, tmp_path: Path) -> None:
    network, console = asyncio.run(_verify_both_ways(scenario, tmp_path))
    assert network.verdict.value == SCENARIOS[scenario]
    assert console.verdict == network.verdict, [(r.code, r.detail) for r in console.reasons]
    assert {r.code for r in console.reasons} == {r.code for r in network.reasons}
    assert all(c.source.startswith("serial://") for c in console.evidence.claims)

    def claims(appraisal: Appraisal, assurance: Assurance, suffix: str = "") -> dict[str, object]:
        return {c.name.removesuffix(suffix): c.value for c in appraisal.evidence.claims
                if c.assurance is assurance and c.name.startswith(("firmware.image.", "config.pool", "control_board"))
                and c.name.endswith(suffix)}

    # One shell plan, two wires. Over SSH the station streamed the flash and hashed it itself; over
    # the console (115200 baud) only the rig's own sha256sum could: the same digests, but `device`.
    assert claims(console, Assurance.DEVICE, ".device_sha256") == claims(network, Assurance.MEASURED, ".sha256")
    assert not claims(console, Assurance.MEASURED, ".sha256")
    # What the shell reads raw (the board's serial, the pools) is the same claim either way.
    assert {k: v for k, v in claims(console, Assurance.MEASURED).items() if not k.startswith("firmware.")} \
        == {k: v for k, v in claims(network, Assurance.MEASURED).items() if not k.startswith("firmware.")}
    assert any(c.assurance is Assurance.BOOTLOADER for c in console.evidence.claims)


@pytest.mark.parametrize("scenario", sorted(SERIAL_SCENARIOS))
def test_console_trouble_scenarios_get_their_designed_verdicts(scenario: str, tmp_path: Path) -> None:
    """serial-noisy is read through (TRUSTED both ways); serial-drop is UNKNOWN over the console only."""
    network, console = asyncio.run(_verify_both_ways(scenario, tmp_path))
    assert (network.verdict.value, console.verdict.value) == SERIAL_SCENARIOS[scenario], \
        [(r.code, r.detail) for r in console.reasons]

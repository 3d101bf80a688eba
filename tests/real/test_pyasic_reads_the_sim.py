"""pyasic, an independent client, must take a simulated Antminer for a real one.

pyasic hard-codes the real ports (API 4028, web 80), so the simulator must bind them: that needs
root (or CAP_NET_BIND_SERVICE). CI runs as root and must run this; elsewhere it may skip.
"""

from __future__ import annotations

import asyncio
import os
import warnings

import pytest

from attest.address import HostTarget, PortProfile
from attest.collect import collect
from attest.credentials import Credentials
from attest.drivers.base import CollectOptions
from attest.evidence import normalise_mac
from attest.sim.runner import REAL_PORTS, can_bind, start_fleet
from tests.conftest import free_loopback_base, skip_unless_ci


def _import_pyasic():
    # pyasic's own imports raise DeprecationWarnings (pydantic config, the crypt module): theirs to fix.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import pyasic
    return pyasic


@pytest.mark.real
def test_pyasic_identifies_a_simulated_antminer_and_reads_our_serial_and_mac(tmp_path):
    base = free_loopback_base()
    if not all(can_bind(base, port) for port in REAL_PORTS.values()):
        if os.environ.get("CI"):
            pytest.fail("CI must be able to bind the real miner ports (run as root)")
        skip_unless_ci("needs permission to bind ports 80 and 22 (run as root)")
    pyasic = _import_pyasic()

    async def run():
        fleet = await start_fleet(1, "genuine", tmp_path / "sim", base=base, ports=dict(REAL_PORTS))
        try:
            rig = fleet.rigs[0]
            assert rig.family == "antminer"
            miner = await pyasic.get_miner(rig.host)
            theirs = {
                "model": await miner.get_model(),
                "serial": await miner.get_serial_number(),
                "mac": await miner.get_mac(),
                "class": type(miner).__name__,
            }
            ours = await collect(HostTarget(rig.host), ports=PortProfile(), credentials=Credentials(),
                                 options=CollectOptions())
            return rig, theirs, ours
        finally:
            await fleet.close()

    rig, theirs, ours = asyncio.run(run())
    # pyasic names the model "S21 (Stock)": stock Bitmain firmware, which is what we simulate.
    assert theirs["model"] == "S21 (Stock)", theirs
    assert theirs["class"] == "BMMinerS21", theirs
    assert theirs["serial"] == ours.value("unit.serial") == rig.serial
    assert normalise_mac(theirs["mac"]) == normalise_mac(str(ours.value("net.mac"))) == normalise_mac(rig.mac)


@pytest.mark.real
@pytest.mark.parametrize(("scenario", "model", "cls"), [
    ("avalon", "AvalonMiner 1246", "CGMinerAvalon1246"),
    ("whatsminer-v2", "M30S+ VE40", "BTMinerM30SPlusVE40"),
    ("whatsminer-v3", "M60S VK30", "BTMinerM60SVK30"),
    # ePIC: pyasic knows it by the dashboard on port 80 and reads /capabilities and /network on
    # 4028, where we read the same pages after our cgminer request was answered in HTTP.
    ("antminer-epic", "S19j Pro (ePIC)", "ePICS19jPro"),
])
def test_pyasic_reads_the_same_model_and_mac_from_avalon_whatsminer_and_epic(tmp_path, scenario, model, cls):
    base = free_loopback_base()
    if not all(can_bind(base, port) for port in REAL_PORTS.values()):
        if os.environ.get("CI"):
            pytest.fail("CI must be able to bind the real miner ports (run as root)")
        pytest.skip("needs permission to bind the real miner ports (run as root)")
    pyasic = _import_pyasic()

    async def run():
        fleet = await start_fleet(1, scenario, tmp_path / "sim", base=base, ports=dict(REAL_PORTS), consoles=False)
        try:
            rig = fleet.rigs[0]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pyasic warns about models it only partly knows
                miner = await pyasic.get_miner(rig.host)
            theirs = {"class": type(miner).__name__, "model": await miner.get_model(), "mac": await miner.get_mac()}
            ours = await collect(HostTarget(rig.host), ports=PortProfile(), credentials=Credentials(),
                                 options=CollectOptions())
            return rig, theirs, ours
        finally:
            await fleet.close()

    rig, theirs, ours = asyncio.run(run())
    assert theirs["class"] == cls, theirs
    # pyasic names the model its own way ("Avalon 1246 (Stock)", "M30S+ VE40", "S19j Pro (ePIC)"): the same
    # model code; its class is chosen from the model it read (for ePIC, /capabilities' Model).
    assert str(ours.value("unit.model")).split()[-1] in str(theirs["model"]).split(), (theirs, ours.value("unit.model"))
    assert normalise_mac(theirs["mac"]) == normalise_mac(str(ours.value("net.mac"))) == normalise_mac(rig.mac)

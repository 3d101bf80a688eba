"""The support matrix of docs/protocols.md, cell by cell, against the simulator speaking each format.

One `attest sim --scenario families` process serves one genuine rig per firmware family on its
real channels; each test collects one rig through a bare host address, as a technician would, and
checks which identity each channel gave, from where, at what assurance.
"""

from __future__ import annotations

import asyncio

import pytest

from attest.address import HostTarget, PortProfile
from attest.collect import collect
from attest.credentials import Credentials
from attest.drivers.base import CollectOptions
from attest.evidence import Assurance, Evidence, normalise_mac
from attest.sim.runner import plan_fleet
from attest.sim.scenarios import FAMILY_SCENARIOS
from tests.conftest import sim_process


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    with sim_process(tmp_path_factory, len(FAMILY_SCENARIOS), "families") as (_out, fleet, _env):
        base = fleet["rigs"][0]["host"]
        rigs = {r.scenario: r for r in plan_fleet(len(FAMILY_SCENARIOS), "families", base)}
        yield fleet, rigs


def read(families, scenario: str) -> tuple[Evidence, object]:
    fleet, rigs = families
    rig = rigs[scenario]
    evidence = asyncio.run(collect(HostTarget(rig.host), ports=PortProfile(**fleet["ports"]),
                                   credentials=Credentials(allow_vendor_defaults=True),
                                   options=CollectOptions(timeout=5.0)))
    return evidence, rig


def source(ev: Evidence, name: str) -> str:
    claim = ev.best(name)
    assert claim is not None, f"{name} not claimed; problems {ev.problems}"
    assert claim.assurance is Assurance.REPORTED
    return claim.source.split(" ", 1)[0].split("://", 1)[0] + " " + claim.source.split(" ", 1)[1]


def hashboards(ev: Evidence) -> dict[int, str]:
    return ev.hashboard_serials()


def test_avalon_gives_model_mac_and_dna_but_no_serial(families):
    ev, rig = read(families, "avalon")
    assert ev.value("unit.model") == rig.model == "AvalonMiner 1246"
    assert source(ev, "unit.model") == "api version"
    assert normalise_mac(str(ev.value("net.mac"))) == normalise_mac(rig.mac)
    assert ev.value("control_board.serial") == ev.value("module.0.dna") == rig.control_board_serial
    assert source(ev, "module.0.dna") == "api stats"
    assert (ev.value("control_board.type"), ev.value("firmware.type")) == ("MM4v2_X3", "MM314")
    assert ev.value("firmware.version") == rig.firmware_version
    assert str(ev.value("module.0.status")).startswith("Work: In Work, Hash Board: 3")
    assert ev.value("module.0.psu") == "0 1209 1187 297 3526 1188 3731"
    assert {s: ev.value(f"hashboard.{s}.chips") for s in range(3)} == {b.slot: b.chips for b in rig.hashboards}
    assert ev.value("firmware.driver") == "avalon10"
    assert ev.value("unit.serial") is None and hashboards(ev) == {} and ev.value("psu.serial") is None
    # No web UI, API v3 or gRPC on an Avalon: expected absences, not problems. A closed SSH port
    # is said, since SSH is what would measure the firmware.
    assert [(p.code, p.endpoint.split(":")[0]) for p in ev.problems] == [("UNREACHABLE", "ssh")]


def test_whatsminer_v2_gives_serial_boards_and_psu_and_keeps_the_reply_with_a_bad_escape(families):
    ev, rig = read(families, "whatsminer-v2")
    assert ev.value("unit.model") == "Whatsminer M30S+"
    assert (ev.value("unit.serial"), ev.value("psu.serial")) == (rig.serial, rig.psu_serial)
    assert source(ev, "unit.serial") == "api get_miner_info"
    assert normalise_mac(str(ev.value("net.mac"))) == normalise_mac(rig.mac)
    assert hashboards(ev) == {b.slot: b.serial for b in rig.hashboards}
    assert ev.value("firmware.version") == rig.firmware_version
    # The summary's \' escape cost nothing claimed: the pool from the same joined reply stands.
    assert ev.value("config.pool.0.url") == rig.pools[0].url


def test_whatsminer_v3_gives_everything_over_4433(families):
    ev, rig = read(families, "whatsminer-v3")
    assert source(ev, "unit.serial") == "whatsminer3 get.device.info"
    assert (ev.value("unit.model"), ev.value("unit.serial"), ev.value("psu.serial")) == (
        "Whatsminer M60S", rig.serial, rig.psu_serial)
    assert hashboards(ev) == {b.slot: b.serial for b in rig.hashboards}
    assert ev.value("hashboard.0.chips") == rig.hashboards[0].chips
    assert ev.value("firmware.version") == "20250214.18.REL"
    assert ev.value("config.pool.0.url") == rig.pools[0].url


def test_stock_antminer_with_a_sleeping_chain_keeps_its_slots(families):
    ev, rig = read(families, "antminer-stock")
    assert source(ev, "unit.serial") == "web /cgi-bin/get_system_info.cgi"
    assert hashboards(ev) == {b.slot: b.serial for b in rig.hashboards}
    # Chain 1 is asleep: slot 0 reports 0 chips, and the later boards keep slots 1 and 2.
    assert [ev.value(f"hashboard.{s}.chips") for s in range(3)] == [0, 126, 126]
    assert [c.value for c in ev.claims if c.name == "hashboard.2.chips"] == [126, 126]  # API and web agree
    assert ev.value("firmware.miner.version") == "BMMiner 1.0.0"


def test_vnish_gives_serial_psu_and_boards_through_its_unlocked_rest_api(families):
    ev, rig = read(families, "antminer-vnish")
    assert source(ev, "unit.serial") == "web /api/v1/info"
    assert {c.value for c in ev.claims if c.name == "unit.model"} == {"Antminer S19 Pro"}  # fork suffix cut
    assert ev.value("psu.serial") == rig.psu_serial and source(ev, "psu.serial") == "web /api/v1/chains/factory-info"
    assert hashboards(ev) == {b.slot: b.serial for b in rig.hashboards}
    assert ev.value("firmware.version") == "Vnish 1.2.6"
    pools = {c.value for c in ev.claims if c.name.startswith("config.pool.") and "summary" in c.source}
    assert pools == {rig.pools[0].url}  # read after the unlock; VNish's DevFee entry is no pool of ours
    assert [(p.code, p.endpoint.split(":")[0]) for p in ev.problems] == [("UNREACHABLE", "ssh")]


def test_braiins_os_gives_identity_over_grpc_and_its_version_over_the_api(families):
    ev, rig = read(families, "braiins-os")
    assert source(ev, "unit.serial") == "grpc GetMinerDetails"
    assert (ev.value("unit.model"), ev.value("unit.serial"), ev.value("psu.serial")) == (
        rig.model, rig.serial, rig.psu_serial)
    assert hashboards(ev) == {b.slot: b.serial for b in rig.hashboards}
    assert ev.value("firmware.version") == "24.09.1" and source(ev, "firmware.version") == "api version"
    assert ev.value("firmware.miner.version") == "BOSer 24.09.1"
    assert ev.value("firmware.type") == "Braiins OS+ 24.09"


def test_luxos_gives_serial_and_mac_through_config(families):
    ev, rig = read(families, "luxos")
    assert source(ev, "unit.serial") == "api config"
    assert ev.value("unit.serial") == rig.serial
    assert normalise_mac(str(ev.value("net.mac"))) == normalise_mac(rig.mac)
    assert ev.value("unit.model") == "Antminer S19 XP"
    assert ev.value("firmware.miner.version") == f"LUXminer {rig.firmware_version}"
    assert hashboards(ev) == {}


def test_epic_gives_model_mac_control_board_and_boards_over_http_on_the_api_port(families):
    ev, rig = read(families, "antminer-epic")
    # The cgminer request on 4028 got an HTTP reply: the ePIC reader took the endpoint over.
    assert source(ev, "unit.model") == "api /capabilities" and ev.value("unit.model") == rig.model
    assert source(ev, "net.mac") == "api /network"
    assert normalise_mac(str(ev.value("net.mac"))) == normalise_mac(rig.mac)
    assert ev.value("control_board.serial") == rig.control_board_serial
    assert ev.value("control_board.type") == "Amlogic"
    assert hashboards(ev) == {b.slot: b.serial for b in rig.hashboards}
    assert {s: ev.value(f"hashboard.{s}.chips") for s in range(3)} == {b.slot: b.chips for b in rig.hashboards}
    assert source(ev, "hashboard.0.chips") == "api /hashrate"
    assert ev.value("firmware.version") == "PowerPlay-BMS v1.24.0" and source(ev, "firmware.version") == "api /summary"
    assert ev.value("config.pool.0.url") == rig.pools[0].url
    assert ev.value("unit.serial") is None and ev.value("psu.serial") is None  # ePIC reports neither
    # Port 80 is ePIC's dashboard, said as such; SSH is closed.
    assert [(p.code, p.endpoint.split(":")[0]) for p in ev.problems] == [("NOT_THIS_FAMILY", "web"),
                                                                        ("UNREACHABLE", "ssh")]
    assert "ePIC's web dashboard" in ev.problems[0].detail
    # Only reads were sent to the API port: the cgminer request, then ePIC's open GET pages.
    sent = [data for endpoint, direction, data in ev.transcript.entries
            if direction == ">" and endpoint.startswith("api://")]
    assert sent[0].startswith(b'{"command":"version')
    assert [line.split(b" ")[:2] for line in sent[1:]] == [
        [b"GET", b"/summary"], [b"GET", b"/capabilities"], [b"GET", b"/network"], [b"GET", b"/hashrate"]]


def test_epic_is_named_by_discovery_and_read_through_its_own_scheme(families):
    from attest.address import EndpointTarget
    from attest.discovery import probe_host

    fleet, rigs = families
    rig = rigs["antminer-epic"]
    ports = PortProfile(**fleet["ports"])
    found = asyncio.run(probe_host(rig.host, ports, CollectOptions(timeout=5.0)))
    assert found.services["api"] == "epic"
    target = EndpointTarget("epic", rig.host, ports.api, None, None, f"epic+http://{rig.host}:{ports.api}")
    ev = asyncio.run(collect(target, ports=ports, credentials=Credentials(), options=CollectOptions(timeout=5.0)))
    assert ev.problems == () and source(ev, "control_board.serial") == "epic /capabilities"
    assert ev.value("unit.model") == rig.model and hashboards(ev) == {b.slot: b.serial for b in rig.hashboards}

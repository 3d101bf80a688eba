"""The simulator's rigs on the network: nothing without --dns; with it, what each scenario's
firmware would do, seen by a real watch."""

from __future__ import annotations

import json

from attest.sim.egress import ANTBLEED_HOST, NTP_HOST, PHONE_HOME_HOST, RigNetwork, checkin
from attest.sim.runner import SimFleet, plan_fleet, scenario_names, start_fleet
from attest.sim.scenarios import SCENARIOS, UNDER_WATCH
from tests.watch.conftest import DNS_PORT, run, watch_on


def test_phone_home_is_a_scenario_of_the_mixed_fleet():
    assert "phone-home" in scenario_names("mixed") and SCENARIOS["phone-home"] == "TRUSTED"
    assert UNDER_WATCH["phone-home"] == ("WARNING", "EGRESS_UNLISTED")


def test_without_dns_a_fleet_does_nothing_on_the_network(tmp_path, block):
    async def go():
        fleet: SimFleet = await start_fleet(3, "antbleed", tmp_path, base=block[1], consoles=False)
        try:
            return [type(s).__name__ for s in fleet.servers], json.loads(fleet.fleet_json.read_text())
        finally:
            await fleet.close()

    kinds, written = run(go)
    assert "FleetNetwork" not in kinds and "dns" not in written


def test_each_scenario_does_on_the_network_what_its_firmware_would(block):
    rigs = {r.scenario: r for r in plan_fleet(len(scenario_names("mixed")), "mixed", block[1])}

    async def go():
        async with watch_on(block, ports=(3333, 7000, 443)) as watch:
            for scenario in ("genuine", "antbleed", "phone-home"):
                await RigNetwork(rigs[scenario], (block[0], DNS_PORT), every=1.0).one_round()
            return watch.observations.snapshot()

    seen = run(go)

    def names(scenario):
        return {o.name for o, _ in seen[rigs[scenario].host].lookups.values()}

    def conns(scenario):
        return {(c.port, c.outcome, c.sni, c.checkins) for c, _ in seen[rigs[scenario].host].connections.values()}

    assert names("genuine") == {"pool.example-mining.net", NTP_HOST}
    assert conns("genuine") == {(3333, "plain", None, ())}
    assert names("antbleed") == {"pool.example-mining.net", NTP_HOST, ANTBLEED_HOST}
    assert (7000, "plain", None, ("antbleed",)) in conns("antbleed")
    assert names("phone-home") == {"pool.example-mining.net", NTP_HOST, PHONE_HOME_HOST}
    assert (443, "tls", PHONE_HOME_HOST, ()) in conns("phone-home")


def test_the_antbleed_check_in_is_bmminers_json():
    rig = next(r for r in plan_fleet(len(scenario_names("mixed")), "mixed", "127.0.9.1") if r.scenario == "antbleed")
    body = json.loads(checkin(rig, 3))
    assert body["ctrl_board"] == rig.mac.upper() and body["id"] == "3"
    assert [len(b["ID"]) for b in body["hashboard"]] == [24] * len(rig.hashboards)
    assert checkin(rig, 3).startswith(b'{"ctrl_board":"')

"""The issue's must-show: the mixed simulated fleet (phone-home included) under `attest verify --watch`.

Real processes over real loopback sockets: `attest sim --dns` makes every rig look up and connect
through the watch every two seconds, from its own address; `attest verify --watch` answers them
and folds what each did into its verdict. The antbleed rig runs without its binary indicator
(--no-binary-indicators), so only its check-in on the network can give it away.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from attest.sim.egress import PHONE_HOME_HOST
from attest.sim.runner import scenario_names
from attest.sim.scenarios import MIXED, UNDER_WATCH
from tests.conftest import free_loopback_base, sim_process

#: The antbleed rig's round lasts up to about 5.4 s (a lookup, then its check-in waits up to 3 s for
#: an answer the sinkhole never gives, then 2 s +-20 % asleep): the window holds a whole round.
WINDOW = "8"


def privileged_ports_bindable(host: str) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, 443))
        except OSError:
            return False
    return True


@pytest.fixture(scope="module")
def sinkhole():
    host = free_loopback_base()
    if not privileged_ports_bindable(host):
        if os.environ.get("CI"):
            pytest.fail("CI runs as root: the watch must be able to listen on port 443")
        pytest.skip("the watch needs root (or CAP_NET_BIND_SERVICE) to listen on port 443")
    return host


@pytest.fixture(scope="module")
def sim(tmp_path_factory, sinkhole):
    extra = ["--dns", f"{sinkhole}:5300", "--dns-every", "2", "--no-binary-indicators"]
    with sim_process(tmp_path_factory, len(scenario_names("mixed")), extra=extra) as sim:
        yield sim


def verify(sim, hosts, *more: str) -> dict[str, dict]:
    out, fleet, env = sim
    ports = ",".join(f"{k}={v}" for k, v in fleet["ports"].items())
    result = subprocess.run([sys.executable, "-m", "attest.cli", "verify", *hosts, "--manifest",
                             str(out / "manifest.dsse.json"), "--trust", str(out / "trust"), "--policy",
                             str(out / "policy.toml"), "--ports", ports, "--json", *more],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode in (0, 1, 3, 4), result.stderr
    return {line["address"]: line for line in map(json.loads, result.stdout.splitlines())}


def test_the_watch_catches_antbleed_and_phone_home_and_leaves_the_rest_as_they_were(sim, sinkhole):
    _, fleet, _ = sim
    scenario = {r["host"]: r["scenario"] for r in fleet["rigs"]}
    assert {"antbleed", "phone-home", "genuine"} <= set(scenario.values())
    lines = verify(sim, list(scenario), "--watch", f"{sinkhole}:5300", "--watch-seconds", WINDOW)
    by = {scenario[a]: line for a, line in lines.items()}

    antbleed = by["antbleed"]
    assert antbleed["verdict"] == "UNTRUSTED"
    codes = {r["code"]: r for r in antbleed["reasons"]}
    assert "BACKDOOR_INDICATOR" not in codes  # its binary is clean: only the wire gave it away
    assert codes["EGRESS_INDICATOR"]["found"] == "auth.minerlink.com"
    assert "check-in to port 7000" in codes["EGRESS_INDICATOR"]["detail"]
    assert antbleed["claims"]["egress.dns.0.name"]["assurance"] == "observed"

    phone = by["phone-home"]
    assert (phone["verdict"], phone["top_reason"]) == UNDER_WATCH["phone-home"]
    [unlisted] = [r for r in phone["reasons"] if r["code"] == "EGRESS_UNLISTED"]
    assert unlisted["found"] == f"{PHONE_HOME_HOST}:443" and f"naming {PHONE_HOME_HOST}" in unlisted["detail"]

    changed = {"antbleed", *UNDER_WATCH}
    wrong = {s: line["verdict"] for s, line in by.items() if s not in changed and line["verdict"] != MIXED[s]}
    assert not wrong, wrong
    genuine = by["genuine"]
    assert {r["code"] for r in genuine["reasons"]} >= {"EGRESS_ALLOWED", "FIRMWARE_SIGNED_RELEASE"}


def test_without_the_watch_the_same_two_rigs_pass(sim):
    _, fleet, _ = sim
    hosts = [r["host"] for r in fleet["rigs"] if r["scenario"] in ("antbleed", "phone-home")]
    lines = verify(sim, hosts)
    assert {line["verdict"] for line in lines.values()} == {"TRUSTED"}
    assert not any(r["code"].startswith("EGRESS") for line in lines.values() for r in line["reasons"])

"""Fleet runs at small scale with bad rigs in the batch: they end UNKNOWN with their reason, inside
the run's deadline, and every other rig gets the verdict it would get alone.

The simulator runs in its own process (as real rigs would), a mixed fleet of 30: every scenario at
least twice, so two each of unresponsive, garbage and slow rigs (20% bad).
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import json
import subprocess
import sys
import time

import pytest

from attest.address import HostTarget, PortProfile, RangeTarget
from attest.credentials import Credentials
from attest.drivers.base import CollectOptions
from attest.evidence import Evidence
from attest.fleet import (
    BatchDone,
    DeviceCollected,
    DeviceFailed,
    DeviceStarted,
    Discovered,
    DiscoveryDone,
    DiscoveryProgress,
    discover_events,
    range_addresses,
    range_size,
    verify_many,
)
from attest.manifest import load_manifest
from attest.policy import load_policy
from attest.progress import BAR, LINES, OFF, FleetProgress, progress_mode
from attest.sim.scenarios import MIXED
from attest.trust import StationState, TrustStore
from tests.conftest import free_loopback_base, sim_process

FLEET = 30
BAD = {"unresponsive": "TIMEOUT", "garbage": "MALFORMED_REPLY"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with sim_process(tmp_path_factory, FLEET) as sim:
        yield sim


def _run(sim, targets, *, timeout: float, deadline: float | None = None, **kwargs):
    """verify_many over ``targets``: (every event, seconds taken)."""
    out, fleet, _ = sim
    manifest = load_manifest(out / "manifest.dsse.json", TrustStore.load(out / "trust"), state=StationState.default())

    async def go():
        policy = load_policy(str(out / "policy.toml"))
        return [e async for e in verify_many(targets, manifests=[manifest], policy=policy,
                                             ports=PortProfile(**fleet["ports"]), credentials=Credentials(),
                                             options=CollectOptions(timeout=timeout), deadline=deadline, **kwargs)]

    began = time.monotonic()
    events = asyncio.run(go())
    return events, time.monotonic() - began


def _verdicts(events) -> dict[str, tuple[str, set[str]]]:
    done = events[-1]
    assert isinstance(done, BatchDone)
    return {a.address: (a.verdict.value, {r.code for r in a.reasons}) for a in done.appraisals}


def _scenario_of(fleet) -> dict[str, str]:
    return {r["host"]: r["scenario"] for r in fleet["rigs"]}


def test_bad_rigs_are_unknown_with_their_reason_and_the_rest_keep_their_verdicts(sim):
    _, fleet, _ = sim
    hosts = [HostTarget(r["host"]) for r in fleet["rigs"]]
    events, took = _run(sim, hosts, timeout=5.0, deadline=60.0)

    assert took < 60.0
    verdicts = _verdicts(events)
    scenario = _scenario_of(fleet)
    assert [a.address for a in events[-1].appraisals] == [t.host for t in hosts]  # the order asked for
    wrong = {h: (v, scenario[h]) for h, (v, _) in verdicts.items() if v != MIXED[scenario[h]]}
    assert not wrong
    for host, (verdict, codes) in verdicts.items():
        if scenario[host] in BAD:
            assert verdict == "UNKNOWN" and BAD[scenario[host]] in codes, (host, codes)
    failed = {e.address: e.code for e in events if isinstance(e, DeviceFailed)}
    assert {scenario[h] for h in failed} == set(BAD)  # only they gave nothing; slow rigs finished


def test_the_run_deadline_ends_unfinished_rigs_unknown_and_spares_the_rest(sim):
    _, fleet, _ = sim
    hosts = [HostTarget(r["host"]) for r in fleet["rigs"]]
    deadline = 6.0  # unresponsive rigs would hold each request for 30 s; slow rigs need about 8 s
    events, took = _run(sim, hosts, timeout=30.0, deadline=deadline)

    assert took < deadline + 1.0
    verdicts = _verdicts(events)
    scenario = _scenario_of(fleet)
    for host, (verdict, codes) in verdicts.items():
        if scenario[host] == "unresponsive":
            assert (verdict, codes & {"DEADLINE_EXCEEDED"}) == ("UNKNOWN", {"DEADLINE_EXCEEDED"})
        elif scenario[host] == "slow":
            assert verdict == "TRUSTED" or "DEADLINE_EXCEEDED" in codes
        elif scenario[host] not in BAD:
            assert verdict == MIXED[scenario[host]], (scenario[host], verdict, codes)
    assert len(verdicts) == FLEET  # every rig is reported, finished or not


def test_a_per_device_deadline_ends_one_rig_not_the_run(sim):
    _, fleet, _ = sim
    unresponsive = next(r["host"] for r in fleet["rigs"] if r["scenario"] == "unresponsive")
    genuine = next(r["host"] for r in fleet["rigs"] if r["scenario"] == "genuine")
    events, _ = _run(sim, [HostTarget(unresponsive), HostTarget(genuine)], timeout=30.0, host_deadline=2.0)

    verdicts = _verdicts(events)
    assert verdicts[unresponsive][0] == "UNKNOWN" and "TIMEOUT" in verdicts[unresponsive][1]
    assert verdicts[genuine][0] == "TRUSTED"


def test_a_range_gives_a_row_per_answering_rig_with_the_bad_ones_unknown_not_identified(sim):
    _, fleet, _ = sim
    first = ipaddress.ip_address(fleet["rigs"][0]["host"])
    network = ipaddress.ip_network(f"{first - 1}/27")  # .1 to .30: the 30 rigs
    events, _ = _run(sim, [RangeTarget(network)], timeout=5.0)  # slow rigs take about a second a request

    kinds = [type(e) for e in events]
    done = next(e for e in events if isinstance(e, DiscoveryDone))
    scenario = _scenario_of(fleet)
    bad = {h for h, s in scenario.items() if s in BAD}
    assert (done.addresses, done.probed, done.found) == (30, 30, 30)
    assert (done.identified, done.not_identified, done.silent) == (30 - len(bad), len(bad), 0)
    assert done.summary() == (f"30 addresses: 30 answered ({30 - len(bad)} identified, {len(bad)} not identified), "
                              "0 silent")
    # Collection starts before discovery ends: a silent address must not hold up the live ones.
    assert kinds.index(DeviceStarted) < kinds.index(DiscoveryDone)
    found = {e.host: e for e in events if isinstance(e, Discovered)}
    assert set(found) == set(scenario)  # every rig that opens a miner port is a row, broken or not
    assert {h for h, d in found.items() if not d.identified} == bad
    garbage = next(h for h in bad if scenario[h] == "garbage")
    assert found[garbage].opened["api"] == fleet["ports"]["api"] and "STATUS=S" in found[garbage].said  # API first
    final = events[-1].appraisals
    assert [a.address for a in final] == sorted(scenario, key=lambda h: int(ipaddress.ip_address(h)))  # address order
    for a in final:
        if a.address in bad:
            assert (a.verdict.value, a.top_reason.code) == ("UNKNOWN", "NOT_IDENTIFIED"), scenario[a.address]
            assert a.top_reason.detail.startswith(f"{a.address} opens {fleet['ports']['api']} (api)")
        else:
            assert a.verdict.value == MIXED[scenario[a.address]], (scenario[a.address], a.reasons)


def test_an_address_asked_for_twice_is_checked_once_and_is_no_clone_of_itself(sim):
    _, fleet, _ = sim
    genuine = next(r["host"] for r in fleet["rigs"] if r["scenario"] == "genuine")
    network = ipaddress.ip_network(f"{genuine}/32")
    events, _ = _run(sim, [HostTarget(genuine), RangeTarget(network), HostTarget(genuine)], timeout=2.0)

    verdicts = events[-1].appraisals
    assert [a.address for a in verdicts] == [genuine]
    assert verdicts[0].verdict.value == "TRUSTED"


def test_discovery_deadline_says_how_many_addresses_were_never_probed(sim):
    _, fleet, _ = sim
    silent = [r["host"] for r in fleet["rigs"] if r["scenario"] == "unresponsive"]

    async def go():
        return [e async for e in discover_events(silent * 3, ports=PortProfile(**fleet["ports"]),
                                                 options=CollectOptions(timeout=30), concurrency=1, deadline=0.5)]

    events = asyncio.run(go())
    assert isinstance(events[-1], DiscoveryDone)
    assert events[-1].addresses == 3 * len(silent) and events[-1].cut_short


@pytest.mark.parametrize("cidr", ["10.0.0.0/22", "10.0.0.0/31", "10.0.0.7/32", "10.0.0.0/30", "fd00::/124",
                                  "fd00::/127"])
def test_range_size_counts_what_range_addresses_gives(cidr):
    network = ipaddress.ip_network(cidr)
    assert range_size(network) == len(list(range_addresses(network)))


def test_progress_is_a_bar_on_a_terminal_lines_when_asked_and_silent_otherwise():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert progress_mode(Terminal(), asked=False) == BAR
    assert progress_mode(io.StringIO(), asked=True) == LINES
    assert progress_mode(io.StringIO(), asked=False) == OFF

    quiet = io.StringIO()
    progress = FleetProgress(quiet, OFF)
    progress.on_event(DiscoveryProgress(10, 5, 2))
    progress.done()
    assert quiet.getvalue() == ""

    log = io.StringIO()
    progress = FleetProgress(log, LINES, known=2)
    progress.on_event(DiscoveryProgress(254, 0, 0))
    progress.on_event(Discovered("10.0.0.9", {"api": "bmminer"}))
    progress.on_event(DeviceFailed("10.0.0.5", "TIMEOUT", "no reply"))
    progress.done()
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("attest: probed 0/254") and "collected 0/2+" in lines[0]
    assert "collected 0/3+" in lines[-1] and "1 failed" in lines[-1]


def test_progress_on_a_terminal_is_one_redrawn_bar_cleared_before_the_results():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    progress = FleetProgress(screen, progress_mode(screen, asked=False), known=4)
    progress.on_event(DeviceCollected(Evidence("10.0.0.1", (), ())))
    drawn = screen.getvalue()
    assert drawn.startswith("\r\x1b[K[" + "#" * 6 + "." * 18 + "] collected 1/4")  # a quarter done
    assert "\n" not in drawn  # redrawn in place, never a line per event
    progress.done()
    assert screen.getvalue().endswith("\r\x1b[K")  # stdout's results start on a clean line


def test_cli_reads_addresses_from_a_file_and_keeps_stderr_quiet_without_a_terminal(sim, tmp_path):
    out, fleet, env = sim
    wanted = [r for r in fleet["rigs"] if r["scenario"] in ("genuine", "unresponsive")]
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("# from the DHCP leases\n" + "".join(f"{r['host']}  # {r['name']}\n\n" for r in wanted))
    ports = ",".join(f"{k}={v}" for k, v in fleet["ports"].items())
    result = subprocess.run([sys.executable, "-m", "attest.cli", "verify", f"@{hosts}", "--manifest",
                             str(out / "manifest.dsse.json"), "--trust", str(out / "trust"), "--policy",
                             str(out / "policy.toml"), "--ports", ports, "--json", "--timeout", "30",
                             "--deadline", "4"], capture_output=True, text=True, env=env, timeout=60, check=False)

    assert result.returncode == 3, result.stderr  # worst is UNKNOWN
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    # A line per rig as it is judged: the genuine rigs as soon as they are read, the silent ones at the deadline.
    addresses = [line["address"] for line in lines]
    assert sorted(addresses) == sorted(r["host"] for r in wanted)
    genuine = {r["host"] for r in wanted if r["scenario"] == "genuine"}
    assert set(addresses[:len(genuine)]) == genuine
    for line in lines:
        scenario = _scenario_of(fleet)[line["address"]]
        codes = {r["code"] for r in line["reasons"]}
        assert line["verdict"] == ("UNKNOWN" if scenario == "unresponsive" else "TRUSTED")
        assert ("DEADLINE_EXCEEDED" in codes) == (scenario == "unresponsive")
    silent = sum(1 for r in wanted if r["scenario"] == "unresponsive")
    assert result.stderr.splitlines() == [
        f"attest: the deadline of 4 s passed: {silent} device(s) not finished (UNKNOWN, DEADLINE_EXCEEDED)"]


def test_cli_refuses_an_unreadable_address_file_and_a_bad_deadline(tmp_path):
    def attest(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "attest.cli", *args], capture_output=True, text=True,
                              timeout=30, check=False)

    missing = attest("scan", f"@{tmp_path / 'nope.txt'}")
    assert missing.returncode == 2 and "cannot read addresses" in missing.stderr
    assert attest("scan", "127.0.0.1/32", "--deadline", "-1").returncode == 2
    assert attest("scan", "127.0.0.1/32", "--deadline", "soon").returncode == 2


def test_scan_takes_a_file_of_ranges_and_hosts(sim, tmp_path):
    _, fleet, env = sim
    genuine = [r["host"] for r in fleet["rigs"] if r["scenario"] == "genuine" and r["model"].startswith("Antminer")]
    listing = tmp_path / "ranges.txt"
    listing.write_text(f"{genuine[0]}/32\n{genuine[1]}\n")
    ports = ",".join(f"{k}={v}" for k, v in fleet["ports"].items())
    result = subprocess.run([sys.executable, "-m", "attest.cli", "scan", f"@{listing}", "--ports", ports, "--json"],
                            capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    found = [json.loads(line) for line in result.stdout.splitlines()]
    assert [f["address"] for f in found] == sorted(genuine[:2], key=lambda h: int(ipaddress.ip_address(h)))
    families = {r["host"]: "btminer" if r["model"].startswith("Whatsminer") else "bmminer" for r in fleet["rigs"]}
    assert all(f["services"]["api"] == families[f["address"]] for f in found)


def test_probing_a_large_range_keeps_a_fixed_pool_of_workers_not_a_task_per_address():
    base = ipaddress.ip_address(free_loopback_base())
    network = ipaddress.ip_network(f"{base}/16", strict=False)  # 65,534 loopback addresses, almost all closed
    concurrency = 8
    most = 0

    async def go():
        nonlocal most
        done = None
        async for event in discover_events(range_addresses(network), total=range_size(network), ports=PortProfile(),
                                           options=CollectOptions(timeout=1), concurrency=concurrency,
                                           thorough=False, deadline=1.0):
            most = max(most, len(asyncio.all_tasks()))
            done = event
        return done

    done = asyncio.run(go())
    assert isinstance(done, DiscoveryDone) and done.cut_short and done.probed > 0
    # Each worker: one probe of at most three identifications and a connect check, then which of the
    # five miner ports open (a task for the check and one per port): a fixed number per worker.
    assert most <= concurrency * 10 + 4

"""The issue's acceptance run: `attest sim` a mixed fleet, then `attest verify` every rig host.

Both run as real processes talking over real loopback sockets, exactly as a technician would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from attest.sim.scenarios import MIXED
from tests.conftest import sim_process


def attest(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attest.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    with sim_process(tmp_path_factory, len(MIXED)) as sim:
        yield sim


def verify_args(out: Path, fleet: dict) -> list[str]:
    ports = ",".join(f"{k}={v}" for k, v in fleet["ports"].items())
    hosts = [r["host"] for r in fleet["rigs"]]
    return ["verify", *hosts, "--manifest", str(out / "manifest.dsse.json"), "--trust", str(out / "trust"),
            "--policy", str(out / "policy.toml"), "--ports", ports]


def test_sim_writes_the_contract_files(sim):
    out, fleet, _ = sim
    assert {"manifest.dsse.json", "policy.toml", "fleet.json", "trust"} <= {p.name for p in out.iterdir()}
    assert {r["scenario"] for r in fleet["rigs"]} == set(MIXED)
    assert len({r["host"] for r in fleet["rigs"]}) == len(MIXED)  # one loopback address per rig
    clone = next(r for r in fleet["rigs"] if r["scenario"] == "cloned-serial")
    assert clone["clone_of"] in {r["name"] for r in fleet["rigs"]}


def test_every_scenario_gets_the_designed_verdict(sim):
    out, fleet, env = sim
    result = attest(*verify_args(out, fleet), "--json", env=env)
    assert result.returncode == 4, result.stderr  # the worst verdict is UNTRUSTED
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    got = {line["address"]: line["verdict"] for line in lines}
    expected = {r["host"]: MIXED[r["scenario"]] for r in fleet["rigs"]}
    scenario_of = {r["host"]: r["scenario"] for r in fleet["rigs"]}
    wrong = {scenario_of[h]: (got.get(h), v) for h, v in expected.items() if got.get(h) != v}
    assert not wrong, f"scenario: (got, expected) {wrong}"
    by_scenario = {scenario_of[line["address"]]: line for line in lines}
    reasons = {s: {r["code"] for r in line["reasons"]} for s, line in by_scenario.items()}
    assert "FIRMWARE_DIGEST_UNKNOWN" in reasons["modified-firmware"]
    assert "FIRMWARE_REVOKED" in reasons["revoked-firmware"]
    assert "HASHBOARD_SERIAL_MISMATCH" in reasons["swapped-hashboard"]
    assert "CONTROL_BOARD_SERIAL_MISMATCH" in reasons["replaced-control-board"]
    assert "BACKDOOR_INDICATOR" in reasons["antbleed"]
    assert "POOL_NOT_ALLOWED" in reasons["pool-hijack"]
    assert "FIRMWARE_REPORTED_ONLY" in reasons["api-only"]
    assert "DEVICE_NOT_IN_MANIFEST" in reasons["not-in-manifest"]
    assert "SERIAL_CLONED" in reasons["cloned-serial"]
    assert "TIMEOUT" in reasons["unresponsive"]
    assert "MALFORMED_REPLY" in reasons["garbage"]
    assert "FIRMWARE_SIGNED_RELEASE" in reasons["slow"]
    genuine = by_scenario["genuine"]
    assert genuine["claims"]["firmware.image.rootfs.sha256"]["assurance"] == "measured"
    assert genuine["manifest"]["issuer"] == "Demo Mining Hardware Ltd"
    assert len(genuine["identity_sha256"]) == 64


def test_human_output_is_a_table_with_a_summary(sim):
    out, fleet, env = sim
    hosts = [r for r in fleet["rigs"] if r["scenario"] in ("genuine", "pool-hijack")]
    args = verify_args(out, {"ports": fleet["ports"], "rigs": hosts})
    result = attest(*args, env=env)
    assert result.returncode == 1, result.stderr  # worst is WARNING
    assert result.stdout.splitlines()[0].split()[:2] == ["ADDRESS", "VERDICT"]
    assert "2 rigs: 1 trusted · 1 warning · 0 untrusted · 0 unknown" in result.stdout


def test_collect_shows_claims_with_source_and_assurance(sim):
    _, fleet, env = sim
    rig = next(r for r in fleet["rigs"] if r["scenario"] == "genuine")
    ports = ",".join(f"{k}={v}" for k, v in fleet["ports"].items())
    result = attest("collect", rig["host"], "--ports", ports, "--json", env=env)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["claims"]["unit.serial"]["assurance"] == "reported"
    assert doc["claims"]["firmware.image.boot.sha256"]["source"].startswith("ssh://")


def test_scan_finds_every_rig_and_its_family(sim):
    _, fleet, env = sim
    ports = ",".join(f"{k}={v}" for k, v in fleet["ports"].items())
    first = fleet["rigs"][0]["host"]
    result = attest("scan", first.rsplit(".", 1)[0] + ".0/27", "--ports", ports, "--json", env=env)
    assert result.returncode == 0, result.stderr
    lines = {json.loads(line)["address"]: json.loads(line) for line in result.stdout.splitlines()}
    found = {address: line["services"] for address, line in lines.items()}
    answering = {r["host"] for r in fleet["rigs"] if r["scenario"] not in ("unresponsive", "garbage")}
    assert answering <= set(found)
    genuine = next(r for r in fleet["rigs"] if r["scenario"] == "genuine")
    assert found[genuine["host"]]["api"] == "bmminer" and lines[genuine["host"]]["identified"] is True
    # Each firmware family is named for what it is, on the channels it answers.
    family = {r["scenario"]: found[r["host"]] for r in fleet["rigs"] if r["host"] in found}
    assert family["avalon"]["api"] == "avalon"
    assert family["whatsminer-v2"]["api"] == "btminer"
    assert family["whatsminer-v3"]["whatsminer3"] == "btminer-v3"
    assert (family["braiins-os"]["api"], family["braiins-os"]["grpc"]) == ("bosminer", "braiins-os")
    assert family["luxos"]["api"] == "luxminer"
    assert family["antminer-vnish"]["api"] == "vnish"
    assert family["antminer-stock"]["web"] == "antminer-web"
    broken = {r["host"]: r["scenario"] for r in fleet["rigs"] if r["scenario"] in ("unresponsive", "garbage")}
    for host, scenario in broken.items():  # listed all the same: they open miner ports
        line = lines[host]
        assert (line["services"], line["identified"], line["opened"]["api"]) == ({}, False, fleet["ports"]["api"])
        assert bool(line["said"]) == (scenario == "garbage"), line["said"]  # the silent one said nothing
    assert result.stderr.strip().endswith(f"answered ({len(answering)} identified, {len(broken)} not identified), "
                                          f"{30 - len(answering) - len(broken)} silent")


def test_a_refused_manifest_stops_verify_with_a_clear_message(sim, tmp_path):
    out, fleet, env = sim
    bad = tmp_path / "manifest.dsse.json"
    bad.write_text((out / "manifest.dsse.json").read_text()[:200])
    result = attest("verify", fleet["rigs"][0]["host"], "--manifest", str(bad), "--trust", str(out / "trust"), env=env)
    assert result.returncode == 2
    assert "MANIFEST_MALFORMED" in result.stderr and "Traceback" not in result.stderr


def test_verify_with_log_records_every_verdict_and_the_log_verifies(sim, tmp_path):
    out, fleet, env = sim
    env = {**env, "ATTEST_PASSPHRASE": "correct horse", "ATTEST_HOME": str(tmp_path / "home")}
    assert attest("station", "init", "--id", "bench-7", "--no-input", env=env).returncode == 0
    rigs = [r for r in fleet["rigs"] if r["scenario"] in ("genuine", "swapped-hashboard")]
    log = tmp_path / "log.sqlite"
    result = attest(*verify_args(out, {"ports": fleet["ports"], "rigs": rigs}), "--log", str(log), "--no-input",
                    env=env)
    assert result.returncode == 4, result.stderr
    assert "recorded 2 verdicts" in result.stderr
    bundle = tmp_path / "batch.attestlog.jsonl"
    assert attest("log", "export", "--log", str(log), "-o", str(bundle), "--no-input", env=env).returncode == 0
    key = tmp_path / "station.pub"
    shown = attest("station", "show", "--pem", env=env)
    key.write_text(shown.stdout)
    checked = attest("log", "verify", str(bundle), "--station-key", str(key), env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    records = [json.loads(line) for line in bundle.read_text().splitlines()]
    verdicts = sorted(r.get("record", r).get("verdict") for r in records if "verdict" in r.get("record", r))
    assert verdicts == ["TRUSTED", "UNTRUSTED"]


def test_the_readmes_verify_command_works_as_typed(sim):
    """The README's own lines, run in a shell against this simulator: no `...` to fill in, and the
    port profile read from the file the simulator wrote, whichever ports it could bind."""
    out, fleet, env = sim
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = next(b for b in readme.split("```") if "attest verify @sim-out/hosts.txt" in b)
    command = block.strip().replace("sim-out", str(out)).replace("attest ", f"{sys.executable} -m attest.cli ", 1)
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, timeout=120,
                            check=False)
    assert result.returncode == 4, result.stderr  # the mixed fleet's worst verdict: UNTRUSTED
    assert (out / "hosts.txt").read_text().split() == [r["host"] for r in fleet["rigs"]]
    # Each verdict is printed as its rig is judged (a revision again), then the final table, after
    # a blank line, holds one row per rig.
    final = result.stdout.rsplit("\n\n", 1)[-1]
    rows = [line for line in final.splitlines() if line.startswith("127.")]
    assert sorted(row.split()[0] for row in rows) == sorted(r["host"] for r in fleet["rigs"])


def test_a_clone_read_late_revises_the_verdict_given_and_the_log_cites_it(sim, tmp_path):
    out, fleet, env = sim
    env = {**env, "ATTEST_PASSPHRASE": "correct horse", "ATTEST_HOME": str(tmp_path / "home")}
    assert attest("station", "init", "--id", "bench-8", "--no-input", env=env).returncode == 0
    clone = next(r for r in fleet["rigs"] if r["scenario"] == "cloned-serial")
    victim = next(r for r in fleet["rigs"] if r["name"] == clone["clone_of"])
    log = tmp_path / "log.sqlite"
    # One rig at a time, the clone first: it is judged before its twin is read.
    args = verify_args(out, {"ports": fleet["ports"], "rigs": [clone, victim]})
    result = attest(*args, "--concurrency", "1", "--json", "--log", str(log), "--no-input", env=env)

    assert result.returncode == 4, result.stderr  # both UNTRUSTED in the end
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(x["address"], x["verdict"], "revises" in x) for x in lines] == [
        (clone["host"], "TRUSTED", False),  # alone, a perfect copy looks genuine ...
        (victim["host"], "UNTRUSTED", False),  # ... until the unit it copies is read
        (clone["host"], "UNTRUSTED", True)]
    assert lines[2]["revises"] == {"verdict": "TRUSTED", "top_reason": "FIRMWARE_SIGNED_RELEASE",
                                   "because": victim["host"]}
    for line, other in ((lines[1], clone), (lines[2], victim)):
        cloned = next(r for r in line["reasons"] if r["code"] == "SERIAL_CLONED")
        assert other["host"] in cloned["detail"]
    assert "recorded 3 verdicts" in result.stderr and "1 of them a revision" in result.stderr

    bundle = tmp_path / "batch.attestlog.jsonl"
    assert attest("log", "export", "--log", str(log), "-o", str(bundle), "--no-input", env=env).returncode == 0
    checked = attest("log", "verify", str(bundle), env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rows = [json.loads(line) for line in bundle.read_text().splitlines()[1:-1]]
    of_clone = [row for row in rows if row["record"]["address"] == clone["host"]]
    assert [row["record"]["verdict"] for row in of_clone] == ["TRUSTED", "UNTRUSTED"]
    first, revision = of_clone
    assert "supersedes" not in first["record"]
    assert revision["record"]["supersedes"] == {"index": first["index"], "leaf_hash": first["leaf_hash"]}

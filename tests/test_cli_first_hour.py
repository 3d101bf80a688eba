"""What a new user meets at the command line: help that explains, errors in one line with what
to do, and nothing lost or left behind when a run is stopped (issue 18)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from attest import cli
from attest.appraise import Appraisal
from attest.cli import build_parser, main
from attest.evidence import Assurance, Claim, Evidence
from attest.fleet import DeviceAppraised, DeviceStarted
from attest.log.store import open_store
from attest.manifest import sign_envelope
from attest.sim.address_in_use import who_listens
from attest.sim.pki import make_vendor_pki, write_trust_store
from attest.sim.runner import manifest_payload, plan_fleet
from attest.sim.scenarios import SCENARIOS, SERIAL_SCENARIOS
from attest.verdict import Verdict, reason
from tests.conftest import free_loopback_base


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, (*path, name))


def test_every_command_says_what_it_is_for_and_every_option_is_explained():
    unexplained = []
    for path, parser in _commands(build_parser()):
        if path and not parser.description:
            unexplained.append(" ".join(path))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction | argparse._HelpAction | argparse._VersionAction):
                continue
            if not action.help:
                unexplained.append(f"{' '.join(path)} {action.option_strings or action.dest}")
    assert not unexplained


def test_sim_help_lists_every_scenario_with_its_verdict(capsys):
    with pytest.raises(SystemExit):
        main(["sim", "--help"])
    text = capsys.readouterr().out
    for name, verdict in SCENARIOS.items():
        assert any(line.split()[:2] == [name, verdict] for line in text.splitlines()), name
    for name in [*SERIAL_SCENARIOS, "mixed"]:
        assert f"  {name} " in text
    assert "hosts.txt" in text and "--fleet N" in text


@pytest.mark.parametrize("group, action", [("manifest", "inspect"), ("log", "verify-receipt"), ("station", "init")])
def test_a_command_group_without_an_action_shows_its_own_help(group, action, capsys):
    assert main([group]) == 2
    err = capsys.readouterr().err
    assert f"usage: attest {group}" in err and action in err


def test_a_manifest_path_that_does_not_exist_is_a_usage_error_everywhere(tmp_path, capsys):
    missing = tmp_path / "shipment.dsse.json"
    (tmp_path / "trust").mkdir()
    trust = str(tmp_path / "trust")
    runs = [["verify", "10.0.4.17", "--manifest", str(missing), "--trust", trust],
            ["manifest", "verify", str(missing), "--trust", trust],
            ["manifest", "inspect", str(missing)],
            ["image", str(tmp_path), "--manifest", str(missing), "--trust", trust]]
    for argv in runs:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "cannot read" in err and f"{missing}: No such file or directory" in err, argv
        assert "MANIFEST_MALFORMED" not in err and "refused" not in err


@pytest.fixture
def signed_manifest(tmp_path) -> tuple[Path, Path]:
    """A real signed manifest for one genuine unit, and the trust store that accepts it."""
    pki = make_vendor_pki("Demo Mining Hardware Ltd")
    write_trust_store(pki, tmp_path / "trust")
    doc = manifest_payload(plan_fleet(1, "genuine", "127.0.9.1"), sequence=7, now=datetime.now(UTC))
    path = tmp_path / "manifest.dsse.json"
    path.write_text(json.dumps(sign_envelope(doc, [pki.signer()])))
    return path, tmp_path / "trust"


def test_verify_log_without_a_station_key_says_to_run_station_init_before_reading_a_rig(
        signed_manifest, tmp_path, capsys, monkeypatch):
    manifest, trust = signed_manifest
    monkeypatch.setattr(cli, "verify_many", lambda *a, **k: pytest.fail("a rig was read"))
    code = main(["verify", "10.0.4.17", "--manifest", str(manifest), "--trust", str(trust),
                 "--log", str(tmp_path / "log.sqlite"), "--no-input"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "STATION_NOT_INITIALISED" in err and "Run `attest station init` once on this station." in err
    assert main(["log", "export", "-o", str(tmp_path / "out.jsonl"), "--no-input"]) == 2
    assert "Run `attest station init`" in capsys.readouterr().err


# --- Ctrl-C ------------------------------------------------------------------------------------

def _appraisal(address: str, serial: str) -> Appraisal:
    evidence = Evidence(address, (Claim("unit.serial", serial, "api", Assurance.REPORTED),))
    return Appraisal(address, Verdict.UNKNOWN, (reason("NO_MANIFEST"),), {}, evidence, None)


def test_ctrl_c_during_verify_prints_and_logs_every_verdict_already_judged(
        signed_manifest, tmp_path, capsys, monkeypatch):
    manifest, trust = signed_manifest
    monkeypatch.setenv("ATTEST_PASSPHRASE", "correct horse")
    assert main(["station", "init", "--id", "bench-1", "--no-input"]) == 0
    judged = [_appraisal("10.0.4.17", "SN-17"), _appraisal("10.0.4.18", "SN-18")]

    async def interrupted_run(*_args, **_kwargs):
        for a in judged:
            yield DeviceStarted(a.address)
        yield DeviceStarted("10.0.4.19")
        for a in judged:
            yield DeviceAppraised(a)
        raise KeyboardInterrupt  # what asyncio.run raises when Ctrl-C arrives

    monkeypatch.setattr(cli, "verify_many", interrupted_run)
    log = tmp_path / "log.sqlite"
    capsys.readouterr()
    code = main(["verify", "10.0.4.17", "10.0.4.18", "10.0.4.19", "--manifest", str(manifest), "--trust",
                 str(trust), "--log", str(log), "--no-input"])
    assert code == 130
    out, err = capsys.readouterr()
    assert "10.0.4.17" in out and "10.0.4.18" in out and "10.0.4.19" not in out and "2 rigs:" in out
    assert "interrupted (Ctrl-C)" in err and "2 rig(s) judged before it" in err
    assert f"recorded in {log}" in err and "1 rig(s) already being read were not judged" in err
    with open_store(log, create=False) as store:
        assert [json.loads(r.data)["address"] for r in store.records(0, store.count())] == ["10.0.4.17", "10.0.4.18"]


def test_ctrl_c_while_a_rig_is_being_read_ends_with_one_line_and_exit_130(signed_manifest):
    """A real process and a real SIGINT, while the only rig (a socket that never answers) is read."""
    manifest, trust = signed_manifest
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(60)
        port = listener.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "attest.cli", "verify", f"cgminer://127.0.0.1:{port}",
                                 "--manifest", str(manifest), "--trust", str(trust), "--timeout", "60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            conn, _ = listener.accept()  # the check has started: the rig is being read
            proc.send_signal(signal.SIGINT)
            _out, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        conn.close()
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("attest: interrupted (Ctrl-C)")
    assert "0 rig(s) judged before it" in err


# --- a simulator on a taken address, and a demo stopped by SIGTERM ------------------------------

@pytest.mark.parametrize("command", [["demo"], ["sim", "--out", "OUT"]])
def test_a_taken_simulator_address_is_one_line_naming_who_holds_it(command, tmp_path):
    base = free_loopback_base()
    with socket.create_server((base, 4028)) as holder:
        assert who_listens(base, 4028) is not None and who_listens(base, 4028).pid == os.getpid()
        argv = [str(tmp_path / "sim") if a == "OUT" else a for a in command]
        env = {**os.environ, "TMPDIR": str(tmp_path)}
        result = subprocess.run([sys.executable, "-m", "attest.cli", *argv, "--base-address", base],
                                capture_output=True, text=True, timeout=60, env=env, check=False)
        del holder
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{base}:4028 is already in use by process {os.getpid()} (" in lines[0]
    assert "--base-address 127." in lines[0]
    assert not list(tmp_path.glob("attest-demo-*"))


def test_sigterm_to_the_demo_removes_its_temporary_directory_and_station_key(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("ATTEST_HOME")  # the demo's station state then lives in its temporary directory
    proc = subprocess.Popen([sys.executable, "-m", "attest.cli", "demo", "--base-address", free_loopback_base()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert "is up" in line, proc.stderr.read() if proc.stderr else ""
        [home] = tmp_path.glob("attest-demo-*")
        assert (home / "sim" / "manifest.dsse.json").exists()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM
    assert not list(tmp_path.glob("attest-demo-*"))

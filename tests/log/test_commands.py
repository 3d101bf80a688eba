"""`attest station ...` and `attest log ...` end to end: output, files and exit codes."""

from __future__ import annotations

import argparse
import json

import pytest

import attest.cli
from attest.log.commands import log_appraisals, register, unlock_station
from attest.log.errors import LogError
from attest.station import KEY_FILE, station_directory
from tests.log.synthetic import PASSPHRASE, serial_of, synthetic_appraisal

_build_cli_parser = attest.cli.build_parser


def cli_parser() -> argparse.ArgumentParser:
    """The real CLI parser with our groups, whether or not cli.py registers them itself yet."""
    parser = _build_cli_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "station" not in subparsers.choices:
        register(subparsers)
    return parser


@pytest.fixture
def attest_cli(monkeypatch, capsys):
    monkeypatch.setattr(attest.cli, "build_parser", cli_parser)

    def run(*argv: str) -> tuple[int, str, str]:
        code = attest.cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def station(attest_cli, passphrase_env):
    code, out, _ = attest_cli("station", "init", "--id", "dock-2", "--no-input")
    assert code == 0 and "dock-2" in out
    return out.split("fingerprint ")[1].strip()


def test_station_init_and_show(attest_cli, station, tmp_path):
    code, out, _ = attest_cli("station", "show")
    assert code == 0 and f"fingerprint  {station}" in out and "-----BEGIN PUBLIC KEY-----" in out
    code, out, _ = attest_cli("station", "show", "--json")
    assert json.loads(out)["fingerprint"] == station and json.loads(out)["station_id"] == "dock-2"
    code, out, _ = attest_cli("station", "show", "--pem")
    assert out.startswith("-----BEGIN PUBLIC KEY-----") and "fingerprint" not in out


def test_no_input_without_a_passphrase_refuses_to_prompt(attest_cli, monkeypatch):
    monkeypatch.delenv("ATTEST_PASSPHRASE", raising=False)
    code, _, err = attest_cli("station", "init", "--no-input")
    assert code == 2 and "STATION_PASSPHRASE_NEEDED" in err and "Traceback" not in err


def test_interactive_init_asks_twice_and_refuses_a_mismatch(attest_cli, monkeypatch):
    monkeypatch.delenv("ATTEST_PASSPHRASE", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter(["first", "second"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    code, _, err = attest_cli("station", "init")
    assert code == 2 and "differ" in err
    answers = iter([PASSPHRASE, PASSPHRASE])
    assert attest_cli("station", "init")[0] == 0


def test_show_before_init_says_what_to_do(attest_cli):
    code, _, err = attest_cli("station", "show")
    assert code == 2 and "STATION_NOT_INITIALISED" in err


def test_logging_a_batch_needs_the_right_passphrase_and_creates_nothing_otherwise(station, monkeypatch, tmp_path):
    monkeypatch.setenv("ATTEST_PASSPHRASE", "not it")
    with pytest.raises(LogError) as e:
        log_appraisals(str(tmp_path / "log.sqlite"), [synthetic_appraisal(1)])
    assert e.value.code == "STATION_PASSPHRASE_WRONG"
    assert not (tmp_path / "log.sqlite").exists()


def test_intake_export_and_offline_verification(attest_cli, station, tmp_path, monkeypatch):
    db = tmp_path / "log.sqlite"
    monkeypatch.setenv("ATTEST_OPERATOR", "alice")
    first = log_appraisals(str(db), [synthetic_appraisal(i) for i in range(8)], batch_id="pallet-1")
    assert first.tree_size == 8
    assert attest_cli("log", "checkpoint", "--log", db, "-o", tmp_path / "cp.json")[0] == 0
    log_appraisals(str(db), [synthetic_appraisal(i) for i in range(8, 13)], batch_id="pallet-2")
    attest_cli("station", "show", "--pem")
    (tmp_path / "station.pub").write_text(attest_cli("station", "show", "--pem")[1])

    code, out, _ = attest_cli("log", "export", "--log", db, "-o", tmp_path / "b.attestlog.jsonl",
                              "--intoto", tmp_path / "b.intoto.jsonl", "--no-input")
    assert code == 0 and "13 records" in out and "in-toto statements" in out
    code, out, _ = attest_cli("log", "verify", tmp_path / "b.attestlog.jsonl", "--station-key",
                              tmp_path / "station.pub", "--since", tmp_path / "cp.json")
    assert code == 0 and out.startswith("OK") and "extends the earlier checkpoint of 8" in out
    code, out, _ = attest_cli("log", "verify", tmp_path / "b.attestlog.jsonl", "--json", "--station-key", station)
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["key_pinned"] and report["tree_size"] == 13

    lines = (tmp_path / "b.attestlog.jsonl").read_text().splitlines(keepends=True)
    lines[4] = lines[4].replace('"operator":"alice"', '"operator":"mallory"')
    (tmp_path / "b.attestlog.jsonl").write_text("".join(lines))
    code, _, err = attest_cli("log", "verify", tmp_path / "b.attestlog.jsonl")
    assert code == 4 and "LOG_RECORD_EDITED: record 3" in err


def test_selected_export_and_receipts(attest_cli, station, tmp_path):
    db = tmp_path / "log.sqlite"
    log_appraisals(str(db), [synthetic_appraisal(i) for i in range(6)], batch_id="p1")
    log_appraisals(str(db), [synthetic_appraisal(2)], batch_id="p2")  # unit 2 verified again
    code, out, _ = attest_cli("log", "export", "--log", db, "-o", tmp_path / "p2.attestlog.jsonl", "--batch", "p2",
                              "--since", "2000-01-01", "--until", "2999-12-31", "--serial", serial_of(2))
    assert code == 0 and "1 shown" in out
    assert attest_cli("log", "verify", tmp_path / "p2.attestlog.jsonl")[0] == 0

    code, out, _ = attest_cli("log", "receipt", "--log", db, "--serial", serial_of(2), "-o", tmp_path / "r.json")
    assert code == 0 and "record 6" in out
    code, out, _ = attest_cli("log", "verify-receipt", tmp_path / "r.json", "--station-key", station)
    assert code == 0 and f"{serial_of(2)}: TRUSTED" in out
    code, _, err = attest_cli("log", "verify-receipt", tmp_path / "r.json", "--station-key", "ab" * 32)
    assert code == 4 and "LOG_SIGNED_BY_OTHER_KEY" in err
    code, _, err = attest_cli("log", "receipt", "--log", db, "--serial", "NOPE", "-o", tmp_path / "x.json")
    assert code == 2 and "LOG_RECORD_NOT_FOUND" in err and not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("argv, code, needle", [
    (["log", "verify", "{tmp}/absent.attestlog.jsonl"], 2, "LOG_UNREADABLE"),
    (["log", "verify", "{tmp}/junk.attestlog.jsonl"], 2, "LOG_UNREADABLE"),
    (["log", "verify", "{tmp}/junk.attestlog.jsonl", "--station-key", "{tmp}/absent.pem"], 2, "LOG_INPUT_INVALID"),
    (["log", "verify-receipt", "{tmp}/junk.attestlog.jsonl"], 2, "LOG_UNREADABLE"),
    (["log", "receipt", "--log", "{tmp}/absent.sqlite", "--index", "0", "-o", "{tmp}/r.json"], 2,
     "LOG_STORE_UNAVAILABLE"),
    (["log", "checkpoint", "--log", "{tmp}/absent.sqlite", "-o", "{tmp}/c.json"], 2, "LOG_STORE_UNAVAILABLE"),
    (["log", "export", "--log", "{tmp}/absent.sqlite"], 2, "LOG_INPUT_INVALID"),
    (["log", "export", "--log", "{tmp}/absent.sqlite", "-o", "{tmp}/b", "--since", "last tuesday"], 2,
     "LOG_INPUT_INVALID"),
])
def test_bad_input_is_one_line_and_exit_2_never_a_traceback(attest_cli, station, tmp_path, argv, code, needle):
    (tmp_path / "junk.attestlog.jsonl").write_text("junk\n")
    got, _, err = attest_cli(*[a.format(tmp=tmp_path) for a in argv])
    assert got == code and needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "absent.sqlite").exists()


def test_export_under_no_input_needs_the_passphrase_from_the_environment(attest_cli, station, tmp_path, monkeypatch):
    log_appraisals(str(tmp_path / "log.sqlite"), [synthetic_appraisal(0)])
    monkeypatch.delenv("ATTEST_PASSPHRASE")
    code, _, err = attest_cli("log", "export", "--log", tmp_path / "log.sqlite", "-o", tmp_path / "b", "--no-input")
    assert code == 2 and "STATION_PASSPHRASE_NEEDED" in err and not (tmp_path / "b").exists()


def test_verify_can_unlock_the_key_before_its_scan_and_log_after(station, tmp_path):
    signer = unlock_station(no_input=True)
    checkpoint = log_appraisals(str(tmp_path / "log.sqlite"), [synthetic_appraisal(1)], signer=signer)
    assert checkpoint.tree_size == 1 and checkpoint.origin == "dock-2"


def test_a_missing_key_refuses_to_log_and_leaves_the_log_as_it_was(station, tmp_path):
    db = tmp_path / "log.sqlite"
    log_appraisals(str(db), [synthetic_appraisal(i) for i in range(3)])
    before = db.read_bytes()
    (station_directory() / KEY_FILE).unlink()
    with pytest.raises(LogError) as e:
        log_appraisals(str(db), [synthetic_appraisal(3)])
    assert e.value.code == "STATION_NOT_INITIALISED"
    assert db.read_bytes() == before

"""``attest-gui --self-test``: passes on a sound install, and fails loudly when something is off."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import attest.sim.scenarios
import gui.resources as res
import gui.selftest as selftest


def test_self_test_passes_through_the_real_entry_point():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "gui.app", "--self-test"], capture_output=True, text=True,
                          env=env, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("OK ")
    assert "genuine=TRUSTED" in done.stdout and "modified-firmware=UNTRUSTED" in done.stdout
    assert "propagateSizeHints" not in done.stderr


def test_self_test_fails_when_a_verdict_is_not_the_scenarios(qapp, monkeypatch, capsys):
    monkeypatch.setitem(attest.sim.scenarios.MIXED, "genuine", "UNTRUSTED")
    assert selftest.run_self_test(qapp, io.StringIO()) == 1
    err = capsys.readouterr().err
    assert err.startswith("FAIL: attest-gui self-test: rig ") and "(genuine) is TRUSTED, expected UNTRUSTED" in err


def test_self_test_fails_on_a_missing_resource(qapp, monkeypatch, capsys):
    monkeypatch.setattr(selftest, "check_resources", lambda: ["missing resource gui/assets/verdicts/trusted.svg"])
    out = io.StringIO()
    assert selftest.run_self_test(qapp, out) == 1
    assert out.getvalue() == ""
    assert "missing resource gui/assets/verdicts/trusted.svg" in capsys.readouterr().err


def test_time_to_window_is_measured_from_process_start():
    seconds = selftest.seconds_since_process_start()
    if sys.platform.startswith("linux"):
        assert seconds is not None and 0 < seconds < 3600


def test_resources_come_from_the_package():
    assert res.root().joinpath("verdicts", "trusted.svg").is_file()

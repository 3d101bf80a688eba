"""Shared fixtures: every test gets its own station state, never the user's."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest

from attest.sim.runner import free_base


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def skip_unless_ci(reason: str) -> NoReturn:
    """Skip a test whose tool, peer or privilege is missing on this machine, but never under
    CI=true: there a missing prerequisite is a broken CI setup (.ci/run installs them), and a
    test that silently skipped would be a test that cannot fail."""
    if on_ci():
        pytest.fail(f"{reason}; under CI=true this test must run, not skip")
    pytest.skip(reason)


def free_loopback_base() -> str:
    """A 127.X.Y.1 whose API port is free, so two test runs on one machine don't collide."""
    return free_base(None)


@pytest.fixture(autouse=True)
def isolated_station_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTEST_HOME", str(tmp_path_factory.mktemp("station")))


@contextlib.contextmanager
def sim_process(tmp_path_factory: pytest.TempPathFactory, count: int, scenario: str = "mixed",
                extra: Sequence[str] = ()) -> Iterator[tuple[Path, dict[str, Any], dict[str, str]]]:
    """A real `attest sim` process on a free loopback block, stopped afterwards: its output
    directory, its fleet.json, and an environment with a station state of its own. ``extra``:
    more `attest sim` options (--dns ...)."""
    out = tmp_path_factory.mktemp("sim")
    env = {**os.environ, "ATTEST_HOME": str(tmp_path_factory.mktemp("station"))}
    with subprocess.Popen([sys.executable, "-m", "attest.cli", "sim", "--fleet", str(count), "--scenario", scenario,
                           "--out", str(out), "--base-address", free_loopback_base(), *extra],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as proc:
        try:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line.startswith("ready "):
                proc.kill()
                pytest.fail(f"sim did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
            yield out, json.loads(Path(line.split(" ", 1)[1].strip()).read_text()), env
        finally:
            proc.terminate()
            proc.wait(timeout=20)

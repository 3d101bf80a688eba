"""Shared fixtures: every test gets its own station state, never the user's."""

from __future__ import annotations

import pytest

from attest.sim.runner import free_base


def free_loopback_base() -> str:
    """A 127.X.Y.1 whose API port is free, so two test runs on one machine don't collide."""
    return free_base(None)


@pytest.fixture(autouse=True)
def isolated_station_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTEST_HOME", str(tmp_path_factory.mktemp("station")))

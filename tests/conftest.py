"""Shared fixtures: every test gets its own station state, never the user's."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_station_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTEST_HOME", str(tmp_path_factory.mktemp("station")))

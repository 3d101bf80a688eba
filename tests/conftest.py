"""Shared fixtures: every test gets its own station state, never the user's."""

from __future__ import annotations

import random
import socket

import pytest


def free_loopback_base(first_block: int = 2) -> str:
    """A 127.X.Y.1 whose API port is free, so two test runs on one machine don't collide."""
    blocks = list(range(first_block, 250))
    random.shuffle(blocks)
    for x in blocks:
        base = f"127.{x}.{random.randrange(1, 250)}.1"
        with socket.socket() as s:
            try:
                s.bind((base, 4028))
            except OSError:
                continue
        return base
    raise RuntimeError("no free loopback block for a simulated fleet")


@pytest.fixture(autouse=True)
def isolated_station_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTEST_HOME", str(tmp_path_factory.mktemp("station")))

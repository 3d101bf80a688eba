"""Fixtures for the log tests: a station, a log, and a way to make a directory read-only."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from attest.log.sqlite import SqliteStore
from attest.station import StationSigner, station_directory
from tests.conftest import skip_unless_ci
from tests.log.synthetic import PASSPHRASE, make_signer


@pytest.fixture
def signer() -> StationSigner:
    return make_signer(station_directory())


@pytest.fixture
def passphrase_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ATTEST_PASSPHRASE", PASSPHRASE)
    return PASSPHRASE


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "log.sqlite")
    yield s
    s.close()


@pytest.fixture
def read_only() -> Callable[[Path], contextlib.AbstractContextManager[None]]:
    """Make a directory read-only for this process. Root ignores permission bits, so as root
    it becomes a read-only bind mount of itself: writes then fail with EROFS, like a disk
    remounted read-only."""

    @contextlib.contextmanager
    def make(path: Path) -> Iterator[None]:
        if os.geteuid() != 0:
            mode = path.stat().st_mode
            path.chmod(0o555)
            try:
                yield
            finally:
                path.chmod(mode)
            return
        bind = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True)
        if bind.returncode != 0:
            skip_unless_ci("running as root without permission to mount a read-only directory")
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(path), str(path)], check=True,
                           capture_output=True)
            yield
        finally:
            subprocess.run(["umount", str(path)], check=True, capture_output=True)

    return make

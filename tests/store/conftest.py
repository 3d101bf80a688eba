"""A real PostgreSQL for the warehouse tests: one throwaway database per test session.

Locally the server is a private cluster (tests/store/pg.py); in CI, ``.ci/run`` starts
Debian's cluster and sets ``ATTEST_TEST_PG``. Tests that kill the server or need its TLS
certificate always get a private cluster. Without a server installed the tests skip, except
under CI=true, where they must run.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from attest.station import StationSigner, init_station, load_signer
from tests.log.synthetic import PASSPHRASE
from tests.store.pg import PrivateCluster, drop_database, postgres_bindir, throwaway_database


def _need_server() -> None:
    if postgres_bindir() is None and not os.environ.get("ATTEST_TEST_PG"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but no PostgreSQL server is installed (.ci/run installs it)")
        pytest.skip("no PostgreSQL server installed here (apt-get install postgresql postgresql-plpython3-15)")


@pytest.fixture(scope="session")
def private_pg() -> Iterator[PrivateCluster]:
    """A cluster of our own: it can be killed and restarted, and it speaks TLS with a test CA."""
    if postgres_bindir() is None:
        _need_server()
    cluster = PrivateCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def superuser_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A superuser URL of a fresh database with the warehouse schema already initialised."""
    _need_server()
    name = f"attest_test_{secrets.token_hex(4)}"
    external = os.environ.get("ATTEST_TEST_PG")
    if external:
        url = throwaway_database(external, name)
    else:
        url = request.getfixturevalue("private_pg").create_database(name)
    done = run_cli("store", "init", url)
    assert done.returncode == 0, done.stderr
    yield url
    if external:
        drop_database(external, name)


@dataclass
class Station:
    """One station: its own ATTEST_HOME (key, log, store login) and environment for the CLI."""

    home: Path
    signer: StationSigner
    env: dict[str, str]

    @property
    def id(self) -> str:
        return self.signer.station_id

    @property
    def log(self) -> Path:
        return self.home / "log.sqlite"

    def cli(self, *args: str, check: bool = False, process: bool = False) -> subprocess.CompletedProcess[str]:
        """`attest ARGS` as this station: in this process (the CLI's own main(), with the station's
        environment and captured output), or as a real process with ``process=True``."""
        done = run_cli(*args, env=self.env) if process else run_in_process(args, self.env)
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done


def make_station(directory: Path, name: str, station_id: str | None = None) -> Station:
    home = directory / (name if station_id is None else f"{name}-as-{station_id}")
    station_id = station_id or f"{name}-{secrets.token_hex(3)}"
    init_station(PASSPHRASE.encode(), station_id, directory=home / "station")
    signer = load_signer(PASSPHRASE.encode(), home / "station")
    env = {**os.environ, "ATTEST_HOME": str(home), "ATTEST_PASSPHRASE": PASSPHRASE}
    env.pop("ATTEST_STORE", None)
    return Station(home, signer, env)


@pytest.fixture
def stations(tmp_path: Path) -> object:
    """``stations("bench")`` makes a new station (a unique id, so tests share the database);
    ``stations("rogue", station_id=...)`` one that claims an id (its own key)."""
    return lambda name="bench", station_id=None: make_station(tmp_path, name, station_id)


def run_in_process(args: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI's main() here: a second cheaper than a new interpreter, the same code path."""
    from attest.cli import main

    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(["attest", *args], code, out.getvalue(), err.getvalue())


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attest.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def station_url(superuser: str) -> str:
    """The store's URL as a station is given it: no user, so its enrolled login is used."""
    from attest.store.connection import parse_target, without_login

    return without_login(parse_target(superuser)).url()

"""Cross-station identity through a real store: two `attest sim` fleets with one seed hold the same
units (one pallet reaching two stations), checked by `attest verify --store` at two stations."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from attest.address import HostTarget, PortProfile
from attest.credentials import load_credentials
from attest.drivers.base import CollectOptions
from attest.fleet import BatchDone, verify_many
from attest.log.append import log_batch
from attest.log.sqlite import SqliteStore
from attest.manifest import load_manifest
from attest.policy import load_policy
from attest.store.push import push_pending
from attest.trust import StationState, TrustStore
from tests.conftest import sim_process
from tests.store.conftest import Station, station_url
from tests.store.test_push import enrolled, login_of

pytestmark = pytest.mark.real


@pytest.fixture
def pallet(tmp_path_factory, request):
    """``pallet("genuine", "swapped-hashboard")``: fleets of one unit each, all the same unit (one
    seed per test, so no other test's records of it are in the session's store)."""
    stack = contextlib.ExitStack()
    request.addfinalizer(stack.close)
    seed = f"pallet-{request.node.name}"
    return lambda *scenarios: [stack.enter_context(sim_process(tmp_path_factory, 1, s, ("--seed", seed)))
                               for s in scenarios]


def verify_cli(station: Station, sim: tuple[Path, dict, dict], store: str, *,
               process: bool = False) -> tuple[int, dict]:
    out, fleet, _ = sim
    ports = ",".join(f"{k}={v}" for k, v in fleet["ports"].items())
    done = station.cli("verify", fleet["rigs"][0]["host"], "--manifest", str(out / "manifest.dsse.json"),
                       "--trust", str(out / "trust"), "--policy", str(out / "policy.toml"), "--ports", ports,
                       "--store", store, "--json", "--no-input", process=process)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout.splitlines()[0])


def checked_days_ago(station: Station, sim: tuple[Path, dict, dict], days: int) -> str:
    """Station checks the fleet for real, but its record says it was ``days`` ago; then pushes."""
    out, fleet, _ = sim
    trust = TrustStore.load(out / "trust")
    manifest = load_manifest(out / "manifest.dsse.json", trust, state=StationState(station.home / "state.json"))
    policy = load_policy(out / "policy.toml")

    async def run() -> list:
        async for event in verify_many([HostTarget(fleet["rigs"][0]["host"])], manifests=[manifest], policy=policy,
                                       ports=PortProfile(**fleet["ports"]), options=CollectOptions(timeout=10),
                                       credentials=load_credentials(None, allow_vendor_defaults=True)):
            if isinstance(event, BatchDone):
                return list(event.appraisals)
        return []

    appraisals = asyncio.run(run())
    assert appraisals and appraisals[0].verdict.value == "TRUSTED", appraisals
    when = datetime.now(UTC) - timedelta(days=days)
    with SqliteStore(station.log) as store:
        log_batch(store, station.signer, appraisals, operator="test", now=when)
    push_pending(station.log, login_of(station))
    return when.strftime("%Y-%m-%d")


def reason(line: dict, code: str) -> dict:
    return next(r for r in line["reasons"] if r["code"] == code)


def test_same_serial_at_two_stations_within_the_hour_is_cloned(superuser_url, stations, pallet):
    genuine_a, genuine_b = pallet("genuine", "genuine")
    a, b = (enrolled(stations(n), superuser_url) for n in ("bench", "dock"))
    store = station_url(superuser_url)
    code, first = verify_cli(a, genuine_a, store)
    assert code == 0 and first["verdict"] == "TRUSTED", first["reasons"]
    code, second = verify_cli(b, genuine_b, store, process=True)  # the same unit at another bench, as a script runs it
    assert code == 4 and second["verdict"] == "UNTRUSTED"
    cloned = reason(second, "SERIAL_CLONED")
    assert f"station {a.id}" in cloned["detail"] and "within an hour" in cloned["detail"]


def test_changed_hashboard_since_another_stations_check_is_untrusted_naming_it(superuser_url, stations, pallet):
    genuine_a, swapped = pallet("genuine", "swapped-hashboard")
    a, c = (enrolled(stations(n), superuser_url) for n in ("bench", "repair"))
    day = checked_days_ago(a, genuine_a, 3)
    code, line = verify_cli(c, swapped, station_url(superuser_url))
    assert code == 4 and line["verdict"] == "UNTRUSTED"
    changed = reason(line, "IDENTITY_CHANGED_SINCE")
    assert f"station {a.id}" in changed["detail"] and day in changed["detail"]
    assert "hashboards was" in changed["detail"]
    assert "SERIAL_CLONED" not in {r["code"] for r in line["reasons"]}  # three days apart: not a clone
    report = json.loads(a.cli("store", "report", "--json", check=True).stdout)
    change = next(x for x in report["identity_changes"] if x["serial"] == line["claims"]["unit.serial"]["value"]
                  and x["later"]["station"] == c.id)
    assert change["earlier"]["station"] == a.id and any("hashboards" in p for p in change["changes"])


def test_same_identity_at_another_station_days_later_is_history(superuser_url, stations, pallet):
    genuine_a, genuine_b = pallet("genuine", "genuine")
    a, b = (enrolled(stations(n), superuser_url) for n in ("bench", "dock"))
    checked_days_ago(a, genuine_a, 2)
    code, line = verify_cli(b, genuine_b, station_url(superuser_url))
    assert code == 0 and line["verdict"] == "TRUSTED", line["reasons"]
    seen = reason(line, "IDENTITY_SEEN_BEFORE")
    assert "same identity" in seen["detail"]


def test_an_unreachable_store_is_a_could_not_check_and_the_records_wait(stations, pallet):
    (genuine_a,) = pallet("genuine")
    a = stations("bench")
    code, line = verify_cli(a, genuine_a, "postgresql://127.0.0.1:1/attest")  # nothing listens on port 1
    assert line["verdict"] == "TRUSTED" and code == 0  # history unavailable never makes a unit worse
    assert "warehouse store" in reason(line, "HISTORY_UNAVAILABLE")["detail"]
    assert SqliteStore(a.log, create=False).count() == 1  # recorded locally, waiting to be pushed

"""Stations pushing their logs to a real PostgreSQL: idempotent, concurrent, and refused when they
should be. The server is real (tests/store/pg.py); nothing here is a fake."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import psycopg
import pytest

from attest.log.append import log_batch
from attest.log.sqlite import SqliteStore
from attest.store.connection import StoreTarget, parse_target, with_login
from attest.store.enroll import enroll_station
from attest.store.errors import StoreError
from attest.store.push import push_pending
from attest.store.queue import queue_state
from tests.log.synthetic import synthetic_appraisal
from tests.store.conftest import Station, station_url
from tests.store.pg import write_tls

pytestmark = pytest.mark.real


def fill(station: Station, count: int, *, start: int = 0, batch: int = 500) -> None:
    with SqliteStore(station.log) as store:
        for first in range(start, start + count, batch):
            log_batch(store, station.signer, [synthetic_appraisal(n) for n in range(first, min(start + count,
                                                                                        first + batch))],
                      operator="test")


def login_of(station: Station) -> StoreTarget:
    doc = json.loads((station.home / "station" / "store.json").read_text())
    return with_login(parse_target(doc["url"]), doc["role"], doc["password"])


def stored(superuser: str, station: str) -> tuple[int, int, int]:
    """(records, distinct hashes, highest index + 1) the store holds of ``station``."""
    with psycopg.connect(superuser) as conn:
        n, distinct, top = conn.execute("SELECT count(*), count(DISTINCT leaf_hash), coalesce(max(idx) + 1, 0) "
                                        "FROM attest.records WHERE station = %s", (station,)).fetchone()
    return int(n), int(distinct), int(top)


def enrolled(station: Station, superuser: str) -> Station:
    """Enrolled in-process (a CLI start costs a second; test_push_then_sync... runs the command)."""
    saved = os.environ.get("ATTEST_HOME")
    os.environ["ATTEST_HOME"] = str(station.home)  # the login is saved beside the station's key
    try:
        enroll_station(parse_target(superuser), station.signer.identity)
    finally:
        if saved is None:
            os.environ.pop("ATTEST_HOME", None)
        else:
            os.environ["ATTEST_HOME"] = saved
    return station


def test_init_is_idempotent_and_prints_the_schema_version(superuser_url, stations):
    again = stations("admin").cli("store", "init", superuser_url, check=True)
    assert "store schema version 1 (already current)" in again.stdout


def test_push_then_sync_again_sends_nothing_twice(superuser_url, stations):
    a = stations("bench")
    done = a.cli("station", "enroll", "--store", superuser_url, check=True, process=True)  # a real process too
    assert f"station {a.id} enrolled" in done.stdout and "as role station_bench_" in done.stdout
    fill(a, 1200)
    first = a.cli("store", "sync", "--store", station_url(superuser_url), check=True, process=True)
    assert "pushed 1200 records" in first.stdout and "all 1200 records pushed" in first.stdout
    again = a.cli("store", "sync", check=True)  # the enrolled store is the default
    assert "pushed 0 records" in again.stdout
    assert stored(superuser_url, a.id) == (1200, 1200, 1200)


def test_two_stations_pushing_concurrently_each_store_all_their_records(superuser_url, stations):
    pair = [enrolled(stations(name), superuser_url) for name in ("bench", "dock")]
    for station in pair:
        fill(station, 1500)
    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def push(station: Station) -> None:
        start.wait()
        try:  # small parts, so the two stations' transactions interleave on the server
            results[station.id] = push_pending(station.log, login_of(station), part_records=100)
        except Exception as e:
            results[station.id] = e

    threads = [threading.Thread(target=push, args=(s,)) for s in pair]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for station in pair:
        result = results[station.id]
        assert not isinstance(result, Exception), result
        assert result.sent == 1500 and result.stored == 1500
        assert stored(superuser_url, station.id) == (1500, 1500, 1500)


@pytest.mark.parametrize("how", ["server killed", "connection killed"])
def test_killed_mid_push_then_sync_loses_and_duplicates_nothing(private_pg, stations, how):
    superuser = private_pg.create_database(f"kill_{how.split()[0]}")
    assert stations("admin").cli("store", "init", superuser).returncode == 0
    a = enrolled(stations("bench"), superuser)
    fill(a, 1000)
    target = login_of(a)

    def kill(stored_now: int) -> None:
        if stored_now != 300:
            return
        if how == "server killed":
            private_pg.kill()
        else:
            with psycopg.connect(superuser, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                             (target.values["user"],))

    try:
        with pytest.raises(StoreError) as raised:
            push_pending(a.log, target, part_records=300, after_part=kill)
        assert raised.value.code == "STORE_UNREACHABLE"
        state = queue_state(a.log, target.display)
        assert state.failing_since is not None and state.waiting == 700  # the first part was noted
        assert "records waiting: server unreachable since" in state.summary()
    finally:
        private_pg.start()  # both cases: a killed server must come back for the sync (no-op if up)
    assert stored(superuser, a.id) == (300, 300, 300)  # the part committed before the kill stays
    done = a.cli("store", "sync", check=True)
    assert "pushed 700 records" in done.stdout  # the rest, from where the server says it is
    assert stored(superuser, a.id) == (1000, 1000, 1000)
    assert queue_state(a.log, target.display).summary().startswith("all 1000 records pushed")


def test_a_part_sent_twice_is_stored_once(superuser_url, stations):
    """A push whose answer was lost is sent again whole: the overlap is checked and skipped."""
    a = enrolled(stations("bench"), superuser_url)
    fill(a, 40)
    target = login_of(a)
    push_pending(a.log, target)
    with SqliteStore(a.log) as store, psycopg.connect(target.conninfo(60_000), autocommit=True) as conn:
        checkpoint = store.latest_checkpoint()
        row = conn.execute("INSERT INTO attest.pushes (station, first_index, records, right_nodes, checkpoint) "
                           "VALUES (%s, 10, %s, %s, %s) RETURNING outcome, accepted, head",
                           (a.id, [r.data for r in store.records(10, 40)], [],
                            json.dumps(checkpoint.envelope()))).fetchone()
    assert row == ("accepted", 0, 40)
    assert stored(superuser_url, a.id) == (40, 40, 40)


@pytest.mark.parametrize("claims", ["its own id", "the enrolled station's id"])
def test_an_unenrolled_station_pushing_with_a_copied_login_is_refused_and_reported(superuser_url, stations, claims):
    a = enrolled(stations("bench"), superuser_url)
    # Never enrolled: its key is not the one behind the login it copied, whatever id it claims.
    thief = stations("rogue", station_id=None if claims == "its own id" else a.id)
    fill(thief, 20)
    (thief.home / "station" / "store.json").write_text((a.home / "station" / "store.json").read_text())
    refused = thief.cli("store", "sync")
    assert refused.returncode == 4
    code = "STORE_NOT_ENROLLED" if claims == "its own id" else "STORE_KEY_NOT_ENROLLED"
    assert code in refused.stderr and a.id in refused.stderr
    assert stored(superuser_url, thief.id) == (0, 0, 0)
    report = json.loads(a.cli("store", "report", "--json", check=True).stdout)
    assert any(r["code"] == code and r["role"] == login_of(a).values["user"] for r in report["refused_pushes"])
    assert "Refused pushes" in a.cli("store", "report", check=True).stdout


def test_a_role_with_no_enrolled_station_is_refused(superuser_url, stations):
    rogue = stations("rogue")
    fill(rogue, 5)
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS rogue_role")
        conn.execute("CREATE ROLE rogue_role LOGIN PASSWORD 'rogue-pass' IN ROLE attest_station")
    target = with_login(parse_target(station_url(superuser_url)), "rogue_role", "rogue-pass")
    with pytest.raises(StoreError) as raised:
        push_pending(rogue.log, target)
    assert raised.value.code == "STORE_NOT_ENROLLED"
    assert stored(superuser_url, rogue.id) == (0, 0, 0)


def test_stations_can_neither_change_records_nor_push_as_another_role(superuser_url, stations):
    a = enrolled(stations("bench"), superuser_url)
    fill(a, 3)
    push_pending(a.log, login_of(a))
    with psycopg.connect(login_of(a).conninfo(60_000), autocommit=True) as conn:
        for statement in ("UPDATE attest.records SET verdict = 'TRUSTED'", "DELETE FROM attest.records",
                          "TRUNCATE attest.records",
                          "INSERT INTO attest.pushes (role, first_index, checkpoint) VALUES ('postgres', 0, '{}')",
                          "INSERT INTO attest.records (station, idx, leaf_hash, data, push_id, time) "
                          "VALUES ('x', 0, '', '', 0, now())"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with psycopg.connect(superuser_url, autocommit=True) as conn, \
            pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):  # the superuser meets the trigger
        conn.execute("DELETE FROM attest.records WHERE station = %s", (a.id,))
    assert stored(superuser_url, a.id) == (3, 3, 3)


def test_tls_verify_full_against_the_servers_certificate(private_pg, stations, tmp_path):
    superuser = private_pg.create_database("tls")
    assert stations("admin").cli("store", "init", superuser).returncode == 0
    a = enrolled(stations("bench"), superuser)
    fill(a, 2)
    user, password = (login_of(a).values[k] for k in ("user", "password"))

    def over_tls(ca: Path) -> StoreTarget:
        url = station_url(superuser).replace("sslmode=disable", "sslmode=verify-full")
        return with_login(parse_target(f"{url}&sslrootcert={ca}"), user, password)

    assert push_pending(a.log, over_tls(private_pg.ca_file)).sent == 2
    with psycopg.connect(over_tls(private_pg.ca_file).conninfo(60_000)) as conn:
        assert conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0] is True
    other = tmp_path / "other-ca"
    other.mkdir()
    with pytest.raises(StoreError) as raised:  # a server whose certificate another CA signed is not ours
        push_pending(a.log, over_tls(write_tls(other)))
    assert raised.value.code == "STORE_UNREACHABLE" and "SSL error" in raised.value.message


def test_malformed_pushes_are_refused_never_an_error(superuser_url, stations):
    a = enrolled(stations("bench"), superuser_url)
    fill(a, 2)
    with SqliteStore(a.log) as store, psycopg.connect(login_of(a).conninfo(60_000), autocommit=True) as conn:
        envelope = json.dumps(store.latest_checkpoint().envelope())
        good = [r.data for r in store.records(0, 2)]
        for records, checkpoint, code in (([good[0], None], envelope, "STORE_RECORD_MALFORMED"),
                                          ([b"not json", good[1]], envelope, "STORE_RECORD_MALFORMED"),
                                          ([good[1], good[0]], envelope, "STORE_CHAIN_BROKEN"),
                                          (good, "{}", "STORE_CHECKPOINT_INVALID")):
            row = conn.execute("INSERT INTO attest.pushes (station, first_index, records, right_nodes, checkpoint) "
                               "VALUES (%s, 0, %s, %s, %s) RETURNING outcome, code", (a.id, records, [], checkpoint),
                               binary=True).fetchone()
            assert row == ("refused", code)
    assert stored(superuser_url, a.id) == (0, 0, 0)

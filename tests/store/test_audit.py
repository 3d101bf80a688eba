"""`attest store verify` against a real server whose superuser edited records (trigger disabled
first), `attest store report`, and the bundle spanning stations that `attest log verify` checks
part by part against each station's own key."""

from __future__ import annotations

import json

import psycopg
import pytest

from attest.store.push import push_pending
from tests.store.conftest import Station, station_url
from tests.store.test_push import enrolled, fill, login_of

pytestmark = pytest.mark.real


def pushed_station(superuser: str, stations, name: str, count: int, start: int = 0) -> Station:
    station = enrolled(stations(name), superuser)
    fill(station, count, start=start, batch=10)
    push_pending(station.log, login_of(station))
    return station


def superuser_edit(superuser: str, statement: str, *args: object) -> None:
    with psycopg.connect(superuser, autocommit=True) as conn:
        conn.execute("ALTER TABLE attest.records DISABLE TRIGGER records_append_only")
        try:
            conn.execute(statement, args)
        finally:
            conn.execute("ALTER TABLE attest.records ENABLE TRIGGER records_append_only")


def test_store_verify_holds_for_honest_stations(superuser_url, stations):
    a = pushed_station(superuser_url, stations, "bench", 30)
    done = a.cli("store", "verify", "--json")
    assert done.returncode in (0, 4), done.stderr
    mine = next(s for s in json.loads(done.stdout)["stations"] if s["station"] == a.id)
    assert mine["records"] == 30 and mine["checkpoints_checked"] == 1 and mine["findings"] == []


@pytest.mark.parametrize("hash_too", [False, True], ids=["bytes edited", "bytes and hash edited"])
def test_a_record_edited_by_the_superuser_is_caught_naming_station_record_and_kind(superuser_url, stations,
                                                                                     hash_too):
    a = pushed_station(superuser_url, stations, "bench", 30)
    # Record 3 is UNTRUSTED (a swapped hashboard); the edit makes it read TRUSTED, column and bytes.
    set_hash = ", leaf_hash = sha256('\\x00'::bytea || convert_to(replace(convert_from(data, 'UTF8'), " \
        "'\"verdict\":\"UNTRUSTED\"', '\"verdict\":\"TRUSTED\"'), 'UTF8'))" if hash_too else ""
    superuser_edit(superuser_url, "UPDATE attest.records SET data = convert_to(replace(convert_from(data, 'UTF8'), "
                   "'\"verdict\":\"UNTRUSTED\"', '\"verdict\":\"TRUSTED\"'), 'UTF8'), verdict = 'TRUSTED'"
                   f"{set_hash} WHERE station = %s AND idx = 3", a.id)
    done = a.cli("store", "verify")
    assert done.returncode == 4
    assert f"TAMPERED: station {a.id}" in done.stdout
    expected = "LOG_RECORD_EDITED" if not hash_too else "LOG_ROOT_MISMATCH"
    line = next(line for line in done.stderr.splitlines() if expected in line and f"station {a.id} " in line)
    assert f"station {a.id} record 3" in line, done.stderr


def test_a_station_key_replaced_in_the_database_is_caught_when_keys_are_pinned(superuser_url, stations, tmp_path):
    a = pushed_station(superuser_url, stations, "bench", 3)
    impostor = stations("impostor")
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE attest.stations DISABLE TRIGGER stations_append_only")
        try:
            conn.execute("UPDATE attest.stations SET fingerprint = %s WHERE station = %s",
                         (impostor.signer.identity.fingerprint, a.id))
        finally:
            conn.execute("ALTER TABLE attest.stations ENABLE TRIGGER stations_append_only")
    done = a.cli("store", "verify", "--station-key", a.signer.identity.fingerprint)
    assert done.returncode == 4
    assert f"LOG_SIGNED_BY_OTHER_KEY: station {a.id}: station {a.id} is enrolled with key" in done.stderr


def test_records_removed_by_the_superuser_are_caught(superuser_url, stations):
    a = pushed_station(superuser_url, stations, "bench", 20)
    superuser_edit(superuser_url, "DELETE FROM attest.records WHERE station = %s AND idx >= 18", a.id)
    done = a.cli("store", "verify")
    assert done.returncode == 4
    assert "LOG_TRUNCATED" in done.stderr and "records 18..19 were removed" in done.stderr


def test_report_counts_each_stations_records_and_verdicts(superuser_url, stations):
    a = pushed_station(superuser_url, stations, "bench", 22)
    b = pushed_station(superuser_url, stations, "dock", 8)
    report = json.loads(a.cli("store", "report", "--json", check=True).stdout)
    by_id = {s["id"]: s for s in report["stations"]}
    # synthetic rigs: every 7th untrusted (n % 7 == 3), every 11th unknown (n % 11 == 5)
    assert by_id[a.id]["records"] == 22 and by_id[a.id]["verdicts"] == {"TRUSTED": 17, "UNTRUSTED": 3,
                                                                          "UNKNOWN": 2}
    assert by_id[b.id]["records"] == 8 and by_id[b.id]["verdicts"] == {"TRUSTED": 6, "UNTRUSTED": 1, "UNKNOWN": 1}
    serials = {u["serial"] for u in report["multi_station_units"] if set(u["stations"]) >= {a.id, b.id}}
    assert len(serials) >= 6  # both stations checked rigs 0..7 (unreachable ones have no serial)
    text = a.cli("store", "report", "--since", "2026-11-02", check=True).stdout
    assert a.id in text and "Units seen at more than one station" in text


def test_a_bundle_spanning_stations_verifies_each_part_against_its_own_key(superuser_url, stations, tmp_path):
    # Rigs 700000.. are checked at these two stations only (the database is the session's).
    a = pushed_station(superuser_url, stations, "bench", 12, start=700_000)
    b = pushed_station(superuser_url, stations, "dock", 9, start=700_000)
    bundle = tmp_path / "warehouse.attestlog.jsonl"
    serial = "SN-S21-0700004"
    done = a.cli("log", "export", "--store", station_url(superuser_url), "--serial", serial, "-o", str(bundle))
    assert done.returncode == 0, done.stderr
    keys = []
    for station in (a, b):
        key = tmp_path / f"{station.id}.pem"
        key.write_text(station.signer.identity.public_pem)
        keys += ["--station-key", str(key)]
    ok = a.cli("log", "verify", str(bundle), *keys, "--json")
    assert ok.returncode == 0, ok.stderr
    parts = json.loads(ok.stdout)["parts"]
    mine = {p["station"]: p for p in parts}
    assert mine[a.id]["records_shown"] == 1 and mine[a.id]["tree_size"] == 12 and mine[a.id]["key_pinned"]
    assert mine[b.id]["records_shown"] == 1 and mine[b.id]["tree_size"] == 9
    only_a = a.cli("log", "verify", str(bundle), keys[0], keys[1])  # b's part is not signed by a's key
    assert only_a.returncode == 4 and f"station {b.id}: the bundle is signed by key" in only_a.stderr
    lines = bundle.read_text().splitlines()
    edited = [line.replace('"verdict":"TRUSTED"', '"verdict":"UNTRUSTED"') if serial in line else line
              for line in lines]
    bundle.write_text("\n".join(edited) + "\n")
    tampered = a.cli("log", "verify", str(bundle), *keys)
    assert tampered.returncode == 4 and "LOG_RECORD_EDITED" in tampered.stderr


def test_a_bundle_cut_after_one_station_is_truncated(superuser_url, stations, tmp_path):
    a = pushed_station(superuser_url, stations, "bench", 3)
    pushed_station(superuser_url, stations, "dock", 3)
    bundle = tmp_path / "all.attestlog.jsonl"
    a.cli("log", "export", "--store", login_of(a).url(), "-o", str(bundle), check=True)
    lines = bundle.read_text().splitlines(keepends=True)
    first_end = next(i for i, line in enumerate(lines) if line.startswith('{"checkpoint"'))
    bundle.write_text("".join(lines[: first_end + 1]))
    cut = a.cli("log", "verify", str(bundle))
    assert cut.returncode == 4 and "LOG_TRUNCATED" in cut.stderr and "station parts" in cut.stderr

"""Appraisal against earlier checks of the same serial: parts that changed, a host key that
changed, a serial at two stations within the hour, and plain history that is no finding."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from attest.appraise import appraise
from attest.evidence import Assurance, Claim
from attest.fleet import prior_checks
from attest.history import HistoryUnavailable, PriorChecks, Sighting, sighting_from_record
from attest.manifest import canonical_json, parse_payload
from attest.sim.runner import manifest_payload, plan_fleet
from attest.verdict import Verdict
from tests.test_appraise import POLICY, codes, evidence_for, rig_named

NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def fleet():
    return plan_fleet(13, "mixed", "127.0.9.1")


@pytest.fixture(scope="module")
def manifest(fleet):
    return parse_payload(canonical_json(manifest_payload(fleet, sequence=7, now=datetime.now(UTC))))


def sighting_of(rig, *, station="bench-1", when=NOW - timedelta(days=8), **changes):
    base = Sighting(station=station, time=when.isoformat().replace("+00:00", "Z"), record=f"{station} #7",
                    batch="earlier", address=rig.host, serial=rig.serial, mac=rig.mac.lower(),
                    control_board=rig.control_board_serial,
                    hashboards=tuple(hb.serial for hb in rig.hashboards), psu=None, verdict="TRUSTED")
    return replace(base, **changes)


def judged(fleet, manifest, *sightings, unavailable=(), claims=()):
    rig = rig_named(fleet, "genuine")
    ev = evidence_for(rig)
    if claims:
        ev = replace(ev, claims=ev.claims + tuple(claims))
    prior = PriorChecks(tuple(sightings), ("station log",), tuple(unavailable))
    return appraise(ev, [manifest], POLICY, prior=prior, station="bench-1", now=NOW)


def test_same_identity_again_is_history_not_a_finding(fleet, manifest):
    rig = rig_named(fleet, "genuine")
    a = judged(fleet, manifest, sighting_of(rig), sighting_of(rig, when=NOW - timedelta(days=2)))
    assert a.verdict is Verdict.TRUSTED, codes(a)
    seen = next(r for r in a.reasons if r.code == "IDENTITY_SEEN_BEFORE")
    assert "checked 2 times" in seen.detail and "first 2026-11-25" in seen.detail


def test_changed_mac_since_an_earlier_check_is_untrusted_naming_it(fleet, manifest):
    rig = rig_named(fleet, "genuine")
    a = judged(fleet, manifest, sighting_of(rig, mac="02:00:00:00:00:99", station="bench-2"))
    assert a.verdict is Verdict.UNTRUSTED
    changed = next(r for r in a.reasons if r.code == "IDENTITY_CHANGED_SINCE")
    assert "2026-11-25" in changed.detail and "bench-2" in changed.detail
    assert "MAC was 02:00:00:00:00:99" in changed.detail
    assert "IDENTITY_SEEN_BEFORE" not in codes(a)


@pytest.mark.parametrize("change", ["control_board", "hashboards", "psu"])
def test_each_changed_part_is_named(fleet, manifest, change):
    rig = rig_named(fleet, "genuine")
    ev_psu = [Claim("psu.serial", "PSU-NOW", "api", Assurance.REPORTED)]
    value = {"control_board": "CB-OLD", "hashboards": ("HB-A", "HB-B", "HB-C"), "psu": "PSU-OLD"}[change]
    a = judged(fleet, manifest, sighting_of(rig, **{change: value}), claims=ev_psu)
    assert a.verdict is Verdict.UNTRUSTED, codes(a)
    detail = next(r for r in a.reasons if r.code == "IDENTITY_CHANGED_SINCE").detail
    assert {"control_board": "control board was CB-OLD", "hashboards": "hashboards was HB-A, HB-B, HB-C",
            "psu": "PSU was PSU-OLD"}[change] in detail


def test_a_part_not_read_then_is_no_change(fleet, manifest):
    rig = rig_named(fleet, "genuine")
    a = judged(fleet, manifest, sighting_of(rig, control_board=None, hashboards=()))
    assert a.verdict is Verdict.TRUSTED, codes(a)


def test_same_serial_at_another_station_within_the_hour_is_a_clone(fleet, manifest):
    rig = rig_named(fleet, "genuine")
    a = judged(fleet, manifest, sighting_of(rig, station="bench-9", when=NOW - timedelta(minutes=20)))
    assert a.verdict is Verdict.UNTRUSTED
    assert "bench-9" in next(r for r in a.reasons if r.code == "SERIAL_CLONED").detail
    later = judged(fleet, manifest, sighting_of(rig, station="bench-9", when=NOW - timedelta(hours=3)))
    assert later.verdict is Verdict.TRUSTED, codes(later)


def test_changed_host_key_is_a_warning(fleet, manifest):
    rig = rig_named(fleet, "genuine")
    key = [Claim("ssh.host_key", "SHA256:new", "ssh", Assurance.REPORTED)]
    a = judged(fleet, manifest, sighting_of(rig, ssh_host_key="SHA256:old"), claims=key)
    assert a.verdict is Verdict.WARNING
    r = next(r for r in a.reasons if r.code == "SSH_HOST_KEY_CHANGED")
    assert (r.expected, r.found) == ("SHA256:old", "SHA256:new")


def test_unreadable_history_is_said_and_changes_nothing_else(fleet, manifest):
    a = judged(fleet, manifest, unavailable=("warehouse store: connection refused",))
    assert a.verdict is Verdict.TRUSTED
    assert "HISTORY_UNAVAILABLE" in codes(a)


def test_sighting_from_a_log_record():
    record = {"serial": "S1", "station": "bench-1", "time": "2026-11-25T10:00:00.000Z", "batch": "b1",
              "address": "10.0.0.5", "verdict": "TRUSTED",
              "claims": {"net.mac": {"value": "02:AA:00:00:00:01"}, "hashboard.1.serial": {"value": "HB1"},
                         "hashboard.0.serial": {"value": "HB0"}, "ssh.host_key": {"value": "SHA256:k"},
                         "hashboard.x.serial": {"value": "odd"}}}
    s = sighting_from_record(record, reference="bench-1 #3")
    assert s is not None and s.hashboards == ("HB0", "HB1") and s.ssh_host_key == "SHA256:k"
    assert sighting_from_record({"serial": None, "claims": {}}, reference="x") is None


class _History:
    def __init__(self, name, found=(), fail=None):
        self.name, self._found, self._fail = name, found, fail

    async def sightings(self, serial):
        if self._fail:
            raise HistoryUnavailable(self._fail)
        return [s for s in self._found if s.serial == serial]


async def _prior(histories, serial, batch):
    return await prior_checks(histories, serial, batch=batch)


def test_prior_checks_leave_out_this_runs_own_records_and_say_what_failed(fleet):
    rig = rig_named(fleet, "genuine")
    mine, theirs = sighting_of(rig, batch="this-run"), sighting_of(rig, batch="earlier")
    prior = asyncio.run(_prior([_History("station log", [mine, theirs]), _History("warehouse store", fail="down")],
                               rig.serial, "this-run"))
    assert prior.sightings == (theirs,)
    assert prior.consulted == ("station log",) and prior.unavailable == ("warehouse store: down",)
    assert asyncio.run(_prior([], rig.serial, "x")) is None


def test_a_slot_number_in_unicode_digits_is_not_a_slot():
    """'٣'.isdecimal() is True and int('٣') is 3: an Arabic-Indic digit in a recorded claim name
    read as hashboard slot 3 of the earlier check."""
    record = {"serial": "S1", "claims": {"hashboard.0.serial": {"value": "HB0"},
                                         "hashboard.\u0663.serial": {"value": "planted"}}}
    s = sighting_from_record(record, reference="bench-1 #4")
    assert s is not None and s.hashboards == ("HB0",)

"""What the watch saw, judged: claims built by the watch itself from hand-made observations, then
appraised with a simulated rig's other evidence against the demo station policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from attest.appraise import appraise
from attest.egress import ALLOWED, INDICATOR, NOT_JUDGED, UNLISTED, EgressItem, judge
from attest.evidence import Evidence
from attest.indicators import IndicatorError, parse_indicators
from attest.manifest import canonical_json, parse_payload
from attest.policy import PolicyError, load_policy, policy_from_dict
from attest.sim.egress import NTP_HOST, PHONE_HOME_HOST
from attest.sim.runner import POLICY_TOML, manifest_payload, plan_fleet, scenario_names
from attest.verdict import Status, Verdict
from attest.watch.claims import source_claims
from attest.watch.observations import Connection, Lookup, SourceRecord, Tally
from tests.test_appraise import evidence_for, rig_named

T = 1_800_000_000.0


@pytest.fixture(scope="module")
def fleet():
    return plan_fleet(len(scenario_names("mixed")), "mixed", "127.0.9.1")


@pytest.fixture(scope="module")
def manifest(fleet):
    return parse_payload(canonical_json(manifest_payload(fleet, sequence=7, now=datetime.now(UTC))))


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    path = tmp_path_factory.mktemp("policy") / "policy.toml"
    path.write_text(POLICY_TOML)
    return load_policy(path)


def record(address: str, lookups=(), connections=(), mac: str | None = None) -> SourceRecord:
    r = SourceRecord(address)
    for name, qtype, count in lookups:
        r.lookups[(name, qtype, mac)] = (Lookup(T, address, mac, name, qtype), Tally(T, T, count))
    for port, outcome, sni, data, checkins in connections:
        c = Connection(T, address, mac, port, outcome, sni, len(data), data, checkins)
        r.connections[(port, sni, outcome, checkins, mac)] = (c, Tally(T, T, 1))
    return r


def watched(ev: Evidence, rec: SourceRecord | None) -> Evidence:
    claims = source_claims(rec, watched="DNS on 10.0.4.1:53, TCP 7000", seconds=30, started=T, blind_ports={},
                           dns_source="watch://10.0.4.1:53 dns", tcp_source="watch://10.0.4.1:{port} tcp")
    return replace(ev, claims=ev.claims + tuple(claims))


GENUINE = [("pool.example-mining.net", "A", 3), (NTP_HOST, "A", 2)]
STRATUM = (3333, "plain", None, b'{"id": 1, "method": "mining.subscribe", "params": ["bmminer/2.0.0"]}\n', ())


def codes(a):
    return [r.code for r in a.reasons]


def test_a_genuine_rig_reaching_its_pool_and_ntp_is_unchanged_and_affirmed(fleet, manifest, policy):
    rig = rig_named(fleet, "genuine")
    a = appraise(watched(evidence_for(rig), record(rig.host, GENUINE, [STRATUM])), [manifest], policy)
    assert a.verdict is Verdict.TRUSTED, codes(a)
    assert "EGRESS_ALLOWED" in codes(a) and a.top_reason.code == "FIRMWARE_SIGNED_RELEASE"


def test_antbleed_checking_in_is_untrusted_naming_its_host_even_without_the_binary_string(fleet, manifest, policy):
    rig = rig_named(fleet, "antbleed")
    ev = evidence_for(rig)
    clean = replace(ev, claims=tuple(c for c in ev.claims if not c.name.startswith("indicator.")))
    checkin = (7000, "plain", None, b'{"ctrl_board":"02:A7:00:00:00:05","id":"1","hashboard":[]}', ("antbleed",))
    seen = record(rig.host, [*GENUINE, ("auth.minerlink.com", "A", 1)], [STRATUM, checkin])
    assert appraise(clean, [manifest], policy).verdict is Verdict.TRUSTED  # the binary scan alone misses it
    a = appraise(watched(clean, seen), [manifest], policy)
    assert a.verdict is Verdict.UNTRUSTED
    [hit] = [r for r in a.reasons if r.code == "EGRESS_INDICATOR"]
    assert (hit.category, hit.status, hit.found) == ("firmware", Status.CONTRAINDICATED, "auth.minerlink.com")
    assert "looked up auth.minerlink.com" in hit.detail and "check-in to port 7000" in hit.detail
    assert "EGRESS_UNLISTED" not in codes(a)  # what an indicator names is not also "unlisted"


def test_phone_home_is_a_warning_naming_its_tls_server_name(fleet, manifest, policy):
    rig = rig_named(fleet, "phone-home")
    tls = (443, "tls", PHONE_HOME_HOST, b"\x16\x03\x01", ())
    a = appraise(watched(evidence_for(rig), record(rig.host, [*GENUINE, (PHONE_HOME_HOST, "A", 2)], [STRATUM, tls])),
                 [manifest], policy)
    assert a.verdict is Verdict.WARNING and a.top_reason.code == "EGRESS_UNLISTED"
    [r] = [r for r in a.reasons if r.code == "EGRESS_UNLISTED"]
    assert r.found == f"{PHONE_HOME_HOST}:443" and f"naming {PHONE_HOME_HOST}" in r.detail


def test_a_rig_that_tried_nothing_is_noted_not_praised(fleet, manifest, policy):
    rig = rig_named(fleet, "genuine")
    a = appraise(watched(evidence_for(rig), None), [manifest], policy)
    [note] = [r for r in a.reasons if r.code == "EGRESS_NOT_SEEN"]
    assert note.status is Status.NONE and "0 lookup(s)" in note.detail
    assert "EGRESS_ALLOWED" not in codes(a) and a.verdict is Verdict.TRUSTED
    assert a.top_reason.code == "FIRMWARE_SIGNED_RELEASE"


def test_without_an_egress_table_only_indicators_are_judged(fleet, manifest):
    rig = rig_named(fleet, "phone-home")
    bare = policy_from_dict({"pools": {"allow": ["stratum+tcp://pool.example-mining.net:3333"]}})
    a = appraise(watched(evidence_for(rig), record(rig.host, [(PHONE_HOME_HOST, "A", 1)])), [manifest], bare)
    assert "EGRESS_NOT_CHECKED" in codes(a) and a.verdict is Verdict.TRUSTED


def test_no_watch_no_egress_reasons(fleet, manifest, policy):
    a = appraise(evidence_for(rig_named(fleet, "phone-home")), [manifest], policy)
    assert not [c for c in codes(a) if c.startswith("EGRESS")] and a.verdict is Verdict.TRUSTED


def test_a_mac_on_the_wire_that_is_not_the_rigs_is_said(fleet, manifest, policy):
    rig = rig_named(fleet, "genuine")
    a = appraise(watched(evidence_for(rig), record(rig.host, GENUINE, mac="0a:0b:0c:0d:0e:0f")), [manifest], policy)
    [r] = [r for r in a.reasons if r.code == "CLAIMS_DISAGREE"]
    assert "0a:0b:0c:0d:0e:0f seen on the wire" in r.detail and a.verdict is Verdict.WARNING
    same = appraise(watched(evidence_for(rig), record(rig.host, GENUINE, mac=rig.mac.lower())), [manifest], policy)
    assert "CLAIMS_DISAGREE" not in codes(same)


def test_judging_rules(policy):
    def j(**kw):
        return judge(EgressItem(**kw), policy)

    assert j(kind="lookup", index=0, name="0.pool.ntp.org", qtype="A").status == ALLOWED
    assert j(kind="lookup", index=0, name="AUTH.minerlink.com.", qtype="A").status == INDICATOR
    assert j(kind="lookup", index=0, name="x.auth.minerlink.com", qtype="A").indicator == "antbleed"
    assert j(kind="lookup", index=0, name="4.3.2.1.in-addr.arpa", qtype="PTR").status == ALLOWED
    vendor = j(kind="lookup", index=0, name="firmware.demo-mining.example", qtype="A")
    assert vendor.status == UNLISTED and "vendor's update host" in vendor.why
    assert j(kind="connection", index=0, port=3333, outcome="plain").status == ALLOWED  # the pool's port
    assert j(kind="connection", index=0, port=7000, outcome="plain").status == UNLISTED  # a port alone: no indicator
    assert j(kind="connection", index=0, port=443, outcome="tls", name="pool.example-mining.net").status == UNLISTED
    assert j(kind="connection", index=0, port=3333, outcome="tls", name="pool.example-mining.net").status == ALLOWED
    assert judge(EgressItem("lookup", 0, name="x.example"), policy_from_dict({})).status == NOT_JUDGED
    allowed = policy_from_dict({"egress": {"vendor_update_hosts": ["fw.example"], "allow_vendor_updates": True}})
    assert judge(EgressItem("lookup", 0, name="fw.example"), allowed).status == ALLOWED


@pytest.mark.parametrize("egress, message", [
    ({"watch_ports": [0]}, "watch_ports"),
    ({"watch_ports": []}, "watch_ports"),
    ({"watch_ports": [True]}, "watch_ports"),
    ({"allow": "x.example"}, "egress.allow"),
    ({"allow_vendor_updates": "yes"}, "allow_vendor_updates"),
    ({"forward": True}, "unknown [egress]"),
])
def test_bad_egress_settings_are_refused_by_name(egress, message):
    with pytest.raises(PolicyError, match=message.replace("[", r"\[")):
        policy_from_dict({"egress": egress})


def test_network_indicators_are_validated():
    base = '{"id": "x1", "patterns": [], "description": "d", "reference": "r", "network": %s}'
    ok = parse_indicators(("[" + base % '{"hosts": ["c2.example.net"], "ports": [9999]}' + "]").encode())
    assert ok[0].network.hosts == ("c2.example.net",) and ok[0].network.ports == (9999,)
    for bad in ('{"ports": [7000]}', '{"hosts": ["Bad Host"]}', '{"hosts": ["*"]}', '{"checkins": ["ab"]}',
                '{"hosts": ["a.example"], "ports": [70000]}', '{"hosts": ["a.example"], "extra": 1}', '[]'):
        with pytest.raises(IndicatorError):
            parse_indicators(("[" + base % bad + "]").encode())
    with pytest.raises(IndicatorError):  # no binary patterns and no network side: matches nothing
        parse_indicators(b'[{"id": "x1", "patterns": [], "description": "d", "reference": "r"}]')

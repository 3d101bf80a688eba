"""Appraisal rules on hand-built evidence: each scenario's verdict and the reason it names."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from attest.appraise import appraise, appraise_batch
from attest.evidence import Assurance, Claim, Evidence, Problem
from attest.manifest import canonical_json, parse_payload
from attest.policy import Policy, policy_from_dict
from attest.sim.runner import manifest_payload, plan_fleet
from attest.sim.scenarios import ALLOWED_POOL
from attest.verdict import Status, Verdict

POLICY = policy_from_dict({"pools": {"allow": [ALLOWED_POOL]}})


@pytest.fixture(scope="module")
def fleet():
    return plan_fleet(13, "mixed", "127.0.9.1")


@pytest.fixture(scope="module")
def manifest(fleet):
    payload = manifest_payload(fleet, sequence=7, now=datetime.now(UTC))
    return parse_payload(canonical_json(payload))


def rig_named(fleet, scenario):
    return next(r for r in fleet if r.scenario == scenario)


def evidence_for(rig, *, ssh=True):
    """The claims the API, web and SSH drivers would report for this simulated rig."""
    r, m = Assurance.REPORTED, Assurance.MEASURED
    claims = [
        Claim("unit.model", rig.model, "api", r),
        Claim("unit.serial", rig.serial, "web", r),
        Claim("net.mac", rig.mac, "web", r),
        Claim("firmware.version", rig.firmware_version, "api", r),
        Claim("firmware.build", rig.firmware_build, "api", r),
    ]
    for hb in rig.hashboards:
        claims += [Claim(f"hashboard.{hb.slot}.serial", hb.serial, "web", r),
                   Claim(f"hashboard.{hb.slot}.chips", hb.chips, "api", r)]
    claims += [Claim(f"config.pool.{i}.url", p.url, "api", r) for i, p in enumerate(rig.pools)]
    if ssh:
        claims += [Claim(f"firmware.image.{name}.sha256", "sha256:" + hashlib.sha256(data).hexdigest(), "ssh", m)
                   for name, data in rig.images.items()]
        claims += [Claim("net.mac", rig.mac.lower(), "ssh", m),
                   Claim("control_board.serial", rig.control_board_serial, "ssh", m)]
        if b"auth.minerlink.com" in rig.miner_binary:
            claims.append(Claim("indicator.antbleed", "auth.minerlink.com in /usr/bin/bmminer", "ssh", m))
    return Evidence(rig.host, tuple(claims))


def codes(appraisal):
    return [r.code for r in appraisal.reasons]


def test_genuine_rig_measured_over_ssh_is_trusted(fleet, manifest):
    a = appraise(evidence_for(rig_named(fleet, "genuine")), [manifest], POLICY)
    assert a.verdict is Verdict.TRUSTED, codes(a)
    assert all(a.categories[c] is Status.AFFIRMING for c in ("identity", "hardware", "firmware", "provenance"))
    assert a.top_reason.code == "FIRMWARE_SIGNED_RELEASE"


def test_modified_rootfs_is_untrusted_and_names_the_image(fleet, manifest):
    a = appraise(evidence_for(rig_named(fleet, "modified-firmware")), [manifest], POLICY)
    assert a.verdict is Verdict.UNTRUSTED
    bad = [r for r in a.reasons if r.code == "FIRMWARE_DIGEST_UNKNOWN"]
    assert [r.detail for r in bad] == ["image rootfs"]
    assert bad[0].expected and bad[0].found and bad[0].expected != bad[0].found


def test_revoked_release_is_untrusted_with_the_revocation_reason(fleet, manifest):
    a = appraise(evidence_for(rig_named(fleet, "revoked-firmware")), [manifest], POLICY)
    assert a.verdict is Verdict.UNTRUSTED
    assert "FIRMWARE_REVOKED" in codes(a) and "FIRMWARE_DIGEST_UNKNOWN" not in codes(a)
    assert any("Antbleed" in r.detail for r in a.reasons if r.code == "FIRMWARE_REVOKED")


def test_swapped_hashboard_is_untrusted_with_slot_named(fleet, manifest):
    rig = rig_named(fleet, "swapped-hashboard")
    a = appraise(evidence_for(rig), [manifest], POLICY)
    assert a.verdict is Verdict.UNTRUSTED
    (r,) = [r for r in a.reasons if r.code == "HASHBOARD_SERIAL_MISMATCH"]
    assert r.detail == "slot 1" and r.found == rig.hashboards[1].serial and r.expected == rig.as_built.hashboards[1][1]


def test_replaced_control_board_names_board_and_mac(fleet, manifest):
    a = appraise(evidence_for(rig_named(fleet, "replaced-control-board")), [manifest], POLICY)
    assert a.verdict is Verdict.UNTRUSTED
    assert {"CONTROL_BOARD_SERIAL_MISMATCH", "MAC_MISMATCH"} <= set(codes(a))


def test_backdoor_indicator_is_untrusted_even_on_signed_firmware(fleet, manifest):
    a = appraise(evidence_for(rig_named(fleet, "antbleed")), [manifest], POLICY)
    assert a.verdict is Verdict.UNTRUSTED
    assert "BACKDOOR_INDICATOR" in codes(a)
    assert a.top_reason.code == "BACKDOOR_INDICATOR"


def test_pool_outside_allow_list_is_a_warning(fleet, manifest):
    a = appraise(evidence_for(rig_named(fleet, "pool-hijack")), [manifest], POLICY)
    assert a.verdict is Verdict.WARNING
    assert [r.found for r in a.reasons if r.code == "POOL_NOT_ALLOWED"] == ["stratum+tcp://198.51.100.66:4444"]


def test_firmware_only_reported_is_never_trusted(fleet, manifest):
    rig = rig_named(fleet, "api-only")
    ev = evidence_for(rig, ssh=False)
    ev = Evidence(ev.address, ev.claims, (Problem("UNREACHABLE", f"ssh://{rig.host}:22", "connection refused"),))
    a = appraise(ev, [manifest], POLICY)
    assert a.verdict is Verdict.WARNING
    assert "FIRMWARE_REPORTED_ONLY" in codes(a) and "UNREACHABLE" in codes(a)


def test_serial_absent_from_manifest_is_untrusted(fleet, manifest):
    a = appraise(evidence_for(rig_named(fleet, "not-in-manifest")), [manifest], POLICY)
    assert a.verdict is Verdict.UNTRUSTED and a.top_reason.code == "DEVICE_NOT_IN_MANIFEST"


def test_cloned_serial_flags_both_units(fleet, manifest):
    clone = rig_named(fleet, "cloned-serial")
    victim = next(r for r in fleet if r.name == clone.clone_of)
    genuine = rig_named(fleet, "genuine")
    results = appraise_batch([evidence_for(r) for r in (genuine, victim, clone)], [manifest], POLICY)
    by_host = {a.address: a for a in results}
    assert by_host[genuine.host].verdict is Verdict.TRUSTED
    for rig in (victim, clone):
        assert by_host[rig.host].verdict is Verdict.UNTRUSTED
        assert "SERIAL_CLONED" in codes(by_host[rig.host])
    # Alone, the clone would pass: only the batch view catches it.
    assert appraise(evidence_for(clone), [manifest], POLICY).verdict is Verdict.TRUSTED


def test_could_not_check_is_unknown_never_untrusted(manifest):
    ev = Evidence("10.0.0.9", (), (Problem("TIMEOUT", "api://10.0.0.9:4028", "no answer in 5 s"),
                                    Problem("MALFORMED_REPLY", "web://10.0.0.9:80", "not HTTP")))
    a = appraise(ev, [manifest], POLICY)
    assert a.verdict is Verdict.UNKNOWN
    assert {"TIMEOUT", "MALFORMED_REPLY", "IDENTITY_NOT_READ"} <= set(codes(a))
    assert a.top_reason.code in {"TIMEOUT", "MALFORMED_REPLY", "IDENTITY_NOT_READ"}


def test_no_manifest_is_unknown(fleet):
    a = appraise(evidence_for(rig_named(fleet, "genuine")), [], POLICY)
    assert a.verdict is Verdict.UNKNOWN and "NO_MANIFEST" in codes(a)


def test_without_pool_policy_configuration_is_not_judged_but_trusted(fleet, manifest):
    a = appraise(evidence_for(rig_named(fleet, "pool-hijack")), [manifest], Policy())
    assert a.verdict is Verdict.TRUSTED
    assert "CONFIGURATION_NOT_CHECKED" in codes(a)


def test_origin_policy_refuses_other_assembly_sites(fleet, manifest):
    policy = policy_from_dict({"origin": {"countries": ["DE"]}})
    a = appraise(evidence_for(rig_named(fleet, "genuine")), [manifest], policy)
    assert a.verdict is Verdict.UNTRUSTED and "ORIGIN_NOT_ALLOWED" in codes(a)


def test_interfaces_that_disagree_are_named(fleet, manifest):
    rig = rig_named(fleet, "genuine")
    ev = evidence_for(rig)
    ev = Evidence(ev.address, (*ev.claims, Claim("unit.serial", "OTHER", "api", Assurance.REPORTED)))
    a = appraise(ev, [manifest], POLICY)
    assert a.verdict is Verdict.WARNING
    assert any(r.code == "CLAIMS_DISAGREE" and "OTHER" in r.detail for r in a.reasons)


def test_json_line_has_the_contract_fields(fleet, manifest):
    doc = appraise(evidence_for(rig_named(fleet, "genuine")), [manifest], POLICY).to_json()
    assert {"address", "verdict", "reasons", "claims", "identity_sha256", "manifest"} <= set(doc)
    assert set(doc["manifest"]) >= {"issuer", "sequence"}
    assert set(doc["reasons"][0]) >= {"code", "category", "status", "message"}
    assert set(doc["claims"]["unit.serial"]) == {"value", "source", "assurance"}


def test_what_the_watch_saw_is_no_channel_that_answered_without_a_serial(fleet, manifest):
    """An unresponsive rig the network watch saw: its top reason is the channels that failed,
    never "the watch answered but carries no unit serial" (the watch is no channel of the rig)."""
    seen = Claim("egress.dns.0.name", "pool.example-mining.net", "dns://10.0.4.1:53", Assurance.OBSERVED)
    problems = (Problem("TIMEOUT", "api://10.0.4.9:4028", "no answer within 5 s"),
                Problem("TIMEOUT", "ssh://10.0.4.9:22", "no answer within 5 s"))
    a = appraise(Evidence("10.0.4.9", (seen,), problems), [manifest], POLICY)
    assert a.verdict is Verdict.UNKNOWN
    assert a.top_reason.code == "TIMEOUT", codes(a)
    missing = next(r for r in a.reasons if r.code == "IDENTITY_NOT_READ")
    assert "watch" not in missing.detail and "dns" not in missing.detail
    assert "API: " in missing.detail and "SSH: " in missing.detail

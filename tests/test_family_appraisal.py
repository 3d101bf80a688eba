"""Appraisal of what the families report: a unit found without a serial, and a top reason that
says what is missing instead of the first closed port."""

from __future__ import annotations

from datetime import UTC, datetime

from attest.appraise import appraise
from attest.evidence import Assurance, Claim, Evidence, Problem
from attest.manifest import canonical_json, parse_payload
from attest.policy import policy_from_dict
from attest.sim.runner import manifest_payload, plan_fleet
from attest.sim.scenarios import ALLOWED_POOL
from attest.verdict import Verdict

POLICY = policy_from_dict({"pools": {"allow": [ALLOWED_POOL]}})
R = Assurance.REPORTED


def _manifest(rigs):
    return parse_payload(canonical_json(manifest_payload(rigs, sequence=3, now=datetime.now(UTC))))


def test_an_avalon_is_found_by_its_mac_and_judged_on_what_it_reports():
    rigs = plan_fleet(20, "mixed", "127.0.9.1")
    avalon = next(r for r in rigs if r.scenario == "avalon")
    manifest = _manifest(rigs)
    api = "api://h:4028"
    ev = Evidence(avalon.host, (
        Claim("unit.model", avalon.model, f"{api} version", R),
        Claim("net.mac", avalon.mac.replace(":", "").lower(), f"{api} version", R),
        Claim("control_board.serial", avalon.control_board_serial, f"{api} version", R),
        Claim("firmware.version", avalon.firmware_version, f"{api} version", R),
        Claim("config.pool.0.url", ALLOWED_POOL, f"{api} pools", R),
    ))
    result = appraise(ev, [manifest], POLICY)
    reasons = {r.code: r for r in result.reasons}
    assert result.entry is not None and result.entry.serial == avalon.serial
    assert "by MAC" in reasons["IDENTITY_MATCHES_MANIFEST"].detail
    assert "FIRMWARE_REPORTED_ONLY" in reasons and "HARDWARE_NOT_READ" in reasons  # boards not reported
    assert result.verdict is Verdict.WARNING

    other = Evidence(avalon.host, (Claim("control_board.serial", "0201000000000bad", f"{api} version", R),
                                   *ev.claims[1:]))
    swapped = appraise(other, [manifest], POLICY)
    assert swapped.verdict is Verdict.UNTRUSTED
    assert "CONTROL_BOARD_SERIAL_MISMATCH" in {r.code for r in swapped.reasons}


def test_a_mac_that_no_manifest_lists_is_still_identity_not_read():
    rigs = plan_fleet(20, "mixed", "127.0.9.1")
    ev = Evidence("h", (Claim("unit.model", "AvalonMiner 1246", "api://h:4028 version", R),
                        Claim("net.mac", "02:ff:ff:00:00:01", "api://h:4028 version", R)))
    result = appraise(ev, [_manifest(rigs)], POLICY)
    assert result.verdict is Verdict.UNKNOWN and result.top_reason.code == "IDENTITY_NOT_READ"


def test_the_top_reason_names_what_answered_what_did_not_and_which_channel_would_give_identity():
    ev = Evidence("10.0.4.17", (
        Claim("unit.model", "Antminer S21", "api://10.0.4.17:4028 version", R),
        Claim("firmware.miner.version", "BMMiner 1.0.0", "api://10.0.4.17:4028 version", R),
    ), (
        Problem("AUTH_FAILED", "web://10.0.4.17:80", "refused every credential tried (users: root)"),
        Problem("UNREACHABLE", "ssh://10.0.4.17:22", "connection refused"),
    ))
    result = appraise(ev, [_manifest(plan_fleet(3, "mixed", "127.0.9.1"))], POLICY)
    top = result.top_reason
    assert result.verdict is Verdict.UNKNOWN
    assert top.code == "IDENTITY_NOT_READ"
    assert top.detail.startswith(
        "the API answered (Antminer S21, BMMiner 1.0.0) but carries no unit serial; web UI: login refused; SSH: closed")
    assert "The web UI or SSH would give the unit serial" in top.detail


def test_with_nothing_answering_the_top_reason_stays_the_failure():
    ev = Evidence("10.0.4.18", (), (Problem("UNREACHABLE", "api://10.0.4.18:4028", "connection refused"),))
    result = appraise(ev, [_manifest(plan_fleet(3, "mixed", "127.0.9.1"))], POLICY)
    assert result.top_reason.code == "UNREACHABLE"


def test_an_epic_rig_is_found_by_its_mac_with_its_boards_checked_and_its_firmware_only_reported():
    rigs = plan_fleet(22, "mixed", "127.0.9.1")
    rig = next(r for r in rigs if r.scenario == "antminer-epic")
    manifest = _manifest(rigs)
    api = "api://h:4028"
    claims = (
        Claim("unit.model", rig.model, f"{api} /capabilities", R),
        Claim("control_board.serial", rig.control_board_serial, f"{api} /capabilities", R),
        Claim("net.mac", rig.mac.lower(), f"{api} /network", R),
        Claim("firmware.version", rig.firmware_version, f"{api} /summary", R),
        Claim("config.pool.0.url", ALLOWED_POOL, f"{api} /summary", R),
        *(Claim(f"hashboard.{b.slot}.serial", b.serial, f"{api} /capabilities", R) for b in rig.hashboards),
        *(Claim(f"hashboard.{b.slot}.chips", b.chips, f"{api} /hashrate", R) for b in rig.hashboards),
    )
    result = appraise(Evidence(rig.host, claims), [manifest], POLICY)
    codes = {r.code: r for r in result.reasons}
    assert result.entry is not None and result.entry.serial == rig.serial
    assert "control board, 3 hashboards" in codes["HARDWARE_MATCHES_MANIFEST"].detail
    assert result.verdict is Verdict.WARNING and result.top_reason.code == "FIRMWARE_VERSION_UNKNOWN"

    # ePIC's own UMC board in place of the unit's: its CPU serial is not the one the factory
    # recorded, and that is said, never passed over.
    umc = tuple(Claim(c.name, "10000000a1b2c3d4", c.source, R) if c.name == "control_board.serial" else c
                for c in claims)
    replaced = appraise(Evidence(rig.host, umc), [manifest], POLICY)
    assert replaced.verdict is Verdict.UNTRUSTED
    assert "CONTROL_BOARD_SERIAL_MISMATCH" in {r.code for r in replaced.reasons}

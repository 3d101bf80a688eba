"""The README is a newcomer's first page: its opening commands and its reason table stay true."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from attest.verdict import REASONS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

#: The public contract, written out in full here (never derived from attest/verdict.py at test time):
#: intake scripts match on these codes and their status. A code is added here on purpose when it is
#: added to attest/verdict.py; none is ever removed, renamed or moved to another status.
PUBLIC_CODES: dict[str, tuple[str, ...]] = {
    "none": (
        "TIMEOUT", "DEADLINE_EXCEEDED", "UNREACHABLE", "CONNECTION_RESET", "MALFORMED_REPLY",
        "REPLY_TOO_LARGE", "AUTH_FAILED", "NOT_THIS_FAMILY", "IDENTITY_NOT_READ", "NO_MANIFEST",
        "SSH_UNAVAILABLE", "INTERNAL_ERROR", "HISTORY_UNAVAILABLE", "DRIVER_UNAVAILABLE",
        "IMAGE_FORMAT_UNKNOWN", "IMAGE_CORRUPT", "IMAGE_TRUNCATED", "IMAGE_LIMIT_EXCEEDED",
        "IMAGE_TOO_COSTLY", "IMAGE_NESTING_LOOP", "IMAGE_NO_RELEASE_MATCH", "VENDOR_KEY_UNKNOWN",
        "VENDOR_CHECKSUM_ONLY", "CONFIGURATION_NOT_CHECKED", "SIGNING_KEY_UNUSABLE", "TRUST_STORE_INVALID",
        "STATION_NOT_INITIALISED", "STATION_ALREADY_INITIALISED", "STATION_PASSPHRASE_WRONG",
        "STATION_PASSPHRASE_NEEDED", "STATION_FILES_UNWRITABLE", "STATION_FILES_INVALID", "LOG_STORE_FULL",
        "LOG_STORE_READ_ONLY", "LOG_STORE_UNAVAILABLE", "LOG_WRONG_STATION", "LOG_RECORD_NOT_FOUND",
        "LOG_INPUT_INVALID", "LOG_OUTPUT_UNWRITABLE", "NOT_IDENTIFIED", "MEASUREMENT_LIMIT_EXCEEDED",
        "EGRESS_NOT_CHECKED", "EGRESS_NOT_SEEN", "STORE_URL_INVALID", "STORE_UNREACHABLE", "STORE_LOGIN_REFUSED",
        "STORE_NOT_INITIALISED", "STORE_SCHEMA_NEWER", "STORE_SERVER_UNSUITABLE", "STORE_PERMISSION_DENIED",
        "STORE_ALREADY_ENROLLED", "STORE_NOT_ENROLLED", "STORE_KEY_NOT_ENROLLED", "STORE_SIGNATURE_INVALID",
        "STORE_CHECKPOINT_INVALID", "STORE_CHAIN_BROKEN", "STORE_ROOT_MISMATCH", "STORE_FORK",
        "STORE_RECORD_MALFORMED", "STORE_PUSH_TOO_LARGE",
    ),
    "contraindicated": (
        "DEVICE_NOT_IN_MANIFEST", "MODEL_MISMATCH", "MAC_MISMATCH", "IDENTITY_FINGERPRINT_MISMATCH",
        "SERIAL_CLONED", "IDENTITY_CHANGED_SINCE", "CONTROL_BOARD_SERIAL_MISMATCH",
        "HASHBOARD_SERIAL_MISMATCH", "HASHBOARD_MISSING", "HASHBOARD_UNEXPECTED", "PSU_SERIAL_MISMATCH",
        "FIRMWARE_DIGEST_UNKNOWN", "FIRMWARE_REVOKED", "FIRMWARE_UNSIGNED_CONTENT", "BACKDOOR_INDICATOR",
        "IMAGE_CHECKSUM_MISMATCH", "IMAGE_UNSAFE_MEMBER", "IMAGE_MEMBER_UNVOUCHED",
        "VENDOR_SIGNATURE_INVALID", "VENDOR_SIGNATURE_MISSING", "VENDOR_REVOKED", "IMAGE_AUTHORIZED_KEYS",
        "IMAGE_STARTUP_LISTENER", "IMAGE_FETCH_AND_RUN", "ORIGIN_NOT_ALLOWED", "MANIFEST_MALFORMED",
        "MANIFEST_WRONG_PAYLOAD_TYPE", "MANIFEST_TOO_LARGE", "MANIFEST_DUPLICATE_KEYS",
        "MANIFEST_NOT_CANONICAL", "MANIFEST_SCHEMA_INVALID", "MANIFEST_SIGNATURE_INVALID",
        "MANIFEST_SIGNER_UNKNOWN", "MANIFEST_CHAIN_INVALID", "MANIFEST_CHAIN_EXPIRED",
        "MANIFEST_CHAIN_NOT_YET_VALID", "MANIFEST_SIGNER_NOT_CODE_SIGNING", "MANIFEST_SIGNER_REVOKED",
        "MANIFEST_SIGNER_KEY_TOO_SMALL", "MANIFEST_THRESHOLD_NOT_MET", "MANIFEST_EXPIRED",
        "MANIFEST_NOT_YET_VALID", "MANIFEST_ROLLBACK", "MANIFEST_SEQUENCE_REUSED", "LOG_UNREADABLE",
        "LOG_FORMAT_UNKNOWN", "LOG_RECORD_EDITED", "LOG_RECORDS_MISSING", "LOG_RECORDS_REORDERED",
        "LOG_RECORDS_ADDED", "LOG_TRUNCATED", "LOG_SIGNATURE_INVALID", "LOG_SIGNED_BY_OTHER_KEY",
        "LOG_ROOT_MISMATCH", "LOG_INCLUSION_PROOF_INVALID", "LOG_INCONSISTENT", "LOG_SUPERSEDES_INVALID",
        "FIRMWARE_SELF_REPORT_DIFFERS", "FIRMWARE_DUMP_DIFFERS", "EGRESS_INDICATOR", "MANIFEST_CHAIN_INCOMPLETE",
        "MANIFEST_CHAIN_WEAK_ALGORITHM",
    ),
    "warning": (
        "SSH_HOST_KEY_CHANGED", "CLAIMS_DISAGREE", "HASHBOARD_CHIPS_MISMATCH", "HARDWARE_NOT_READ",
        "FIRMWARE_IMAGE_MISSING", "FIRMWARE_REPORTED_ONLY", "FIRMWARE_VERSION_UNKNOWN",
        "FIRMWARE_VERSION_MISMATCH", "FIRMWARE_WEAK_INTEGRITY", "FIRMWARE_MIXED_RELEASES",
        "FIRMWARE_UNSIGNED_DATA", "IMAGE_NOT_INSPECTED", "IMAGE_ENCRYPTED", "IMAGE_SETUID_FILE",
        "IMAGE_DEFAULT_PASSWORD", "POOL_NOT_ALLOWED", "VALUE_MALFORMED", "FIRMWARE_DEVICE_DIGEST_ONLY",
        "EGRESS_UNLISTED",
    ),
    "affirming": (
        "IDENTITY_MATCHES_MANIFEST", "IDENTITY_SEEN_BEFORE", "HARDWARE_MATCHES_MANIFEST",
        "FIRMWARE_SIGNED_RELEASE", "VENDOR_SIGNATURE_VALID", "CONFIGURATION_ALLOWED", "MANIFEST_ACCEPTED",
        "EGRESS_ALLOWED",
    ),
}


def _reasons_table_tool():
    spec = importlib.util.spec_from_file_location("reasons_table", ROOT / "tools" / "reasons_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_starts_with_the_two_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "```"
    assert lines[1].split("#")[0].strip() == "make run"
    assert lines[2].split("#")[0].strip() == "make test"
    assert lines[3] == "```"


def test_readme_reason_table_matches_verdict_py():
    """If this fails after adding a reason code: .venv/bin/python tools/reasons_table.py --write"""
    tool = _reasons_table_tool()
    in_readme = tool.table_in(README.read_text(encoding="utf-8"))
    assert in_readme == tool.render(), "README.md's reason table is stale: run tools/reasons_table.py --write"


def test_the_table_lists_every_code_once():
    tool = _reasons_table_tool()
    rows = [line for line in tool.render().splitlines() if line.startswith("| `")]
    codes = [row.split("`")[1] for row in rows]
    assert sorted(codes) == sorted(REASONS)


def test_a_stale_table_is_noticed():
    tool = _reasons_table_tool()
    readme = README.read_text(encoding="utf-8")
    stale = tool.replace_table(readme, "\n".join(tool.render().splitlines()[:-1]))  # one code missing
    assert tool.table_in(stale) != tool.render()


def _readme_rows() -> dict[str, list[str]]:
    """The README's reason table read by this test itself (not by tools/reasons_table.py, which
    renders it from attest/verdict.py and so could only ever agree with it)."""
    text = README.read_text(encoding="utf-8")
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        m = re.fullmatch(r"\| `([A-Z0-9_]+)` \| ([a-z]+) \| ([a-z]+) \| (.+) \| (.*) \|", line)
        if m:
            assert m[1] not in rows, f"{m[1]} is listed twice in README.md"
            rows[m[1]] = [m[2], m[3], m[4], m[5]]
    return rows


def test_no_public_code_was_removed_renamed_or_reclassified():
    listed = {code: status for status, codes in PUBLIC_CODES.items() for code in codes}
    assert sum(len(c) for c in PUBLIC_CODES.values()) == len(listed), "a code is listed under two statuses"
    missing = sorted(set(listed) - set(REASONS))
    assert not missing, f"public reason codes gone from attest/verdict.py: {missing}"
    changed = sorted(c for c, s in listed.items() if REASONS[c].status.value != s)
    assert not changed, f"public reason codes whose status changed: {changed}"
    unlisted = sorted(set(REASONS) - set(listed))
    assert not unlisted, f"new reason codes: add them to PUBLIC_CODES in this test: {unlisted}"


def test_the_readme_table_lists_exactly_the_public_codes_with_their_status_and_sentence():
    rows = _readme_rows()
    listed = {code: status for status, codes in PUBLIC_CODES.items() for code in codes}
    assert sorted(rows) == sorted(listed)
    for code, (category, status, message, _) in rows.items():
        assert status == listed[code], code
        assert category == REASONS[code].category and message.startswith(REASONS[code].message[:40]), code

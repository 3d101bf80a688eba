"""A reason in a few words, for the table's Top reason column.

The technician's sentence (``attest.verdict.REASONS``) is what the detail pane and the tooltip
say; a table cell a person scans down 200 rows of needs a label, then the specifics: "Hashboard
swapped: slot 1", "Backdoor found: antbleed: ...". A code without a label here (a new one) shows
the first clause of its sentence, so nothing is ever shown as a bare code.
"""

from __future__ import annotations

from attest.verdict import REASONS

SHORT = {
    # could not check
    "TIMEOUT": "No answer in time", "DEADLINE_EXCEEDED": "Run deadline passed", "UNREACHABLE": "Unreachable",
    "CONNECTION_RESET": "Connection dropped", "MALFORMED_REPLY": "Malformed reply",
    "REPLY_TOO_LARGE": "Reply too large", "AUTH_FAILED": "Login refused", "NOT_THIS_FAMILY": "Not a miner interface",
    "NOT_IDENTIFIED": "Does not identify as a miner", "IDENTITY_NOT_READ": "Serial not read",
    "NO_MANIFEST": "No manifest loaded", "SSH_UNAVAILABLE": "No SSH: flash not measured",
    "INTERNAL_ERROR": "Rig Attest error", "HISTORY_UNAVAILABLE": "Earlier checks not consulted",
    "DRIVER_UNAVAILABLE": "No driver for this endpoint",
    # identity
    "IDENTITY_MATCHES_MANIFEST": "Identity matches", "DEVICE_NOT_IN_MANIFEST": "Not in any manifest",
    "MODEL_MISMATCH": "Wrong model", "MAC_MISMATCH": "MAC differs",
    "IDENTITY_FINGERPRINT_MISMATCH": "Identity fingerprint differs", "SERIAL_CLONED": "Serial or MAC cloned",
    "IDENTITY_CHANGED_SINCE": "Parts changed since an earlier check", "SSH_HOST_KEY_CHANGED": "SSH host key changed",
    "IDENTITY_SEEN_BEFORE": "Seen before, same identity", "CLAIMS_DISAGREE": "Interfaces disagree",
    # hardware
    "HARDWARE_MATCHES_MANIFEST": "Hardware matches", "CONTROL_BOARD_SERIAL_MISMATCH": "Control board replaced",
    "HASHBOARD_SERIAL_MISMATCH": "Hashboard swapped", "HASHBOARD_MISSING": "Hashboard missing",
    "HASHBOARD_UNEXPECTED": "Unexpected hashboard", "HASHBOARD_CHIPS_MISMATCH": "Chip count differs",
    "PSU_SERIAL_MISMATCH": "Power supply replaced", "HARDWARE_NOT_READ": "Board serials not read",
    # firmware
    "FIRMWARE_SIGNED_RELEASE": "Signed firmware", "FIRMWARE_DIGEST_UNKNOWN": "Unsigned firmware image",
    "FIRMWARE_REVOKED": "Revoked firmware", "FIRMWARE_IMAGE_MISSING": "Firmware image missing",
    "FIRMWARE_REPORTED_ONLY": "Firmware not measured", "FIRMWARE_VERSION_UNKNOWN": "Unknown firmware version",
    "FIRMWARE_VERSION_MISMATCH": "Version differs from flash", "FIRMWARE_WEAK_INTEGRITY": "Flash only crc32-checked",
    "FIRMWARE_MIXED_RELEASES": "Mixed firmware releases", "FIRMWARE_UNSIGNED_CONTENT": "Unsigned code in firmware",
    "FIRMWARE_UNSIGNED_DATA": "Unsigned data in firmware", "BACKDOOR_INDICATOR": "Backdoor found",
    # configuration, provenance
    "CONFIGURATION_ALLOWED": "Pools allowed", "CONFIGURATION_NOT_CHECKED": "Pools not judged",
    "POOL_NOT_ALLOWED": "Pool not allowed", "MANIFEST_ACCEPTED": "Manifest accepted",
    "ORIGIN_NOT_ALLOWED": "Origin not allowed",
}


def short_words(code: str) -> str:
    """The label for ``code``: ours, else the first clause of its sentence."""
    if code in SHORT:
        return SHORT[code]
    info = REASONS.get(code)
    return info.message.split(": ", 1)[0].rstrip(".") if info is not None else code

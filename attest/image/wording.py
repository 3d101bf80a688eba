"""The words of a reason when what was checked is a file, not a rig on the bench.

The reason registry (``attest.verdict.REASONS``) speaks of units: "every measured flash image",
"quarantine the unit". Read beside a firmware file those words mislead: there is no unit to
quarantine, and "every image matches" must not stand beside a backdoor in the same file as if it
covered it. Codes stay the same (scripts match on them); only the sentence and the advice change.
"""

from __future__ import annotations

from attest.verdict import Reason, reason

#: code -> (sentence about a file, what to do with the file). Codes not listed read well as they are.
FILE_WORDING: dict[str, tuple[str, str]] = {
    "FIRMWARE_SIGNED_RELEASE": (
        "These images in the file match a release the manufacturer signed (only the ones the detail names).",
        ""),
    "FIRMWARE_DIGEST_UNKNOWN": (
        "An image in the file matches no release the manufacturer signed.",
        "Do not flash this file; get the release from the vendor and check it again."),
    "FIRMWARE_REVOKED": (
        "The file holds firmware the manufacturer signed once and has since revoked.",
        "Do not flash this file; use the vendor's current signed release."),
    "FIRMWARE_MIXED_RELEASES": (
        "The file's images are signed, but come from different releases.",
        "Do not flash this file; use one complete signed release."),
    "FIRMWARE_UNSIGNED_CONTENT": (
        "The file holds code or scripts that no signature covers: an archive member or partition the signed "
        "release does not list, or data hidden after the signed part.",
        "Do not flash this file: whatever runs from that content was not made by the manufacturer."),
    "FIRMWARE_UNSIGNED_DATA": (
        "The file holds bytes that no signature covers; no code was found in them.",
        "Ask the vendor what the named region is before flashing; nothing vouches for it."),
    "BACKDOOR_INDICATOR": (
        "The file holds a known backdoor indicator.",
        "Do not flash this file. Keep it as evidence and get the firmware from the vendor's own site."),
    "NO_MANIFEST": (
        "No manifest was given, so nothing in the file could be matched to a release the manufacturer signed.",
        "Check the file again with the vendor's signed manifest (--manifest FILE --trust DIR, or load the "
        "manifest in the app first)."),
}


def file_reason(code: str, detail: str = "", *, expected: str | None = None, found: str | None = None) -> Reason:
    """``attest.verdict.reason`` for a finding about a file."""
    made = reason(code, detail, expected=expected, found=found)
    words = FILE_WORDING.get(code)
    if words is None:
        return made
    message, advice = words
    return Reason(made.code, made.category, made.status, message, made.detail, made.expected, made.found,
                  advice=advice)

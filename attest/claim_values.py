"""The one check every claim value passes before it may become a claim.

A miner's firmware writes whatever it likes into a serial, a MAC or a model string: an embedded
newline, U+FFFD where its bytes were not text, ten kilobytes, a serial of ``x``. Such a value
is never used for identity or clone detection: it is refused here, the refusal is a Problem
(``VALUE_MALFORMED``) that names the field, and the rest of the reply is kept. Each field has
its own rules (length, character set); every other text claim must at least be printable and
bounded. Values that mean "not available" (``N/A`` from VNish, an empty string) are no claim
and no problem: the firmware said it does not know.

Pure functions over plain data; collection calls :func:`checked` once per endpoint, so no
driver can forget it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from attest.evidence import Claim, ClaimValue, Problem, printable

#: Problem code for a value refused here (documented in attest.verdict.REASONS).
VALUE_MALFORMED = "VALUE_MALFORMED"

#: Any text claim: longer than this is not a version string, a URL or a console note.
MAX_TEXT_CHARS = 2048
#: Counts (chips, partitions): a real rig's numbers are far below this.
MAX_COUNT = 1_000_000
#: Characters of a refused value quoted in the problem (as escaped plain text).
QUOTE_CHARS = 60

_SERIAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]{3,63}")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+()/-]{1,63}")
_MAC_DIGITS = re.compile(r"[0-9A-Fa-f]{12}")
_MAC_FORMS = re.compile(
    r"[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"  # aa:bb:cc:dd:ee:ff, aa-bb-...
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"  # aabb.ccdd.eeff
    r"|[0-9A-Fa-f]{12}"  # aabbccddeeff (Avalon)
)
_URL = re.compile(r"\S{1,512}")
#: Values firmware writes for "I do not know": not a serial, and not an attack either.
_ABSENT = frozenset({"", "n/a", "na", "none", "null", "unknown", "-", "--", "0"})

_SERIAL_NAMES = re.compile(r"unit\.serial|control_board\.serial|psu\.serial|hashboard\.\d+\.serial|module\.\d+\.dna")


def check_value(name: str, value: ClaimValue) -> str | None:
    """Why ``value`` may not be claim ``name``, or None when it may. Absent markers are not
    handled here (see :func:`is_absent`)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if 0 <= value <= MAX_COUNT else f"{value} is out of range for a count"
    if not isinstance(value, str):
        return f"a {type(value).__name__}, not text"
    general = _text_problem(value)
    if general is not None:
        return general
    if _SERIAL_NAMES.fullmatch(name):
        if not _SERIAL.fullmatch(value):
            return "not a serial (4-64 letters, digits and . _ / + -)"
        if len(set(value.lower())) == 1:
            return "a placeholder (one character repeated), not a serial"
        return None
    if name == "net.mac":
        if not _MAC_FORMS.fullmatch(value):
            return "not a MAC address"
        digits = re.sub(r"[^0-9A-Fa-f]", "", value).lower()
        if not _MAC_DIGITS.fullmatch(digits) or digits in ("000000000000", "ffffffffffff"):
            return "not a unit's MAC address (all zeros or broadcast)"
        return None
    if name == "unit.model":
        return None if _MODEL.fullmatch(value) else "not a model name (2-64 letters, digits, spaces and . _ + ( ) / -)"
    if name.startswith("config.pool.") and name.endswith(".url"):
        return None if _URL.fullmatch(value) else "not a pool URL (up to 512 characters, no spaces)"
    if name.startswith(("firmware.version", "firmware.build", "firmware.miner.version")) and len(value) > 256:
        return f"{len(value)} characters long: not a version string"
    return None


def _text_problem(value: str) -> str | None:
    if len(value) > MAX_TEXT_CHARS:
        return f"{len(value)} characters long"
    for ch in value:
        if ch == "\ufffd":
            return "holds U+FFFD: bytes that were not valid text"
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            return f"holds the control character U+{ord(ch):04X}"
    return None


def is_absent(value: ClaimValue) -> bool:
    """Whether the firmware said "not available" (``N/A``, empty) rather than a value."""
    return isinstance(value, str) and value.strip().lower() in _ABSENT


def checked(claims: Iterable[Claim], endpoint: str) -> tuple[list[Claim], list[Problem]]:
    """The claims that may stand, and a VALUE_MALFORMED problem for each one refused.

    A refused value is quoted as escaped plain text, cut to QUOTE_CHARS, so the problem itself
    can never carry what was refused.
    """
    kept: list[Claim] = []
    problems: list[Problem] = []
    for claim in claims:
        if isinstance(claim.value, str) and claim.value != claim.value.strip():
            claim = Claim(claim.name, claim.value.strip(), claim.source, claim.assurance)
        if is_absent(claim.value) and not claim.name.startswith(("scan.", "console.", "uboot.env.")):
            continue
        why = check_value(claim.name, claim.value)
        if why is None:
            kept.append(claim)
            continue
        problems.append(malformed(claim.name, claim.value, claim.source, why, endpoint))
    return kept, problems


def malformed(name: str, value: object, source: str, why: str, endpoint: str) -> Problem:
    """The Problem for one refused value (also for a field of the wrong type a driver saw)."""
    text = value if isinstance(value, str) else repr(value)
    quoted = printable(text[:QUOTE_CHARS], QUOTE_CHARS)
    more = f"... ({len(text)} characters)" if len(text) > QUOTE_CHARS else ""
    return Problem(VALUE_MALFORMED, endpoint,
                   f"{name} from {source} refused: {why}; the device sent {quoted!r}{more}")


__all__ = ["VALUE_MALFORMED", "check_value", "checked", "is_absent", "malformed"]

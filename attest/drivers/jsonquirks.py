"""A JSON parser that accepts what real miner firmware writes, and nothing worse.

cgminer-family firmware emits JSON that strict parsers refuse: a trailing NUL, ``,}`` and ``,]``,
``}{`` between array entries (bmminer's ``stats``), bare ``inf``/``nan``, stray non-UTF-8 bytes,
and escapes JSON does not have (btminer writes ``\'``).
Every real client (pyasic included) patches these with blind string replacement, which also
rewrites the same characters inside string values such as a pool URL. Here the repairs apply only
outside strings, and only after a strict parse failed, so a well-formed reply is read as-is.

The reply is untrusted: its size and nesting depth are bounded before the parser runs, and every
failure is an ``ApiJsonError`` (a ``ValueError``) - never a ``RecursionError`` or a traceback.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: Deeper than any real miner reply (they nest 4 levels); stops recursion bombs before parsing.
MAX_DEPTH = 32
#: Above the drivers' reply cap, so a caller that forgot its cap still gets a bounded parse.
MAX_BYTES = 8 * 1024 * 1024


class ApiJsonError(ValueError):
    """The bytes are not a miner API JSON object, even allowing for known firmware quirks."""


# One pass over the text, left to right. A string (terminated or running to the end of input, so
# an unterminated one cannot make the scan quadratic) is matched first and kept verbatim; the
# other alternatives therefore only ever match outside strings.
_TOKENS = re.compile(
    r"""
    (?P<string> " (?: [^"\\] | \\. )*+ (?: " | \\?\Z ) )
  | , (?P<dangling> \s*+ ) (?= [}\]] )
  | \} (?P<gap> \s*+ ) \{
  | (?P<bare> -? (?<! [\w.] ) (?: inf (?: inity )? | nan ) (?! [\w.] ) )
    """,
    re.VERBOSE | re.DOTALL | re.IGNORECASE,
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.DOTALL)
# An escape JSON does not define: a backslash before anything but " \ / b f n r t, or \u
# without four hex digits after it.
# Escapes are consumed left to right, valid ones kept, so an escaped backslash is never mistaken
# for the start of another escape.
_ESCAPE = re.compile(r'\\(u[0-9A-Fa-f]{4}|["\\/bfnrt])?', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def parse_api_json(data: bytes) -> dict[str, Any]:
    """The reply as a dict; ``ApiJsonError`` when it is not one.

    Bare non-finite numbers (``inf``, ``-inf``, ``nan``, ``NaN``, ``Infinity``) become None: they
    are counters the firmware could not compute, and None keeps every result JSON-serialisable.
    """
    if len(data) > MAX_BYTES:
        raise ApiJsonError(f"reply of {len(data)} bytes exceeds {MAX_BYTES}")
    text = data.decode("utf-8", errors="replace").rstrip("\x00 \t\r\n").lstrip(" \t\r\n")
    if not text:
        raise ApiJsonError("empty reply")
    _check_depth(text)
    try:
        value = _loads(text)
    except ValueError:
        repaired = _TOKENS.sub(_repair, text)
        try:
            value = _loads(repaired)
        except ValueError as exc:
            raise ApiJsonError(f"not JSON even allowing for firmware quirks: {exc}") from None
    if not isinstance(value, dict):
        raise ApiJsonError(f"expected a JSON object, got {type(value).__name__}")
    return value


def _loads(text: str) -> Any:
    try:
        # strict=False: btminer writes raw newlines and tabs inside string values.
        return json.loads(text, strict=False, parse_constant=_non_finite)
    except RecursionError:  # pragma: no cover - _check_depth stops this first
        raise ApiJsonError("nested too deeply") from None


def _non_finite(_name: str) -> None:
    return None


def _repair(match: re.Match[str]) -> str:
    if match.group("string") is not None:
        # The one string holding an escape JSON does not have loses that escape to U+FFFD, so
        # the value is refused as a claim (attest.claim_values) and the rest of the reply stands.
        return _ESCAPE.sub(_keep_or_replace, match.group(0))
    if match.group("dangling") is not None:
        return match.group("dangling")  # drop the comma, keep the whitespace
    if match.group("gap") is not None:
        return "}," + match.group("gap") + "{"
    word = match.group("bare").lower()
    if "nan" in word:
        return "NaN"  # Python's json knows NaN but not -NaN; the sign of nan means nothing
    return "-Infinity" if word.startswith("-") else "Infinity"


def _keep_or_replace(escape: re.Match[str]) -> str:
    if escape.group(1) is not None:
        return escape.group(0)
    # The invalid escape's character, if any, stays (after the replacement) as plain text.
    return "\\ufffd"


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH, counting brackets outside strings."""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub('""', text)):
        if match.group(0) in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ApiJsonError(f"nested deeper than {MAX_DEPTH} levels")
        else:
            depth -= 1

"""Log records as RFC 8785 canonical JSON (``canonical_json``, from ``attest.canonical``).

Records also pass through ``plain`` first: device-supplied values may be integers beyond
RFC 8785's range or strings holding lone surrogates, which cannot be canonicalised at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from attest.canonical import MAX_SAFE_INT as _MAX_SAFE_INT


def plain(value: Any) -> Any:
    """``value`` in a form RFC 8785 can always encode: out-of-range integers and floats become
    strings, unencodable strings get backslash escapes. Device text is never dropped. Already
    plain values (nearly all) are returned as they are, after one quick walk."""
    return value if _is_plain(value) else _cleaned(value)


def _is_plain(obj: Any) -> bool:
    stack = [obj]
    pop, extend = stack.pop, stack.extend
    while stack:
        value = pop()
        kind = type(value)
        if kind is str:
            if value.isascii() or _encodable(value):
                continue
            return False
        if value is None or kind is bool:
            continue
        if kind is int:
            if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
                continue
            return False
        if kind is dict:
            for key in value:
                if type(key) is not str or not (key.isascii() or _encodable(key)):
                    return False
            extend(value.values())
        elif kind is list:
            extend(value)
        else:
            return False
    return True


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _cleaned(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value if _encodable(value) else value.encode("utf-8", "backslashreplace").decode("utf-8")
    if value is None or kind is bool:
        return value
    if kind is int:
        return value if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT else str(value)
    if isinstance(value, dict):
        return {_cleaned(k if type(k) is str else str(k)): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in value]
    if isinstance(value, str):  # str subclasses (enums): their text
        return _cleaned(str.__str__(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return _cleaned(int(value))
    return str(value)


def iso_time(moment: datetime) -> str:
    """UTC, millisecond precision, ``Z``: sorts as text, so the store can range-query it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

"""RFC 8785 canonical JSON: the one serialisation signatures, fingerprints and log leaves use.

The ``rfc8785`` package is the reference, but it is pure Python: about 250 us for a typical log
record, most of an append's budget. For the values our documents are made of (strings, safe
integers, booleans, null, lists and objects whose keys sort the same by UTF-16 code unit as by
code point) ``json.dumps`` with sorted keys and no whitespace produces byte-identical output in
about 35 us, so it is used when ``_is_simple`` says the value is in that domain, and the
reference otherwise (floats, huge integers, exotic keys). ``tests/log/test_canonical.py`` pins
the equivalence.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

MAX_SAFE_INT = 2**53 - 1
#: Keys at or above U+D800 are where UTF-16 and code-point order can differ.
_KEY_ORDER_SAFE_BELOW = "\ud800"


def canonical_json(obj: Any) -> bytes:
    if _is_simple(obj):
        try:
            return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                              allow_nan=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: let the reference refuse it
            pass
    return rfc8785.dumps(obj)


def _is_simple(obj: Any) -> bool:
    # Exact type checks and str.isascii() (constant time) keep this walk near 10 us a record.
    stack = [obj]
    pop, extend = stack.pop, stack.extend
    while stack:
        value = pop()
        kind = type(value)
        if kind is str or value is None or kind is bool:
            continue
        if kind is int:
            if -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
                continue
            return False
        if kind is dict:
            for key in value:
                if type(key) is not str or (not key.isascii() and key and max(key) >= _KEY_ORDER_SAFE_BELOW):
                    return False
            extend(value.values())
        elif kind is list or kind is tuple:
            extend(value)
        else:
            return False
    return True

"""The fast canonical encoder must give RFC 8785's bytes, or fall back to the reference."""

from __future__ import annotations

import random

import pytest
import rfc8785

from attest.canonical import canonical_json
from attest.log.canonical import iso_time, plain
from tests.log.synthetic import T0

ALPHABET = ["a", "Z", "0", " ", '"', "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "€", "\u2028", "\ue000",
            "\uffff", "😀", "𝄞", "/", "<"]


def random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 1, 2**53 - 1, -(2**53 - 1), rng.randrange(-10**9, 10**9)])
    if kind in (3, 4):
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(6)))
    if kind == 5:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {"".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 4))): random_value(rng, depth + 1)
            for _ in range(rng.randrange(5))}


def test_fast_encoder_matches_rfc_8785_on_random_values():
    rng = random.Random(8785)
    for _ in range(3000):
        value = random_value(rng)
        assert canonical_json(value) == rfc8785.dumps(value), value


def test_keys_that_sort_differently_in_utf16_use_the_reference():
    value = {"\ue000": 1, "😀": 2, "a": 3}  # UTF-16 puts the emoji (a surrogate pair) first
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).index("😀".encode()) < canonical_json(value).index("\ue000".encode())


@pytest.mark.parametrize("value", [2**60, 1.5, {"x": "\ud800"}])
def test_values_outside_the_fast_domain_still_canonicalise_or_refuse_like_the_reference(value):
    try:
        expected = rfc8785.dumps(value)
    except ValueError:
        with pytest.raises(ValueError):
            canonical_json(value)
    else:
        assert canonical_json(value) == expected


def test_plain_makes_any_device_value_encodable_without_dropping_it():
    hostile = {"big": 2**64, "surrogate": "ab\udcffcd", "float": 1.25, "nested": [2**70, {"k\ud800": True}]}
    cleaned = plain(hostile)
    assert cleaned["big"] == str(2**64)
    assert cleaned["float"] == "1.25"
    assert "dcff" in cleaned["surrogate"]
    assert canonical_json(cleaned) == rfc8785.dumps(cleaned)


def test_times_are_utc_with_milliseconds_so_they_sort_as_text():
    assert iso_time(T0) == "2026-11-02T08:00:00.000Z"
    assert iso_time(T0.replace(tzinfo=None)) == "2026-11-02T08:00:00.000Z"


def test_plain_returns_already_plain_records_untouched_and_names_odd_keys_as_text():
    record = {"a": [1, "b", None, True], "c": {"d": "é"}}
    assert plain(record) is record
    assert plain({1: (2, 3)}) == {"1": [2, 3]}

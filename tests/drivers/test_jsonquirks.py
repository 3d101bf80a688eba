"""The quirk-tolerant API JSON parser: each firmware quirk, and refusal of everything else."""

from __future__ import annotations

import time

import pytest

from attest.drivers.jsonquirks import MAX_DEPTH, ApiJsonError, parse_api_json


def test_well_formed_reply_is_read_as_is():
    assert parse_api_json(b'{"STATUS":[{"STATUS":"S"}],"id":1}') == {"STATUS": [{"STATUS": "S"}], "id": 1}


def test_trailing_nuls_and_whitespace_are_ignored():
    assert parse_api_json(b'{"id":1}\x00') == {"id": 1}
    assert parse_api_json(b'{"id":1}\r\n\x00\x00') == {"id": 1}


def test_trailing_commas_before_closing_brackets_are_dropped():
    assert parse_api_json(b'{"a":[1,2,],"b":{"c":3,},}') == {"a": [1, 2], "b": {"c": 3}}
    assert parse_api_json(b'{"a":[1 ,\n ]}') == {"a": [1]}


def test_bmminer_stats_missing_comma_between_objects_is_repaired():
    raw = (b'{"STATUS":[{"STATUS":"S","Code":70}],"STATS":[{"Type":"Antminer S19"}'
           b'{"STATS":0,"chain_acn1":114}],"id":1}\x00')
    assert parse_api_json(raw)["STATS"] == [{"Type": "Antminer S19"}, {"STATS": 0, "chain_acn1": 114}]


def test_missing_comma_with_whitespace_between_objects_is_repaired():
    assert parse_api_json(b'{"S":[{"a":1} \n {"b":2}]}') == {"S": [{"a": 1}, {"b": 2}]}


@pytest.mark.parametrize("bare", [b"inf", b"-inf", b"nan", b"-nan", b"NaN", b"Infinity", b"-Infinity", b"INF"])
def test_bare_non_finite_numbers_become_none(bare: bytes):
    assert parse_api_json(b'{"Pool Rejected%":' + bare + b',"ok":1}') == {"Pool Rejected%": None, "ok": 1}


def test_non_utf8_bytes_become_replacement_characters():
    assert parse_api_json(b'{"Type":"Antminer \xff\xfeS9"}') == {"Type": "Antminer \ufffd\ufffdS9"}


def test_raw_control_characters_inside_strings_are_accepted():
    assert parse_api_json(b'{"Msg":"line one\nline\ttwo"}') == {"Msg": "line one\nline\ttwo"}


def test_quirk_lookalikes_inside_strings_are_left_alone():
    raw = b'{"URL":"stratum+tcp://x,}{y,]:3333","User":"inf","Note":"nan , }"}'
    assert parse_api_json(raw) == {"URL": "stratum+tcp://x,}{y,]:3333", "User": "inf", "Note": "nan , }"}


def test_repairs_do_not_touch_strings_when_the_reply_also_needs_repair():
    raw = b'{"URL":"a,}b","S":[{"x":inf}{"y":"c}{d"},],}'
    assert parse_api_json(raw) == {"URL": "a,}b", "S": [{"x": None}, {"y": "c}{d"}]}


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"\x00\x00",
        b"\xff\xfeSTATUS=S,When=0,Code=11|\xc3\x28\r\n",
        b"<html><body>401</body></html>",
        b'{"STATUS":[{"STATUS":"S"',  # truncated
        b'{"a":1}{"b":2}',  # two top-level objects
        b'{"a":info}',
        b"SSH-2.0-OpenSSH_8.9\r\n",
    ],
)
def test_garbage_is_refused_with_a_value_error(garbage: bytes):
    with pytest.raises(ApiJsonError):
        parse_api_json(garbage)
    assert issubclass(ApiJsonError, ValueError)


@pytest.mark.parametrize("not_an_object", [b"[1,2]", b'"text"', b"42", b"null"])
def test_only_an_object_is_a_reply(not_an_object: bytes):
    with pytest.raises(ApiJsonError, match="expected a JSON object"):
        parse_api_json(not_an_object)


def test_nesting_beyond_the_limit_is_refused_before_parsing():
    deep = b'{"a":' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}"
    with pytest.raises(ApiJsonError, match="nested"):
        parse_api_json(deep)
    with pytest.raises(ApiJsonError):
        parse_api_json(b"[" * 200_000)  # would be a RecursionError in json.loads


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = "[" * (MAX_DEPTH * 4)
    assert parse_api_json(b'{"a":"' + text.encode() + b'"}') == {"a": text}


def test_hostile_unterminated_string_is_refused_in_linear_time():
    hostile = b'{"a":"' + b'\\"' * 300_000  # every quote escaped, string never closed
    start = time.monotonic()
    with pytest.raises(ApiJsonError):
        parse_api_json(hostile)
    assert time.monotonic() - start < 2


def test_oversized_input_is_refused_without_parsing():
    with pytest.raises(ApiJsonError, match="exceeds"):
        parse_api_json(b"{" + b" " * (9 * 1024 * 1024) + b"}")

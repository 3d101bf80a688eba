"""The bounded ClientHello reader: real ClientHellos from OpenSSL, cut, split, swollen and spoilt."""

from __future__ import annotations

import random
import ssl

import pytest

from attest.watch.tls import Hello, read_client_hello

CAP = 4096


def client_hello(server_name: str | None) -> bytes:
    """What a real TLS client (OpenSSL, through the ssl module) sends first."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        conn.do_handshake()
    return outgoing.read()


def records(hello: bytes, size: int) -> bytes:
    """The same handshake split into records of ``size`` bytes, as TLS allows."""
    body = hello[5:]
    return b"".join(b"\x16\x03\x01" + len(body[i:i + size]).to_bytes(2, "big") + body[i:i + size]
                    for i in range(0, len(body), size))


def test_a_whole_client_hello_gives_its_server_name_lower_case():
    reading = read_client_hello(client_hello("Telemetry.Example.ORG"), ended=False, cap=CAP)
    assert (reading.state, reading.sni, reading.sni_valid) == (Hello.COMPLETE, "telemetry.example.org", True)


def test_a_client_hello_without_server_name_is_tls_with_no_name():
    reading = read_client_hello(client_hello(None), ended=False, cap=CAP)
    assert (reading.state, reading.sni) == (Hello.COMPLETE, None)


def test_a_client_hello_split_over_many_records_is_put_back_together():
    reading = read_client_hello(records(client_hello("pool.example.net"), 37), ended=False, cap=CAP)
    assert (reading.state, reading.sni) == (Hello.COMPLETE, "pool.example.net")


def test_a_client_hello_cut_off_is_said_so_and_keeps_a_name_already_whole():
    hello = client_hello("telemetry.example.org")
    name_end = hello.index(b"telemetry.example.org") + len("telemetry.example.org")
    early = read_client_hello(hello[:40], ended=True, cap=CAP)
    late = read_client_hello(hello[:name_end + 10], ended=True, cap=CAP)
    waiting = read_client_hello(hello[:name_end + 10], ended=False, cap=CAP)
    assert (early.state, early.sni) == (Hello.CUT_OFF, None)
    assert (late.state, late.sni) == (Hello.CUT_OFF, "telemetry.example.org")
    assert waiting.state is Hello.NEED_MORE
    for n in range(1, len(hello)):  # wherever it is cut, never an exception and never "complete"
        assert read_client_hello(hello[:n], ended=True, cap=CAP).state in (Hello.CUT_OFF, Hello.MALFORMED)


def test_a_client_hello_larger_than_the_watch_keeps_is_too_large_at_once():
    declared = 20_000
    head = b"\x16\x03\x01\x40\x00" + b"\x01" + declared.to_bytes(3, "big") + b"\x03\x03" + bytes(32) + b"\x00"
    reading = read_client_hello(head, ended=False, cap=CAP)
    assert reading.state is Hello.TOO_LARGE


def test_a_hello_that_fits_the_cap_only_without_its_record_headers_is_too_large_at_the_cap():
    message = client_hello("x.example")[5:]
    body = message[4:] + bytes(4000 - len(message) + 4)  # a 4,000-byte ClientHello (padding at the end)
    split = records(b"\x16\x03\x01\x00\x00" + b"\x01" + (4000).to_bytes(3, "big") + body, 200)
    assert len(split) > CAP  # 21 record headers push it past what the watch keeps
    reading = read_client_hello(split[:CAP], ended=True, cap=CAP)
    assert (reading.state, reading.sni) == (Hello.TOO_LARGE, "x.example")


@pytest.mark.parametrize("data", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b'{"id": 1, "method": "mining.subscribe"}\n',
    b"\x16\x01\x00",  # handshake byte, then no TLS version
    b"",
])
def test_what_is_not_tls_is_plain(data):
    assert read_client_hello(data, ended=True, cap=CAP).state is Hello.NOT_TLS


@pytest.mark.parametrize("data", [
    b"\x16\x03\x01\xff\xff" + bytes(10),  # a record longer than TLS allows
    b"\x16\x03\x01\x00\x00",  # an empty record
    b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",  # a ServerHello first
    b"\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00",  # a ClientHello too short for its fields
    b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00\x17\x03\x03\x00\x01\x00",  # application data inside
])
def test_malformed_handshakes_are_malformed_not_errors(data):
    assert read_client_hello(data, ended=True, cap=CAP).state is Hello.MALFORMED


def test_a_server_name_that_is_no_host_name_is_kept_escaped():
    hello = bytearray(client_hello("abcdefgh.example"))
    at = hello.index(b"abcdefgh")
    hello[at:at + 4] = b"a\x00\n\\"
    reading = read_client_hello(bytes(hello), ended=False, cap=CAP)
    assert reading.state is Hello.COMPLETE and not reading.sni_valid
    assert reading.sni == "a\\x00\\x0a\\x5cefgh.example"


def test_random_damage_never_raises():
    hello = client_hello("telemetry.example.org")
    rnd = random.Random(17)
    for _ in range(3000):
        spoilt = bytearray(hello)
        for _ in range(rnd.randrange(1, 6)):
            spoilt[rnd.randrange(len(spoilt))] = rnd.randrange(256)
        cut = rnd.randrange(1, len(spoilt) + 1)
        reading = read_client_hello(bytes(spoilt[:cut]), ended=rnd.random() < 0.5, cap=CAP)
        assert isinstance(reading.state, Hello)
        assert reading.sni is None or len(reading.sni) <= 4 * 255

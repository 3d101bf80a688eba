from __future__ import annotations

from attest.evidence import (
    Assurance,
    Claim,
    Evidence,
    Transcript,
    identity_document,
    identity_fingerprint,
    normalise_mac,
    printable,
)


def _claim(name, value, assurance=Assurance.REPORTED, source="api://h:4028 stats"):
    return Claim(name, value, source, assurance)


def test_best_claim_prefers_higher_assurance():
    ev = Evidence("h", (_claim("net.mac", "AA:BB:CC:DD:EE:01"),
                        _claim("net.mac", "aa:bb:cc:dd:ee:02", Assurance.MEASURED, "ssh://h:22 cat")))
    assert ev.value("net.mac") == "aa:bb:cc:dd:ee:02"


def test_identity_fingerprint_is_stable_and_mac_style_independent():
    a = identity_document(serial="S1", mac="AA-BB-CC-DD-EE-FF", control_board="CB", hashboards=["H0", "H1"], psu=None)
    b = identity_document(serial="S1", mac="aa:bb:cc:dd:ee:ff", control_board="CB", hashboards=["H0", "H1"], psu=None)
    assert identity_fingerprint(a) == identity_fingerprint(b)
    c = identity_document(serial="S1", mac="aa:bb:cc:dd:ee:ff", control_board="CB", hashboards=["H1", "H0"], psu=None)
    assert identity_fingerprint(a) != identity_fingerprint(c)  # slot order matters


def test_identity_fingerprint_needs_a_serial():
    assert Evidence("h", (_claim("net.mac", "aa:bb:cc:dd:ee:ff"),)).identity_sha256() is None


def test_transcript_is_capped():
    t = Transcript(cap_bytes=10)
    t.record("api://h:4028", "<", b"0123456789ABCDEF")
    t.record("api://h:4028", "<", b"more")
    assert t.size == 10 and t.truncated
    assert "truncated" in t.to_text()


def test_printable_escapes_control_and_invalid_bytes():
    text = printable(b"ok\x1b[31m\xff<b>x</b>")
    assert "\x1b" not in text and "\\x1b" in text and "\\xff" in text
    assert "<b>x</b>" in text  # plain text, shown literally by the views


def test_normalise_mac():
    assert normalise_mac("AABB.CCDD.EEFF") == "aa:bb:cc:dd:ee:ff"
    assert normalise_mac(None) is None

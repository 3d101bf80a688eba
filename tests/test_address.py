from __future__ import annotations

import pytest

from attest.address import AddressError, EndpointTarget, HostTarget, PortProfile, RangeTarget, parse_address


def test_host_range_and_endpoint_forms():
    assert parse_address("10.0.4.17") == HostTarget("10.0.4.17")
    rng = parse_address("10.0.4.0/30")
    assert isinstance(rng, RangeTarget) and rng.hosts() == ["10.0.4.1", "10.0.4.2"]
    ep = parse_address("ssh://root:secret@10.0.4.17:2222")
    assert isinstance(ep, EndpointTarget)
    assert (ep.kind, ep.host, ep.port, ep.username, ep.password) == ("ssh", "10.0.4.17", 2222, "root", "secret")
    assert "secret" not in ep.address
    assert parse_address("cgminer://10.0.4.17").port == 4028
    assert parse_address("antminer+http://10.0.4.17").kind == "web"


@pytest.mark.parametrize("bad", ["", "gopher://x", "10.0.0.0/8", "a b", "cgminer://h:99999", "ssh://", "-x",
                                 "rig-.lan"])
def test_bad_addresses_are_refused_with_a_message(bad):
    with pytest.raises(AddressError):
        parse_address(bad)


def test_port_profile_overrides_only_what_is_named():
    p = PortProfile.parse("web=8080,ssh=2222")
    assert (p.api, p.web, p.ssh) == (4028, 8080, 2222)
    with pytest.raises(AddressError):
        PortProfile.parse("telnet=23")


@pytest.mark.parametrize("typed, why", [
    ("10.0.4.300", "'10.0.4.300' is not an IPv4 address: 300 is more than 255"),
    ("999.1.1.1", "'999.1.1.1' is not an IPv4 address: 999 is more than 255"),
    ("10.0.4", "'10.0.4' is not an IPv4 address: it needs four numbers from 0 to 255"),
    ("1.2.3.4.5", "'1.2.3.4.5' is not an IPv4 address"),
    ("cgminer://10.0.4.300", "'10.0.4.300' is not an IPv4 address: 300 is more than 255"),
])
def test_a_mistyped_ipv4_address_is_refused_and_says_why(typed, why):
    """An all-digit last label is never a host name (RFC 3696): it was meant as an IPv4 address."""
    with pytest.raises(AddressError) as info:
        parse_address(typed)
    assert info.value.message.startswith(why)


@pytest.mark.parametrize("name", ["rig17", "miner-17.lan", "s19.rack4.example", "localhost"])
def test_host_names_still_pass(name):
    assert parse_address(name).address == name


@pytest.mark.parametrize("text", ["cgminer://10.0.4.17:4²", "serial:///dev/ttyUSB0?baud=1152\u00b2"])
def test_unicode_digits_in_a_port_or_baud_are_a_clear_error(text):
    """isdigit() accepts '²', which int() refuses: a ValueError escaped instead of AddressError."""
    with pytest.raises(AddressError):
        parse_address(text)

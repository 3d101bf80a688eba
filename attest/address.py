"""Device addresses as technicians type them: a host, a range, or one explicit endpoint URL.

The CLI and the GUI accept the same strings (DESIGN.md, "Devices, hosts and endpoints").
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

MAX_RANGE_HOSTS = 65536  # a /16; larger ranges are almost always a typo


class AddressError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PortProfile:
    """Where a host's endpoints listen; the defaults are the real firmware's ports."""

    api: int = 4028
    web: int = 80
    ssh: int = 22
    whatsminer: int = 4028
    whatsminer3: int = 4433  # Whatsminer API v3 (firmware from 2024 on): length-prefixed JSON
    grpc: int = 50051  # Braiins OS public API (gRPC)

    @classmethod
    def parse(cls, text: str | None) -> PortProfile:
        """``api=4028,web=8080,ssh=2222`` overrides the named ports."""
        if not text:
            return cls()
        values: dict[str, int] = {}
        for part in text.split(","):
            name, sep, number = part.partition("=")
            name = name.strip()
            if not sep or name not in cls.__dataclass_fields__:
                raise AddressError(f"bad port setting {part!r}: use api=PORT,web=PORT,ssh=PORT")
            values[name] = _port(number.strip(), part)
        return cls(**values)

    def to_text(self) -> str:
        return f"api={self.api},web={self.web},ssh={self.ssh}"


@dataclass(frozen=True)
class HostTarget:
    """Every endpoint the port profile finds on one host."""

    host: str

    @property
    def address(self) -> str:
        return self.host


@dataclass(frozen=True)
class RangeTarget:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    @property
    def address(self) -> str:
        return str(self.network)

    def hosts(self) -> list[str]:
        if self.network.num_addresses == 1:
            return [str(self.network.network_address)]
        return [str(h) for h in self.network.hosts()]


@dataclass(frozen=True)
class EndpointTarget:
    """One explicitly named endpoint, e.g. ``ssh://root@10.0.4.17:2222``."""

    kind: str  # api | web | whatsminer | whatsminer3 | grpc | epic | ssh | serial
    host: str  # serial: the pyserial URL or device path
    port: int  # serial: the baud rate
    username: str | None
    password: str | None
    text: str
    params: tuple[tuple[str, str], ...] = ()  # serial: parity, stay, prompt

    @property
    def address(self) -> str:
        return self.text


Target = HostTarget | RangeTarget | EndpointTarget

_SCHEMES = {"cgminer": ("api", 4028), "antminer+http": ("web", 80), "vnish+http": ("web", 80),
            "whatsminer": ("whatsminer", 4028), "ssh": ("ssh", 22), "braiins+grpc": ("grpc", 50051),
            "epic+http": ("epic", 4028)}


def _port(text: str, context: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:
        raise AddressError(f"bad port in {context!r}")
    return int(text)


def parse_address(text: str) -> Target:
    text = text.strip()
    if not text:
        raise AddressError("empty address")
    if text[:7].lower() == "serial:":
        return parse_serial(text)
    if "://" in text:
        return _parse_url(text)
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise AddressError(f"{text!r} is not a host, range (CIDR) or endpoint URL") from None
        if net.num_addresses > MAX_RANGE_HOSTS:
            raise AddressError(f"range {text} has {net.num_addresses} addresses; the limit is {MAX_RANGE_HOSTS}")
        return RangeTarget(net)
    _check_host(text)
    return HostTarget(text)


def _check_host(host: str) -> None:
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if labels[-1].isdigit():  # no top-level domain is all digits (RFC 3696): this was meant as an IPv4 address
        raise AddressError(_not_ipv4(host, labels))
    if not host or len(host) > 253 or not all(
        label and len(label) <= 63 and label.replace("-", "").isalnum() and not label.startswith("-")
        and not label.endswith("-") for label in labels
    ):
        raise AddressError(f"{host!r} is not a valid host name or IP address")


def _not_ipv4(host: str, labels: list[str]) -> str:
    too_big = [label for label in labels if label.isdigit() and int(label) > 255]
    if len(labels) == 4 and too_big:
        return f"{host!r} is not an IPv4 address: {too_big[0]} is more than 255"
    return f"{host!r} is not an IPv4 address: it needs four numbers from 0 to 255, like 10.0.4.17"


def _parse_url(text: str) -> EndpointTarget:
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        known = ", ".join(f"{s}://" for s in _SCHEMES)
        raise AddressError(f"unknown scheme {scheme}:// in {text!r}; known: {known}")
    kind, default_port = _SCHEMES[scheme]
    host = parts.hostname
    if not host:
        raise AddressError(f"no host in {text!r}")
    _check_host(host)
    try:
        port = parts.port or default_port
    except ValueError:
        raise AddressError(f"bad port in {text!r}") from None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    # Never keep the password in the address that reaches logs and screens.
    shown = f"{scheme}://{user + '@' if user else ''}{host}:{port}"
    return EndpointTarget(kind, host, port, user, password, shown)


SERIAL_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1500000)
_SERIAL_PARAMS = {"baud", "parity", "stay", "prompt"}


def parse_serial(text: str) -> EndpointTarget:
    """``serial:///dev/ttyUSB0?baud=115200``, ``serial:socket://HOST:PORT``, ``serial://COM3``.

    What follows ``serial:`` is a pyserial URL or a device path; ``USER[:PASS]@`` before the
    path names the Linux login. Options: ``baud`` (default 115200), ``parity`` (N/E/O),
    ``stay`` (bootloader | linux) and ``prompt`` (a vendor's U-Boot prompt, e.g. ``ant>``).
    """
    rest, _, query = text[7:].partition("?")
    user = password = None
    if rest.startswith("//") and not rest.startswith("///"):  # serial://[USER[:PASS]@]DEVICE
        userinfo, at, device = rest[2:].rpartition("@")
        if at:
            name, colon, secret = userinfo.partition(":")
            user, password = unquote(name) or None, unquote(secret) if colon else None
        rest = device
    elif rest.startswith("///"):
        rest = rest[2:]
    device = unquote(rest)
    if not device or any(c.isspace() for c in device):
        raise AddressError(f"no serial device in {text!r}: use serial:///dev/ttyUSB0 or serial:socket://HOST:PORT")
    params: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        if name not in _SERIAL_PARAMS:
            known = ", ".join(sorted(_SERIAL_PARAMS))
            raise AddressError(f"unknown serial option {name!r} in {text!r}; known: {known}")
        params[name] = unquote(value)
    baud_text = params.pop("baud", "115200")
    if not (baud_text.isascii() and baud_text.isdigit()) or int(baud_text) not in SERIAL_BAUDS:
        raise AddressError(f"bad baud rate {baud_text!r} in {text!r}; rigs use 115200")
    if params.get("parity", "N").upper() not in ("N", "E", "O", "M", "S"):
        raise AddressError(f"bad parity {params['parity']!r} in {text!r}: use N, E or O")
    if params.get("stay", "bootloader") not in ("bootloader", "linux"):
        raise AddressError(f"bad stay {params['stay']!r} in {text!r}: use bootloader or linux")
    shown_device = f"//{device}" if device.startswith("/") else device
    shown_query = "&".join(f"{k}={v}" for k, v in [("baud", baud_text), *sorted(params.items())]
                           if k != "baud" or v != "115200")
    # Never keep the password in the address that reaches logs and screens.
    shown = f"serial:{shown_device}" + (f"?{shown_query}" if shown_query else "")
    return EndpointTarget("serial", device, int(baud_text), user, password, shown, tuple(sorted(params.items())))

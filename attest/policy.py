"""The station policy (policy.toml): what this intake station accepts beyond the manifest.

Example::

    [pools]
    allow = ["stratum+tcp://pool.example-mining.net:3333", "*.braiins.com"]

    [credentials]
    allow_vendor_defaults = true   # try root/root etc. on units still at factory settings

    [timeouts]
    request = 5.0    # seconds for one request/reply
    hash = 120.0     # seconds for hashing flash partitions on the device

    [measure]
    max_bytes = 1073741824   # flash and miner binaries one rig may stream to the station
    seconds = 600.0          # ... and how long that may take, first byte to last

    [origin]
    countries = ["US"]           # accept only units whose signed origin is one of these
    sites = ["Houston TX"]

    [verify]
    concurrency = 64

    [egress]                      # what rigs may reach, judged when the network watch runs
    allow = ["pool.ntp.org", "*.pool.ntp.org"]   # host[:port] rules; the [pools] allow-list counts too
    vendor_update_hosts = ["firmware.example-mining.net"]
    allow_vendor_updates = false  # true: the vendor's update hosts are allowed as well
    watch_ports = [7000, 3333, 4444, 443, 80, 8080, 25, 1883]   # TCP ports the watch listens on
"""

from __future__ import annotations

import fnmatch
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from attest.canonical import canonical_json

MAX_POLICY_BYTES = 256 * 1024
#: Where rigs are known to connect: Antbleed's check-in (7000), stratum (3333, 4444), TLS (443),
#: HTTP (80, 8080), mail (25) and MQTT (1883).
DEFAULT_WATCH_PORTS = (7000, 3333, 4444, 443, 80, 8080, 25, 1883)


#: Defaults of [measure]: CollectOptions' own (attest.drivers.base), repeated so a policy file
#: that sets nothing keeps them.
MEASURE_MAX_BYTES = 1024 * 1024 * 1024
MEASURE_SECONDS = 600.0


class PolicyError(Exception):
    """The policy file cannot be used; ``message`` says which setting and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Policy:
    pool_allow: tuple[str, ...] | None = None  # None: pools are not judged
    allow_vendor_defaults: bool = True
    request_timeout: float = 5.0
    hash_timeout: float = 120.0
    origin_countries: tuple[str, ...] = ()
    origin_sites: tuple[str, ...] = ()
    concurrency: int = 64
    measure_max_bytes: int = MEASURE_MAX_BYTES  # per rig: flash and binaries streamed to the station
    measure_timeout: float = MEASURE_SECONDS
    source: dict[str, object] = field(default_factory=dict, compare=False)
    egress_allow: tuple[str, ...] | None = None  # None: no [egress] table, egress not judged
    egress_vendor_hosts: tuple[str, ...] = ()
    allow_vendor_updates: bool = False
    watch_ports: tuple[int, ...] = DEFAULT_WATCH_PORTS

    @property
    def digest(self) -> str:
        """Recorded with each verdict, so a log reader knows exactly which rules applied."""
        return "sha256:" + hashlib.sha256(canonical_json(self.source)).hexdigest()

    def pool_allowed(self, url: str) -> bool:
        if self.pool_allow is None:
            return True
        return any(_pool_matches(url, rule) for rule in self.pool_allow)

    def egress_rules(self) -> tuple[str, ...] | None:
        """What rigs may reach (host[:port] rules, wildcards allowed), None when not judged: the
        [egress] allow-list, the [pools] allow-list, and the vendor's update hosts if allowed."""
        if self.egress_allow is None:
            return None
        vendor = self.egress_vendor_hosts if self.allow_vendor_updates else ()
        return self.egress_allow + (self.pool_allow or ()) + vendor

    def egress_host_allowed(self, host: str, port: int | None = None) -> bool | None:
        """A name looked up (``port`` None) or reached by TLS name; None when egress is not judged."""
        rules = self.egress_rules()
        if rules is None:
            return None
        name = host.lower().rstrip(".")
        for rule in rules:
            rule_host, rule_port = _host_port(rule.strip())
            if name and fnmatch.fnmatchcase(name, rule_host) and (port is None or rule_port in (None, port)):
                return True
        return False

    def egress_port_allowed(self, port: int) -> bool | None:
        """A connection that names no host (no TLS name): allowed when a rule names its port."""
        rules = self.egress_rules()
        if rules is None:
            return None
        return any(_host_port(rule.strip())[1] == port for rule in rules)

    def is_vendor_update_host(self, host: str) -> bool:
        name = host.lower().rstrip(".")
        return any(fnmatch.fnmatchcase(name, _host_port(h.strip())[0]) for h in self.egress_vendor_hosts)

    def origin_allowed(self, origin: dict[str, str]) -> bool:
        if self.origin_countries and origin.get("assembled_in") not in self.origin_countries:
            return False
        return not (self.origin_sites and origin.get("site") not in self.origin_sites)


def _host_port(text: str) -> tuple[str, int | None]:
    parts = urlsplit(text if "://" in text else "//" + text)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "").lower(), port


def _pool_matches(url: str, rule: str) -> bool:
    """A rule is a host (wildcards allowed) with an optional port, or a full pool URL."""
    host, port = _host_port(url.strip())
    rule_host, rule_port = _host_port(rule.strip())
    if not host or not fnmatch.fnmatchcase(host, rule_host):
        return False
    return rule_port is None or rule_port == port


def load_policy(path: str | Path | None) -> Policy:
    if path is None:
        return Policy()
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise PolicyError(f"cannot read policy file {p}: {e.strerror}") from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(f"policy file {p} is larger than {MAX_POLICY_BYTES} bytes")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise PolicyError(f"policy file {p} is not valid TOML: {e}") from None
    return policy_from_dict(data)


def policy_from_dict(data: dict[str, object]) -> Policy:
    known = {"pools", "credentials", "timeouts", "origin", "verify", "egress", "measure"}
    unknown = set(data) - known
    if unknown:
        raise PolicyError(f"unknown policy section(s): {', '.join(sorted(unknown))}")
    pools = _table(data, "pools")
    creds = _table(data, "credentials")
    timeouts = _table(data, "timeouts")
    origin = _table(data, "origin")
    verify = _table(data, "verify")
    egress = _table(data, "egress")
    measure = _table(data, "measure")
    allow = pools.get("allow")
    return Policy(
        pool_allow=None if allow is None else _strings(allow, "pools.allow"),
        allow_vendor_defaults=_bool(creds.get("allow_vendor_defaults", True), "credentials.allow_vendor_defaults"),
        request_timeout=_positive(timeouts.get("request", 5.0), "timeouts.request"),
        hash_timeout=_positive(timeouts.get("hash", 120.0), "timeouts.hash"),
        origin_countries=_strings(origin.get("countries", []), "origin.countries"),
        origin_sites=_strings(origin.get("sites", []), "origin.sites"),
        concurrency=int(_positive(verify.get("concurrency", 64), "verify.concurrency")),
        measure_max_bytes=int(_positive(measure.get("max_bytes", MEASURE_MAX_BYTES), "measure.max_bytes")),
        measure_timeout=_positive(measure.get("seconds", MEASURE_SECONDS), "measure.seconds"),
        source=data,
        **_egress(egress, judged="egress" in data),
    )


def _egress(egress: dict[str, object], *, judged: bool) -> dict[str, object]:
    unknown = set(egress) - {"allow", "vendor_update_hosts", "allow_vendor_updates", "watch_ports"}
    if unknown:
        raise PolicyError(f"unknown [egress] setting(s): {', '.join(sorted(unknown))}")
    ports = egress.get("watch_ports", list(DEFAULT_WATCH_PORTS))
    if (not isinstance(ports, list) or not ports or len(ports) > 64
            or not all(isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports)):
        raise PolicyError("egress.watch_ports must be a list of 1 to 64 TCP port numbers")
    return {
        "egress_allow": _strings(egress.get("allow", []), "egress.allow") if judged else None,
        "egress_vendor_hosts": _strings(egress.get("vendor_update_hosts", []), "egress.vendor_update_hosts"),
        "allow_vendor_updates": _bool(egress.get("allow_vendor_updates", False), "egress.allow_vendor_updates"),
        "watch_ports": tuple(dict.fromkeys(ports)),
    }


def _table(data: dict[str, object], name: str) -> dict[str, object]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise PolicyError(f"[{name}] must be a table")
    return value


def _strings(value: object, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{name} must be a list of strings")
    return tuple(value)


def _bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise PolicyError(f"{name} must be true or false")
    return value


def _positive(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PolicyError(f"{name} must be a positive number")
    return float(value)

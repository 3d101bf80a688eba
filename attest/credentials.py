"""Credentials for device logins: from a file the station keeps, plus vendor defaults if allowed.

credentials.toml::

    [[credential]]
    hosts = "10.0.4.0/24"    # CIDR, a glob such as "10.0.4.*", or "*" (the default)
    kind = "ssh"             # ssh | web | serial | any (the default)
    username = "root"
    password = "..."

Passwords never reach the log, the transcript or the screen.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from attest.drivers.base import Credential

#: Factory logins of units still at vendor settings (Antminer web and SSH root/root, ...).
VENDOR_DEFAULTS: dict[str, tuple[Credential, ...]] = {
    # root/root: stock Antminer digest login; admin: VNish's unlock password.
    "web": (Credential("root", "root"), Credential("admin", "admin")),
    "ssh": (Credential("root", "root"), Credential("admin", "admin")),
    "grpc": (Credential("root", ""),),  # Braiins OS ships root with no password
    "serial": (Credential("root", "root"),),  # the Linux login on the console
}


class CredentialsError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CredentialRule:
    hosts: str
    kind: str
    credential: Credential = field(repr=False)

    def applies(self, host: str, kind: str) -> bool:
        if self.kind not in ("any", kind):
            return False
        if self.hosts == "*":
            return True
        if "/" in self.hosts:
            try:
                return ipaddress.ip_address(host) in ipaddress.ip_network(self.hosts, strict=False)
            except ValueError:
                return False
        return fnmatch.fnmatchcase(host, self.hosts)


@dataclass(frozen=True)
class Credentials:
    rules: tuple[CredentialRule, ...] = ()
    allow_vendor_defaults: bool = True

    def for_endpoint(self, host: str, kind: str,
                     explicit: Credential | None = None) -> tuple[Credential, ...]:
        """In the order to try: explicit, then the station's, then vendor defaults."""
        found: list[Credential] = [explicit] if explicit else []
        found += [r.credential for r in self.rules if r.applies(host, kind)]
        if self.allow_vendor_defaults:
            found += VENDOR_DEFAULTS.get(kind, ())
        return tuple(dict.fromkeys(found))


def load_credentials(path: str | Path | None, *, allow_vendor_defaults: bool) -> Credentials:
    if path is None:
        return Credentials((), allow_vendor_defaults)
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text("utf-8"))
    except OSError as e:
        raise CredentialsError(f"cannot read credentials file {p}: {e.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise CredentialsError(f"credentials file {p} is not valid TOML: {e}") from None
    rules = []
    for i, item in enumerate(data.get("credential", [])):
        if not isinstance(item, dict) or not isinstance(item.get("username"), str) \
                or not isinstance(item.get("password"), str):
            raise CredentialsError(f"credential #{i + 1} in {p} needs a username and a password")
        kind = item.get("kind", "any")
        if kind not in ("ssh", "web", "serial", "any"):
            raise CredentialsError(f"credential #{i + 1} in {p}: kind must be ssh, web, serial or any")
        rules.append(CredentialRule(str(item.get("hosts", "*")), kind,
                                    Credential(item["username"], item["password"])))
    return Credentials(tuple(rules), allow_vendor_defaults)

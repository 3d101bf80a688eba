"""Station settings kept in QSettings: who and where this station is, and how hard it checks.

Typed accessors so the rest of the GUI never parses QSettings' strings; a timeout or concurrency
of 0 means "what the station policy says", so a policy file stays the single place to set them
for a whole warehouse.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings

from attest.address import AddressError, PortProfile
from gui.theme import THEMES

ORGANISATION = "Rig Attest"
APPLICATION = "Rig Attest"


@dataclass
class StationSettings:
    station_name: str = ""
    operator: str = ""
    request_timeout: float = 0.0  # 0: from policy
    hash_timeout: float = 0.0  # 0: from policy
    concurrency: int = 0  # 0: from policy
    theme: str = "system"
    ports: str = ""  # "api=4028,web=80,ssh=22"; empty: the real firmware defaults
    trust_dir: str = ""
    policy_path: str = ""
    watch_address: str = ""  # "10.0.4.1" or "10.0.4.1:53": the network watch during checks; empty: off
    watch_seconds: float = 0.0  # 0: the default window (attest.watch_command.DEFAULT_WATCH_SECONDS)
    store_url: str = ""  # the warehouse store (postgresql://HOST/DB); empty: ATTEST_STORE, else none

    @property
    def station(self) -> str:
        return self.station_name or socket.gethostname()

    def port_profile(self) -> PortProfile:
        try:
            return PortProfile.parse(self.ports or None)
        except AddressError:
            return PortProfile()

    def policy_file(self) -> Path | None:
        return Path(self.policy_path) if self.policy_path else None


_FIELDS = {"station_name": str, "operator": str, "request_timeout": float, "hash_timeout": float,
           "concurrency": int, "theme": str, "ports": str, "trust_dir": str, "policy_path": str,
           "watch_address": str, "watch_seconds": float, "store_url": str}


def default_policy_path() -> Path:
    """Where the app writes a station policy when the operator has none yet."""
    return Path(platformdirs.user_config_dir("rig-attest")) / "policy.toml"


def load_settings(store: QSettings | None = None) -> StationSettings:
    qs = store or QSettings(ORGANISATION, APPLICATION)
    out = StationSettings()
    for name, kind in _FIELDS.items():
        raw = qs.value(f"station/{name}")
        if raw is None or raw == "":
            continue
        try:
            setattr(out, name, kind(raw))
        except (TypeError, ValueError):
            continue  # a hand-edited bad value falls back to the default
    if out.theme not in THEMES:
        out.theme = "system"
    return out


def save_settings(settings: StationSettings, store: QSettings | None = None) -> None:
    qs = store or QSettings(ORGANISATION, APPLICATION)
    for name in _FIELDS:
        qs.setValue(f"station/{name}", getattr(settings, name))
    qs.sync()

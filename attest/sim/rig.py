"""A simulated rig: everything a real one would say about itself, on every interface.

The protocol servers (api_server, web_server, ssh_server) render this one object; scenarios
change it. Plain data, deterministic from a seed, so a fleet is reproducible.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

# How a rig's interfaces behave, beyond what they say.
NORMAL = "normal"
UNRESPONSIVE = "unresponsive"  # accepts connections, never answers
GARBAGE = "garbage"  # answers with malformed bytes
SLOW = "slow"  # answers every request after about a second

SLOW_DELAY_SECONDS = 1.0

# How a rig's serial console behaves (attest.sim.console), beyond what it says.
SILENT = "silent"  # never sends a byte (TX wire off)
NOISY = "noisy"  # junk bytes, ANSI escapes and kernel lines on the line; now and then a garbled line
DROP = "drop"  # goes dead in the middle of a command (adapter pulled)
REBOOT = "reboot"  # the unit restarts in the middle of a command (brown-out, watchdog)


@dataclass(frozen=True)
class Release:
    """A firmware release as the vendor signs it in the manifest."""

    model: str
    version: str
    build: str
    images: dict[str, bytes]  # mtd partition name -> exact partition contents

    def digests(self) -> dict[str, str]:
        return {name: "sha256:" + hashlib.sha256(data).hexdigest() for name, data in self.images.items()}


@dataclass
class Hashboard:
    slot: int
    serial: str
    chips: int


@dataclass
class Pool:
    url: str
    user: str


@dataclass(frozen=True)
class AsBuilt:
    """The unit as the factory built it, before any scenario changed it."""

    model: str
    serial: str
    mac: str
    control_board_serial: str
    psu_serial: str
    hashboards: tuple[tuple[int, str, int], ...]  # (slot, serial, chips)


@dataclass
class Rig:
    name: str
    scenario: str
    family: str  # firmware family: "antminer" (bmminer API + web CGI + SSH), "whatsminer" (btminer
    # API v2), "whatsminer3" (API v3 on 4433), "avalon", "vnish", "braiins", "luxos", "epic" (HTTP on 4028)
    model: str
    host: str
    serial: str
    mac: str  # upper-case colon form, as Antminer web UIs print it
    control_board_serial: str
    psu_serial: str
    hashboards: list[Hashboard]
    firmware_version: str
    firmware_build: str
    images: dict[str, bytes]  # what the flash really holds, by mtd partition name
    miner_path: str  # /usr/bin/bmminer or /usr/bin/btminer
    miner_binary: bytes
    pools: list[Pool]
    config_partition: bytes = b""  # mutable, not a firmware image
    ssh_enabled: bool = True
    web_enabled: bool = True
    behaviour: str = NORMAL
    username: str = "root"  # vendor default for web digest auth and SSH
    password: str = field(default="root", repr=False)
    hostname: str = "Antminer"
    clone_of: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # extra files the SSH shell can read
    as_built: AsBuilt | None = None  # what the factory built: the manifest's entry for this unit
    console: str = NORMAL  # serial console behaviour: normal | silent | noisy | drop | reboot
    uboot_env: dict[str, str] = field(default_factory=dict)  # U-Boot variables added or replaced
    beacons: tuple[str, ...] = ()  # what it reaches beyond its pool and NTP (attest.sim.egress): antbleed, phone-home
    #: Partitions after the genuine ones that no signed release lists (name -> contents).
    extra_partitions: dict[str, bytes] = field(default_factory=dict)
    #: What the rig's own ``sha256sum`` hashes in place of a partition (name -> bytes): a modified
    #: rootfs whose busybox prints the genuine digests. ``cat`` still reads the real flash.
    self_report: dict[str, bytes] = field(default_factory=dict)
    #: The rig's SSH host key is derived from this (attest.sim.ssh_server.host_key_for): each rig
    #: its own, the same on every run; change it to give the rig a new key (a reflash does).
    host_key_seed: str = ""
    #: Family details the servers render (attest.sim.families): Avalon's version fields, a
    #: sleeping chain, a fork's own firmware version, ...
    extras: dict[str, Any] = field(default_factory=dict)

    def pool_config_json(self) -> bytes:
        """The miner's config file as the SSH shell serves it (/config/bmminer.conf style)."""
        import json

        conf = {
            "pools": [{"url": p.url, "user": p.user, "pass": "x"} for p in self.pools],
            "api-listen": True,
            "api-network": True,
            "api-allow": "W:0/0",
        }
        return json.dumps(conf, indent=1).encode()

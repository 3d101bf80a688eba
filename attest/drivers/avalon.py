"""Canaan Avalon on the cgminer API (TCP 4028): what ``version``, ``stats`` and ``devdetails`` say.

Canaan's cgminer adds its own keys to ``version`` (PROD, MODEL, HWTYPE, SWTYPE, LVERSION,
BVERSION, CGVERSION, DNA, MAC) and packs each module's facts into one ``MM ID<n>`` string of
``Key[value]`` fields in ``stats``/``estats`` (newer units, Avalon Q/Nano: ``MM ID0:Summary``
holding ``'STATS':{...}``, with per-board ``HBinfo``). No Avalon generation reports the unit's
serial number over the API: identity is the MAC and the controller's DNA (a chip id), which the
manifest lists for the unit (docs/protocols.md says which generation gives what). Everything here
is ``reported``. Reached through ``cgminer://`` once ``version`` names an Avalon.
"""

from __future__ import annotations

import re
from typing import Any

from attest.drivers.base import Endpoint, Session
from attest.drivers.cgminer_api import (
    MAX_SLOTS,
    Reply,
    call_joined,
    claim,
    dicts,
    first_dict,
    pool_claims,
    succeeded,
    text,
)
from attest.evidence import Claim

#: Modules an AUC chain can hold (cgminer's AVA10_DEFAULT_MODULARS is 64).
MAX_MODULES = 64
#: A module string longer than this is not Canaan's (real ones run to about 6 KiB, 42 KiB with debug).
MAX_MODULE_STRING = 64 * 1024
#: Fields read from one module string; real ones hold about a hundred.
MAX_FIELDS = 512

_FIELD = re.compile(r"(\w{1,32})\[([^\[\]]*)\]")
_MODULE_KEY = re.compile(r"MM ID(\d{1,2})(?::Summary)?")
_BOARD_KEY = re.compile(r"'HB(\d{1,2})':\{([^{}]*)\}")
_BOARDS_IN_STATUS = re.compile(r"Hash Board:\s*(\d{1,2})")


async def collect_over_api(endpoint: Endpoint, session: Session, version: Reply,
                           have: dict[str, Reply] | None = None) -> list[Claim]:
    """Claims from an Avalon whose ``version`` reply (and maybe more) is already in hand."""
    parts = await call_joined(endpoint, session, ("stats", "pools", "devdetails"), have=have)
    source = f"{endpoint.label} "
    claims = version_claims(version, source + "version")
    stats = parts["stats"]
    modules = module_strings(stats)
    if not modules:  # some builds keep the module strings for estats alone
        stats = (await call_joined(endpoint, session, ("estats",)))["estats"]
        modules = module_strings(stats)
    what = source + ("stats" if stats is parts["stats"] else "estats")
    for index, (fields, boards) in sorted(modules.items()):
        claims += module_claims(index, fields, boards, what)
    device = first_dict(parts["devdetails"].get("DEVDETAILS")) if succeeded(parts["devdetails"]) else None
    if device is not None:
        claims += claim("firmware.driver", text(device.get("Driver")), source + "devdetails")
    claims += pool_claims(parts["pools"], source + "pools")
    return claims


def version_claims(version: Reply, source: str) -> list[Claim]:
    entry = first_dict(version.get("VERSION")) if succeeded(version) else None
    if entry is None:
        return []
    claims = claim("unit.model", text(entry.get("PROD")), source)
    claims += claim("net.mac", text(entry.get("MAC")), source)
    claims += claim("control_board.serial", text(entry.get("DNA")), source)
    claims += claim("control_board.type", text(entry.get("HWTYPE")), source)
    claims += claim("firmware.type", text(entry.get("SWTYPE")), source)
    for key in ("LVERSION", "CGVERSION", "BVERSION"):
        if (found := text(entry.get(key))) is not None:
            claims += claim("firmware.version", found, source)
            break
    miner = text(entry.get("CGMiner"))
    claims += claim("firmware.miner.version", f"CGMiner {miner}" if miner else None, source)
    return claims


def module_strings(stats: Reply) -> dict[int, tuple[dict[str, str], dict[int, dict[str, str]]]]:
    """module index -> (its fields, its per-board fields from HBinfo), from every STATS entry."""
    if not succeeded(stats):
        return {}
    out: dict[int, tuple[dict[str, str], dict[int, dict[str, str]]]] = {}
    for entry in dicts(stats.get("STATS"), 8):
        boards = parse_boards(entry.get("HBinfo"))
        for key, value in list(entry.items())[:256]:
            match = _MODULE_KEY.fullmatch(str(key))
            if match is None or not isinstance(value, str) or len(value) > MAX_MODULE_STRING:
                continue
            index = int(match.group(1))
            if index < MAX_MODULES and index not in out:
                out[index] = (parse_fields(value), boards if index == 0 else {})
    return out


def parse_fields(module: str) -> dict[str, str]:
    """``Ver[1246-...] DNA[0201...] PS[0 1209 ...]`` -> {"Ver": ..., "DNA": ..., "PS": ...}.

    Real strings run fields together (``Elapsed[103840]BOOTBY[1]``) and may wrap them in
    ``'STATS':{...}``; the first occurrence of a key counts.
    """
    if module.startswith("'STATS':"):
        module = module[len("'STATS':"):]
    fields: dict[str, str] = {}
    for count, match in enumerate(_FIELD.finditer(module)):
        if count >= MAX_FIELDS:
            break
        fields.setdefault(match.group(1), match.group(2).strip())
    return fields


def parse_boards(value: Any) -> dict[int, dict[str, str]]:
    """Avalon Q's ``HBinfo``: ``'HB0':{PVT_T0[...] ...} 'HB1':{...}`` -> {0: fields, 1: fields}."""
    if not isinstance(value, str) or len(value) > MAX_MODULE_STRING:
        return {}
    return {int(m.group(1)): parse_fields(m.group(2)) for m in _BOARD_KEY.finditer(value)
            if int(m.group(1)) < MAX_SLOTS}


def module_claims(index: int, fields: dict[str, str], boards: dict[int, dict[str, str]],
                  source: str) -> list[Claim]:
    """One module's versions, DNA, boards and power supply. Module 0 is the unit itself on every
    generation from the 10 series on, so its boards are the unit's hashboards."""
    prefix = f"module.{index}"
    claims = claim(f"{prefix}.version", text(fields.get("Ver")), source)
    for key, name in (("LVer", "firmware"), ("BVer", "build"), ("HVer", "hardware"), ("FW", "release")):
        claims += claim(f"{prefix}.{name}", text(fields.get(key)), source)
    claims += claim(f"{prefix}.dna", text(fields.get("DNA")), source)
    claims += claim(f"{prefix}.status", text(fields.get("SYSTEMSTATU")), source)
    claims += claim(f"{prefix}.psu", text(fields.get("PS")), source)
    board_name = "hashboard" if index == 0 else f"{prefix}.hashboard"
    for slot, chips in board_chips(fields, boards).items():
        claims += claim(f"{board_name}.{slot}.chips", chips, source)
    return claims


def board_chips(fields: dict[str, str], boards: dict[int, dict[str, str]]) -> dict[int, int]:
    """Chips per board: the chips whose PVT_T<n> temperature is read (0 is a chip that is not).

    Without per-chip lists a board count from ``SYSTEMSTATU`` (``Hash Board: 3``) still names
    the slots, with no chip count, so nothing is claimed for them.
    """
    chips: dict[int, int] = {}
    for slot in range(MAX_SLOTS):
        temps = fields.get(f"PVT_T{slot}") or boards.get(slot, {}).get(f"PVT_T{slot}")
        if temps is None:
            continue
        values = temps.split()
        if len(values) <= 4096:
            chips[slot] = sum(1 for v in values if v not in ("0", "-"))
    return chips


def boards_reported(fields: dict[str, str]) -> int | None:
    match = _BOARDS_IN_STATUS.search(fields.get("SYSTEMSTATU", ""))
    return int(match.group(1)) if match else None

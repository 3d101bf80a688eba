"""Whatsminer (btminer) API v2 on TCP 4028: the read commands, no token.

btminer keeps cgminer's ``summary``/``pools``/``devdetails``/``edevs`` and adds ``get_*`` reads
with a flat STATUS and a ``Msg`` object. Together they name the unit serial, MAC, PSU serial and
each hashboard's serial - more identity than bmminer's API gives. Writes need a token and are
never sent. Claims are ``reported`` (docs/protocols.md).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, cast

from attest.drivers.base import NOT_THIS_FAMILY, CollectError, Endpoint, Session
from attest.drivers.cgminer_api import (
    MAX_SLOTS,
    Reply,
    call,
    call_joined,
    claim,
    count,
    dicts,
    first_dict,
    pool_claims,
    status_entry,
    succeeded,
    text,
)
from attest.evidence import Claim

NAME = "whatsminer"
KIND = "whatsminer"
DEFAULT_PORT = 4028
SCHEMES = ("whatsminer",)

#: btminer answers these only one at a time (pyasic: "get_ commands aren't supported" joined).
_GET_COMMANDS = ("get_version", "get_miner_info", "get_psu")
#: These join with "+" like cgminer's.
_CGMINER_COMMANDS = ("devdetails", "edevs", "pools", "summary")

# "M50S_VH40", "M30S+_VE40", "M31SV10", "M50S.VH40" -> the model before the hardware variant.
_VARIANT = re.compile(r"(?P<model>.+?)[_.]?V[A-Z]?\d+")


#: Where firmware from 2024 on answers API v3 (PortProfile.whatsminer3).
V3_PORT = 4433


async def collect(endpoint: Endpoint, session: Session) -> list[Claim]:
    """Claims from a ``whatsminer://`` endpoint; ``CollectError`` for every expected failure.

    API v3 is tried first (on the endpoint's port when it is 4433, else on 4433 of the same host):
    where it answers, it names more than v2 does. Otherwise API v2 on the endpoint's port.
    """
    from attest.drivers import whatsminer3  # v3 builds on this module's model parsing

    v3 = Endpoint(whatsminer3.KIND, endpoint.host, V3_PORT, endpoint.credentials, endpoint.params)
    try:
        return await whatsminer3.collect(v3, session)
    except CollectError:
        if endpoint.port == V3_PORT:
            raise
    return await collect_over_api(endpoint, session)


async def collect_over_api(endpoint: Endpoint, session: Session) -> list[Claim]:
    """Read a btminer API v2 (also reached through ``cgminer://`` once it answered as btminer).

    The requests go out together, as pyasic sends them to real units: a slow rig then costs one
    delay, not five, and an unresponsive one one timeout.
    """
    results = await asyncio.gather(
        *(call(endpoint, session, {"cmd": command}, command) for command in _GET_COMMANDS),
        call_joined(endpoint, session, _CGMINER_COMMANDS),
        return_exceptions=True,
    )
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, CollectError):
            raise result
    for result in results:
        if isinstance(result, CollectError):
            raise result
    get_version, get_miner_info, get_psu = (cast(Reply, result) for result in results[:3])
    parts = cast(dict[str, Reply], results[3])

    if not looks_like_btminer(get_version, parts["devdetails"]):
        raise CollectError(
            NOT_THIS_FAMILY, f"{endpoint.label}: neither get_version nor devdetails is btminer's"
        )
    source = f"{endpoint.label} "
    version, info, psu = _message(get_version), _message(get_miner_info), _message(get_psu)
    summary = first_dict(parts["summary"].get("SUMMARY")) if succeeded(parts["summary"]) else None
    summary = summary or {}

    claims = claim("unit.model", model_name(parts["devdetails"]), source + "devdetails")
    claims += claim("unit.serial", text(info.get("minersn")), source + "get_miner_info")
    claims += _first_of(
        "net.mac",
        (text(info.get("mac")), source + "get_miner_info"),
        (text(summary.get("MAC")), source + "summary"),
    )
    claims += _first_of(
        "psu.serial",
        (text(psu.get("serial_no")), source + "get_psu"),
        (text(info.get("powersn")), source + "get_miner_info"),
    )
    summary_version = text(summary.get("Firmware Version"))
    claims += _first_of(
        "firmware.version",
        (text(version.get("fw_ver")), source + "get_version"),
        # summary quotes it: "'20220322.16.Rel'"
        (text(summary_version.strip("'")) if summary_version else None, source + "summary"),
    )
    for slot, board in hashboards(parts["edevs"]).items():
        claims += claim(f"hashboard.{slot}.serial", text(board.get("PCB SN")), source + "edevs")
        claims += claim(f"hashboard.{slot}.chips", count(board.get("Effective Chips")), source + "edevs")
    claims += pool_claims(parts["pools"], source + "pools")
    return claims


def looks_like_btminer(get_version: Reply, devdetails: Reply) -> bool:
    """btminer says so in get_version (Msg.fw_ver, or its name in Description) or devdetails."""
    message = get_version.get("Msg")
    if isinstance(message, dict) and "fw_ver" in message:
        return True
    entry = status_entry(get_version) or {}
    description = str(entry.get("Description", ""))[:256].lower()
    if "whatsminer" in description or "btminer" in description:
        return True
    return any(
        str(device.get("Driver", ""))[:64].lower() == "bitmicro"
        for device in dicts(devdetails.get("DEVDETAILS"), MAX_SLOTS)
    )


def model_name(devdetails: Reply) -> str | None:
    """"Whatsminer " + devdetails' Model without its hardware variant ("M50S_VH40" -> "M50S")."""
    device = first_dict(devdetails.get("DEVDETAILS")) if succeeded(devdetails) else None
    model = text(device.get("Model")) if device is not None else None
    if model is None:
        return None
    match = _VARIANT.fullmatch(model)
    return "Whatsminer " + (match.group("model") if match else model)


def hashboards(edevs: Reply) -> dict[int, dict[str, Any]]:
    """Each board's DEVS entry by slot: ``Slot``, else ``ASC``, else its place in the list."""
    if not succeeded(edevs):
        return {}
    boards: dict[int, dict[str, Any]] = {}
    devices = edevs.get("DEVS")
    for index, device in enumerate(devices[:MAX_SLOTS] if isinstance(devices, list) else []):
        if not isinstance(device, dict):
            continue
        slot = count(device.get("Slot"))
        if slot is None:
            slot = count(device.get("ASC"))
        if slot is None:
            slot = index
        if slot < MAX_SLOTS and slot not in boards:
            boards[slot] = device
    return dict(sorted(boards.items()))


def _message(reply: Reply) -> dict[str, Any]:
    """A get_* reply's Msg object when the command succeeded, else empty."""
    message = reply.get("Msg")
    return message if succeeded(reply) and isinstance(message, dict) else {}


def _first_of(name: str, *candidates: tuple[str | None, str]) -> list[Claim]:
    """The claim from the first source that had the value."""
    for value, source in candidates:
        if value is not None:
            return claim(name, value, source)
    return []

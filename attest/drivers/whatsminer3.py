"""Whatsminer API v3 on TCP 4433 (firmware from 2024 on): the read commands only.

Each request is JSON after a 4-byte little-endian length, and so is the reply
(``{"code":0,"when":T,"msg":{...},"desc":CMD}``). ``get.device.info`` names the miner type, the
unit serial (``miner-sn``), each board's serial (``pcbsnN``), the MAC, the firmware and the PSU
serial; ``get.miner.status`` gives pools and boards. Only ``get.*`` commands are ever sent: the
writes (``set.*``) need a token derived from the admin password, and this driver has neither.
Claims are ``reported``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from attest.drivers.base import MALFORMED_REPLY, NOT_THIS_FAMILY, CollectError, Endpoint, Session
from attest.drivers.cgminer_api import MAX_POOLS, MAX_SLOTS, claim, count, text
from attest.drivers.jsonquirks import ApiJsonError, parse_api_json
from attest.drivers.whatsminer import model_name
from attest.evidence import Claim, printable
from attest.transport import tcp

NAME = "whatsminer3"
KIND = "whatsminer3"
DEFAULT_PORT = 4433
SCHEMES: tuple[str, ...] = ()  # reached as whatsminer://HOST:4433, or on a bare host

#: The only commands this driver sends: reads. A write can never leave this module.
READS = (("get.device.info", None), ("get.miner.status", "pools"), ("get.miner.status", "edevs"))

Reply = dict[str, Any]


async def identify(host: str, port: int, session: Session) -> str | None:
    """``"btminer-v3"`` when ``get.device.info`` answers in the v3 framing, for discovery."""
    try:
        reply = await call(Endpoint(KIND, host, port), session, "get.device.info", None)
    except CollectError:
        return None
    return "btminer-v3" if isinstance(reply.get("msg"), dict) else None


async def call(endpoint: Endpoint, session: Session, command: str, param: str | None) -> Reply:
    if not command.startswith("get."):
        raise ValueError(f"{command} is not a read; API v3 writes are never sent")
    payload = json.dumps({"cmd": command, "param": param}, separators=(",", ":")).encode()
    pending: list[tuple[str, bytes]] = []
    what = command if param is None else f"{command} {param}"
    try:
        raw = await tcp.request_length_prefixed(
            endpoint.host, endpoint.port, payload, timeout=session.options.timeout,
            max_bytes=session.options.max_reply_bytes,
            record=lambda direction, data: pending.append((direction, data)))
    except tcp.TransportError as exc:
        raise CollectError(exc.code, f"{endpoint.label} {what}: {exc.message}") from None
    finally:
        for direction, data in pending:
            session.transcript.record(endpoint.label, direction, data)
    try:
        reply = parse_api_json(raw)
    except ApiJsonError as exc:
        raise CollectError(MALFORMED_REPLY,
                           f"{endpoint.label} {what}: {exc}; reply began {printable(raw, 80)!r}") from None
    if not isinstance(reply.get("code"), int) or isinstance(reply.get("code"), bool):
        raise CollectError(NOT_THIS_FAMILY, f"{endpoint.label} {what}: not a Whatsminer API v3 reply (no code)")
    return reply


async def collect(endpoint: Endpoint, session: Session) -> list[Claim]:
    """Claims from API v3; ``CollectError`` for every expected failure."""
    # All three reads at once (one connection each, as the firmware expects): one round trip.
    first, *results = await asyncio.gather(*(call(endpoint, session, c, p) for c, p in READS),
                                           return_exceptions=True)
    if isinstance(first, BaseException):
        raise first
    info = first
    if not isinstance(info.get("msg"), dict) or info.get("code") != 0:
        raise CollectError(NOT_THIS_FAMILY, f"{endpoint.label} get.device.info: no device information in the reply "
                           f"(code {printable(str(info.get('code')), 20)})")
    status: list[Reply] = []
    for result in results:
        if isinstance(result, CollectError):
            session.note_failure(endpoint.label, result)  # the device info still stands
        elif isinstance(result, BaseException):
            raise result
        else:
            status.append(result)
    return device_claims(info["msg"], f"{endpoint.label} get.device.info") + status_claims(
        status, f"{endpoint.label} get.miner.status")


def _section(message: dict[str, Any], name: str) -> dict[str, Any]:
    value = message.get(name)
    return value if isinstance(value, dict) else {}


def device_claims(message: dict[str, Any], source: str) -> list[Claim]:
    miner, system = _section(message, "miner"), _section(message, "system")
    network, power = _section(message, "network"), _section(message, "power")
    claims = claim("unit.model", model_name({"STATUS": [{"STATUS": "S"}],
                                              "DEVDETAILS": [{"Model": miner.get("type")}]}), source)
    claims += claim("unit.serial", text(miner.get("miner-sn")), source)
    claims += claim("net.mac", text(network.get("mac")), source)
    claims += claim("psu.serial", text(power.get("sn")), source)
    claims += claim("firmware.version", text(system.get("fwversion")), source)
    claims += claim("control_board.type", text(system.get("platform")), source)
    for slot in range(MAX_SLOTS):
        claims += claim(f"hashboard.{slot}.serial", text(miner.get(f"pcbsn{slot}")), source)
    return claims


def status_claims(replies: list[Reply], source: str) -> list[Claim]:
    claims: list[Claim] = []
    for reply in replies:
        message = reply.get("msg") if reply.get("code") == 0 else None
        if not isinstance(message, dict):
            continue
        pools = message.get("pools")
        for index, pool in enumerate(pools[:MAX_POOLS] if isinstance(pools, list) else []):
            if isinstance(pool, dict):
                claims += claim(f"config.pool.{index}.url", text(pool.get("url")), source + " pools")
        edevs = message.get("edevs")
        for index, board in enumerate(edevs[:MAX_SLOTS] if isinstance(edevs, list) else []):
            if isinstance(board, dict):
                slot = count(board.get("id"))
                slot = index if slot is None or slot >= MAX_SLOTS else slot
                claims += claim(f"hashboard.{slot}.chips", count(board.get("effective-chips")), source + " edevs")
    return claims

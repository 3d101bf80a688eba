"""VNish (AnthillOS) on an Antminer: its REST API under /api/v1 on the web port, with its unlock.

``/api/v1/info`` (open to anyone) names the model, the unit serial (``N/A`` when the EEPROM
holds none), the MAC and the firmware; ``/api/v1/chains/factory-info`` the PSU serial and each
chain's serial (chain ids count from 1); ``/api/v1/summary`` needs the token that
``POST /api/v1/unlock {"pw": ...}`` returns, and gives the pools. Each page stands alone: one
that fails costs its own claims. The firmware is VNish's, never the manufacturer's: its version
is claimed as ``Vnish <version>``. Reached from the web endpoint when the Bitmain CGIs are gone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from attest.drivers.base import AUTH_FAILED, MALFORMED_REPLY, NOT_THIS_FAMILY, CollectError, Endpoint, Session
from attest.drivers.cgminer_api import MAX_POOLS, MAX_SLOTS, claim, count, text
from attest.evidence import Claim, printable
from attest.transport.errors import TransportError
from attest.transport.http import HttpClient, HttpReply

INFO = "/api/v1/info"
FACTORY = "/api/v1/chains/factory-info"
SUMMARY = "/api/v1/summary"
UNLOCK = "/api/v1/unlock"


def _document(reply: HttpReply, endpoint: Endpoint, path: str) -> Any:
    if reply.status in (401, 403):
        raise CollectError(AUTH_FAILED, f"{endpoint.label} {path}: refused (HTTP {reply.status})")
    if reply.status == 404:
        raise CollectError(NOT_THIS_FAMILY, f"{endpoint.label} {path}: not found (HTTP 404)")
    if reply.status != 200:
        raise CollectError(MALFORMED_REPLY, f"{endpoint.label} {path}: unexpected HTTP status {reply.status}")
    try:
        return json.loads(reply.body.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        raise CollectError(MALFORMED_REPLY, f"{endpoint.label} {path}: not JSON: "
                           f"{printable(reply.body, 120)}") from None


async def looks_like_vnish(client: HttpClient, endpoint: Endpoint) -> dict[str, Any] | None:
    """The info document when ``/api/v1/info`` answers as VNish's, else None."""
    try:
        document = _document(await client.get(INFO), endpoint, INFO)
    except CollectError:
        return None
    if isinstance(document, dict) and str(document.get("fw_name", ""))[:32].lower() == "vnish":
        return document
    return None


async def collect_over_web(client: HttpClient, endpoint: Endpoint, session: Session,
                           info: dict[str, Any], open_client: Callable[[], HttpClient]) -> list[Claim]:
    """Claims from a VNish web API whose info document is in hand. The open factory page and the
    unlock-then-summary exchange run at once, on two connections (no digest to repeat here)."""
    label = endpoint.label

    async def factory() -> list[Claim]:
        try:
            return factory_claims(_document(await client.get(FACTORY), endpoint, FACTORY), f"{label} {FACTORY}")
        except CollectError as exc:
            session.note_failure(label, exc)
            return []

    async def unlocked() -> list[Claim]:
        async with open_client() as other:
            token = await _unlock(other, endpoint, session)
            if token is None:
                return []
            try:
                reply = await other.get(SUMMARY, headers={"Authorization": f"Bearer {token}"})
                return summary_claims(_document(reply, endpoint, SUMMARY), f"{label} {SUMMARY}")
            except CollectError as exc:
                session.note_failure(label, exc)
                return []

    async def alone(read: Callable[[], Any]) -> list[Claim]:
        """A page that fails on the wire costs its own claims; info's stand."""
        try:
            return await read()
        except TransportError as exc:
            session.note_failure(label, CollectError(exc.code, f"{label} {printable(exc.message)}"))
            return []

    pages, summary = await asyncio.gather(alone(factory), alone(unlocked))
    return info_claims(info, f"{label} {INFO}") + pages + summary


async def _unlock(client: HttpClient, endpoint: Endpoint, session: Session) -> str | None:
    """The token for the first password VNish accepts; the refusal is a problem, not the end."""
    for credential in endpoint.credentials:
        body = json.dumps({"pw": credential.password}).encode()
        reply = await client.post(UNLOCK, body, headers={"Content-Type": "application/json"}, secret=True)
        if reply.status == 200:
            try:
                token = json.loads(reply.body.decode("utf-8", errors="replace")).get("token")
            except (ValueError, AttributeError, RecursionError):
                token = None
            if isinstance(token, str) and 0 < len(token) <= 512 and token.isprintable():
                return token
    session.note_failure(endpoint.label, CollectError(
        AUTH_FAILED, f"{endpoint.label} {UNLOCK}: no password tried unlocked VNish's API, so "
        f"{SUMMARY} (pools) was not read"))
    return None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def info_claims(info: dict[str, Any], source: str) -> list[Claim]:
    network = _obj(_obj(info.get("system")).get("network_status"))
    claims = claim("unit.model", text(info.get("miner")), source)
    claims += claim("unit.serial", text(info.get("serial")), source)
    claims += claim("net.mac", text(network.get("mac")), source)
    version = text(info.get("fw_version"))
    claims += claim("firmware.version", f"Vnish {version}" if version else None, source)
    claims += claim("firmware.build", text(info.get("build_time")), source)
    claims += claim("control_board.type", text(info.get("platform")), source)
    return claims


def factory_claims(factory: Any, source: str) -> list[Claim]:
    factory = _obj(factory)
    claims = claim("psu.serial", text(factory.get("psu_serial")), source)
    chains = factory.get("chains")
    for chain in chains[:MAX_SLOTS] if isinstance(chains, list) else []:
        chain = _obj(chain)
        number = count(chain.get("id"))
        if number is not None and 1 <= number <= MAX_SLOTS:
            claims += claim(f"hashboard.{number - 1}.serial", text(chain.get("serial")), source)
    return claims


def summary_claims(summary: Any, source: str) -> list[Claim]:
    miner = _obj(_obj(summary).get("miner"))
    claims: list[Claim] = []
    pools = [p for p in (miner.get("pools") or [])[:MAX_POOLS] if isinstance(p, dict)] \
        if isinstance(miner.get("pools"), list) else []
    for index, pool in enumerate(p for p in pools if p.get("pool_type") != "DevFee"):
        claims += claim(f"config.pool.{index}.url", text(pool.get("url")), source)
    chains = miner.get("chains")
    for chain in chains[:MAX_SLOTS] if isinstance(chains, list) else []:
        chain = _obj(chain)
        number, statuses = count(chain.get("id")), _obj(chain.get("chip_statuses"))
        chips = [count(statuses.get(k)) for k in ("red", "orange", "grey")]
        if number is not None and 1 <= number <= MAX_SLOTS and all(c is not None for c in chips):
            claims += claim(f"hashboard.{number - 1}.chips", sum(c or 0 for c in chips), source)
    return claims

"""A simulated Whatsminer's API v3 on TCP 4433: JSON after a 4-byte little-endian length, both ways.

``get.device.info`` (network, miner, system, power sections; ``param`` picks one) and
``get.miner.status`` (``summary``, ``pools``, ``edevs``) answer as firmware from 2024 on does;
every ``set.*`` without the token its admin password derives is refused, as is any unknown
command. One request per connection is enough for every client we know (pyasic opens one per
command), but the server keeps reading requests until the client closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from attest.sim.rig import SLOW, SLOW_DELAY_SECONDS, UNRESPONSIVE, Rig

MAX_REQUEST_BYTES = 64 * 1024
IDLE_SECONDS = 10.0


def device_info(rig: Rig) -> dict[str, Any]:
    octets = rig.host.split(".")
    gateway = ".".join([*octets[:3], "1"]) if len(octets) == 4 else ""
    miner: dict[str, Any] = {
        "working": "true", "type": rig.extras.get("v3_type", "M60S_VK30"), "hash-board": "K30",
        "detect-hash-rate": ":".join("74000" for _ in rig.hashboards), "cointype": "BTC/BCH/BSV",
        "pool-strategy": "FAILOVER", "heatmode": "", "hash-percent": "", "eeprom-liquid-cooling": "0-0-0",
        "miner-sn": rig.serial, "board-num": len(rig.hashboards),
    }
    for board in sorted(rig.hashboards, key=lambda b: b.slot):
        miner[f"chipdata{board.slot}"] = "K30Z001-2410 BINV04-193001D"
        miner[f"pcbsn{board.slot}"] = board.serial
    return {
        "network": {"ip": rig.host, "proto": "dhcp", "netmask": "255.255.255.0", "dns": gateway,
                    "mac": rig.mac, "gateway": gateway, "hostname": rig.hostname},
        "miner": miner,
        "system": {"api": "3.0.1", "platform": "H6OS", "fwversion": rig.firmware_version,
                   "control-board-version": "CB6V10", "btrom": "4.2", "ledstatus": "auto"},
        "power": {"type": "P222B", "mode": "normal", "hwversion": "V01.00", "swversion": "V01.05",
                  "model": "P222B", "iin": 16.3, "vin": 221.0, "pin": 3610, "fanspeed": 6100,
                  "sn": rig.psu_serial, "vendor": 2},
        "error-code": [],
    }


def miner_status(rig: Rig, param: Any, elapsed: int) -> dict[str, Any]:
    wanted = str(param or "summary")
    out: dict[str, Any] = {}
    if "summary" in wanted:
        out["summary"] = {"elapsed": elapsed, "hash-realtime": 221.4, "hash-average": 221.0,
                          "factory-hash": 222.0, "power-realtime": 3610, "power-limit": 3650,
                          "environment-temperature": 24.0}
    if "pools" in wanted:
        out["pools"] = [{"id": index + 1, "url": pool.url, "status": "alive", "account": pool.user,
                         "stratum-active": index == 0, "reject-rate": 0.0} for index, pool in enumerate(rig.pools)]
    if "edevs" in wanted:
        out["edevs"] = [{"id": board.slot, "slot": board.slot, "hash-average": 73.7,
                         "effective-chips": board.chips, "chip-temp-min": 61.0, "chip-temp-max": 78.0,
                         "freq": 560} for board in sorted(rig.hashboards, key=lambda b: b.slot)]
    return out


def answer(rig: Rig, request: bytes, elapsed: int) -> dict[str, Any]:
    now = int(time.time())
    try:
        parsed = json.loads(request.decode("utf-8", errors="replace"))
    except ValueError:
        return {"code": -1, "when": now, "msg": "invalid json", "desc": ""}
    if not isinstance(parsed, dict) or not isinstance(parsed.get("cmd"), str):
        return {"code": -1, "when": now, "msg": "invalid command", "desc": ""}
    command, param = parsed["cmd"], parsed.get("param")
    if command.startswith("set."):
        return {"code": -4, "when": now, "msg": "permission denied", "desc": command}
    if command == "get.device.info":
        info = device_info(rig)
        if param == "salt":
            return {"code": 0, "when": now, "msg": {"salt": "BQ5hoXV9"}, "desc": command}
        msg = {param: info[param]} if isinstance(param, str) and param in info else info
        return {"code": 0, "when": now, "msg": msg, "desc": command}
    if command == "get.miner.status":
        return {"code": 0, "when": now, "msg": miner_status(rig, param, elapsed), "desc": command}
    return {"code": -2, "when": now, "msg": "invalid command", "desc": command}


async def start_v3_server(rig: Rig, host: str, port: int) -> asyncio.Server:
    started = time.monotonic()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                async with asyncio.timeout(IDLE_SECONDS):
                    head = await reader.readexactly(4)
                    length = int.from_bytes(head, "little")
                    if length > MAX_REQUEST_BYTES:
                        return
                    body = await reader.readexactly(length)
                if rig.behaviour == UNRESPONSIVE:
                    await reader.read()
                    return
                if rig.behaviour == SLOW:
                    await asyncio.sleep(SLOW_DELAY_SECONDS)
                reply = json.dumps(answer(rig, body, int(time.monotonic() - started) + 3600)).encode()
                writer.write(len(reply).to_bytes(4, "little") + reply)
                await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), IDLE_SECONDS)

    return await asyncio.start_server(serve, host, port, reuse_address=True)

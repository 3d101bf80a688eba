"""A simulated VNish (AnthillOS) web UI: its REST API under /api/v1, unlocked with a password.

``POST /api/v1/unlock {"pw": ...}`` answers ``{"token": ...}``; ``/api/v1/summary`` needs
``Authorization: Bearer <token>`` and answers 401 without it; ``/api/v1/info``,
``/api/v1/status``, ``/api/v1/model`` and ``/api/v1/chains/factory-info`` answer anyone, as
VNish's documentation shows. ``/`` is the AnthillOS single-page app. The legacy Bitmain CGIs are
gone (404), so a client that asks for them learns this is not stock firmware. Writes are not
served. Field names follow VNish 1.2.x; chain ids count from 1.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import h11

from attest.sim.rig import Rig
from attest.sim.web_server import HttpReply, html_reply, json_reply, status_reply

_APP = (b'<!DOCTYPE html><html><head><meta charset="utf-8"><title>AnthillOS</title></head>'
        b'<body><div id="app">AnthillOS</div><script src="/assets/index.js"></script></body></html>\n')


def info(rig: Rig) -> dict[str, Any]:
    version = rig.firmware_version.removeprefix("Vnish ")
    return {
        "miner": rig.model, "model": rig.model.removeprefix("Antminer ").replace(" ", "").lower(),
        "fw_name": "Vnish", "fw_version": version, "build_uuid": "5b50805f-a372-4f07-bbc2-5020aa03321a",
        "build_name": "vnishnet", "platform": "xil", "install_type": "nand", "build_time": rig.firmware_build,
        "algorithm": "sha256d", "hr_measure": "GH/s",
        "system": {"os": "GNU/Linux", "miner_name": rig.hostname, "file_system_version": "",
                   "mem_total": 233712, "mem_free": 173956, "mem_free_percent": 74,
                   "network_status": {"mac": rig.mac, "dhcp": True, "ip": rig.host, "netmask": "255.255.255.0",
                                      "gateway": "", "dns": [], "hostname": rig.hostname},
                   "uptime": "1:00"},
        "serial": rig.serial,
    }


def factory_info(rig: Rig) -> dict[str, Any]:
    return {"hr_stock": 110000.0, "has_pics": True, "psu_model": "APW12_1215c", "psu_serial": rig.psu_serial,
            "chains": [{"id": board.slot + 1, "serial": board.serial, "chip_bin": 1, "freq": 675,
                        "hr_stock": round(110000.0 / len(rig.hashboards), 1)}
                       for board in sorted(rig.hashboards, key=lambda b: b.slot)]}


def summary(rig: Rig) -> dict[str, Any]:
    return {"miner": {
        "miner_status": {"miner_state": "mining", "miner_state_time": 3600},
        "miner_type": f"{rig.model} ({rig.firmware_version})",
        "hr_stock": 110000.0, "average_hashrate": 109800.0, "hr_realtime": 109900.0, "hr_nominal": 110000.0,
        "pcb_temp": {"min": 48, "max": 61}, "chip_temp": {"min": 60, "max": 74},
        "power_consumption": 3250, "power_usage": 3250, "power_efficiency": 29.6,
        # VNish lists its own dev-fee connection first, as a pool of type DevFee.
        "pools": [{"id": 0, "url": "DevFee", "pool_type": "DevFee", "user": "DevFee", "status": "working",
                   "accepted": 2, "rejected": 0, "stale": 0}]
        + [{"id": index + 1, "url": pool.url, "pool_type": "UserPool", "user": pool.user, "status": "working",
            "accepted": 120, "rejected": 0, "stale": 0} for index, pool in enumerate(rig.pools)],
        "cooling": {"fan_num": 4, "fans": [{"id": n, "rpm": 5880, "status": "ok"} for n in range(4)]},
        "chains": [{"id": board.slot + 1, "frequency": 675.0, "voltage": 13800, "hashrate_rt": 36600.0,
                    "hashrate_ideal": 36666.0, "chip_statuses": {"red": 0, "orange": 0, "grey": board.chips},
                    "status": {"state": "mining"}} for board in sorted(rig.hashboards, key=lambda b: b.slot)],
    }}


def vnish_responder(rig: Rig) -> Callable[[h11.Request, bytes], HttpReply]:
    """The REST API for one rig; tokens live as long as the simulator."""
    tokens: set[str] = set()
    password = str(rig.extras.get("vnish_password", "admin"))

    def respond(request: h11.Request, body: bytes) -> HttpReply:
        path = request.target.split(b"?", 1)[0].decode("ascii", "replace")
        if path == "/api/v1/unlock":
            if request.method != b"POST":
                return status_reply(405, (b"Allow", b"POST"))
            try:
                pw = json.loads(body.decode("utf-8")).get("pw")
            except (ValueError, AttributeError):
                return json_reply({"err": "bad request"}, 400)
            if pw != password:
                return json_reply({"err": "wrong password"}, 401)
            token = secrets.token_urlsafe(24)
            tokens.add(token)
            return json_reply({"token": token})
        if request.method not in (b"GET", b"HEAD"):
            return status_reply(405, (b"Allow", b"GET, HEAD"))
        if path == "/api/v1/info":
            return json_reply(info(rig))
        if path == "/api/v1/status":
            return json_reply({"miner_state": "mining", "miner_state_time": 3600, "find_miner": False,
                               "restart_required": False, "reboot_required": False, "unlocked": False})
        if path == "/api/v1/chains/factory-info":
            return json_reply(factory_info(rig))
        if path == "/api/v1/summary":
            auth = next((v for n, v in request.headers if n == b"authorization"), b"").decode("latin-1")
            if auth.removeprefix("Bearer ").strip() not in tokens:
                return json_reply({"err": "unauthorized"}, 401)
            return json_reply(summary(rig))
        if path in ("/", "/index.html"):
            return html_reply(_APP)
        return status_reply(404)

    return respond

"""A simulated ePIC (PowerPlay-BMS) rig: ePIC's HTTP API on TCP 4028 and its web dashboard on 80.

ePIC's firmware serves a REST API where the cgminer socket API would be: ``GET /summary`` (state,
software, hashboards, pools), ``GET /capabilities`` (model, control board, board serials),
``GET /network`` (MAC by interface kind), ``GET /hashrate`` (each board's chips), all open to
anyone, and password-protected ``POST`` writes (``/coin``, ``/miner``, ``/reboot``, ...) that take
``{"password": ..., "param": ...}``. The shapes follow the public clients (pyasic's ePIC backend,
asic-rs's PowerPlay backend, ePIC's own dashboard and tuners written against PowerPlay-BMS);
the replies are written here from those shapes, with the quirks the readers have to live with:
``Board Serial Numbers`` is a bare list (no slot index) of the boards that answer, the current
pool is written without its ``stratum+tcp://`` scheme, and the unit's serial is nowhere.

A cgminer client's request (``{"command":...}``) is not HTTP: the server answers ``400 Bad
Request`` at once and closes, as an HTTP server with an incremental request parser does. The
dashboard on port 80 is a single-page app whose title is "Miner Web Dashboard" (what pyasic and
asic-rs look for); it holds no identity. Writes are refused: no simulated rig takes one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import h11

from attest.sim.rig import Rig
from attest.sim.web_server import HttpReply, WebServer, html_reply, json_reply, start_http_server

#: ePIC's firmware as it names itself in ``Software`` (the API writes "<name> v<version>").
SOFTWARE_NAME = "PowerPlay-BMS"
VERSION = "1.24.0"
#: Shipped with every ePIC build; the simulator refuses writes whatever the password.
DEFAULT_PASSWORD = "letmein"

_DASHBOARD = (b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Miner Web Dashboard</title>'
              b'<script type="module" src="/assets/index.js"></script></head>'
              b'<body><div id="root"></div></body></html>\n')
_NOT_FOUND = HttpReply(404, b"text/plain; charset=utf-8", b"")


def software(rig: Rig) -> str:
    return rig.firmware_version


def _chip_rate_mhs(rig: Rig) -> float:
    return 275_000.0 if "S19j" in rig.model else 300_000.0  # MH/s per chip: about 104 TH/s for an S19j Pro


def _boards(rig: Rig) -> list[Any]:
    return sorted(rig.hashboards, key=lambda b: b.slot)


def summary(rig: Rig, uptime: int) -> dict[str, Any]:
    """``GET /summary``: what the dashboard's table shows. No serial and no MAC (see /network)."""
    pools = rig.pools
    current = pools[0].url.split("://", 1)[-1] if pools else ""
    boards = [{
        "Index": b.slot, "Input Voltage": 14.21, "Output Voltage": 13.62, "Input Current": 74.5,
        "Output Current": 77.3, "Input Power": 1058.6, "Output Power": 1052.1, "Temperature": 61.5,
        "Core Clock": [525.0] * min(b.chips, 8), "Core Clock Avg": 525.0,
        "Hashrate": [round(b.chips * _chip_rate_mhs(rig), 1), 99.6],
    } for b in _boards(rig)]
    started = int(time.time()) - uptime
    return {
        "Status": {"Operating State": "Mining", "Last Error": None, "Last Error Code": None},
        "Hostname": rig.hostname,
        "PresetInfo": {"Preset": "Default", "Target Power": 3175},
        "Software": software(rig),
        "Mining": {"Coin": "Btc", "Algorithm": "Sha256"},
        "Session": {
            "Startup Timestamp": started, "Startup String": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)),
            "Uptime": uptime, "Last Work Timestamp": started + uptime, "WorkReceived": 4120,
            "Active HBs": len(boards), "Average MHs": sum(b["Hashrate"][0] for b in boards),
            "LastAverageMHs": {"Hashrate": sum(b["Hashrate"][0] for b in boards), "Timestamp": started + uptime},
            "Accepted": 1184, "Rejected": 1, "Submitted": 1185, "Last Accepted Share Timestamp": started + uptime,
            "Difficulty": 65536.0,
        },
        "Stratum": {"Current Pool": current, "Current User": pools[0].user if pools else "",
                    "IsPoolConnected": bool(pools), "Average Latency": 31.2, "Config Id": 0,
                    "Worker Unique Id": False},
        "StratumConfigs": [{"pool": p.url, "login": p.user, "password": "x"} for p in pools],
        "HBs": boards,
        "HBStatus": [{"Index": b.slot, "Enabled": True, "Detected": True} for b in _boards(rig)],
        "Fans": {"Fans Speed": 60},
        "Fans Rpm": {f"Fans Speed {n}": 5880 + 30 * n for n in range(1, 5)},
        "Power Supply Stats": {"Input Power": 3240.0, "Input Voltage": 231.4, "Input Current": 14.0,
                               "Output Voltage": 13.62, "Output Current": 231.9},
        "PerpetualTune": {"Running": True, "Algorithm": {"BoardTune": {
            "Optimized": True, "Target": 3175, "Throttle Target": 3175, "Min Throttle Target": 2000,
            "Throttle Step": 5}}},
        "Misc": {"Locate Miner State": False, "Shutdown Temp": 95.0, "Critical Temp": 105.0,
                 "Idle When Connection Lost": False},
    }


def capabilities(rig: Rig) -> dict[str, Any]:
    """``GET /capabilities``: the model, the control board's CPU and the boards' EEPROM serials.

    ``Board Serial Numbers`` has no slot index: it lists the boards that answer, in slot order.
    """
    chips = rig.hashboards[0].chips if rig.hashboards else 0
    return {
        "Model": rig.model,
        "Model Subtype": rig.model.removeprefix("Antminer ").replace(" ", ""),
        "Chip Type": "BM1362" if "S19j" in rig.model else "BM1398",
        "Max HBs": len(rig.hashboards), "Min HBs": 1,
        "Board Serial Numbers": [b.serial for b in _boards(rig)],
        "Control Board Version": {"cpuHardware": str(rig.extras.get("cpu_hardware", "Amlogic")),
                                  "cpuSerial": rig.control_board_serial,
                                  "cpuRevision": "020b"},
        "Performance Estimator": {"Chip Count": chips, "Max Clock": 750, "Min Clock": 300},
        "Default Hashrate": round(chips * len(rig.hashboards) * _chip_rate_mhs(rig) / 1e6, 1),
        "Psu Info": {"Min Vout": 11877, "Max Vout": 15182},
        "Presets": [{"Name": "Default", "Target Power": 3175}],
        "Coins": ["Btc"],
    }


def network(rig: Rig) -> dict[str, Any]:
    """``GET /network``: one entry per configuration kind (``dhcp`` or ``static``)."""
    return {"dhcp": {"interface": "eth0", "mac_address": rig.mac.lower(), "address": rig.host,
                     "netmask": "255.255.255.0", "gateway": "", "dns": []}}


def hashrate(rig: Rig) -> list[dict[str, Any]]:
    """``GET /hashrate``: per board, each chip's ``[MH/s, percent of ideal]``."""
    rate = _chip_rate_mhs(rig)
    return [{"Index": b.slot, "Data": [[rate, 99.6]] * b.chips, "Total": [round(rate * b.chips, 1), 99.6]}
            for b in _boards(rig)]


def api_responder(rig: Rig) -> Callable[[h11.Request, bytes], HttpReply]:
    """ePIC's API on 4028: open reads, writes refused (a wrong password, or no writes here)."""
    started = time.monotonic()
    pages: dict[str, Callable[[], Any]] = {
        "/summary": lambda: summary(rig, int(time.monotonic() - started) + 3600),
        "/capabilities": lambda: capabilities(rig),
        "/network": lambda: network(rig),
        "/hashrate": lambda: hashrate(rig),
    }

    def respond(request: h11.Request, body: bytes) -> HttpReply:
        path = request.target.split(b"?", 1)[0].decode("ascii", "replace")
        if request.method == b"POST":
            try:
                password = json.loads(body.decode("utf-8")).get("password")
            except (ValueError, AttributeError):
                return json_reply({"result": False, "error": "Invalid request body"}, 400)
            if password != DEFAULT_PASSWORD:
                return json_reply({"result": False, "error": "Unauthorized: incorrect password"}, 401)
            return json_reply({"result": False, "error": "this simulated rig takes no writes"}, 403)
        if request.method not in (b"GET", b"HEAD"):
            return HttpReply(405, b"text/plain; charset=utf-8", b"", [(b"Allow", b"GET, HEAD, POST")])
        page = pages.get(path.rstrip("/") or "/")
        return json_reply(page()) if page is not None else _NOT_FOUND

    return respond


def dashboard_responder(rig: Rig) -> Callable[[h11.Request, bytes], HttpReply]:
    """The web dashboard on port 80: the app's page; everything it shows comes from port 4028."""
    del rig  # the page is the same on every unit

    def respond(request: h11.Request, body: bytes) -> HttpReply:
        del body
        path = request.target.split(b"?", 1)[0]
        if request.method not in (b"GET", b"HEAD"):
            return HttpReply(405, b"text/plain; charset=utf-8", b"", [(b"Allow", b"GET, HEAD")])
        if path in (b"/", b"/index.html"):
            return html_reply(_DASHBOARD)
        return _NOT_FOUND

    return respond


async def start_epic_servers(rig: Rig, host: str, api_port: int, web_port: int) -> list[WebServer]:
    """ePIC's API on ``api_port`` (where cgminer's socket API would be) and its dashboard on ``web_port``."""
    api = await start_http_server(rig, host, api_port, api_responder(rig), refuse_non_http=True)
    try:
        web = await start_http_server(rig, host, web_port, dashboard_responder(rig))
    except BaseException:
        api.close()
        await api.wait_closed()
        raise
    return [api, web]


__all__ = ["DEFAULT_PASSWORD", "SOFTWARE_NAME", "VERSION", "api_responder", "capabilities", "dashboard_responder",
           "hashrate", "network", "start_epic_servers", "summary"]

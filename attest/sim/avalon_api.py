"""What a simulated Canaan Avalon answers on its cgminer API (TCP 4028), as Canaan's cgminer writes it.

``version`` carries Canaan's own keys (PROD, MODEL, HWTYPE, SWTYPE, LVERSION, BVERSION,
CGVERSION, DNA, MAC: a bare 12-digit MAC); ``stats``/``estats`` pack the module's facts into one
``MM ID0`` string of ``Key[value]`` fields, with the real firmware's quirks kept: fields run
together (``Elapsed[..]BOOTBY[..]``), per-chip lists padded with spaces, ``SYSTEMSTATU`` holding
spaces, a comma and a colon. Replies end with NUL like every cgminer. Pure functions of the rig.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

from attest.sim.api_replies import Clock
from attest.sim.rig import Rig

_CGMINER = "4.11.1"
MAX_JOINED = 8


def render_avalon(rig: Rig, request: bytes, clock: Clock) -> bytes:
    try:
        parsed = json.loads(request.decode("utf-8", errors="replace").strip("\x00 \t\r\n"))
        command = parsed.get("command") if isinstance(parsed, dict) else None
    except ValueError:
        command = None
    if not isinstance(command, str):
        return _reply(clock, "E", 23, "Invalid JSON", None, None).encode() + b"\x00"
    parts = command.strip().split("+")
    if len(parts) > 1:
        body = ",".join(f"{json.dumps(p)}:[{_single(rig, p, clock)}]" for p in parts[:MAX_JOINED])
        return ("{" + body + ',"id":1}').encode() + b"\x00"
    return _single(rig, parts[0], clock).encode() + b"\x00"


def _reply(clock: Clock, letter: str, code: int, message: str, key: str | None, entries: Any) -> str:
    status = [{"STATUS": letter, "When": clock.when, "Code": code, "Msg": message,
               "Description": f"cgminer {_CGMINER}"}]
    data = f",{json.dumps(key)}:{json.dumps(entries, separators=(',', ':'))}" if key else ""
    return '{"STATUS":' + json.dumps(status, separators=(",", ":")) + data + ',"id":1}'


def version_entry(rig: Rig) -> dict[str, Any]:
    x = rig.extras
    return {"CGMiner": x.get("cgminer", _CGMINER), "API": "3.7", "STM8": "20.08.01",
            "PROD": rig.model, "MODEL": rig.model.split()[-1], "HWTYPE": x.get("hwtype", ""),
            "SWTYPE": x.get("swtype", ""), "VERSION": rig.firmware_version, "LOADER": "d0d779de.00",
            "LVERSION": rig.firmware_version, "BVERSION": x.get("bversion", rig.firmware_version),
            "CGVERSION": rig.firmware_version, "DNA": rig.control_board_serial,
            "MAC": rig.mac.replace(":", "").lower(), "UPAPI": "2"}


def _single(rig: Rig, command: str, clock: Clock) -> str:
    if command == "version":
        return _reply(clock, "S", 22, "CGMiner versions", "VERSION", [version_entry(rig)])
    if command in ("stats", "estats"):
        entries = [_device_stats(rig, clock)]
        if command == "stats":
            entries.append({"STATS": 1, "ID": "POOL0", "Elapsed": clock.elapsed, "Calls": 0, "Wait": 0.0,
                            "Max": 0.0, "Min": 99999999.0, "Pool CURL": "", "Work Had Roll Time": False})
        return _reply(clock, "S", 70, "CGMiner stats", "STATS", entries)
    if command == "devdetails":
        return _reply(clock, "S", 69, "Device Details", "DEVDETAILS", [
            {"DEVDETAILS": 0, "Name": "AVA10", "ID": 0, "Driver": "avalon10", "Kernel": "", "Model": "",
             "Device Path": "1-1"}])
    if command == "devs":
        mhs = round(_total_ghs(rig) * 1000.0, 2)
        return _reply(clock, "S", 9, "1 ASC(s)", "DEVS", [
            {"ASC": 0, "Name": "AVA10", "ID": 0, "Enabled": "Y", "Status": "Alive", "Temperature": 31.0,
             "MHS av": mhs, "MHS 5s": mhs, "MHS 1m": mhs, "MHS 5m": mhs, "MHS 15m": mhs,
             "Accepted": clock.elapsed // 12, "Rejected": 0, "Hardware Errors": 0,
             "Device Elapsed": clock.elapsed}])
    if command == "pools":
        pools = [{"POOL": i, "URL": p.url, "Status": "Alive", "Priority": i, "Quota": 1, "User": p.user,
                  "Stratum Active": i == 0, "Stratum URL": urlsplit(p.url).hostname or "",
                  "Accepted": clock.elapsed // 12 if i == 0 else 0, "Rejected": 0}
                 for i, p in enumerate(rig.pools)]
        return _reply(clock, "S", 7, f"{len(pools)} Pool(s)", "POOLS", pools)
    if command == "summary":
        mhs = round(_total_ghs(rig) * 1000.0, 2)
        return _reply(clock, "S", 11, "Summary", "SUMMARY", [
            {"Elapsed": clock.elapsed, "MHS av": mhs, "MHS 5s": mhs, "MHS 1m": mhs, "MHS 5m": mhs,
             "MHS 15m": mhs, "Found Blocks": 0, "Accepted": clock.elapsed // 12, "Rejected": 0,
             "Hardware Errors": 0, "Best Share": 224199508}])
    if command.startswith(("ascset", "setpool", "addpool", "restart", "quit")):
        return _reply(clock, "E", 45, "Access denied to 'ascset' command", None, None)
    return _reply(clock, "E", 14, "Invalid command", None, None)


def _board_ghs(rig: Rig, slot: int, chips: int) -> float:
    spread = int(hashlib.sha256(f"{rig.serial}/{slot}".encode()).hexdigest()[:4], 16) / 0xFFFF - 0.5
    return round(chips * 500.0 * (1 + spread / 50), 2)


def _total_ghs(rig: Rig) -> float:
    return round(sum(_board_ghs(rig, b.slot, b.chips) for b in rig.hashboards), 2)


def module_string(rig: Rig, clock: Clock) -> str:
    """The ``MM ID0`` string, in the order and spacing Canaan's firmware writes it."""
    boards = sorted(rig.hashboards, key=lambda b: b.slot)
    rates = [_board_ghs(rig, b.slot, b.chips) for b in boards]
    total = round(sum(rates), 2)
    x = rig.extras
    fields = [
        f"Ver[{x.get('ver', rig.firmware_version)}]", f"DNA[{rig.control_board_serial}]",
        "MEMFREE[1043040.0]", "NETFAIL[0 0 0 0 0 0 0 0]",
        f"SYSTEMSTATU[Work: In Work, Hash Board: {len(boards)} ]",
        # Canaan's quirk: no space between Elapsed and BOOTBY.
        f"Elapsed[{clock.elapsed}]BOOTBY[0x11.00000000]", f"LW[{clock.elapsed * 40}]",
        "MH[" + " ".join("0" for _ in boards) + "]", "DHW[0]", "HW[0]", "DH[1.299%]", "Temp[31]",
        "TMax[78]", "TAvg[70]", "Fan1[4275]", "Fan2[4282]", "Fan3[4230]", "Fan4[4260]", "FanR[49%]",
        "Vo[296]", "PS[0 1209 1187 297 3526 1188 3731]", "WALLPOWER[3731]",
        f"GHSspd[{total:.2f}]", "DHspd[1.299%]", f"GHSmm[{total * 1.01:.2f}]", f"GHSavg[{total:.2f}]",
        "WU[2570548.05]", "Freq[345.94]", "Led[0]", "MGHS[" + " ".join(f"{r:.2f}" for r in rates) + "]",
        "MTmax[" + " ".join("77" for _ in boards) + "]", "MTavg[" + " ".join("69" for _ in boards) + "]",
        f"TA[{sum(b.chips for b in boards)}]", "Core[A3201]", "PING[131]", "POWS[0]",
        "HASHS[" + " ".join("0" for _ in boards) + "]", "POOLS[0]", "SoftOFF[0]",
        "ECHU[" + " ".join("0" for _ in boards) + "]", "ECMM[0]",
    ]
    for b in boards:
        fields.append(f"SF{b.slot}[300 318 339 360]")
    for b in boards:
        # Per-chip temperatures, padded to three places as the firmware prints them.
        fields.append(f"PVT_T{b.slot}[" + " ".join(f"{60 + (i * 7 + b.slot) % 9:3d}" for i in range(b.chips)) + "]")
    for b in boards:
        fields.append(f"MW{b.slot}[" + " ".join(str(40 + i % 13) for i in range(b.chips)) + "]")
    fields.append("CRC[" + " ".join("0" for _ in boards) + "]")
    return " ".join(fields)


def _device_stats(rig: Rig, clock: Clock) -> dict[str, Any]:
    return {"STATS": 0, "ID": "AVA100", "Elapsed": clock.elapsed, "Calls": 0, "Wait": 0.0, "Max": 0.0,
            "Min": 99999999.0, "MM ID0": module_string(rig, clock), "MM Count": 1, "Smart Speed": 1,
            "Connecter": "AUC", "AUC VER": "AUC-20151208", "AUC I2C Speed": 400000,
            "AUC I2C XDelay": 19200, "AUC Sensor": 15503, "AUC Temperature": 29.76,
            "Connection Overloaded": False, "Voltage Level Offset": 0, "Nonce Mask": 25}

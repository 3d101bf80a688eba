"""What a simulated rig answers on its port-4028 API, byte for byte as the real firmware shapes it.

bmminer (Antminer) and btminer (Whatsminer v2) replies, rendered from the ``Rig``. Field names,
status codes and quirks follow captures of real units (docs/protocols.md) so that independent
clients - pyasic, ``nc`` - read the simulator as they read a miner: bmminer ends every reply with
NUL and writes ``}{`` between STATS entries; btminer answers its ``get_*`` reads with a flat
STATUS and a ``Msg`` object, and refuses ``version``.

Pure functions: request bytes and a clock in, reply bytes out; the server does the sockets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from attest.sim.rig import Hashboard, Rig

#: A joined request naming more commands than this is answered for the first ones only.
MAX_JOINED = 8

_BMMINER_VERSION = "1.0.0"  # stock builds; "2.0.0 rwglr" is Hiveon, which pyasic tells apart
_BTMINER_DESCRIPTION = "whatsminer v1.1"
_WHATSMINER_VARIANT = "_VH40"  # devdetails writes the hardware variant after the model
_GHS_PER_CHIP = {"Antminer S21": 1852.0, "Antminer S19 Pro": 965.0, "Whatsminer M50S": 807.0}
_BTMINER_WRITES = frozenset((
    "update_pools", "restart_btminer", "power_off", "power_on", "manage_led", "set_led",
    "set_low_power", "set_high_power", "set_normal_power", "update_firmware", "reboot",
    "factory_reset", "update_pwd", "net_config", "set_target_freq", "enable_btminer_fast_boot",
    "disable_btminer_fast_boot", "enable_web_pools", "disable_web_pools", "set_hostname",
    "set_power_pct", "pre_power_on", "set_power_pct_v2", "set_temp_offset", "adjust_power_limit",
    "adjust_upfreq_speed", "set_poweroff_cool", "set_fan_zero_speed", "get_token",
))  # fmt: skip


@dataclass(frozen=True)
class Clock:
    """``when``: unix time for STATUS; ``elapsed``: seconds the miner has been running."""

    when: int
    elapsed: int


def render_reply(rig: Rig, request: bytes, clock: Clock) -> bytes:
    """The complete reply to one request, framing included."""
    if rig.family in ("whatsminer", "whatsminer3"):
        return _btminer(rig, request, clock).encode()
    if rig.family == "avalon":
        from attest.sim.avalon_api import render_avalon  # one module per family's replies

        return render_avalon(rig, request, clock)
    return _bmminer(rig, request, clock).encode() + b"\x00"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _request_command(request: bytes, keys: tuple[str, ...]) -> str | None:
    try:
        parsed = json.loads(request.decode("utf-8", errors="replace").strip("\x00 \t\r\n"))
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    for key in keys:
        if isinstance(parsed.get(key), str):
            return parsed[key].strip()
    return None


def _joined(parts: list[str], render: Callable[[str], str]) -> str:
    """cgminer's ``a+b`` reply: each command's own reply, in a one-entry list under its name."""
    body = ",".join(f"{_dumps(part)}:[{render(part)}]" for part in parts[:MAX_JOINED])
    return "{" + body + ',"id":1}'


# --- shared numbers -------------------------------------------------------------------------


def _board_ghs(rig: Rig, board: Hashboard) -> float:
    """A steady per-board hashrate: chips x per-chip rate, +-1% by serial, same on every call."""
    spread = int(hashlib.sha256(board.serial.encode()).hexdigest()[:4], 16) / 0xFFFF - 0.5
    return round(board.chips * _GHS_PER_CHIP.get(rig.model, 1000.0) * (1 + spread / 50), 2)


def _boards(rig: Rig) -> list[Hashboard]:
    return sorted(rig.hashboards, key=lambda board: board.slot)


def _pool_counters(index: int, clock: Clock) -> dict[str, Any]:
    accepted = clock.elapsed // 12 if index == 0 else 0
    return {
        "Getworks": clock.elapsed // 30 + 1,
        "Accepted": accepted,
        "Rejected": accepted // 400,
        "Discarded": clock.elapsed // 6,
        "Stale": 0,
        "Get Failures": 0,
        "Remote Failures": 0,
    }


# --- bmminer (Antminer) ---------------------------------------------------------------------


def _bmminer(rig: Rig, request: bytes, clock: Clock) -> str:
    command = _request_command(request, ("command",))
    if command is None:
        return _cg_reply(clock, "E", 23, "Invalid JSON", None, None)
    if "+" in command:
        return _joined(command.split("+"), lambda part: _bmminer_single(rig, part, clock))
    return _bmminer_single(rig, command, clock)


def _cg_status(clock: Clock, letter: str, code: int, message: str, description: str) -> str:
    status = {"STATUS": letter, "When": clock.when, "Code": code, "Msg": message}
    return _dumps([{**status, "Description": description}])


def _cg_reply(
    clock: Clock, letter: str, code: int, message: str, key: str | None, entries: list[Any] | None
) -> str:
    status = _cg_status(clock, letter, code, message, f"cgminer {_BMMINER_VERSION}")
    data = f",{_dumps(key)}:{_dumps(entries)}" if key is not None else ""
    return '{"STATUS":' + status + data + ',"id":1}'


def _identity(rig: Rig) -> tuple[dict[str, Any], str]:
    """The VERSION entry and the program named in STATUS, as each Antminer firmware writes them:
    stock bmminer, VNish (bmminer with its name in Type), LuxOS (LUXminer) and Braiins OS
    (BOSer, no Type: the model comes from its gRPC API)."""
    if rig.family == "luxos":
        return ({"API": "3.7", "CompileTime": rig.firmware_build, "LUXminer": rig.firmware_version,
                 "Miner": rig.firmware_version, "Type": rig.model}, f"LUXminer {rig.firmware_version}")
    if rig.family == "braiins":
        return {"API": "3.7", "BOSer": rig.firmware_version}, f"BOSer {rig.firmware_version}"
    identity = {"BMMiner": _BMMINER_VERSION, "API": "3.1", "Miner": rig.firmware_version,
                "CompileTime": rig.firmware_build, "Type": rig.model}
    if rig.family == "vnish":
        identity["Type"] = f"{rig.model} ({rig.firmware_version})"
    return identity, f"bmminer {_BMMINER_VERSION}"


def _bmminer_single(rig: Rig, command: str, clock: Clock) -> str:
    identity, program = _identity(rig)
    if command == "version":
        status = _cg_status(clock, "S", 22, f"{program.split()[0]} versions", program)
        return '{"STATUS":' + status + ',"VERSION":' + _dumps([identity]) + ',"id":1}'
    if command == "config" and rig.family == "luxos":
        return _cg_reply(clock, "S", 33, "CGMiner config", "CONFIG", [_luxos_config(rig)])
    if command == "devdetails" and rig.family == "braiins":
        details = [{"DEVDETAILS": board.slot, "Name": "", "ID": board.slot, "Driver": "",
                    "Kernel": "", "Model": f"Bitmain {rig.model.removeprefix('Antminer ')}"} for board in _boards(rig)]
        return _cg_reply(clock, "S", 69, "Device Details", "DEVDETAILS", details)
    if command == "stats":
        first = {key: value for key, value in identity.items() if key != "API"}
        status = _cg_status(clock, "S", 70, "CGMiner stats", f"cgminer {_BMMINER_VERSION}")
        # bmminer's quirk, kept on purpose: no comma between the two STATS entries.
        entries = _dumps(first) + _dumps(_bmminer_stats(rig, clock))
        return '{"STATUS":' + status + ',"STATS":[' + entries + '],"id":1}'
    if command == "pools":
        pools = [_bmminer_pool(index, pool.url, pool.user, clock) for index, pool in enumerate(rig.pools)]
        return _cg_reply(clock, "S", 7, f"{len(pools)} Pool(s)", "POOLS", pools)
    if command == "summary":
        return _cg_reply(clock, "S", 11, "Summary", "SUMMARY", [_bmminer_summary(rig, clock)])
    if command == "devs":
        devs = [_bmminer_dev(rig, index, board, clock) for index, board in enumerate(_boards(rig))]
        return _cg_reply(clock, "S", 9, f"{len(devs)} ASC(s)", "DEVS", devs)
    return _cg_reply(clock, "E", 14, "Invalid command", None, None)


def _luxos_config(rig: Rig) -> dict[str, Any]:
    """LuxOS's ``config``: the unit's serial and MAC, which stock bmminer's API never gives."""
    return {"ASC Count": len(rig.hashboards), "PGA Count": 0, "Pool Count": len(rig.pools),
            "Strategy": "Failover", "Log Interval": 5, "Device Code": "", "OS": "Linux",
            "Hotplug": "None", "MACAddr": rig.mac.lower(), "Hostname": rig.hostname,
            "IsAtmEnabled": True, "RedLed": "off", "SerialNumber": rig.serial,
            "ControlBoardType": "Amlogic", "Model": rig.model.removeprefix("Antminer ").replace(" ", ""),
            "SystemStatus": "Running"}


def _sleeping(rig: Rig) -> set[int]:
    return set(rig.extras.get("sleeping_slots", ()))


def _bmminer_stats(rig: Rig, clock: Clock) -> dict[str, Any]:
    asleep = _sleeping(rig)
    # chain index = slot + 1; a sleeping board keeps its chain, with 0 chips, and bmminer counts
    # only the boards that hash in miner_count.
    boards = {board.slot + 1: Hashboard(board.slot, board.serial, 0 if board.slot in asleep else board.chips)
              for board in rig.hashboards}
    chains = range(1, max(4, *boards) + 1) if boards else range(1, 5)
    rates = {k: _board_ghs(rig, board) for k, board in boards.items()}
    total = round(sum(rates.values()), 2)
    stats: dict[str, Any] = {
        "STATS": 0, "ID": "BTM_SOC0", "Elapsed": clock.elapsed, "Calls": 0, "Wait": 0.0,
        "Max": 0.0, "Min": 99999999.0, "GHS 5s": f"{total:.2f}", "GHS av": total,
        "miner_count": len(boards) - len(asleep), "frequency": "", "fan_num": 4,
        **{f"fan{n}": 5400 + 60 * n for n in range(1, 5)},
        "temp_num": len(boards),
        **{f"temp{k}": 58 + k for k in boards},
        **{f"temp2_{k}": 71 + k for k in boards},
        **{f"temp_pcb{k}": f"{56 + k}-{60 + k}-{55 + k}-{59 + k}" for k in boards},
        **{f"temp_chip{k}": f"{69 + k}-{73 + k}-{68 + k}-{72 + k}" for k in boards},
        "total_rateideal": round(total * 1.002, 2), "rate_unit": "GH", "total_freqavg": 490.0,
        "total_acn": sum(board.chips for board in boards.values()), "total_rate": total,
        "temp_max": 75, "no_matching_work": 0,
    }
    for k in chains:
        board = boards.get(k)
        stats[f"chain_rateideal{k}"] = round(rates[k] * 1.002, 2) if board else 0.0
        stats[f"chain_acn{k}"] = board.chips if board else 0
        stats[f"chain_acs{k}"] = _chip_map(board.chips) if board else ""
        stats[f"chain_hw{k}"] = clock.elapsed // 900 if board else 0
        stats[f"chain_rate{k}"] = f"{rates[k]:.2f}" if board else ""
        stats[f"freq{k}"] = 490 if board else 0
    stats["miner_version"] = rig.firmware_version
    stats["miner_id"] = hashlib.sha256(rig.serial.encode()).hexdigest()[:16]
    return stats


def _chip_map(chips: int) -> str:
    """bmminer's chip status string: " oooooooo oooooooo ..." ('o' is a healthy chip)."""
    return "".join(" " + "o" * min(8, chips - start) for start in range(0, chips, 8))


def _bmminer_pool(index: int, url: str, user: str, clock: Clock) -> dict[str, Any]:
    return {
        "POOL": index, "URL": url, "Status": "Alive", "Priority": index, "Quota": 1,
        "Long Poll": "N", **_pool_counters(index, clock), "User": user,
        "Last Share Time": "0:00:04" if index == 0 else "0", "Diff": "65.5K", "Diff1 Shares": 0,
        "Proxy Type": "", "Proxy": "", "Difficulty Accepted": 65536.0 * (clock.elapsed // 12),
        "Difficulty Rejected": 0.0, "Difficulty Stale": 0.0, "Last Share Difficulty": 65536.0,
        "Has Stratum": True, "Stratum Active": index == 0,
        "Stratum URL": urlsplit(url).hostname or "", "Has GBT": False, "Best Share": 1431836158,
        "Pool Rejected%": 0.0, "Pool Stale%": 0.0,
    }


def _bmminer_summary(rig: Rig, clock: Clock) -> dict[str, Any]:
    total = round(sum(_board_ghs(rig, board) for board in rig.hashboards), 2)
    return {
        "Elapsed": clock.elapsed, "GHS 5s": f"{total:.2f}", "GHS av": total, "GHS 30m": total,
        "Found Blocks": 0, **_pool_counters(0, clock), "Hardware Errors": clock.elapsed // 300,
        "Utility": 5.0, "Local Work": clock.elapsed * 40, "Network Blocks": clock.elapsed // 600,
        "Total MH": total * 1000.0 * clock.elapsed, "Work Utility": 1.0e6,
        "Difficulty Accepted": 65536.0 * (clock.elapsed // 12), "Difficulty Rejected": 0.0,
        "Difficulty Stale": 0.0, "Best Share": 1431836158, "Device Hardware%": 0.0001,
        "Device Rejected%": 0.0, "Pool Rejected%": 0.0, "Pool Stale%": 0.0,
        "Last getwork": clock.when,
    }


def _bmminer_dev(rig: Rig, index: int, board: Hashboard, clock: Clock) -> dict[str, Any]:
    mhs = _board_ghs(rig, board) * 1000.0
    return {
        "ASC": index, "Name": "BTM", "ID": index, "Enabled": "Y", "Status": "Alive",
        "Temperature": 72.0, "MHS av": mhs, "MHS 5s": mhs, "Accepted": clock.elapsed // 36,
        "Rejected": 0, "Hardware Errors": clock.elapsed // 900, "Utility": 1.6,
        "Last Share Pool": 0, "Last Share Time": clock.when, "Total MH": mhs * clock.elapsed,
        "Last Valid Work": clock.when, "Device Hardware%": 0.0001, "Device Rejected%": 0.0,
        "Device Elapsed": clock.elapsed,
    }


# --- btminer (Whatsminer API v2) ------------------------------------------------------------


def _btminer(rig: Rig, request: bytes, clock: Clock) -> str:
    if b'"enc"' in request:  # an encrypted (token-signed) write: the write API is not enabled
        return _flat(clock, "E", 45, "Permission denied", "")
    command = _request_command(request, ("cmd", "command"))
    if command is None:
        return _flat(clock, "E", 14, "invalid cmd", _BTMINER_DESCRIPTION)
    if "+" in command:
        # get_* and status do not join on btminer; their parts get the invalid-command answer.
        return _joined(command.split("+"), lambda part: _btminer_single(rig, part, clock, True))
    return _btminer_single(rig, command, clock, False)


def _flat(clock: Clock, letter: str, code: int, message: Any, description: str) -> str:
    return _dumps({"STATUS": letter, "When": clock.when, "Code": code, "Msg": message,
                   "Description": description})


def _bt_reply(message: str, key: str, entries: list[Any]) -> str:
    return _dumps({"STATUS": [{"STATUS": "S", "Msg": message}], key: entries, "id": 1})


#: Firmware from 2024 on (API v3 on TCP 4433) keeps only these v2 reads on 4028, so clients can
#: still tell what it is (pyasic asks devdetails for the model and get_version for the version).
_V3_KEEPS_ON_4028 = frozenset(("version", "devdetails", "get_version"))


def _btminer_single(rig: Rig, command: str, clock: Clock, joined: bool) -> str:
    if command in _BTMINER_WRITES:
        return _flat(clock, "E", 45, "Permission denied", "")
    if rig.family == "whatsminer3" and command not in _V3_KEEPS_ON_4028:
        return _flat(clock, "E", 14, "invalid cmd", _BTMINER_DESCRIPTION)
    if command == "summary":
        # btminer's quirk, on the family rig: it escapes the quotes around its firmware version
        # with \', an escape JSON does not have (strict parsers refuse the whole reply).
        quoted = _dumps(f"'{rig.firmware_version}'")
        reply = _bt_reply("Summary", "SUMMARY", [_btminer_summary(rig, clock)])
        if not rig.extras.get("escape_quirk"):
            return reply
        return reply.replace(quoted, quoted.replace("'", "\\'"))
    if command == "pools":
        pools = [_btminer_pool(index, pool.url, pool.user, clock) for index, pool in enumerate(rig.pools)]
        return _bt_reply(f"{len(pools)} Pool(s)", "POOLS", pools)
    if command == "devdetails":
        model = rig.extras.get("v3_type") or rig.extras.get("v2_type") or (
            rig.model.removeprefix("Whatsminer ").replace(" ", "") + _WHATSMINER_VARIANT)
        details = [{"DEVDETAILS": index, "Name": "SM", "ID": index, "Driver": "bitmicro",
                    "Kernel": "", "Model": model} for index in range(len(rig.hashboards))]
        return _bt_reply("Device Details", "DEVDETAILS", details)
    if command in ("edevs", "devs"):
        devs = [_btminer_dev(rig, index, board, clock) for index, board in enumerate(_boards(rig))]
        return _bt_reply("EDevs" if command == "edevs" else f"{len(devs)} ASC(s)", "DEVS", devs)
    message = None if joined else _btminer_message(rig, command)
    if message is None:
        return _flat(clock, "E", 14, "invalid cmd", _BTMINER_DESCRIPTION)
    return _flat(clock, "S", 131, message, "")


def _btminer_message(rig: Rig, command: str) -> dict[str, Any] | None:
    """The ``Msg`` object of a btminer ``get_*``/``status`` read, or None for other commands."""
    if command == "get_version":
        api = "3.0.1" if rig.family == "whatsminer3" else "2.0.5"
        return {"api_ver": api, "fw_ver": rig.firmware_version, "platform": "H6OS", "chip": "K1.1"}
    if command == "get_miner_info":
        octets = rig.host.split(".")
        gateway = ".".join([*octets[:3], "1"]) if len(octets) == 4 else ""
        return {"ip": rig.host, "proto": "dhcp", "netmask": "255.255.255.0", "gateway": gateway,
                "dns": gateway, "hostname": rig.hostname, "mac": rig.mac, "ledstat": "auto",
                "minersn": rig.serial, "powersn": rig.psu_serial}
    if command == "get_psu":
        return {"name": "P221B", "hw_version": "V01.00.V01.03", "sw_version": "V01.00.V01.04",
                "model": "P221B", "iin": "8718", "vin": "22400", "fan_speed": "7008",
                "version": "0", "serial_no": rig.psu_serial, "vendor": "2"}
    if command == "status":
        return {"mineroff": "false", "mineroff_reason": "", "mineroff_time": "",
                "FirmwareVersion": f"'{rig.firmware_version}'", "power_mode": "",
                "hash_percent": ""}
    if command == "get_error_code":
        return {"error_code": []}
    return None


def _btminer_summary(rig: Rig, clock: Clock) -> dict[str, Any]:
    mhs = round(sum(_board_ghs(rig, board) for board in rig.hashboards) * 1000.0, 2)
    return {
        "Elapsed": clock.elapsed, "MHS av": mhs, "MHS 5s": mhs, "MHS 1m": mhs, "MHS 5m": mhs,
        "MHS 15m": mhs, "HS RT": mhs, "Found Blocks": 0, **_pool_counters(0, clock),
        "Hardware Errors": 0, "Utility": 4.2, "Local Work": clock.elapsed * 30,
        "Network Blocks": clock.elapsed // 600, "Total MH": mhs * clock.elapsed,
        "Work Utility": 1.0e6, "Difficulty Accepted": 65536.0 * (clock.elapsed // 12),
        "Difficulty Rejected": 0.0, "Difficulty Stale": 0.0, "Best Share": 1098473211,
        "Temperature": 65.0, "freq_avg": 562, "Fan Speed In": 4320, "Fan Speed Out": 4290,
        "Voltage": 1320, "Power": 3276, "Power_RT": 3280, "Device Hardware%": 0.0,
        "Device Rejected%": 0.0, "Pool Rejected%": 0.0, "Pool Stale%": 0.0, "Last getwork": 0,
        "Uptime": clock.elapsed, "Power Current": 0, "Power Fanspeed": 7008,
        "Error Code Count": 0, "Factory Error Code Count": 0, "Security Mode": 0,
        "Liquid Cooling": False, "Hash Stable": True, "Hash Stable Cost Seconds": 1210,
        "Hash Deviation%": 0.12, "Target Freq": 562, "Target MHS": mhs, "Env Temp": 24.0,
        "Power Mode": "Normal", "Factory GHS": round(mhs / 1000.0), "Power Limit": 3500,
        "Chip Temp Min": 61.0, "Chip Temp Max": 79.0, "Chip Temp Avg": 70.5, "Debug": "-0.0",
        "Btminer Fast Boot": "disable", "Firmware Version": f"'{rig.firmware_version}'",
    }


def _btminer_pool(index: int, url: str, user: str, clock: Clock) -> dict[str, Any]:
    return {
        "POOL": index, "URL": url, "Status": "Alive", "Priority": index, "Quota": 1,
        "Long Poll": "N", **_pool_counters(index, clock), "Works": clock.elapsed * 30,
        "User": user, "Last Share Time": clock.when if index == 0 else 0, "Diff1 Shares": 0,
        "Proxy Type": "", "Proxy": "", "Difficulty Accepted": 65536.0 * (clock.elapsed // 12),
        "Difficulty Rejected": 0.0, "Difficulty Stale": 0.0, "Last Share Difficulty": 65536.0,
        "Work Difficulty": 65536.0, "Has Stratum": 1, "Stratum Active": index == 0,
        "Stratum URL": urlsplit(url).hostname or "", "Stratum Difficulty": 65536.0,
        "Best Share": 1098473211, "Pool Rejected%": 0.0, "Pool Stale%": 0.0, "Bad Work": 0,
    }


def _btminer_dev(rig: Rig, index: int, board: Hashboard, clock: Clock) -> dict[str, Any]:
    mhs = round(_board_ghs(rig, board) * 1000.0, 2)
    return {
        "ASC": index, "Name": "SM", "ID": index, "Slot": board.slot, "Enabled": "Y",
        "Status": "Alive", "Temperature": 66.0 + index, "Chip Frequency": 562,
        "Fan Speed In": 4320, "Fan Speed Out": 4290, "MHS av": mhs, "MHS 5s": mhs,
        "MHS 1m": mhs, "MHS 5m": mhs, "MHS 15m": mhs, "HS RT": mhs,
        "Accepted": clock.elapsed // 36, "Rejected": 0, "Hardware Errors": 0, "Utility": 1.4,
        "Last Share Pool": 0, "Last Share Time": clock.when, "Total MH": mhs * clock.elapsed,
        "Diff1 Work": 0, "Difficulty Accepted": 65536.0 * (clock.elapsed // 36),
        "Difficulty Rejected": 0.0, "Last Share Difficulty": 65536.0,
        "Last Valid Work": clock.when, "Device Hardware%": 0.0, "Device Rejected%": 0.0,
        "Device Elapsed": clock.elapsed, "Upfreq Complete": 1, "Effective Chips": board.chips,
        "PCB SN": board.serial, "Chip Data": "K88Z001-2206 BINV01-195001D",
        "Chip Temp Min": 60.0 + index, "Chip Temp Max": 78.0 + index,
        "Chip Temp Avg": 69.5 + index, "chip_vol_diff": 6,
    }

"""The CGMiner-compatible JSON API on TCP 4028: cgminer, bmminer, btminer, bosminer, luxminer.

Every family answers ``version``, so that is asked first and decides the rest: bmminer
(Antminer) is read through ``stats+pools``; btminer (Whatsminer) has its own read commands and
is handed to the whatsminer driver; other cgminer-compatible firmware gets the same
``stats+pools`` and yields whatever of it is recognisable. An HTTP reply instead of JSON means
ePIC's firmware, which serves a REST API on this port: the epic driver reads it. Claims are ``reported``: the running
firmware says them, and a backdoored one could say anything (docs/protocols.md).
"""

from __future__ import annotations

from attest.drivers import avalon, epic, whatsminer
from attest.drivers.base import NOT_THIS_FAMILY, CollectError, Endpoint, Session
from attest.drivers.cgminer_api import (
    MAX_SLOTS,
    HttpOnApiPort,
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

NAME = "cgminer"
KIND = "api"
DEFAULT_PORT = 4028
SCHEMES = ("cgminer",)

BMMINER = "bmminer"
BTMINER = "btminer"
BOSMINER = "bosminer"
LUXMINER = "luxminer"
BFGMINER = "bfgminer"
CGMINER = "cgminer"
AVALON = "avalon"  # Canaan's cgminer: identity in version, module strings in stats
VNISH = "vnish"  # VNish (AnthillOS) on an Antminer: bmminer-shaped API, REST on the web port

#: The key in VERSION naming the miner program, and how its version claim is written.
_MINER_PROGRAMS = (("BMMiner", "BMMiner"), ("CGMiner", "CGMiner"), ("BOSminer+", "BOSminer+"),
                   ("BOSminer", "BOSminer"), ("BOSer", "BOSer"), ("LUXminer", "LUXminer"),
                   ("BFGMiner", "BFGMiner"))

#: Firmware whose VERSION entry carries the whole-firmware version under its own name (BOSminer+
#: and BOSer on Braiins OS+ and Braiins OS from 22.08 on; bOS on the S9 writes BOSminer).
_FIRMWARE_VERSION_KEYS = {BOSMINER: ("bosminer", "bosminer+", "boser"), LUXMINER: ("luxminer",)}


async def identify(host: str, port: int, session: Session) -> str | None:
    """Which API family answers on host:port, or None when nothing CGMiner-like does.

    For discovery (``attest scan``): every failure, expected or malformed, means "not one of
    ours", so none is raised.
    """
    endpoint = Endpoint(KIND, host, port)
    try:
        reply = await call(endpoint, session, {"command": "version"}, "version")
    except HttpOnApiPort:
        return await epic.identify(host, port, session)  # ePIC serves HTTP on the API port
    except CollectError:
        return None
    return family_of(reply)


async def collect(endpoint: Endpoint, session: Session) -> list[Claim]:
    """Claims from the API; ``CollectError`` for every expected failure. An HTTP reply means an
    HTTP API listens on this port: ePIC's, whose reader takes the endpoint over."""
    try:
        version, prefetched = await _version_and_reads(endpoint, session)
    except HttpOnApiPort:
        return await epic.collect_over_api(endpoint, session)
    family = family_of(version)
    if family is None:
        raise CollectError(
            NOT_THIS_FAMILY, f"{endpoint.label}: the reply to version is not a CGMiner-family API"
        )
    if family == BTMINER:
        return await whatsminer.collect_over_api(endpoint, session)
    if family == AVALON:
        return await avalon.collect_over_api(endpoint, session, version, prefetched)
    commands = ("stats", "pools", "config") if family == LUXMINER else ("stats", "pools")
    parts = await call_joined(endpoint, session, commands, have=prefetched)
    source = f"{endpoint.label} "
    claims = version_claims(version, parts["stats"], family, source)
    claims += miner_program_claim(version, source + "version")
    for slot, chips in chain_chips(parts["stats"]).items():
        claims += claim(f"hashboard.{slot}.chips", chips, source + "stats")
    claims += pool_claims(parts["pools"], source + "pools")
    if family == LUXMINER:
        claims += luxos_config_claims(parts["config"], source + "config")
    return claims


#: Asked together with ``version`` in the first request: every cgminer-family firmware knows them,
#: so a rig usually costs one round trip, not two. A firmware that refuses the joined form is
#: asked ``version`` alone, and the rest as its family needs.
_FIRST_READS = ("stats", "pools", "devdetails")


async def _version_and_reads(endpoint: Endpoint, session: Session) -> tuple[Reply, dict[str, Reply]]:
    joined = "+".join(("version", *_FIRST_READS))
    first = await call(endpoint, session, {"command": joined}, joined)
    if "STATUS" in first:  # one reply for the lot: version alone (a build that ignores "+"), or an error
        if first_dict(first.get("VERSION")) is not None:
            return first, {}
        return await call(endpoint, session, {"command": "version"}, "version"), {}
    version = first_dict(first.get("version"))
    if version is None:
        return await call(endpoint, session, {"command": "version"}, "version"), {}
    return version, {c: part for c in _FIRST_READS if (part := first_dict(first.get(c))) is not None}


def miner_program_claim(version: Reply, source: str) -> list[Claim]:
    """``firmware.miner.version``: the miner program and its version as the firmware names it
    (``BMMiner 1.0.0``); reported, like everything the API says."""
    entry = first_dict(version.get("VERSION")) if succeeded(version) else None
    if entry is None:
        return []
    for key, shown in _MINER_PROGRAMS:
        value = text(entry.get(key))
        if value is not None:
            return claim("firmware.miner.version", f"{shown} {value}", source)
    return []


def luxos_config_claims(config: Reply, source: str) -> list[Claim]:
    """LuxOS's ``config``: unit serial, MAC and control board type, which stock bmminer's API
    never gives."""
    entry = first_dict(config.get("CONFIG")) if succeeded(config) else None
    if entry is None:
        return []
    claims = claim("unit.serial", text(entry.get("SerialNumber")), source)
    claims += claim("net.mac", text(entry.get("MACAddr")), source)
    claims += claim("control_board.type", text(entry.get("ControlBoardType")), source)
    return claims


def family_of(version_reply: Reply) -> str | None:
    """The firmware family from its answer to ``version``; None if not CGMiner-shaped.

    btminer answers ``version`` with a flat (not list) STATUS, "invalid cmd" and a Description
    of "whatsminer v1.1"; newer builds may put ``fw_ver`` in Msg. bOS on the S9 keeps bmminer's
    key but writes ``bOS_`` versions, so names in the values are checked before key names.
    """
    status = version_reply.get("STATUS")
    entry = status_entry(version_reply)
    if entry is None:
        return None
    version = first_dict(version_reply.get("VERSION")) or {}
    message = entry.get("Msg")
    words = " ".join(
        [str(entry.get("Description", ""))[:256]]
        + [str(key)[:64] for key in list(version)[:16]]
        + [str(value)[:256] for value in list(version.values())[:16] if isinstance(value, str)]
    ).lower()
    if (
        isinstance(status, str)
        or (isinstance(message, dict) and "fw_ver" in message)
        or "btminer" in words
        or "whatsminer" in words
    ):
        return BTMINER
    if "bosminer" in words or "boser" in words or "bos_" in words or "braiins" in words:
        return BOSMINER
    if "luxminer" in words:
        return LUXMINER
    if any(key in version for key in ("PROD", "HWTYPE", "SWTYPE")) or "avalon" in words:
        return AVALON
    if "vnish" in words:
        return VNISH
    if "BMMiner" in version:
        return BMMINER
    if "BFGMiner" in version:
        return BFGMINER
    return CGMINER


def version_claims(version: Reply, stats: Reply | None, family: str, source: str) -> list[Claim]:
    """Model, firmware version and build: from VERSION, else from the same keys in STATS[0]."""
    claims: list[Claim] = []
    from_version = first_dict(version.get("VERSION")) if succeeded(version) else None
    from_stats = first_dict(stats.get("STATS")) if stats is not None and succeeded(stats) else None
    for name, key in (
        ("unit.model", "Type"),
        ("firmware.version", "Miner"),
        ("firmware.build", "CompileTime"),
    ):
        for entry, what in ((from_version, "version"), (from_stats, "stats")):
            value = text(entry.get(key)) if entry is not None else None
            if value is None and name == "firmware.version" and entry is not None:
                value = _own_firmware_version(entry, family)
            if value is not None and name == "unit.model" and family in (VNISH, LUXMINER, BOSMINER):
                # The forks append their own name to the model ("Antminer S19 Pro (Vnish 1.2.6)"):
                # the hardware is the part before it, as pyasic reads it too.
                value = value.split(" (", 1)[0].strip() or None
            if value is not None:
                claims += claim(name, value, source + what)
                break
    return claims


def _own_firmware_version(entry: dict[str, object], family: str) -> str | None:
    wanted = _FIRMWARE_VERSION_KEYS.get(family, ())
    for key, value in list(entry.items())[:32]:
        if str(key).lower() in wanted:
            return text(value)
    return None


def chain_chips(stats: Reply | None) -> dict[int, int]:
    """Chips per hashboard slot from bmminer's ``chain_acnK`` counters.

    Chains count from 1 (slot = K - 1) on current firmware; S9-era builds number them 6-8. As
    pyasic does, slots count from the first group of five holding a populated chain, and
    ``miner_count`` says how many boards there are, so a dead board (0 chips) is still reported.
    """
    if stats is None or not succeeded(stats):
        return {}
    entry = next(
        (
            e
            for e in dicts(stats.get("STATS"), 8)
            if any(f"chain_acn{k}" in e for k in range(1, MAX_SLOTS + 1))
        ),
        None,
    )
    if entry is None:
        return {}
    chips = {
        k: c for k in range(1, MAX_SLOTS + 1) if (c := count(entry.get(f"chain_acn{k}"))) is not None
    }
    populated = [k for k, c in chips.items() if c > 0]
    offset = 1 + 5 * ((min(populated) - 1) // 5) if populated else 1
    # A sleeping board (chain_acn1=0) still has its chain number: slots come from chain numbers,
    # never from counting, and ``miner_count`` (which some builds lower for a sleeping board)
    # only adds trailing dead boards, never hides a populated chain.
    boards = count(entry.get("miner_count"))
    if boards is None or not 0 < boards <= MAX_SLOTS:
        boards = 0
    boards = max(boards, max(populated) - offset + 1 if populated else 0)
    return {k - offset: chips[k] for k in range(offset, offset + boards) if k in chips}

"""Evidence read through U-Boot, before the rig's firmware runs (assurance ``bootloader``).

What U-Boot offers on a console: ``version``; ``printenv`` (MAC, serial numbers, how it boots,
the flash layout in ``mtdparts``); and flash read into RAM (``nand read`` / ``sf read``) then
hashed there (``hash sha256`` where it is built in, else ``crc32``). Nothing is written: no
``setenv``, no ``saveenv``; RAM at ``loadaddr`` is overwritten, as every boot does anyway.

Framing: each command is sent as ``echo <begin>; echo <begin>; CMD; echo <end>; echo <end>`` and
its output is the lines between the marker lines (attest.drivers.console_text.FrameScan), so a
prompt, our own echo or a stray line cannot be mistaken for output, and one spoilt byte in a
marker costs a copy, not the reading.

A console line has no error detection, so every reading that becomes a claim is taken twice and
must agree (a third reading breaks a tie): one flipped bit in a digest or serial would
otherwise become a false UNTRUSTED. U-Boot answers the same twice; noise does not.

A crc32 is no digest — anyone can make an image with a chosen crc32 — so it is reported under
its own claim name, ``firmware.image.NAME.crc32``, never as ``.sha256``; appraisal calls it weak.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from attest.drivers.base import MALFORMED_REPLY, Claim, CollectError, CollectOptions
from attest.drivers.console_text import UBOOT_REBOOT_SIGNS, FrameScan, lines
from attest.drivers.shell import MAX_NAME_CHARS, unique_pairs
from attest.evidence import Assurance, printable
from attest.flash_content import CODE, DATA, Content, is_mutable
from attest.transport.serial import SerialLink
from attest.uboot_env import judge_environment

#: A U-Boot command line is at most CONFIG_SYS_CBSIZE (256 on older boards) long; the four
#: marker echoes around a command take about 80 of that.
MAX_COMMAND_CHARS = 160
#: Bits a byte takes on the line at 8N1: start, eight data, stop.
BITS_PER_BYTE = 10
#: printenv of a real rig is 2-5 KB; this is over ten times that and ~6 s of line at 115200.
MAX_OUTPUT_BYTES = 64 * 1024
MAX_VALUE_CHARS = 512
MAX_REGION_BYTES = 512 * 1024 * 1024
#: Environment variables reported as ``uboot.env.NAME`` claims: how the unit boots, its layout.
REPORTED_VARS = ("bootcmd", "bootargs", "bootdelay", "mtdparts", "mtdids", "ethaddr", "serial#",
                 "serialno", "sn", "miner_sn", "minersn", "unit_sn", "board_serial", "cb_sn")
#: ``serial#`` is U-Boot's own variable for the board it runs on: the control board.
CONTROL_BOARD_SERIAL_VARS = ("serial#", "board_serial", "cb_sn")
UNIT_SERIAL_VARS = ("miner_sn", "minersn", "unit_sn", "sn", "serialno")
#: What a second reading must confirm: the claimed variables and where flash is read into.
CONFIRMED_VARS = (*REPORTED_VARS, "loadaddr", "kernel_addr_r")

_ENV_LINE = re.compile(rb"([A-Za-z0-9_#.:+-]{1,64})=(.*)")
_VERSION = re.compile(rb"U-Boot(?: SPL)? \S+.*")
_HASH_LINE = re.compile(rb"(sha256|crc32) for ([0-9a-fA-F]{1,16}) \.\.\. ([0-9a-fA-F]{1,16}) ==> ([0-9a-fA-F]+)")
_UNKNOWN = re.compile(rb"Unknown command|unknown command|Usage:")
_READ_OK = re.compile(rb"bytes read: OK|Read: OK|bytes read OK")
_SIZE = re.compile(r"(0x[0-9a-fA-F]+|\d+)([kKmMgG]?)")
_SAFE_NAME = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_NAME_CHARS}}}")
_SERIAL = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MAC = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}")

T = TypeVar("T")


class UBoot:
    """A U-Boot prompt on a console link: framed commands, each output as cleaned lines."""

    def __init__(self, link: SerialLink, options: CollectOptions) -> None:
        self._link = link
        self._options = options
        self._session = secrets.token_hex(3).upper()
        self._count = 0

    async def run(self, command: str, *, timeout: float | None = None) -> list[bytes]:
        if len(command) > MAX_COMMAND_CHARS:
            raise ValueError(f"U-Boot command too long: {command[:40]}...")
        self._count += 1
        token = f"RA{self._session}{self._count:03d}"
        begin, end = f"{token}B", f"{token}E"
        await self._link.write(f"echo {begin}; echo {begin}; {command}; echo {end}; echo {end}\r".encode())
        scan = FrameScan(begin.encode(), end.encode(), UBOOT_REBOOT_SIGNS)
        limit = min(self._options.max_reply_bytes, MAX_OUTPUT_BYTES)
        # Silence for the timeout fails; a long reply may take twice the line time of the whole
        # cap (64 KiB: about 6 s at 115200; twice, for a device that pauses as it prints), so a
        # huge printenv ends on the cap, not on a timeout.
        idle = timeout or self._options.timeout
        await self._link.read_until(scan, timeout=idle + 2 * limit * BITS_PER_BYTE / self._link.baudrate,
                                    idle=idle, max_bytes=limit, what=f"the end of U-Boot `{command}`")
        return scan.body

    async def agreed(self, command: str, parse: Callable[[list[bytes]], T], *,
                     timeout: float | None = None, first: list[bytes] | None = None) -> T:
        """``parse(output)`` of two readings that agree (of three, when the first two differ).

        ``first``: an output of this command already read, which counts as the first reading.
        """
        one = parse(first if first is not None else await self.run(command, timeout=timeout))
        two = parse(await self.run(command, timeout=timeout))
        if one == two:
            return one
        three = parse(await self.run(command, timeout=timeout))
        if three in (one, two):
            return three
        raise CollectError(MALFORMED_REPLY, f"three readings of U-Boot `{command}` all differ: the line is too "
                                            "noisy to trust (check the ground wire and the baud rate)")


# --- parsers: cleaned lines in, plain values out; none of them raises --------------------------


def parse_version(output: list[bytes]) -> str | None:
    for line in output:
        match = _VERSION.search(line)
        if match:
            return printable(match[0].strip(), MAX_VALUE_CHARS)
    return None


def parse_printenv(output: list[bytes]) -> dict[str, str]:
    """``name=value`` lines; a name given twice (which U-Boot never prints) is dropped."""
    matches = (_ENV_LINE.fullmatch(line.rstrip()) for line in output)
    return unique_pairs((m[1].decode("ascii"), m[2].decode("ascii")) for m in matches if m is not None)


def parse_hash(output: list[bytes], algorithm: str, address: int, size: int) -> str | None:
    """The ``ALG for START ... END ==> HEX`` line for exactly the range asked about."""
    want = 64 if algorithm == "sha256" else 8
    for line in output:
        match = _HASH_LINE.search(line)
        if (match and match[1].decode() == algorithm and int(match[2], 16) == address
                and int(match[3], 16) == address + size - 1 and len(match[4]) == want):
            return match[4].decode("ascii").lower()
    return None


@dataclass(frozen=True)
class FlashRegion:
    """One ``mtdparts`` partition: where it is, and how this U-Boot reads it."""

    index: int
    name: str
    device: str  # the mtd-id, e.g. "nand0", "spi0.0"
    offset: int
    size: int
    reader: str | None  # "nand" | "sf" | None (no way to read it from here)

    @property
    def mutable(self) -> bool:
        return is_mutable(self.name)


def _size(text: str) -> int | None:
    match = _SIZE.fullmatch(text)
    if match is None:
        return None
    number = int(match[1], 0)
    return number * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match[2].lower()]


def parse_mtdparts(mtdparts: str, mtdids: str = "") -> tuple[list[FlashRegion], list[str]]:
    """``[mtdparts=]ID:SIZE[@OFF](NAME)[ro],...[;ID:...]`` -> regions, and why others were left out.

    ``-`` (the rest of the device) has no size U-Boot tells us, so it cannot be hashed exactly.
    """
    text = mtdparts.removeprefix("mtdparts=")
    kinds = {}
    for pair in mtdids.split(","):
        name, _, ident = pair.partition("=")
        kinds[ident.strip()] = name.strip()
    regions: list[FlashRegion] = []
    skipped: list[str] = []
    index = 0
    for device_text in filter(None, text.split(";")):
        device, sep, parts = device_text.partition(":")
        if not sep:
            skipped.append(f"unreadable mtdparts entry {printable(device_text, 64)!r}")
            continue
        kind = kinds.get(device, device)
        reader = "nand" if kind.startswith("nand") else "sf" if kind.startswith(("nor", "spi", "sf")) else None
        offset = 0
        for part in parts.split(","):
            match = re.fullmatch(r"(-|[0-9a-fA-Fx]+[kKmMgG]?)(?:@([0-9a-fA-Fx]+[kKmMgG]?))?\(([^)]*)\)(ro|lk|ro lk)*",
                                 part.strip())
            if match is None:
                skipped.append(f"unreadable partition {printable(part, 64)!r}")
                break
            if match[2] is not None:
                offset = _size(match[2]) or 0
            size = None if match[1] == "-" else _size(match[1])
            name = match[3]
            if size is None:
                skipped.append(f"partition {printable(name, 64)!r} has no stated size")
                break
            regions.append(FlashRegion(index, name, device, offset, size, reader))
            offset += size
            index += 1
    return regions, skipped


# --- the plan ------------------------------------------------------------------------------------


async def collect_bootloader_evidence(uboot: UBoot, source: str, options: CollectOptions, *,
                                      version_output: list[bytes] | None = None) -> list[Claim]:
    """version, printenv, then every firmware region of ``mtdparts`` read and hashed in RAM.

    ``version_output``: a ``version`` already read (finding the prompt asks it), the first reading.
    """

    def claim(name: str, value: str | int, what: str) -> Claim:
        return Claim(name, value, f"{source} u-boot {what}", Assurance.BOOTLOADER)

    claims: list[Claim] = []
    version = await uboot.agreed("version", parse_version, first=version_output)
    if version is None:
        raise CollectError(MALFORMED_REPLY, "the console's prompt looked like U-Boot's, but `version` "
                                            "printed no U-Boot version line")
    claims.append(claim("uboot.version", version, "version"))
    env = await read_environment(uboot)
    claims += _environment_claims(env, claim)
    claims += await _flash_claims(uboot, env, options, claim)
    return claims


async def read_environment(uboot: UBoot) -> dict[str, str]:
    """``printenv`` once in full, then only the variables that become claims or steer the flash
    reads, again (``printenv NAME...``) until two readings of those agree.

    A real environment is 2-5 KB: reading it all twice would be most of a check's bytes at
    115200 baud, while the second reading only has to catch noise in the values we rely on.
    """
    full = await uboot.run("printenv")
    env = parse_printenv(full)
    names = [name for name in CONFIRMED_VARS if name in env]
    if not names:
        return env

    def relied_on(output: list[bytes]) -> dict[str, str]:
        found = parse_printenv(output)
        return {name: found[name] for name in names if name in found}

    agreed = await uboot.agreed("printenv " + " ".join(names), relied_on, first=full)
    for name in names:  # the agreed readings decide; a value they do not both show is left out
        if name in agreed:
            env[name] = agreed[name]
        else:
            env.pop(name)
    return env


def _environment_claims(env: dict[str, str], claim: Callable[[str, str | int, str], Claim]) -> list[Claim]:
    claims = [claim("uboot.env.count", len(env), "printenv")]
    # What U-Boot runs by itself at power-on, judged as a flash dump's saved environment is.
    found = judge_environment(env)
    content = Content(CODE, "; ".join(found)) if found else Content(DATA, "boot commands read only flash")
    claims.append(claim("uboot.env.content", printable(content.text, MAX_VALUE_CHARS * 2), "printenv (boot commands)"))
    for name in REPORTED_VARS:
        if name in env:
            claims.append(claim(f"uboot.env.{name}", printable(env[name], MAX_VALUE_CHARS), "printenv"))
    mac = env.get("ethaddr", "")
    if _MAC.fullmatch(mac):
        claims.append(claim("net.mac", mac.lower(), "printenv ethaddr"))
    for target, names in (("control_board.serial", CONTROL_BOARD_SERIAL_VARS), ("unit.serial", UNIT_SERIAL_VARS)):
        found = [(name, env[name]) for name in names if _SERIAL.fullmatch(env.get(name, ""))]
        if found:  # several variables: the first in the documented order speaks
            claims.append(claim(target, found[0][1], f"printenv {found[0][0]}"))
    return claims


async def _flash_claims(uboot: UBoot, env: dict[str, str], options: CollectOptions,
                        claim: Callable[[str, str | int, str], Claim]) -> list[Claim]:
    if "mtdparts" not in env:
        return [claim("uboot.flash.integrity", "not read: the environment has no mtdparts", "printenv")]
    regions, skipped = parse_mtdparts(env["mtdparts"], env.get("mtdids", ""))
    claims = [claim("uboot.flash.skipped", "; ".join(skipped), "printenv mtdparts")] if skipped else []
    load = _address(env.get("loadaddr") or env.get("kernel_addr_r") or "")
    if load is None:
        return [*claims, claim("uboot.flash.integrity", "not read: no loadaddr to read flash into", "printenv")]
    names = [r.name for r in regions]
    algorithm: str | None = None
    for region in regions[: options.max_partitions]:
        why = _not_read_because(region, names)
        if why is not None:
            claims.append(claim(f"firmware.partition.mtd{region.index}.rejected", why, "printenv mtdparts"))
            continue
        if region.mutable:
            continue
        await _read_region(uboot, region, load, options)
        first = None
        if algorithm is None:
            algorithm, first = await choose_hash_algorithm(uboot, load, region.size, options)
        value = await uboot.agreed(f"{_HASH_COMMANDS[algorithm]} 0x{load:x} 0x{region.size:x}",
                                   lambda out, a=algorithm, s=region.size: parse_hash(out, a, load, s),
                                   timeout=options.hash_timeout, first=first)
        what = f"{region.reader} read {region.size:#x}@{region.offset:#x} + {_HASH_COMMANDS[algorithm]}"
        if value is not None:
            claims.append(claim(f"firmware.image.{region.name}.{algorithm}", f"{algorithm}:{value}", what))
    if algorithm is not None:
        strength = "sha256" if algorithm == "sha256" else "crc32 only (this U-Boot has no hash sha256): weak"
        claims.append(claim("uboot.flash.integrity", strength, "help"))
    return claims


_HASH_COMMANDS = {"sha256": "hash sha256", "crc32": "crc32"}


def _address(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None


def _not_read_because(region: FlashRegion, names: list[str]) -> str | None:
    if not _SAFE_NAME.fullmatch(region.name):
        return f'name "{printable(region.name, MAX_NAME_CHARS)}" is not a plain partition name; not read'
    if names.count(region.name) > 1:
        return f'name "{region.name}" is listed more than once; not read'
    if region.reader is None:
        return f"{region.name} is on {printable(region.device, 32)}, which this check cannot read from U-Boot"
    if region.size > MAX_REGION_BYTES:
        return f"{region.name} is {region.size} bytes, more than {MAX_REGION_BYTES}; not read"
    return None


async def _read_region(uboot: UBoot, region: FlashRegion, load: int, options: CollectOptions) -> None:
    probe = "sf probe; " if region.reader == "sf" else ""
    command = f"{probe}{region.reader} read 0x{load:x} 0x{region.offset:x} 0x{region.size:x}"
    output = await uboot.run(command, timeout=options.hash_timeout)
    if not any(_READ_OK.search(line) for line in output):
        said = printable(b" / ".join(line.strip() for line in output if line.strip())[-200:].decode("ascii"))
        raise CollectError(MALFORMED_REPLY, f"U-Boot could not read {region.name} from flash (`{command}`): {said}")


async def choose_hash_algorithm(uboot: UBoot, load: int, size: int,
                          options: CollectOptions) -> tuple[str, list[bytes] | None]:
    """``sha256`` when ``hash sha256`` works on this build (with that first reading), else ``crc32``."""
    output = await uboot.run(f"hash sha256 0x{load:x} 0x{size:x}", timeout=options.hash_timeout)
    if parse_hash(output, "sha256", load, size) is not None:
        return "sha256", output
    if any(_UNKNOWN.search(line) for line in lines(b"\n".join(output))):
        return "crc32", None
    said = printable(b" / ".join(output)[-200:].decode("ascii"))
    raise CollectError(MALFORMED_REPLY, f"U-Boot `hash sha256` gave neither a digest nor 'Unknown command': {said}")

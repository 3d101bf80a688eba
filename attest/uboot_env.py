"""A U-Boot environment as ``saveenv`` writes it to flash, and what its boot commands run.

The environment is per unit (MAC, serial numbers) and rewritten by the rig, so no signed release
can list its digest; yet it decides what boots. A script there once left a flash dump TRUSTED.
So the station reads it and judges the commands U-Boot runs on its own at power-on: ``preboot``,
``bootcmd`` and ``altbootcmd``, every variable they ``run`` (to any depth), and every variable
they expand. One of those that fetches code over the network (``tftpboot``, ``dhcp``, ``nfs``,
``wget``, ...), runs a script image (``source``, ``autoscr``), jumps into raw memory (``go``) or
loads from a USB stick is code from outside the signed images; so is ``init=`` or ``rdinit=`` in
``bootargs`` naming anything but a standard init. Reading flash (``nand read``, ``sf read``,
``ubi``) and booting it (``bootm``) is what the signed images cover, and is not a finding.

Layout (U-Boot env/common.c): CRC-32 of the data, little-endian; a flags byte in a redundant
environment; then ``name=value`` entries each ended by NUL, and one more NUL. Bytes are the
adversary's: sizes, counts and lengths are capped, and nothing here raises on malformed input.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

from attest.evidence import printable

#: Environment sizes tried (CONFIG_ENV_SIZE is a power of two on every board we know).
SIZES = tuple(1 << n for n in range(10, 19))  # 1 KiB .. 256 KiB
MAX_VARIABLES = 4096
MAX_NAME = 256
MAX_FINDINGS = 8
#: What U-Boot runs by itself at power-on.
ENTRY_POINTS = ("preboot", "bootcmd", "altbootcmd")
NETWORK = frozenset({"tftp", "tftpboot", "tftpsrv", "dhcp", "bootp", "rarpboot", "nfs", "wget", "pxe", "dnsload"})
SCRIPTS = frozenset({"source", "autoscr"})
JUMPS = frozenset({"go", "bootelf", "bootvx"})
LOADS = frozenset({"fatload", "ext2load", "ext4load", "load", "fsload", "ls"})
STANDARD_INITS = frozenset({"/sbin/init", "/init", "/linuxrc", "/etc/preinit", "/bin/init", "/sbin/procd"})
_KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "!", "while", "until", "for"})
_SPLIT = re.compile(r";|&&|\|\||\n")
_REFERENCE = re.compile(r"\$\{?([A-Za-z0-9_]{1,64})\}?")
_INIT = re.compile(r"(?:^|\s)(r?dinit|init)=(\S+)")
_FIRST_ENTRY = re.compile(rb"[\x21-\x3c\x3e-\x7e]{1,256}=")


@dataclass(frozen=True)
class Environment:
    variables: dict[str, str]
    size: int  # the CONFIG_ENV_SIZE whose CRC checked
    redundant: bool  # a flags byte after the CRC


def parse_environment(head: bytes) -> Environment | None:
    """The environment at the start of ``head``, or None when no size gives a CRC that checks.

    A CRC is only computed where the data starts as an entry does (``name=``): every partition of
    every rig is offered here, and almost none is an environment.
    """
    headers = [h for h in (4, 5) if _FIRST_ENTRY.match(head, h)]
    for size in (*[s for s in SIZES if s <= len(head)], len(head)) if headers else ():
        for header in headers:
            if size <= header + 2:
                continue
            data = head[header:size]
            if zlib.crc32(data) != int.from_bytes(head[:4], "little"):
                continue
            variables = _entries(data)
            if variables is not None:
                return Environment(variables, size, header == 5)
    return None


def _entries(data: bytes) -> dict[str, str] | None:
    end = data.find(b"\x00\x00")
    if end < 0:
        return None
    variables: dict[str, str] = {}
    for entry in data[:end].split(b"\x00")[:MAX_VARIABLES]:
        name, sep, value = entry.partition(b"=")
        if not sep or not name or len(name) > MAX_NAME:
            return None
        variables[name.decode("ascii", "replace")] = value.decode("utf-8", "replace")
    return variables


def judge_environment(variables: Mapping[str, str]) -> list[str]:
    """What the environment makes U-Boot fetch or run from outside the signed images, one plain
    line each (empty when its boot commands only read and boot flash)."""
    found: list[str] = []
    reached: dict[str, str] = {}  # variable -> how U-Boot gets to it ("bootcmd -> run fetch")
    queue = [(name, name) for name in ENTRY_POINTS if name in variables]
    while queue and len(reached) < MAX_VARIABLES:
        name, path = queue.pop(0)
        if name in reached:
            continue
        reached[name] = path
        for command in _commands(variables[name]):
            words = command.split()
            if words[0] == "run":
                queue += [(w, f"{path} -> run {w}") for w in words[1:] if w in variables]
            why = _why(words)
            if why is not None:
                found.append(f"{path}: `{printable(command, 160)}` {why}")
            queue += [(ref, f"{path} -> ${ref}") for ref in _REFERENCE.findall(command)
                      if ref in variables and ref not in reached]
    for name in ("bootargs", *reached):
        for match in _INIT.finditer(variables.get(name, "")):
            if match[2] not in STANDARD_INITS:
                found.append(f"{name} tells the kernel to run {printable(match[2], 120)} first ({match[1]}=)")
    unique = list(dict.fromkeys(found))
    return unique[:MAX_FINDINGS] + ([f"and {len(unique) - MAX_FINDINGS} more"] if len(unique) > MAX_FINDINGS else [])


def _commands(text: str) -> list[str]:
    out = []
    for part in _SPLIT.split(text):
        words = part.split()
        while words and words[0] in _KEYWORDS:
            words = words[1:]
        if words:
            out.append(" ".join(words))
    return out


def _why(words: list[str]) -> str | None:
    name = words[0]
    if name in NETWORK:
        return "fetches code over the network"
    if name in SCRIPTS:
        return "runs a script image"
    if name in JUMPS:
        return "jumps into code in memory"
    if name in LOADS and words[1:2] == ["usb"]:
        return "loads code from a USB stick"
    if name == "usb" and words[1:2] in (["start"], ["reset"]):
        return "starts USB to boot from it"
    return None


#: Variables vendors keep the unit's own serial number in (Bitmain: miner_sn), first found speaks.
UNIT_SERIAL_VARS = ("miner_sn", "minersn", "unit_sn", "sn", "serialno")
_SERIAL = re.compile(r"[A-Za-z0-9._-]{1,64}")


def unit_serial(variables: Mapping[str, str]) -> str | None:
    """The unit serial an environment names, or None (absent, or not a plain serial)."""
    for name in UNIT_SERIAL_VARS:
        value = variables.get(name, "")
        if _SERIAL.fullmatch(value):
            return value
    return None

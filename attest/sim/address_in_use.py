"""Saying who holds a simulator's address when it cannot bind one.

``attest demo`` and ``attest sim`` listen on the real miner ports of a loopback block. When
another simulator (a demo in another terminal, a colleague's test run) already holds that block,
the bind fails with EADDRINUSE; a new user needs one line naming the program that holds it and
what to do, not a traceback. On Linux the listening socket's inode in /proc/net/tcp leads to the
process that holds it (visible when it is ours, or to root); elsewhere, or when /proc does not
tell, the message says "another program".
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's state column
_CMDLINE_CAP = 160


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str


def bind_failure(error: OSError) -> tuple[str, int] | None:
    """(host, port) of an "address already in use" error from asyncio's create_server."""
    if error.errno != errno.EADDRINUSE:
        return None
    match = re.search(r"\('([^']+)', (\d+)\)", str(error))
    return (match.group(1), int(match.group(2))) if match else None


def who_listens(host: str, port: int, proc: Path = Path("/proc")) -> Holder | None:
    """The process with a TCP listener on host:port (or on every address), if /proc says."""
    inode = _listening_inode(host, port, proc)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    try:
        pids = [p for p in proc.iterdir() if p.name.isdigit()]
    except OSError:
        return None
    for pid_dir in pids:
        try:
            fds = list((pid_dir / "fd").iterdir())
        except OSError:
            continue  # not ours to look at, or gone
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    return Holder(int(pid_dir.name), _command(pid_dir))
            except OSError:
                continue
    return None


def _listening_inode(host: str, port: int, proc: Path) -> str | None:
    try:
        wanted = ipaddress.IPv4Address(host)
        lines = (proc / "net" / "tcp").read_text().splitlines()[1:]
    except (ValueError, OSError):
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or fields[3] != _LISTEN:
            continue
        address, _, hex_port = fields[1].partition(":")
        try:
            local = ipaddress.IPv4Address(int.from_bytes(bytes.fromhex(address), "little"))
            local_port = int(hex_port, 16)
        except ValueError:
            continue
        if local_port == port and local in (wanted, ipaddress.IPv4Address(0)):
            return fields[9]
    return None


def _command(pid_dir: Path) -> str:
    try:
        raw = (pid_dir / "cmdline").read_bytes()
    except OSError:
        return "?"
    words = [w.decode("utf-8", "replace") for w in raw.split(b"\0") if w]
    if len(words) > 1 and Path(words[0]).name.startswith("python"):
        words = words[1:]  # "python -m attest.cli sim" reads better without the interpreter's path
    if words:
        words[0] = Path(words[0]).name
    text = " ".join(words) or "?"
    return text if len(text) <= _CMDLINE_CAP else text[: _CMDLINE_CAP - 1] + "…"


def in_use_message(host: str, port: int, *, suggestion: str) -> str:
    """One line: what holds host:port and what to do about it."""
    holder = who_listens(host, port)
    who = f"process {holder.pid} ({holder.command})" if holder else "another program"
    return f"{host}:{port} is already in use by {who}. Stop it, or {suggestion}."

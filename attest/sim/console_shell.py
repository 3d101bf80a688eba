"""The busybox shell a simulated rig offers on its serial console once someone has logged in.

It reads the same file view as the SSH shell (attest.sim.ssh_server.execute runs cat, sha256sum
and grep), and adds what an interactive ash on a tty has and an exec channel does not: several
commands on a line (``;``), ``$?`` and variables, ``>FILE`` into a writable /tmp, ``echo``,
``cksum``, ``rm``, ``stty`` (echo and ``\\n`` -> ``\\r\\n`` on or off), ``dmesg -n``, ``id``,
``exit`` and ``reboot``, and an Antminer's CGI scripts under /www/pages/cgi-bin. Nothing here
runs a host command.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from dataclasses import dataclass, field

from attest.sim import web_server
from attest.sim.rig import Rig
from attest.sim.ssh_server import execute

CGI_DIR = "/www/pages/cgi-bin/"
_ASSIGNMENT = re.compile(r"([A-Za-z_]\w*)=(\S*)")
_REDIRECT = re.compile(r"\s(?<!2)>\s*(/tmp/\S+)\s*$")


def posix_cksum(data: bytes) -> int:
    """What busybox ``cksum`` prints first: POSIX CRC-32 over the data and then its length."""
    crc = 0
    length, tail = len(data), bytearray()
    while length:
        tail.append(length & 0xFF)
        length >>= 8
    for byte in data + bytes(tail):
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        crc &= 0xFFFFFFFF
    return ~crc & 0xFFFFFFFF


def split_commands(line: str) -> list[str]:
    """Split at ``;`` outside quotes (an indicator pattern may hold one)."""
    parts, current, quote = [], [], ""
    for ch in line:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == ";":
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


@dataclass
class ConsoleShell:
    """One login's shell: the tty's modes, ``$?``, variables and /tmp live here."""

    rig: Rig
    started: float = field(default_factory=time.monotonic)
    echo: bool = True
    onlcr: bool = True
    status: int = 0
    variables: dict[str, str] = field(default_factory=dict)
    tmp: dict[str, bytes] = field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return f"root@{self.rig.hostname}:~# "

    def run(self, line: str) -> tuple[bytes, str | None]:
        """Output of one typed line, and ``"exit"`` / ``"reboot"`` when it ends the session."""
        out = bytearray()
        for command in split_commands(line):
            text, action = self._simple(self._expand(command))
            out += text
            if action:
                return bytes(out), action
        return bytes(out), None

    def _expand(self, command: str) -> str:
        """``$?`` and ``$NAME`` outside single quotes, then ``''`` removed where it joins words."""
        pieces = re.split(r"('[^']*')", command)
        for i in range(0, len(pieces), 2):
            pieces[i] = re.sub(r"\$(\?|[A-Za-z_]\w*)",
                               lambda m: str(self.status) if m[1] == "?" else self.variables.get(m[1], ""), pieces[i])
        return "".join(pieces)

    def _simple(self, command: str) -> tuple[bytes, str | None]:
        assignment = _ASSIGNMENT.fullmatch(command)
        if assignment:
            self.variables[assignment[1]] = assignment[2]
            return b"", None
        target = None
        redirect = _REDIRECT.search(" " + command)
        if redirect:
            target, command = redirect[1], (" " + command)[: redirect.start()].strip()
        try:
            words = shlex.split(command)
        except ValueError:
            self.status = 2
            return b"sh: syntax error: unterminated quoted string\n", None
        stdout, stderr, action = self._program(words, command)
        if "2>/dev/null" in words:
            stderr = b""
        if target is not None:
            self.tmp[target] = stdout
            stdout = b""
        return stdout + stderr, action

    def _program(self, words: list[str], command: str) -> tuple[bytes, bytes, str | None]:
        name = words[0] if words else ""
        self.status = 0
        if name == "echo":
            return (" ".join(words[1:]) + "\n").encode(), b"", None
        if name == "stty":
            for flag in words[1:]:
                setting = not flag.startswith("-")
                if flag.lstrip("-") == "echo":
                    self.echo = setting
                elif flag.lstrip("-") == "onlcr":
                    self.onlcr = setting
            return b"", b"", None
        if name in ("dmesg", "true"):
            return b"", b"", None
        if name == "id":
            return b"0\n" if words[1:] == ["-u"] else b"uid=0(root) gid=0(root)\n", b"", None
        if name in ("exit", "reboot"):
            return b"", b"", name
        if name == "rm":
            for path in words[1:]:
                self.tmp.pop(path, None)
            return b"", b"", None
        if name == "cksum":
            return self._cksum(words[1:])
        if name.startswith(CGI_DIR):
            return self._cgi(name[len(CGI_DIR):])
        output = execute(self.rig, command, self.tmp)
        self.status = output.exit_status
        return output.stdout, output.stderr, None

    def _cksum(self, paths: list[str]) -> tuple[bytes, bytes, str | None]:
        out, err = bytearray(), bytearray()
        for path in paths:
            data = self.tmp.get(path)
            if data is None:
                err += f"cksum: {path}: No such file or directory\n".encode()
                self.status = 1
            else:
                out += f"{posix_cksum(data)} {len(data)} {path}\n".encode()
        return bytes(out), bytes(err), None

    def _cgi(self, name: str) -> tuple[bytes, bytes, str | None]:
        """An Antminer's web UI scripts: the same JSON its web server gives (docs/protocols.md)."""
        pages = {"get_system_info.cgi": lambda: web_server.system_info(self.rig),
                 "stats.cgi": lambda: web_server.stats(self.rig, int(time.monotonic() - self.started)),
                 "pools.cgi": lambda: web_server.pools(self.rig)}
        if self.rig.family != "antminer" or name not in pages:
            self.status = 127
            return b"", f"sh: {CGI_DIR}{name}: not found\n".encode(), None
        return json.dumps(pages[name]()).encode() + b"\n", b"", None

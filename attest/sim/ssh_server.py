"""A rig's SSH shell for the simulator: password login, exec requests, a tiny fake userland.

Nothing here runs a host command. ``execute`` interprets the few programs the shell driver uses
(cat, sha256sum, grep; docs/protocols.md "Linux shell over SSH") over a read-only file view
built from the Rig, answering with the messages and exit codes busybox/coreutils give. Anything
else gets ``sh: CMD: not found`` and 127, as a real shell without that program would.

Behaviours (docs/protocols.md "Simulator behaviours"): ``unresponsive`` is a bare TCP listener
that never writes; ``garbage`` writes a non-SSH banner and junk, then hangs up; ``slow`` is the
real server with each command's answer held back SLOW_DELAY_SECONDS. A rig with SSH disabled
gets no listener at all (``start_ssh_server`` returns None), so its port refuses connections.

Scale: a fleet runs up to 1,000 of these in one process, so image digests are cached by content
rather than recomputed per request. Each rig has its own host key, derived from its
``host_key_seed`` (deterministic, so a unit keeps its key from run to run, as a real one does
until it is reflashed); ``rig.self_report`` makes its ``sha256sum`` lie about its flash.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import asyncssh
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from attest.sim.rig import GARBAGE, SLOW, SLOW_DELAY_SECONDS, UNRESPONSIVE, Rig
from attest.sim.uboot import layout, partitions

#: What a `garbage` rig says instead of an SSH version line.
GARBAGE_BYTES = (
    b"HTTP/1.1 400 Bad Request\r\nServer: \xff\xfe\x00junk\r\nContent-Length: 0\r\n\r\n"
    b"\x1b[2J\x00\x01\x02\x03 not ssh \xde\xad\xbe\xef\r\n"
)
ERASE_SIZE = 0x20000
_CPUINFO = """processor\t: 0
model name\t: ARMv7 Processor rev 0 (v7l)
BogoMIPS\t: 1325.46
Features\t: half thumb fastmult vfp edsp neon vfpv3 tls vfpd32
CPU implementer\t: 0x41
CPU architecture: 7
CPU variant\t: 0x3
CPU part\t: 0xc09
CPU revision\t: 0

Hardware\t: Xilinx Zynq Platform
Revision\t: 0003
Serial\t\t: {serial}
"""


def make_host_key(seed: str | None = None) -> asyncssh.SSHKey:
    """One Ed25519 host key; generate it once and share it across a fleet's servers. A seeded
    fleet gets the same key every time: the same units, started again elsewhere."""
    if seed is None:
        return asyncssh.generate_private_key("ssh-ed25519")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"ssh-host-key/{seed}".encode()).digest())
    return asyncssh.import_private_key(key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))


@functools.lru_cache(maxsize=8192)
def host_key_from_seed(seed: str) -> asyncssh.SSHKey:
    """The Ed25519 host key a seed gives: the same key on every run, a different one per seed."""
    secret = hashlib.sha256(b"rigattest-sim-ssh-host-key/" + seed.encode()).digest()
    pem = ed25519.Ed25519PrivateKey.from_private_bytes(secret).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    return asyncssh.import_private_key(pem)


def host_key_for(rig: Rig) -> asyncssh.SSHKey:
    """The rig's own host key, from ``rig.host_key_seed`` (its name when no seed was set)."""
    return host_key_from_seed(rig.host_key_seed or rig.name)


# --- the file view -----------------------------------------------------------------------------


def rig_files(rig: Rig) -> dict[str, bytes]:
    """Every path the shell can read, built from the rig as it is now (scenarios may change it).

    The flash partitions are attest.sim.uboot.partitions(rig) in order (what U-Boot's mtdparts
    lists too); ``rig.files`` comes last so a scenario or test can plant or replace any file.
    """
    files: dict[str, bytes] = {}
    mtd = [b"dev:    size   erasesize  name\n"]
    for index, (name, data) in enumerate(partitions(rig)):
        mtd.append(b'mtd%d: %08x %08x "%s"\n' % (index, len(data), ERASE_SIZE, name.encode()))
        files[f"/dev/mtd{index}"] = data
    files["/proc/mtd"] = b"".join(mtd)
    files["/proc/cpuinfo"] = _CPUINFO.format(serial=rig.control_board_serial).encode()
    files["/sys/class/net/eth0/address"] = rig.mac.lower().encode() + b"\n"
    files[rig.miner_path] = rig.miner_binary
    config = "/config/bmminer.conf" if rig.family == "antminer" else "/config/cgminer.conf"
    files[config] = rig.pool_config_json()
    files.update(rig.files)
    return files


def self_report_files(rig: Rig) -> dict[str, bytes]:
    """What the rig's own sha256sum sees in place of the real flash (``rig.self_report``)."""
    if not rig.self_report:
        return {}
    devices = {name: f"/dev/mtd{index}" for index, (name, _) in enumerate(layout(rig))}
    return {devices[name]: data for name, data in rig.self_report.items() if name in devices}


@functools.lru_cache(maxsize=4096)
def _sha256_hex(data: bytes) -> str:
    """Cached by content: a fleet asks for the same image digests over and over."""
    return hashlib.sha256(data).hexdigest()


def _missing(files: dict[str, bytes], path: str) -> str:
    prefix = path.rstrip("/") + "/"
    if path == "/" or any(name.startswith(prefix) for name in files):
        return "Is a directory"
    return "No such file or directory"


# --- the shell ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandOutput:
    stdout: bytes
    stderr: bytes
    exit_status: int


class ShellSyntaxError(Exception):
    """The command uses shell syntax this shell does not offer (pipes, expansion, ...)."""


_OPERATORS = frozenset("|&;<>()`$\n")
_REDIRECT = ">/dev/null"


def split_command(command: str) -> tuple[list[str], bool]:
    """POSIX-sh words of one simple command, and whether it ended in ``2>/dev/null``.

    Quoting is honoured ('...', "...", backslash); operators, expansions and redirections
    other than ``2>/dev/null`` raise ShellSyntaxError rather than being taken literally.
    """
    words: list[str] = []
    word: list[str] = []
    in_word = quoted = quiet = False
    i, n = 0, len(command)
    while i < n:
        ch = command[i]
        if ch in " \t":
            if in_word:
                words.append("".join(word))
                word, in_word, quoted = [], False, False
            i += 1
        elif ch == "'":
            end = command.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unterminated quoted string")
            word.append(command[i + 1 : end])
            in_word = quoted = True
            i = end + 1
        elif ch == '"':
            i = _double_quoted(command, i + 1, word)
            in_word = quoted = True
        elif ch == "\\":
            if i + 1 >= n:
                raise ShellSyntaxError("unexpected end of command after \\")
            word.append(command[i + 1])
            in_word = quoted = True
            i += 2
        elif ch == ">" and not quoted and word == ["2"] and _redirect_at(command, i):
            quiet = True
            word, in_word = [], False
            i += len(_REDIRECT)
        elif ch == "#" and not in_word:
            break  # a comment runs to the end of the line
        elif ch in _OPERATORS:
            raise ShellSyntaxError(f'unexpected "{ch}" (only single commands are supported)')
        else:
            word.append(ch)
            in_word = True
            i += 1
    if in_word:
        words.append("".join(word))
    return words, quiet


def _redirect_at(command: str, i: int) -> bool:
    end = i + len(_REDIRECT)
    return command.startswith(_REDIRECT, i) and (end == len(command) or command[end] in " \t")


def _double_quoted(command: str, i: int, word: list[str]) -> int:
    """Append a "..." body to ``word``; return the index after the closing quote."""
    while i < len(command):
        ch = command[i]
        if ch == '"':
            return i + 1
        if ch == "\\" and i + 1 < len(command) and command[i + 1] in '"\\$`':
            word.append(command[i + 1])
            i += 2
            continue
        if ch in "$`":
            raise ShellSyntaxError(f'"{ch}" expansion is not supported')
        word.append(ch)
        i += 1
    raise ShellSyntaxError("unterminated quoted string")


def execute(rig: Rig, command: str, extra_files: dict[str, bytes] | None = None) -> CommandOutput:
    """Run one exec request against the rig's file view, as busybox sh would answer it.

    ``extra_files`` (the serial console's /tmp) are readable too.
    """
    try:
        words, quiet = split_command(command)
    except ShellSyntaxError as exc:
        return CommandOutput(b"", f"sh: syntax error: {exc}\n".encode(), 2)
    if not words:
        return CommandOutput(b"", b"", 0)
    name = words[0]
    base = name.rsplit("/", 1)[-1] if name.startswith(("/bin/", "/usr/bin/")) else name
    program = _PROGRAMS.get(base)
    if program is None:
        output = CommandOutput(b"", f"sh: {name}: not found\n".encode(), 127)
    else:
        files = {**rig_files(rig), **(extra_files or {})}
        if base == "sha256sum":  # a modified busybox may print whatever digests it likes
            files.update(self_report_files(rig))
        output = program(files, words[1:])
    return replace(output, stderr=b"") if quiet else output


def _cat(files: dict[str, bytes], args: list[str]) -> CommandOutput:
    out, err, status = bytearray(), bytearray(), 0
    for path in args:
        if path.startswith("-") and path != "-":
            return CommandOutput(b"", f"cat: unrecognized option '{path}'\n".encode(), 1)
        data = b"" if path == "-" else files.get(path)  # stdin: the exec channel sends none
        if data is None:
            err += f"cat: {path}: {_missing(files, path)}\n".encode()
            status = 1
        else:
            out += data
    return CommandOutput(bytes(out), bytes(err), status)


def _sha256sum(files: dict[str, bytes], args: list[str]) -> CommandOutput:
    out, err, status = bytearray(), bytearray(), 0
    for path in args or ["-"]:
        if path.startswith("-") and path != "-":
            return CommandOutput(b"", f"sha256sum: unrecognized option '{path}'\n".encode(), 1)
        data = b"" if path == "-" else files.get(path)
        if data is None:
            err += f"sha256sum: {path}: {_missing(files, path)}\n".encode()
            status = 1
        else:
            out += f"{_sha256_hex(data)}  {path}\n".encode()
    return CommandOutput(bytes(out), bytes(err), status)


_GREP_FLAGS = frozenset("aoFHhsq")
_GREP_USAGE = b"Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n"


def _grep(files: dict[str, bytes], args: list[str]) -> CommandOutput:
    """Fixed-string grep (patterns are always taken literally here, with or without -F)."""
    patterns: list[str] = []
    flags: set[str] = set()
    operands: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            operands += args[i + 1 :]
            break
        if not arg.startswith("-") or arg == "-":
            operands.append(arg)
        else:
            for j, flag in enumerate(arg[1:], start=1):
                if flag == "e":
                    if j + 1 < len(arg):
                        patterns.append(arg[j + 1 :])
                    elif i + 1 < len(args):
                        i += 1
                        patterns.append(args[i])
                    else:
                        return CommandOutput(b"", b"grep: option requires an argument -- 'e'\n" + _GREP_USAGE, 2)
                    break
                if flag not in _GREP_FLAGS:
                    return CommandOutput(b"", f"grep: invalid option -- '{flag}'\n".encode() + _GREP_USAGE, 2)
                flags.add(flag)
        i += 1
    if not patterns:
        if not operands:
            return CommandOutput(b"", _GREP_USAGE, 2)
        patterns.append(operands.pop(0))
    named = ("H" in flags or len(operands) > 1) and "h" not in flags
    out, err = bytearray(), bytearray()
    matched = errors = False
    for path in operands or ["-"]:
        data = b"" if path == "-" else files.get(path)
        if data is None:
            if "s" not in flags:
                err += f"grep: {path}: {_missing(files, path)}\n".encode()
            errors = True
            continue
        hits = _grep_hits(data, patterns, only_matching="o" in flags)
        if not hits:
            continue
        matched = True
        if "q" in flags:
            return CommandOutput(b"", b"", 0)
        prefix = path.encode() + b":" if named else b""
        if "a" not in flags and b"\x00" in data:
            out += f"Binary file {path} matches\n".encode()
        else:
            out += b"".join(prefix + hit + b"\n" for hit in hits)
    status = 2 if errors else 0 if matched else 1
    return CommandOutput(bytes(out), bytes(err), status)


def _grep_hits(data: bytes, patterns: list[str], *, only_matching: bool) -> list[bytes]:
    """Leftmost, then longest, non-overlapping matches (-o), or the lines holding one."""
    needles = sorted({p.encode() for p in patterns if p}, key=len, reverse=True)
    if not needles:
        return []
    # Longest alternative first: at each position the regex engine takes the first that fits.
    finder = re.compile(b"|".join(re.escape(n) for n in needles))
    if only_matching:
        return [match[0] for match in finder.finditer(data)]
    return [line for line in data.split(b"\n") if finder.search(line)]


_PROGRAMS: dict[str, Callable[[dict[str, bytes], list[str]], CommandOutput]] = {
    "cat": _cat,
    "sha256sum": _sha256sum,
    "grep": _grep,
}


# --- the servers -------------------------------------------------------------------------------


class SSHServerHandle:
    """A running rig SSH listener; ``close()`` also drops every connection it accepted."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.port = 0
        self._server: asyncio.AbstractServer | asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._transports: set[asyncio.BaseTransport] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            conn.close()
        for transport in list(self._transports):
            transport.abort()
        for task in list(self._tasks):
            task.cancel()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
        for conn in list(self._connections):
            await conn.wait_closed()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class _RigSSHServer(asyncssh.SSHServer):
    def __init__(self, rig: Rig, handle: SSHServerHandle) -> None:
        self._rig = rig
        self._handle = handle
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._handle._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._handle._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # every login must authenticate

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        user_ok = hmac.compare_digest(username.encode(), self._rig.username.encode())
        password_ok = hmac.compare_digest(password.encode(), self._rig.password.encode())
        return user_ok and password_ok

    def session_requested(self) -> asyncssh.SSHServerSession[bytes]:
        return _ExecSession(self._rig, self._handle)


class _ExecSession(asyncssh.SSHServerSession[bytes]):
    """One exec request: interpret it, answer, exit. Shells, ptys and subsystems are refused."""

    def __init__(self, rig: Rig, handle: SSHServerHandle) -> None:
        self._rig = rig
        self._handle = handle
        self._command: str | None = None
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: dict[int, int]) -> bool:
        return False

    def shell_requested(self) -> bool:
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        return False

    def exec_requested(self, command: str) -> bool:
        self._command = command
        return True

    def session_started(self) -> None:
        task = asyncio.create_task(self._answer())
        self._handle._tasks.add(task)
        task.add_done_callback(self._handle._tasks.discard)

    async def _answer(self) -> None:
        if self._chan is None or self._command is None:
            return  # session_started without an exec request cannot happen: shells are refused
        output = execute(self._rig, self._command)
        if self._rig.behaviour == SLOW:
            await asyncio.sleep(SLOW_DELAY_SECONDS)
        try:
            if output.stdout:
                self._chan.write(output.stdout)
            if output.stderr:
                self._chan.write_stderr(output.stderr)
            self._chan.exit(output.exit_status)
        except BrokenPipeError:
            pass  # the client closed the channel first (e.g. the output passed its cap)


class _SilentProtocol(asyncio.Protocol):
    """`unresponsive`: accept, read, never write."""

    def __init__(self, handle: SSHServerHandle) -> None:
        self._handle = handle
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._handle._transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._handle._transports.discard(self._transport)


class _GarbageProtocol(_SilentProtocol):
    """`garbage`: a non-SSH banner and junk, then hang up once the client has spoken.

    Waiting for the client's first bytes before closing means its version line has been read,
    so the close is a clean FIN; closing with unread data would send a RST that can destroy
    the junk in flight before the client reads it.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(GARBAGE_BYTES)

    def data_received(self, data: bytes) -> None:
        if self._transport is not None:
            self._transport.close()


async def start_ssh_server(rig: Rig, host: str, port: int,
                           host_key: asyncssh.SSHKey | None = None) -> SSHServerHandle | None:
    """Listen for the rig's SSH on ``host:port`` (0 picks a free port; see ``handle.port``), with
    ``host_key``, or the rig's own (``host_key_for``) when None.

    Returns None when the rig has SSH disabled: nothing listens, so the port refuses
    connections exactly like a rig whose sshd is off.
    """
    if not rig.ssh_enabled:
        return None
    handle = SSHServerHandle(host)
    loop = asyncio.get_running_loop()
    if rig.behaviour in (UNRESPONSIVE, GARBAGE):
        protocol = _SilentProtocol if rig.behaviour == UNRESPONSIVE else _GarbageProtocol
        server = await loop.create_server(lambda: protocol(handle), host, port)
        handle._server = server
        handle.port = server.sockets[0].getsockname()[1]
        return handle
    acceptor = await asyncssh.create_server(
        lambda: _RigSSHServer(rig, handle),
        host,
        port,
        server_host_keys=[host_key or host_key_for(rig)],
        config=None,
        encoding=None,
        allow_pty=False,
        agent_forwarding=False,
        x11_forwarding=False,
        allow_scp=False,
        login_timeout=30,
        keepalive_interval=0,
        server_version="dropbear_2019.78",
    )
    handle._server = acceptor
    handle.port = acceptor.get_port()
    return handle

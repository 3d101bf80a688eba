"""SSH to a rig's Linux shell: one connection, one exec channel per command, every read capped.

The rig is the adversary. Everything it sends is bounded in time (``timeout`` on the login and on
each command) and in size (a byte cap on each command's stdout and stderr, and on whatever it
sends before its SSH version line). Expected failures raise :class:`TransportError` carrying the
same code strings as ``attest.drivers.base`` (see ``transport/errors.py``); this module imports
nothing of ``attest`` outside ``transport/`` (DESIGN.md: a transport knows bytes, not vendors), so
the driver maps the error one to one.

Host keys are not verified (``known_hosts=None``): at intake the station meets every rig for the
first time and has nothing to pin. Instead :attr:`SSHShell.host_key` gives the server key's
SHA-256 fingerprint so the driver can put it in the evidence and the log records it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import asyncssh

from attest.transport.errors import (
    AUTH_FAILED,
    CONNECTION_RESET,
    MALFORMED_REPLY,
    REPLY_TOO_LARGE,
    TIMEOUT,
    UNREACHABLE,
    Recorder,
    TransportError,
)

# The same strings as attest.drivers.base (kept in step by tests/drivers/test_ssh.py).

#: RFC 4253 lets a server send text lines before its version line; a genuine rig sends none, so
#: this much is already generous. Past it the peer is flooding us and is not an SSH server.
MAX_PRELUDE_BYTES = 16 * 1024
#: What one command may put in the transcript per stream; the transcript has its own total cap,
#: this keeps one chatty command from crowding out the others.
RECORD_CAP_BYTES = 8 * 1024
#: Closing a connection waits this long for the peer before dropping the socket.
CLOSE_TIMEOUT_SECONDS = 2.0
CLIENT_VERSION = "RigAttest"
#: asyncssh's own ciphers, AES-GCM moved ahead of ChaCha20-Poly1305: asyncssh builds three cipher
#: contexts per ChaCha packet (about 20 us against 3.5 us for GCM), which made the cipher the
#: largest single cost of a 1,000-rig verify. The client's order decides, and every listed cipher
#: is still offered, so a rig that lacks GCM (older dropbear: aes*-ctr) negotiates as before.
PREFERRED_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
)



@dataclass(frozen=True)
class CommandResult:
    """What one exec channel returned.

    ``exit_status`` is -1 when the command died by a signal and None when the device sent no
    status at all; callers treat both as "the command failed".
    """

    exit_status: int | None
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True)
class StreamResult:
    """What one streamed command returned: its stdout went to the sink, never into memory here.

    ``size`` counts the stdout bytes handed to the sink; ``exit_status`` is as for CommandResult.
    """

    exit_status: int | None
    size: int
    stderr: bytes


def _discard(direction: str, data: bytes) -> None:
    """The recorder used when the caller keeps no transcript."""


def safe_text(data: bytes, limit: int = 120) -> str:
    """Device bytes quoted for a message: ASCII only, control bytes escaped, length bounded."""
    text = repr(bytes(data[:limit]))[2:-1]
    return text + ("..." if len(data) > limit else "")


def _looks_like_ssh(prelude: bytes) -> bool:
    """Whether what arrived so far could still become an SSH identification line."""
    lines = prelude.split(b"\n")
    if any(line.startswith(b"SSH-") for line in lines):
        return True
    # The last, unfinished line may be a version line still on its way ("SSH" so far). Text
    # lines before the version are legal (RFC 4253 4.2) but no rig sends them: a peer that sent
    # only such lines and then stalled or hung up is reported as not speaking SSH.
    return bool(lines[-1]) and b"SSH-".startswith(lines[-1][:4])


class _BannerWatch(asyncio.Protocol):
    """Sits between the socket and asyncssh to see the bytes before the SSH version line.

    asyncssh skips non-SSH lines silently and only reports a generic "connection lost" when a
    non-SSH service hangs up; keeping those bytes lets us say MALFORMED_REPLY (and show them)
    instead of CONNECTION_RESET, and lets us cut off a peer that floods text before a version.
    """

    def __init__(self, inner: asyncio.Protocol, limit: int) -> None:
        self.inner = inner
        self.prelude = bytearray()
        self.version_seen = False
        self.flooded = False
        self._limit = limit
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.flooded:
            return
        if not self.version_seen:
            self.prelude += data[: self._limit + 1 - len(self.prelude)]
            complete = self.prelude[: self.prelude.rfind(b"\n") + 1]
            self.version_seen = any(line.startswith(b"SSH-") for line in complete.split(b"\n"))
            if not self.version_seen and len(self.prelude) > self._limit:
                self.flooded = True
                if self._transport is not None:
                    self._transport.abort()
                return
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def banner_lines(self) -> bytes:
        """The version line and anything before it, for the transcript."""
        end = self.prelude.find(b"\n", self.prelude.find(b"SSH-")) if self.version_seen else -1
        return bytes(self.prelude[: end + 1] if end >= 0 else self.prelude)


class _WatchedConnector:
    """An asyncssh ``tunnel`` that is a plain TCP connection wrapped in a :class:`_BannerWatch`."""

    def __init__(self) -> None:
        self.watch: _BannerWatch | None = None

    async def create_connection(
        self, session_factory: Callable[[], Any], remote_host: str, remote_port: int
    ) -> tuple[asyncio.BaseTransport, Any]:
        def protocol() -> _BannerWatch:
            self.watch = _BannerWatch(session_factory(), MAX_PRELUDE_BYTES)
            return self.watch

        loop = asyncio.get_running_loop()
        transport, watch = await loop.create_connection(protocol, remote_host, remote_port)
        return transport, watch.inner


_PROTOCOL_ERRORS = (
    asyncssh.ProtocolError,
    asyncssh.ProtocolNotSupported,
    asyncssh.KeyExchangeFailed,
    asyncssh.MACError,
    asyncssh.CompressionError,
    asyncssh.ServiceNotAvailable,
    asyncssh.IllegalUserName,
)


def _login_failure(watch: _BannerWatch | None, exc: BaseException, timeout: float) -> TransportError:
    """Name why a login failed from what the peer actually sent before it failed."""
    prelude = bytes(watch.prelude) if watch else b""
    timed_out = isinstance(exc, TimeoutError)
    if watch is not None and watch.version_seen:
        if timed_out:
            return TransportError(TIMEOUT, f"the SSH handshake did not finish within {timeout:g} s")
        if isinstance(exc, _PROTOCOL_ERRORS):
            return TransportError(MALFORMED_REPLY, f"the SSH handshake failed: {safe_text(str(exc).encode())}")
        return TransportError(CONNECTION_RESET, "the device closed the connection during the SSH handshake")
    if watch is not None and watch.flooded:
        return TransportError(
            MALFORMED_REPLY,
            f"more than {MAX_PRELUDE_BYTES} bytes without an SSH version line: {safe_text(prelude)}",
        )
    if prelude and not _looks_like_ssh(prelude):
        return TransportError(MALFORMED_REPLY, f"not an SSH server; it sent: {safe_text(prelude)}")
    if timed_out and watch is None:
        return TransportError(TIMEOUT, f"no TCP connection within {timeout:g} s")
    if timed_out:
        what = "complete SSH banner" if prelude else "SSH banner"
        return TransportError(TIMEOUT, f"no {what} within {timeout:g} s")
    return TransportError(CONNECTION_RESET, "the device closed the connection before its SSH banner")


class _Idle(Exception):
    """A streamed command sent nothing for its idle time."""


class _CappedSession(asyncssh.SSHClientSession[bytes]):
    """Collects one command's output and gives up on the channel the moment a cap is passed."""

    def __init__(self, max_bytes: int, finished: asyncio.Future[None]) -> None:
        self.max_bytes = max_bytes
        self.finished = finished
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.overflow = False
        self.error: Exception | None = None
        self.chan: asyncssh.SSHClientChannel[bytes] | None = None

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self.chan = chan

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self.overflow:
            return
        buffer = self.stderr if datatype == asyncssh.EXTENDED_DATA_STDERR else self.stdout
        room = self.max_bytes - len(buffer)
        buffer += data[: max(room, 0)]
        if len(data) > room:
            self.overflow = True
            if self.chan is not None:
                self.chan.abort()
            self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = exc
        self._finish()

    def _finish(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


class _StreamingSession(asyncssh.SSHClientSession[bytes]):
    """Hands one command's stdout to a sink as it arrives (nothing kept), capped; stderr kept, capped."""

    def __init__(self, sink: Callable[[bytes], None], max_bytes: int, max_stderr: int,
                 finished: asyncio.Future[None]) -> None:
        self.sink = sink
        self.max_bytes = max_bytes
        self.max_stderr = max_stderr
        self.finished = finished
        self.size = 0
        self.stderr = bytearray()
        self.overflow = False
        self.error: Exception | None = None
        self.sink_error: Exception | None = None
        self.chan: asyncssh.SSHClientChannel[bytes] | None = None

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self.chan = chan

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self.overflow or self.sink_error is not None:
            return
        if datatype == asyncssh.EXTENDED_DATA_STDERR:
            self.stderr += data[: max(self.max_stderr - len(self.stderr), 0)]
            return
        room = self.max_bytes - self.size
        try:
            self.sink(data[: max(room, 0)])
        except Exception as exc:  # the station's own sink failed: stop reading, the caller re-raises it
            self.sink_error = exc
            self._abort()
            return
        self.size += min(len(data), max(room, 0))
        if len(data) > room:
            self.overflow = True
            self._abort()

    def _abort(self) -> None:
        if self.chan is not None:
            self.chan.abort()
        self._finish()

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = exc
        self._finish()

    def _finish(self) -> None:
        if not self.finished.done():
            self.finished.set_result(None)


class SSHShell:
    """An authenticated SSH connection to one rig; :meth:`run` is the shell driver's runner."""

    def __init__(self, conn: asyncssh.SSHClientConnection, username: str, record: Recorder) -> None:
        self._conn = conn
        self._record = record
        self.username = username

    @property
    def host_key(self) -> str:
        """The server's host key fingerprint, ``SHA256:<base64>`` as ``ssh-keygen -l`` prints it:
        the same text for the same key whatever else the handshake chose (compare it as is)."""
        key = self._conn.get_server_host_key()
        if key is None:  # asyncssh always has one after key exchange; be explicit anyway
            return "unknown"
        return str(key.get_fingerprint("sha256"))

    @property
    def host_key_algorithm(self) -> str:
        key = self._conn.get_server_host_key()
        return "unknown" if key is None else str(key.get_algorithm())

    @property
    def server_version(self) -> str:
        return str(self._conn.get_extra_info("server_version") or "")

    async def run(self, command: str, *, timeout: float, max_bytes: int) -> CommandResult:
        """Run one command on its own exec channel; a nonzero exit status is a result, not an error.

        Raises TransportError for TIMEOUT (no complete reply in time), REPLY_TOO_LARGE (stdout or
        stderr passed ``max_bytes``; the channel is aborted, the connection stays usable) and
        CONNECTION_RESET (the connection or channel failed).
        """
        self._record(">", command.encode("utf-8", "backslashreplace"))
        finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        session = _CappedSession(max_bytes, finished)
        try:
            async with asyncio.timeout(timeout):
                await self._conn.create_session(lambda: session, command, encoding=None)
                await finished
        except TimeoutError:
            if session.chan is not None:
                session.chan.abort()
            self._record_output(session)
            raise TransportError(TIMEOUT, f"no complete reply to {command!r} within {timeout:g} s") from None
        except (asyncssh.Error, OSError) as exc:
            raise TransportError(
                CONNECTION_RESET, f"{command!r} failed on the wire: {safe_text(str(exc).encode())}"
            ) from None
        self._record_output(session)
        if session.overflow:
            self._record("<", f"[output passed {max_bytes} bytes; channel aborted]".encode())
            raise TransportError(REPLY_TOO_LARGE, f"the output of {command!r} passed {max_bytes} bytes")
        if session.error is not None:
            raise TransportError(
                CONNECTION_RESET, f"the channel for {command!r} failed: {safe_text(str(session.error).encode())}"
            )
        status = session.chan.get_exit_status() if session.chan is not None else None
        self._record("<", f"[exit status {status}]".encode())
        return CommandResult(status, bytes(session.stdout), bytes(session.stderr))

    async def stream(self, command: str, sink: Callable[[bytes], None], *, timeout: float, idle: float,
                     max_bytes: int, max_stderr: int = 4096) -> StreamResult:
        """Run one command on its own exec channel and hand its stdout to ``sink`` as it arrives.

        For reading raw flash: the station hashes the bytes as they stream, so memory stays flat
        however large the partition. Raises TransportError for TIMEOUT (not finished within
        ``timeout`` seconds, or no byte for ``idle`` seconds), REPLY_TOO_LARGE (stdout passed
        ``max_bytes``; the channel is aborted, the connection stays usable) and CONNECTION_RESET.
        An exception from ``sink`` aborts the channel and is raised as it is.
        """
        self._record(">", command.encode("utf-8", "backslashreplace"))
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        session = _StreamingSession(sink, max_bytes, max_stderr, finished)
        try:
            async with asyncio.timeout(timeout):
                await self._conn.create_session(lambda: session, command, encoding=None)
                while not finished.done():
                    seen = session.size + len(session.stderr)
                    await asyncio.wait({finished}, timeout=idle)
                    if not finished.done() and session.size + len(session.stderr) == seen:
                        raise _Idle
        except (TimeoutError, _Idle) as exc:
            if session.chan is not None:
                session.chan.abort()
            self._record("<", f"[{session.size} bytes streamed, then nothing]".encode())
            what = f"no byte for {idle:g} s" if isinstance(exc, _Idle) else f"not finished within {timeout:g} s"
            raise TransportError(TIMEOUT, f"{command!r}: {what} ({session.size} bytes streamed)") from None
        except (asyncssh.Error, OSError) as exc:
            raise TransportError(
                CONNECTION_RESET, f"{command!r} failed on the wire: {safe_text(str(exc).encode())}"
            ) from None
        if session.sink_error is not None:
            raise session.sink_error
        self._record("<", f"[{session.size} bytes streamed to the station]".encode())
        if session.stderr:
            self._record("<", b"[stderr] " + bytes(session.stderr[:RECORD_CAP_BYTES]))
        if session.overflow:
            raise TransportError(REPLY_TOO_LARGE, f"the output of {command!r} passed {max_bytes} bytes")
        if session.error is not None:
            raise TransportError(
                CONNECTION_RESET, f"the channel for {command!r} failed: {safe_text(str(session.error).encode())}"
            )
        status = session.chan.get_exit_status() if session.chan is not None else None
        self._record("<", f"[exit status {status}]".encode())
        return StreamResult(status, session.size, bytes(session.stderr))

    def _record_output(self, session: _CappedSession) -> None:
        if session.stdout:
            self._record("<", bytes(session.stdout[:RECORD_CAP_BYTES]))
        if session.stderr:
            self._record("<", b"[stderr] " + bytes(session.stderr[:RECORD_CAP_BYTES]))

    async def close(self) -> None:
        self._conn.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self._conn.wait_closed()
        except TimeoutError:
            self._conn.abort()

    async def __aenter__(self) -> SSHShell:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def open_shell(
    host: str,
    port: int,
    logins: Sequence[tuple[str, str]],
    *,
    timeout: float,
    record: Recorder = _discard,
) -> SSHShell:
    """Log in with the first accepted ``(username, password)``, trying each in order.

    Each login is its own connection (several usernames may be on the list, and servers cap
    attempts per connection); each has ``timeout`` seconds for TCP, banner, key exchange and
    authentication together. Only passwords are offered: no keys, agent or ~/.ssh/config of the
    station, which must not leak to a device nor change what the evidence means.
    """
    if not logins:
        raise TransportError(AUTH_FAILED, "no SSH credentials to try")
    for username, password in logins:
        conn = await _login(host, port, username, password, timeout, record)
        if conn is not None:
            return SSHShell(conn, username, record)
    raise TransportError(AUTH_FAILED, f"the device refused all {len(logins)} SSH credential(s) tried")


async def _login(
    host: str, port: int, username: str, password: str, timeout: float, record: Recorder
) -> asyncssh.SSHClientConnection | None:
    """One connection and one password; None when the password is refused."""
    connector = _WatchedConnector()
    record(">", f"[ssh login as {username!r}]".encode("utf-8", "backslashreplace"))
    try:
        async with asyncio.timeout(timeout):
            conn = await asyncssh.connect(
                host,
                port,
                tunnel=connector,
                username=username,
                password=password,
                known_hosts=None,
                client_keys=None,
                agent_path=None,
                config=None,
                gss_auth=False,
                preferred_auth=("keyboard-interactive", "password"),
                client_version=CLIENT_VERSION,
                connect_timeout=None,
                login_timeout=None,
                keepalive_interval=0,
                encryption_algs=PREFERRED_CIPHERS,
            )
    except asyncssh.PermissionDenied:
        _record_banner(connector, record)
        record("<", b"[password refused]")
        return None
    except ConnectionRefusedError:
        raise TransportError(UNREACHABLE, f"connection to {host}:{port} refused") from None
    except (TimeoutError, asyncssh.Error, ConnectionResetError, BrokenPipeError) as exc:
        _record_banner(connector, record)
        raise _login_failure(connector.watch, exc, timeout) from None
    except OSError as exc:  # no route, host down, name not resolved
        raise TransportError(UNREACHABLE, f"cannot reach {host}:{port}: {exc.strerror or exc}") from None
    _record_banner(connector, record)
    return conn


def _record_banner(connector: _WatchedConnector, record: Recorder) -> None:
    if connector.watch is not None and connector.watch.prelude:
        record("<", connector.watch.banner_lines()[:RECORD_CAP_BYTES])


async def read_banner(host: str, port: int, *, timeout: float, record: Recorder = _discard) -> str:
    """The server's SSH identification line (``SSH-2.0-...``), read without logging in.

    For discovery: cheap, needs no credentials, and leaves only a short connection in the
    device's log. Raises TransportError like :func:`open_shell`.
    """
    prelude = bytearray()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            # Both sides send their version at once (RFC 4253 4.2); a non-SSH service answering
            # ours with an error lets us tell it apart without waiting for the timeout.
            writer.write(f"SSH-2.0-{CLIENT_VERSION}\r\n".encode())
            while len(prelude) <= MAX_PRELUDE_BYTES:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                prelude += chunk
                for line in prelude[: prelude.rfind(b"\n") + 1].split(b"\n"):
                    if line.startswith(b"SSH-"):
                        record("<", bytes(line))
                        return line.rstrip(b"\r").decode("ascii", "backslashreplace")
    except ConnectionRefusedError:
        raise TransportError(UNREACHABLE, f"connection to {host}:{port} refused") from None
    except TimeoutError:
        if prelude and not _looks_like_ssh(bytes(prelude)):
            raise TransportError(MALFORMED_REPLY, f"not an SSH server; it sent: {safe_text(prelude)}") from None
        raise TransportError(TIMEOUT, f"no SSH banner within {timeout:g} s") from None
    except (ConnectionResetError, BrokenPipeError):
        pass  # judged below from what did arrive
    except OSError as exc:
        raise TransportError(UNREACHABLE, f"cannot reach {host}:{port}: {exc.strerror or exc}") from None
    finally:
        if writer is not None:
            writer.transport.abort()  # nothing of ours is worth flushing to a silent peer
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    record("<", bytes(prelude[:RECORD_CAP_BYTES]))
    if prelude and not _looks_like_ssh(bytes(prelude)):
        raise TransportError(MALFORMED_REPLY, f"not an SSH server; it sent: {safe_text(prelude)}")
    if len(prelude) > MAX_PRELUDE_BYTES:
        raise TransportError(MALFORMED_REPLY, f"more than {MAX_PRELUDE_BYTES} bytes without an SSH version line")
    raise TransportError(CONNECTION_RESET, "the device closed the connection before its SSH banner")

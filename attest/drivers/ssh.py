"""The Linux shell of a rig's control board over SSH: measured flash digests, identity, indicators.

The command plan lives in attest.drivers.shell_plan (shared with the serial console); this module
adds only what is SSH's own: logging in, the server's host key, a channel that streams raw flash
to the station (so the station, not the rig, hashes it), and turning transport errors into
CollectError. One SSH connection serves the whole collection.
"""

from __future__ import annotations

from collections.abc import Callable

from attest.drivers.base import Claim, CollectError, Endpoint, Session
from attest.drivers.flash_read import StreamedOutput
from attest.drivers.shell import ShellResult
from attest.drivers.shell_plan import collect_shell_evidence
from attest.evidence import Assurance
from attest.transport.ssh import SSHShell, TransportError, open_shell, read_banner

NAME = "ssh"
KIND = "ssh"
DEFAULT_PORT = 22
SCHEMES = ("ssh",)


async def collect(endpoint: Endpoint, session: Session) -> list[Claim]:
    """Log in with the endpoint's credentials (in order) and run the shell command plan.

    Raises CollectError: AUTH_FAILED (every credential refused, or none given), UNREACHABLE,
    TIMEOUT, MALFORMED_REPLY (not an SSH server), REPLY_TOO_LARGE, CONNECTION_RESET.
    """
    label = endpoint.label

    def record(direction: str, data: bytes) -> None:
        session.transcript.record(label, direction, data)

    logins = [(c.username, c.password) for c in endpoint.credentials]
    try:
        shell = await open_shell(endpoint.host, endpoint.port, logins, timeout=session.options.timeout, record=record)
    except TransportError as exc:
        raise CollectError(exc.code, exc.message) from None
    async with shell:
        claims = [
            # The server's key fingerprint (SHA256:...): nothing to check it against at intake, so
            # it is reported, recorded in the log, and compared with the unit's later checks.
            Claim("ssh.host_key", shell.host_key, f"{label} host key ({shell.host_key_algorithm})",
                  Assurance.REPORTED),
            Claim("service.ssh", "open", f"{label} login as {shell.username}", Assurance.MEASURED),
        ]
        runner = _SSHRunner(shell)
        claims += await collect_shell_evidence(runner, label, session.options, stream=runner.stream)
    return claims


class _SSHRunner:
    """The shell plan's Runner over one SSH connection; transport errors become CollectError."""

    def __init__(self, shell: SSHShell) -> None:
        self._shell = shell

    async def __call__(self, command: str, *, timeout: float, max_bytes: int) -> ShellResult:
        try:
            result = await self._shell.run(command, timeout=timeout, max_bytes=max_bytes)
        except TransportError as exc:
            raise CollectError(exc.code, exc.message) from None
        return ShellResult(result.exit_status, result.stdout, result.stderr)

    async def stream(self, command: str, sink: Callable[[bytes], None], *, timeout: float, idle: float,
                     max_bytes: int) -> StreamedOutput:
        try:
            result = await self._shell.stream(command, sink, timeout=timeout, idle=idle, max_bytes=max_bytes)
        except TransportError as exc:
            raise CollectError(exc.code, exc.message) from None
        return StreamedOutput(result.exit_status, result.size, result.stderr)


async def identify(host: str, port: int, session: Session) -> str | None:
    """ "ssh" when the port answers with an SSH-2.0 identification line; None for anything else."""
    label = Endpoint(KIND, host, port).label

    def record(direction: str, data: bytes) -> None:
        session.transcript.record(label, direction, data)

    try:
        banner = await read_banner(host, port, timeout=session.options.timeout, record=record)
    except TransportError:
        return None
    return KIND if banner.startswith(("SSH-2.0-", "SSH-1.99-")) else None

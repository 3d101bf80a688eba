"""The Linux shell of a rig's control board over SSH: measured flash digests, identity, indicators.

The command plan and its parsers live in attest.drivers.shell (shared with the serial console);
this module adds only what is SSH's own: logging in, the server's host key, and turning
transport errors into CollectError. One SSH connection serves the whole collection.
"""

from __future__ import annotations

from attest.drivers.base import Claim, CollectError, Endpoint, Session
from attest.drivers.shell import ShellResult, collect_shell_evidence
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
            # What the server says its key is; we cannot check it against anything at intake, so
            # it is reported, for the log and for spotting a key that changes between visits.
            Claim("ssh.host_key", shell.host_key, f"{label} host key", Assurance.REPORTED),
            Claim("service.ssh", "open", f"{label} login as {shell.username}", Assurance.MEASURED),
        ]
        claims += await collect_shell_evidence(_SSHRunner(shell), label, session.options)
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

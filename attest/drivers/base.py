"""The contract every driver keeps: an endpoint in, claims out, expected failures as values.

Drivers report what they saw and never judge (no imports of appraise/verdict here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from attest.evidence import Claim, Problem, Transcript

# Codes a driver may raise in CollectError; each is documented in attest.verdict.REASONS.
TIMEOUT = "TIMEOUT"
UNREACHABLE = "UNREACHABLE"  # connection refused / no route
CONNECTION_RESET = "CONNECTION_RESET"  # peer closed or reset mid-reply
MALFORMED_REPLY = "MALFORMED_REPLY"  # bytes that are not the protocol
REPLY_TOO_LARGE = "REPLY_TOO_LARGE"  # over the size cap
AUTH_FAILED = "AUTH_FAILED"  # credentials refused
NOT_THIS_FAMILY = "NOT_THIS_FAMILY"  # answers, but is not a device this driver reads
MEASUREMENT_LIMIT_EXCEEDED = "MEASUREMENT_LIMIT_EXCEEDED"  # flash to stream past the per-rig bytes or time


class CollectError(Exception):
    """An expected failure talking to a device: a stable ``code`` and a plain-text message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Credential:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Endpoint:
    """One way into one device: ``kind`` is api | web | ssh | whatsminer | serial."""

    kind: str
    host: str  # for "serial": the pyserial URL or device path
    port: int  # for "serial": the baud rate
    credentials: tuple[Credential, ...] = ()
    params: tuple[tuple[str, str], ...] = ()  # endpoint settings from the address (serial: parity, stay)

    @property
    def label(self) -> str:
        if self.kind == "serial":  # the address as typed: serial:///dev/ttyUSB0, serial:socket://h:p
            return f"serial://{self.host}" if self.host.startswith("/") else f"serial:{self.host}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.kind}://{host}:{self.port}"


@dataclass(frozen=True)
class CollectOptions:
    """Limits for talking to an untrusted device. Every read is timed out and size-capped."""

    timeout: float = 5.0  # seconds for one request/reply
    hash_timeout: float = 120.0  # seconds for an on-device sha256sum of a flash partition
    #: Per rig, what the station may stream off it to measure (flash partitions and miner
    #: binaries, hashed as they arrive): bytes in all, and seconds from the first byte to the last.
    #: A 256 MB NAND over a 100 Mbit/s control board takes about 25 s alone.
    max_measured_bytes: int = 1024 * 1024 * 1024
    measure_timeout: float = 600.0
    max_binary_bytes: int = 64 * 1024 * 1024  # one miner binary (real ones are 2-20 MB)
    max_reply_bytes: int = 1024 * 1024
    max_partitions: int = 32
    boot_timeout: float = 120.0  # seconds a serial console may take to boot to U-Boot or a login
    console_stay: str = ""  # serial: "bootloader" (stop in U-Boot), "linux" (never stop it), "" (both)
    #: Serial: called with each ConsoleOutput as it crosses the line (a live console view); it runs
    #: on the collecting event loop's thread and must only hand the chunk on, never block.
    on_console: Callable[[ConsoleOutput], None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ConsoleOutput:
    """A chunk of a serial console as it crossed the line: untrusted device bytes, shown only as
    plain text. ``endpoint`` is the Endpoint.label (``serial:///dev/ttyUSB0``), ``direction`` ">"
    for what the station sent (passwords already withheld) and "<" for what the device sent."""

    endpoint: str
    direction: str
    data: bytes


@dataclass
class Session:
    """What a driver gets besides the endpoint: limits and the transcript it must record into."""

    options: CollectOptions
    transcript: Transcript
    #: Field-level trouble a driver saw but that did not end its read (a value of the wrong
    #: type, one page of several missing): collection adds these to the Evidence's problems.
    problems: list[Problem] = field(default_factory=list)

    def note_failure(self, endpoint: str, error: CollectError) -> None:
        """One read of several failed; what the others gave stands (e.g. a 404 on one page)."""
        self.note(Problem(error.code, endpoint, error.message))

    def note(self, problem: Problem) -> None:
        """Record a problem that costs one field, not the reply; the transcript shows it too."""
        self.problems.append(problem)
        self.transcript.record(problem.endpoint, "!", f"{problem.code}: {problem.detail}".encode())


# A driver module exposes: NAME, KIND (the endpoint kind it reads), DEFAULT_PORT, and
#   async def collect(endpoint: Endpoint, session: Session) -> list[Claim]
# raising CollectError for every expected failure. Claim is re-exported for drivers.
__all__ = ["Claim", "CollectError", "CollectOptions", "ConsoleOutput", "Credential", "Endpoint", "Session"]

"""What every transport raises and records: one error type, the drivers' code strings.

Transports know bytes, not vendors, and import nothing of ``attest`` outside ``transport/``; the
code strings equal ``attest.drivers.base``'s so a driver converts a failure without a table.
"""

from __future__ import annotations

from collections.abc import Callable

TIMEOUT = "TIMEOUT"  # connected, but no complete reply before the deadline
UNREACHABLE = "UNREACHABLE"  # refused, no route, unresolvable, or no answer to the connect
CONNECTION_RESET = "CONNECTION_RESET"  # closed or reset before the reply was complete
MALFORMED_REPLY = "MALFORMED_REPLY"  # bytes that are not the protocol
REPLY_TOO_LARGE = "REPLY_TOO_LARGE"  # more than the cap arrived
AUTH_FAILED = "AUTH_FAILED"  # every credential was refused

#: ``record(direction, data)``: direction is ">" for bytes sent, "<" for bytes received.
Recorder = Callable[[str, bytes], None]


class TransportError(Exception):
    """An expected failure on the wire: a stable ``code`` and a plain-text ``message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

"""How much work one file may ask of us, and the errors a container reader raises.

A decompression bomb, a tarball of a million empty files or a container that holds itself must
end in a reason code in bounded time and memory, so every reader charges what it produces to one
``Budget`` per file; the caps are far above any genuine miner firmware (the largest Bitmain
packages are a few hundred MB expanded, with a few thousand files).

Time is budgeted twice: the whole file (``max_seconds``; every reader and check calls
``Budget.tick`` in its loops) and each audit check of one file inside it (``max_check_seconds``,
``Budget.check_clock``), so one pathological script costs that check, not the rest of the file.
Work that no clock can interrupt (a regular expression, a C decompressor) is bounded by
construction instead: linear-time rules (``shellrules``), chunked decompression, at most
``max_password_checks`` password hashes per file. When a time budget runs out the result says
what was left unread (IMAGE_TOO_COSTLY); the caller running the check in a child process
(``isolated``) adds a hard memory cap and a kill for anything this accounting misses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_expanded_bytes: int = 2 << 30  # bytes produced by decompression and reassembly, all layers
    max_member_bytes: int = 768 << 20  # one decompressed layer, file or UBI volume
    max_entries: int = 200_000  # files, directories, links and partitions, all containers
    max_depth: int = 16  # containers inside containers
    max_findings_per_code: int = 50  # one tree of setuid files must not bury every other reason
    max_seconds: float = 300.0  # the whole file (a 256 MB dump takes about 10 s)
    max_check_seconds: float = 30.0  # one audit check of one file inside (the indicator scan, ...)
    max_password_checks: int = 64  # shadow hashes compared with the vendors' defaults, per file
    max_script_bytes: int = 16 << 20  # a startup script, shadow or authorized_keys file read whole
    #: The child process's data segment (``isolated``): the expansion caps above plus room to work.
    max_memory_bytes: int = 3584 << 20


class ImageFormatError(Exception):
    """One container could not be read; the rest of the file is still checked.

    ``code`` is a key of ``attest.verdict.REASONS`` (IMAGE_CORRUPT, IMAGE_TRUNCATED,
    IMAGE_CHECKSUM_MISMATCH, IMAGE_UNSAFE_MEMBER, ...); ``message`` is plain text for a person.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class LimitExceeded(Exception):
    """A cap was reached: the whole inspection stops, because what is left unread is unbounded.
    ``code`` is IMAGE_LIMIT_EXCEEDED for the byte, entry and depth caps and IMAGE_TOO_COSTLY for
    the time and memory budgets."""

    def __init__(self, message: str, code: str = "IMAGE_LIMIT_EXCEEDED") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class CheckOverrun(Exception):
    """One audit check ran out of its own time budget; the check stops, the inspection goes on."""


class Budget:
    """What one inspection has spent so far. Readers charge before they allocate."""

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.expanded = 0
        self.entries = 0
        self._clock = clock
        self.started = self.now()
        self.deadline = self.started + limits.max_seconds

    def now(self) -> float:
        return self._clock()

    def tick(self, where: str) -> None:
        """Called in every loop that reads: past the file's deadline, the inspection stops here."""
        if self.now() > self.deadline:
            raise LimitExceeded(f"the time budget of {self.limits.max_seconds:g} s ran out while reading "
                                f"{where or 'the file'}; left unread: {where or 'the file'} and everything "
                                "after it", code="IMAGE_TOO_COSTLY")

    def check_clock(self) -> float:
        """The deadline of one audit check starting now (never past the file's)."""
        return min(self.deadline, self.now() + self.limits.max_check_seconds)

    def tick_check(self, deadline: float, where: str) -> None:
        """In an audit check's loop: past the file's deadline the inspection stops, past the
        check's own only the check does (``CheckOverrun``)."""
        self.tick(where)
        if self.now() > deadline:
            raise CheckOverrun(where)

    def room(self) -> int:
        """The most one more decompressed layer may hold."""
        return max(0, min(self.limits.max_member_bytes, self.limits.max_expanded_bytes - self.expanded))

    def expand(self, n: int, where: str) -> None:
        self.expanded += n
        if n > self.limits.max_member_bytes:
            raise LimitExceeded(f"{where} expands to more than {self.limits.max_member_bytes} bytes")
        if self.expanded > self.limits.max_expanded_bytes:
            raise LimitExceeded(f"the file expands to more than {self.limits.max_expanded_bytes} bytes "
                                f"(reached at {where})")

    def entry(self, where: str) -> None:
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise LimitExceeded(f"the file holds more than {self.limits.max_entries} entries "
                                f"(reached at {where})")

"""How much work one file may ask of us, and the errors a container reader raises.

A decompression bomb, a tarball of a million empty files or a container that holds itself must
end in a reason code in bounded time and memory, so every reader charges what it produces to one
``Budget`` per file; the caps are far above any genuine miner firmware (the largest Bitmain
packages are a few hundred MB expanded, with a few thousand files).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_expanded_bytes: int = 2 << 30  # bytes produced by decompression and reassembly, all layers
    max_member_bytes: int = 768 << 20  # one decompressed layer, file or UBI volume
    max_entries: int = 200_000  # files, directories, links and partitions, all containers
    max_depth: int = 16  # containers inside containers
    max_findings_per_code: int = 50  # one tree of setuid files must not bury every other reason


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
    """A cap was reached: the whole inspection stops, because what is left unread is unbounded."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Budget:
    """What one inspection has spent so far. Readers charge before they allocate."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.expanded = 0
        self.entries = 0

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

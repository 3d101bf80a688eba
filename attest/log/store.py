"""What a verification log store must do, so SQLite today and PostgreSQL later are swappable.

A store keeps bytes and answers queries; it computes no hashes and signs nothing. The log
layer (``attest.log.append``) decides what to write; the store only promises that a batch (its
records, the perfect Merkle nodes they complete, and the checkpoint over them) lands whole or
not at all, and only on top of the log size the writer saw. That compare-and-append
(``expected_size``) is what lets several writers share one store without a lock held across
the signing: a writer that lost the race gets ``StoreConflict`` and rebuilds its batch on the
new size. Records, nodes and checkpoints are never updated or deleted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

from attest.log.checkpoint import Checkpoint
from attest.log.errors import LogError
from attest.log.merkle import Node


class StoreConflict(Exception):
    """Another writer appended first; rebuild the batch on the new size and try again."""


@dataclass(frozen=True)
class NewRecord:
    """A record ready to append: its canonical bytes, leaf hash, and the fields queries use."""

    index: int
    data: bytes
    leaf_hash: bytes
    batch: str
    time: str
    address: str
    serial: str | None


@dataclass(frozen=True)
class StoredRecord:
    index: int
    data: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class Selection:
    """Which records an export or receipt is about; empty means all. Fields combine with AND,
    serials with OR. ``since`` is inclusive and ``until`` exclusive, both ISO-8601 UTC text."""

    batch: str | None = None
    since: str | None = None
    until: str | None = None
    serials: tuple[str, ...] = field(default=())

    @property
    def everything(self) -> bool:
        return not (self.batch or self.since or self.until or self.serials)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.batch:
            out["batch"] = self.batch
        if self.since:
            out["since"] = self.since
        if self.until:
            out["until"] = self.until
        if self.serials:
            out["serials"] = list(self.serials)
        return out


@dataclass(frozen=True)
class LogOwner:
    """The station a log belongs to: set by the first append, checked by every later one."""

    origin: str
    public_key_pem: str
    fingerprint: str


class Store(Protocol):
    location: str

    def count(self) -> int:
        """Number of records (the tree size)."""
        ...

    def owner(self) -> LogOwner | None: ...

    def append_batch(self, expected_size: int, records: Sequence[NewRecord], nodes: Sequence[Node],
                     checkpoint: Checkpoint | None, owner: LogOwner) -> None:
        """Append atomically, only if the log still holds ``expected_size`` records (else
        ``StoreConflict``). Sets ``owner`` on first use; refuses a different one. ``checkpoint``
        None: the records are signed later (a streaming run signs when it ends)."""
        ...

    def records(self, start: int, end: int) -> list[StoredRecord]:
        """Records with ``start <= index < end``, in index order."""
        ...

    def leaf_hashes(self, start: int, end: int) -> list[bytes]: ...

    def node(self, level: int, index: int) -> bytes:
        """A perfect subtree's hash (level 0: a leaf hash); ``KeyError`` when absent."""
        ...

    def select(self, selection: Selection) -> list[int]:
        """Indices of the records ``selection`` picks, ascending."""
        ...

    def latest_index_for_serial(self, serial: str) -> int | None: ...

    def latest_checkpoint(self) -> Checkpoint | None: ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Keep a checkpoint signed outside a batch (on export)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Store: ...

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None: ...


def open_store(path: str | os.PathLike[str] | None = None, *, create: bool = True) -> Store:
    """The log at ``path`` (default: ``log.sqlite`` in the station's data directory).
    ``create=False`` for readers, so a mistyped path is an error rather than a new empty log."""
    from attest.log.sqlite import SqliteStore, default_log_path  # sqlite.py imports this module

    if path is not None and str(path).startswith(("postgresql:", "postgres:")):
        raise LogError("LOG_STORE_UNAVAILABLE", "PostgreSQL log stores are not available in this version")
    return SqliteStore(default_log_path() if path is None else path, create=create)

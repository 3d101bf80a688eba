"""Before the station signs anything over its log: proof that the log extends its last checkpoint.

The SQLite file is only a file. Anyone who can write it can drop the append-only triggers, edit
a record, recompute its leaf hash and the Merkle nodes above it, and wait: the next batch would
be signed over the rewritten tree, and an export of it would verify. So before every checkpoint
(each batch, each export) the records themselves are read back and the tree is rebuilt from
their bytes, never from the stored hashes:

- each record must hash to its stored leaf, carry its own index and the hash of the leaf before
  it (``previous_leaf``: the chain that names an edit even when its leaf hash was rewritten);
- the root rebuilt at the last checkpoint's size must be the root that checkpoint signed, and
  that checkpoint must be signed by this station's key;
- the last checkpoint may not cover more records than the log holds.

Anything else is LOG_INCONSISTENT naming the first record that fails, and nothing is signed or
appended: the records already there stay exactly as they are. The batch signs the tree rebuilt
here (``VerifiedLog.frontier``), so a stored node that disagrees with the records can never
reach a signature.

Cost: one pass over every record (SHA-256 of each), about a second per 100,000 records (see
bench/log_bench.py). A store that can tell whether another connection wrote since the last
pass (SQLite's ``PRAGMA data_version``, ``Store.data_version``) lets a process that appends batch
after batch re-read only its own new records; any write by anyone else means a full pass again.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from attest.log.checkpoint import Checkpoint, checkpoint_payload
from attest.log.errors import LogError
from attest.log.merkle import EMPTY_ROOT, Node, frontier_positions, leaf_hash, push_leaf, root_from_frontier
from attest.log.store import Store
from attest.station import StationIdentity, StationSigner

_CHUNK = 2000


@dataclass(frozen=True)
class VerifiedLog:
    """The log as rebuilt from its records: what the next checkpoint may be signed over."""

    size: int
    frontier: tuple[Node, ...]
    last_leaf: bytes | None

    @property
    def root(self) -> bytes:
        return root_from_frontier(list(self.frontier)) if self.frontier else EMPTY_ROOT

    def extended(self, leaves: list[bytes]) -> VerifiedLog:
        frontier = list(self.frontier)
        for offset, leaf in enumerate(leaves):
            push_leaf(frontier, self.size + offset, leaf)
        return VerifiedLog(self.size + len(leaves), tuple(frontier), leaves[-1] if leaves else self.last_leaf)


@dataclass(frozen=True)
class _Memo:
    version: int
    log: VerifiedLog
    checkpoint: bytes  # the latest checkpoint's signed payload when this pass was made


_memo: weakref.WeakKeyDictionary[object, _Memo] = weakref.WeakKeyDictionary()


def verify_log(store: Store, identity: StationIdentity) -> VerifiedLog:
    """The log rebuilt from its records and proven to extend its last checkpoint; raises
    LogError LOG_INCONSISTENT (naming the first bad record) or LOG_WRONG_STATION."""
    owner = store.owner()
    if owner is not None and owner.fingerprint != identity.fingerprint:
        raise LogError("LOG_WRONG_STATION", f"{store.location} belongs to station {owner.origin!r}, "
                       f"not {identity.station_id!r}")
    checkpoint = store.latest_checkpoint()
    size = store.count()
    version = _data_version(store)
    memo = _memo.get(store)
    if memo is not None and version is not None and memo.version == version and memo.log.size == size \
            and (b"" if checkpoint is None else checkpoint.payload) == memo.checkpoint:
        return memo.log  # nobody else has written since the last full pass and our own appends
    log = _rebuild(store, size, checkpoint, identity)
    if version is not None:
        _memo[store] = _Memo(version, log, checkpoint.payload if checkpoint is not None else b"")
    return log


def remember_appended(store: Store, log: VerifiedLog, checkpoint: Checkpoint | None) -> None:
    """After this process appended (records it built itself) and committed: no pass needed.
    ``checkpoint`` None: records appended without one (a run recording as it goes), so the last
    checkpoint is still the one the store held."""
    version = _data_version(store)
    if version is not None:
        if checkpoint is None:
            checkpoint = store.latest_checkpoint()
        _memo[store] = _Memo(version, log, b"" if checkpoint is None else checkpoint.payload)


def _data_version(store: Store) -> int | None:
    probe = getattr(store, "data_version", None)
    return probe() if callable(probe) else None


def _rebuild(store: Store, size: int, checkpoint: Checkpoint | None, identity: StationIdentity) -> VerifiedLog:
    where = store.location
    # Records past the last checkpoint (or with none yet) are a run's verdicts recorded as they came
    # and not yet signed, or a run that stopped before signing: they are checked below record by
    # record, and the next checkpoint covers them.
    signed_size = 0 if checkpoint is None else checkpoint.tree_size
    if checkpoint is not None:
        if not checkpoint.signed_by(identity.public_key):
            raise _inconsistent(where, None, f"its latest checkpoint (size {checkpoint.tree_size}) is not signed "
                                "by this station's key")
        if checkpoint.tree_size > size:
            raise _inconsistent(where, size, f"its last checkpoint covers {checkpoint.tree_size} records but it "
                                f"holds {size}: records {size}..{checkpoint.tree_size - 1} are missing")
        if checkpoint.tree_size == 0 and checkpoint.root_hash != EMPTY_ROOT:
            raise _inconsistent(where, None, "its last checkpoint signed an empty log with a root that is not empty")
    frontier: list[Node] = []
    previous: bytes | None = None
    first_bad: tuple[int, str] | None = None
    for start in range(0, size, _CHUNK):
        rows = store.records(start, min(size, start + _CHUNK))
        for offset, row in enumerate(rows):
            index = start + offset
            if row.index != index:
                raise _inconsistent(where, index, "the record with this index is missing")
            leaf = leaf_hash(row.data)
            if first_bad is None:
                first_bad = _record_problem(row.data, row.leaf_hash, leaf, index, previous)
            push_leaf(frontier, index, leaf)
            previous = leaf
            if checkpoint is not None and index + 1 == signed_size \
                    and root_from_frontier(frontier) != checkpoint.root_hash:
                bad, why = first_bad or (signed_size - 1, "the records no longer add up to the signed root")
                raise _inconsistent(where, bad, f"{why}; the last checkpoint signed {signed_size} records "
                                    "with another root")
        if len(rows) != min(size, start + _CHUNK) - start:
            raise _inconsistent(where, start + len(rows), "the record with this index is missing")
    if first_bad is not None:  # an edit after the last checkpoint: still never signed over
        raise _inconsistent(where, *first_bad)
    return VerifiedLog(size, tuple(frontier), previous)


def _record_problem(data: bytes, stored_leaf: bytes, leaf: bytes, index: int,
                    previous: bytes | None) -> tuple[int, str] | None:
    """Why this record is not the one that was appended, or None. The record's canonical JSON
    holds ``"index":N`` and ``"previous_leaf":"<hex>"`` (null for the first) verbatim."""
    if leaf != stored_leaf:
        return index, "its bytes no longer hash to its stored leaf"
    if b'"index":%d,' % index not in data:
        return index, "it does not carry its own index"
    link = b'"previous_leaf":null' if previous is None else b'"previous_leaf":"%s"' % previous.hex().encode()
    if link not in data:
        return max(0, index - 1), f"record {index} no longer names it as the leaf before"
    return None


def _inconsistent(where: str, index: int | None, why: str) -> LogError:
    first = "" if index is None else f"record {index}: "
    return LogError("LOG_INCONSISTENT", f"{where}: {first}{why}. Nothing was signed or appended, and every "
                    "record already in the log is unchanged; keep the file for investigation and restore the "
                    "log from a backup or an exported bundle")


def sign_extension(store_path: str, signer: StationSigner, message: bytes, base_size: int,
                   leaves: Sequence[bytes]) -> bytes:
    """Sign a checkpoint another process built (the GUI's check process, which holds no key),
    only if it is this station's and adds exactly ``leaves`` to the last checkpoint the log at
    ``store_path`` holds: its stored frontier at ``base_size`` must fold to that checkpoint's
    signed root, and the frontier with ``leaves`` pushed to the root asked for. So a process
    that was handed device bytes can append to the log, never rewrite or fork it, and gets no
    key it could use for anything else. O(log n) lookups: the full pass is the check process's."""
    try:
        asked = checkpoint_payload(message)
    except ValueError as e:
        raise LogError("LOG_INCONSISTENT", f"refused to sign: {e}") from None
    if asked.origin != signer.station_id or asked.tree_size != base_size + len(leaves) \
            or any(len(leaf) != 32 for leaf in leaves):
        raise LogError("LOG_INCONSISTENT", f"refused to sign: the checkpoint asked for (station {asked.origin!r}, "
                       f"{asked.tree_size} records) is not this station's log grown by {len(leaves)} records")
    frontier = _signed_frontier(store_path, signer, base_size)
    for offset, leaf in enumerate(leaves):
        push_leaf(frontier, base_size + offset, bytes(leaf))
    if root_from_frontier(frontier) != asked.root_hash:
        raise LogError("LOG_INCONSISTENT", f"{store_path}: refused to sign: the checkpoint's root is not the last "
                       f"signed log ({base_size} records) grown by the {len(leaves)} new records")
    return signer.sign(message)


def _signed_frontier(store_path: str, signer: StationSigner, base_size: int) -> list[Node]:
    from attest.log.sqlite import SqliteStore  # sqlite.py imports the store layer this module sits on

    if base_size == 0 and not Path(store_path).exists():
        return []
    with SqliteStore(store_path, create=False) as store:
        owner = store.owner()
        if owner is not None and owner.fingerprint != signer.identity.fingerprint:
            raise LogError("LOG_WRONG_STATION", f"{store_path} belongs to station {owner.origin!r}")
        last = store.latest_checkpoint()
        if last is None:  # the first checkpoint: it must cover the log from its first record
            if base_size:
                raise _inconsistent(store_path, None, f"refused to sign: the new records were built on {base_size} "
                                    "records, but this station has signed no checkpoint yet")
            return []
        if not last.signed_by(signer.identity.public_key) or last.tree_size != base_size:
            raise _inconsistent(store_path, None, f"refused to sign: the new records were built on {base_size} "
                                f"records, but the last checkpoint this station signed covers {last.tree_size}")
        try:
            frontier = [(level, index, store.node(level, index)) for level, index in frontier_positions(base_size)]
        except KeyError as e:
            raise _inconsistent(store_path, None, f"refused to sign: Merkle node {e} is missing") from None
        if root_from_frontier(frontier) != last.root_hash:
            raise _inconsistent(store_path, None, "refused to sign: the stored tree does not fold to the root of "
                                "the last checkpoint")
        return frontier

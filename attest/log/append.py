"""Turning verdicts into log records and appending them, one signed checkpoint per batch.

Each record carries its own leaf ``index`` and the hash of the leaf before it
(``previous_leaf``). Neither is needed for security (the signed Merkle root covers order and
content), but they let a verifier say *which* record was edited or moved even when someone
also rewrote the bundle's leaf hashes to match: the first record whose ``previous_leaf`` no
longer matches names the edit. The cost is 80 bytes a record.

A batch is built on the log size read from the store, then appended with that size as a
precondition; if another writer got there first the batch is rebuilt (indices and
``previous_leaf`` change) and signed again. The station key is used only in memory.

A streaming run (``attest.log.stream``) appends the same way, a few records per commit and
without a checkpoint (``sign=False``), and signs one when the run ends. A record that revises an
earlier verdict of its run carries ``supersedes``: the index and leaf hash of the record it
replaces, so a reader of the log (or of one receipt) sees which verdict stands.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from attest import __version__
from attest.appraise import Appraisal
from attest.canonical import canonical_json
from attest.log.canonical import iso_time, plain
from attest.log.checkpoint import Checkpoint, sign_checkpoint
from attest.log.errors import LogError
from attest.log.merkle import Node, frontier_positions, leaf_hash, push_leaf, root_from_frontier
from attest.log.rebuild import remember_appended, verify_log
from attest.log.store import LogOwner, NewRecord, Store, StoreConflict
from attest.station import StationSigner

RECORD_SCHEMA = "rigattest.record/v1"
_APPEND_ATTEMPTS = 8


def new_batch_id(now: datetime) -> str:
    """Sortable by time, unique across benches without coordination."""
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def record_from_appraisal(appraisal: Appraisal, *, station_id: str, operator: str, batch_id: str,
                          now: datetime, supersedes: tuple[int, bytes] | None = None) -> dict[str, Any]:
    """The log record for one verdict: the CLI's verify line (same names, so one reader serves
    both) plus who, when, with what, and digests of the evidence. ``supersedes`` (index, leaf
    hash) names the record of this run whose verdict this one replaces."""
    line = plain(appraisal.to_json())
    evidence = appraisal.evidence
    transcript = evidence.transcript.to_text().encode("utf-8", "backslashreplace")
    serial = evidence.value("unit.serial")
    record = {
        **line,
        "schema": RECORD_SCHEMA,
        "serial": None if serial is None else plain(str(serial)),
        "evidence": {
            "claims_sha256": hashlib.sha256(canonical_json(line["claims"])).hexdigest(),
            "transcript_sha256": hashlib.sha256(transcript).hexdigest(),
            "transcript_truncated": evidence.transcript.truncated,
        },
        "station": station_id,
        "operator": plain(operator),
        "tool_version": __version__,
        "time": iso_time(now),
        "batch": batch_id,
    }
    if supersedes is not None:
        record["supersedes"] = {"index": supersedes[0], "leaf_hash": supersedes[1].hex()}
    return record


def log_batch(store: Store, key: StationSigner, appraisals: Sequence[Appraisal], *, operator: str,
              batch_id: str | None = None, now: datetime | None = None) -> Checkpoint:
    """Record a batch of verdicts in one transaction and return the checkpoint signed over it."""
    now = now or datetime.now(UTC)
    batch_id = batch_id or new_batch_id(now)
    records = [record_from_appraisal(a, station_id=key.station_id, operator=operator, batch_id=batch_id,
                                     now=now) for a in appraisals]
    return append_records(store, key, records, now=now)


def append_records(store: Store, key: StationSigner, records: Sequence[dict[str, Any]], *,
                   now: datetime | None = None) -> Checkpoint:
    """Append prepared records (each with ``batch``, ``time``, ``address``, ``serial``)."""
    now = now or datetime.now(UTC)
    if not records:
        return sign_current_checkpoint(store, key, now)
    appended = append_prepared(store, key, records, now=now, sign=True)
    assert appended.checkpoint is not None
    return appended.checkpoint


@dataclass(frozen=True)
class Appended:
    """Where prepared records landed: leaf indices ``first`` onwards, with these leaf hashes."""

    first: int
    leaf_hashes: tuple[bytes, ...]
    checkpoint: Checkpoint | None  # None when appended without signing

    @property
    def end(self) -> int:
        return self.first + len(self.leaf_hashes)


def append_prepared(store: Store, key: StationSigner, records: Sequence[dict[str, Any]], *, now: datetime,
                    sign: bool) -> Appended:
    """Append ``records`` in one transaction on the size the store holds (compare-and-append,
    rebuilt when another writer got there first); with ``sign``, a checkpoint over them too."""
    owner = LogOwner(key.station_id, key.identity.public_pem, key.identity.fingerprint)
    for _ in range(_APPEND_ATTEMPTS):
        verified = verify_log(store, key.identity)  # LOG_INCONSISTENT: nothing is signed over a rewrite
        size = verified.size
        frontier = list(verified.frontier)
        previous = verified.last_leaf
        new: list[NewRecord] = []
        nodes: list[Node] = []
        for offset, record in enumerate(records):
            index = size + offset
            data = canonical_json({**record, "index": index,
                                    "previous_leaf": None if previous is None else previous.hex()})
            leaf = leaf_hash(data)
            nodes.extend(push_leaf(frontier, index, leaf))
            new.append(NewRecord(index, data, leaf, str(record["batch"]), str(record["time"]),
                                 str(record["address"]), _serial(record.get("serial"))))
            previous = leaf
        leaves = [r.leaf_hash for r in new]
        checkpoint = None
        if sign:  # a signer without the key (the check process) is shown every leaf since the last checkpoint
            last = store.latest_checkpoint()
            base = 0 if last is None else last.tree_size
            since = store.leaf_hashes(base, size) if base < size else []
            checkpoint = sign_checkpoint(key, size + len(new), root_from_frontier(frontier), now,
                                         extends=(base, [*since, *leaves]))
        try:
            store.append_batch(size, new, nodes, checkpoint, owner)
        except StoreConflict:
            continue
        remember_appended(store, verified.extended(leaves), checkpoint)
        return Appended(size, tuple(leaves), checkpoint)
    raise LogError("LOG_STORE_UNAVAILABLE", f"{store.location}: other writers kept appending first; "
                   "the batch was not recorded, try again")


def current_root(store: Store, size: int) -> bytes:
    return root_from_frontier(_frontier(store, size))


def sign_current_checkpoint(store: Store, key: StationSigner, now: datetime | None = None) -> Checkpoint:
    """Sign the log as it stands (on export), refusing a log another station owns and one that
    does not provably extend its last checkpoint (``consistency.verify_log``)."""
    verified = verify_log(store, key.identity)
    last = store.latest_checkpoint()
    base = 0 if last is None else last.tree_size  # a signer without the key is shown what was added since
    checkpoint = sign_checkpoint(key, verified.size, verified.root, now or datetime.now(UTC),
                                 extends=(base, store.leaf_hashes(base, verified.size)))
    store.add_checkpoint(checkpoint)
    remember_appended(store, verified, checkpoint)
    return checkpoint


def _frontier(store: Store, size: int) -> list[Node]:
    return [(level, index, _node(store, level, index)) for level, index in frontier_positions(size)]


def _node(store: Store, level: int, index: int) -> bytes:
    try:
        return store.node(level, index)
    except KeyError:
        raise LogError("LOG_STORE_UNAVAILABLE",
                       f"{store.location} is damaged: Merkle node {level}/{index} is missing") from None


def _serial(value: object) -> str | None:
    return None if value is None else str(value)

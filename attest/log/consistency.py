"""Before signing: proof, from the stored Merkle nodes, that the tree extends the last signed one.

A checkpoint is the station's word that its log had these records; a later checkpoint must be
over a log that only grew. The store keeps every perfect subtree's hash, so the check needs no
rehash of the log: the last checkpoint's root is folded again from its frontier nodes and
compared with what was signed, and each of those nodes is hashed up, with its stored siblings, to
the node of the new frontier that covers it. A few dozen lookups for a million records. A log
whose stored nodes were edited, or replaced with another log's, fails here and nothing is signed.
"""

from __future__ import annotations

from attest.log.errors import LogError
from attest.log.merkle import frontier_positions, node_hash, root_from_frontier
from attest.log.store import Store


def check_extends_last_signed(store: Store, size: int) -> None:
    """Raise ``LogError`` (LOG_INCONSISTENT) unless a tree of ``size`` records, as stored, extends
    the latest signed checkpoint; nothing to check when none was signed yet."""
    last = store.latest_checkpoint()
    if last is None:
        return
    if last.tree_size > size:
        raise LogError("LOG_INCONSISTENT", f"{store.location} holds {size} records but its last checkpoint "
                       f"signed {last.tree_size}: records were removed; nothing was signed")
    earlier = frontier_positions(last.tree_size)
    try:
        nodes = [(level, index, store.node(level, index)) for level, index in earlier]
        if root_from_frontier(nodes) != last.root_hash:
            raise LogError("LOG_INCONSISTENT", f"the first {last.tree_size} records of {store.location} are not "
                           f"the ones its checkpoint of {last.time} signed; nothing was signed")
        later = frontier_positions(size)
        for level, index, digest in nodes:
            _hash_up_to(store, level, index, digest, later)
    except KeyError as e:
        raise LogError("LOG_STORE_UNAVAILABLE", f"{store.location} is damaged: Merkle node {e.args[0]} "
                       "is missing; nothing was signed") from None


def _hash_up_to(store: Store, level: int, index: int, digest: bytes, later: list[tuple[int, int]]) -> None:
    """Hash node (level, index) up to the new frontier's node over it; it must match the stored one."""
    top_level, top_index = next((lv, ix) for lv, ix in later
                                if ix << lv <= index << level < (ix + 1) << lv)
    while level < top_level:
        sibling = store.node(level, index ^ 1)
        digest = node_hash(digest, sibling) if index % 2 == 0 else node_hash(sibling, digest)
        level, index = level + 1, index // 2
    if store.node(top_level, top_index) != digest:
        raise LogError("LOG_INCONSISTENT", f"{store.location}: the stored tree does not extend its last signed "
                       f"checkpoint (node {top_level}/{top_index} differs); nothing was signed")

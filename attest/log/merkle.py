"""RFC 6962 Merkle trees: leaf and node hashes, roots, inclusion and consistency proofs.

Hashes follow RFC 6962 section 2.1 exactly (leaf = SHA-256(0x00 || data), node =
SHA-256(0x01 || left || right), the left subtree of n leaves is the largest power of two below
n), so a third party can check our proofs with any Certificate Transparency library. The proof
*checks* are RFC 9162's algorithms (sections 2.1.3.2 and 2.1.4.2), which need only the proof,
never the tree.

Proofs are built from **perfect subtrees**: the hash of leaves [i*2^l, (i+1)*2^l) is node
(l, i), and every subtree RFC 6962's recursion visits is either perfect or splits into a few
perfect ones. A log store keeps those nodes as it appends, so a receipt for one rig in a log of
100,000 needs a few dozen lookups rather than a rehash of the whole log. ``Tree`` is the same
thing in memory, for verifying a bundle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 6962: MTH({}) = SHA-256()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2): RFC 6962's k."""
    return 1 << ((n - 1).bit_length() - 1)


class NodeSource(Protocol):
    """Hashes of perfect subtrees; level 0 is the leaves."""

    def node(self, level: int, index: int) -> bytes: ...


Node = tuple[int, int, bytes]  # (level, index, hash)


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """The perfect subtrees a tree of ``size`` leaves decomposes into, largest (leftmost) first."""
    out = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


def root_from_frontier(frontier: Sequence[Node]) -> bytes:
    """RFC 6962 puts the largest perfect subtree on the left and recurses on the rest, so the
    root folds the frontier from the right."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1][2]
    for _, _, h in reversed(frontier[:-1]):
        root = node_hash(h, root)
    return root


def push_leaf(frontier: list[Node], index: int, leaf: bytes) -> list[Node]:
    """Append one leaf to a frontier in place; returns the perfect nodes it completed (level >= 1),
    which is what a store must keep to answer proofs later."""
    level, idx, h = 0, index, leaf
    made: list[Node] = []
    while frontier and frontier[-1][0] == level:
        _, left_idx, left = frontier.pop()
        level, idx, h = level + 1, left_idx // 2, node_hash(left, h)
        made.append((level, idx, h))
    frontier.append((level, idx, h))
    return made


def subtree_hash(nodes: NodeSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) from perfect nodes; O(log n) lookups for the ranges proofs ask for."""
    n = end - start
    if n <= 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and start % n == 0:
        return nodes.node(n.bit_length() - 1, start // n)
    k = split_point(n)
    return node_hash(subtree_hash(nodes, start, start + k), subtree_hash(nodes, start + k, end))


def inclusion_proof(nodes: NodeSource, index: int, size: int) -> list[bytes]:
    """RFC 6962 PATH(index, D[0:size]), leaf side first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            proof.append(subtree_hash(nodes, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(nodes, start, start + k))
            start += k
    proof.reverse()
    return proof


def consistency_proof(nodes: NodeSource, old_size: int, size: int) -> list[bytes]:
    """RFC 6962 PROOF(old_size, D[0:size]); empty when there is nothing to prove."""
    if not 0 <= old_size <= size:
        raise ValueError(f"cannot prove {old_size} consistent with {size}")
    if old_size in (0, size):
        return []
    proof: list[bytes] = []
    start, end, m, complete = 0, size, old_size, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append(subtree_hash(nodes, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(nodes, start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append(subtree_hash(nodes, start, end))
    proof.reverse()
    return proof


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, size: int, old_root: bytes, root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2 (with the trivial cases of equal and empty old trees)."""
    if not 0 <= old_size <= size:
        return False
    if old_size == size:
        return not proof and old_root == root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == root and sn == 0


class Tree:
    """Every perfect subtree of a list of leaf hashes, in memory: a bundle's tree is rebuilt
    from its leaves by the verifier (never trusted from the file), then asked for proofs."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.size = len(leaves)
        self.levels: list[list[bytes]] = [list(leaves)]
        sha = hashlib.sha256
        prev = self.levels[0]
        while len(prev) >= 2:
            prev = [sha(b"\x01" + a + b).digest() for a, b in zip(prev[0::2], prev[1::2], strict=False)]
            self.levels.append(prev)

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    def root(self, size: int | None = None) -> bytes:
        """Root of the first ``size`` leaves (default all): any earlier tree is in this one."""
        size = self.size if size is None else size
        return root_from_frontier([(lv, i, self.node(lv, i)) for lv, i in frontier_positions(size)])

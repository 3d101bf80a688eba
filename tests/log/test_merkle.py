"""Our Merkle code against RFC 6962 section 2.1, written out here independently and literally.

The reference works on the data entries themselves (D[n]), recursing exactly as the RFC's
definitions do, with no shared code: if both agree on every tree of 1..70 leaves, every leaf,
and every pair of sizes, the proofs a third party checks are the RFC's.
"""

from __future__ import annotations

import hashlib
from functools import cache

import pytest

from attest.log.merkle import (
    EMPTY_ROOT,
    Tree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    push_leaf,
    root_from_frontier,
    verify_consistency,
    verify_inclusion,
)

MAX_N = 70
DATA = tuple(f"entry {i}".encode() * (i % 3 + 1) for i in range(MAX_N))


def _k(n: int) -> int:
    """The largest power of two smaller than n (RFC 6962: k < n <= 2k)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def mth(lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) per RFC 6962 2.1 (cached only because the proofs below ask for it often)."""
    n = hi - lo
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + DATA[lo]).digest()
    k = _k(n)
    return hashlib.sha256(b"\x01" + mth(lo, lo + k) + mth(lo + k, hi)).digest()


def path(m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi]) per RFC 6962 2.1.1."""
    n = hi - lo
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, lo, lo + k), mth(lo + k, hi)]
    return [*path(m - k, lo + k, hi), mth(lo, lo + k)]


def subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b) per RFC 6962 2.1.2."""
    n = hi - lo
    if m == n:
        return [] if b else [mth(lo, hi)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, lo, lo + k, b), mth(lo + k, hi)]
    return [*subproof(m - k, lo + k, hi, False), mth(lo, lo + k)]


def proof(m: int, n: int) -> list[bytes]:
    return subproof(m, 0, n, True)


@pytest.fixture(scope="module")
def trees() -> dict[int, Tree]:
    leaves = [leaf_hash(d) for d in DATA]
    return {n: Tree(leaves[:n]) for n in range(1, MAX_N + 1)}


def test_empty_tree_root_is_hash_of_nothing():
    assert EMPTY_ROOT == mth(0, 0) == Tree([]).root() == root_from_frontier([])


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_root_matches_rfc_6962_for_every_size(n, trees):
    assert trees[n].root() == mth(0, n)
    assert trees[MAX_N].root(n) == mth(0, n)  # an earlier tree is read off a later one


def test_appending_leaf_by_leaf_gives_every_root_and_perfect_node():
    frontier: list = []
    made = {}
    for i, data in enumerate(DATA):
        for level, index, h in push_leaf(frontier, i, leaf_hash(data)):
            made[(level, index)] = h
        assert root_from_frontier(frontier) == mth(0, i + 1)
    for (level, index), h in made.items():
        assert h == mth(index << level, (index + 1) << level)


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_inclusion_proofs_match_rfc_6962_and_verify(n, trees):
    root = mth(0, n)
    for m in range(n):
        ours = inclusion_proof(trees[n], m, n)
        assert ours == path(m, 0, n), (m, n)
        leaf = leaf_hash(DATA[m])
        assert verify_inclusion(m, n, leaf, ours, root)
        assert not verify_inclusion(m, n, leaf_hash(b"forged"), ours, root)
        if n < MAX_N:  # the proof is for this tree, not the next one
            assert not verify_inclusion(m, n + 1, leaf, ours, mth(0, n + 1))
        if n > 1:
            assert not verify_inclusion((m + 1) % n, n, leaf, ours, root)
            bent = [*ours]
            bent[-1] = bytes(32)
            assert not verify_inclusion(m, n, leaf, bent, root)
            assert not verify_inclusion(m, n, leaf, ours[:-1], root)


@pytest.mark.parametrize("n", range(1, MAX_N + 1))
def test_consistency_proofs_match_rfc_6962_and_verify(n, trees):
    root = mth(0, n)
    for m in range(1, n + 1):
        ours = consistency_proof(trees[n], m, n)
        expected = proof(m, n) if m < n else []
        assert ours == expected, (m, n)
        assert verify_consistency(m, n, mth(0, m), root, ours)
        assert not verify_consistency(m, n, leaf_hash(b"rewritten history"), root, ours)
        if m < n:
            assert not verify_consistency(m, n, mth(0, m), mth(0, n - 1), ours)
            bent = [*ours]
            bent[0] = bytes(32)
            assert not verify_consistency(m, n, mth(0, m), root, bent)
            assert not verify_consistency(m, n, mth(0, m), root, [])


def test_proof_requests_outside_the_tree_are_refused(trees):
    with pytest.raises(ValueError):
        inclusion_proof(trees[5], 5, 5)
    with pytest.raises(ValueError):
        consistency_proof(trees[5], 6, 5)
    assert not verify_consistency(6, 5, mth(0, 5), mth(0, 5), [])
    assert not verify_inclusion(-1, 5, leaf_hash(DATA[0]), [], mth(0, 5))

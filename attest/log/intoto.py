"""Per-rig in-toto Statements in DSSE envelopes, for tools that know in-toto but not us.

Each statement's subject is the unit (its serial, else its address) identified by its
identity fingerprint; the predicate follows SLSA's Verification Summary Attestation
(``verifier``, ``timeVerified``, ``policy``, ``verificationResult``) and adds what a rig
verdict needs: the verdict itself, its reason codes, the manifest and evidence digests, and
where the record sits in the station's signed log, so a statement can be tied back to it.
TRUSTED maps to PASSED; every other verdict to FAILED (SLSA has no "could not check").

Units whose serial was never read have no identity fingerprint, and an in-toto subject must be
named by a digest; they get no statement (the export says how many) but stay in the log.

Envelopes are signed by the station key over DSSE's PAE with payload type
``application/vnd.in-toto+json``; ``keyid`` is the station fingerprint. The output is the
in-toto bundle format: one envelope per line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from attest.canonical import canonical_json
from attest.dsse import b64encode, pae
from attest.log.files import atomic_text_file
from attest.log.store import Store
from attest.station import StationSigner

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://rigattest.example/verification-summary/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
_CHUNK = 2000


def statement_for(record: dict[str, Any], index: int, leaf: bytes) -> dict[str, Any] | None:
    identity = record.get("identity_sha256")
    if not isinstance(identity, str) or not identity:
        return None
    manifest = record.get("manifest")
    evidence = record.get("evidence") or {}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": record.get("serial") or record.get("address"), "digest": {"sha256": identity}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "verifier": {"id": record.get("station"), "version": {"rig-attest": record.get("tool_version")}},
            "timeVerified": record.get("time"),
            "device": {"address": record.get("address"), "serial": record.get("serial")},
            "policy": {"digest": _digest(record.get("policy_digest"))},
            "manifest": None if not isinstance(manifest, dict) else {
                "issuer": manifest.get("issuer"), "sequence": manifest.get("sequence"),
                "digest": _digest(manifest.get("digest"))},
            "verificationResult": "PASSED" if record.get("verdict") == "TRUSTED" else "FAILED",
            "verdict": record.get("verdict"),
            "reasons": [r.get("code") for r in record.get("reasons") or [] if isinstance(r, dict)],
            "evidence": {"claims": {"sha256": evidence.get("claims_sha256")},
                         "transcript": {"sha256": evidence.get("transcript_sha256")}},
            "log": {"origin": record.get("station"), "index": index, "leafHash": {"sha256": leaf.hex()},
                    "batch": record.get("batch")},
        },
    }


def _digest(text: object) -> dict[str, str]:
    """``sha256:<hex>`` (how manifests and policies are named here) as an in-toto DigestSet."""
    if isinstance(text, str) and ":" in text:
        algorithm, _, value = text.partition(":")
        return {algorithm: value}
    return {}


def sign_statement(key: StationSigner, statement: dict[str, Any]) -> dict[str, Any]:
    payload = canonical_json(statement)
    signature = key.sign(pae(PAYLOAD_TYPE, payload))
    return {"payload": b64encode(payload), "payloadType": PAYLOAD_TYPE,
            "signatures": [{"keyid": key.identity.fingerprint, "sig": b64encode(signature)}]}


@dataclass(frozen=True)
class StatementSummary:
    path: str
    written: int
    without_identity: int


def export_statements(store: Store, key: StationSigner, path: str | os.PathLike[str],
                      indices: list[int] | None, size: int) -> StatementSummary:
    """Statements for the records at ``indices`` (all below ``size`` when None)."""
    written = skipped = 0
    with atomic_text_file(path) as out:
        for index, record, leaf in _records(store, indices, size):
            statement = statement_for(record, index, leaf)
            if statement is None:
                skipped += 1
                continue
            out.write(json.dumps(sign_statement(key, statement), sort_keys=True) + "\n")
            written += 1
    return StatementSummary(str(path), written, skipped)


def _records(store: Store, indices: list[int] | None, size: int) -> Iterator[tuple[int, dict[str, Any], bytes]]:
    wanted = None if indices is None else set(indices)
    for start in range(0, size, _CHUNK):
        end = min(size, start + _CHUNK)
        if wanted is not None and not any(i in wanted for i in range(start, end)):
            continue
        for row in store.records(start, end):
            if wanted is None or row.index in wanted:
                yield row.index, json.loads(row.data), row.leaf_hash

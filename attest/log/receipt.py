"""Per-rig receipts: one record, its RFC 6962 inclusion proof, and the signed checkpoint.

A buyer keeps the receipt for a unit instead of the whole log; ``verify_receipt`` needs
nothing else (and the station key, to pin it). The record is stored as parsed JSON so a person
can read it; verification re-encodes it with RFC 8785, which gives back exactly the bytes the
leaf covers, and parses the file strictly (a repeated key is refused, so no two readers can
see different records).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from attest.canonical import canonical_json
from attest.dsse import NotJsonError, strict_json_loads
from attest.log.checkpoint import Checkpoint
from attest.log.errors import LogError
from attest.log.files import read_capped, write_text_atomically
from attest.log.merkle import inclusion_proof, leaf_hash, verify_inclusion
from attest.log.store import Store
from attest.log.verify import Finding
from attest.station import fingerprint, public_key_from_pem

FORMAT = "rigattest.receipt/v1"
MAX_RECEIPT_BYTES = 8 * 1024 * 1024


def make_receipt(store: Store, index: int, checkpoint: Checkpoint | None = None) -> dict[str, Any]:
    """Against the latest checkpoint by default: it was signed with the batch, so making a
    receipt needs no passphrase."""
    checkpoint = checkpoint or store.latest_checkpoint()
    owner = store.owner()
    if checkpoint is None or owner is None or not 0 <= index < checkpoint.tree_size:
        raise LogError("LOG_RECORD_NOT_FOUND", f"record {index} is not covered by a checkpoint in {store.location}")
    rows = store.records(index, index + 1)
    if not rows:
        raise LogError("LOG_RECORD_NOT_FOUND", f"record {index} is not in {store.location}")
    try:
        proof = inclusion_proof(store, index, checkpoint.tree_size)
    except KeyError:
        raise LogError("LOG_STORE_UNAVAILABLE", f"{store.location} is damaged: a Merkle node is missing") from None
    return {
        "format": FORMAT,
        "station": checkpoint.origin,
        "station_key": owner.public_key_pem,
        "key_fingerprint": owner.fingerprint,
        "index": index,
        "leaf_hash": rows[0].leaf_hash.hex(),
        "record": json.loads(rows[0].data),
        "inclusion_proof": [p.hex() for p in proof],
        "checkpoint": checkpoint.envelope(),
    }


def receipt_for_serial(store: Store, serial: str) -> dict[str, Any]:
    """The unit's most recent record: a re-verification supersedes, never replaces, the old."""
    index = store.latest_index_for_serial(serial)
    if index is None:
        raise LogError("LOG_RECORD_NOT_FOUND", f"no record for serial {serial!r} in {store.location}")
    return make_receipt(store, index)


def write_receipt(path: str | os.PathLike[str], receipt: dict[str, Any]) -> None:
    write_text_atomically(path, json.dumps(receipt, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


@dataclass
class ReceiptReport:
    path: str
    station: str = ""
    key_fingerprint: str = ""
    key_pinned: bool = False
    index: int = -1
    tree_size: int = 0
    record: dict[str, Any] = field(default_factory=dict)
    checkpoint_time: str = ""
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, code: str, message: str) -> None:
        self.findings.append(Finding(code, message, self.index if self.index >= 0 else None))

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "path": self.path, "station": self.station, "key_fingerprint": self.key_fingerprint,
                "key_pinned": self.key_pinned, "index": self.index, "tree_size": self.tree_size,
                "serial": self.record.get("serial"), "verdict": self.record.get("verdict"),
                "checkpoint_time": self.checkpoint_time, "findings": [f.to_json() for f in self.findings]}


def verify_receipt(path: str | os.PathLike[str], *, pinned: str | None = None) -> ReceiptReport:
    """``pinned``: the fingerprint of the station key the caller trusts (--station-key)."""
    return check_receipt(_read(path), str(path), pinned=pinned)


def check_receipt(doc: Any, path: str, *, pinned: str | None = None) -> ReceiptReport:
    """A receipt already parsed (the GUI's receipt dialog); ``path`` only names it."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise LogError("LOG_FORMAT_UNKNOWN", f"{path} is not a {FORMAT} receipt"
                       + (f" (format {str(found)[:80]!r})" if found else ""))
    report = ReceiptReport(path, key_pinned=pinned is not None)
    try:
        key = public_key_from_pem(doc["station_key"], f"{path}: the receipt's station key")
        checkpoint = Checkpoint.from_envelope(doc["checkpoint"])
        index, record, claimed = doc["index"], doc["record"], bytes.fromhex(doc["leaf_hash"])
        proof = [bytes.fromhex(p) for p in doc["inclusion_proof"]]
        if not isinstance(index, int) or isinstance(index, bool) or not isinstance(record, dict):
            raise TypeError("index or record has the wrong type")
        computed = leaf_hash(canonical_json(record))
    except (KeyError, TypeError, ValueError) as e:
        raise LogError("LOG_UNREADABLE", f"{path} is not a complete receipt: {e}") from None
    report.station, report.key_fingerprint = str(doc.get("station", "")), fingerprint(key)
    report.index, report.tree_size, report.record = index, checkpoint.tree_size, record
    report.checkpoint_time = checkpoint.time
    if pinned is not None and pinned != report.key_fingerprint:
        report.add("LOG_SIGNED_BY_OTHER_KEY", f"the receipt is signed by key {report.key_fingerprint}, "
                   f"not the station key given ({pinned})")
    if checkpoint.keyid != report.key_fingerprint:
        report.add("LOG_SIGNED_BY_OTHER_KEY", f"the checkpoint is signed by key {checkpoint.keyid}, "
                   f"not the station key {report.key_fingerprint} the receipt names")
    elif not checkpoint.signature_valid(key):
        report.add("LOG_SIGNATURE_INVALID", "the checkpoint's signature does not match its contents")
    if checkpoint.origin != report.station:
        report.add("LOG_SIGNED_BY_OTHER_KEY", f"the checkpoint was signed for station {checkpoint.origin!r}, "
                   f"not {report.station!r}")
    root, size = checkpoint.root_hash, checkpoint.tree_size
    if verify_inclusion(index, size, computed, proof, root):
        if computed != claimed:
            report.add("LOG_RECORD_EDITED", "the receipt's leaf_hash was altered (the record is the signed one)")
    elif verify_inclusion(index, size, claimed, proof, root):
        report.add("LOG_RECORD_EDITED", f"record {index} differs from the one the station signed")
    else:
        report.add("LOG_INCLUSION_PROOF_INVALID", f"the proof does not place record {index} in the signed log "
                   f"of {size} records")
    return report


def _read(path: str | os.PathLike[str]) -> Any:
    data = read_capped(path, MAX_RECEIPT_BYTES, "a receipt")
    try:
        doc = strict_json_loads(data)
    except (NotJsonError, ValueError) as e:
        raise LogError("LOG_UNREADABLE", f"{path} is not JSON: {e}") from None
    return doc

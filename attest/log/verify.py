"""Offline verification of a ``.attestlog.jsonl`` bundle, saying exactly what is wrong.

Verification never believes the file: the tree is rebuilt from the leaves, its root compared
with the root the station signed, and the signature checked against the station key (the one
given with ``--station-key``, else the one in the header, which only proves the log is
self-consistent and is reported as "not pinned"). Findings are values with reason codes; only
a bundle that cannot be read at all raises ``LogError`` (exit 2).

Detection is sound on its own: any change to a record, its position, or the set of records
changes the root. Naming the change is a second step, run only once tampering is proven:

- indices out of order, repeated, missing in the middle (gaps) or at the end (truncation), or
  beyond the signed size, are read off the ``index`` fields;
- if the bundle's ``leaf_hash`` fields still add up to the signed root, they are authentic, and
  any record that no longer hashes to its own is exactly the edited one;
- if those were rewritten too, each record's signed ``index`` and ``previous_leaf`` (see
  ``attest.log.append``) still point at the record that moved or changed. This last step is
  best effort: against a determined forger it can only say the root does not match.

A record that revises an earlier verdict of its run (``supersedes``: index and leaf hash, added
with streaming verdicts; older records simply lack it) must cite an earlier record of the signed
log, by its true leaf hash: a citation that points nowhere is LOG_SUPERSEDES_INVALID.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from attest.canonical import canonical_json
from attest.dsse import NotJsonError, strict_json_loads
from attest.log.checkpoint import Checkpoint
from attest.log.errors import LogError
from attest.log.export import FORMAT
from attest.log.merkle import Tree, consistency_proof, leaf_hash, verify_consistency
from attest.station import fingerprint, public_key_from_pem

_RECORD = re.compile(rb'\{"index":(\d{1,15}),"leaf_hash":"([0-9a-f]{64})","record":')
_HIDDEN = re.compile(rb'\{"index":(\d{1,15}),"leaf_hash":"([0-9a-f]{64})"\}')
_CHECKPOINT = b'{"checkpoint":'
_INDEX_ANYWHERE = re.compile(rb'"index"\s*:\s*(\d{1,15})')
_SUPERSEDES = b'"supersedes":'

MAX_LINE_BYTES = 16 * 1024 * 1024
_LIST_AT_MOST = 8


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    index: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "index": self.index}


@dataclass
class BundleReport:
    path: str
    station: str = ""
    key_fingerprint: str = ""
    key_pinned: bool = False
    tree_size: int = 0
    shown: int = 0
    hidden: int = 0
    root_hash: str = ""
    checkpoint_time: str = ""
    since_size: int | None = None
    findings: list[Finding] = field(default_factory=list)
    parts: list[BundleReport] = field(default_factory=list)  # one per station in a warehouse bundle

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, code: str, message: str, index: int | None = None) -> None:
        self.findings.append(Finding(code, message, index))

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "path": self.path, "station": self.station,
                "key_fingerprint": self.key_fingerprint, "key_pinned": self.key_pinned,
                "tree_size": self.tree_size, "records_shown": self.shown, "records_hidden": self.hidden,
                "root_hash": self.root_hash, "checkpoint_time": self.checkpoint_time,
                "consistent_since": self.since_size if self.ok else None,
                "findings": [f.to_json() for f in self.findings],
                **({"parts": [p.to_json() for p in self.parts]} if self.parts else {})}


@dataclass(slots=True)
class _Leaf:
    index: int
    line: int
    claimed: bytes
    computed: bytes | None  # None: a hidden record (hash only)
    damaged: bool = False
    cites: object = None  # the record's ``supersedes`` value, when it has one


def verify_bundle(path: str | os.PathLike[str], *, pinned: str | None = None,
                  since: Checkpoint | None = None, pins: Collection[str] = ()) -> BundleReport:
    """``pinned`` is the station key's fingerprint the caller trusts (from --station-key);
    ``pins`` several, for a bundle spanning stations (each part must be signed by one of them).

    A warehouse bundle (``attest log export --store``) is several single-station bundles one
    after another, each header saying ``part`` and ``parts``; each part is checked on its own
    against its own station's key, and the report lists them in ``parts``."""
    keys = {*pins, *([pinned] if pinned is not None else [])}
    try:
        with open(path, "rb") as f:
            header = _header(f.readline(MAX_LINE_BYTES), str(path))
            first, line = _verify_part(path, f, header, 1, keys, since)
            if "parts" not in header:
                return first
            return _verify_parts(path, f, header, first, line, keys, since)
    except OSError as e:
        raise LogError("LOG_UNREADABLE", f"cannot read {path}: {e.strerror or e}") from None


def _verify_parts(path: str | os.PathLike[str], f: BinaryIO, header: dict[str, Any], first: BundleReport,
                  line: tuple[int, bytes] | None, keys: set[str], since: Checkpoint | None) -> BundleReport:
    report = BundleReport(str(path), parts=[first])
    while line is not None:
        lineno, raw = line
        part_header = _header(raw, f"{path} line {lineno}")
        part, line = _verify_part(path, f, part_header, lineno, keys, since)
        report.parts.append(part)
    declared = header.get("parts")
    if isinstance(declared, int) and declared > len(report.parts):
        report.add("LOG_TRUNCATED", f"the bundle promises {declared} station parts but holds {len(report.parts)}")
    for part in report.parts:
        report.findings.extend(Finding(f.code, f"station {part.station}: {f.message}", f.index) for f in part.findings)
    report.station = ", ".join(p.station for p in report.parts)
    report.key_pinned = all(p.key_pinned for p in report.parts)
    report.tree_size = sum(p.tree_size for p in report.parts)
    report.shown = sum(p.shown for p in report.parts)
    report.hidden = sum(p.hidden for p in report.parts)
    report.checkpoint_time = max((p.checkpoint_time for p in report.parts), default="")
    return report


def _verify_part(path: str | os.PathLike[str], f: BinaryIO, header: dict[str, Any], header_line: int,
                 keys: set[str], since: Checkpoint | None) -> tuple[BundleReport, tuple[int, bytes] | None]:
    """One station's bundle from its header on; also returns the next part's header line."""
    report = BundleReport(str(path))
    leaves, checkpoint, following = _read_leaves(f, report, header_line, multi="parts" in header)
    key = public_key_from_pem(header["station_key"], f"{path}: the header's station key")
    report.station, report.key_fingerprint = header["station"], fingerprint(key)
    report.key_pinned = bool(keys)
    report.shown = sum(1 for leaf in leaves if leaf.computed is not None)
    report.hidden = len(leaves) - report.shown
    if keys and report.key_fingerprint not in keys:
        given = next(iter(keys)) if len(keys) == 1 else ", ".join(sorted(keys))
        report.add("LOG_SIGNED_BY_OTHER_KEY", f"the bundle is signed by key {report.key_fingerprint}, "
                   f"not the station key given ({given})")
    if checkpoint is None:
        return report, following
    report.tree_size, report.root_hash = checkpoint.tree_size, checkpoint.root_hash.hex()
    report.checkpoint_time = checkpoint.time
    if checkpoint.keyid != report.key_fingerprint:
        report.add("LOG_SIGNED_BY_OTHER_KEY", f"the checkpoint is signed by key {checkpoint.keyid}, "
                   f"not the station key {report.key_fingerprint} the header names")
        return report, following  # nothing an unverified checkpoint says is worth comparing against
    if not checkpoint.signature_valid(key):
        report.add("LOG_SIGNATURE_INVALID", "the checkpoint's signature does not match its contents")
        return report, following
    if checkpoint.origin != report.station:
        report.add("LOG_SIGNED_BY_OTHER_KEY", f"the checkpoint was signed for station {checkpoint.origin!r}, "
                   f"but the header names {report.station!r}")
    by_index = _structure(leaves, checkpoint.tree_size, header, report)
    if by_index is None:
        return report, following
    tree = Tree([leaf.claimed if leaf.computed is None else leaf.computed for leaf in by_index])
    if tree.root() != checkpoint.root_hash:
        if not any(leaf.damaged for leaf in by_index):  # a damaged line is named already
            _name_the_edit(path, by_index, checkpoint, report)
    else:
        for leaf in by_index:
            if leaf.computed is not None and leaf.computed != leaf.claimed:
                report.add("LOG_RECORD_EDITED", f"line {leaf.line}: the leaf_hash of record {leaf.index} was "
                           "altered (the record itself is the signed one)", leaf.index)
        _check_citations(by_index, report)
        if since is not None and ("parts" not in header or since.origin == report.station):
            _check_since(tree, checkpoint, since, key, report)
    return report, following


def _header(first: bytes, where: str) -> dict[str, Any]:
    try:
        header = strict_json_loads(first)
    except (NotJsonError, ValueError):
        raise LogError("LOG_UNREADABLE", f"{where} does not start with a JSON header line") from None
    if not isinstance(header, dict) or not isinstance(header.get("format"), str):
        raise LogError("LOG_FORMAT_UNKNOWN", f"{where} has no format line: not a Rig Attest log bundle")
    if header["format"] != FORMAT:
        raise LogError("LOG_FORMAT_UNKNOWN", f"{where} is in format {header['format'][:80]!r}; "
                       f"this version reads {FORMAT}")
    if not isinstance(header.get("station"), str) or not isinstance(header.get("station_key"), str):
        raise LogError("LOG_UNREADABLE", f"{where}: the header lacks the station or its key")
    return header


def _read_leaves(f: BinaryIO, report: BundleReport, lineno: int = 1, *,
                 multi: bool = False) -> tuple[list[_Leaf], Checkpoint | None, tuple[int, bytes] | None]:
    """The leaves and checkpoint of one part; in a bundle of parts, also the next part's header
    line (line number and bytes), None after the last."""
    leaves: list[_Leaf] = []
    checkpoint: Checkpoint | None = None
    for raw in iter(lambda: f.readline(MAX_LINE_BYTES), b""):
        lineno += 1
        complete = raw.endswith(b"\n")
        line = raw.rstrip(b"\r\n")
        if checkpoint is not None:
            if multi and _is_header(line):
                return leaves, checkpoint, (lineno, line)
            if line.strip():
                report.add("LOG_RECORDS_ADDED", f"line {lineno} follows the signed checkpoint")
            continue
        if (m := _RECORD.match(line)) and line.endswith(b"}"):
            body = line[m.end():-1]
            leaves.append(_Leaf(int(m[1]), lineno, bytes.fromhex(m[2].decode()), leaf_hash(body),
                                cites=_citation(body) if _SUPERSEDES in body else None))
        elif (m := _HIDDEN.fullmatch(line)) is not None:
            leaves.append(_Leaf(int(m[1]), lineno, bytes.fromhex(m[2].decode()), None))
        elif line.startswith(_CHECKPOINT):
            try:
                checkpoint = Checkpoint.from_envelope(strict_json_loads(line)["checkpoint"])
            except (NotJsonError, ValueError, KeyError, TypeError) as e:
                if complete:
                    report.add("LOG_SIGNATURE_INVALID", f"line {lineno}: the checkpoint is damaged: {e}")
                else:
                    report.add("LOG_TRUNCATED", f"the bundle is cut short in its checkpoint line ({lineno})")
                return leaves, None, None
        elif not complete:
            report.add("LOG_TRUNCATED", f"the bundle is cut short in line {lineno}, before its signed checkpoint")
            return leaves, None, None
        else:
            leaf = _reformatted(line, lineno)
            if leaf is not None:
                leaves.append(leaf)
                continue
            m = _INDEX_ANYWHERE.search(line)
            index = int(m[1]) if m else None
            report.add("LOG_RECORD_EDITED", f"line {lineno} is not a record line: damaged or edited by hand"
                       + (f" (it names record {index})" if index is not None else ""), index)
            if index is not None:  # counted as present, so it is not also reported missing
                leaves.append(_Leaf(index, lineno, b"", b"", damaged=True))
    if checkpoint is None and not any(f.code == "LOG_TRUNCATED" for f in report.findings):
        report.add("LOG_TRUNCATED", f"the bundle ends at line {lineno} without its signed checkpoint")
    return leaves, checkpoint, None


def _is_header(line: bytes) -> bool:
    """The header of a warehouse bundle's next station part."""
    try:
        obj = strict_json_loads(line)
    except (NotJsonError, ValueError):
        return False
    return isinstance(obj, dict) and "format" in obj and "station" in obj


def _reformatted(line: bytes, lineno: int) -> _Leaf | None:
    """A record line some tool re-serialised (other key order, spacing): still acceptable if
    its record re-encodes to canonical bytes without ambiguity (no repeated keys)."""
    try:
        obj = strict_json_loads(line)
        index, claimed = obj["index"], bytes.fromhex(obj["leaf_hash"])
        if not isinstance(index, int) or isinstance(index, bool) or index < 0 or len(claimed) != 32:
            return None
        computed = leaf_hash(canonical_json(obj["record"])) if "record" in obj else None
    except (NotJsonError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return _Leaf(index, lineno, claimed, computed)


def _structure(leaves: list[_Leaf], size: int, header: dict[str, Any],
               report: BundleReport) -> list[_Leaf] | None:
    """Leaves by index 0..size-1, naming every structural problem; None if any leaf is absent
    (the root cannot be rebuilt then, and the gap is already named)."""
    by_index: dict[int, _Leaf] = {}
    moved: list[str] = []
    first_moved: int | None = None
    previous = -1
    for leaf in leaves:
        if leaf.index in by_index:
            report.add("LOG_RECORDS_ADDED", f"line {leaf.line} repeats record {leaf.index}", leaf.index)
            continue
        if leaf.index < previous:
            moved.append(f"record {leaf.index} (line {leaf.line}) follows record {previous}")
            first_moved = leaf.index if first_moved is None else first_moved
        by_index[leaf.index] = leaf
        previous = leaf.index
    if moved:
        report.add("LOG_RECORDS_REORDERED", "; ".join(moved[:_LIST_AT_MOST]) + _more(moved), first_moved)
    extra = sorted(i for i in by_index if i >= size)
    if extra:
        report.add("LOG_RECORDS_ADDED", f"{_records(extra)} not covered by the signed checkpoint "
                   f"(it covers {size})", extra[0])
    missing = [i for i in range(size) if i not in by_index]
    if missing:
        tail_start = size
        while tail_start - 1 in missing:
            tail_start -= 1
        gaps = [i for i in missing if i < tail_start]
        if gaps:
            report.add("LOG_RECORDS_MISSING", f"{_records(gaps)} missing "
                       f"(the signed checkpoint covers {size})", gaps[0])
        if tail_start < size:
            report.add("LOG_TRUNCATED", f"{_records(list(range(tail_start, size)))} missing from "
                       f"the end (the signed checkpoint covers {size})", tail_start)
        return None
    declared = header.get("records")
    if isinstance(declared, int) and declared > report.shown:
        report.add("LOG_RECORDS_MISSING", f"the header lists {declared} records shown in full, "
                   f"but only {report.shown} are: the others were reduced to their hashes")
    return [by_index[i] for i in range(size)]


def _name_the_edit(path: str | os.PathLike[str], leaves: list[_Leaf], checkpoint: Checkpoint,
                   report: BundleReport) -> None:
    if Tree([leaf.claimed for leaf in leaves]).root() == checkpoint.root_hash:
        edited = [leaf for leaf in leaves if leaf.computed is not None and leaf.computed != leaf.claimed]
        records = _parse_records(path, {leaf.line for leaf in edited})
        for leaf in edited:
            report.add("LOG_RECORD_EDITED", f"record {leaf.index}{_who(records.get(leaf.line))} differs from "
                       "the one the station signed", leaf.index)
        return
    records = _parse_records(path, {leaf.line for leaf in leaves if leaf.computed is not None})
    current = [leaf.computed or leaf.claimed for leaf in leaves]
    moved = [(leaf, rec["index"]) for leaf in leaves if isinstance(rec := records.get(leaf.line), dict)
             and rec.get("index") != leaf.index]
    if moved:
        report.add("LOG_RECORDS_REORDERED", "; ".join(f"position {leaf.index} holds the record signed as "
                                                      f"record {signed}" for leaf, signed in moved[:_LIST_AT_MOST]),
                   moved[0][0].index)
        return
    broken = {leaf.index for leaf in leaves if leaf.index > 0 and isinstance(rec := records.get(leaf.line), dict)
              and rec.get("previous_leaf") != current[leaf.index - 1].hex()}
    blamed = sorted({i if i + 1 in broken else i - 1 for i in broken})
    vouched = {i - 1 for i in range(1, len(leaves)) if isinstance(records.get(leaves[i].line), dict)}
    if not blamed and leaves and vouched >= set(range(len(leaves) - 1)):
        # Every leaf but the last is confirmed by its successor's previous_leaf: it is the last.
        blamed = [len(leaves) - 1]
    for i in blamed:
        report.add("LOG_RECORD_EDITED", f"record {i}{_who(records.get(leaves[i].line))} differs from the one "
                   "the station signed (its leaf hash was rewritten to match)", i)
    if not blamed:
        report.add("LOG_ROOT_MISMATCH", "the records do not add up to the signed root hash: records were "
                   "edited and their hashes rewritten")


def _parse_records(path: str | os.PathLike[str], lines: set[int]) -> dict[int, Any]:
    """Second pass, only when diagnosing: the named lines' records, parsed."""
    out: dict[int, Any] = {}
    if not lines:
        return out
    with open(path, "rb") as f:
        for lineno, raw in enumerate(iter(lambda: f.readline(MAX_LINE_BYTES), b""), start=1):
            if lineno in lines:
                try:
                    out[lineno] = json.loads(raw)["record"]
                except (ValueError, KeyError, TypeError):
                    out[lineno] = None
    return out


def _citation(body: bytes) -> object:
    """The top-level ``supersedes`` of a record (a record is ours, so parsing is only needed here)."""
    try:
        record = json.loads(body)
    except ValueError:
        return None
    return record.get("supersedes") if isinstance(record, dict) else None


def _check_citations(leaves: list[_Leaf], report: BundleReport) -> None:
    """Each revision cites an earlier record by its signed leaf hash (the root already holds)."""
    for leaf in leaves:
        if leaf.cites is None:
            continue
        cited = leaf.cites
        index = cited.get("index") if isinstance(cited, dict) else None
        digest = cited.get("leaf_hash") if isinstance(cited, dict) else None
        ok = (isinstance(index, int) and not isinstance(index, bool) and 0 <= index < leaf.index
              and isinstance(digest, str) and leaves[index].claimed.hex() == digest)
        if not ok:
            report.add("LOG_SUPERSEDES_INVALID", f"record {leaf.index} says it supersedes "
                       f"{'record ' + str(index) if isinstance(index, int) else 'a record'}, but no earlier "
                       "record of the signed log has that index and leaf hash", leaf.index)


def _check_since(tree: Tree, checkpoint: Checkpoint, since: Checkpoint, key: Ed25519PublicKey,
                 report: BundleReport) -> None:
    if since.keyid != report.key_fingerprint:
        report.add("LOG_SIGNED_BY_OTHER_KEY", f"the earlier checkpoint is signed by key {since.keyid}, "
                   f"not the station key {report.key_fingerprint}")
        return
    if not since.signature_valid(key):
        report.add("LOG_SIGNATURE_INVALID", "the earlier checkpoint's signature does not match its contents")
        return
    if since.origin != checkpoint.origin:
        report.add("LOG_INCONSISTENT", f"the earlier checkpoint is for station {since.origin!r}, "
                   f"not {checkpoint.origin!r}")
        return
    if since.tree_size > checkpoint.tree_size:
        report.add("LOG_INCONSISTENT", f"the earlier checkpoint covers {since.tree_size} records but this log "
                   f"has only {checkpoint.tree_size}: records were removed since")
        return
    proof = consistency_proof(tree, since.tree_size, checkpoint.tree_size)
    if not verify_consistency(since.tree_size, checkpoint.tree_size, since.root_hash, checkpoint.root_hash, proof):
        report.add("LOG_INCONSISTENT", f"the first {since.tree_size} records are not the ones the earlier "
                   f"checkpoint ({since.time}) signed: history was rewritten")
        return
    report.since_size = since.tree_size


def _who(record: Any) -> str:
    if isinstance(record, dict) and isinstance(record.get("serial"), str):
        return f" (serial {record['serial'][:64]})"
    return ""


def _records(indices: list[int]) -> str:
    """"record 4 is" / "records 4-5, 9 are": the indices as ranges, with the verb."""
    return f"record {indices[0]} is" if len(indices) == 1 else f"records {_ranges(indices)} are"


def _ranges(indices: list[int]) -> str:
    parts: list[str] = []
    start = prev = indices[0]
    for i in [*indices[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ", ".join(parts[:_LIST_AT_MOST]) + (f" and {len(parts) - _LIST_AT_MOST} more ranges"
                                               if len(parts) > _LIST_AT_MOST else "")


def _more(items: list[str]) -> str:
    return f" (and {len(items) - _LIST_AT_MOST} more)" if len(items) > _LIST_AT_MOST else ""

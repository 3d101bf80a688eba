"""The ``.attestlog.jsonl`` bundle: a log an auditor can check offline, whole or in part.

Layout, one JSON object per line::

    {"format": "rigattest.log/v1", "station": ..., "station_key": PEM, "key_fingerprint": ...,
     "tree_size": N, "records": K, "selection": {...}, "exported_at": ..., "tool_version": ...}
    {"index":0,"leaf_hash":"<hex>","record":{...}}      a selected record, RFC 8785 verbatim
    {"index":1,"leaf_hash":"<hex>"}                      a record outside the selection
    ...                                                  every leaf 0..N-1, in order
    {"checkpoint": <DSSE envelope>}                      signed at export time

**Why a filtered export still lists every leaf.** ``--batch``/``--since``/``--until``/
``--serial`` choose which records are shown in full; every other leaf appears as its hash
alone. The alternative, an inclusion proof per selected record, is smaller for a handful of
rigs out of a huge log, but it only proves "these records are in the log": it cannot show that
none of the selected ones was dropped from the bundle, it says nothing about order, and a
consistency check against an earlier checkpoint would need a second proof format. With every
leaf present the verifier always does the same thing, whatever the selection: rebuild the whole
tree, compare its root with the signed one, and check each shown record against its leaf. Gaps,
reordering, truncation and edits are then named by index, and ``--since`` needs no proof in
the file (the verifier derives the RFC 6962 consistency proof from the leaves itself). The cost
is about 90 bytes per hidden record: a 100,000-rig log is 9 MB before any record is shown. What
a hidden record says stays private; the auditor learns only that it exists.

The selection itself is the exporter's statement, not signed: a verifier reports how many
records were shown and how many only as hashes, and never calls a hidden record verified.

Records are written as the exact bytes the leaf hash covers, so the verifier hashes a slice of
the line rather than re-encoding JSON (which is what makes 100,000 records verify in about a
second, see bench/log_bench.py).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from attest import __version__
from attest.log.append import sign_current_checkpoint
from attest.log.canonical import iso_time
from attest.log.checkpoint import Checkpoint
from attest.log.errors import LogError
from attest.log.files import atomic_text_file, write_text_atomically
from attest.log.store import Selection, Store
from attest.station import StationSigner

FORMAT = "rigattest.log/v1"
BUNDLE_SUFFIX = ".attestlog.jsonl"
_CHUNK = 2000


@dataclass(frozen=True)
class ExportSummary:
    path: str
    tree_size: int
    shown: int
    checkpoint: Checkpoint


def export_bundle(store: Store, key: StationSigner, path: str | os.PathLike[str], *,
                  selection: Selection | None = None, now: datetime | None = None) -> ExportSummary:
    """Sign a checkpoint over the log as it stands, then write the bundle up to exactly that
    size (records appended meanwhile belong to the next export)."""
    now = now or datetime.now(UTC)
    selection = selection or Selection()
    checkpoint = sign_current_checkpoint(store, key, now)
    size = checkpoint.tree_size
    chosen = None if selection.everything else {i for i in store.select(selection) if i < size}
    header = {
        "format": FORMAT,
        "station": key.station_id,
        "station_key": key.identity.public_pem,
        "key_fingerprint": key.identity.fingerprint,
        "tree_size": size,
        "records": size if chosen is None else len(chosen),
        "selection": selection.to_json(),
        "exported_at": iso_time(now),
        "tool_version": __version__,
    }
    with atomic_text_file(path) as out:
        out.write(json.dumps(header, ensure_ascii=False, sort_keys=True) + "\n")
        _write_leaves(store, out, size, chosen)
        out.write(checkpoint_line(checkpoint))
    return ExportSummary(str(path), size, size if chosen is None else len(chosen), checkpoint)


def _write_leaves(store: Store, out: TextIO, size: int, chosen: set[int] | None) -> None:
    for start in range(0, size, _CHUNK):
        end = min(size, start + _CHUNK)
        if chosen is not None and not any(i in chosen for i in range(start, end)):
            for offset, leaf in enumerate(store.leaf_hashes(start, end)):
                out.write(f'{{"index":{start + offset},"leaf_hash":"{leaf.hex()}"}}\n')
            continue
        rows = store.records(start, end)
        if len(rows) != end - start:
            raise LogError("LOG_STORE_UNAVAILABLE", f"{store.location} is damaged: records {start}..{end - 1} "
                           "are not all present")
        for row in rows:
            if chosen is None or row.index in chosen:
                out.write(f'{{"index":{row.index},"leaf_hash":"{row.leaf_hash.hex()}","record":')
                out.write(row.data.decode("utf-8"))
                out.write("}\n")
            else:
                out.write(f'{{"index":{row.index},"leaf_hash":"{row.leaf_hash.hex()}"}}\n')


def checkpoint_line(checkpoint: Checkpoint) -> str:
    return '{"checkpoint":' + json.dumps(checkpoint.envelope(), sort_keys=True) + "}\n"


def save_latest_checkpoint(store: Store, path: str | os.PathLike[str]) -> Checkpoint:
    """The checkpoint of the last batch, for a later ``attest log verify --since``. Needs no
    passphrase: the checkpoint was signed when the batch was recorded."""
    checkpoint = store.latest_checkpoint()
    if checkpoint is None:
        raise LogError("LOG_RECORD_NOT_FOUND", f"{store.location} has no checkpoint yet: record a batch first")
    write_text_atomically(path, json.dumps(checkpoint.envelope(), indent=2, sort_keys=True) + "\n")
    return checkpoint

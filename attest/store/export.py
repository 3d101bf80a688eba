"""``attest log export --store URL``: one bundle spanning stations, for an auditor.

The bundle is a sequence of parts, one per station, each exactly a ``rigattest.log/v1``
bundle of that station's log as the store holds it (``attest.log.export``): a header naming
the station and its key, every leaf from 0 to the size of the station's latest checkpoint in
the store (the selected records in full, the others as hashes), and that checkpoint, which
the station signed. Nothing is signed at export: each part stands on its own station's
signature, so ``attest log verify`` checks each part against that station's pinned key, and
the exporter (anyone with read access to the store) needs no key at all. Each header also
says which part it is (``part``, ``parts``): a verifier that finds fewer parts than the first
header promised says the bundle was cut short. A bundle of one part with no ``parts`` field is
an ordinary single-station bundle, which every verifier already reads.

Only stations with a selected record get a part (all stations when nothing is selected).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from attest import __version__
from attest.log.canonical import iso_time
from attest.log.errors import LogError
from attest.log.export import FORMAT, checkpoint_line
from attest.log.files import atomic_text_file
from attest.log.store import Selection
from attest.store.connection import StoreTarget, connect, mapped
from attest.store.schema import check_version

_ROWS = 2000


@dataclass(frozen=True)
class StorePart:
    station: str
    tree_size: int
    shown: int


@dataclass(frozen=True)
class StoreExport:
    path: str
    parts: tuple[StorePart, ...]


def export_store_bundle(target: StoreTarget, path: str | os.PathLike[str], *, selection: Selection | None = None,
                        now: datetime | None = None) -> StoreExport:
    selection = selection or Selection()
    now = now or datetime.now(UTC)
    with connect(target, autocommit=False) as conn, mapped(target):
        check_version(conn, target)
        conn.rollback()
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        plans = []
        for station, pem, fingerprint in conn.execute(
                "SELECT station, public_pem, fingerprint FROM attest.stations ORDER BY station").fetchall():
            checkpoint = _latest_covered(conn, station)
            if checkpoint is None:
                continue
            size, envelope = checkpoint
            chosen = None if selection.everything else _selected(conn, station, selection, size)
            if chosen is not None and not chosen:
                continue
            plans.append((station, pem, fingerprint, size, envelope, chosen))
        if not plans:
            raise LogError("LOG_RECORD_NOT_FOUND", f"{target.display} holds no record that matches")
        parts = []
        with atomic_text_file(path) as out:
            for number, (station, pem, fingerprint, size, envelope, chosen) in enumerate(plans, start=1):
                shown = size if chosen is None else len(chosen)
                header = {"format": FORMAT, "station": station, "station_key": pem, "key_fingerprint": fingerprint,
                          "tree_size": size, "records": shown, "selection": selection.to_json(),
                          "exported_at": iso_time(now), "tool_version": __version__, "part": number,
                          "parts": len(plans), "source": f"warehouse store {target.display}"}
                out.write(json.dumps(header, ensure_ascii=False, sort_keys=True) + "\n")
                _write_leaves(conn, out, station, size, chosen)
                out.write(checkpoint_line(envelope))
                parts.append(StorePart(station, size, shown))
        conn.rollback()
    return StoreExport(str(path), tuple(parts))


def _latest_covered(conn: Any, station: str) -> tuple[int, Any] | None:
    """The station's newest checkpoint in the store whose records are all there."""
    from attest.log.checkpoint import Checkpoint

    held = conn.execute("SELECT count(*) FROM attest.records WHERE station = %s", (station,)).fetchone()[0]
    for envelope, size in conn.execute(
            "SELECT checkpoint, tree_size FROM attest.pushes WHERE station = %s AND outcome = 'accepted' "
            "AND tree_size <= %s ORDER BY tree_size DESC, id DESC", (station, held)).fetchall():
        try:
            return int(size), Checkpoint.from_envelope(json.loads(envelope))
        except (ValueError, TypeError):
            continue  # a damaged row: an older checkpoint still covers a prefix
    return None


def _selected(conn: Any, station: str, selection: Selection, size: int) -> set[int]:
    where, args = ["station = %s", "idx < %s"], [station, size]
    if selection.batch:
        where.append("batch = %s")
        args.append(selection.batch)
    if selection.since:
        where.append("time >= %s::timestamptz")
        args.append(selection.since)
    if selection.until:
        where.append("time < %s::timestamptz")
        args.append(selection.until)
    if selection.serials:
        where.append("serial = ANY(%s)")
        args.append(list(selection.serials))
    return {int(i) for (i,) in conn.execute(f"SELECT idx FROM attest.records WHERE {' AND '.join(where)}", args)}


def _write_leaves(conn: Any, out: TextIO, station: str, size: int, chosen: set[int] | None) -> None:
    with conn.cursor(name=f"export_{_cursor_number(station)}", binary=True) as cursor:
        cursor.itersize = _ROWS
        if chosen is None:
            cursor.execute("SELECT idx, leaf_hash, data FROM attest.records WHERE station = %s AND idx < %s "
                           "ORDER BY idx", (station, size))
        else:
            cursor.execute("SELECT idx, leaf_hash, CASE WHEN idx = ANY(%s) THEN data END FROM attest.records "
                           "WHERE station = %s AND idx < %s ORDER BY idx", (sorted(chosen), station, size))
        for idx, leaf, data in cursor:
            if data is None:
                out.write(f'{{"index":{idx},"leaf_hash":"{bytes(leaf).hex()}"}}\n')
            else:
                out.write(f'{{"index":{idx},"leaf_hash":"{bytes(leaf).hex()}","record":')
                out.write(bytes(data).decode("utf-8", "replace"))
                out.write("}\n")


def _cursor_number(station: str) -> str:
    """A server-side cursor name for this station (its name is not SQL-safe; its hash is)."""
    import hashlib

    return hashlib.sha256(station.encode()).hexdigest()[:16]

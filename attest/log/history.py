"""The station's own signed log as a ``History``: every check consults what this bench saw before.

A unit checked here last week with another MAC, control board, hashboards or PSU is judged
IDENTITY_CHANGED_SINCE; the same identity again is history (IDENTITY_SEEN_BEFORE). The lookup is
one walk down the log's ``records_serial`` index (serial, leaf index), newest first and capped at
``MAX_SIGHTINGS``, so it costs the same with a million records as with a hundred
(bench/history_bench.py). A record that a later one of its run supersedes (a verdict revised when
a clone turned up) is the same check, not another one, so it is left out.

SQLite connections belong to one thread: the lookups run on a thread of their own, so the
event loop that collects from rigs never waits on the disk. A log that does not exist yet is an
empty history (the first check at a new station); one that cannot be read is HistoryUnavailable,
which the verdict says (a could-not-check, never "no history").
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from attest.history import MAX_SIGHTINGS, HistoryUnavailable, Sighting, sighting_from_record
from attest.log.errors import LogError
from attest.log.sqlite import SqliteStore


class LogHistory:
    """``attest.history.History`` over the station's SQLite log at ``path``."""

    name = "station log"

    def __init__(self, path: str | os.PathLike[str], *, limit: int = MAX_SIGHTINGS) -> None:
        self.path = Path(path)
        self.limit = limit
        self._store: SqliteStore | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="log-history")

    async def sightings(self, serial: str) -> Sequence[Sighting]:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._lookup, serial)

    def lookup(self, serial: str) -> list[Sighting]:
        """The sightings of ``serial``, newest first; blocking, for callers without an event loop."""
        return self._thread.submit(self._lookup, serial).result()

    def _lookup(self, serial: str) -> list[Sighting]:
        store = self._opened()
        if store is None:
            return []
        try:
            rows = store.records_for_serial(serial, self.limit * 2)  # room for revised records left out
        except LogError as e:
            raise HistoryUnavailable(e.message) from None
        superseded: set[int] = set()
        out: list[Sighting] = []
        for index, data in rows:
            try:
                record = json.loads(data)
            except ValueError:
                raise HistoryUnavailable(f"{self.path}: record {index} is not JSON: the log is damaged") from None
            if not isinstance(record, dict):
                continue
            cited = record.get("supersedes")
            if isinstance(cited, dict) and isinstance(cited.get("index"), int):
                superseded.add(cited["index"])
            if index in superseded:
                continue
            sighting = sighting_from_record(record, reference=f"{record.get('station', '?')} #{index}")
            if sighting is not None:
                out.append(sighting)
                if len(out) >= self.limit:
                    break
        return out

    def _opened(self) -> SqliteStore | None:
        if self._store is None:
            if not self.path.exists():
                return None  # no check recorded here yet: no history, not an unavailable one
            try:
                self._store = SqliteStore(self.path, create=False)
            except LogError as e:
                raise HistoryUnavailable(e.message) from None
        return self._store

    def close(self) -> None:
        """Close the connection on its own thread, then the thread."""
        def close_store() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        self._thread.submit(close_store).result()
        self._thread.shutdown(wait=True)

"""The warehouse store as a ``History``: every station's earlier records of a serial.

One indexed lookup per serial (``records_serial``: serial, newest first), over one connection
kept for the run. The records come back as the bytes the stations signed, and each becomes a
``Sighting`` through ``attest.history.sighting_from_record``, the same reading the station log
gets: appraisal cannot tell the two histories apart, and ``fleet.prior_checks`` drops a record
found in both (same station, same reference "station #index").

A store that cannot be reached is a could-not-check (``HistoryUnavailable``), never "no
history": the first failure is remembered for the rest of the run, so a batch of 1,000 rigs
with the server down waits for one connect timeout, not 1,000.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

from attest.history import MAX_SIGHTINGS, HistoryUnavailable, Sighting, sighting_from_record
from attest.store.connection import LOOKUP_TIMEOUT_MS, StoreTarget, connect_async
from attest.store.errors import StoreError, from_database

LOOKUP = ("SELECT station, idx, data FROM attest.records WHERE serial = %s "
          "ORDER BY time DESC, station, idx DESC LIMIT %s")


class StoreHistory:
    """``attest.history.History`` over the warehouse store."""

    name = "warehouse store"

    def __init__(self, target: StoreTarget, *, statement_timeout_ms: int = LOOKUP_TIMEOUT_MS) -> None:
        self.target = target
        self._timeout = statement_timeout_ms
        self._conn: Any = None
        self._failed: str | None = None

    async def sightings(self, serial: str) -> Sequence[Sighting]:
        import psycopg

        if self._failed is not None:
            raise HistoryUnavailable(self._failed)
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await connect_async(self.target, statement_timeout_ms=self._timeout)
            cursor = await self._conn.execute(LOOKUP, (serial, MAX_SIGHTINGS), binary=True)
            rows = await cursor.fetchall()
        except StoreError as e:
            self._failed = f"{e.code}: {e.message}"
            raise HistoryUnavailable(self._failed) from None
        except psycopg.Error as e:
            self._failed = str(from_database(e, self.target.display))
            await self.aclose()
            raise HistoryUnavailable(self._failed) from None
        found = []
        for station, index, data in rows:
            try:
                record = json.loads(bytes(data))
            except ValueError:
                continue  # the ingest check parsed it; store verify names a record damaged since
            if isinstance(record, dict):
                sighting = sighting_from_record(record, reference=f"{station} #{index}")
                if sighting is not None:
                    found.append(sighting)
        return found

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a dead connection: nothing left to lose
                await conn.close()

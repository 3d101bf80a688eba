"""The warehouse store: several stations' signed logs replicated to one PostgreSQL server.

A station stays offline-first: its own SQLite log is the source of truth, and what the store
does not hold yet waits there (``queue``) until the next check or ``attest store sync`` pushes
it (``push``). The server believes no station: its ingest check (``server/``, PL/Python in the
database) stores a record only when it is in the station's chain and under a checkpoint signed
by the station's enrolled key (``enroll``), and triggers refuse every UPDATE and DELETE. What
the store gives back: earlier sightings of a serial at any station, for appraisal
(``history.StoreHistory``, a ``History``), the warehouse's intake (``report``), an audit of
every station's records against its signed checkpoints (``audit``), and one bundle spanning
stations for an auditor (``export``). ``commands`` is the CLI; the GUI uses the same functions
through its job thread. psycopg is imported only when a store is used.
"""

from __future__ import annotations

import importlib
from typing import Any

#: The store's public names, and the module each lives in: ``from attest.store import X`` is the
#: one way in for the GUI (the CLI's face is ``attest.store.commands``). Loaded on first use, so
#: importing this package costs nothing and never imports psycopg.
_PUBLIC = {
    "StoreError": "errors", "StoreTarget": "connection", "configured_target": "connection",
    "resolve_target": "connection", "connect": "connection", "mapped": "connection", "init_store": "schema",
    "check_version": "schema", "enroll_station": "enroll", "push_pending": "push", "PushResult": "push",
    "QueueState": "queue", "queue_state": "queue", "StoreHistory": "history", "store_report": "report",
    "StoreReport": "report", "audit_store": "audit", "export_store_bundle": "export",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'attest.store' has no attribute {name!r}")
    return getattr(importlib.import_module(f"attest.store.{module}"), name)

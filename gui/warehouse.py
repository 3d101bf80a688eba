"""What the Warehouse window shows, read in one go on the job thread: no Qt here.

``load_warehouse`` reads today's intake from the store (per station and verdict, units flagged
elsewhere, identity changes across stations) and this station's push queue from its own log.
The queue is local, so it is shown even when the server is down ("12 records waiting: server
unreachable since 14:02"); a store that cannot be read is a message, never an exception the
window has to catch. ``sync_now`` is the window's Sync button. Both block (psycopg, SQLite):
callers run them in ``asyncio.to_thread`` inside a ``gui.jobs`` op.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from attest.log.errors import LogError
from attest.store import QueueState, StoreError, StoreReport, StoreTarget, configured_target, queue_state, store_report


@dataclass(frozen=True)
class WarehouseView:
    store: str  # as shown: no password; "" when no store is configured
    station: str  # this station's id ("" before the key exists)
    since: str  # the start of today, ISO-8601 UTC
    report: StoreReport | None
    queue: QueueState | None
    problem: str = ""  # why the store could not be read

    @property
    def flagged_elsewhere(self) -> list[dict[str, object]]:
        return [] if self.report is None else [f for f in self.report.flagged if f["station"] != self.station]


def start_of_today(now: datetime | None = None) -> str:
    local = (now or datetime.now(UTC)).astimezone()
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def store_target(url: str) -> StoreTarget | None:
    """The station setting's URL, else ATTEST_STORE; None when neither is set."""
    return configured_target(url.strip() or None)


def load_warehouse(url: str, log: Path, station: str) -> WarehouseView:
    since = start_of_today()
    try:
        target = store_target(url)
    except StoreError as e:
        return WarehouseView("", station, since, None, None, f"{e.code}: {e.message}")
    if target is None:
        return WarehouseView("", station, since, None, None, "No warehouse store is set: Station > Settings…")
    queue = _queue(log, target)
    try:
        report = store_report(target, since)
    except StoreError as e:
        return WarehouseView(target.display, station, since, None, queue, f"{e.code}: {e.message}")
    return WarehouseView(target.display, station, since, report, queue)


def sync_now(url: str, log: Path) -> str:
    """Push what waits; one line saying what happened (a failure is a line too: it is queued)."""
    from attest.store import push_pending

    target = store_target(url)
    if target is None:
        return "No warehouse store is set: Station > Settings…"
    try:
        result = push_pending(log, target)
    except (StoreError, LogError) as e:
        return f"Not pushed ({e.code}): {e.message}"
    return f"Pushed {result.sent} records to {target.display}."


def try_store(url: str, log: Path) -> str:
    """The settings dialog's Test button: reach the store as this station would."""
    from attest.store import check_version, connect, mapped

    try:
        target = store_target(url)
        if target is None:
            return "No store URL given."
        with connect(target, statement_timeout_ms=5000) as conn, mapped(target):
            version = check_version(conn, target)
            row = conn.execute("SELECT station FROM attest.stations WHERE role = current_user").fetchone()
    except StoreError as e:
        return f"{e.code}: {e.message}"
    who = f"this login is station {row[0]}" if row else "this login is not an enrolled station (it can read only)"
    queue = _queue(log, target)
    waiting = f"; {queue.summary()}" if queue is not None else ""
    return f"Connected to {target.display}, schema version {version}; {who}{waiting}."


def _queue(log: Path, target: StoreTarget) -> QueueState | None:
    if not log.exists():
        return None
    try:
        return queue_state(log, target.display)
    except LogError:
        return None

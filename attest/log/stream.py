"""Recording a run's verdicts in the signed log as they are judged, not when the run ends.

Verdicts stream (``attest.fleet``), so records do too: each ``DeviceAppraised`` becomes a record,
and each ``DeviceRevised`` a new record that cites the one it supersedes (``supersedes``: that
record's index and leaf hash). Records are appended with ``append_prepared`` (compare-and-append,
as a whole batch is) but a few at a time: they wait at most COMMIT_SECONDS, or until
COMMIT_RECORDS are waiting, so a burst of 200 verdicts is a handful of fsyncs, not 200. The run's
checkpoint is signed when it ends (and every CHECKPOINT_SECONDS of a long run), and only over a
tree the stored nodes prove extends the last signed one (``attest.log.consistency``).

An interrupted run (Ctrl-C, a cancelled check) closes the stream on its way out: what waits is
committed and signed, so every verdict given before the interruption stays recorded. A failure
(disk full, read-only) stops the recording, never the run: the verdicts still stand, and
``close`` says how many were recorded and why the rest were not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from attest.appraise import Appraisal
from attest.log.append import append_prepared, record_from_appraisal, sign_current_checkpoint
from attest.log.checkpoint import Checkpoint
from attest.log.consistency import check_extends_last_signed
from attest.log.errors import LogError
from attest.log.store import Store
from attest.station import StationSigner

#: Records waiting for a commit at most this long ...
COMMIT_SECONDS = 0.25
#: ... or until this many wait.
COMMIT_RECORDS = 64
#: A long run signs a checkpoint this often, so its records need not wait for its end to be signed.
CHECKPOINT_SECONDS = 60.0

#: ``schedule(delay, callback)``: run ``callback`` after ``delay`` seconds (an event loop's call_later).
Schedule = Callable[[float, Callable[[], None]], Any]


@dataclass(frozen=True)
class StreamSummary:
    """What became of a run's verdicts in the log."""

    recorded: int  # records appended, revisions included
    revisions: int
    not_recorded: int  # verdicts given after a failure stopped the recording
    first: int | None  # leaf index of the run's first record
    checkpoint: Checkpoint | None  # signed over the log at the run's end; None if nothing was
    error: LogError | None  # the failure that stopped recording or signing

    @property
    def ok(self) -> bool:
        return self.error is None


class RecordStream:
    """One run's records: ``appraised`` and ``revised`` as the verdicts come, ``close`` at the end.

    ``schedule`` (an event loop's ``call_later``) commits records that would otherwise wait for
    the next verdict; without it they are committed when COMMIT_RECORDS wait or at ``close``.
    Not thread-safe: call it from the thread that runs the check.
    """

    def __init__(self, store: Store, key: StationSigner, *, operator: str, batch_id: str,
                 schedule: Schedule | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.key = store, key
        self.operator, self.batch_id = operator, batch_id
        self._schedule, self._clock = schedule, clock
        self._pending: list[tuple[str, dict[str, Any]]] = []  # (address, record) not yet committed
        self._latest: dict[str, tuple[int, bytes]] = {}  # address -> (index, leaf hash) of its newest record
        self._timer: Any = None
        self._signed_at = clock()
        self._first: int | None = None
        self._checkpoint: Checkpoint | None = None
        self.recorded = self.revisions = self.not_recorded = 0
        self.error: LogError | None = None
        self._closed = False

    def appraised(self, appraisal: Appraisal) -> None:
        self._add(appraisal, None)

    def revised(self, appraisal: Appraisal) -> None:
        """A new record for ``appraisal``, citing the latest record of the same device in this run."""
        if any(address == appraisal.address for address, _ in self._pending):
            self.flush()  # the record it supersedes must have its index before it can be cited
        self._add(appraisal, self._latest.get(appraisal.address))

    def record_of(self, address: str) -> tuple[int, bytes] | None:
        """The index and leaf hash of ``address``'s newest committed record in this run."""
        return self._latest.get(address)

    def _add(self, appraisal: Appraisal, supersedes: tuple[int, bytes] | None) -> None:
        if self.error is not None or self._closed:
            self.not_recorded += 1
            return
        record = record_from_appraisal(appraisal, station_id=self.key.station_id, operator=self.operator,
                                       batch_id=self.batch_id, now=datetime.now(UTC), supersedes=supersedes)
        self._pending.append((appraisal.address, record))
        if len(self._pending) >= COMMIT_RECORDS:
            self.flush()
        elif self._schedule is not None and self._timer is None:
            self._timer = self._schedule(COMMIT_SECONDS, self._timed_flush)

    def _timed_flush(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Commit what waits, in one transaction; a failure is kept (see ``error``), never raised."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending or self.error is not None:
            return
        waiting, self._pending = self._pending, []
        try:
            appended = append_prepared(self.store, self.key, [r for _, r in waiting], now=datetime.now(UTC),
                                       sign=False)
        except LogError as e:
            self.error = e
            self.not_recorded += len(waiting)
            return
        for offset, ((address, record), leaf) in enumerate(zip(waiting, appended.leaf_hashes, strict=True)):
            self._latest[address] = (appended.first + offset, leaf)
            self.revisions += "supersedes" in record
        self.recorded += len(waiting)
        if self._first is None:
            self._first = appended.first
        if self._clock() - self._signed_at >= CHECKPOINT_SECONDS:
            self._sign()

    def _sign(self) -> None:
        self._signed_at = self._clock()
        try:
            check_extends_last_signed(self.store, self.store.count())
            self._checkpoint = sign_current_checkpoint(self.store, self.key)
        except LogError as e:
            self.error = self.error or e

    def close(self) -> StreamSummary:
        """Commit what waits and sign a checkpoint over the log (when anything was recorded)."""
        if not self._closed:
            self.flush()
            self._closed = True
            if self.recorded:  # after a failure too: what was recorded is signed if the log allows
                self._sign()
        return StreamSummary(self.recorded, self.revisions, self.not_recorded, self._first, self._checkpoint,
                             self.error)

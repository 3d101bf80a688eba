"""Runs one check at a time and turns the core's events into row changes.

The core's events arrive here in chunks on the GUI thread (``gui.jobs``); each changes rows in
place and the model batches the repaints. A verdict shows the moment the rig is judged; a clone
is only visible once its twin is read, so an earlier verdict may be revised later in the check
(``DeviceRevised``): the row then says "Revised" and the detail pane what revised it.
"""

from __future__ import annotations

import gc
import logging
from collections import Counter
from datetime import datetime

from PySide6.QtCore import QObject, QTimer, Signal

from attest.drivers.base import ConsoleOutput
from attest.fleet import DeviceAppraised, DeviceCollected, DeviceRevised, DeviceStarted
from attest.station import StationSigner
from gui.jobs import Job, JobRunner
from gui.models.device_table import DeviceTableModel
from gui.models.rows import RowKind, RowState
from gui.verification import BatchLogged, CheckPlan, LogFailed, StoreSynced, run_check

log = logging.getLogger(__name__)


#: After a check, the deferred full collection runs once the results have been painted.
GC_AFTER_CHECK_MS = 300


class FullCollectionsDeferred:
    """Keep CPython's full (generation 2) garbage collections out of a running check.

    A full pass stops every thread, the GUI's included, for as long as it takes to walk the
    heap: 70-170 ms with a 1,000-rig batch in memory, the longest stalls a check had. Young
    generations still collect as usual; the full pass is run once the check is over, when a
    technician is reading results rather than watching rows change.
    """

    def __init__(self) -> None:
        self._saved: tuple[int, int, int] | None = None
        self._scheduled = False
        self._active = False

    def begin(self) -> None:
        self._active = True
        if self._saved is None:
            self._saved = gc.get_threshold()
            gc.set_threshold(self._saved[0], self._saved[1], 1_000_000_000)

    def end(self) -> None:
        """Run the deferred full pass shortly, then restore the thresholds.

        Restoring them right away would not do: the next allocation would find generation 2
        long overdue and collect at once, inside the last moments of the check.
        """
        self._active = False
        if self._saved is not None and not self._scheduled:
            self._scheduled = True
            QTimer.singleShot(GC_AFTER_CHECK_MS, self._collect)

    def _collect(self) -> None:
        self._scheduled = False
        if self._saved is None or self._active:  # a new check began: its own end collects
            return
        gc.collect()
        gc.set_threshold(*self._saved)
        self._saved = None


def log_note(result: BatchLogged | LogFailed | None) -> str:
    if isinstance(result, BatchLogged):
        revised = (f" ({result.revisions} revision{'s' if result.revisions != 1 else ''})"
                   if result.revisions else "")
        return (f" Signed log: {result.records} records{revised} from #{result.first}, checkpoint of "
                f"{result.size}, root {result.root_hex[:16]}…")
    if isinstance(result, LogFailed):
        return f" NOT recorded in the signed log ({result.code}): {result.message}"
    return ""


def store_note(result: StoreSynced | None) -> str:
    if result is None:
        return ""
    queue = f" {result.queue.summary()}." if result.queue is not None else ""
    if result.code:
        return f" Warehouse store: not pushed ({result.code}).{queue}"
    return f" Warehouse store: pushed {result.sent} records.{queue}"


def pending_id(serial: str) -> str:
    """The row id of a scanned serial that no address reaches yet."""
    return f"pending:{serial}"


class CheckController(QObject):
    started = Signal(int)  # rigs in the check
    progressed = Signal(int, int)  # collected, total
    rowsChanged = Signal(list)  # device ids touched by the last chunk of events
    pendingResolved = Signal(str, str)  # scanned-serial row id, the row that turned out to be it
    finished = Signal(str)  # one line saying how the check ended
    logged = Signal(object)  # BatchLogged, or LogFailed: what became of the batch's log records
    consoleOutput = Signal(object)  # ConsoleOutput: a serial console's chunk, for the live console tab
    storeSynced = Signal(object)  # StoreSynced: what became of the push to the warehouse store
    failed = Signal(str)

    def __init__(self, jobs: JobRunner, model: DeviceTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.model = model
        self.job: Job | None = None
        self.plan: CheckPlan | None = None
        self.last_ids: list[str] = []
        self._collected = 0
        self._started_at = datetime.now()
        self._gc = FullCollectionsDeferred()
        self.last_log: BatchLogged | LogFailed | None = None
        self.last_store: StoreSynced | None = None
        self._late_log: list[BatchLogged | LogFailed] = []  # what a cancelled check's process recorded

    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self, plan: CheckPlan, signer: StationSigner | None = None) -> bool:
        """Run ``plan``; ``signer`` (the open station key) signs its log checkpoint, here."""
        if self.running or plan.total == 0:
            return False
        self.plan = plan
        self.last_ids = plan.device_ids()
        self._collected = 0
        self._started_at = datetime.now()
        self.last_log = None
        self.last_store = None
        self._late_log = []
        for device_id in self.last_ids:
            row = self.model.row(device_id)
            if row is not None:
                row.start_check()
        self.model.touch(self.last_ids, immediate=True)
        self.started.emit(plan.total)
        self._gc.begin()
        late = self._late_log.append  # called on the job thread once the check process stopped
        self.job = self.jobs.stream_in_background(lambda: run_check(plan, signer, interrupted=late),
                                                  on_events=self._on_events,
                                                  on_success=self._on_done, on_failure=self._on_failure)
        self.job.cancelled.connect(self._on_cancelled)
        self.job.finished.connect(self._on_finished)
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _on_events(self, events: list[object]) -> None:
        touched: list[str] = []
        when = datetime.now().astimezone()
        for event in events:
            if isinstance(event, DeviceStarted):
                row = self.model.row(event.address)
                if row is not None:
                    row.state = RowState.CHECKING
                    touched.append(event.address)
            elif isinstance(event, DeviceCollected):
                self._collected += 1
                row = self.model.row(event.evidence.address)
                if row is not None:
                    row.apply_evidence(event.evidence)
                    touched.append(row.device_id)
                    self._resolve_pending(row.serial, row.device_id)
            elif isinstance(event, DeviceAppraised):
                row = self.model.row(event.appraisal.address)
                if row is not None:
                    row.apply_appraisal(event.appraisal, when)
                    touched.append(row.device_id)
            elif isinstance(event, DeviceRevised):
                row = self.model.row(event.appraisal.address)
                if row is not None:
                    row.apply_appraisal(event.appraisal, when, revised_because=event.because)
                    touched.append(row.device_id)
            elif isinstance(event, ConsoleOutput):
                self.consoleOutput.emit(event)
            elif isinstance(event, BatchLogged | LogFailed):
                self.last_log = event
                self.logged.emit(event)
            elif isinstance(event, StoreSynced):
                self.last_store = event
                self.storeSynced.emit(event)
        self.model.touch(touched)
        if self.plan is not None:
            self.progressed.emit(self._collected, self.plan.total)
        if touched:
            self.rowsChanged.emit(touched)

    def _resolve_pending(self, serial: str, real_id: str) -> None:
        pending = self.model.row(pending_id(serial)) if serial else None
        if pending is not None and pending.kind is RowKind.PENDING:
            self.model.flush()  # the real row's serial is visible before the window follows it
            self.pendingResolved.emit(pending.device_id, real_id)  # first, while both rows exist
            self.model.remove_rows([pending.device_id])

    def _on_done(self, _count: object) -> None:
        self.job = None
        self._gc.end()
        self.model.flush()
        self.model.resort()  # rows kept their place during the check; now the order holds again
        counts = Counter(self.model.row(i).verdict_text for i in self.last_ids if self.model.row(i) is not None)
        seconds = (datetime.now() - self._started_at).total_seconds()
        parts = ", ".join(f"{n} {v.lower() or 'without verdict'}" for v, n in sorted(counts.items()))
        self.finished.emit(f"Checked {len(self.last_ids)} rigs in {seconds:.1f} s: {parts}.{log_note(self.last_log)}"
                           f"{store_note(self.last_store)}")

    def _on_cancelled(self) -> None:
        self.job = None
        self._gc.end()
        self._settle(RowState.CANCELLED, "check cancelled; any verdict shown is from the previous check")
        if self._late_log:
            self.last_log = self._late_log[-1]
            self.logged.emit(self.last_log)
        if isinstance(self.last_log, BatchLogged):
            note = (f" The {self.last_log.records} verdicts given before it are recorded in the signed log "
                    f"(root {self.last_log.root_hex[:16]}…).")
        else:
            note = log_note(self.last_log)
        self.finished.emit("Check cancelled." + note)

    def _on_failure(self, error: BaseException) -> None:
        self.job = None
        self._gc.end()
        log.error("check failed", exc_info=error)
        text = f"{type(error).__name__}: {error}"
        self._settle(RowState.FAILED, f"the check stopped with an error: {text}")
        self.failed.emit(text)
        self.finished.emit("Check failed.")

    def _settle(self, state: RowState, note: str) -> None:
        """Rows the check did not finish are marked so; nothing keeps spinning."""
        touched = []
        for device_id in self.last_ids:
            row = self.model.row(device_id)
            if row is not None and row.state.busy:
                row.state = state
                row.note = note
                touched.append(device_id)
        self.model.touch(touched, immediate=True)
        if touched:
            self.rowsChanged.emit(touched)

    def _on_finished(self) -> None:
        self.job = None
        self._gc.end()

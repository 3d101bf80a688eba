"""The one bridge from the core's asyncio to Qt: every device, file and crypto job goes through here.

Why one event loop on one plain worker thread (and not QtAsyncio, a QThread per job or a pool):

* The core is asyncio end to end (``verify_many`` is an async generator); one loop lets a batch of
  1,000 rigs share sockets, semaphores and the demo simulator's servers, which must live on the
  same loop as the clients that talk to them.
* QtAsyncio is still a technology preview in PySide6 (STYLE.md): the GUI thread keeps Qt's own
  event loop, so a slow or CPU-heavy coroutine can never freeze painting.
* Results cross back through Qt signals with *queued* connections to a QObject living on the GUI
  thread, so every callback runs on the GUI thread, like Anki's ``QueryOp``/``run_in_background``.

Rules for what you pass to ``run_in_background``/``stream_in_background`` (the ``op``):
it runs on the worker thread, so it must never touch a widget, a model or any QObject, and must
take plain data (snapshots), not live GUI objects. Callbacks (``on_success``, ``on_events``,
``on_failure``, ``on_finished``) run on the GUI thread and may touch anything.

Streamed events are coalesced: the worker appends to a locked list and posts at most one wake-up
at a time; the GUI drains at most ``DRAIN_CHUNK`` events per turn of its loop, so a burst of a
thousand appraisals is spread over several turns instead of one long stall.

Cancelling a job cancels its task *and* every task created while it ran (tracked with a task
factory and a context variable): ``verify_many`` leaves its per-device tasks running when its
consumer is cancelled, and a cancelled check must stop talking to devices.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

log = logging.getLogger(__name__)

DRAIN_CHUNK = 100
_current_job: contextvars.ContextVar[int | None] = contextvars.ContextVar("rigattest_job", default=None)

_RESULT, _FAILURE, _CANCELLED, _EVENTS = range(4)


class Job(QObject):
    """A handle on one background operation; its signals are always delivered on the GUI thread."""

    events = Signal(list)  # a chunk of streamed events, in order
    succeeded = Signal(object)
    failed = Signal(object)  # the exception
    cancelled = Signal()
    finished = Signal()  # last, whatever happened

    _posted = Signal(int, object)  # worker -> GUI, queued

    def __init__(self, runner: JobRunner, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id
        self._runner = runner
        self._lock = threading.Lock()
        self._pending: list[Any] = []
        self._wake_posted = False
        self._task: asyncio.Task[Any] | None = None
        self._ended = False  # worker side: the end was posted
        self.done = False
        self.was_cancelled = False
        self._posted.connect(self._deliver, Qt.ConnectionType.QueuedConnection)

    def cancel(self) -> None:
        """Ask the job to stop; ``cancelled`` then ``finished`` follow once it has."""
        if not self.done:
            self._runner._cancel(self)

    # --- worker side ------------------------------------------------------------------------
    def _post_event(self, event: Any) -> None:
        with self._lock:
            self._pending.append(event)
            if self._wake_posted:
                return
            self._wake_posted = True
        self._posted.emit(_EVENTS, None)

    def _post_end(self, kind: int, payload: Any) -> None:
        # The end always follows the last event: flush them first (same queue, same order).
        self._ended = True
        self._posted.emit(_EVENTS, None)
        self._posted.emit(kind, payload)

    # --- GUI side ---------------------------------------------------------------------------
    @Slot(int, object)
    def _deliver(self, kind: int, payload: Any) -> None:
        if kind == _EVENTS:
            self._drain()
            return
        if self._drain(schedule_more=False):  # events still queued: they come before the end
            QTimer.singleShot(0, self, lambda: self._deliver(kind, payload))
            return
        self.done = True
        if kind == _RESULT:
            self.succeeded.emit(payload)
        elif kind == _FAILURE:
            self.failed.emit(payload)
        else:
            self.was_cancelled = True
            self.cancelled.emit()
        self.finished.emit()
        self._runner._forget(self)

    def _drain(self, *, schedule_more: bool = True) -> bool:
        """Deliver up to DRAIN_CHUNK events; returns whether more are waiting."""
        with self._lock:
            chunk, self._pending = self._pending[:DRAIN_CHUNK], self._pending[DRAIN_CHUNK:]
            more = bool(self._pending)
            self._wake_posted = more
        if chunk:
            self.events.emit(chunk)
        if more and schedule_more:  # let the GUI paint between chunks
            QTimer.singleShot(0, self, self._drain)
        return more


class JobRunner(QObject):
    """Owns the worker thread and its event loop; create one per application."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loop = asyncio.new_event_loop()
        self._loop.set_task_factory(self._task_factory)
        self._thread = threading.Thread(target=self._run_loop, name="rigattest-jobs", daemon=True)
        self._ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}
        self._tasks_by_job: dict[int, set[asyncio.Task[Any]]] = {}
        self._thread.start()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def running_jobs(self) -> list[Job]:
        return list(self._jobs.values())

    def run_in_background(self, op: Callable[[], Awaitable[Any]], *,
                          on_success: Callable[[Any], None] | None = None,
                          on_failure: Callable[[BaseException], None] | None = None,
                          on_finished: Callable[[], None] | None = None) -> Job:
        """Run ``op()`` (a coroutine function; see the module docstring for what it must not do)."""

        async def body(job: Job) -> Any:
            return await op()

        return self._start(body, on_success, on_failure, on_finished, None)

    def stream_in_background(self, op: Callable[[], AsyncIterator[Any]], *,
                             on_events: Callable[[list[Any]], None],
                             on_success: Callable[[Any], None] | None = None,
                             on_failure: Callable[[BaseException], None] | None = None,
                             on_finished: Callable[[], None] | None = None) -> Job:
        """Iterate the async generator ``op()`` on the worker, delivering its items in chunks."""

        async def body(job: Job) -> Any:
            count = 0
            async for item in op():
                job._post_event(item)
                count += 1
            return count

        return self._start(body, on_success, on_failure, on_finished, on_events)

    def call_blocking(self, coro: Coroutine[Any, Any, Any], timeout: float) -> Any:
        """Run a coroutine to completion from the GUI thread: only for shutdown and tests' setup,
        where waiting is the point. Raises TimeoutError after ``timeout`` seconds."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every job, then stop the loop and join the worker thread."""
        if not self._thread.is_alive():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.call_blocking(cancel_all(), timeout)
        except TimeoutError:
            log.warning("background jobs did not stop within %.0f s", timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()

    # --- internals ------------------------------------------------------------------------------
    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _task_factory(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any],
                      **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        job_id = _current_job.get() if kwargs.get("context") is None else kwargs["context"].get(_current_job)
        tasks = self._tasks_by_job.get(job_id) if job_id is not None else None
        if tasks is not None:
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return task

    def _start(self, body: Callable[[Job], Awaitable[Any]],
               on_success: Callable[[Any], None] | None, on_failure: Callable[[BaseException], None] | None,
               on_finished: Callable[[], None] | None, on_events: Callable[[list[Any]], None] | None) -> Job:
        job = Job(self, next(self._ids))
        self._jobs[job.job_id] = job
        if on_events is not None:
            job.events.connect(on_events)
        if on_success is not None:
            job.succeeded.connect(on_success)
        job.failed.connect(on_failure if on_failure is not None else _log_failure)
        if on_finished is not None:
            job.finished.connect(on_finished)
        self._loop.call_soon_threadsafe(self._launch, job, body)
        return job

    def _launch(self, job: Job, body: Callable[[Job], Awaitable[Any]]) -> None:
        self._tasks_by_job[job.job_id] = set()
        token = _current_job.set(job.job_id)
        try:
            job._task = self._loop.create_task(self._drive(job, body))
        finally:
            _current_job.reset(token)
        job._task.add_done_callback(lambda task: self._never_started(job, task))

    def _never_started(self, job: Job, task: asyncio.Task[Any]) -> None:
        """A job cancelled in the loop turn that launched it never enters ``_drive``; it still ends."""
        if task.cancelled() and not job._ended:
            self._tasks_by_job.pop(job.job_id, None)
            job._post_end(_CANCELLED, None)

    async def _drive(self, job: Job, body: Callable[[Job], Awaitable[Any]]) -> None:
        try:
            result = await body(job)
        except asyncio.CancelledError:
            await self._cancel_children(job)
            job._post_end(_CANCELLED, None)
        except Exception as e:  # shown to the person by on_failure; never swallowed
            await self._cancel_children(job)
            job._post_end(_FAILURE, e)
        else:
            job._post_end(_RESULT, result)
        finally:
            self._tasks_by_job.pop(job.job_id, None)

    async def _cancel_children(self, job: Job) -> None:
        me = asyncio.current_task()
        children = [t for t in self._tasks_by_job.get(job.job_id, ()) if t is not me and not t.done()]
        for task in children:
            task.cancel()
        await asyncio.gather(*children, return_exceptions=True)

    def _cancel(self, job: Job) -> None:
        def cancel() -> None:
            if job._task is not None:
                job._task.cancel()

        self._loop.call_soon_threadsafe(cancel)

    def _forget(self, job: Job) -> None:
        self._jobs.pop(job.job_id, None)


class _QtCall(QThread):
    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as e:  # re-raised on the job loop, where on_failure reports it
            self.error = e


async def in_qt_thread(fn: Callable[[], Any]) -> Any:
    """Await blocking *Qt* work (laying out and painting a PDF) from a job.

    ``asyncio.to_thread`` would run it on a plain thread, where Qt has no event dispatcher and
    QTextDocument's layout timers warn and misbehave; a short-lived QThread has one.
    """
    thread = _QtCall(fn)
    thread.start()
    await asyncio.to_thread(thread.wait)
    if thread.error is not None:
        raise thread.error
    return thread.result


def _log_failure(error: BaseException) -> None:
    log.error("background job failed", exc_info=error)

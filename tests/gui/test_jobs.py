"""The one bridge from asyncio to Qt: where callbacks run, ordering, failures and cancellation."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest


def test_result_arrives_on_the_gui_thread(qtbot, jobs):
    seen = {}

    async def op():
        seen["worker"] = threading.current_thread()
        return 42

    job = jobs.run_in_background(op, on_success=lambda v: seen.update(value=v, gui=threading.current_thread()))
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    assert seen["value"] == 42
    assert seen["gui"] is threading.main_thread()
    assert seen["worker"] is not threading.main_thread()


def test_streamed_events_arrive_in_order_and_in_chunks(qtbot, jobs):
    got: list[int] = []
    chunks: list[int] = []

    async def op():
        for i in range(1000):
            yield i

    def on_events(events):
        chunks.append(len(events))
        got.extend(events)

    job = jobs.stream_in_background(op, on_events=on_events)
    with qtbot.waitSignal(job.succeeded, timeout=5000) as done:
        pass
    assert got == list(range(1000))
    assert done.args == [1000]
    assert max(chunks) <= 100  # a burst is spread over several turns of the GUI loop


def test_failure_reaches_on_failure_not_a_traceback(qtbot, jobs):
    errors = []

    async def op():
        raise ValueError("no such manifest")

    job = jobs.run_in_background(op, on_failure=errors.append)
    with qtbot.waitSignal(job.finished, timeout=5000):
        pass
    assert [str(e) for e in errors] == ["no such manifest"]


def test_cancel_also_cancels_tasks_the_job_started(qtbot, jobs):
    started = threading.Event()
    child_cancelled = threading.Event()

    async def child():
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            child_cancelled.set()
            raise

    async def op():
        # like verify_many's as_completed: a task the consumer does not own
        orphan = asyncio.ensure_future(child())
        started.set()
        await asyncio.sleep(60)
        orphan.cancel()

    job = jobs.run_in_background(op)
    qtbot.waitUntil(started.is_set, timeout=5000)
    with qtbot.waitSignal(job.cancelled, timeout=5000):
        job.cancel()
    assert job.was_cancelled
    qtbot.waitUntil(child_cancelled.is_set, timeout=5000)


def test_blocking_qt_work_runs_on_a_qthread(qtbot, jobs):
    from PySide6.QtCore import QThread

    from gui.jobs import in_qt_thread

    async def op():
        return await in_qt_thread(lambda: QThread.currentThread().objectName() or "qthread")

    job = jobs.run_in_background(op)
    with qtbot.waitSignal(job.succeeded, timeout=5000) as done:
        pass
    assert done.args == ["qthread"]


@pytest.mark.parametrize("count", [3])
def test_shutdown_stops_the_worker(count):
    from gui.jobs import JobRunner

    runner = JobRunner()
    runner.shutdown()
    assert not runner._thread.is_alive()


def test_full_gc_passes_wait_until_the_check_is_over(qtbot):
    import gc

    from gui.check_controller import FullCollectionsDeferred

    before = gc.get_threshold()
    deferred = FullCollectionsDeferred()
    deferred.begin()
    assert gc.get_threshold()[2] > 10_000  # no full pass while a check runs
    deferred.end()
    assert gc.get_threshold()[2] > 10_000  # not restored at once: it would collect right away
    qtbot.waitUntil(lambda: gc.get_threshold() == before, timeout=3000)


def test_a_job_cancelled_before_its_first_step_still_ends(qtbot, jobs):
    """cancel() landing in the same loop turn as the launch: the coroutine never starts."""
    jobs.loop.call_soon_threadsafe(time.sleep, 0.3)  # hold the loop so launch and cancel share a turn

    async def op() -> None:
        await asyncio.sleep(5)

    job = jobs.run_in_background(op)
    job.cancel()
    with qtbot.waitSignal(job.finished, timeout=3000):
        pass
    assert job.was_cancelled and job.done

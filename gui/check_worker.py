"""The check process: runs a planned check and streams the core's events back to the station.

Why a process and not the job thread: collecting from a thousand rigs is a lot of Python (TLS,
SSH, JSON, hashing, appraisal). On the job thread it shares the GIL with the GUI thread, and the
table stalled for 70-120 ms at a time while 1,000 rigs were checked. In its own process it shares
nothing; the station's job thread only reads frames from a pipe, and the GUI thread stays free.

The wire between the two is our own: the station writes one frame holding the pickled
``CheckPlan`` on stdin, the worker answers with frames on stdout, each a pickled list of events,
coalesced for ``FLUSH_SECONDS`` but never more than ``FRAME_EVENTS`` to a frame. The core's
closing ``BatchDone`` repeats every appraisal (20 MB for 1,000 rigs, a 350 ms unpickle); the
worker sends ``BatchFinished`` instead and the station rebuilds ``BatchDone`` from the
appraisals it has already received. A frame
is a 4-byte big-endian length and the payload. Pickle is safe here because both ends are this
program (the station started the process and holds its pipes); device bytes only ever travel
inside the core's own frozen dataclasses. Nothing else may write to stdout: logs go to stderr,
which the station reads for the message if the worker dies.

This module imports no Qt, so the worker starts in about half a second; ``attest-gui`` starts one
ahead of time so "Verify" does not wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import BinaryIO

from attest.evidence import Evidence
from attest.fleet import BatchDone, DeviceAppraised, DeviceCollected, DeviceRevised, Event
from attest.watch import WatchError
from gui.check_frames import BatchFinished, read_frame, slim, slim_revised, write_frame
from gui.verification import BatchLogged, CheckPlan, LogFailed, RemoteSigner, run_check_here

#: Events are gathered this long before a frame is written (a verdict is never later than this).
FLUSH_SECONDS = 0.03
#: ... and at most this many go in one frame: the station unpickles a frame in one call that holds
#: its GIL, and an appraisal takes about 0.3 ms to unpickle, so a frame stays under ~5 ms.
FRAME_EVENTS = 16
#: How much lower the check process's CPU priority is than the station's (POSIX nice).
CHECK_NICENESS = 5


async def _stream(events: AsyncIterator[Event], out: BinaryIO) -> None:
    loop = asyncio.get_running_loop()
    batch: list[object] = []
    sent: dict[str, Evidence] = {}
    last = loop.time()
    async for event in events:
        if isinstance(event, BatchDone):  # the station has every appraisal already: never twice
            batch.append(BatchFinished(len(event.appraisals)))
            break
        if isinstance(event, DeviceCollected):
            sent[event.evidence.address] = event.evidence
        if isinstance(event, DeviceAppraised):
            batch.append(slim(event, sent))
        elif isinstance(event, DeviceRevised):
            batch.append(slim_revised(event, sent))
        else:
            batch.append(event)
        now = loop.time()
        if len(batch) >= FRAME_EVENTS or now - last >= FLUSH_SECONDS:
            write_frame(out, batch)
            batch, last = [], now
    if batch:
        write_frame(out, batch)


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="check worker: %(message)s")
    if hasattr(os, "nice"):  # background work: when the two compete for a core, the window wins
        os.nice(CHECK_NICENESS)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must never corrupt the frames
    plan = read_frame(stdin)
    if plan is None:  # the station closed without a check (a spare worker at shutdown)
        return 0
    if not isinstance(plan, CheckPlan):
        print(f"expected a CheckPlan, got {type(plan).__name__}", file=sys.stderr)
        return 2
    # No station key comes with the plan: each checkpoint is signed by the station, on request.
    signer = None if plan.log is None else RemoteSigner(plan.log.identity(), stdout, stdin)
    try:
        asyncio.run(_check(plan, stdout, signer))
    except WatchError as e:  # the station shows the last line it reads from here
        print(f"the network watch could not start: {e.message}", file=sys.stderr)
        return 2
    return 0


async def _check(plan: CheckPlan, out: BinaryIO, signer: RemoteSigner | None) -> None:
    """The check, until it ends or the station asks it to stop (SIGTERM: a cancelled check).
    Stopped, it still says what became of the verdicts it recorded, in one last frame."""
    task = asyncio.current_task()
    assert task is not None
    stopping = hasattr(signal, "SIGTERM") and sys.platform != "win32"
    if stopping:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)

    def interrupted(result: BatchLogged | LogFailed) -> None:
        with contextlib.suppress(OSError):  # the station may be gone already
            write_frame(out, [result])

    with contextlib.suppress(asyncio.CancelledError):
        await _stream(run_check_here(plan, signer, interrupted=interrupted), out)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

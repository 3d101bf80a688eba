"""Serial consoles' live output, merged into a check's event stream (no Qt here).

The core hands console chunks to a callback (``CollectOptions.on_console``) while ``verify_many``
yields its events; a job streams one async iterator to the GUI. This puts the two together:
``merge_console_output`` runs the stream with a listener that queues each ``ConsoleOutput``, and
yields events and chunks in the order they happened, so the chunks ride the job's existing
ordered, coalesced event delivery and need no channel of their own. Wherever the check runs (this
process or a check process), wrap its ``verify_many`` with it; the GUI side then routes
``ConsoleOutput`` events to ``DetailPane.append_console``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from attest.drivers.base import CollectOptions, ConsoleOutput

T = TypeVar("T")
_END = object()


async def merge_console_output(stream: Callable[[CollectOptions], AsyncIterator[T]],
                               options: CollectOptions) -> AsyncIterator[T | ConsoleOutput]:
    """Iterate ``stream(options + on_console)``, yielding its items and the console chunks between them.

    An exception in ``stream`` is raised here after the chunks before it; closing this iterator
    (or cancelling its consumer) cancels the stream.
    """
    queue: asyncio.Queue[object] = asyncio.Queue()
    listened = dataclasses.replace(options, on_console=queue.put_nowait)

    async def pump() -> None:
        try:
            async for item in stream(listened):
                queue.put_nowait(item)
        finally:
            queue.put_nowait(_END)

    task = asyncio.ensure_future(pump())
    try:
        while True:
            item = await queue.get()
            if item is _END:
                break
            yield item  # type: ignore[misc]
        await task  # raises the stream's exception, if it ended with one
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

"""An exclusive lock beside a small station file, for one read-check-write at a time.

The station's rollback memory is read, compared and rewritten; two processes doing that at once
(a GUI loading manifests while an intake script runs ``attest verify``) could each read sequence
1, and the one writing last could put back 2 after the other wrote 3. The lock is on a separate
``NAME.lock`` file (the data file itself is replaced by rename on every write, so a lock on it
would be on a file nobody else opens next): ``fcntl.flock`` on POSIX, ``msvcrt.locking`` on
Windows; both are released by the OS if the holder dies. A holder that never lets go (a process
stopped in a debugger) makes a waiter give up after ``timeout`` with ``LockTimeout`` rather than
hang the station.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

_POLL_SECONDS = 0.01


class LockTimeout(OSError):
    """Another process held the lock for longer than the waiter would wait."""


@contextlib.contextmanager
def exclusive(path: str | os.PathLike[str], *, timeout: float = 30.0) -> Iterator[None]:
    """Hold the lock for ``path`` (``path`` + ".lock") for the ``with`` block."""
    lock = Path(path).with_name(Path(path).name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        _acquire(fd, lock, timeout)
        try:
            yield
        finally:
            _release(fd)
    finally:
        os.close(fd)


def _acquire(fd: int, lock: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _try_lock(fd)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise LockTimeout(f"{lock} has been held by another process for over {timeout:g} s") from None
            time.sleep(_POLL_SECONDS)


if os.name == "nt":  # pragma: no cover - exercised on Windows builds only
    import msvcrt

    def _try_lock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as e:
            raise BlockingIOError(str(e)) from None

    def _release(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _release(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

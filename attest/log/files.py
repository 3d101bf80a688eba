"""Output files written whole or not at all, and input files read with a size cap.

A receipt or bundle is handed to an auditor by name; a crash half-way must never leave a
truncated file under that name (it would verify as "truncated" and look like tampering). So
everything is written to a temporary file beside the target, synced, then renamed over it. The
temporary file is made with ``mkstemp`` (O_CREAT|O_EXCL, a random name): a name anyone could
predict (it used to be ``.NAME.PID.tmp``) could be a symlink planted in a shared export folder,
and writing through it would overwrite whatever it points to. The finished file gets the mode an
ordinary write would (0666 less the umask), since a bundle is made to be handed on.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from attest.log.errors import LogError

_UMASK = os.umask(0o022)  # read once, at import (os.umask can only be read by setting it)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_text_file(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    target = Path(path)
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        tmp = Path(name)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o666 & ~_UMASK)
        with open(fd, "w", encoding="utf-8", newline="\n") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise LogError("LOG_OUTPUT_UNWRITABLE", f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


def write_text_atomically(path: str | os.PathLike[str], text: str) -> None:
    with atomic_text_file(path) as f:
        f.write(text)


def read_capped(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """A file an auditor was handed, read whole only if it is no bigger than a ``what`` can be."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise LogError("LOG_UNREADABLE", f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > limit:
        raise LogError("LOG_UNREADABLE", f"{path} is too large to be {what}")
    return data

"""The child process that reads one firmware file for ``attest.image.isolated``.

It takes one JSON request on stdin (the file, the trust store's directory, the dump layout and
signed layouts, the limits), caps its own data segment at ``max_memory_bytes`` before reading
anything, and writes JSON lines on stdout: ``{"at": PATH}`` as it enters layers (at most five a
second: the station names the last one if it has to stop this process), then one
``{"inspection": ...}`` (or ``{"error": ...}`` when the file cannot be opened). Nothing else may
write to stdout: logging goes to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
import time

_PROGRESS_EVERY = 0.2


def _cap_memory(limit: int) -> None:
    try:
        import resource
    except ImportError:  # Windows: the caller's deadline and the readers' caps bound the check
        return
    for name in ("RLIMIT_DATA", "RLIMIT_AS") if sys.platform != "linux" else ("RLIMIT_DATA",):
        which = getattr(resource, name, None)
        if which is not None:
            resource.setrlimit(which, (limit, limit))
            return


def main() -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="image worker: %(message)s")
    out = sys.stdout
    sys.stdout = sys.stderr  # a stray print must never corrupt the answer
    request = json.loads(sys.stdin.buffer.read(1 << 20))
    from attest.image.limits import Limits

    limits = Limits(**request["limits"])
    _cap_memory(limits.max_memory_bytes)
    from attest.image.walk import inspect_file
    from attest.image.wire import inspection_to_json
    from attest.trust import TrustStore

    trust = TrustStore.load(request["trust"]) if request["trust"] else None
    last = 0.0

    def progress(where: str) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= _PROGRESS_EVERY:
            last = now
            out.write(json.dumps({"at": where}) + "\n")
            out.flush()

    try:
        inspection = inspect_file(request["path"], trust, mtdparts=request["mtdparts"], layouts=request["layouts"],
                                  limits=limits, progress=progress)
    except OSError as e:
        out.write(json.dumps({"error": str(e.strerror or e)}) + "\n")
        return 0
    out.write(json.dumps({"inspection": inspection_to_json(inspection)}) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

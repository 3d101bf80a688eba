"""Check a firmware file in a child process, so that no file can take the station down with it.

The budgets in ``limits`` bound what the readers spend, but they are accounting: a library's own
allocations, Python's overhead per object, a C call no clock can interrupt are outside it. A
file that found a way past them would, checked in the GUI's own process, exhaust its memory and
kill the window (and a running verify of a pallet with it), or hang the CLI. So ``attest image``
and the GUI read each file in a child (``attest.image.worker``) with a hard memory cap
(``RLIMIT_DATA``: the heap and anonymous mappings, not the read-only map of the file, so a
large dump still maps whole) and a hard deadline (the file's time budget plus a grace period,
then SIGKILL). A child that runs out of either is IMAGE_TOO_COSTLY, naming the last layer it had
entered: what was left unread. The station judges the child's answer (``appraise_inspection``)
itself; the answer is JSON, read field by field (``wire``).

Windows has no RLIMIT: there the deadline still holds, and memory is bounded by the caps alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from attest.child_process import module_command
from attest.evidence import printable
from attest.image.limits import Limits
from attest.image.model import TOP, Finding, Inspection, Node
from attest.image.wire import WireError, inspection_from_json

if TYPE_CHECKING:
    from attest.appraise import Appraisal
    from attest.manifest import Manifest
    from attest.trust import TrustStore

#: After the file's own time budget has had its chance to end the check cleanly.
GRACE_SECONDS = 30.0


class ImageCheckFailed(RuntimeError):
    """The child ended without an answer for a reason that is not the file's cost: a bug."""


def worker_command() -> list[str]:
    return module_command("attest.image.worker", frozen_flag="--image-worker")


def inspect_isolated(path: str | os.PathLike[str], trust: TrustStore | None = None, *, mtdparts: str | None = None,
                     layouts: Sequence[str] = (), limits: Limits | None = None,
                     grace_seconds: float = GRACE_SECONDS) -> Inspection:
    """``walk.inspect_file`` in a child process. Raises OSError when the file cannot be read."""
    limits = limits or Limits()
    with open(path, "rb"):  # unreadable is the caller's error, as with inspect_file
        pass
    request = {"path": str(path), "trust": None if trust is None else str(trust.directory), "mtdparts": mtdparts,
               "layouts": list(layouts), "limits": asdict(limits)}
    deadline = limits.max_seconds + grace_seconds
    with subprocess.Popen(worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as child:
        try:
            out, err = child.communicate(json.dumps(request).encode(), timeout=deadline)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
            return _stopped(path, out, f"the check of this file ran past {deadline:g} s and was stopped")
    return _answer(path, out, err, child.returncode, limits)


def check_file_isolated(path: str, trust: TrustStore | None, manifests: Sequence[Manifest], *,
                        mtdparts: str | None = None, limits: Limits | None = None) -> Appraisal:
    """``appraise_image.check_file``, with the reading done in a child process (CLI and GUI)."""
    from attest.image.appraise_image import appraise_inspection

    layouts = [r.flash_layout for m in manifests for r in m.firmware if r.flash_layout]
    inspection = inspect_isolated(path, trust, mtdparts=mtdparts, layouts=layouts, limits=limits)
    return appraise_inspection(inspection, manifests)


def _answer(path: str | os.PathLike[str], out: bytes, err: bytes, code: int, limits: Limits) -> Inspection:
    lines = out.splitlines()
    last = _last_line(lines)
    if code == 0 and isinstance(last, dict) and "inspection" in last:
        try:
            return inspection_from_json(last["inspection"])
        except WireError as e:
            raise ImageCheckFailed(f"the image check process sent a malformed answer ({e})") from None
    if code == 0 and isinstance(last, dict) and isinstance(last.get("error"), str):
        raise OSError(f"cannot read {path}: {printable(last['error'], limit=300)}")
    tail = err.decode("utf-8", "replace")[-2000:]
    if code < 0 or "MemoryError" in tail:  # killed by a signal (the kernel's OOM killer, a crash) or out of memory
        why = (f"the check of this file needed more than its {limits.max_memory_bytes >> 20} MB of memory"
               if "MemoryError" in tail or code == -9 else f"the check process died (signal {-code})")
        return _stopped(path, out, why)
    raise ImageCheckFailed(f"the image check process failed (exit status {code}): "
                           f"{printable(tail.strip().splitlines()[-1] if tail.strip() else 'no message', limit=300)}")


def _last_line(lines: list[bytes]) -> object:
    for line in reversed(lines):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def _stopped(path: str | os.PathLike[str], out: bytes, why: str) -> Inspection:
    """What the station can say of a file whose check was stopped: its digest and size, and
    that from the last layer the child entered on nothing was read."""
    reached = ""
    for line in reversed(out.splitlines()):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("at"), str):
            reached = doc["at"]
            break
    where = printable(reached, limit=300) if reached else "the file"
    root = Node(path="", name=Path(path).name, role=TOP, size=os.path.getsize(path), sha256=_sha256(path),
                problem="IMAGE_TOO_COSTLY")
    detail = f"{why}; left unread: {where} and everything after it"
    return Inspection(str(path), root, [Finding("IMAGE_TOO_COSTLY", "", detail)])


def _sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()

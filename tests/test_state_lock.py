"""The station's rollback memory never goes down, even when two processes record at once."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

from attest.station_state import StationState
from tests.manifest_helpers import ISSUER

ROOT = Path(__file__).resolve().parent.parent


def run_state_worker(state: Path, sequence: int, *, pause: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.state_worker", str(state), ISSUER, str(sequence),
                             *(["--pause"] if pause else [])], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def test_two_processes_recording_at_once_never_lower_the_sequence(tmp_path) -> None:
    """A has read the state (sequence 1) and is about to write 2; B records 3 meanwhile. Without
    a lock B wrote 3 and A then wrote 2 over it: the station would accept sequence 2 again. With
    the lock B waits for A, then reads 2 and writes 3."""
    state = tmp_path / "state.json"
    StationState(state).record(ISSUER, 1, f"sha256:{1:064x}")
    with run_state_worker(state, 2, pause=True) as a:
        assert a.stdout is not None and a.stdin is not None
        assert a.stdout.readline().strip() == "reading done"  # A holds the lock, inside record()
        with run_state_worker(state, 3) as b:
            # B cannot finish while A is inside (it waits on the lock); without a lock it would be
            # done well within this bound, and A would then write its 2 over B's 3.
            with contextlib.suppress(subprocess.TimeoutExpired):
                b.wait(timeout=3)
            a.stdin.write("go\n")
            a.stdin.flush()
            assert a.stdout.read().strip() == "recorded" and a.wait(timeout=30) == 0
            out, _ = b.communicate(timeout=30)
    assert out.strip() == "recorded"
    assert StationState(state).accepted()[ISSUER].sequence == 3

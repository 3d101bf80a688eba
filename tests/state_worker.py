"""One process recording a manifest sequence in the station's rollback state (run as a subprocess).

    python -m tests.state_worker STATE_FILE ISSUER SEQUENCE [--pause]

With ``--pause`` it stops inside ``record``, after reading the file and just before writing it:
it prints "reading done" and waits for a line on stdin. That is the window in which another
writer, without a lock, could write a higher sequence that this one would then overwrite.
Prints "recorded" or "refused CODE" at the end.
"""

from __future__ import annotations

import sys

from attest import station_state
from attest.manifest import ManifestError
from attest.station_state import StationState


def main() -> int:
    path, issuer, sequence = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if "--pause" in sys.argv:
        real = station_state.write_atomically

        def paused(target, data):  # type: ignore[no-untyped-def]
            print("reading done", flush=True)
            sys.stdin.readline()
            real(target, data)

        station_state.write_atomically = paused  # type: ignore[assignment]
    try:
        StationState(path).record(issuer, sequence, f"sha256:{sequence:064x}")
    except ManifestError as e:
        print(f"refused {e.code}", flush=True)
        return 0
    print("recorded", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

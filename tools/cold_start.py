"""Time from starting ``attest-gui`` to its window on screen, as a person would wait for it.

    python tools/cold_start.py dist/rig-attest/attest-gui          # the bundle
    python tools/cold_start.py .venv/bin/attest-gui --runs 5       # the installed app

Each run starts the program with ``--time-to-window`` (it prints a line on the window's first
paint after show, then quits), headless (``QT_QPA_PLATFORM=offscreen`` unless DISPLAY is used
with ``--display``) and with a throwaway home so no settings or trust store of the operator's
are read or created. The first run after a build or boot is the coldest (files not yet in the
page cache); later runs are warm. Prints every run and the median: wall time from spawn to the
line, and the app's own figure since process start.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def one_run(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.Popen([*command, "--time-to-window"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("window shown:"):
            elapsed = time.perf_counter() - started
            proc.wait(timeout=30)
            return elapsed, line.strip()
    proc.wait(timeout=30)
    raise RuntimeError(f"{command[0]} exited {proc.returncode} without showing its window")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("program", nargs="+", help="the attest-gui to start (and any arguments)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--display", action="store_true", help="use $DISPLAY (e.g. under xvfb-run), not offscreen")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rig-attest-start-") as home:
        env = {**os.environ, "HOME": home, "XDG_CONFIG_HOME": f"{home}/.config",
               "XDG_STATE_HOME": f"{home}/.state", "XDG_DATA_HOME": f"{home}/.data"}
        if not args.display:
            env["QT_QPA_PLATFORM"] = "offscreen"
        times = []
        for i in range(args.runs):
            elapsed, line = one_run(args.program, env)
            times.append(elapsed)
            print(f"run {i + 1}: {elapsed:.3f} s to the window ({line})")
    print(f"median {statistics.median(times):.3f} s, first {times[0]:.3f} s, best {min(times):.3f} s "
          f"over {len(times)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())

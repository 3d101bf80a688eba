"""How long the GUI thread ever stalls while Scan range… adds a simulated fleet to a big table.

    .venv/bin/python bench/scan_stall.py [--fleet 1000] [--rows 9000] [--base-address 127.0.104.1]

The table first holds ``--rows`` rows (addresses outside the range, never contacted), then
Scan range… probes the smallest CIDR block holding the fleet (a mixed fleet in its own process,
as in bench/gui_stall.py) while a 5 ms QTimer notes every time it fires. Prints the longest gap
(minus the interval), the 99th percentile, the GUI thread's own CPU time in the worst gap (the
rest of a gap is waiting for the GIL or a core) and how many inserts the scan made. Asserts
nothing; the target is the same as gui_stall's: no stall over 50 ms.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import json
import os
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from attest.address import HostTarget, PortProfile
from bench.gui_stall import TICK_MS, start_sim_process, wait_for
from gui.jobs import JobRunner
from gui.main_window import MainWindow
from gui.settings import StationSettings
from gui.station import Station
from gui.theme import apply_theme


def covering_range(hosts: list[str]) -> str:
    first, last = ipaddress.ip_address(hosts[0]), ipaddress.ip_address(hosts[-1])
    prefix = 32
    while last not in ipaddress.ip_network(f"{first}/{prefix}", strict=False):
        prefix -= 1
    return str(ipaddress.ip_network(f"{first}/{prefix}", strict=False))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fleet", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=9000)
    parser.add_argument("--base-address", default="127.0.104.1")  # a /22 starts here
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="scan-stall-") as tmp:
        out = Path(tmp) / "sim"
        os.environ["ATTEST_HOME"] = str(Path(tmp) / "station")
        app = QApplication([])
        apply_theme(app, "light")
        jobs = JobRunner()
        proc = start_sim_process(args.fleet, out, args.base_address, dict(os.environ))
        try:
            doc = json.loads((out / "fleet.json").read_text())
            window = MainWindow(jobs, StationSettings(station_name="bench"), Station(ports=PortProfile(**doc["ports"])))
            window.intake.add_targets([HostTarget(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
                                       for i in range(args.rows)])
            window.show()
            gc.freeze()  # as attest-gui does after startup
            dialog = window.scan_range_dialog()
            network = covering_range([r["host"] for r in doc["rigs"]])
            dialog.ranges.setText(network)
            inserts = [0]
            window.intake.rowsAdded.connect(lambda _ids: inserts.__setitem__(0, inserts[0] + 1))
            app.processEvents()
            ticks: list[float] = []
            cpu: list[float] = []
            timer = QTimer()
            timer.setInterval(TICK_MS)
            timer.timeout.connect(lambda: (ticks.append(time.monotonic()), cpu.append(time.thread_time())))
            timer.start()
            began = time.monotonic()
            dialog.start()
            wait_for(dialog.scanFinished, 300)
            wall = time.monotonic() - began
            timer.stop()
            gaps = sorted(((b - a) * 1000, (d - c) * 1000) for (a, b), (c, d) in zip(pairwise(ticks), pairwise(cpu),
                                                                                   strict=True))
            print(f"scan of {network} ({args.fleet} simulated rigs, mixed) into a {args.rows}-row table: "
                  f"{wall:.1f} s; {dialog.status.text()}; {inserts[0]} inserts; {window.model.rowCount()} rows")
            if gaps:
                p99 = sorted(g for g, _ in gaps)[int(len(gaps) * 0.99)]
                print(f"longest event-loop stall: {gaps[-1][0] - TICK_MS:.1f} ms (GUI-thread CPU in it "
                      f"{gaps[-1][1]:.1f} ms); p99 {p99 - TICK_MS:.1f} ms; target < 50 ms")
            window.close()
        finally:
            jobs.shutdown()
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

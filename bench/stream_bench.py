"""When does the first verdict of a range check arrive, against the whole batch's wall time?

    .venv/bin/python bench/stream_bench.py [--fleet 200] [--base-address 127.0.60.1] [--runs 2]
                                           [--screenshot docs/range-check]

The fleet is `attest sim --scenario mixed` in its own process (its `slow` rigs answer each
request after about a second, its `unresponsive` ones never answer, its `garbage` ones answer
junk). Two checks of the covering range, as a technician would run them:

- the CLI: `attest verify RANGE --json`, a child process; each line's arrival is timed from
  the moment the child was started (interpreter start included), against the child's wall time;
- the GUI: the real main window (offscreen unless a display is set), the range added through
  discovery (Add host or range…), then Verify all; the first verdict is the first row a check
  result reaches, timed from pressing Verify, against the time to the check's end. The time the
  range's discovery took is printed apart.

Also counts what a range check must show: a row per rig, every `unresponsive` and `garbage` rig
UNKNOWN. ``--screenshot PREFIX`` saves the window after each GUI check as PREFIX-N.png: after the
first, a rig that does not identify selected; after later ones (the station log now holds the
first check), the last rig whose verdict a clone revised, at the end of the table. Run it under
xvfb-run with QT_QPA_PLATFORM=xcb for the real window's fonts. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BAD = ("unresponsive", "garbage")


def covering_range(hosts: list[str]) -> ipaddress.IPv4Network:
    first, last = ipaddress.ip_address(hosts[0]), ipaddress.ip_address(hosts[-1])
    for prefix in range(32, 0, -1):
        network = ipaddress.ip_network(f"{first}/{prefix}", strict=False)
        if last in network:
            return network  # type: ignore[return-value]
    raise ValueError("hosts span more than 127.0.0.0/8")


def start_sim(count: int, out: Path, base: str, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "attest.cli", "sim", "--fleet", str(count), "--scenario",
                             "mixed", "--out", str(out), "--base-address", base],
                            stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("ready "):
        proc.kill()
        raise SystemExit(f"sim failed to start: {line!r}")
    return proc


def cli_run(network: str, out: Path, ports: str, env: dict[str, str], scenario: dict[str, str]) -> dict[str, float]:
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "attest.cli", "verify", network, "--manifest",
                             str(out / "manifest.dsse.json"), "--trust", str(out / "trust"), "--policy",
                             str(out / "policy.toml"), "--ports", ports, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    arrivals: list[float] = []
    final: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        arrivals.append(time.monotonic() - began)
        doc = json.loads(line)
        final[doc["address"]] = doc["verdict"]  # a revision replaces the verdict it revises
    stderr = proc.stderr.read() if proc.stderr else ""
    proc.wait()
    wall = time.monotonic() - began
    bad_unknown = sum(1 for h, s in scenario.items() if s in BAD and final.get(h) == "UNKNOWN")
    summary = next((x for x in stderr.splitlines() if "addresses:" in x), "")
    return {"first": arrivals[0] if arrivals else float("nan"), "last": arrivals[-1] if arrivals else float("nan"),
            "wall": wall, "lines": len(arrivals), "rows": len(final), "bad_unknown": bad_unknown,
            "bad": sum(1 for s in scenario.values() if s in BAD), "summary": summary, "code": proc.returncode}


def gui_run(out: Path, network: str, ports: dict[str, int], scenario: dict[str, str],
            screenshot: str | None, *, first_run: bool) -> dict[str, object]:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from attest.address import PortProfile, parse_address
    from gui.dialogs.add_host import AddHostRequest
    from gui.jobs import JobRunner
    from gui.main_window import MainWindow
    from gui.models.rows import RowState
    from gui.settings import StationSettings
    from gui.station import Station
    from gui.theme import apply_theme

    def wait_for(signal: object, seconds: float) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)  # type: ignore[attr-defined]
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    app = QApplication.instance() or QApplication([])
    apply_theme(app, "light")
    jobs = JobRunner()
    station = Station(ports=PortProfile(**ports))
    station.open_trust(out / "trust")
    station.open_policy(out / "policy.toml")
    window = MainWindow(jobs, StationSettings(station_name="intake-bench-3", operator="A. Technician"), station)
    window.resize(1700, 1000)
    window.show()
    window.load_manifests([out / "manifest.dsse.json"])
    wait_for(window.manifestsChanged, 30)
    began = time.monotonic()
    window.intake.add_request(AddHostRequest(parse_address(network), PortProfile(**ports)))
    wait_for(window.intake.discoveryFinished, 120)
    discovery = time.monotonic() - began
    discovered = window.statusBar().currentMessage()
    first: list[float] = []

    def rows_changed(ids: list[str]) -> None:
        if not first and any((r := window.model.row(i)) is not None and r.state is RowState.DONE for i in ids):
            first.append(time.monotonic() - started)

    window.checks.rowsChanged.connect(rows_changed)
    started = time.monotonic()
    window.verify_all()
    wait_for(window.checkFinished, 600)
    wall = time.monotonic() - started
    rows = window.model.rows()
    bad_unknown = sum(1 for r in rows if scenario.get(r.host) in BAD and r.verdict is not None
                      and r.verdict.value == "UNKNOWN")
    result: dict[str, object] = {
        "discovery": discovery, "discovered": discovered, "first": first[0] if first else float("nan"), "wall": wall,
        "rows": len(rows), "bad_unknown": bad_unknown, "bad": sum(1 for s in scenario.values() if s in BAD),
        "status": window.statusBar().currentMessage(),
        "verdicts": Counter(r.verdict.value if r.verdict else "-" for r in rows)}
    if screenshot:
        wanted = [r.device_id for r in rows if r.top_code == "NOT_IDENTIFIED"][:1] if first_run else \
            [r.device_id for r in rows if r.revised_because][-1:]
        if wanted:
            window.table.select_device(wanted[0])
        loop = QEventLoop()
        QTimer.singleShot(600, loop.quit)
        loop.exec()
        window.grab().save(screenshot)
        result["screenshot"] = screenshot
    window.close()
    jobs.shutdown()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fleet", type=int, default=200)
    parser.add_argument("--base-address", default="127.0.60.1")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--screenshot", metavar="PREFIX", help="save the window after each GUI check as PREFIX-N.png")
    parser.add_argument("--skip-gui", action="store_true")
    args = parser.parse_args()
    from attest.station import init_station

    with tempfile.TemporaryDirectory(prefix="stream-bench-") as tmp:
        out = Path(tmp) / "sim"
        os.environ["ATTEST_HOME"] = str(Path(tmp) / "station")
        init_station(b"bench passphrase", "bench")  # every GUI check is logged, as in the field
        os.environ["ATTEST_PASSPHRASE"] = "bench passphrase"
        env = dict(os.environ)
        sim = start_sim(args.fleet, out, args.base_address, env)
        try:
            doc = json.loads((out / "fleet.json").read_text())
            scenario = {r["host"]: r["scenario"] for r in doc["rigs"]}
            hosts = [r["host"] for r in doc["rigs"]]
            network = str(covering_range(hosts))
            ports = ",".join(f"{k}={v}" for k, v in doc["ports"].items())
            counts = Counter(scenario.values())
            print(f"fleet: {len(hosts)} rigs (mixed: {counts['slow']} slow, {counts['unresponsive']} unresponsive, "
                  f"{counts['garbage']} garbage), range {network}; {os.cpu_count()} CPUs shared with other work")
            for run in range(1, args.runs + 1):
                r = cli_run(network, out, ports, env, scenario)
                print(f"CLI run {run}: attest verify {network} --json: first verdict line at {r['first']:.2f} s, "
                      f"last at {r['last']:.2f} s, wall {r['wall']:.2f} s: first = {r['first'] / r['wall']:.0%} "
                      f"of the wall time; {r['lines']:.0f} lines for {r['rows']:.0f} rows; "
                      f"{r['bad_unknown']:.0f} of {r['bad']:.0f} unresponsive/garbage rigs UNKNOWN "
                      f"(exit {r['code']:.0f})")
                print(f"    {r['summary']}")
            if args.skip_gui:
                return 0
            for run in range(1, args.runs + 1):
                shot = f"{args.screenshot}-{run}.png" if args.screenshot else None
                g = gui_run(out, network, doc["ports"], scenario, shot, first_run=run == 1)
                first, wall = float(g["first"]), float(g["wall"])  # type: ignore[arg-type]
                print(f"GUI run {run}: range added by discovery in {float(g['discovery']):.2f} s "
                      f"({g['discovered']}); Verify all: first verdict shown at {first:.2f} s, check ended at "
                      f"{wall:.2f} s: first = {first / wall:.0%} of the check's wall time; {g['rows']} rows; "
                      f"{g['bad_unknown']} of {g['bad']} unresponsive/garbage rigs UNKNOWN")
                print(f"    status bar: {g['status']}")
                print("    verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(g["verdicts"].items())))  # type: ignore[union-attr]
                if "screenshot" in g:
                    print(f"    screenshot: {g['screenshot']}")
        finally:
            sim.terminate()
            sim.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

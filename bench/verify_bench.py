"""Time `attest verify` on a simulated fleet: the sim in its own process, like real rigs.

    .venv/bin/python bench/verify_bench.py --fleet 200 [--scenario mixed|genuine] [--concurrency 64]

Prints the wall time, rigs per second and the verdict counts. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fleet", type=int, default=200)
    parser.add_argument("--scenario", default="mixed")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--base-address", default="127.0.5.1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="verify-bench-") as tmp:
        out = Path(tmp) / "sim"
        env = {**os.environ, "ATTEST_HOME": str(Path(tmp) / "station")}
        started = time.monotonic()
        sim = subprocess.Popen([sys.executable, "-m", "attest.cli", "sim", "--fleet", str(args.fleet),
                                "--scenario", args.scenario, "--out", str(out), "--base-address", args.base_address],
                               stdout=subprocess.PIPE, text=True, env=env)
        try:
            line = sim.stdout.readline() if sim.stdout else ""
            if not line.startswith("ready "):
                print(f"sim failed to start: {line!r}", file=sys.stderr)
                return 1
            print(f"sim of {args.fleet} rigs up in {time.monotonic() - started:.1f} s")
            fleet = json.loads((out / "fleet.json").read_text())
            ports = ",".join(f"{k}={v}" for k, v in fleet["ports"].items())
            hosts = [r["host"] for r in fleet["rigs"]]
            t0 = time.monotonic()
            result = subprocess.run([sys.executable, "-m", "attest.cli", "verify", *hosts,
                                     "--manifest", str(out / "manifest.dsse.json"), "--trust", str(out / "trust"),
                                     "--policy", str(out / "policy.toml"), "--ports", ports, "--json",
                                     "--concurrency", str(args.concurrency)],
                                    capture_output=True, text=True, env=env, check=False)
            wall = time.monotonic() - t0
            verdicts = Counter(json.loads(x)["verdict"] for x in result.stdout.splitlines())
            print(f"verify of {len(hosts)} rigs (API + web + SSH, concurrency {args.concurrency}): "
                  f"{wall:.1f} s wall, {len(hosts) / wall:.1f} rigs/s, exit {result.returncode}")
            print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items())))
        finally:
            sim.terminate()
            sim.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

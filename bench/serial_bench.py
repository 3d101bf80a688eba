"""One full serial-console check of a simulated rig at 115200 8N1: bytes each way and time.

    .venv/bin/python bench/serial_bench.py [--scenario genuine] [--slot 0] [--stay ""|bootloader|linux] [--runs 3]

The rig is powered on when the check starts (U-Boot banner, autoboot countdown caught, U-Boot
read, boot, login, the shell plan, the CGI reports, logout) and the check is ``attest.collect``
on ``serial://root@PTY``, exactly what `attest collect` runs. Bytes are counted on the rig's
side of the pty (attest.sim.console), i.e. what a line analyser on TX and RX would count.

A pty has no baud rate of its own: the simulated rig paces what it sends at 115200 8N1, but what
the station sends arrives at once. So besides the wall time this prints the *wire time* each way,
bytes x 10 bits / 115200 — what the same bytes take on a real UART — and the wall time is a floor
for a real rig only as far as its boot is as quick as the simulator's (about 3 s here; a real
control board takes 30-60 s to boot Linux, which is waiting, not bytes). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

from attest.address import PortProfile, parse_address
from attest.collect import collect
from attest.credentials import Credentials
from attest.drivers.base import CollectOptions
from attest.sim.console import BAUD, BITS_PER_BYTE, RigConsole
from attest.sim.scenarios import make_rig

TARGET_SECONDS = 15.0
TARGET_BYTES = 20 * 1024


async def one_check(scenario: str, slot: int, stay: str) -> dict[str, float]:
    rig = make_rig(slot, scenario, "127.0.0.1")
    console = await RigConsole(rig).start()
    try:
        query = f"?stay={stay}" if stay else ""
        target = parse_address(f"serial://root:root@{console.path}{query}")
        started = time.monotonic()
        evidence = await collect(target, ports=PortProfile(), credentials=Credentials(allow_vendor_defaults=False),
                                 options=CollectOptions())
        wall = time.monotonic() - started
    finally:
        console.close()
        await console.wait_closed()
    if evidence.problems:
        raise SystemExit(f"the check failed: {evidence.problems}")
    return {"wall": wall, "sent": console.bytes_in, "received": console.bytes_out, "claims": len(evidence.claims)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", default="genuine")
    parser.add_argument("--slot", type=int, default=0, help="demo-fleet slot: 0 Antminer S21, 1 S19 Pro, 2 Whatsminer")
    parser.add_argument("--stay", default="", choices=["", "bootloader", "linux"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="serial-bench-") as home:
        os.environ["ATTEST_HOME"] = home
        runs = [asyncio.run(one_check(args.scenario, args.slot, args.stay)) for _ in range(args.runs)]
    sent = int(statistics.median(r["sent"] for r in runs))
    received = int(statistics.median(r["received"] for r in runs))
    wall = statistics.median(r["wall"] for r in runs)
    wire_tx = sent * BITS_PER_BYTE / BAUD
    wire_rx = received * BITS_PER_BYTE / BAUD
    total = sent + received
    print(f"serial check of a simulated {make_rig(args.slot, args.scenario, '127.0.0.1').model} "
          f"({args.scenario}, stay={args.stay or 'both stages'}), median of {args.runs} runs, "
          f"{runs[0]['claims']:.0f} claims")
    print(f"  bytes sent (station -> rig)     {sent:>7,}   wire time at {BAUD} 8N1: {wire_tx:5.2f} s")
    print(f"  bytes received (rig -> station) {received:>7,}   wire time at {BAUD} 8N1: {wire_rx:5.2f} s")
    print(f"  on the wire in all              {total:>7,}   (target < {TARGET_BYTES:,}: "
          f"{'met' if total < TARGET_BYTES else 'MISSED'})")
    each = ", ".join(f"{r['wall']:.2f}" for r in runs)
    print(f"  wall time                       {wall:7.2f} s (target < {TARGET_SECONDS:g} s: "
          f"{'met' if wall < TARGET_SECONDS else 'MISSED'}); runs: {each}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

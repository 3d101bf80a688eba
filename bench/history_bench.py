"""How long one history lookup takes in a station log of a million records.

    .venv/bin/python bench/history_bench.py [--records 1000000] [--units 250000] [--log PATH]

Every check consults the station's signed log for the serial it read (attest.log.history): the
lookup must not grow with the log. This builds a real log (SQLite, WAL, the append path every
check uses, Merkle nodes included; records like a real verify's, about 2.5 kB) of ``--records``
records over ``--units`` units, each checked records/units times, spread through the log, plus one
unit checked 1,000 times (the worst case: its lookup stops at MAX_SIGHTINGS). ``--log PATH``
keeps the log there and reuses it on the next run (building a million records takes minutes).

Then it times lookups of random serials as a check makes them (``LogHistory.sightings`` through
the event loop and the history's own thread, records parsed into sightings) and prints p50 and p99.
Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attest.appraise import Appraisal
from attest.evidence import Assurance, Claim, Evidence
from attest.history import MAX_SIGHTINGS
from attest.log.append import append_prepared, record_from_appraisal, sign_current_checkpoint
from attest.log.history import LogHistory
from attest.log.sqlite import SqliteStore
from attest.station import init_station, load_signer
from attest.verdict import CATEGORIES, Status, Verdict, reason

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
BATCH = 10_000
HOT = "SN-HOT-0000001"


def serial(unit: int) -> str:
    return f"SN-{unit:09d}"


def record(n: int, units: int) -> dict[str, object]:
    unit = n % units
    host = f"10.{unit >> 16 & 255}.{unit >> 8 & 255}.{unit & 255}"
    r, m = Assurance.REPORTED, Assurance.MEASURED
    sn = HOT if n % 1000 == 999 else serial(unit)
    claims = [Claim("unit.serial", sn, f"web://{host}:80 get_system_info.cgi", r),
              Claim("unit.model", "Antminer S21", f"api://{host}:4028 stats", r),
              Claim("net.mac", f"02:00:00:{unit >> 16 & 255:02x}:{unit >> 8 & 255:02x}:{unit & 255:02x}",
                    f"ssh://{host}:22", m),
              Claim("control_board.serial", f"CB-{unit:08d}", f"ssh://{host}:22 fw_printenv", m),
              Claim("psu.serial", f"APW-{unit:08d}", f"web://{host}:80", r),
              Claim("firmware.version", "2026.09.1", f"api://{host}:4028 version", r)]
    claims += [Claim(f"hashboard.{s}.serial", f"HB-{unit:07d}-{s}", f"web://{host}:80", r) for s in range(3)]
    claims += [Claim(f"firmware.image.{name}.sha256", "sha256:" + "ab" * 32, f"ssh://{host}:22 /dev/mtd{i}", m)
               for i, name in enumerate(("boot", "rootfs"))]
    reasons = (reason("IDENTITY_MATCHES_MANIFEST", f"serial {sn}"),
               reason("HARDWARE_MATCHES_MANIFEST", "checked: control board, 3 hashboards"),
               reason("FIRMWARE_SIGNED_RELEASE", "Antminer S21 2026.09.1"),
               reason("MANIFEST_ACCEPTED", "Example Mining Hardware Ltd, sequence 42"))
    appraisal = Appraisal(host, Verdict.TRUSTED, reasons, dict.fromkeys(CATEGORIES, Status.AFFIRMING),
                          Evidence(host, tuple(claims)), None, None, "sha256:" + "0c" * 32)
    return record_from_appraisal(appraisal, station_id="bench-1", operator="bench", batch_id=f"b{n // BATCH}",
                                 now=T0 + timedelta(minutes=n))


def build(path: Path, records: int, units: int) -> None:
    init_station(b"bench", "bench-1")
    key = load_signer(b"bench")
    with SqliteStore(path) as store:
        have = store.count()
        started = time.perf_counter()
        for b in range(have, records, BATCH):
            append_prepared(store, key, [record(n, units) for n in range(b, min(records, b + BATCH))],
                            now=T0, sign=False)
            if b // BATCH % 10 == 0:
                print(f"  built {b + BATCH:,} records ({time.perf_counter() - started:.0f} s)", flush=True)
        if store.count() != have:
            sign_current_checkpoint(store, key)
        how = (f"built in {time.perf_counter() - started:.0f} s" if store.count() != have
               else f"reused from {path}")
        print(f"log of {store.count():,} records, {path.stat().st_size / 1e9:.2f} GB, {how}")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def lookups(history: LogHistory, serials: list[str]) -> list[tuple[float, int]]:
    out = []
    for sn in serials:
        started = time.perf_counter()
        found = await history.sightings(sn)
        out.append((time.perf_counter() - started, len(found)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=250_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--log", help="keep the log here and reuse it (default: a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="history-bench-") as tmp:
        os.environ["ATTEST_HOME"] = str(Path(tmp) / "home")
        path = Path(args.log) if args.log else Path(tmp) / "log.sqlite"
        build(path, args.records, args.units)
        history = LogHistory(path)
        rnd = random.Random(7)
        try:
            asyncio.run(lookups(history, [serial(rnd.randrange(args.units)) for _ in range(50)]))  # warm the cache
            timed = asyncio.run(lookups(history, [serial(rnd.randrange(args.units)) for _ in range(args.lookups)]))
            hot = asyncio.run(lookups(history, [HOT] * 50))
            missing = asyncio.run(lookups(history, [f"SN-NEVER-{i}" for i in range(200)]))
        finally:
            history.close()
    ms = [t * 1e3 for t, _ in timed]
    per_unit = statistics.median(n for _, n in timed)
    print(f"one lookup (LogHistory.sightings, as a check makes it), {args.lookups:,} random units, "
          f"{per_unit:.0f} records each: p50 {percentile(ms, 50):.2f} ms, p99 {percentile(ms, 99):.2f} ms, "
          f"max {max(ms):.2f} ms")
    hot_ms = [t * 1e3 for t, _ in hot]
    print(f"a unit checked 1,000 times (stops at {MAX_SIGHTINGS} sightings, got {hot[0][1]}): "
          f"p50 {percentile(hot_ms, 50):.2f} ms, p99 {percentile(hot_ms, 99):.2f} ms")
    none_ms = [t * 1e3 for t, _ in missing]
    print(f"a serial never seen: p50 {percentile(none_ms, 50):.2f} ms, p99 {percentile(none_ms, 99):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

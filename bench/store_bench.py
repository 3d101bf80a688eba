"""Time the warehouse store: stations pushing at once, and one appraisal's lookup in a full store.

    .venv/bin/python bench/store_bench.py [--stations 10] [--records 100000] [--lookups 2000]

Prints figures, not assertions. Targets (the issue's): 10 stations each pushing 100,000 records
concurrently (the ingest rate), and one appraisal's store lookup at 1,000,000 records with p99
under 20 ms. The server is a real PostgreSQL (a private cluster, tests/store/pg.py) with fsync
and synchronous_commit on; every push goes through the server's PL/Python ingest check
(signature, chain, root). Each station is its own process with its own signed SQLite log of
realistic records (about 2.5 kB: tests/log/synthetic.py). Every station checks the same
100,000 serials, so a lookup finds 10 records (one per station) and parses each: heavier than a
warehouse where most units pass one bench.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from attest.log.append import log_batch  # noqa: E402
from attest.log.sqlite import SqliteStore  # noqa: E402
from attest.station import init_station, load_signer  # noqa: E402
from attest.store.connection import parse_target, resolve_target, without_login  # noqa: E402
from attest.store.enroll import enroll_station  # noqa: E402
from attest.store.history import StoreHistory  # noqa: E402
from attest.store.push import push_pending  # noqa: E402
from attest.store.schema import init_store  # noqa: E402
from tests.log.synthetic import serial_of, synthetic_appraisal  # noqa: E402
from tests.store.pg import PrivateCluster  # noqa: E402

PASSPHRASE = b"bench"


def make_log(args: tuple[Path, str, int]) -> float:
    """One station's log of ``count`` records, in batches of 1,000 (a checkpoint each)."""
    home, station, count = args
    os.environ["ATTEST_HOME"] = str(home)
    init_station(PASSPHRASE, station)
    signer = load_signer(PASSPHRASE)
    started = time.perf_counter()
    with SqliteStore(home / "log.sqlite") as store:
        for first in range(0, count, 1000):
            log_batch(store, signer, [synthetic_appraisal(n) for n in range(first, min(count, first + 1000))],
                      operator="bench")
    return time.perf_counter() - started


def push(args: tuple[Path, str, multiprocessing.synchronize.Barrier]) -> tuple[str, float, int]:
    home, url, barrier = args
    os.environ["ATTEST_HOME"] = str(home)
    target = resolve_target(url)
    barrier.wait()
    started = time.perf_counter()
    result = push_pending(home / "log.sqlite", target)
    return result.station, time.perf_counter() - started, result.sent


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def lookups(url: str, home: Path, serials: list[str]) -> list[float]:
    os.environ["ATTEST_HOME"] = str(home)
    history = StoreHistory(resolve_target(url))
    await history.sightings(serials[0])  # connect first: a run keeps one connection
    times = []
    for serial in serials:
        started = time.perf_counter()
        found = await history.sightings(serial)
        times.append(time.perf_counter() - started)
        assert found, serial
    await history.aclose()
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stations", type=int, default=10)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=2000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="store-bench-"))
    cluster = PrivateCluster(fsync=True, settings={"max_wal_size": "'4GB'", "shared_buffers": "'512MB'",
                                                   "max_connections": "40"})
    cluster.start()
    try:
        superuser = cluster.create_database("warehouse")
        init_store(parse_target(superuser))
        url = without_login(parse_target(superuser)).url()
        homes = [(work / f"bench-{i:02d}", f"bench-{i:02d}") for i in range(args.stations)]
        started = time.perf_counter()
        with multiprocessing.Pool(2) as pool:
            pool.map(make_log, [(home, station, args.records) for home, station in homes])
        print(f"logs: {args.stations} stations x {args.records:,} signed records made in "
              f"{time.perf_counter() - started:.0f} s (two processes)")
        for home, _ in homes:
            os.environ["ATTEST_HOME"] = str(home)
            enroll_station(parse_target(superuser), load_signer(PASSPHRASE).identity)
        manager = multiprocessing.Manager()
        barrier = manager.Barrier(args.stations)
        started = time.perf_counter()
        with multiprocessing.Pool(args.stations) as pool:
            results = pool.map(push, [(home, url, barrier) for home, _ in homes])
        wall = time.perf_counter() - started
        total = sum(sent for _, _, sent in results)
        print(f"ingest: {args.stations} stations pushing concurrently, {total:,} records in {wall:.1f} s: "
              f"{total / wall:,.0f} records/s through the server's ingest check")
        print(f"  per station: {min(t for _, t, _ in results):.1f} to {max(t for _, t, _ in results):.1f} s "
              f"for {args.records:,} records")
        rnd = random.Random(7)
        serials = [serial_of(n) for n in rnd.sample(range(args.records), args.lookups * 2) if n % 11 != 5]
        times = asyncio.run(lookups(url, homes[0][0], serials[: args.lookups]))
        ms = [t * 1000 for t in times]
        print(f"lookup: one appraisal's store lookup at {total:,} records ({args.stations} sightings each, "
              f"{len(ms)} serials): p50 {statistics.median(ms):.2f} ms, p99 {percentile(ms, 99):.2f} ms, "
              f"max {max(ms):.2f} ms")
        return 0
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Time the signed verification log: appends, offline verification, receipts.

    .venv/bin/python bench/log_bench.py [--append 10000] [--batch 100] [--bundle 100000]

Prints figures, not assertions. Targets (the issue's): 10,000 records appended in under 2 s with
batched commits; a 100,000-record bundle verified in under 3 s; one receipt made and checked in
it in under 10 ms. Also the consistency pass the station makes before it signs a checkpoint in a
new process (every record re-hashed and chained to the last checkpoint). The log is a real
SQLite file (WAL, synchronous=FULL) in a temporary directory, so fsync cost is included;
records are realistic (about 3.4 kB, 14 claims, 5 reasons).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from attest.appraise import Appraisal
from attest.evidence import Assurance, Claim, Evidence
from attest.log.append import append_records, log_batch, record_from_appraisal
from attest.log.export import export_bundle
from attest.log.rebuild import verify_log
from attest.log.receipt import check_receipt, make_receipt
from attest.log.sqlite import SqliteStore
from attest.log.verify import verify_bundle
from attest.station import init_station, load_signer
from attest.verdict import CATEGORIES, Status, Verdict, reason

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def appraisal(n: int) -> Appraisal:
    host = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    r, m = Assurance.REPORTED, Assurance.MEASURED
    claims = [Claim("unit.serial", f"SN-{n:08d}", f"web://{host}:80 get_system_info.cgi", r),
              Claim("unit.model", "Antminer S21", f"api://{host}:4028 stats", r),
              Claim("net.mac", f"02:00:00:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}", f"ssh://{host}:22", m),
              Claim("control_board.serial", f"CB-{n:08d}", f"ssh://{host}:22 fw_printenv", m),
              Claim("firmware.version", "2026.09.1", f"api://{host}:4028 version", r),
              Claim("config.pool.0.url", "stratum+tcp://pool.example.com:3333", f"api://{host}:4028 pools", r)]
    claims += [Claim(f"hashboard.{s}.serial", f"HB-{n:07d}-{s}", f"web://{host}:80", r) for s in range(3)]
    claims += [Claim(f"firmware.image.{name}.sha256", "sha256:" + hashlib.sha256(name.encode()).hexdigest(),
                     f"ssh://{host}:22 sha256sum /dev/mtd{i}", m) for i, name in enumerate(("boot", "rootfs"))]
    reasons = (reason("IDENTITY_MATCHES_MANIFEST", f"serial SN-{n:08d}"),
               reason("HARDWARE_MATCHES_MANIFEST", "checked: control board, 3 hashboards"),
               reason("FIRMWARE_SIGNED_RELEASE", "Antminer S21 2026.09.1"),
               reason("CONFIGURATION_ALLOWED", "1 pool(s)"),
               reason("MANIFEST_ACCEPTED", "Example Mining Hardware Ltd, sequence 42"))
    return Appraisal(host, Verdict.TRUSTED, reasons, {c: Status.AFFIRMING for c in CATEGORIES},
                     Evidence(host, tuple(claims)), None, None, "sha256:" + "0c" * 32)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--append", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--bundle", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="log-bench-") as tmp:
        here = Path(tmp)
        os.environ["ATTEST_HOME"] = str(here / "home")
        init_station(b"bench", "bench-1")
        key = load_signer(b"bench")
        appraisals = [appraisal(n) for n in range(args.append)]

        with SqliteStore(here / "e2e.sqlite") as store:
            started = time.perf_counter()
            for b in range(0, args.append, args.batch):
                log_batch(store, key, appraisals[b:b + args.batch], operator="bench", batch_id=f"b{b}", now=NOW)
            e2e = time.perf_counter() - started
        records = [record_from_appraisal(a, station_id="bench-1", operator="bench", batch_id="b", now=NOW)
                   for a in appraisals]
        with SqliteStore(here / "append.sqlite") as store:
            started = time.perf_counter()
            for b in range(0, args.append, args.batch):
                append_records(store, key, records[b:b + args.batch], now=NOW)
            appended = time.perf_counter() - started
        batches = -(-args.append // args.batch)
        print(f"append {args.append:,} records in {batches} batches of {args.batch} "
              "(one transaction and one signed checkpoint per batch):")
        print(f"  prepared records -> log (append_records)       {appended:6.2f} s  "
              f"{args.append / appended:7,.0f} records/s")
        print(f"  verdicts -> log (log_batch, incl. to_json)     {e2e:6.2f} s  {args.append / e2e:7,.0f} records/s")

        bundle = here / "big.attestlog.jsonl"
        with SqliteStore(here / "big.sqlite") as store:
            for b in range(0, args.bundle, 1000):
                chunk = [records[(b + i) % len(records)] | {"batch": f"big-{b}"}
                         for i in range(min(1000, args.bundle - b))]
                append_records(store, key, chunk, now=NOW)
            started = time.perf_counter()
            export_bundle(store, key, bundle, now=NOW)
            exported = time.perf_counter() - started
            size_mb = bundle.stat().st_size / 1e6
            times = []
            for _ in range(3):
                started = time.perf_counter()
                report = verify_bundle(bundle, pinned=key.identity.fingerprint)
                times.append(time.perf_counter() - started)
            assert report.ok and report.tree_size == args.bundle, report.findings
            with SqliteStore(here / "big.sqlite") as fresh:  # a new process's first batch or export
                started = time.perf_counter()
                verify_log(fresh, key.identity)
                full_pass = time.perf_counter() - started
            print(f"rebuild before signing (attest.log.rebuild), {args.bundle:,} records:")
            print(f"  full pass, as a new process's first batch/export  {full_pass:6.2f} s")
            print(f"bundle of {args.bundle:,} records ({size_mb:,.0f} MB), exported in {exported:.2f} s "
                  "(same process as the appends: its pass is remembered):")
            print(f"  verify (verify_bundle, key pinned)             {min(times):6.2f} s  (best of 3, median "
                  f"{statistics.median(times):.2f} s)")

            receipts = []
            for index in range(0, args.bundle, max(1, args.bundle // 200)):
                started = time.perf_counter()
                made = make_receipt(store, index)
                middle = time.perf_counter()
                checked = check_receipt(made, "bench", pinned=key.identity.fingerprint)
                receipts.append((middle - started, time.perf_counter() - middle))
                assert checked.ok, checked.findings
        make_ms = statistics.median(t[0] for t in receipts) * 1e3
        check_ms = statistics.median(t[1] for t in receipts) * 1e3
        worst_ms = max(a + b for a, b in receipts) * 1e3
        print(f"receipt in the {args.bundle:,}-record log ({len(receipts)} records spread over it):")
        print(f"  make (from SQLite) + check                     {make_ms + check_ms:6.2f} ms median "
              f"(make {make_ms:.2f} ms, check {check_ms:.2f} ms; worst {worst_ms:.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

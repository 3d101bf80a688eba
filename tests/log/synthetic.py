"""Deterministic, realistic appraisals and a station for log tests (no devices needed)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from attest.appraise import Appraisal
from attest.evidence import Assurance, Claim, Evidence, Problem
from attest.manifest import Manifest
from attest.station import StationSigner, init_station, load_signer
from attest.verdict import CATEGORIES, Status, Verdict, reason

PASSPHRASE = "correct horse battery staple"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)

MANIFEST = Manifest("Example Mining Hardware Ltd", 42, T0 - timedelta(days=30), T0 + timedelta(days=335),
                    (), (), (), "sha256:" + "5a" * 32)


def make_signer(directory: Path, station_id: str = "bench-1") -> StationSigner:
    init_station(PASSPHRASE.encode(), station_id, directory=directory)
    return load_signer(PASSPHRASE.encode(), directory)


def serial_of(n: int) -> str:
    return f"SN-S21-{n:07d}"


def synthetic_appraisal(n: int) -> Appraisal:
    """Rig number ``n``: every 7th untrusted (swapped hashboard), every 11th unreachable."""
    host = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
    r, m = Assurance.REPORTED, Assurance.MEASURED
    if n % 11 == 5:
        ev = Evidence(host, (), (Problem("TIMEOUT", f"api://{host}:4028", "no answer in 5 s"),))
        reasons = (reason("TIMEOUT", f"api://{host}:4028: no answer in 5 s"),)
        return Appraisal(host, Verdict.UNKNOWN, reasons, {c: Status.NONE for c in CATEGORIES}, ev, None, None,
                         "sha256:" + "0c" * 32)
    claims = [Claim("unit.serial", serial_of(n), f"web://{host}:80 get_system_info.cgi", r),
              Claim("unit.model", "Antminer S21", f"api://{host}:4028 stats", r),
              Claim("net.mac", f"02:00:00:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}", f"ssh://{host}:22", m),
              Claim("control_board.serial", f"CB-{n:08d}", f"ssh://{host}:22 fw_printenv", m),
              Claim("firmware.version", "2026.09.1", f"api://{host}:4028 version", r)]
    claims += [Claim(f"hashboard.{slot}.serial", f"HB-{n:07d}-{slot}", f"web://{host}:80", r) for slot in range(3)]
    claims += [Claim(f"firmware.image.{name}.sha256", "sha256:" + hashlib.sha256(name.encode()).hexdigest(),
                     f"ssh://{host}:22 sha256sum /dev/mtd{i}", m) for i, name in enumerate(("boot", "rootfs"))]
    claims.append(Claim("config.pool.0.url", "stratum+tcp://pool.example.com:3333", f"api://{host}:4028 pools", r))
    ev = Evidence(host, tuple(claims))
    ok = [reason("IDENTITY_MATCHES_MANIFEST", f"serial {serial_of(n)}"),
          reason("FIRMWARE_SIGNED_RELEASE", "Antminer S21 2026.09.1"),
          reason("CONFIGURATION_ALLOWED", "1 pool(s)"),
          reason("MANIFEST_ACCEPTED", "Example Mining Hardware Ltd, sequence 42")]
    if n % 7 == 3:
        reasons = (*ok, reason("HASHBOARD_SERIAL_MISMATCH", "slot 1", expected=f"HB-{n:07d}-1", found="HB-X"))
        verdict = Verdict.UNTRUSTED
    else:
        reasons = (*ok, reason("HARDWARE_MATCHES_MANIFEST", "checked: control board, 3 hashboards"))
        verdict = Verdict.TRUSTED
    categories = {c: Status.AFFIRMING for c in CATEGORIES}
    if verdict is Verdict.UNTRUSTED:
        categories["hardware"] = Status.CONTRAINDICATED
    return Appraisal(host, verdict, reasons, categories, ev, MANIFEST, None, "sha256:" + "0c" * 32)

"""A plain-data snapshot of the table for the exports, taken on the GUI thread.

Exports run as background jobs; they must never read live rows while a check keeps changing
them, so they get this frozen copy instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from attest import __version__
from attest.evidence import printable
from attest.manifest import Manifest
from gui.models.rows import DeviceRow


@dataclass(frozen=True)
class ReasonLine:
    code: str
    status: str
    message: str
    detail: str
    expected: str | None
    found: str | None
    remediation: str


@dataclass(frozen=True)
class RigLine:
    device_id: str
    status: str
    serial: str
    model: str
    host: str
    firmware: str
    verdict: str
    top_reason: str
    checked_at: str
    reasons: tuple[ReasonLine, ...]


@dataclass(frozen=True)
class ReportSnapshot:
    station: str
    operator: str
    created: datetime
    tool_version: str
    manifests: tuple[tuple[str, int, str], ...]  # issuer, sequence, digest
    rigs: tuple[RigLine, ...]
    #: The signed log the verdicts are in, so a reader can check the report against it:
    #: (station id, key fingerprint), and the checkpoint (tree size, root hex, time) if any.
    station_key: tuple[str, str] | None = None
    checkpoint: tuple[int, str, str] | None = None


def rig_line(row: DeviceRow) -> RigLine:
    reasons = tuple(
        ReasonLine(r.code, r.status.value, r.message, printable(r.detail), _opt(r.expected), _opt(r.found),
                   r.remediation)
        for r in (row.appraisal.reasons if row.appraisal else ()))
    return RigLine(row.device_id, row.status_text, row.serial, row.model, row.host, row.firmware,
                   row.verdict_text, row.top_reason or row.note,
                   row.checked_at.isoformat(timespec="seconds") if row.checked_at else "", reasons)


def snapshot(rows: Sequence[DeviceRow], *, station: str, operator: str,
             manifests: Sequence[Manifest], station_key: tuple[str, str] | None = None,
             checkpoint: tuple[int, str, str] | None = None) -> ReportSnapshot:
    return ReportSnapshot(station, operator, datetime.now().astimezone(), __version__,
                          tuple((m.issuer, m.sequence, m.digest) for m in manifests),
                          tuple(rig_line(r) for r in rows), station_key, checkpoint)


def _opt(value: str | None) -> str | None:
    return None if value is None else printable(value)

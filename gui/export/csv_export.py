"""CSV of the table, for spreadsheets and intake systems.

Cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@`` first) are prefixed
with a quote: a rig's serial is device-supplied text and must never become a formula.
"""

from __future__ import annotations

import csv
from pathlib import Path

from gui.export.snapshot import ReportSnapshot

HEADER = ("address", "status", "unit_serial", "model", "host", "firmware", "verdict", "top_reason",
          "checked_at", "reason_codes")


def safe_cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def write_csv(snap: ReportSnapshot, path: Path) -> int:
    """Write one line per rig; returns how many. Runs on the job thread."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for rig in snap.rigs:
            codes = " ".join(r.code for r in rig.reasons)
            writer.writerow([safe_cell(v) for v in (rig.device_id, rig.status, rig.serial, rig.model, rig.host,
                                                     rig.firmware, rig.verdict, rig.top_reason, rig.checked_at,
                                                     codes)])
    return len(snap.rigs)

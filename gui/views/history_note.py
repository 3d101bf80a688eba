"""One line for the detail pane saying what the station's records hold about the rig's serial.

Appraisal says it in its reasons (IDENTITY_SEEN_BEFORE: the same identity again;
IDENTITY_CHANGED_SINCE: parts swapped since an earlier check); the technician wants it at a
glance: "History: checked 3 times, first 2026-11-25". The reasons' details are our own text
(``attest.appraise``), read here without guessing at anything a device could have written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from attest.verdict import Reason

_SEEN = re.compile(r"checked (once|(\d+) times) before at (.+?), first (\d{4}-\d{2}-\d{2})")
_CHANGED = re.compile(r"since the check of (.+?) at station (.+?) \(record (.+?)\)")


def history_line(reasons: Sequence[Reason]) -> str:
    """"History: ..." from the appraisal's history reasons, or "" when it has none."""
    for r in reasons:
        if r.code == "IDENTITY_CHANGED_SINCE" and (m := _CHANGED.search(r.detail)):
            return (f"History: its identity changed since the check of {m[1]} at station {m[2]} "
                    f"(record {m[3]}); see the reason below.")
    for r in reasons:
        if r.code == "IDENTITY_SEEN_BEFORE" and (m := _SEEN.search(r.detail)):
            before = 1 if m[1] == "once" else int(m[2])
            return f"History: checked {before + 1} times, first {m[4]} (this check included; at {m[3]})."
    return ""

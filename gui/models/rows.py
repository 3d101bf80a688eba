"""One device row: plain data the table model, the detail pane and the exports all read.

Display strings are computed once when a row changes, not in ``data()``: painting a screen of a
10,000-row table calls ``data()`` thousands of times, and each call is a trip into Python.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from attest.address import EndpointTarget, HostTarget, PortProfile
from attest.appraise import Appraisal
from attest.drivers.base import Credential
from attest.evidence import Evidence, printable
from attest.fleet import Discovered
from attest.image.attach import DumpReading
from attest.verdict import Reason, Verdict
from gui.models.reason_words import short_words

CELL_LIMIT = 200  # a table cell never holds more than this many characters of device text


class RowState(enum.Enum):
    NEW = "not checked"
    PENDING = "scanned, no address yet"
    QUEUED = "queued"
    CHECKING = "checking"
    COLLECTED = "collected, being appraised"
    DONE = "checked"
    CANCELLED = "check cancelled"
    FAILED = "check failed"

    @property
    def busy(self) -> bool:
        return self in (RowState.QUEUED, RowState.CHECKING, RowState.COLLECTED)

    @property
    def short(self) -> str:
        """The word the narrow status column shows; the tooltip and detail pane say the rest."""
        return _SHORT[self]


_SHORT = {RowState.NEW: "New", RowState.PENDING: "Scanned", RowState.QUEUED: "Queued",
          RowState.CHECKING: "Checking", RowState.COLLECTED: "Read", RowState.DONE: "Checked",
          RowState.CANCELLED: "Cancelled", RowState.FAILED: "Failed"}


class RowKind(enum.Enum):
    HOST = "host"  # every endpoint the port profile finds
    ENDPOINT = "endpoint"  # one explicit endpoint URL
    SERIAL = "serial"  # a console on a serial port
    PENDING = "pending"  # a scanned serial number that no address reaches yet


def cell_text(value: object) -> str:
    """Device text made safe for one table cell: printable, one line, bounded."""
    if value is None:
        return ""
    text = printable(str(value), limit=CELL_LIMIT * 4).replace("\n", " ").replace("\t", " ")
    return text if len(text) <= CELL_LIMIT else text[: CELL_LIMIT - 1] + "…"


@dataclass
class DeviceRow:
    device_id: str  # the address verify_many reports (a host, an endpoint URL, serial://...)
    kind: RowKind
    host: str = ""
    target: HostTarget | EndpointTarget | None = field(default=None, repr=False)  # None: serial, pending
    ports: PortProfile | None = None  # None: the station's default profile
    credential: Credential | None = field(default=None, repr=False)
    credential_kind: str = "any"
    serial: str = ""
    model: str = ""
    firmware: str = ""
    state: RowState = RowState.NEW
    verdict: Verdict | None = None
    top_reason: str = ""
    checked_at: datetime | None = None
    note: str = ""  # why the row is as it is, when no appraisal says so
    appraisal: Appraisal | None = None
    evidence: Evidence | None = None
    label: str = ""  # extra context for the host tooltip (e.g. the demo's scenario name)
    dump: DumpReading | None = field(default=None, repr=False)  # a flash dump attached to this rig
    top_code: str = ""  # the top reason's code (the table shows it in words)
    # What a range scan saw on a host that opened a miner port but did not identify (else None).
    discovered: Discovered | None = field(default=None, repr=False)
    revised_because: str = ""  # the rig read later whose identity revised this verdict
    previous_verdict: Verdict | None = None  # the verdict the revision replaced

    @property
    def checked_text(self) -> str:
        return self.checked_at.astimezone().strftime("%H:%M:%S") if self.checked_at else ""

    @property
    def verdict_text(self) -> str:
        return self.verdict.value if self.verdict else ""

    @property
    def status_text(self) -> str:
        return "Revised" if self.state is RowState.DONE and self.revised_because else self.state.short

    def apply_evidence(self, evidence: Evidence) -> None:
        """Fill identity columns as soon as a rig is read, before the batch is appraised."""
        self.evidence = evidence
        self.state = RowState.COLLECTED
        self._identity_from(evidence)

    def apply_appraisal(self, appraisal: Appraisal, when: datetime, *, revised_because: str = "") -> None:
        """The rig's verdict; ``revised_because`` names the rig read later that revised it."""
        if revised_because:
            self.previous_verdict = self.verdict
        elif self.state is not RowState.DONE:
            self.previous_verdict = None
        self.revised_because = cell_text(revised_because)
        self.appraisal = appraisal
        self.evidence = appraisal.evidence
        self._identity_from(appraisal.evidence)
        if not self.model and appraisal.entry is not None:
            self.model = cell_text(appraisal.entry.model)
        self.verdict = appraisal.verdict
        top = appraisal.top_reason
        self.top_reason = cell_text(reason_words(top)) if top else ""
        self.top_code = top.code if top else ""
        self.checked_at = when
        self.state = RowState.DONE
        self.note = ""

    def start_check(self) -> None:
        """Queued for a new check: the last verdict stays visible until the new one replaces it."""
        self.state = RowState.QUEUED
        self.note = ""
        self.revised_because = ""

    def _identity_from(self, evidence: Evidence) -> None:
        for attr, name in (("serial", "unit.serial"), ("model", "unit.model"), ("firmware", "firmware.version")):
            value = evidence.value(name)
            if value is not None:
                setattr(self, attr, cell_text(value))

    def search_text(self) -> str:
        """What the filter box matches against, lower-cased once per change."""
        return " ".join((self.device_id, self.serial, self.model, self.host, self.firmware, self.verdict_text,
                         self.top_reason, self.top_code, self.state.value, self.label)).lower()


def reason_words(reason: Reason) -> str:
    """A reason as a technician reads it in a table cell: a label, then its specifics
    ("Hashboard swapped: slot 1"); the code is in the cell's tooltip."""
    words = short_words(reason.code)
    return f"{words}: {printable(reason.detail, limit=CELL_LIMIT)}" if reason.detail else words

"""What `attest verify` does with a run's events: a line per verdict as it comes, and a log record.

Verdicts stream (``attest.fleet``), so the command line shows each as soon as it is judged: a
table row, or one JSON line an intake script reads as it arrives. A verdict revised by a later
rig (a clone) prints again: in text marked as a revision, in JSON with an added ``revises``
(what it replaces), so a reader that keeps the last line per address holds the final verdicts.
With ``--log`` each verdict is also recorded as it is judged (``attest.log.stream``), and the
station log is consulted as history for every serial read.

This module keeps cli.py about arguments: the run's output and its log live here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from attest.appraise import Appraisal
from attest.evidence import printable
from attest.fleet import BatchDone, DeviceAppraised, DeviceCollected, DeviceRevised, DeviceStarted, DiscoveryDone
from attest.log.append import new_batch_id
from attest.log.history import LogHistory
from attest.log.store import Store, open_store
from attest.log.stream import RecordStream, StreamSummary
from attest.station import StationSigner

#: The verdict table's columns (name, width; 0: the rest of the line).
COLUMNS = (("ADDRESS", 16), ("VERDICT", 9), ("SERIAL", 18), ("MODEL", 17))
REASON_WIDTH = 90


def cell(text: object, width: int) -> str:
    s = printable(str(text)).replace("\n", " ")
    return s if len(s) <= width else s[: width - 1] + "…"


def table_header(*extra: tuple[str, int]) -> str:
    cols = [*COLUMNS, *extra, ("REASON", 0)]
    return "  ".join(f"{name:<{w}}" if w else name for name, w in cols)


def table_row(a: Appraisal, *extra: tuple[str, int], note: str = "") -> str:
    """One verdict as a table row; ``extra`` cells (value, width) go before the reason."""
    top = a.top_reason
    specifics = (top.detail or top.found or "") if top else ""
    why = (top.code + (f" ({specifics})" if specifics else "")) if top else ""
    row = [a.address, a.verdict.value, a.evidence.value("unit.serial") or "-", a.evidence.value("unit.model") or "-"]
    cells = [f"{cell(v, w):<{w}}" for v, (_, w) in zip(row, COLUMNS, strict=True)]
    cells += [f"{cell(v, w):<{w}}" for v, w in extra]
    return "  ".join([*cells, cell(note + why, REASON_WIDTH)])


def revised_json(new: Appraisal, old: Appraisal, because: str) -> dict[str, Any]:
    """The verify line of a revised verdict: the CLI contract's line plus what it replaces."""
    top = old.top_reason
    return {**new.to_json(), "revises": {"verdict": old.verdict.value, "top_reason": None if top is None else top.code,
                                         "because": because}}


@dataclass
class VerifyOutcome:
    """Everything a run produced, kept as it goes (an interrupted run still has what it judged)."""

    appraisals: list[Appraisal] = field(default_factory=list)  # the final verdicts, in the order asked
    latest: dict[str, Appraisal] = field(default_factory=dict)  # address -> newest verdict so far
    revisions: int = 0
    discovery: DiscoveryDone | None = None
    log: StreamSummary | None = None
    finished: bool = False
    started: int = 0  # devices whose check began (an interrupted run says how many were cut off)
    collected: int = 0


class VerdictLines:
    """Prints each verdict as it is judged (a table row, or a JSON line) and keeps the outcome."""

    def __init__(self, out: TextIO, *, as_json: bool, outcome: VerifyOutcome,
                 before_write: Callable[[], None] = lambda: None, quiet: bool = False) -> None:
        self.out, self.as_json, self.outcome = out, as_json, outcome
        self.before_write, self.quiet = before_write, quiet
        self._header_written = False

    def on_event(self, event: object) -> None:
        if isinstance(event, DeviceStarted):
            self.outcome.started += 1
        elif isinstance(event, DeviceCollected):
            self.outcome.collected += 1
        elif isinstance(event, DeviceAppraised):
            self.outcome.latest[event.appraisal.address] = event.appraisal
            self._write(event.appraisal.to_json() if self.as_json else table_row(event.appraisal))
        elif isinstance(event, DeviceRevised):
            new = event.appraisal
            self.outcome.latest[new.address] = new
            self.outcome.revisions += 1
            self._write(revised_json(new, event.supersedes, event.because) if self.as_json else
                        table_row(new, note=f"REVISED ({printable(event.because)} shares its serial or MAC): "))
        elif isinstance(event, DiscoveryDone):
            self.outcome.discovery = event
        elif isinstance(event, BatchDone):
            self.outcome.appraisals = list(event.appraisals)
            self.outcome.finished = True

    def _write(self, line: dict[str, Any] | str) -> None:
        if self.quiet:
            return
        self.before_write()
        if isinstance(line, dict):
            self.out.write(json.dumps(line, ensure_ascii=False) + "\n")
        else:
            if not self._header_written:
                self.out.write(table_header() + "\n")
                self._header_written = True
            self.out.write(line + "\n")
        self.out.flush()


class RunLog:
    """A run's records in the station's signed log, and the log consulted as history.

    Opened before the run, closed after it however it ended (``close`` commits what waits and
    signs the checkpoint), so an interrupted run keeps what it judged.
    """

    def __init__(self, path: str | None, signer: StationSigner, operator: str) -> None:
        self.path, self.signer, self.operator = path, signer, operator
        self.batch_id = new_batch_id(datetime.now(UTC))
        self.store: Store = open_store(path)
        self.history = LogHistory(self.store.location)
        self.stream: RecordStream | None = None

    def start(self) -> None:
        """Call inside the run's event loop: commits are then timed by it."""
        loop = asyncio.get_running_loop()
        self.stream = RecordStream(self.store, self.signer, operator=self.operator, batch_id=self.batch_id,
                                   schedule=loop.call_later)

    def on_event(self, event: object) -> None:
        if self.stream is None:
            return
        if isinstance(event, DeviceAppraised):
            self.stream.appraised(event.appraisal)
        elif isinstance(event, DeviceRevised):
            self.stream.revised(event.appraisal)

    def close(self) -> StreamSummary | None:
        try:
            return None if self.stream is None else self.stream.close()
        finally:
            self.history.close()
            self.store.close()


def log_message(log: StreamSummary, where: str, *, interrupted: bool) -> tuple[str, bool]:
    """The line on stderr saying what became of the verdicts in the log, and whether all is well."""
    kind = "a revision" if log.revisions == 1 else "revisions"
    revised = f" ({log.revisions} of them {kind})" if log.revisions else ""
    signed = ""
    if log.checkpoint is not None:
        signed = (f"; signed checkpoint: tree size {log.checkpoint.tree_size}, "
                  f"root {log.checkpoint.root_hash.hex()[:16]}…")
    if log.error is not None:
        if not log.recorded:
            return f"attest: verdicts NOT recorded: {log.error.code}: {log.error.message}", False
        total = log.recorded + log.not_recorded
        return (f"attest: only {log.recorded} of {total} verdicts recorded in {where}{signed}; "
                f"the rest NOT recorded: {log.error.code}: {log.error.message}"), False
    if interrupted:
        return (f"attest: interrupted; the {log.recorded} verdicts given before it are recorded in "
                f"{where}{revised}{signed}"), True
    return f"attest: recorded {log.recorded} verdicts in {where}{revised}{signed}", True

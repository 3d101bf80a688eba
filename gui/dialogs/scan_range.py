"""Scan range…: probe one or more ranges in the background; every host that answers becomes a row
of the table the moment it answers, while the rest of the range is still being probed. A host
that opens a miner port but does not identify as a miner is a row too (its check says
NOT_IDENTIFIED); only addresses where nothing answers are left out, and counted.

The dialog stays open during the scan to show how far it has got (addresses probed, rigs found)
and to stop it; closing it stops the scan too, and the rows already added stay. Probing goes
through ``attest.fleet`` on the job thread (``gui.jobs``), never a transport from here. Found
hosts are held and added as one ``add_rows`` insert at most every FLUSH_MS (STYLE.md: updates from
a big scan arrive in bursts), so a scan into a 10,000-row table costs the GUI thread a few
inserts and repaints a second, not one per host or per chunk. A row needs only "a rig is here", so
the probe asks the API first and web and SSH only where it is silent (``thorough=False``): a
third of `attest scan`'s connections on a live range, and less work for the process the table
shares.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from attest.address import AddressError, HostTarget, PortProfile, RangeTarget, parse_address
from attest.drivers.base import CollectOptions
from attest.fleet import (
    DISCOVERY_TIMEOUT,
    Discovered,
    DiscoveryDone,
    DiscoveryEvent,
    DiscoveryProgress,
    discover_events,
    range_addresses,
    range_size,
)
from gui.dialogs.add_host import AddHostRequest, add_port_row
from gui.intake import Intake, discovered_label
from gui.jobs import Job
from gui.views.reasons import plain_label

ScanTarget = RangeTarget | HostTarget

log = logging.getLogger(__name__)

#: Found hosts are held and added together at most this often. Every insert repaints the visible
#: part of the table (tens of ms with 10,000 rows); a range's first second can find hundreds of
#: hosts in dozens of chunks, so one insert per chunk would keep the GUI thread painting.
FLUSH_MS = 150


def parse_scan_text(text: str) -> list[ScanTarget]:
    """Ranges and hosts separated by spaces or commas (``10.0.4.0/24 10.0.5.7``), as `attest scan`
    takes them. An endpoint URL names one service, not something to discover: it is refused with
    the dialog that takes it."""
    targets: list[ScanTarget] = []
    for part in text.replace(",", " ").split():
        target = parse_address(part)
        if not isinstance(target, RangeTarget | HostTarget):
            raise AddressError(f"{part} is one endpoint, not a range to scan: add it with Add host or range…")
        targets.append(target)
    return targets


def services_label(found: Discovered) -> str:
    return discovered_label(found)


class ScanRangeDialog(QDialog):
    """Enter ranges, press Scan, watch rows arrive; Stop or Close ends the probing."""

    scanFinished = Signal(str)  # the summary line, also shown in the dialog

    def __init__(self, intake: Intake, ports: PortProfile, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.intake = intake
        self.job: Job | None = None
        self.setWindowTitle("Scan range")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.ranges = QLineEdit()
        self.ranges.setPlaceholderText("10.0.4.0/22   ·   10.0.4.0/24 10.0.6.0/24   ·   10.0.4.17")
        self.ranges.textChanged.connect(self._validate)
        self.ranges.returnPressed.connect(self.start)
        form.addRow("&Ranges:", self.ranges)
        self.api, self.web, self.ssh = add_port_row(form, ports)
        layout.addLayout(form)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        layout.addWidget(self.progress)
        self.status = plain_label("")
        layout.addWidget(self.status)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.scan = QPushButton("&Scan")
        self.scan.setDefault(True)
        self.stop_button = QPushButton("S&top")
        self.stop_button.setEnabled(False)
        buttons.addButton(self.scan, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(self.stop_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.scan.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.found = 0
        self._error = ""
        self._done: DiscoveryDone | None = None
        self._request: AddHostRequest | None = None
        self._held: list[Discovered] = []
        self._probed = (0, 0)  # addresses, probed: the latest progress, shown at each flush
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._validate()

    @property
    def running(self) -> bool:
        return self.job is not None

    def _targets(self) -> list[ScanTarget] | None:
        try:
            targets = parse_scan_text(self.ranges.text())
        except AddressError as e:
            self.status.setText(e.message)
            return None
        return targets or None

    def _validate(self) -> None:
        if self.running:
            return
        targets = self._targets()
        if targets is not None:
            total = sum(_size(t) for t in targets)
            self.status.setText(f"{total} address(es) to probe: every host that answers is added as it answers.")
        elif not self.ranges.text().strip():
            self.status.setText("")
        self.scan.setEnabled(targets is not None)

    def ports(self) -> PortProfile:
        return PortProfile(api=self.api.value(), web=self.web.value(), ssh=self.ssh.value())

    def start(self) -> bool:
        """Start probing; False when a scan already runs or the text is not a range."""
        targets = self._targets()
        if self.running or targets is None:
            return False
        ports = self.ports()
        request = AddHostRequest(targets[0], ports)
        total = sum(_size(t) for t in targets)
        networks = [t.network if isinstance(t, RangeTarget) else t.host for t in targets]  # plain data

        def addresses() -> Iterator[str]:
            for n in networks:
                yield from [n] if isinstance(n, str) else range_addresses(n)

        async def op() -> AsyncIterator[DiscoveryEvent]:
            async for event in discover_events(addresses(), total=total, ports=ports,
                                               options=CollectOptions(timeout=DISCOVERY_TIMEOUT), thorough=False):
                yield event

        def on_events(events: list[object]) -> None:
            self.stop_button.setEnabled(True)  # the job has surely started: see _set_running
            self._held.extend(e for e in events if isinstance(e, Discovered))
            progress = [e for e in events if isinstance(e, DiscoveryProgress | DiscoveryDone)]
            if progress:
                self._probed = (progress[-1].addresses, progress[-1].probed)
            self._done = next((e for e in events if isinstance(e, DiscoveryDone)), self._done)
            if not self._flush_timer.isActive():
                self._flush_timer.start()

        self.found = 0
        self._error = ""
        self._done = None
        self._request = request
        self._held.clear()
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(0)
        self._probed = (total, 0)
        self._show_progress(total, 0)
        self.job = self.intake.jobs.stream_in_background(
            op, on_events=on_events, on_failure=self._failed, on_finished=self._finished)
        self._set_running(True)
        return True

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def reject(self) -> None:
        """Close stops the scan; the rows it added stay in the table."""
        self.stop()
        super().reject()

    def _flush(self) -> None:
        """Add the hosts found since the last flush as one insert, and show how far the scan got."""
        found, self._held = self._held, []
        if found and self._request is not None:
            self.found += len(found)
            self.intake.add_discovered(found, self._request)
        self._show_progress(*self._probed)

    def _show_progress(self, addresses: int, probed: int) -> None:
        self.progress.setValue(min(probed, self.progress.maximum()))
        self.status.setText(f"Probed {probed} of {addresses} address(es) · {self.found} found")

    def _failed(self, error: BaseException) -> None:
        log.error("the range scan failed", exc_info=error)  # unexpected: logged with context, shown once
        self._error = f"{type(error).__name__}: {error}"

    def _finished(self) -> None:
        self._flush_timer.stop()
        self._flush()  # the last hosts found, before the summary counts them
        job, self.job = self.job, None
        stopped = job is not None and job.was_cancelled
        text = f"Scan of {self.ranges.text().strip()}: " + (
            self._done.summary() if self._done is not None else f"{self.found} host(s) answered")
        if stopped:
            text += " (stopped)"
        elif self._error:
            text += f"; the scan failed: {self._error}"
        else:
            self.progress.setValue(self.progress.maximum())
        self.status.setText(text)
        self._set_running(False)
        self.scanFinished.emit(text)

    def _set_running(self, running: bool) -> None:
        # Stop is enabled by the scan's first events, not here: a gui.jobs job cancelled before
        # its task first runs never reports that it ended, which would leave the dialog busy.
        self.scan.setEnabled(not running)
        if not running:
            self.stop_button.setEnabled(False)
        self.ranges.setReadOnly(running)
        for box in (self.api, self.web, self.ssh):
            box.setEnabled(not running)


def _size(target: ScanTarget) -> int:
    return range_size(target.network) if isinstance(target, RangeTarget) else 1



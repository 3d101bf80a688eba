"""Getting rigs into the table: hosts, ranges (discovered in the background), serial consoles and
scanned serial numbers.

Every address of a range that answers on a miner port becomes a row, whether it identifies as a
miner or not: a rig whose firmware hangs or answers garbage is the one a technician must see
(its row keeps what discovery saw, and its check says NOT_IDENTIFIED). A range's rows are kept
in address order.

A scanned serial that matches no row becomes a *pending* row: the technician scans the label
first and plugs the unit in later; when a check reads that serial from some address, the pending
row is folded into the real one. A serial on several rows (clones) selects each in turn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from PySide6.QtCore import QObject, Signal

from attest.address import AddressError, EndpointTarget, HostTarget, PortProfile, RangeTarget, parse_address
from attest.drivers.base import CollectOptions
from attest.evidence import printable
from attest.fleet import DISCOVERY_TIMEOUT, Discovered, DiscoveryDone, DiscoveryEvent, discover_events
from attest.manifest import Manifest
from gui.check_controller import pending_id
from gui.dialogs.add_host import AddHostRequest
from gui.jobs import Job, JobRunner
from gui.models.device_table import DeviceTableModel
from gui.models.rows import DeviceRow, RowKind, RowState, cell_text


def clean_scan(text: str) -> str:
    """What a barcode scanner typed, minus the whitespace and control bytes scanners add."""
    return "".join(ch for ch in text.strip() if ch.isprintable())[:128]


def discovered_label(found: Discovered) -> str:
    """What a range scan saw on a host, for its row's tooltip and detail pane (plain text)."""
    if found.identified:
        return "answers: " + ", ".join(f"{k} ({printable(v, limit=40)})" for k, v in sorted(found.services.items()))
    return found.not_identified_text().split(" ", 1)[1]


class Intake(QObject):
    rowsAdded = Signal(list)  # device ids
    rangeRowsAdded = Signal(list)  # device ids found in a range: the table shows them in address order
    discoveryFinished = Signal(str)

    def __init__(self, jobs: JobRunner, model: DeviceTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.model = model
        self.discovery: Job | None = None

    def add_request(self, request: AddHostRequest) -> None:
        target = request.target
        if isinstance(target, RangeTarget):
            self.discover_range(target, request)
            return
        self.add_targets([target], request)

    def add_targets(self, targets: list[HostTarget | EndpointTarget], request: AddHostRequest | None = None,
                    *, labels: dict[str, str] | None = None) -> list[str]:
        rows = [DeviceRow(t.address, RowKind.HOST if isinstance(t, HostTarget) else RowKind.ENDPOINT,
                          host=t.host, target=t, ports=request.ports if request else None,
                          credential=request.credential if request else None,
                          credential_kind=request.credential_kind if request else "any",
                          label=(labels or {}).get(t.address, ""))
                for t in targets]
        added = self.model.add_rows(rows)
        if added:
            self.rowsAdded.emit(added)
        return added

    def add_discovered(self, found: list[Discovered], request: AddHostRequest) -> list[str]:
        """Rows for the hosts a range scan found, identified or not (what it saw stays with the row)."""
        if found:
            self.rangeRowsAdded.emit([d.host for d in found])  # first: rows arrive into a sorted table
        added = self.add_targets([HostTarget(d.host) for d in found], request,
                                 labels={d.host: discovered_label(d) for d in found})
        for d in found:
            row = self.model.row(d.host)
            if row is not None and not d.identified:
                row.discovered = d
                row.note = "does not identify as a miner; verify to see what it says"
        return added

    def add_serial(self, address: str) -> str:
        """Adds a console row under the core's spelling of ``address`` (its events use that one)."""
        target = parse_address(address)  # AddressError for a bad one, before any row exists
        if not isinstance(target, EndpointTarget) or target.kind != "serial":
            raise AddressError(f"{address!r} is not a serial console")
        address, device = target.address, target.host
        added = self.model.add_rows([DeviceRow(address, RowKind.SERIAL, host=cell_text(device))])
        if added:
            self.rowsAdded.emit(added)
        return address

    def scan(self, text: str, manifests: tuple[Manifest, ...], current: str = "") -> str | None:
        """The id of the row a scanned serial selects, creating a pending row when none has it.

        When several rows have the serial (a clone), the one after ``current`` (the selected
        row) is chosen, so scanning the label again steps through them.
        """
        serial = clean_scan(text)
        if not serial:
            return None
        found = self.model.ids_for_serial(serial)
        if found:
            return found[(found.index(current) + 1) % len(found)] if current in found else found[0]
        row = DeviceRow(pending_id(serial), RowKind.PENDING, serial=cell_text(serial), state=RowState.PENDING)
        entry = next((e for m in manifests if (e := m.entry_for_serial(serial)) is not None), None)
        row.model = cell_text(entry.model) if entry else ""
        row.note = ("listed in a loaded manifest; add its address to check it" if entry
                    else "not in any loaded manifest")
        self.model.add_rows([row])
        self.rowsAdded.emit([row.device_id])
        return row.device_id

    def discover_range(self, target: RangeTarget, request: AddHostRequest,
                       on_done: Callable[[str], None] | None = None) -> Job:
        """Probe every host of the range in the background; rows appear as hosts answer."""
        hosts = target.hosts()
        options = CollectOptions(timeout=DISCOVERY_TIMEOUT)

        async def op() -> AsyncIterator[DiscoveryEvent]:
            async for event in discover_events(hosts, ports=request.ports, options=options):
                yield event

        done: list[DiscoveryDone] = []

        def on_events(events: list[object]) -> None:
            self.add_discovered([e for e in events if isinstance(e, Discovered)], request)
            done.extend(e for e in events if isinstance(e, DiscoveryDone))

        def finished() -> None:
            self.discovery = None
            text = f"Range {target.address}: " + (done[-1].summary() if done else "the scan stopped") + "."
            self.discoveryFinished.emit(text)
            if on_done is not None:
                on_done(text)

        self.discovery = self.jobs.stream_in_background(op, on_events=on_events, on_finished=finished)
        return self.discovery


def default_request(ports: PortProfile, target: HostTarget | EndpointTarget | RangeTarget) -> AddHostRequest:
    return AddHostRequest(target, ports)

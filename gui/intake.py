"""Getting rigs into the table: hosts, ranges (discovered in the background), serial consoles and
scanned serial numbers.

A scanned serial that matches no row becomes a *pending* row: the technician scans the label
first and plugs the unit in later; when a check reads that serial from some address, the pending
row is folded into the real one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from PySide6.QtCore import QObject, Signal

from attest.address import AddressError, EndpointTarget, HostTarget, PortProfile, RangeTarget, parse_address
from attest.drivers.base import CollectOptions
from attest.evidence import printable
from attest.fleet import DISCOVERY_TIMEOUT, Discovered, discover
from attest.manifest import Manifest
from gui.check_controller import pending_id
from gui.dialogs.add_host import AddHostRequest
from gui.jobs import Job, JobRunner
from gui.models.device_table import DeviceTableModel
from gui.models.rows import DeviceRow, RowKind, RowState, cell_text


def clean_scan(text: str) -> str:
    """What a barcode scanner typed, minus the whitespace and control bytes scanners add."""
    return "".join(ch for ch in text.strip() if ch.isprintable())[:128]


class Intake(QObject):
    rowsAdded = Signal(list)  # device ids
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

    def scan(self, text: str, manifests: tuple[Manifest, ...]) -> str | None:
        """The id of the row a scanned serial selects, creating a pending row when none has it."""
        serial = clean_scan(text)
        if not serial:
            return None
        found = self.model.id_for_serial(serial)
        if found is not None:
            return found
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

        async def op() -> AsyncIterator[Discovered]:
            async for found in discover(hosts, ports=request.ports, options=options):
                yield found

        found_count = [0]

        def on_events(events: list[object]) -> None:
            found = [e for e in events if isinstance(e, Discovered)]
            found_count[0] += len(found)
            labels = {d.host: "answers: " + ", ".join(f"{k} ({printable(v, limit=40)})"
                                                      for k, v in sorted(d.services.items())) for d in found}
            self.add_targets([HostTarget(d.host) for d in found], request, labels=labels)

        def finished() -> None:
            self.discovery = None
            text = f"Range {target.address}: {found_count[0]} of {len(hosts)} hosts answered."
            self.discoveryFinished.emit(text)
            if on_done is not None:
                on_done(text)

        self.discovery = self.jobs.stream_in_background(op, on_events=on_events, on_finished=finished)
        return self.discovery


def default_request(ports: PortProfile, target: HostTarget | EndpointTarget | RangeTarget) -> AddHostRequest:
    return AddHostRequest(target, ports)

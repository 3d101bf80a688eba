"""Check ▸ Attach flash dump…: a dump read with an external programmer, attached to the selected rig.

The dump is read and split (``attest.image.attach.read_dump``) on Qt's global thread pool, as
``Verify firmware file…`` reads its files: a 256 MB dump must hold up neither the GUI thread nor
a running check. Once read it sits on the row; the next check of that row hands it to the core
as an ``AttachedDumps`` evidence source (gui.verification), and its images count at ``offline``.
A file that cannot be read, or is no flash dump, is said in a message and attaches nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from attest.image.attach import DumpError, DumpReading, read_dump
from attest.manifest import Manifest
from attest.trust import TrustStore
from gui.models.device_table import DeviceTableModel
from gui.station import Station

log = logging.getLogger(__name__)


class DumpRelay(QObject):
    """Carries a pool thread's result back to the GUI thread (queued signals)."""

    read = Signal(str, object)  # device id, DumpReading
    failed = Signal(str, str)  # device id, plain-text message


class _ReadDump(QRunnable):
    def __init__(self, device_id: str, path: Path, trust: TrustStore | None, manifests: Sequence[Manifest],
                 relay: DumpRelay) -> None:
        super().__init__()
        self.device_id, self.path, self.trust, self.manifests, self.relay = \
            device_id, path, trust, tuple(manifests), relay

    def run(self) -> None:  # on a pool thread: compute only, never touch a widget
        try:
            reading: DumpReading | None = read_dump(self.path, self.trust, self.manifests)
            message = ""
        except OSError as e:
            reading, message = None, f"Cannot read {self.path}: {e.strerror or e}"
        except DumpError as e:
            reading, message = None, e.message
        except Exception as e:  # a bug in Rig Attest, not a finding: shown once, logged with context
            log.exception("reading flash dump %s", self.path)
            reading, message = None, f"Rig Attest failed while reading {self.path} ({type(e).__name__}); see the log."
        try:
            if reading is not None:
                self.relay.read.emit(self.device_id, reading)
            else:
                self.relay.failed.emit(self.device_id, message)
        except RuntimeError:  # the window closed while the dump was being read
            log.info("flash dump %s read after its window closed", self.path)


def read_in_background(relay: DumpRelay, device_id: str, path: Path, trust: TrustStore | None,
                       manifests: Sequence[Manifest], pool: QThreadPool | None = None) -> None:
    (pool or QThreadPool.globalInstance()).start(_ReadDump(device_id, path, trust, manifests, relay))


def choose_dump(window: QWidget, device_id: str, start: Callable[[str, Path], None]) -> None:
    """Ask for the file (non-modal to the rest of the app once chosen), then start reading it."""
    path, _ = QFileDialog.getOpenFileName(window, f"Attach flash dump to {device_id}", "",
                                          "Flash dumps (*.bin *.img *.dump);;All files (*)")
    if path:
        start(device_id, Path(path))


class DumpAttacher(QObject):
    """The command as the main window wires it: which row, which file, and the row once read.

    Given what it needs as callables, so it knows rows and the station but no window class.
    """

    attached = Signal(str)  # the device id a flash dump now sits on

    def __init__(self, window: QWidget, model: DeviceTableModel, station: Station,
                 current_device: Callable[[], str], rows_changed: Callable[[list[str]], None],
                 status: Callable[[str], None], error: Callable[[str, str], None]) -> None:
        super().__init__(window)
        self.window, self.model, self.station = window, model, station
        self.current_device, self.rows_changed, self.status, self.error = current_device, rows_changed, status, error
        self.relay = DumpRelay(self)
        self.relay.read.connect(self._read)
        self.relay.failed.connect(lambda _id, text: self.error("Flash dump not attached", text))

    def choose(self) -> None:
        device_id = self.current_device()
        if not device_id or self.model.row(device_id) is None:
            self.status("Select the rig the flash dump was read from, then attach it.")
            return
        choose_dump(self.window, device_id, self.attach)

    def attach(self, device_id: str, path: Path) -> None:
        """Read ``path`` off the GUI thread; when it is a flash dump it goes on the rig's row."""
        self.status(f"Reading flash dump {path.name}…")
        read_in_background(self.relay, device_id, path, self.station.trust, self.station.accepted())

    def _read(self, device_id: str, reading: DumpReading) -> None:
        row = self.model.row(device_id)
        if row is None:  # the row was removed while its dump was read
            return
        row.dump = reading
        self.model.touch([device_id], immediate=True)
        self.rows_changed([device_id])
        self.status(f"Flash dump attached to {device_id}: {reading.summary}. Verify the rig to use it.")
        self.attached.emit(device_id)

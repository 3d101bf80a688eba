"""The command line's view of a fleet run: fleet events in, a progress bar or lines on stderr out.

Stdout belongs to the results (a table, or JSON Lines an intake script parses), so progress only
ever goes to stderr, and only when someone can use it: a live bar when stderr is a terminal,
plain lines every few seconds when asked for (``--progress``, e.g. into an intake script's log),
otherwise nothing at all.
"""

from __future__ import annotations

import time
from typing import TextIO

from attest.fleet import (
    DeviceCollected,
    DeviceFailed,
    DeviceStarted,
    Discovered,
    DiscoveryDone,
    DiscoveryProgress,
)

BAR = "bar"
LINES = "lines"
OFF = "off"

BAR_WIDTH = 24
#: A terminal redraw at most this often: a 1,000-rig run gives thousands of events a second.
REDRAW_SECONDS = 0.1
#: A plain line at most this often, so a log file gets a heartbeat, not a flood.
LINE_SECONDS = 2.0


def progress_mode(stream: TextIO, *, asked: bool) -> str:
    """BAR on a terminal; LINES when asked for and not a terminal; else OFF."""
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return BAR
    return LINES if asked else OFF


class FleetProgress:
    """Counts what a verify or scan has done so far and shows it in the chosen ``mode``.

    ``known`` is the number of devices named one by one; a range adds each host as it is found,
    so the total grows while discovery runs (shown with a "+").
    """

    def __init__(self, stream: TextIO, mode: str, *, known: int = 0, verb: str = "collected") -> None:
        self.stream, self.mode, self.verb = stream, mode, verb
        self.known = known
        self.addresses = self.probed = self.found = 0
        self.discovering = False
        self.started = self.collected = self.failed = 0
        self._began = time.monotonic()
        self._shown_at = 0.0
        self._drawn = False

    @property
    def total(self) -> int:
        return self.known + self.found

    def on_event(self, event: object) -> None:
        if isinstance(event, DiscoveryProgress):
            self.addresses, self.probed, self.discovering = event.addresses, event.probed, True
        elif isinstance(event, DiscoveryDone):
            self.addresses, self.probed, self.discovering = event.addresses, event.probed, False
        elif isinstance(event, Discovered):
            self.found += 1
        elif isinstance(event, DeviceStarted):
            self.started += 1
        elif isinstance(event, DeviceCollected):
            self.collected += 1
        elif isinstance(event, DeviceFailed):
            self.failed += 1
        else:
            return
        self._show(final=False)

    def text(self) -> str:
        parts = []
        if self.addresses:
            parts.append(f"probed {self.probed}/{self.addresses}, {self.found} found")
        if self.verb == "collected":
            more = "+" if self.discovering else ""
            parts.append(f"collected {self.collected}/{self.total}{more}")
        if self.failed:
            parts.append(f"{self.failed} failed")
        parts.append(f"{time.monotonic() - self._began:.1f} s")
        return " · ".join(parts)

    def fraction(self) -> float:
        if self.verb != "collected":
            return self.probed / self.addresses if self.addresses else 0.0
        done = self.collected / self.total if self.total else 0.0
        if self.discovering and self.addresses:
            done *= self.probed / self.addresses  # not all devices are known yet
        return min(1.0, done)

    def _show(self, *, final: bool) -> None:
        if self.mode == OFF:
            return
        now = time.monotonic()
        every = REDRAW_SECONDS if self.mode == BAR else LINE_SECONDS
        if not final and now - self._shown_at < every:
            return
        self._shown_at = now
        if self.mode == BAR:
            filled = round(self.fraction() * BAR_WIDTH)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            self.stream.write(f"\r\x1b[K[{bar}] {self.text()}")
            self._drawn = True
        else:
            self.stream.write(f"attest: {self.text()}\n")
        self.stream.flush()

    def clear(self) -> None:
        """Take the bar off the line, so a result printed on the same terminal starts clean; the
        next event draws it again."""
        if self.mode == BAR and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False
            self._shown_at = 0.0

    def done(self) -> None:
        """Clear the bar (the results follow on stdout); a last line in LINES mode."""
        if self.mode == BAR and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        elif self.mode == LINES:
            self._show(final=True)

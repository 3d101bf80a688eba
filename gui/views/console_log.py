"""A serial rig's console, live, in the detail pane: what the device printed, as plain text only.

The bytes are the device's (the adversary's): they are shown in a QPlainTextEdit, which never
interprets markup, after ANSI escapes and control bytes are taken out (a console that sends
``\\x1b[2J`` or a thousand backspaces cannot repaint or wipe the view). Memory is capped twice:
per rig (``MAX_BYTES_PER_CONSOLE``, oldest dropped first) and on screen (``MAX_LINES`` blocks).
What the station typed is shown on lines of its own, prefixed ``» `` (passwords arrive already
withheld from the core).

Chunks arrive through :meth:`ConsoleLogView.append` keyed by the endpoint label the core gives
(attest.drivers.base.ConsoleOutput); the view shows the log of the console the selected row is.
"""

from __future__ import annotations

import re
from collections import deque

from PySide6.QtGui import QFontDatabase, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

#: Bytes of console kept per rig: a boot log and a whole check are ~15 KB at 115200 baud.
MAX_BYTES_PER_CONSOLE = 64 * 1024
#: Lines the widget holds; older ones scroll away.
MAX_LINES = 2000
#: Consoles remembered at once (one per port on the bench; rows come and go).
MAX_CONSOLES = 64

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def console_label(device_id: str) -> str:
    """The endpoint label of a serial row (its address without ``?baud=...&stay=...``)."""
    return device_id.split("?", 1)[0]


def display_text(direction: str, data: bytes) -> str:
    """Plain text for one chunk: escapes and control bytes out, line breaks unified."""
    text = data.decode("utf-8", "replace")
    text = _ANSI.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    if direction == ">":
        return "".join(f"\n» {line}" for line in text.split("\n") if line) + "\n"
    return text


class ConsoleLogView(QPlainTextEdit):
    """Read-only, plain-text, size-capped console log for the selected serial rig."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setUndoRedoEnabled(False)
        self.setMaximumBlockCount(MAX_LINES)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setAccessibleName("Console log")
        self.setPlaceholderText("The console's output appears here while the rig is checked.")
        self._logs: dict[str, deque[str]] = {}
        self._sizes: dict[str, int] = {}
        self.shown = ""  # the endpoint label whose log is on screen

    def append(self, endpoint: str, direction: str, data: bytes) -> None:
        """Keep a chunk for ``endpoint``, and show it now if that console is on screen."""
        text = display_text(direction, data[:MAX_BYTES_PER_CONSOLE])
        if not text:
            return
        log = self._logs.get(endpoint)
        if log is None:
            if len(self._logs) >= MAX_CONSOLES:
                oldest = next(iter(self._logs))
                del self._logs[oldest], self._sizes[oldest]
            log = self._logs[endpoint] = deque()
            self._sizes[endpoint] = 0
        log.append(text)
        self._sizes[endpoint] += len(text)
        while self._sizes[endpoint] > MAX_BYTES_PER_CONSOLE and len(log) > 1:
            self._sizes[endpoint] -= len(log.popleft())
        if endpoint == self.shown:
            self._insert(text)

    def show_console(self, endpoint: str) -> None:
        """Show ``endpoint``'s log ("" shows nothing)."""
        self.shown = endpoint
        self.clear()
        self._insert("".join(self._logs.get(endpoint, ())))

    def text_of(self, endpoint: str) -> str:
        return "".join(self._logs.get(endpoint, ()))

    def _insert(self, text: str) -> None:
        at_end = self.verticalScrollBar().value() == self.verticalScrollBar().maximum()
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(text)  # plain text: QPlainTextEdit has no rich text to interpret
        if at_end:  # follow the console unless the technician scrolled up to read
            self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())

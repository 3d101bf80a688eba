"""What a serial console's bytes say, once the line's habits are taken out.

A console is not a protocol: it echoes what we type, mixes ``\\r\\n``, ``\\n`` and bare ``\\r``
(U-Boot's countdown redraws itself with ``\\b`` and ``\\r``), colours prompts with ANSI escapes,
lets the kernel print its log in the middle of our output, and on a bad line (wrong baud, loose
ground) delivers bytes that are no text at all. These helpers turn raw bytes into lines of plain
ASCII for *recognising* things (prompts, markers, banners). Payloads whose exact bytes matter
(a file's contents) are never cleaned with them: the shell runner checks those against the
device's own checksum instead.
"""

from __future__ import annotations

import re

_ANSI = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_NOT_TEXT = re.compile(rb"[^\t\n\x20-\x7e]")
_KERNEL_LINE = re.compile(rb"\s*<?\d?>?\[\s*\d+\.\d+\]")

#: Last-line shapes. A U-Boot prompt is one word ending in ">" ("=>", "zynq-uboot>", "U-Boot>",
#: "ZynqMP>"); a Linux shell prompt ends in "#" or "$" ("# ", "root@antMiner:~# ").
UBOOT_PROMPT = re.compile(rb"(?:^|\n)([\w.@:-]{0,32}(?:=>|>)) ?$")
SHELL_PROMPT = re.compile(rb"(?:^|\n)([^\n]{0,96}[#$]) ?$")
LOGIN_PROMPT = re.compile(rb"(?i)(?:^|\n)[^\n]{0,96}\blogin: ?$")
PASSWORD_PROMPT = re.compile(rb"(?i)(?:^|\n)[^\n]{0,64}password: ?$")
LOGIN_REFUSED = re.compile(rb"(?i)login incorrect|incorrect password|authentication fail|access denied")
AUTOBOOT = re.compile(rb"(?i)hit any key to stop autoboot|press any key to stop|autoboot in \d+ seconds?"
                      rb"|stop autoboot|to stop autoboot")
#: The countdown redrawing itself (U-Boot's ``printf("\b\b\b%2d ", bootdelay)``): all a console
#: opened mid-countdown sees of it, its "Hit any key" line having gone by before anyone listened.
COUNTDOWN_REDRAW = re.compile(rb"\x08\x08\x08[ \d]\d $")
#: What a unit prints when it starts over: seen mid-command, the unit rebooted under us. In U-Boot
#: its own banner line is no sign (``version`` prints it), so there the countdown and SPL count.
REBOOT_SIGNS = re.compile(rb"U-Boot SPL 20\d\d|U-Boot 20\d\d\.\d\d|Booting Linux on physical CPU"
                          rb"|Starting kernel \.\.\.|resetting \.\.\.|Restarting system|reboot: Restarting"
                          rb"|(?i:hit any key to stop autoboot)")
UBOOT_REBOOT_SIGNS = re.compile(rb"U-Boot SPL 20\d\d|resetting \.\.\.|^DRAM: |(?i:hit any key to stop autoboot)"
                                rb"|Booting Linux on physical CPU")
#: A kernel on its way up, so a login prompt is worth waiting for.
BOOTING_SIGNS = re.compile(rb"Starting kernel|Booting Linux|Linux version \d|\[\s*\d+\.\d+\]|Uncompressing Linux"
                           rb"|Welcome to|init started|Starting [A-Za-z]")


def clean(data: bytes) -> bytes:
    """Plain ASCII lines: escapes and junk bytes dropped, every line break a single ``\\n``.

    A backspace erases the character before it, as the terminal showed it; a bare ``\\r`` is a
    line break (the countdown's redraw), and ``\\r\\n`` / ``\\n\\r`` are one break, not two.
    """
    data = _ANSI.sub(b"", data)
    data = data.replace(b"\r\n", b"\n").replace(b"\n\r", b"\n").replace(b"\r", b"\n")
    if b"\b" in data:
        out = bytearray()
        for byte in data:
            if byte == 8:
                if out and out[-1] != 10:
                    out.pop()
            else:
                out.append(byte)
        data = bytes(out)
    return _NOT_TEXT.sub(b"", data)


def lines(data: bytes) -> list[bytes]:
    """Cleaned lines, kernel log lines (``[   12.345678] ...``) left out."""
    return [line for line in clean(data).split(b"\n") if not _KERNEL_LINE.match(line)]


def tail(data: bytes, size: int = 512) -> bytes:
    """The cleaned end of a buffer: where prompts are, without rescanning a whole boot log.

    Trailing line breaks are kept: a prompt is the unfinished last line, so a finished line that
    happens to end in ``#`` or ``>`` is not one.
    """
    return clean(data[-size:]) if data else b""


def noise_ratio(data: bytes) -> float:
    """Share of bytes that are no text at all (after escapes): a wrong baud rate reads as ~1.0."""
    if not data:
        return 0.0
    stripped = _ANSI.sub(b"", data)
    junk = len(_NOT_TEXT.findall(stripped.replace(b"\r", b"").replace(b"\b", b"")))
    return junk / max(len(stripped), 1)


class Rebooted(Exception):
    """The unit printed a boot banner while we waited for a reply: it started over under us."""

    def __init__(self, line: bytes) -> None:
        super().__init__(line.decode("ascii", "replace"))
        self.line = line


class FrameScan:
    """Finds one command's output between its begin and end markers, line by line as bytes come.

    Used as a ``read_until`` matcher: it keeps its place, so each new chunk costs only its own
    lines. A marker line *ends with* its token — a prompt may precede it, and output without a
    final newline runs into the end marker — while our own echoed command line never does
    (the end token only counts after the begin token, and the shell runner types markers with
    quotes the shell removes). The end token may carry digits (the shell's ``$?``).
    Raises :class:`Rebooted` when a boot banner shows up instead.

    Callers print each marker twice (``echo B; echo B; CMD; echo E; echo E``): one byte spoilt on
    a noisy line then costs a marker copy, not the reading. A second begin line right after the
    first is skipped; the first intact end line ends the frame (a spoilt first copy stays in
    ``body`` as a junk line the parsers ignore, and the second copy ends it).
    """

    def __init__(self, begin: bytes, end: bytes, reboot_signs: re.Pattern[bytes] = REBOOT_SIGNS) -> None:
        self._begin = begin
        self._reboot_signs = reboot_signs
        self._end = re.compile(re.escape(end) + rb"(\d{0,3})$")
        self._scanned = 0
        self.begun = False
        self.body: list[bytes] = []  # cleaned lines between the markers
        self.body_start = -1  # raw offset just after the begin marker's line
        self.status: int | None = None
        self._begin_copy = False  # the next line may be the begin marker's second copy

    def __call__(self, buffer: bytes) -> bool:
        cut = buffer.rfind(b"\n") + 1
        if cut <= self._scanned:
            return False
        start = self._scanned
        for raw in buffer[start:cut].split(b"\n")[:-1]:
            end_of_line = start + len(raw) + 1
            start = end_of_line
            # The \r of a \r\n (or \n\r) break is no line of its own.
            for line in lines(raw.strip(b"\r")):
                if self._reboot_signs.search(line):
                    raise Rebooted(line.strip())
                if not self.begun:
                    if line.rstrip().endswith(self._begin):
                        self.begun, self.body_start, self._begin_copy = True, end_of_line, True
                    continue
                if self._begin_copy:
                    self._begin_copy = False
                    if line.rstrip().endswith(self._begin):
                        self.body_start = end_of_line
                        continue
                found = self._end.search(line.rstrip())
                if found:
                    if found.start() > 0:
                        self.body.append(line[: found.start()])
                    self.status = int(found[1]) if found[1] else None
                    self._scanned = end_of_line
                    return True
                self.body.append(line)
        self._scanned = cut
        return False


def kernel_line(line: bytes) -> bool:
    """A kernel log line as the console prints it: ``[   12.345678] ...`` (maybe ``<6>`` first)."""
    return _KERNEL_LINE.match(line) is not None

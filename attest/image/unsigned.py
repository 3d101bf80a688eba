"""Bytes no signature covers: is there code in them, or only data?

Hidden content is how a signed package carries an unsigned payload: members after a damaged tar
header (GNU tar skips the damage and unpacks them), members after the archive's end marker (``tar
-i`` unpacks them), bytes after a compressed stream, flash outside every partition, a partition
the signed layout does not list. Each is a finding, never skipped: FIRMWARE_UNSIGNED_CONTENT
(UNTRUSTED) when the bytes may hold code or scripts, FIRMWARE_UNSIGNED_DATA (a warning naming the
bytes) otherwise. Erased flash (0xFF) and zero fill are padding: no finding.

"May hold code" errs towards yes, because a false "only data" is a false pass: an executable or
script name, a format that carries programs (ELF, uImage, any archive, filesystem or compressed
stream), a ``#!`` line, an ELF header or a valid uImage header anywhere inside, or a line the
startup-script rules flag (``wget ... | sh``, ``nc -l``). Raw flash is searched slice by slice
with ``bytes.find``, at most ``_MAX_CANDIDATES`` hits per marker, so a partition of hundreds of
megabytes costs a few passes of memchr.
"""

from __future__ import annotations

import posixpath
import struct
import zlib
from collections.abc import Callable

from attest.evidence import printable
from attest.image.audit import is_startup_path
from attest.image.shellrules import fetches_and_runs, opens_listener

Report = Callable[..., None]  # finding(code, path, detail)

_CODE_SUFFIXES = (".sh", ".ash", ".bash", ".py", ".pyc", ".pl", ".lua", ".cgi", ".php", ".js", ".rb", ".tcl",
                  ".awk", ".so", ".ko", ".elf", ".bin", ".out")
_SLICE = 4 << 20
_MAX_CANDIDATES = 256
_LINE_START = b"\n\r\0\xff"
_SHELL_WORDS = (b"wget", b"curl", b"nc ", b"ncat", b"netcat", b"telnetd", b"socat", b"/dev/tcp/")
_MAX_LINE = 4096
_PADDING = b"\x00\xff"


def code_in(data: bytes | memoryview, name: str = "") -> str | None:
    """Why ``data`` (called ``name``, if it has one) may be code or a script; None if no sign."""
    base = posixpath.basename(name)
    if base.lower().endswith(_CODE_SUFFIXES) or (name and is_startup_path(name)):
        return f"its name ({printable(base, limit=80)}) is a program's or script's"
    from attest.image.detect import detect  # detect imports the vendor readers, which report through here

    fmt = detect(data)
    if fmt is not None:
        return f"it is {'an' if fmt[0] in 'aeiou' else 'a'} {fmt} (programs travel in one)"
    return embedded_code(data)


def embedded_code(data: bytes | memoryview) -> str | None:
    """The first sign of code anywhere in raw bytes (a flash partition, a gap, trailing data)."""
    for start in range(0, len(data), _SLICE):
        window = bytes(data[start:start + _SLICE + _MAX_LINE])
        found = _code_in_window(window, start == 0)
        if found is not None:
            at, what = found
            return f"{what} at byte {start + at:#x}"
    return None


def _code_in_window(window: bytes, at_start: bool) -> tuple[int, str] | None:
    hits: list[tuple[int, str]] = []
    for at in _find_all(window, b"\x7fELF"):
        if window[at + 4:at + 5] in (b"\x01", b"\x02") and window[at + 5:at + 6] in (b"\x01", b"\x02") \
                and window[at + 6:at + 7] == b"\x01":
            hits.append((at, "an ELF program"))
            break
    for at in _find_all(window, b"#!"):
        line_start = (at == 0 and at_start) or (at > 0 and window[at - 1] in _LINE_START)
        if line_start and window[at + 2:at + 4].lstrip()[:1] == b"/":
            first_line = window[at:at + 40].split(b"\n")[0]
            hits.append((at, f"a script ({printable(first_line, limit=40)})"))
            break
    for at in _find_all(window, b"\x27\x05\x19\x56"):
        if _uimage_header_valid(window[at:at + 64]):
            hits.append((at, "a U-Boot image (uImage)"))
            break
    for at in _find_all(window, b"\xfd7zXZ\x00"):
        hits.append((at, "an xz stream"))
        break
    for at in _find_all(window, b"hsqs"):
        if window[at + 28:at + 30] == b"\x04\x00":
            hits.append((at, "a squashfs filesystem"))
            break
    for at in _find_all(window, b"\x1f\x8b\x08"):
        if _gzip_inflates(window[at:at + 64 * 1024]):
            hits.append((at, "a gzip stream"))
            break
    line = _shell_line(window)
    if line is not None:
        hits.append(line)
    return min(hits) if hits else None


def _find_all(window: bytes, needle: bytes) -> list[int]:
    out, at = [], window.find(needle)
    while at >= 0 and len(out) < _MAX_CANDIDATES:
        out.append(at)
        at = window.find(needle, at + 1)
    return out


def _uimage_header_valid(header: bytes) -> bool:
    if len(header) < 64:
        return False
    stored = struct.unpack_from(">I", header, 4)[0]
    return zlib.crc32(header[:4] + b"\0\0\0\0" + header[8:64]) & 0xFFFFFFFF == stored


def _gzip_inflates(head: bytes) -> bool:
    """A gzip header (RFC 1952: method 8, reserved flags clear) whose stream inflates: three
    magic bytes alone turn up by chance in any megabyte of compressed data."""
    if len(head) < 18 or head[3] & 0xE0:
        return False
    try:
        d = zlib.decompressobj(wbits=31)
        out = d.decompress(head, 4096)
    except zlib.error:
        return False
    return len(out) >= 64 or d.eof


def _shell_line(window: bytes) -> tuple[int, str] | None:
    best: tuple[int, str] | None = None
    for word in _SHELL_WORDS:
        for at in _find_all(window, word):
            back = max(0, at - _MAX_LINE)
            lo = max(window.rfind(b"\n", back, at), window.rfind(b"\0", back, at)) + 1
            hi = min(x for x in (window.find(b"\n", at, at + _MAX_LINE), window.find(b"\0", at, at + _MAX_LINE),
                                 at + _MAX_LINE) if x >= 0)
            line = window[lo:hi]
            if opens_listener(line) or fetches_and_runs(line):
                if best is None or lo < best[0]:
                    best = (lo, f"a shell command line ({printable(line.strip(), limit=120)})")
                break
    return best


def padding_only(data: bytes | memoryview) -> bool:
    return all(not bytes(data[s:s + _SLICE]).translate(None, _PADDING) for s in range(0, len(data), _SLICE))


def data_summary(data: bytes | memoryview) -> str:
    """Which bytes are not padding: how many, where the first is, and what it reads as."""
    count, first = 0, -1
    for start in range(0, len(data), _SLICE):
        chunk = bytes(data[start:start + _SLICE])
        rest = chunk.translate(None, _PADDING)
        if rest and first < 0:
            first = start + len(chunk) - len(chunk.lstrip(_PADDING))
        count += len(rest)
    if first < 0:
        return f"{len(data)} bytes, all erased flash (0xFF) or zero fill"
    preview = printable(bytes(data[first:first + 48]), limit=48)
    return f"{count} of its {len(data)} bytes are neither erased flash nor zero fill, the first at byte " \
           f"{first:#x} ('{preview}')"


def report_unsigned(report: Report, path: str, what: str, data: bytes | memoryview, *, name: str = "",
                    padding_is_nothing: bool = True) -> None:
    """One finding for bytes no signature covers: CONTENT when they may hold code, DATA when
    they hold anything else, none for padding (unless ``padding_is_nothing`` is False: an empty
    member an unpacker would still write over a signed one)."""
    why = code_in(data, name) if len(data) else (code_in(b"", name) if name else None)
    if why is not None:
        report("FIRMWARE_UNSIGNED_CONTENT", path, f"{what}: may hold code: {why}")
    elif not padding_only(data) or not padding_is_nothing:
        report("FIRMWARE_UNSIGNED_DATA", path, f"{what}: {data_summary(data)}")

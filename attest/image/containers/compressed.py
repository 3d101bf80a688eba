"""gzip (RFC 1952) and xz streams, decompressed under the budget with the standard library.

Decompression is bounded before it happens (``max_length``), so a bomb costs at most the budget's
room plus one chunk. Several gzip members back to back are one stream (``gzip -c a b``); bytes after
the stream are kept as their own "trailing data" layer when they are not just flash padding, so
nothing appended to a genuine stream escapes the audit, and they are a finding of their own
(FIRMWARE_UNSIGNED_CONTENT or _DATA): no signature over the stream covers them.
"""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Iterator

from attest.image.containers.base import Context, all_padding, corrupt
from attest.image.limits import ImageFormatError, LimitExceeded
from attest.image.model import UNSIGNED, Child
from attest.image.unsigned import report_unsigned

CHUNK = 1 << 20


def read_gzip(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    out, rest = _inflate(ctx, data, path)
    yield Child("", out, role=None, note="gzip stream")
    if rest and not all_padding(rest):
        yield _trailing(ctx, path, rest, "gzip")


def read_xz(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    out = bytearray()
    d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    pending: bytes | memoryview = data
    try:
        while not d.eof:
            ctx.budget.tick(path)
            room = ctx.budget.room() - len(out)
            if room <= 0:
                raise LimitExceeded(f"{path or 'the file'}: the xz stream expands past the limit")
            piece = d.decompress(pending, max_length=min(CHUNK, room))
            pending = b""
            out += piece
            if d.needs_input and not d.eof:
                raise ImageFormatError("IMAGE_TRUNCATED", f"{path or 'the file'}: the xz stream ends early")
    except lzma.LZMAError as e:
        raise _stream_error("xz", path, str(e)) from None
    ctx.budget.expand(len(out), path or "the file")
    yield Child("", memoryview(out), role=None, note="xz stream")
    rest = d.unused_data
    if rest and not all_padding(rest):
        yield _trailing(ctx, path, rest, "xz")


def _trailing(ctx: Context, path: str, rest: bytes | memoryview, kind: str) -> Child:
    where = path or "the file"
    report_unsigned(ctx.finding, f"{where} (trailing data)", f"{len(rest)} bytes after the {kind} stream", rest)
    return Child("(trailing data)", rest, role=UNSIGNED, note=f"bytes after the {kind} stream")


def _inflate(ctx: Context, data: memoryview, path: str) -> tuple[memoryview, memoryview]:
    """Every gzip member from the start of ``data``; returns the output and what follows.

    Input goes in ``CHUNK`` slices: handing zlib the whole rest of a 100 MB stream each time
    would copy that rest into ``unconsumed_tail`` on every call (quadratic)."""
    out = bytearray()
    view = data
    where = path or "the file"
    while True:
        d = zlib.decompressobj(wbits=31)
        pos = 0
        try:
            while not d.eof:
                if d.unconsumed_tail:
                    pending: bytes | memoryview = d.unconsumed_tail
                elif pos < len(view):
                    pending = view[pos:pos + CHUNK]
                    pos += len(pending)
                else:
                    raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: the gzip stream ends early")
                ctx.budget.tick(path)
                room = ctx.budget.room() - len(out)
                if room <= 0:
                    raise LimitExceeded(f"{where}: the gzip stream expands past the limit")
                out += d.decompress(pending, min(4 * CHUNK, room))
        except zlib.error as e:
            raise _stream_error("gzip", path, str(e)) from None
        view = view[pos - len(d.unused_data):]
        if bytes(view[:2]) != b"\x1f\x8b":
            break
    ctx.budget.expand(len(out), where)
    return memoryview(out), view


def _stream_error(kind: str, path: str, text: str) -> ImageFormatError:
    where = path or "the file"
    if "check" in text.lower():  # zlib: "incorrect data check" / "incorrect length check"
        return ImageFormatError("IMAGE_CHECKSUM_MISMATCH", f"{where}: the {kind} stream's checksum "
                                f"does not match its data ({text})")
    return corrupt(f"{where}: the {kind} stream is damaged ({text})")

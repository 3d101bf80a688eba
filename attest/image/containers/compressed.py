"""gzip (RFC 1952) and xz streams, decompressed under the budget with the standard library.

Decompression is bounded before it happens (``max_length``), so a bomb costs at most the budget's
room plus one chunk. Several gzip members back to back are one stream (``gzip -c a b``); bytes after
the stream are kept as their own "trailing data" layer when they are not just flash padding, so
nothing appended to a genuine stream escapes the audit.
"""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Iterator

from attest.image.containers.base import Context, all_padding, corrupt
from attest.image.limits import ImageFormatError, LimitExceeded
from attest.image.model import Child

CHUNK = 1 << 20


def read_gzip(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    out, rest = _inflate(ctx, data, path)
    yield Child("", out, role=None, note="gzip stream")
    if rest and not all_padding(rest):
        yield Child("(trailing data)", rest, role=None, note="bytes after the gzip stream")


def read_xz(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    out = bytearray()
    d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    pending: bytes | memoryview = data
    try:
        while not d.eof:
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
    yield Child("", bytes(out), role=None, note="xz stream")
    rest = d.unused_data
    if rest and not all_padding(rest):
        yield Child("(trailing data)", rest, role=None, note="bytes after the xz stream")


def _inflate(ctx: Context, data: memoryview, path: str) -> tuple[bytes, memoryview]:
    """Every gzip member from the start of ``data``; returns the output and what follows."""
    out = bytearray()
    view = data
    where = path or "the file"
    while True:
        d = zlib.decompressobj(wbits=31)
        pending: bytes | memoryview = view
        try:
            while not d.eof:
                room = ctx.budget.room() - len(out)
                if room <= 0:
                    raise LimitExceeded(f"{where}: the gzip stream expands past the limit")
                piece = d.decompress(pending, min(CHUNK, room))
                out += piece
                pending = d.unconsumed_tail
                if not pending and not piece and not d.eof:
                    raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: the gzip stream ends early")
        except zlib.error as e:
            raise _stream_error("gzip", path, str(e)) from None
        used = len(view) - len(d.unused_data)
        view = view[used:]
        if bytes(view[:2]) != b"\x1f\x8b":
            break
    ctx.budget.expand(len(out), where)
    return bytes(out), view


def _stream_error(kind: str, path: str, text: str) -> ImageFormatError:
    where = path or "the file"
    if "check" in text.lower():  # zlib: "incorrect data check" / "incorrect length check"
        return ImageFormatError("IMAGE_CHECKSUM_MISMATCH", f"{where}: the {kind} stream's checksum "
                                f"does not match its data ({text})")
    return corrupt(f"{where}: the {kind} stream is damaged ({text})")

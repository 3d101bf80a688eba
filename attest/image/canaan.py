"""Canaan's ``.aup`` update files: a header with a version string and a CRC32 of the payload.

Layout from a public Kaitai Struct description of the AUP header (``aup_header.ksy``): 16 bytes of
magic ("AUP format" NUL-padded), a little-endian format version, then per version — 0: payload
length, 64-byte firmware version, payload CRC32; 1: header length, 128-byte hardware list, payload
length, version, CRC32; 2: payload length, version, CRC32, hardware and software list counts, then
32-byte names. A CRC32 shows the payload arrived intact, never who made it: only the signed
manifest can vouch for an .aup, and the verdict says so.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from attest.evidence import printable
from attest.image.containers.base import Context, corrupt, crc32, truncated
from attest.image.limits import ImageFormatError
from attest.image.model import IMAGE, UNSIGNED, Child

AUP_MAGIC = b"AUP format\x00"
_MAX_LIST = 256


def read_aup(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    where = path or "the file"
    if len(data) < 24:
        raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: the AUP header is cut short")
    (version,) = struct.unpack_from("<I", data, 16)
    hardware: list[str] = []
    try:
        if version == 0:
            length, fw, crc = struct.unpack_from("<I64sI", data, 20)
            start = 20 + 72
        elif version == 1:
            start, hw, length, fw, crc = struct.unpack_from("<I128sI64sI", data, 20)
            hardware = [h for h in printable(hw.rstrip(b"\0"), limit=128).split(",") if h]
        elif version == 2:
            length, fw, crc, hw_count, sw_count = struct.unpack_from("<I64sIII", data, 20)
            if hw_count + sw_count > _MAX_LIST:
                raise corrupt(f"{where}: the AUP header lists {hw_count + sw_count} names")
            start = 20 + 80 + 32 * (hw_count + sw_count)
            hardware = [printable(bytes(data[100 + 32 * i:132 + 32 * i]).split(b"\0", 1)[0], limit=32)
                        for i in range(hw_count)]
        else:
            raise corrupt(f"{where}: AUP format version {version} is not known")
    except struct.error:
        raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: the AUP header is cut short") from None
    firmware = printable(fw.split(b"\0", 1)[0], limit=64)
    if start + length > len(data):
        raise truncated(f"{where}: the AUP payload", length, max(0, len(data) - start))
    payload = data[start:start + length]
    ctx.finding("VENDOR_CHECKSUM_ONLY", where, f"Canaan AUP v{version}, firmware '{firmware}'")
    if crc32(payload) != crc:
        raise ImageFormatError("IMAGE_CHECKSUM_MISMATCH", f"{where}: the AUP payload CRC32 does not match "
                               f"(stored {crc:08x}, computed {crc32(payload):08x})")
    note = f"AUP firmware '{firmware}'" + (f" for {', '.join(hardware)}" if hardware else "")
    yield Child("payload", payload, role=IMAGE, note=note)
    from attest.image.unsigned import padding_only, report_unsigned  # unsigned imports detect, which imports us

    rest = data[start + length:]
    if len(rest) and not padding_only(rest):  # neither the CRC nor the payload's digest covers these
        report_unsigned(ctx.finding, f"{where} (trailing data)", f"{len(rest)} bytes after the AUP payload", rest)
        yield Child("(trailing data)", rest, role=UNSIGNED, note="bytes after the AUP payload")

"""UBI: a raw NAND dump or ubinize output, split into its volumes (``struct`` over the fixed
64-byte headers; layout from Linux drivers/mtd/ubi/ubi-media.h).

Every physical eraseblock (PEB) starts with an erase-counter header ("UBI#") that says where its
volume-id header ("UBI!") and data sit; the volume-id header names the volume and logical block
(LEB) the data belongs to, with a sequence number so the newest copy wins. Volume names come from
the volume table in the layout volume (id 0x7FFFEFFF). Headers are CRC32-checked (UBI's CRC is
the kernel's crc32_le seeded with 0xFFFFFFFF, without the final inversion): a PEB whose header
fails is skipped, as the kernel would, and counted. The eraseblock size is not written anywhere, so
it is the smallest power of two at which the headers line up.

An eraseblock that belongs to no volume (no erase-counter header, or a free one) must be erased
flash: bytes in one are held by no volume, so no volume's signed digest covers them, and they are
a finding of their own (FIRMWARE_UNSIGNED_CONTENT or _DATA), as is a partial block at the end.
So are bytes in a used eraseblock that UBI never reads: between its headers and its data, past a
static volume's data, past the volume table in the layout volume.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from attest.evidence import printable
from attest.image.containers.base import Context, corrupt
from attest.image.limits import LimitExceeded
from attest.image.model import IMAGE, UNSIGNED, Child
from attest.image.unsigned import padding_only, report_unsigned

_EC = struct.Struct(">4sB3xQIII32xI")
_VID = struct.Struct(">4sBBBBII4xIIII4xQ12xI")
_VTBL = struct.Struct(">IIIBBH128sB23xI")
LAYOUT_VOLUME = 0x7FFFEFFF
_PEB_SIZES = tuple(1 << n for n in range(14, 23))  # 16 KiB .. 4 MiB
_MAX_VOLUMES = 128


def ubi_crc(data: bytes | memoryview) -> int:
    return zlib.crc32(data) ^ 0xFFFFFFFF


#: An unused volume table record: zeros, and the CRC of those zeros (ubi-media.h, vtbl.c).
_EMPTY_RECORD = bytes(_VTBL.size - 4) + ubi_crc(bytes(_VTBL.size - 4)).to_bytes(4, "big")


@dataclass
class _Leb:
    sqnum: int
    start: int  # offset of the LEB's data in the dump
    data_size: int  # static volumes: bytes used in this LEB
    vol_type: int
    data_crc: int
    vid_off: int = 64  # where the volume-id header sits in its eraseblock


def peb_size(data: memoryview) -> int:
    """The candidate at which the most eraseblock starts hold an erase-counter header (and none
    holds anything but a header or erased flash); the smallest of equals. A size too small also
    lands on erased space inside blocks, so it scores lower."""
    best, best_score = len(data), 0.0
    for size in _PEB_SIZES:
        count = min(16, len(data) // size)
        if count < 2:
            break
        heads = [bytes(data[k * size:k * size + 4]) for k in range(count)]
        if not all(h in (b"UBI#", b"\xff\xff\xff\xff") for h in heads):
            continue
        score = heads.count(b"UBI#") / count
        if score > best_score:
            best, best_score = size, score
    return best


def read_ubi(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    where = path or "the file"
    size = peb_size(data)
    lebs: dict[tuple[int, int], _Leb] = {}
    bad = 0
    loose: list[tuple[int, int]] = []  # eraseblocks of no volume that are not erased
    for peb in range(len(data) // size):
        base = peb * size
        ctx.budget.tick(where)
        leb = _read_peb(data, base, size)
        if leb is None:
            header = 64 if bytes(data[base:base + 4]) == b"UBI#" else 0
            if not padding_only(data[base + header:base + size]):
                loose.append((base, base + size))
            continue
        if leb == "bad":
            bad += 1
            continue
        key, entry = leb
        loose.extend(_header_gaps(data, base, entry))
        if key not in lebs or entry.sqnum > lebs[key].sqnum:
            lebs[key] = entry
    if bad:
        ctx.finding("IMAGE_CORRUPT", where, f"{bad} UBI eraseblock(s) have damaged headers and were skipped")
    tail = len(data) // size * size
    if tail < len(data) and not padding_only(data[tail:]):
        loose.append((tail, len(data)))
    names = _volume_table(data, lebs, size, where)
    leb_size = size - max((e.start % size for e in lebs.values()), default=0)
    loose.extend(_unused_leb_space(data, lebs, leb_size))
    yield from _loose(ctx, data, loose, where)
    by_volume: dict[int, dict[int, _Leb]] = {}
    for (vol, lnum), entry in lebs.items():
        if vol != LAYOUT_VOLUME:
            by_volume.setdefault(vol, {})[lnum] = entry
    for vol, mapped in sorted(by_volume.items()):
        name = names.get(vol, f"volume {vol}")
        yield Child(name, _assemble(ctx, data, mapped, leb_size, size, f"{where}: UBI volume {name}"),
                    role=IMAGE, note=f"UBI volume {vol} ({len(mapped)} LEBs of {leb_size} bytes)")


def _header_gaps(data: memoryview, base: int, entry: _Leb) -> list[tuple[int, int]]:
    """Within a used eraseblock, the bytes between its erase-counter header, its volume-id header
    and its data hold nothing UBI reads (ubinize leaves them erased): kept out of every volume."""
    vid_off = entry.vid_off
    out = []
    for start, end in ((base + 64, base + vid_off), (base + vid_off + 64, entry.start)):
        if end > start and not padding_only(data[start:end]):
            out.append((start, end))
    return out


def _unused_leb_space(data: memoryview, lebs: dict[tuple[int, int], _Leb], leb_size: int) -> list[tuple[int, int]]:
    """A static volume's LEB past its data_size, and the layout volume past its table: no
    volume's bytes, so no volume's digest covers them."""
    out = []
    for (vol, _), entry in lebs.items():
        used = _VTBL.size * _MAX_VOLUMES if vol == LAYOUT_VOLUME else entry.data_size if entry.vol_type == 2 \
            else leb_size
        start, end = entry.start + min(used, leb_size), entry.start + leb_size
        if end > start and not padding_only(data[start:end]):
            out.append((start, end))
    return out


def _loose(ctx: Context, data: memoryview, loose: list[tuple[int, int]], where: str) -> Iterator[Child]:
    """Runs of adjacent loose eraseblocks, each reported and handed on (audited, never judged)."""
    runs: list[list[int]] = []
    for start, end in sorted(loose):
        if runs and runs[-1][1] == start:
            runs[-1][1] = end
        else:
            runs.append([start, end])
    for start, end in runs:
        name = f"(no UBI volume, bytes {start:#x}..{end:#x})"
        report_unsigned(ctx.finding, f"{where} {name}", f"{end - start} bytes in eraseblocks no UBI volume holds",
                        data[start:end])
        yield Child(name, data[start:end], role=UNSIGNED, note="eraseblocks of no UBI volume")


def _read_peb(data: memoryview, base: int, size: int) -> tuple[tuple[int, int], _Leb] | str | None:
    ec = bytes(data[base:base + 64])
    if ec[:4] != b"UBI#":
        return None  # erased or not UBI: free space
    _magic, _ver, _count, vid_off, data_off, _seq, crc = _EC.unpack(ec)
    if ubi_crc(ec[:60]) != crc or not 64 <= vid_off < size or not vid_off + 64 <= data_off < size:
        return "bad"
    vid = bytes(data[base + vid_off:base + vid_off + 64])
    if vid[:4] != b"UBI!":
        return None  # erase counter only: a free eraseblock
    _m, _v, vol_type, _copy, _compat, vol_id, lnum, data_size, _used, _pad, data_crc, sqnum, vcrc = _VID.unpack(vid)
    if ubi_crc(vid[:60]) != vcrc:
        return "bad"
    return (vol_id, lnum), _Leb(sqnum, base + data_off, data_size, vol_type, data_crc, vid_off)


def _volume_table(data: memoryview, lebs: dict[tuple[int, int], _Leb], size: int, where: str) -> dict[int, str]:
    layout = lebs.get((LAYOUT_VOLUME, 0)) or lebs.get((LAYOUT_VOLUME, 1))
    if layout is None:
        return {}
    names: dict[int, str] = {}
    room = size - (layout.start % size)
    for vol in range(min(_MAX_VOLUMES, room // _VTBL.size)):
        raw = bytes(data[layout.start + vol * _VTBL.size:layout.start + (vol + 1) * _VTBL.size])
        reserved, _align, _pad, _type, _upd, name_len, name, _flags, crc = _VTBL.unpack(raw)
        if reserved == 0:
            if raw != _EMPTY_RECORD:  # as Linux's vtbl_check: an unused record must be the empty one
                raise corrupt(f"{where}: the UBI volume table holds a damaged empty record ({vol})")
            continue
        if ubi_crc(raw[:168]) != crc or name_len > 127:
            raise corrupt(f"{where}: the UBI volume table is damaged (record {vol})")
        names[vol] = printable(name[:name_len], limit=128).replace("/", "_")
    return names


def _assemble(ctx: Context, data: memoryview, mapped: dict[int, _Leb], leb_size: int, peb: int,
              where: str) -> memoryview:
    """The volume's bytes in LEB order; unmapped LEBs read as erased flash (0xFF). Built in one
    buffer and handed on as a view: a volume is often most of a dump, so never copied twice."""
    last = max(mapped)
    if last >= len(data) // peb:
        raise corrupt(f"{where}: a block claims LEB {last}, beyond the dump's {len(data) // peb} eraseblocks")
    total = (last + 1) * leb_size
    if total > ctx.budget.room():
        raise LimitExceeded(f"{where} is {total} bytes")
    ctx.budget.expand(total, where)
    out = bytearray(b"\xff") * total
    for lnum, entry in mapped.items():
        length = entry.data_size if entry.vol_type == 2 else leb_size
        chunk = data[entry.start:entry.start + min(length, leb_size)]
        if entry.vol_type == 2 and ubi_crc(chunk) != entry.data_crc:
            raise corrupt(f"{where}: LEB {lnum} of a static volume fails its data CRC")
        out[lnum * leb_size:lnum * leb_size + len(chunk)] = chunk
    return memoryview(out)

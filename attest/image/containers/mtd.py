"""A raw NAND/NOR dump, split into partitions by a Linux ``mtdparts`` string.

Grammar from Linux drivers/mtd/parsers/cmdlinepart.c:
``mtdparts=<mtd-id>:<size>[@<offset>][(<name>)][ro][lk][,...][;<mtd-id>:...]``, sizes in bytes
with an optional k/m/g suffix (or 0x hex), "-" for the rest of the device. A dump usually carries
its own string: U-Boot passes it in ``bootargs`` and keeps it in its environment (an S9's reads
``mtdparts=pl35x-nand:32m(BOOT.bin-env-dts-kernel),144m(angstram-rootfs),80m(upgrade-rootfs)``), so
the first ``mtdparts=`` in the dump's opening 64 MiB is taken unless the caller gives one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from attest.evidence import printable
from attest.image.containers.base import Context
from attest.image.limits import ImageFormatError
from attest.image.model import PARTITION, UNSIGNED, Child, FlashRegion
from attest.image.unsigned import data_summary, embedded_code, padding_only, report_unsigned

SEARCH_BYTES = 64 << 20
_SEARCH_SLICE = 4 << 20
_PART = re.compile(r"(?P<size>-|(?:0x[0-9a-fA-F]+|\d+)[kKmMgG]?)(?:@(?P<offset>(?:0x[0-9a-fA-F]+|\d+)[kKmMgG]?))?"
                   r"(?:\((?P<name>[^)]*)\))?(?:ro)?(?:lk)?$")
_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_MAX_PARTITIONS = 64


@dataclass(frozen=True)
class Partition:
    name: str
    offset: int
    size: int | None  # None: the rest of the device


def find_mtdparts(data: memoryview) -> str | None:
    for start in range(0, min(len(data), SEARCH_BYTES), _SEARCH_SLICE):  # slices: no 64 MiB copy
        found = _find_in(bytes(data[start:start + _SEARCH_SLICE + 4096]))
        if found is not None:
            return found
    return None


def _find_in(window: bytes) -> str | None:
    at = window.find(b"mtdparts=")
    while at >= 0:
        # printable ASCII without quotes: the string ends at a NUL, a space or erased flash (0xFF)
        raw = re.match(rb"mtdparts=([\x21\x23-\x26\x28-\x7e]+)", window[at:at + 4096])
        if raw:
            text = raw.group(1).decode("ascii", "replace")
            try:
                parse_mtdparts(text)
                return text
            except ValueError:
                pass
        at = window.find(b"mtdparts=", at + 9)
    return None


def _number(text: str) -> int:
    suffix = text[-1].lower()
    scale = _SUFFIX.get(suffix, 1)
    digits = text[:-1] if suffix in _SUFFIX else text
    return int(digits, 16 if digits.lower().startswith("0x") else 10) * scale


def parse_mtdparts(text: str) -> list[Partition]:
    """The first device's partitions; raises ValueError on anything the kernel would refuse."""
    text = text.removeprefix("mtdparts=")
    device = text.split(";", 1)[0]
    if ":" not in device:
        raise ValueError("no '<mtd-id>:' before the partitions")
    parts = device.split(":", 1)[1].split(",")
    if not parts or len(parts) > _MAX_PARTITIONS:
        raise ValueError("no partitions, or too many")
    out: list[Partition] = []
    cursor = 0
    for i, spec in enumerate(parts):
        m = _PART.match(spec)
        if not m:
            raise ValueError(f"partition {i} ({spec!r}) is not <size>[@offset][(name)]")
        offset = _number(m["offset"]) if m["offset"] else cursor
        size = None if m["size"] == "-" else _number(m["size"])
        if size is None and i != len(parts) - 1:
            raise ValueError("only the last partition may take the rest ('-')")
        out.append(Partition(m["name"] or f"mtd{i}", offset, size))
        cursor = offset + (size or 0)
    return out


def read_dump(ctx: Context, data: memoryview, path: str, mtdparts: str,
              signed_layouts: Sequence[str] = ()) -> Iterator[Child]:
    """Each partition, with what the signed layouts say of it (``FlashRegion``), and every byte no
    partition holds: a dump's own mtdparts string is the rig's, so a partition it adds or moves,
    and flash it leaves out, must not escape the check. Bytes outside every partition are a
    finding here (no signature can cover them); partitions are judged in ``appraise_image``,
    which knows which ones a signed image vouches for."""
    try:
        partitions = parse_mtdparts(mtdparts)
    except ValueError as e:
        raise ImageFormatError("IMAGE_CORRUPT", f"the mtdparts string cannot be used: {e}") from None
    signed = _signed_regions(signed_layouts, len(data))
    names: set[str] = set()
    covered: list[tuple[int, int]] = []
    for part in partitions:
        ctx.budget.entry(path or "the dump")
        ctx.budget.tick(part.name)
        name = printable(part.name, limit=64).replace("/", "_") or "unnamed"
        while name in names:
            name += "'"
        names.add(name)
        end = len(data) if part.size is None else part.offset + part.size
        if part.offset >= len(data) or end > len(data):
            ctx.finding("IMAGE_TRUNCATED", name, f"the partition declares bytes {part.offset}..{end} but the "
                        f"dump holds {len(data)}")
            continue
        covered.append((part.offset, end))
        body = data[part.offset:end]
        region = FlashRegion(listed=(part.name, part.offset, end) in signed, code=embedded_code(body) or "",
                             data="" if padding_only(body) else data_summary(body))
        yield Child(name, body, role=PARTITION, flash=region,
                    note=f"partition at {part.offset:#x}, {end - part.offset} bytes")
    for start, end in _gaps(covered, len(data)):
        where = f"(outside every partition, bytes {start:#x}..{end:#x})"
        gap = data[start:end]
        if padding_only(gap):
            continue
        report_unsigned(ctx.finding, where, f"{end - start} bytes no partition holds", gap)
        yield Child(where, gap, role=UNSIGNED, note="flash outside every partition")


def _signed_regions(layouts: Sequence[str], size: int) -> set[tuple[str, int, int]]:
    """(name, offset, end) of every partition a signed layout lists, for a device of ``size``."""
    out: set[tuple[str, int, int]] = set()
    for text in layouts:
        try:
            parts = parse_mtdparts(text)
        except ValueError:
            continue
        out.update((p.name, p.offset, size if p.size is None else p.offset + p.size) for p in parts)
    return out


def _gaps(covered: list[tuple[int, int]], size: int) -> Iterator[tuple[int, int]]:
    cursor = 0
    for start, end in sorted(covered):
        if start > cursor:
            yield cursor, start
        cursor = max(cursor, end)
    if cursor < size:
        yield cursor, size

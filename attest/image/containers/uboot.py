"""U-Boot images: the legacy uImage (a 64-byte header with CRC32s of itself and of its data) and
FIT (a flattened device tree whose /images nodes carry data and per-image hashes).

Layouts: U-Boot include/image.h (``image_header_t``; types and compression ids), U-Boot
doc/usage/fit/source_file_format.rst (FIT: ``data``, or ``data-offset``/``data-position`` with
``data-size`` for external data; ``hash-N`` nodes with ``algo`` and ``value``), and the Devicetree
Specification v0.4 chapter 5 (the flattened blob). The blob is walked with ``struct``: the ``fdt``
package types property bytes by guessing (words, strings), which cannot hand back a kernel's
exact bytes to hash.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from attest.evidence import printable
from attest.image.containers.base import Context, all_padding, corrupt, crc32, truncated, under
from attest.image.limits import ImageFormatError
from attest.image.model import LAYER, UNSIGNED, Child
from attest.image.unsigned import report_unsigned

_UIMAGE = struct.Struct(">IIIIIIIBBBB32s")
_TYPES = {1: "standalone", 2: "kernel", 3: "ramdisk", 4: "multi", 5: "firmware", 6: "script",
          7: "filesystem", 8: "flat_dt"}
_COMPRESSION = {0: "none", 1: "gzip", 2: "bzip2", 3: "lzma", 4: "lzo", 5: "lz4", 6: "zstd"}


def read_uimage(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    where = path or "the file"
    if len(data) < 64:
        raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: the uImage header is cut short")
    _magic, hcrc, _time, size, _load, _ep, dcrc, _os, _arch, kind, comp, raw_name = \
        _UIMAGE.unpack_from(data)
    header = bytearray(data[:64])
    header[4:8] = b"\0\0\0\0"
    name = printable(raw_name.rstrip(b"\0"), limit=32)
    if crc32(header) != hcrc:
        raise ImageFormatError("IMAGE_CHECKSUM_MISMATCH",
                               f"{where}: the uImage header CRC32 does not match (image '{name}')")
    if 64 + size > len(data):
        raise truncated(f"{where}: uImage '{name}'", size, len(data) - 64)
    payload = data[64:64 + size]
    if crc32(payload) != dcrc:
        raise ImageFormatError("IMAGE_CHECKSUM_MISMATCH", f"{where}: the uImage data CRC32 does not "
                               f"match (image '{name}', stored {dcrc:08x}, computed {crc32(payload):08x})")
    note = f"uImage {_TYPES.get(kind, kind)} '{name}', compression {_COMPRESSION.get(comp, comp)}"
    hint = "gzip" if comp == 1 else None
    if kind == 4:
        yield from _multi(payload, where, note)
    elif kind == 6 and len(payload) >= 8:  # a script image: u32 length, u32 0, then the script
        yield Child("(script)", payload[8:], role=LAYER, note=note)
    else:
        yield Child("", payload, role=LAYER, format=hint, note=note)
    rest = data[64 + size:]
    if rest and not all_padding(rest):  # no CRC or signature over the uImage covers these
        report_unsigned(ctx.finding, f"{where} (trailing data)", f"{len(rest)} bytes after the uImage", rest)
        yield Child("(trailing data)", rest, role=UNSIGNED, note="bytes after the uImage")


def _multi(payload: memoryview, where: str, note: str) -> Iterator[Child]:
    """A multi-file image: big-endian sizes, 0-terminated, then each image padded to 4 bytes."""
    sizes: list[int] = []
    pos = 0
    while True:
        if pos + 4 > len(payload):
            raise corrupt(f"{where}: the multi-file uImage's size list has no end")
        (n,) = struct.unpack_from(">I", payload, pos)
        pos += 4
        if n == 0:
            break
        sizes.append(n)
    for i, n in enumerate(sizes):
        if pos + n > len(payload):
            raise truncated(f"{where}: part {i} of the multi-file uImage", n, len(payload) - pos)
        yield Child(f"(part {i})", payload[pos:pos + n], role=LAYER, note=note)
        pos += (n + 3) & ~3


# --- flattened device tree and FIT ------------------------------------------------------------

_FDT_HEADER = struct.Struct(">10I")
_BEGIN_NODE, _END_NODE, _PROP, _NOP, _END = 1, 2, 3, 4, 9
_MAX_FDT_NODES = 10_000


@dataclass
class FdtNode:
    name: str
    props: dict[str, memoryview] = field(default_factory=dict)
    children: dict[str, FdtNode] = field(default_factory=dict)


def parse_fdt(data: memoryview, where: str) -> tuple[FdtNode, int]:
    """The tree and the blob's total size; raises ImageFormatError on anything malformed."""
    if len(data) < _FDT_HEADER.size:
        raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: the device tree header is cut short")
    _magic, total, off_struct, off_strings, _rsv, _ver, _last, _cpu, size_strings, size_struct = \
        _FDT_HEADER.unpack_from(data)
    if total > len(data):
        raise truncated(f"{where}: the device tree", total, len(data))
    if off_struct + size_struct > total or off_strings + size_strings > total:
        raise corrupt(f"{where}: the device tree's blocks lie outside it")
    strings = bytes(data[off_strings:off_strings + size_strings])
    pos, end = off_struct, off_struct + size_struct
    stack: list[FdtNode] = []
    root: FdtNode | None = None
    count = 0
    while pos + 4 <= end:
        (token,) = struct.unpack_from(">I", data, pos)
        pos += 4
        if token == _BEGIN_NODE:
            nul = bytes(data[pos:end]).find(b"\0")
            if nul < 0:
                raise corrupt(f"{where}: a device tree node name has no end")
            node = FdtNode(bytes(data[pos:pos + nul]).decode("utf-8", "replace"))
            pos = (pos + nul + 4) & ~3
            count += 1
            if count > _MAX_FDT_NODES:
                raise corrupt(f"{where}: the device tree has more than {_MAX_FDT_NODES} nodes")
            if stack:
                stack[-1].children[node.name] = node
            elif root is None:
                root = node
            else:
                raise corrupt(f"{where}: the device tree has two roots")
            stack.append(node)
        elif token == _END_NODE:
            if not stack:
                raise corrupt(f"{where}: the device tree closes a node it never opened")
            stack.pop()
        elif token == _PROP:
            if not stack or pos + 8 > end:
                raise corrupt(f"{where}: a device tree property is out of place")
            length, name_off = struct.unpack_from(">II", data, pos)
            pos += 8
            if pos + length > end or name_off >= len(strings):
                raise corrupt(f"{where}: a device tree property runs past its block")
            prop = strings[name_off:strings.index(b"\0", name_off)].decode("utf-8", "replace")
            stack[-1].props[prop] = data[pos:pos + length]
            pos = (pos + length + 3) & ~3
        elif token == _NOP:
            continue
        elif token == _END:
            break
        else:
            raise corrupt(f"{where}: unknown device tree token {token:#x}")
    if root is None or stack:
        raise corrupt(f"{where}: the device tree's structure is unbalanced")
    return root, total


def read_fdt(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    """A plain device tree has no children; a FIT hands back each image, after its hashes check."""
    where = path or "the file"
    root, total = parse_fdt(data, where)
    images = root.children.get("images")
    if images is None:
        return
    external_base = (total + 3) & ~3
    for name, node in images.children.items():
        body = _fit_data(node, data, external_base, f"{where}: FIT image {name}")
        for hname, hnode in node.children.items():
            if hname.startswith("hash"):
                _check_fit_hash(hnode, body, f"{where}: FIT image {printable(name, limit=64)} {hname}")
        kind = _text(node.props.get("type"))
        comp = _text(node.props.get("compression"))
        yield Child(name, body, role=LAYER, format="gzip" if comp == "gzip" else None,
                    note=f"FIT {kind or 'image'}, compression {comp or 'none'}")
        if any(n.startswith("signature") for n in node.children):
            ctx.finding("VENDOR_KEY_UNKNOWN", f"{under(where, name)}",
                        "the FIT image carries a U-Boot signature node; U-Boot verified-boot keys are not checked here")


def _fit_data(node: FdtNode, data: memoryview, external_base: int, where: str) -> memoryview:
    if "data" in node.props:
        return node.props["data"]
    size = _u32(node.props.get("data-size"))
    if size is None:
        raise corrupt(f"{where} has no data")
    offset = _u32(node.props.get("data-position"))
    if offset is None:
        rel = _u32(node.props.get("data-offset"))
        if rel is None:
            raise corrupt(f"{where} has no data")
        offset = external_base + rel
    if offset + size > len(data):
        raise truncated(where, size, max(0, len(data) - offset))
    return data[offset:offset + size]


_HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha384": hashlib.sha384,
           "sha512": hashlib.sha512, "md5": hashlib.md5}


def _check_fit_hash(node: FdtNode, body: memoryview, where: str) -> None:
    algo = _text(node.props.get("algo"))
    value = bytes(node.props.get("value", b""))
    if algo == "crc32":
        computed = struct.pack(">I", crc32(body))
    elif algo in _HASHES:
        computed = _HASHES[algo](body).digest()
    else:
        return  # an algorithm we cannot compute is not a mismatch
    if computed != value:
        raise ImageFormatError("IMAGE_CHECKSUM_MISMATCH",
                               f"{where}: the {algo} in the FIT does not match the image's data")


def _text(value: memoryview | None) -> str:
    return "" if value is None else printable(bytes(value).split(b"\0", 1)[0], limit=64)


def _u32(value: memoryview | None) -> int | None:
    if value is None or len(value) != 4:
        return None
    return struct.unpack(">I", value)[0]

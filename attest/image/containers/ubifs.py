"""UBIFS, the filesystem inside a UBI volume: walked from the master node through the index
B+tree to its inode, directory-entry and data nodes (``struct``; layout from Linux
fs/ubifs/ubifs-media.h, key format "simple": a 32-bit inode number, then 3 bits of key type and
29 bits of block number or name hash).

ubi-reader (GPL-3.0) reads UBIFS too, but it prints to stdout and may call ``sys.exit`` on bad
input, which neither a JSON-lines CLI nor a desktop app can have, and its licence would force the
whole Apache-2.0 bundle to GPL-3.0; this reader only ever reads nodes the index points at, checks
each node's CRC, refuses index loops, and caps every data block at UBIFS's 4 KiB.
Compression: none, LZO (lzallright, MIT) and zlib (raw deflate); others are reported.
"""

from __future__ import annotations

import stat
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from attest.evidence import printable
from attest.image.containers.base import Context, corrupt, under
from attest.image.containers.ubi import ubi_crc
from attest.image.limits import ImageFormatError, LimitExceeded
from attest.image.model import FILE, Child

MAGIC = 0x06101831
_CH = struct.Struct("<IIQIBB2x")
_INO, _DATA, _DENT, _XENT, _SB, _MST, _IDX = 0, 1, 2, 3, 6, 7, 9
BLOCK = 4096
_ROOT_INUM = 1
_KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFCHR: "device",
          stat.S_IFBLK: "device", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


@dataclass
class _Inode:
    mode: int
    size: int
    payload: bytes  # a symlink's target, a device's number


@dataclass
class _Tree:
    inodes: dict[int, _Inode] = field(default_factory=dict)
    dents: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    data: dict[int, dict[int, tuple[int, int, int]]] = field(default_factory=dict)  # inum -> block -> (pos, len, compr)
    bad_nodes: int = 0


class _Volume:
    def __init__(self, data: memoryview, where: str) -> None:
        self.data, self.where = data, where
        sb = self.node(0, 0)
        if sb is None or sb[0] != _SB:
            raise corrupt(f"{where}: no UBIFS superblock")
        body = sb[1]
        self.key_fmt = body[3]
        self.min_io, self.leb_size, self.leb_cnt = struct.unpack_from("<III", body, 8)
        self.default_compr = struct.unpack_from("<H", body, 60)[0]
        if self.key_fmt != 0 or not 4096 <= self.leb_size <= 4 << 20:
            raise corrupt(f"{where}: unsupported UBIFS superblock (key format {self.key_fmt}, LEB {self.leb_size})")

    def node(self, lnum: int, offs: int) -> tuple[int, memoryview, int] | None:
        """(type, body after the common header, absolute position) or None if no valid node."""
        leb = getattr(self, "leb_size", len(self.data))
        pos = lnum * leb + offs
        if offs < 0 or pos + _CH.size > len(self.data):
            return None
        magic, crc, _sq, length, ntype, _group = _CH.unpack_from(self.data, pos)
        if magic != MAGIC or length < _CH.size or offs + length > leb or pos + length > len(self.data):
            return None
        if ubi_crc(self.data[pos + 8:pos + length]) != crc:
            return None
        return ntype, self.data[pos + _CH.size:pos + length], pos

    def master(self) -> tuple[int, int]:
        best: tuple[int, int, int] | None = None
        for lnum in (1, 2):
            offs = 0
            while offs + _CH.size <= self.leb_size:
                pos = lnum * self.leb_size + offs
                if pos + _CH.size > len(self.data) or struct.unpack_from("<I", self.data, pos)[0] != MAGIC:
                    break
                found = self.node(lnum, offs)
                length = struct.unpack_from("<I", self.data, pos + 16)[0]
                if found and found[0] == _MST:
                    sqnum = struct.unpack_from("<Q", self.data, pos + 8)[0]
                    root_lnum, root_offs = struct.unpack_from("<II", found[1], 24)
                    if best is None or sqnum > best[0]:
                        best = (sqnum, root_lnum, root_offs)
                offs += max(8, (length + 7) & ~7)
        if best is None:
            raise corrupt(f"{self.where}: no valid UBIFS master node")
        return best[1], best[2]


def read_ubifs(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    where = path or "the file"
    volume = _Volume(data, where)
    tree = _walk_index(ctx, volume, *volume.master())
    if tree.bad_nodes:
        ctx.finding("IMAGE_CORRUPT", where, f"{tree.bad_nodes} UBIFS node(s) fail their CRC and were skipped")
    cache: dict[int, bytes] = {}
    seen_dirs = {_ROOT_INUM}
    stack: list[tuple[int, str]] = [(_ROOT_INUM, "")]
    while stack:
        parent, prefix = stack.pop()
        for name, inum in sorted(tree.dents.get(parent, [])):
            rel = prefix + name
            ctx.budget.entry(f"{under(where, rel)}")
            inode = tree.inodes.get(inum)
            if inode is None:
                ctx.finding("IMAGE_CORRUPT", f"{under(where, rel)}", "a directory entry points at a missing inode")
                continue
            kind = _KINDS.get(stat.S_IFMT(inode.mode), "file")
            if kind == "dir":
                if inum in seen_dirs:
                    raise ImageFormatError("IMAGE_NESTING_LOOP",
                                           f"{under(where, rel)}: a UBIFS directory contains itself")
                seen_dirs.add(inum)
                stack.append((inum, rel + "/"))
                yield Child(rel, None, role=FILE, kind="dir", mode=inode.mode)
            elif kind == "symlink":
                yield Child(rel, None, role=FILE, kind="symlink", mode=inode.mode,
                            link=inode.payload.decode("utf-8", "replace"))
            elif kind == "file":
                if inum not in cache:
                    cache[inum] = _file_bytes(ctx, volume, tree, inum, inode, f"{under(where, rel)}")
                yield Child(rel, cache[inum], role=FILE, mode=inode.mode)
            else:
                yield Child(rel, None, role=FILE, kind=kind, mode=inode.mode)


def _walk_index(ctx: Context, volume: _Volume, root_lnum: int, root_offs: int) -> _Tree:
    tree = _Tree()
    visited: set[tuple[int, int]] = set()
    stack = [(root_lnum, root_offs)]
    while stack:
        lnum, offs = stack.pop()
        ctx.budget.tick(volume.where)
        if (lnum, offs) in visited:
            raise ImageFormatError("IMAGE_NESTING_LOOP", f"{volume.where}: the UBIFS index points back into itself")
        visited.add((lnum, offs))
        found = volume.node(lnum, offs)
        if found is None or found[0] != _IDX:
            raise corrupt(f"{volume.where}: the UBIFS index node at LEB {lnum}:{offs} is damaged")
        body = found[1]
        count, level = struct.unpack_from("<HH", body, 0)
        for i in range(count):
            at = 4 + i * 20
            if at + 20 > len(body):
                raise corrupt(f"{volume.where}: a UBIFS index node lists more branches than it holds")
            b_lnum, b_offs, _len = struct.unpack_from("<III", body, at)
            if level > 0:
                stack.append((b_lnum, b_offs))
            else:
                ctx.budget.entry(volume.where)
                _leaf(volume, tree, b_lnum, b_offs)
    return tree


def _leaf(volume: _Volume, tree: _Tree, lnum: int, offs: int) -> None:
    found = volume.node(lnum, offs)
    if found is None:
        tree.bad_nodes += 1
        return
    ntype, body, pos = found
    inum, kb = struct.unpack_from("<II", body, 0)
    if ntype == _INO and len(body) >= 136:
        size, = struct.unpack_from("<Q", body, 24)
        mode, = struct.unpack_from("<I", body, 80)
        data_len, = struct.unpack_from("<I", body, 88)
        tree.inodes[inum] = _Inode(mode, size, bytes(body[136:136 + min(data_len, 4096)]))
    elif ntype == _DENT and len(body) >= 32:
        target, = struct.unpack_from("<Q", body, 16)
        nlen, = struct.unpack_from("<H", body, 26)
        name = printable(bytes(body[32:32 + nlen]), limit=255).replace("/", "_")
        if target and name not in (".", ".."):
            tree.dents.setdefault(inum, []).append((name, target))
    elif ntype == _DATA and len(body) >= 24:
        compr, = struct.unpack_from("<H", body, 20)
        block = kb & 0x1FFFFFFF
        tree.data.setdefault(inum, {})[block] = (pos + _CH.size + 24, len(body) - 24, compr)


def _file_bytes(ctx: Context, volume: _Volume, tree: _Tree, inum: int, inode: _Inode, where: str) -> bytes:
    if inode.size > ctx.budget.room():
        raise LimitExceeded(f"{where}: a file of {inode.size} bytes")
    ctx.budget.expand(inode.size, where)
    out = bytearray(inode.size)  # blocks with no data node are holes: zeros
    for block, (pos, length, compr) in tree.data.get(inum, {}).items():
        ctx.budget.tick(where)
        start = block * BLOCK
        if start >= inode.size:
            continue
        piece = _decompress(bytes(volume.data[pos:pos + length]), compr, where)
        piece = piece[:inode.size - start]
        out[start:start + len(piece)] = piece
    return bytes(out)


def _decompress(raw: bytes, compr: int, where: str) -> bytes:
    try:
        if compr == 0:
            out = raw
        elif compr == 1:
            import lzallright

            out = lzallright.LZOCompressor.decompress(raw, BLOCK)
        elif compr == 2:
            out = zlib.decompressobj(wbits=-15).decompress(raw, BLOCK + 1)
        else:
            raise ImageFormatError("IMAGE_FORMAT_UNKNOWN", f"{where}: UBIFS compression {compr} is not supported")
    except (zlib.error, ValueError) as e:
        raise corrupt(f"{where}: a UBIFS data block is damaged ({type(e).__name__})") from None
    except Exception as e:  # lzallright.LZOError: its type only exists once the module loads
        if type(e).__name__ != "LZOError":
            raise
        raise corrupt(f"{where}: a UBIFS data block is damaged (LZO)") from None
    if len(out) > BLOCK:
        raise corrupt(f"{where}: a UBIFS data block expands past {BLOCK} bytes")
    return out

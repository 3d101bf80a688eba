"""squashfs 4.0 (little-endian) through PySquashfsImage (LGPL-2.1), hardened for hostile input.

PySquashfsImage decompresses without an output cap and scans the whole directory tree when an image
is opened, recursively and with counts taken from the image. ``_BoundedImage`` keeps its on-disk
logic but replaces the three places a crafted image could make it hang or fill memory: every
decompressor is capped at the size the format allows (a metadata block is at most 8 KiB, a data
block at most the image's block size); a directory may list at most 256 entries per header (the
squashfs limit) and every entry is charged to the inspection's budget; and the tree scan refuses
loops and depth beyond ``_MAX_DEPTH``. The superblock is checked with ``struct`` first, so tables
that claim more than the file holds are refused before the library reads them.
Layout reference: squashfs-tools squashfs_fs.h, and the Linux kernel's
Documentation/filesystems/squashfs.rst.
"""

from __future__ import annotations

import lzma
import struct
import zlib
from collections.abc import Iterator
from ctypes import sizeof
from typing import Any

from PySquashfsImage import SquashFsImage
from PySquashfsImage.const import Type
from PySquashfsImage.file import Directory, filetype
from PySquashfsImage.structure import DirEntry, DirHeader

from attest.image.containers.base import Context, ViewReader, corrupt, truncated, under
from attest.image.limits import Budget, ImageFormatError, LimitExceeded
from attest.image.model import FILE, Child

_SUPER = struct.Struct("<IIIIIHHHHHHQQQQQQQQ")
_MAX_DEPTH = 64
_MAX_DIR_ENTRIES_PER_HEADER = 256
_COMPRESSORS = {1: "gzip", 2: "lzma", 3: "lzo", 4: "xz", 5: "lz4", 6: "zstd"}


class _CappedCompressor:
    """Decompress one squashfs block, never producing more than the format allows."""

    def __init__(self, compression_id: int) -> None:
        self.kind = compression_id

    def uncompress(self, src: bytes, size: int, outsize: int) -> bytes:
        try:
            out = self._uncompress(src, outsize)
        except (zlib.error, lzma.LZMAError) as e:
            raise corrupt(f"a squashfs block does not decompress ({e})") from None
        if len(out) > outsize:
            raise corrupt(f"a squashfs block expands past its {outsize}-byte size")
        return out

    def _uncompress(self, src: bytes, outsize: int) -> bytes:
        if self.kind == 1:
            return zlib.decompressobj().decompress(src, outsize + 1)
        if self.kind == 4:
            return lzma.LZMADecompressor().decompress(src, max_length=outsize + 1)
        if self.kind == 3:
            import lzallright

            return lzallright.LZOCompressor.decompress(src, outsize)
        raise ImageFormatError("IMAGE_FORMAT_UNKNOWN",
                               f"squashfs compression {_COMPRESSORS.get(self.kind, self.kind)} is not supported")


class _BoundedImage(SquashFsImage):  # type: ignore[misc]
    def __init__(self, view: memoryview, budget: Budget, where: str) -> None:
        self._budget = budget
        self._where = where
        self._open_dirs: set[tuple[int, int]] = set()
        super().__init__(ViewReader(view), offset=0, closefd=False)

    def _get_compressor(self, compression_id: int) -> _CappedCompressor:
        return _CappedCompressor(compression_id)

    def _opendir(self, block_start: int, offset: int) -> Any:
        # unsquash-4.c squashfs_opendir, as PySquashfsImage reads it, with counts bounded.
        inode = self._read_inode(block_start, offset)
        directory = Directory(self, inode)
        directory.entries = []
        start = self._sblk.directory_table_start + inode.start
        offset, size, done = inode.offset, inode.data - 3, 0
        while done < size:
            ddata, start, offset = self._read_directory_data(start, offset, sizeof(DirHeader))
            header = DirHeader.from_bytes(ddata)
            done += sizeof(DirHeader)
            if header.count + 1 > _MAX_DIR_ENTRIES_PER_HEADER:
                raise corrupt(f"{self._where}: a squashfs directory header lists {header.count + 1} entries")
            for _ in range(header.count + 1):
                ddata, start, offset = self._read_directory_data(start, offset, sizeof(DirEntry))
                entry = DirEntry.from_bytes(ddata)
                ddata, start, offset = self._read_directory_data(start, offset, entry.size + 1)
                done += sizeof(DirEntry) + entry.size + 1
                self._budget.entry(self._where)
                directory.entries.append({"name": ddata, "start_block": header.start_block,
                                          "offset": entry.offset, "type": entry.type})
        return directory

    def _dir_scan(self, start_block: int, offset: int, depth: int = 0) -> Any:
        key = (start_block, offset)
        if key in self._open_dirs or depth > _MAX_DEPTH:
            raise ImageFormatError("IMAGE_NESTING_LOOP", f"{self._where}: a squashfs directory contains "
                                   "itself (or nests deeper than any real image)")
        self._open_dirs.add(key)
        directory = self._opendir(start_block, offset)
        for entry in directory.entries:
            if entry["type"] == Type.DIR:
                sub = self._dir_scan(entry["start_block"], entry["offset"], depth + 1)
                sub._parent, sub._name = directory, entry["name"]
                directory.children[sub.name] = sub
            else:
                inode = self._read_inode(entry["start_block"], entry["offset"])
                cls = filetype.get(entry["type"])
                if cls is None:
                    raise corrupt(f"{self._where}: unknown squashfs entry type {entry['type']}")
                file = cls(self, inode, entry["name"], directory)
                directory.children[file.name] = file
        del directory.entries
        self._open_dirs.discard(key)
        return directory


def _check_superblock(data: memoryview, budget: Budget, where: str) -> None:
    if len(data) < _SUPER.size:
        raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: the squashfs superblock is cut short")
    (_magic, inodes, _time, block_size, fragments, comp, block_log, _flags, _ids, major, minor,
     _root, bytes_used, *tables) = _SUPER.unpack_from(data)
    if (major, minor) != (4, 0):
        raise corrupt(f"{where}: squashfs version {major}.{minor} is not 4.0")
    if bytes_used > len(data):
        raise truncated(f"{where}: the squashfs image", bytes_used, len(data))
    if block_size != 1 << block_log or not 4096 <= block_size <= 1 << 20:
        raise corrupt(f"{where}: the squashfs block size {block_size} is not valid")
    if fragments > inodes or inodes > budget.limits.max_entries:
        raise LimitExceeded(f"{where}: the squashfs image declares {inodes} inodes")
    if comp not in _COMPRESSORS:
        raise corrupt(f"{where}: unknown squashfs compression {comp}")
    if any(t != 0xFFFFFFFFFFFFFFFF and t > bytes_used for t in tables):
        raise corrupt(f"{where}: a squashfs table lies outside the image")


def read_squashfs(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    where = path or "the file"
    _check_superblock(data, ctx.budget, where)
    try:
        image = _BoundedImage(data, ctx.budget, where)
        stack: list[tuple[str, Any]] = [("", image.root)]
        while stack:
            prefix, directory = stack.pop()
            ctx.budget.tick(under(where, prefix))
            for name, entry in directory.children.items():
                rel = f"{prefix}{name}"
                yield _child(ctx, image, rel, entry, where)
                if entry.is_dir:
                    stack.append((rel + "/", entry))
    except (struct.error, IndexError, KeyError, ValueError, OSError, RecursionError) as e:
        raise corrupt(f"{where}: the squashfs image is damaged ({type(e).__name__})") from None
    finally:
        SquashFsImage._read_data_block.cache_clear()  # the library's cache holds images alive


def _child(ctx: Context, image: _BoundedImage, rel: str, entry: Any, where: str) -> Child:
    mode = entry.inode.mode  # the library folds the inode type into it, as stat() would
    if entry.is_dir:
        return Child(rel, None, role=FILE, kind="dir", mode=mode)
    if entry.is_symlink:
        return Child(rel, None, role=FILE, kind="symlink", mode=mode,
                     link=bytes(entry.inode.symlink).decode("utf-8", "replace"))
    if entry.is_file:
        size = entry.inode.data
        if size > ctx.budget.room():
            raise LimitExceeded(f"{under(where, rel)}: a file of {size} bytes")
        out = bytearray()
        for block in image.iter_file(entry.inode):
            ctx.budget.tick(under(where, rel))
            out += block
            if len(out) > size:
                raise corrupt(f"{under(where, rel)}: the file's blocks hold more than its size")
        ctx.budget.expand(len(out), f"{under(where, rel)}")
        return Child(rel, bytes(out), role=FILE, mode=mode)
    kind = "device" if (entry.is_char_device or entry.is_block_device) else "fifo" if entry.is_fifo else "socket"
    return Child(rel, None, role=FILE, kind=kind, mode=mode)

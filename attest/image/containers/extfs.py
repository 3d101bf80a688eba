"""ext2/ext3/ext4 images (Bitmain's ramdisks are ext2) through ext2py (MIT), read-only.

ext2py reads lazily, but trusts sizes: a directory or file inode claiming terabytes of holes
would be read as zeros, and a superblock whose ``s_log_block_size`` is 0xFFFFFFFF makes its block
size ``1024 << 4294967295``, a 512 MB integer, before anything is read (a 1 KB gzip cost 4.9 GB).
So the superblock's geometry is checked first, against the limits Linux's ext4_fill_super sets
and the size of the image, every other size is checked against the budget before ext2py reads
it, the walk keeps its own set of directories already entered (an entry pointing back up is a
loop, not a tree), and every entry is charged to the budget. Layout reference: docs.kernel.org
filesystems/ext4 (the format ext2py implements).
"""

from __future__ import annotations

import errno
import stat
import struct
from collections.abc import Iterator

from ext2py.reader import ExtError, ExtFS

from attest.image.containers.base import Context, ViewReader, corrupt, under
from attest.image.limits import ImageFormatError, LimitExceeded
from attest.image.model import FILE, Child

_MAX_DIR_BYTES = 16 << 20
_MAX_LINK_BYTES = 4096
_MAX_LOG_BLOCK_SIZE = 6  # 64 KiB blocks: the largest Linux mounts (EXT4_MAX_BLOCK_LOG_SIZE - 10)
_INCOMPAT_64BIT = 0x80
_KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFCHR: "device",
          stat.S_IFBLK: "device", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


def read_ext(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    where = path or "the file"
    check_geometry(data, where)
    try:
        fs = ExtFS(ViewReader(data))
        yield from _walk(ctx, fs, where)
    except ExtError as e:
        raise corrupt(f"{where}: the ext filesystem is damaged ({e})") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ImageFormatError("IMAGE_NESTING_LOOP", f"{where}: links in the ext filesystem loop") from None
        raise corrupt(f"{where}: the ext filesystem is damaged ({e.strerror or e})") from None
    except (ValueError, IndexError, KeyError, RecursionError) as e:
        raise corrupt(f"{where}: the ext filesystem is damaged ({type(e).__name__})") from None


def check_geometry(data: memoryview, where: str) -> None:
    """Refuse a superblock whose sizes no Linux would mount or the image cannot hold, before any
    of them is used to compute or allocate anything."""
    raw = bytes(data[1024:2048])
    if len(raw) < 1024:
        raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: the ext superblock is cut short")
    inodes, blocks_lo, _, _, _, first_data, log_block, _, per_group, _, inodes_per_group = \
        struct.unpack_from("<11I", raw, 0)
    rev, = struct.unpack_from("<I", raw, 76)
    inode_size, = struct.unpack_from("<H", raw, 88)
    incompat, = struct.unpack_from("<I", raw, 96)
    desc_size, = struct.unpack_from("<H", raw, 254)
    blocks_hi, = struct.unpack_from("<I", raw, 336)
    bad = _bad_geometry(log_block, per_group, inodes_per_group, rev, inode_size, incompat, desc_size)
    if bad:
        raise corrupt(f"{where}: the ext superblock {bad}")
    block_size = 1024 << log_block
    blocks = blocks_lo | (blocks_hi << 32 if incompat & _INCOMPAT_64BIT else 0)
    if not first_data < blocks or blocks > len(data) // block_size + 1:
        raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: the ext superblock declares {blocks} blocks of "
                               f"{block_size} bytes, but the image holds {len(data)} bytes")
    groups = -(-(blocks - first_data) // per_group)
    if inodes > groups * inodes_per_group:
        raise corrupt(f"{where}: the ext superblock declares {inodes} inodes, more than its groups hold")


def _bad_geometry(log_block: int, per_group: int, inodes_per_group: int, rev: int, inode_size: int,
                  incompat: int, desc_size: int) -> str:
    if log_block > _MAX_LOG_BLOCK_SIZE:
        return f"declares a block size of 1024 << {log_block} bytes (Linux mounts at most 64 KiB)"
    block_size = 1024 << log_block
    if not 0 < per_group <= 8 * block_size or not 0 < inodes_per_group <= 8 * block_size:
        return "declares impossible group sizes"
    if rev >= 1 and (inode_size < 128 or inode_size > block_size or inode_size & (inode_size - 1)):
        return f"declares an inode size of {inode_size} bytes"
    if incompat & _INCOMPAT_64BIT and desc_size and (desc_size < 32 or desc_size > 1024
                                                     or desc_size & (desc_size - 1)):
        return f"declares a group descriptor size of {desc_size} bytes"
    return ""


def _walk(ctx: Context, fs: ExtFS, where: str) -> Iterator[Child]:
    entered = {2}  # the root directory's inode number
    stack = [("", 2)]
    while stack:
        prefix, ino = stack.pop()
        if fs.inode(ino).size > _MAX_DIR_BYTES:
            raise LimitExceeded(f"{under(where, prefix)}: a directory of {fs.inode(ino).size} bytes")
        for entry in fs._dir_entries(ino):  # by inode number: a path walk would follow the loop
            if entry.name in (".", "..") or entry.inode == 0:
                continue
            rel = prefix + entry.name.replace("/", "_")
            ctx.budget.entry(f"{under(where, rel)}")
            inode = fs.inode(entry.inode)
            kind = _KINDS.get(stat.S_IFMT(inode.mode), "file")
            if kind == "dir":
                if entry.inode in entered:
                    raise ImageFormatError("IMAGE_NESTING_LOOP",
                                           f"{under(where, rel)}: an ext directory contains itself")
                entered.add(entry.inode)
                stack.append((rel + "/", entry.inode))
                yield Child(rel, None, role=FILE, kind="dir", mode=inode.mode)
            elif kind == "symlink":
                if inode.size > _MAX_LINK_BYTES:
                    raise corrupt(f"{under(where, rel)}: a symbolic link of {inode.size} bytes")
                yield Child(rel, None, role=FILE, kind="symlink", mode=inode.mode,
                            link=fs._readlink(inode).decode("utf-8", "replace"))
            elif kind == "file":
                if inode.size > ctx.budget.room():
                    raise LimitExceeded(f"{under(where, rel)}: a file of {inode.size} bytes")
                ctx.budget.expand(inode.size, f"{under(where, rel)}")
                yield Child(rel, fs.read_inode_data(inode), role=FILE, mode=inode.mode)
            else:
                yield Child(rel, None, role=FILE, kind=kind, mode=inode.mode)

"""ext2/ext3/ext4 images (Bitmain's ramdisks are ext2) through ext2py (MIT), read-only.

ext2py reads lazily, but trusts sizes: a directory or file inode claiming terabytes of holes
would be read as zeros. Every size is checked against the budget before ext2py reads it, the walk
keeps its own set of directories already entered (an entry pointing back up is a loop, not a
tree), and every entry is charged to the budget. Layout reference: docs.kernel.org
filesystems/ext4 (the format ext2py implements).
"""

from __future__ import annotations

import errno
import stat
from collections.abc import Iterator

from ext2py.reader import ExtError, ExtFS

from attest.image.containers.base import Context, ViewReader, corrupt, under
from attest.image.limits import ImageFormatError, LimitExceeded
from attest.image.model import FILE, Child

_MAX_DIR_BYTES = 16 << 20
_MAX_LINK_BYTES = 4096
_KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFCHR: "device",
          stat.S_IFBLK: "device", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


def read_ext(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    where = path or "the file"
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

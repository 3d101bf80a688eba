"""The container readers by format name, listed explicitly (no import-time registration).

Each reader is ``read(ctx, data, path) -> Iterator[Child]``: it yields the entries of one
container from bytes already in memory (or a view of the mapped file), charges what it expands to
``ctx.budget``, and raises ``ImageFormatError`` when the container is damaged or hostile.
"""


from __future__ import annotations

from collections.abc import Callable, Iterator

from attest.image import bitmain, canaan
from attest.image.containers import archive, compressed, extfs, squashfs, ubi, ubifs, uboot
from attest.image.containers.base import Context
from attest.image.model import Child

Reader = Callable[[Context, memoryview, str], Iterator[Child]]

READERS: dict[str, Reader] = {
    "gzip": compressed.read_gzip,
    "xz": compressed.read_xz,
    "tar": archive.read_tar,
    "cpio": archive.read_cpio,
    "uimage": uboot.read_uimage,
    "fdt": uboot.read_fdt,
    "squashfs": squashfs.read_squashfs,
    "ubi": ubi.read_ubi,
    "ubifs": ubifs.read_ubifs,
    "ext": extfs.read_ext,
    "bitmain-bmu": bitmain.read_bmu,
    "bitmain-merge": bitmain.read_merge,
    "canaan-aup": canaan.read_aup,
}

__all__ = ["READERS", "Context", "Reader"]

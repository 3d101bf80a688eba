"""What a run of bytes is, from its magic numbers alone: names are never trusted.

Sources for each magic: tar (POSIX ustar, offset 257), gzip (RFC 1952), xz (.xz file format 1.1),
cpio (cpio(5): "070701" newc, "070702" newc+crc, "070707" portable ASCII), U-Boot legacy uImage
(U-Boot include/image.h, IH_MAGIC 0x27051956), flattened device tree / FIT (devicetree
specification, 0xd00dfeed), squashfs 4 ("hsqs"), UBI ("UBI#" erase-counter header) and UBIFS
(node magic 0x06101831) from Linux's ubi-media.h and ubifs-media.h, ext2/3/4 (superblock magic
0xEF53 at 1080), Zynq-7000 BOOT.bin (Xilinx UG585 boot header: 0xAA995566 at 0x20, "XNLX" at 0x24),
ELF. The Bitmain and Canaan formats are recognised by their own modules.
"""

from __future__ import annotations

import struct

from attest.image import bitmain, canaan

#: Formats that are update packages: their members are judged one by one.
PACKAGE_FORMATS = frozenset({"tar", "bitmain-bmu", "bitmain-merge", "canaan-aup"})
#: Formats that are flashable images: judged by their own digest.
IMAGE_FORMATS = frozenset({"uimage", "fdt", "squashfs", "ubi", "ubifs", "ext", "cpio", "zynq-boot"})
COMPRESSED_FORMATS = frozenset({"gzip", "xz"})

_AT_ZERO = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"070701", "cpio"),
    (b"070702", "cpio"),
    (b"070707", "cpio"),
    (b"\x27\x05\x19\x56", "uimage"),
    (b"\xd0\x0d\xfe\xed", "fdt"),
    (b"hsqs", "squashfs"),
    (b"sqsh", "squashfs-be"),
    (b"UBI#", "ubi"),
    (b"\x31\x18\x10\x06", "ubifs"),
    (b"\x7fELF", "elf"),
)


def detect(data: bytes | memoryview) -> str | None:
    """The format name, or None for bytes no reader knows (a script, a binary, an erased block)."""
    head = bytes(data[:2048])
    for magic, name in _AT_ZERO:
        if head.startswith(magic):
            return name
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if bitmain.looks_like_bmu(data):
        return "bitmain-bmu"
    if head.startswith(bitmain.MERGE_MAGIC):
        return "bitmain-merge"
    if head.startswith(canaan.AUP_MAGIC):
        return "canaan-aup"
    if len(head) >= 0x28 and struct.unpack_from("<I", head, 0x20)[0] == 0xAA995566 and head[0x24:0x28] == b"XNLX":
        return "zynq-boot"
    if len(data) >= 1082 and bytes(data[1080:1082]) == b"\x53\xef":
        return "ext"
    return None

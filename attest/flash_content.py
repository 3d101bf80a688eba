"""What a flash partition's bytes hold, told by the station as they stream past: code, a filesystem,
data, or nothing (erased).

Why: a partition that no signed release lists, or one the rig rewrites itself (config, env,
data, reserve*), is covered by no digest in the manifest, and such a partition was once simply
skipped: an ELF in ``upgrade-rootfs`` or a script in the boot environment left the rig TRUSTED.
The station cannot vouch for those bytes, but it can say whether they could run: code or a
filesystem (which can hold code) where no signature covers it is FIRMWARE_UNSIGNED_CONTENT;
other bytes are FIRMWARE_UNSIGNED_DATA (appraisal decides; this module only reports).

Bounded on purpose, because the bytes come from the adversary and every rig streams at once:
memory is one block plus a look-ahead per partition (and the first ``ENV_KEEP`` bytes, for a U-Boot
environment), and time is linear, a few ``bytes.find`` and one dictionary lookup per 4 KiB. The
signals, each at the absolute offset it was seen (docs/assurance.md lists them for people):

* code, anywhere: an ELF header (``\\x7fELF`` with a valid class, byte order and version: seven
  fixed bytes, about one chance in 2**40 per offset of random data); a script (``#!/path`` at the
  partition's start or right after a newline or NUL); a legacy U-Boot image (kernel, ramdisk,
  script: magic and a header CRC that checks);
* code, at a 4 KiB boundary: a flattened device tree / FIT image (what the bootloader boots);
* a filesystem or compressed stream, at a 4 KiB boundary: squashfs, cramfs, ext2/3/4, UBI,
  UBIFS, JFFS2, cpio, gzip, xz, zstd. Its contents are not opened on a live rig (a flash dump
  attached to the unit is opened in full by ``attest image``);
* a U-Boot environment (CRC-checked, at the start): its boot commands are judged by
  attest.uboot_env; one that fetches or runs code from outside the signed images is code.

What it does not see: code inside a compressed filesystem, and a script without a ``#!`` line in
a filesystem that stores it uncompressed. That is why a filesystem where no signature covers it
counts as content, never as data.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

from attest.uboot_env import judge_environment, parse_environment

#: Partitions a running rig rewrites (settings, logs, its saved boot environment): no release can
#: list their digest, so they are checked for code instead (see ``is_mutable``).
MUTABLE_PARTITIONS = frozenset({"config", "configs", "data", "env", "u-boot-env", "uboot-env"})
MUTABLE_PREFIX = "reserve"

CODE = "code"
FILESYSTEM = "filesystem"
DATA = "data"
ERASED = "erased"
KINDS = (CODE, FILESYSTEM, DATA, ERASED)

#: Bytes scanned at a time, and how far past a block a signal that starts in it may reach.
BLOCK = 64 * 1024
LOOKAHEAD = 2048
ALIGN = 4096
#: The start of each partition kept for a U-Boot environment (real ones are 8-128 KiB).
ENV_KEEP = 256 * 1024
#: Signals named per partition; past this the rest are counted, not listed.
MAX_SIGNALS = 4

_FS_MAGIC: dict[bytes, str] = {
    b"hsqs": "squashfs", b"sqsh": "squashfs (big-endian)", b"E=\xcd(": "cramfs", b"(\xcd=E": "cramfs",
    b"UBI#": "UBI", b"\x31\x18\x10\x06": "UBIFS",
    b"\x85\x19\x01\xe0": "JFFS2", b"\x85\x19\x02\xe0": "JFFS2", b"\x85\x19\x03\x20": "JFFS2",
    b"\x19\x85\xe0\x01": "JFFS2", b"\x19\x85\xe0\x02": "JFFS2", b"\x19\x85\x20\x03": "JFFS2",
    b"0707": "cpio", b"\xfd7zX": "xz", b"(\xb5/\xfd": "zstd", b"\xd0\x0d\xfe\xed": "fdt",
}
_SHEBANG = re.compile(rb"#!/[A-Za-z0-9_./+-]{1,80}(?:[ \t][^\n\x00]{0,80})?\n")
_UIMAGE_MAGIC = b"\x27\x05\x19\x56"
_UIMAGE_TYPES = {1: "standalone program", 2: "kernel", 3: "ramdisk", 4: "multi-file image", 5: "firmware",
                 6: "script", 7: "filesystem", 8: "flat device tree"}


def is_mutable(name: str) -> bool:
    """A partition the rig rewrites: checked for code, never judged by digest."""
    lowered = name.lower()
    return lowered in MUTABLE_PARTITIONS or lowered.startswith(MUTABLE_PREFIX)


@dataclass(frozen=True)
class Content:
    """What a partition holds: ``kind`` one of KINDS, ``detail`` plain text saying where and why."""

    kind: str
    detail: str = ""

    @property
    def text(self) -> str:
        """The claim value: ``kind`` or ``kind: detail``."""
        return f"{self.kind}: {self.detail}" if self.detail else self.kind

    @classmethod
    def parse(cls, text: str) -> Content | None:
        """A claim value back into a Content; None for anything this module did not write."""
        kind, _, detail = text.partition(": ")
        return cls(kind, detail) if kind in KINDS else None


@dataclass
class ContentScanner:
    """Feed a partition's bytes in order, any chunk size; ``finish`` says what they hold."""

    code: list[str] = field(default_factory=list)
    filesystems: list[str] = field(default_factory=list)
    more: int = 0
    size: int = 0
    _buffer: bytearray = field(default_factory=bytearray)
    _base: int = 0  # offset of _buffer[0] in the partition
    _before: int = 0x0A  # the byte before _buffer[0] (a newline at the start: a script may begin there)
    _head: bytearray = field(default_factory=bytearray)
    _blank: set[int] = field(default_factory=lambda: {0x00, 0xFF})  # what every byte so far could be
    _env_note: str = ""  # a clean U-Boot environment, said in the data detail

    def feed(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if len(self._head) < ENV_KEEP:
            self._head += data[: ENV_KEEP - len(self._head)]
        self._buffer += data
        while len(self._buffer) >= BLOCK + LOOKAHEAD:
            self._scan(BLOCK)
            self._before = self._buffer[BLOCK - 1]
            del self._buffer[:BLOCK]
            self._base += BLOCK

    def finish(self) -> Content:
        self._scan(len(self._buffer))
        self._buffer.clear()
        self._environment()
        listed = self.code[:MAX_SIGNALS] or self.filesystems[:MAX_SIGNALS]
        extra = len(self.code) + len(self.filesystems) - len(listed) + self.more
        detail = "; ".join(listed) + (f"; and {extra} more" if extra > 0 and listed else "")
        if self.code:
            return Content(CODE, detail)
        if self.filesystems:
            return Content(FILESYSTEM, detail)
        if self._blank and self.size:
            return Content(ERASED, f"every byte is 0x{min(self._blank):02X}")
        return Content(DATA, self._env_note)

    # --- the signals ---------------------------------------------------------------------------

    def _note(self, into: list[str], text: str) -> None:
        if len(into) < MAX_SIGNALS:
            into.append(text)
        else:
            self.more += 1

    def _scan(self, limit: int) -> None:
        view = bytes(self._buffer)
        if self._blank:
            block = view[:limit]
            self._blank = {b for b in self._blank if block.count(b) == len(block)}
            if self._blank:
                return  # blank bytes hold no signal
        self._elf(view, limit)
        self._scripts(view, limit)
        self._uimages(view, limit)
        self._aligned(view, limit)

    def _elf(self, view: bytes, limit: int) -> None:
        at = view.find(b"\x7fELF")
        while 0 <= at < limit:
            header = view[at + 4:at + 7]
            if len(header) == 3 and header[0] in (1, 2) and header[1] in (1, 2) and header[2] == 1:
                bits = 32 if header[0] == 1 else 64
                self._note(self.code, f"an ELF executable ({bits}-bit) at offset {self._base + at:#x}")
            at = view.find(b"\x7fELF", at + 1)

    def _scripts(self, view: bytes, limit: int) -> None:
        at = view.find(b"#!/")
        while 0 <= at < limit:
            before = view[at - 1] if at else self._before
            if before in (0x0A, 0x00) and (match := _SHEBANG.match(view, at)):
                line = match[0].rstrip(b"\n").decode("ascii", "replace")
                self._note(self.code, f"a script ({line}) at offset {self._base + at:#x}")
            at = view.find(b"#!/", at + 1)

    def _uimages(self, view: bytes, limit: int) -> None:
        at = view.find(_UIMAGE_MAGIC)
        while 0 <= at < limit:
            header = view[at:at + 64]
            if len(header) == 64:
                stored = int.from_bytes(header[4:8], "big")
                if zlib.crc32(header[:4] + bytes(4) + header[8:]) == stored:
                    kind = _UIMAGE_TYPES.get(header[30], f"type {header[30]}")
                    name = header[32:64].split(b"\x00", 1)[0].decode("ascii", "replace")[:32]
                    named = f" '{''.join(c if c.isprintable() else '?' for c in name)}'" if name else ""
                    self._note(self.code, f"a U-Boot {kind} image{named} at offset {self._base + at:#x}")
            at = view.find(_UIMAGE_MAGIC, at + 1)

    def _aligned(self, view: bytes, limit: int) -> None:
        start = -self._base % ALIGN
        for at in range(start, limit, ALIGN):
            head = view[at:at + 8]
            name = _FS_MAGIC.get(head[:4])
            if name == "cpio" and head[4:6] not in (b"01", b"02"):
                name = None
            if name is None and head[:3] == b"\x1f\x8b\x08" and len(head) == 8 and head[3] < 0x20:
                name = "gzip"
            if name is None and view[at + 1080:at + 1082] == b"\x53\xef" and self._base + at == 0:
                name = "ext2/3/4"
            if name == "fdt":
                size = int.from_bytes(head[4:8], "big") if len(head) == 8 else 0
                if 0x40 <= size <= 64 << 20:
                    self._note(self.code, f"a device tree or FIT image ({size} bytes) at offset {self._base + at:#x}")
            elif name is not None:
                self._note(self.filesystems, f"a {name} image at offset {self._base + at:#x}")

    def _environment(self) -> None:
        env = parse_environment(bytes(self._head))
        if env is None:
            return
        found = judge_environment(env.variables)
        if found:
            self._note(self.code, "U-Boot environment: " + "; ".join(found))
        else:
            self._env_note = f"a U-Boot environment ({len(env.variables)} variables; its boot commands read only flash)"


def classify(data: bytes | memoryview) -> Content:
    """What ``data`` holds (a partition already in memory: a flash dump's)."""
    scanner = ContentScanner()
    view = memoryview(data)
    for start in range(0, len(view), BLOCK):
        scanner.feed(view[start:start + BLOCK])
    return scanner.finish()

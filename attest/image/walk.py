"""The bounded recursion: open a file by content, hash every layer, follow every container.

One ``Inspector`` per file. It maps the file read-only (a 256 MB flash dump is never copied), hands
each layer to the reader its magic bytes pick (``readers.READERS``), and builds the ``Node`` tree
that ``appraise_image`` judges. Three things keep a hostile file from hanging or exhausting us:
the ``Budget`` every reader charges, the depth cap, and the digests of the layers above (a layer
whose bytes equal an ancestor's is a container that holds itself: followed once, never again).

A reader that fails ends its own branch with a reason; the rest of the file is still checked. A
cap that is reached ends the whole inspection, because what is left is unbounded.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from attest.evidence import printable
from attest.image import audit
from attest.image.containers import mtd
from attest.image.detect import COMPRESSED_FORMATS, IMAGE_FORMATS, PACKAGE_FORMATS, detect
from attest.image.limits import Budget, ImageFormatError, LimitExceeded, Limits
from attest.image.model import (
    FILE,
    IMAGE,
    LAYER,
    MEMBER,
    PACKAGE,
    PARTITION,
    TOP,
    Child,
    Finding,
    Inspection,
    Node,
    VendorSignature,
    join,
)
from attest.image.readers import READERS
from attest.indicators import Indicator, default_indicators

if TYPE_CHECKING:
    from attest.trust import TrustStore

log = logging.getLogger(__name__)

#: Formats whose entries are files of a filesystem (audited, never judged by digest).
_FILESYSTEMS = frozenset({"squashfs", "ubifs", "ext", "cpio"})
#: Roles judged against the manifest; everything below a filesystem is demoted to FILE/LAYER.
_JUDGED = frozenset({IMAGE, PARTITION, MEMBER, PACKAGE})
_HASH_SLICE = 32 << 20
_RELEASE_AFTER = 4 << 20


class Inspector:
    """The ``Context`` every reader works for (see ``containers.base.Context``)."""

    def __init__(self, trust: TrustStore | None, anchor: Path, limits: Limits,
                 indicators: tuple[Indicator, ...], clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = Budget(limits, clock=clock)
        self.trust = trust
        self.anchor = anchor
        self.indicators = indicators
        self.findings: list[Finding] = []
        self.signatures: list[VendorSignature] = []
        self._per_code: Counter[str] = Counter()
        self.release: Callable[[], None] = lambda: None  # drop the mapped file's resident pages
        self.layouts: Sequence[str] = ()  # the signed releases' flash layouts (mtdparts)
        self.progress: Callable[[str], None] = lambda where: None  # told each layer entered

    def finding(self, code: str, path: str, detail: str, *, expected: str | None = None,
                found: str | None = None) -> None:
        self._per_code[code] += 1
        cap = self.budget.limits.max_findings_per_code
        if self._per_code[code] <= cap:
            self.findings.append(Finding(code, path, detail, expected, found))
        elif self._per_code[code] == cap + 1:
            self.findings.append(Finding(code, path, f"more than {cap} findings of this kind; the rest are not listed"))

    def signature(self, signature: VendorSignature) -> None:
        self.signatures.append(signature)

    # --- the recursion --------------------------------------------------------------------------

    def walk(self, node: Node, data: memoryview, *, depth: int, ancestors: frozenset[str],
             fmt: str | None, in_fs: bool, mtdparts: str | None = None) -> None:
        """Fill ``node`` (already hashed) with what ``data`` holds."""
        if mtdparts is not None:
            node.format = "flash-dump"
            self._descend(node, data, lambda: mtd.read_dump(self, data, node.path, mtdparts, self.layouts),
                          depth=depth, ancestors=ancestors, fs=False, in_fs=in_fs)
            return
        node.format = fmt
        reader = READERS.get(fmt or "")
        if reader is None:
            if fmt == "squashfs-be":
                where = node.path or "the file"
                self._stop(node, ImageFormatError("IMAGE_FORMAT_UNKNOWN",
                                                  f"{where}: big-endian squashfs (pre-4.0) is not read"))
            return
        if depth >= self.budget.limits.max_depth:
            raise LimitExceeded(f"{node.path or 'the file'}: containers nest deeper than "
                                f"{self.budget.limits.max_depth} levels")
        self._descend(node, data, lambda: reader(self, data, node.path), depth=depth,
                      ancestors=ancestors, fs=fmt in _FILESYSTEMS, in_fs=in_fs)

    def _descend(self, node: Node, data: memoryview, entries: object, *, depth: int,
                 ancestors: frozenset[str], fs: bool, in_fs: bool) -> None:
        below = ancestors | {node.sha256}
        try:
            for child in entries():  # type: ignore[operator]
                self.budget.entry(node.path or "the file")
                self.budget.tick(join(node.path, child.name))
                self._child(node, child, depth=depth, ancestors=below, in_fs=in_fs or fs)
        except ImageFormatError as e:
            self._stop(node, e)
        except LimitExceeded:
            raise
        except MemoryError:
            raise LimitExceeded(f"{node.path or 'the file'}: reading it needs more memory than its budget; left "
                                "unread: it and everything after it", code="IMAGE_TOO_COSTLY") from None
        except Exception as e:  # a library choking on crafted bytes: this branch is unreadable
            log.warning("reading %s (%s) failed: %s: %s", node.path or "the file", node.format,
                        type(e).__name__, e)
            self._stop(node, ImageFormatError("IMAGE_CORRUPT", f"{node.path or 'the file'}: the {node.format} "
                                              f"reader could not parse it ({type(e).__name__})"))

    def _stop(self, node: Node, e: ImageFormatError) -> None:
        node.problem = e.code
        self.finding(e.code, node.path, printable(e.message, limit=600))

    def _child(self, parent: Node, child: Child, *, depth: int, ancestors: frozenset[str], in_fs: bool) -> None:
        # An unnamed child is a layer's payload (a gzip stream's content): it keeps its parent's
        # path, so a finding reads "fw.tar.gz/rootfs.squashfs", not ".../(data)/...".
        path = join(parent.path, child.name)
        node = Node(path=path, name=child.name or "(data)", role=child.role or "", kind=child.kind,
                    mode=child.mode, link=child.link, note=child.note, vendor_signed=child.vendor_signed,
                    flash=child.flash)
        parent.children.append(node)
        if child.data is None:
            node.role = node.role or FILE
            return
        self.progress(path)
        view = child.data if isinstance(child.data, memoryview) else memoryview(child.data)
        node.size = len(view)
        node.sha256 = sha256(view, self.release)
        if node.size > _RELEASE_AFTER:  # the reader that made it may have touched much of the map
            self.release()
        if not child.inspect:
            node.role = node.role or IMAGE
            return
        fmt = child.format if child.format in READERS else detect(view)
        if node.sha256 in ancestors:
            node.role = node.role or LAYER
            node.problem = "IMAGE_NESTING_LOOP"
            self.finding("IMAGE_NESTING_LOOP", path, "this layer's bytes are those of a layer that contains it")
            return
        self.walk(node, view, depth=depth + 1, ancestors=ancestors, fmt=fmt, in_fs=in_fs)
        node.role = _resolve_role(node, in_fs)
        if not node.children and node.problem is None:
            fs_path = child.name if node.role == FILE else path.rsplit("/", 1)[-1]
            audit.audit_file(self.finding, fs_path, path, view, child.mode, self.indicators, self.budget)
        if node.size > _RELEASE_AFTER:
            self.release()


def _resolve_role(node: Node, in_fs: bool) -> str:
    """What the node is to the verdict, now that its content (and its children's) is known."""
    role = node.role
    if in_fs:
        return FILE if role in ("", FILE) else LAYER if role in _JUDGED else role
    if role:
        return role
    fmt = node.format or ""
    if fmt in PACKAGE_FORMATS:
        return PACKAGE
    if fmt in COMPRESSED_FORMATS:
        inner = [c for c in node.children if c.name != "(trailing data)"]
        return PACKAGE if inner and inner[0].role == PACKAGE else IMAGE
    if fmt in IMAGE_FORMATS or fmt == "elf":
        return IMAGE
    return MEMBER


@contextmanager
def _mapped(path: Path) -> Iterator[tuple[memoryview, Callable[[], None]]]:
    """The file, mapped read-only, and a function that drops its pages from our resident set
    (they stay in the page cache and fault back in when read again): a 256 MB dump read
    end to end several times (hashes, partitions, the indicator scan) never sits in memory whole."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            yield memoryview(b""), lambda: None
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)

            def release() -> None:
                if hasattr(mmap, "MADV_DONTNEED"):
                    mapped.madvise(mmap.MADV_DONTNEED)

            try:
                yield view, release
            finally:
                view.release()


def sha256(view: memoryview, release: Callable[[], None]) -> str:
    """SHA-256 of a layer; a large one in slices, letting go of the mapped pages as it goes."""
    if len(view) <= _HASH_SLICE:
        return "sha256:" + hashlib.sha256(view).hexdigest()
    h = hashlib.sha256()
    for start in range(0, len(view), _HASH_SLICE):
        h.update(view[start:start + _HASH_SLICE])
        release()
    return "sha256:" + h.hexdigest()


def inspect_file(path: str | os.PathLike[str], trust: TrustStore | None = None, *,
                 mtdparts: str | None = None, layouts: Sequence[str] = (), limits: Limits | None = None,
                 indicators: tuple[Indicator, ...] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 progress: Callable[[str], None] | None = None) -> Inspection:
    """Everything in one file. Raises OSError only when the file itself cannot be read.

    A raw flash dump is split by ``mtdparts`` if given, else by the dump's own mtdparts string,
    else by the first of ``layouts`` (the manifest releases' flash layouts) whose size is exactly
    the dump's."""
    file = Path(path)
    with tempfile.TemporaryDirectory(prefix="attest-image-") as anchor, _mapped(file) as (data, release):
        inspector = Inspector(trust, Path(anchor), limits or Limits(),
                              indicators if indicators is not None else default_indicators(), clock)
        inspector.release = release
        inspector.layouts = tuple(layouts)
        if progress is not None:
            inspector.progress = progress
        root = Node(path="", name=file.name, role=TOP, size=len(data), sha256=sha256(data, release))
        inspection = Inspection(str(file), root)
        fmt = detect(data)
        if mtdparts is None and fmt in (None, "zynq-boot"):
            mtdparts = _dump_layout(data) or _layout_of_size(layouts, len(data))
        inspection.dump_layout = mtdparts
        if not len(data):
            inspector.finding("IMAGE_TRUNCATED", "", "the file is empty")
        else:
            try:
                inspector.walk(root, data, depth=0, ancestors=frozenset(), fmt=fmt, in_fs=False,
                               mtdparts=mtdparts)
                if not root.children and root.problem is None:
                    audit.audit_file(inspector.finding, file.name, "", data, 0, inspector.indicators,
                                     inspector.budget)
                if root.format not in (None, "flash-dump"):  # a bare image is judged like one in a package
                    root.role = _resolve_role(Node(path="", name="", format=root.format, children=root.children,
                                                   role=""), False)
            except LimitExceeded as e:
                inspector.finding(e.code, "", printable(e.message, limit=600))
                root.problem = e.code
        inspection.findings = inspector.findings
        inspection.signatures = inspector.signatures
        return inspection


def _layout_of_size(layouts: Sequence[str], size: int) -> str | None:
    """The first manifest layout that describes a device of exactly ``size`` bytes."""
    for text in layouts:
        try:
            parts = mtd.parse_mtdparts(text)
        except ValueError:
            continue
        last = parts[-1]
        end = size if last.size is None and last.offset < size else last.offset + (last.size or 0)
        if parts[0].offset == 0 and end == size:
            return text
    return None


def _dump_layout(data: memoryview) -> str | None:
    """A dump's own mtdparts string, when its first partition starts at 0 and fits in the file
    (a bootloader alone also carries the string, and is not a dump)."""
    text = mtd.find_mtdparts(data)
    if text is None:
        return None
    parts = mtd.parse_mtdparts(text)
    first = parts[0]
    if first.offset != 0 or first.size is None or first.size >= len(data):
        return None
    return text

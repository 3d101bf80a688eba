"""What an inspection found: a tree of nodes (every layer and file, hashed), findings with reason
codes, and the vendor signatures checked. Plain data; ``appraise_image`` judges it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from attest.evidence import printable

# What a node is to the verdict (see appraise_image.judge):
PACKAGE = "package"  # an update package layer (tar, BMU, merge file, AUP): its members are judged
IMAGE = "image"  # a flashable image (uImage, squashfs, UBI volume, ...): judged by digest
PARTITION = "partition"  # a slice of a flash dump: judged by digest when the manifest names it
MEMBER = "member"  # any other file directly in a package (scripts, metadata): manifest or vendor signature
SIGNATURE = "signature"  # signature and key material, checked cryptographically, never by digest
METADATA = "metadata"  # text the installer only displays (Bitmain's version_number): not judged
LAYER = "layer"  # a wrapper inside an image (a uImage's payload, a gzip stream): audited only
FILE = "file"  # a file inside a filesystem image: audited only
TOP = "top"  # the file itself, before its content says what it is
UNSIGNED = "unsigned"  # bytes no signature covers, already a FIRMWARE_UNSIGNED_* finding: audited only


@dataclass
class Child:
    """What a container reader hands back for one entry. ``role`` None lets the walker decide
    from the content (inside a package: package, image or member)."""

    name: str  # path inside the container, "/"-separated, never absolute
    data: bytes | memoryview | None  # None for directories, links and device nodes
    role: str | None = None
    kind: str = "file"  # file | dir | symlink | hardlink | device | fifo | socket
    mode: int = 0
    link: str = ""
    format: str | None = None  # the container already knows (a uImage says "gzip")
    note: str = ""
    vendor_signed: bool = False
    inspect: bool = True  # False: hash it, never open it (an encrypted payload)
    flash: FlashRegion | None = None  # a partition of a flash dump: what the signed layout says of it


@dataclass(frozen=True)
class FlashRegion:
    """A partition of a flash dump as the signed layouts see it, and the first sign of code in its
    raw bytes: judged only where no signed image vouches for the partition (``appraise_image``)."""

    listed: bool  # the same name, offset and size are in a signed release's flash layout
    code: str  # why its raw bytes may hold code ("an ELF program at byte 0x400"), or ""
    data: str  # what its bytes are when they are not all padding, or ""


@dataclass
class Node:
    path: str  # inside the file: "fw.tar.gz/uramdisk.image.gz"; "" is the file itself
    name: str  # the last step of the path, as its container names it
    role: str
    size: int = 0
    sha256: str = ""  # "sha256:<hex>"; empty for directories, links and device nodes
    format: str | None = None
    kind: str = "file"
    mode: int = 0
    link: str = ""
    note: str = ""
    problem: str | None = None  # the reason code that stopped reading it
    vendor_signed: bool = False
    flash: FlashRegion | None = None
    children: list[Node] = field(default_factory=list)

    def walk(self) -> Iterator[Node]:
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


@dataclass(frozen=True)
class Finding:
    code: str  # a key of attest.verdict.REASONS
    path: str  # where in the file
    detail: str  # plain text; device- or file-supplied bytes already made printable
    expected: str | None = None
    found: str | None = None


@dataclass(frozen=True)
class VendorSignature:
    """One vendor signature, reported as exactly what it covers and who made it."""

    scheme: str  # "bitmain-tar" | "bitmain-bmu"
    covers: str  # what the signature is over, e.g. "fw.tar.gz" or "BMU header and every file"
    signer: str  # e.g. "root key (vendor-keys/bitmain.pem)" or "miner.pem in the BMU header"
    status: str  # "valid" | "invalid" | "unknown-key" | "missing"
    path: str = ""

    def to_json(self) -> dict[str, str]:
        return {"scheme": self.scheme, "covers": self.covers, "signer": self.signer,
                "status": self.status, "path": self.path}


@dataclass
class Inspection:
    file: str
    root: Node
    findings: list[Finding] = field(default_factory=list)
    signatures: list[VendorSignature] = field(default_factory=list)
    dump_layout: str | None = None  # the mtdparts string a flash dump was split by

    def nodes(self) -> Iterator[Node]:
        return self.root.walk()


def join(parent: str, name: str) -> str:
    name = name.strip("/")
    if not name:
        return parent
    return f"{parent}/{name}" if parent else name


def context_text(data: bytes | memoryview, start: int, end: int, margin: int = 40) -> str:
    """The bytes around a match, as plain text, so a technician sees what was found where."""
    lo, hi = max(0, start - margin), min(len(data), end + margin)
    return printable(bytes(data[lo:hi]), limit=4 * margin + (end - start))

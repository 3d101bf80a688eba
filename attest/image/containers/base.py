"""What every container reader is given, and the small helpers they share."""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from attest.image.limits import Budget, ImageFormatError
from attest.image.model import VendorSignature

if TYPE_CHECKING:
    from attest.trust import TrustStore


class Context(Protocol):
    """The inspection a reader works for: its budget, trust store and where findings go."""

    budget: Budget
    trust: TrustStore | None
    anchor: Path  # the inspection's private, empty temp dir: tarfile's data filter resolves into it

    def finding(self, code: str, path: str, detail: str, *, expected: str | None = None,
                found: str | None = None) -> None: ...

    def signature(self, signature: VendorSignature) -> None: ...


def truncated(what: str, declared: int, available: int) -> ImageFormatError:
    return ImageFormatError("IMAGE_TRUNCATED", f"{what} declares {declared} bytes but only "
                            f"{available} are in the file")


def corrupt(what: str) -> ImageFormatError:
    return ImageFormatError("IMAGE_CORRUPT", what)


def crc32(data: bytes | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


class ViewReader(io.RawIOBase):
    """A read-only, seekable file over a memoryview, so tarfile and the filesystem libraries read
    a layer already in memory (or a slice of the mapped file) without copying it."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view.cast("B") if view.format != "B" else view
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._view[self._pos:self._pos + len(buffer)]
        n = len(chunk)
        memoryview(buffer).cast("B")[:n] = chunk
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else self._pos + size
        out = bytes(self._view[self._pos:end])
        self._pos += len(out)
        return out


def safe_name(name: str) -> str:
    """A member name as a relative path: leading "./" and "/" dropped (the caller has already
    judged whether an absolute name is an attack)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def all_padding(data: bytes | memoryview) -> bool:
    """Erased flash (0xFF) or zero fill: what follows a stream inside a partition. Every byte is
    looked at: a megabyte of 0xFF in front of a script must not pass for padding."""
    return all(not bytes(data[s:s + (4 << 20)]).translate(None, b"\x00\xff") for s in range(0, len(data), 4 << 20))


def first(items: Iterable[str]) -> str:
    return next(iter(items), "")


def under(where: str, rel: str) -> str:
    """``rel`` inside the container at ``where`` ("the file" when it is the file itself)."""
    return rel if where in ("", "the file") else f"{where}/{rel}"

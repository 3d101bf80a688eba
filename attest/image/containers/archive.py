"""Archives that are unpacked onto a rig: tar (stdlib ``tarfile``) and cpio (newc, crc and
portable ASCII, read with ``struct``-free hex fields per cpio(5) and Linux's
Documentation/driver-api/early-userspace/buffer-format.rst).

Nothing is extracted. Every tar member is put through ``tarfile.data_filter`` — the rules of
``extractall(filter="data")`` — against the inspection's private empty directory, so a member that
``filter="data"`` would refuse (absolute or ``..`` paths, links leading out, device nodes) is
reported as the attack it is; hard links and a name given twice are refused too, because a
vendor's upgrader (Bitmain's refuses any link) would write something other than what we audited.
"""

from __future__ import annotations

import posixpath
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from attest.evidence import printable
from attest.image import bitmain
from attest.image.containers.base import Context, ViewReader, corrupt, safe_name, truncated, under
from attest.image.limits import ImageFormatError
from attest.image.model import METADATA, UNSIGNED, Child
from attest.image.unsigned import report_unsigned


@dataclass
class TarMember:
    name: str
    data: memoryview | bytes | None
    kind: str
    mode: int
    link: str = ""
    offset: int = 0  # where its header starts
    hidden: str = ""  # why a plain reading misses it though an unpacker may write it; "" if it does not


def read_tar(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    """The members GNU tar would unpack, and every byte it would skip, each named.

    ``tarfile.next()`` stops at the first damaged header; GNU tar (1.34, default options) prints
    "Skipping to next header", reads on and unpacks what follows; it stops at the first zero
    block, but ``tar -i`` (``--ignore-zeros``, for concatenated archives) reads past that too. So
    the archive is read with ``ignore_zeros`` and every gap between members is accounted for:
    members after damage or after the end marker are findings (FIRMWARE_UNSIGNED_CONTENT or
    _DATA), as are non-zero bytes skipped or left after the last member. Where a name occurs twice
    the last copy is the one GNU tar leaves on disk, so that copy is the one vendor signatures are
    checked against; the others are findings too (``tar -k`` would keep the first)."""
    where = path or "the file"
    members = _tar_members(ctx, data, path)
    last = {m.name: i for i, m in enumerate(members) if not m.hidden.startswith("after-end")}
    installed = {m.name: m.data for i, m in enumerate(members)
                 if m.kind == "file" and last.get(m.name) == i}
    layout = bitmain.signed_tar_layout(ctx, installed, path)
    if layout:  # Bitmain's upgrader refuses any link in its tarball: a signed package holds none
        for m in members:
            if m.kind == "symlink":
                ctx.finding("IMAGE_UNSAFE_MEMBER", posixpath.join(path, m.name),
                            f"a link (to {printable(m.link, limit=200)}) in a Bitmain package, which the "
                            "stock upgrader refuses")
        _check_metadata(ctx, members, layout, path)
    for i, m in enumerate(members):
        reason = m.hidden or ("" if last.get(m.name) == i else "shadowed")
        if reason:
            at = f"member {printable(m.name, limit=200)} ({_size(m)} at byte {m.offset})"
            report_unsigned(ctx.finding, under(where, m.name), f"{at} {_HIDDEN[reason.split(':')[0]]}",
                            m.data if m.data is not None else b"", name=m.name, padding_is_nothing=False)
            yield Child(m.name, m.data, role=UNSIGNED, kind=m.kind, mode=m.mode, link=m.link,
                        note=_HIDDEN[reason.split(":")[0]])
            continue
        role, signed = layout.get(m.name, (None, False))
        yield Child(m.name, m.data, role=role, kind=m.kind, mode=m.mode, link=m.link, vendor_signed=signed)


_HIDDEN = {
    "after-damage": "follows bytes that are not a tar header: GNU tar skips them and unpacks this member, "
                    "a reader that stops at the damage never sees it",
    "after-end": "lies after the archive's end marker: tar -i (--ignore-zeros) unpacks it",
    "shadowed": "is a copy of a name given again later: GNU tar overwrites it, tar -k keeps it; no signature "
                "check covers this copy",
}
#: The one unsigned member of a Bitmain package: the version text its upgrader shows.
_MAX_METADATA_BYTES = 256


def _size(m: TarMember) -> str:
    return f"{len(m.data)} bytes" if m.data is not None else m.kind


def _check_metadata(ctx: Context, members: list[TarMember], layout: dict[str, tuple[str | None, bool]],
                    path: str) -> None:
    """version_number is the one member of a Bitmain package no signature covers: it may only be
    the short line of text an upgrader displays; anything else is unsigned content."""
    for m in members:
        if layout.get(m.name, (None, False))[0] != METADATA or m.data is None or m.hidden:
            continue
        text = bytes(m.data)
        if len(text) > _MAX_METADATA_BYTES or not text.rstrip(b"\r\n").isascii() \
                or not all(32 <= c < 127 for c in text.rstrip(b"\r\n")):
            report_unsigned(ctx.finding, under(path or "the file", m.name),
                            f"{m.name}, which no signature covers, is not a short line of text", m.data, name=m.name,
                            padding_is_nothing=False)


def _tar_members(ctx: Context, data: memoryview, path: str) -> list[TarMember]:
    where = path or "the file"
    out: list[TarMember] = []
    seen: set[str] = set()
    expected = 0  # where the next header belongs: the end of the member before
    ended = False  # a zero block was passed: GNU tar stops there, tar -i reads on
    try:
        with tarfile.open(fileobj=ViewReader(data), mode="r:", ignore_zeros=True) as tf:
            while True:
                ctx.budget.tick(where)
                info = tf.next()
                if info is None:
                    break
                ctx.budget.entry(f"{where}: {printable(info.name, limit=200)}")
                skipped = data[expected:info.offset]
                damaged, ended_here = _account_gap(ctx, skipped, expected, where, ended)
                ended = ended or ended_here
                expected = tf.offset
                member = _member(ctx, tf, info, data, where)
                if member is None:
                    continue
                member.offset = info.offset
                member.hidden = "after-end" if ended else "after-damage" if damaged else ""
                if member.name in seen:
                    ctx.finding("IMAGE_UNSAFE_MEMBER", posixpath.join(path, member.name),
                                "the name appears twice: an unpacker keeps the last copy, not the first")
                seen.add(member.name)
                out.append(member)
    except tarfile.TarError as e:
        raise corrupt(f"{where}: the tar archive is damaged ({e})") from None
    if not out:
        raise corrupt(f"{where}: the tar archive holds no entries")
    _account_gap(ctx, data[expected:], expected, where, ended, tail=True)
    return out


def _account_gap(ctx: Context, gap: memoryview, offset: int, where: str, ended: bool, *,
                 tail: bool = False) -> tuple[bool, bool]:
    """Bytes between two members (or after the last) that tarfile skipped as GNU tar would.
    Returns (damage was skipped before any end marker, an end marker is in the gap)."""
    if not len(gap):
        return False, False
    zero: int | None = None  # the first zero block: GNU tar's end of the archive
    junk_before_end = False
    for i in range(0, len(gap), 512):
        if i % (1 << 20) == 0:
            ctx.budget.tick(where)
        if bytes(gap[i:i + 512]).strip(b"\0"):
            junk_before_end = True
        else:
            zero = i
            break
    if not padding_only_zero(gap):
        end_text = "after the archive's end marker" if ended or (zero is not None and not junk_before_end) \
            else "that are not a tar header (GNU tar skips them)"
        what = f"{len(gap)} bytes at byte {offset} {'after the last member' if tail else 'between members'}, " \
            f"{end_text}"
        report_unsigned(ctx.finding, f"{where} (bytes {offset}..{offset + len(gap)})", what, gap)
    return junk_before_end and not ended, zero is not None


def padding_only_zero(gap: memoryview) -> bool:
    return all(not bytes(gap[i:i + (4 << 20)]).strip(b"\0") for i in range(0, len(gap), 4 << 20))


def _member(ctx: Context, tf: tarfile.TarFile, info: tarfile.TarInfo, data: memoryview,
            where: str) -> TarMember | None:
    shown = printable(info.name, limit=300)
    name = safe_name(info.name)
    if info.name.startswith(("/", "\\")):  # data_filter quietly strips these; an unpacker may not
        ctx.finding("IMAGE_UNSAFE_MEMBER", f"{where}: {shown}",
                    "an absolute path: an unpacker would write outside its folder")
        return None
    try:
        tarfile.data_filter(info, str(ctx.anchor))
    except tarfile.FilterError as e:
        ctx.finding("IMAGE_UNSAFE_MEMBER", f"{where}: {shown}", _filter_reason(e))
        return None
    if info.islnk():
        ctx.finding("IMAGE_UNSAFE_MEMBER", f"{where}: {shown}",
                    f"a hard link to {printable(info.linkname, limit=200)}: an unpacker would write through it")
        return None
    if info.isdir():
        return TarMember(name, None, "dir", info.mode)
    if info.issym():
        return TarMember(name, None, "symlink", info.mode, info.linkname)
    if not info.isreg():
        ctx.finding("IMAGE_UNSAFE_MEMBER", f"{where}: {shown}", "not a regular file, directory or link")
        return None
    end = info.offset_data + info.size
    if end > len(data):
        raise truncated(f"{where}: member {shown}", info.size, max(0, len(data) - info.offset_data))
    if info.sparse is not None:
        ctx.budget.expand(info.size, f"{where}: {shown}")
        handle = tf.extractfile(info)
        body: bytes | memoryview = handle.read() if handle else b""
    else:
        body = data[info.offset_data:end]
    return TarMember(name, body, "file", info.mode)


def _filter_reason(e: tarfile.FilterError) -> str:
    if isinstance(e, tarfile.AbsolutePathError):
        return "an absolute path: an unpacker would write outside its folder"
    if isinstance(e, tarfile.OutsideDestinationError):
        return "a path with '..' that leads outside the unpack folder"
    if isinstance(e, tarfile.AbsoluteLinkError | tarfile.LinkOutsideDestinationError):
        return f"a link that leads outside the unpack folder ({printable(e.tarinfo.linkname, limit=200)})"
    if isinstance(e, tarfile.SpecialFileError):
        return "a device node or FIFO, which no firmware package needs"
    return printable(str(e), limit=300)


# --- cpio ---------------------------------------------------------------------------------------

_NEWC_FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor",
                "rdevmajor", "rdevminor", "namesize", "check")
_KINDS = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink", stat.S_IFCHR: "device",
          stat.S_IFBLK: "device", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


def read_cpio(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    where = path or "the file"
    pos = 0
    while True:
        magic = bytes(data[pos:pos + 6])
        if magic in (b"070701", b"070702"):
            header, name, body, pos = _newc(data, pos, where, crc=magic == b"070702")
        elif magic == b"070707":
            header, name, body, pos = _odc(data, pos, where)
        else:
            if not magic:
                raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: the cpio archive ends without its trailer")
            raise corrupt(f"{where}: no cpio header at byte {pos}")
        if name == "TRAILER!!!":
            return
        ctx.budget.entry(f"{where}: {printable(name, limit=200)}")
        ctx.budget.tick(where)
        if ".." in name.split("/"):
            ctx.finding("IMAGE_UNSAFE_MEMBER", f"{where}: {printable(name, limit=300)}",
                        "a path with '..' that leads outside the unpack folder")
            continue
        mode = header["mode"]
        kind = _KINDS.get(stat.S_IFMT(mode), "file")
        clean = safe_name(name)
        if not clean:
            continue
        if kind == "symlink":
            yield Child(clean, None, kind="symlink", mode=mode, link=bytes(body).decode("utf-8", "replace"))
        elif kind == "file":
            yield Child(clean, body, kind="file", mode=mode)
        else:
            yield Child(clean, None, kind=kind, mode=mode)


def _hex_fields(raw: bytes, width: int, names: tuple[str, ...], where: str) -> dict[str, int]:
    try:
        return {n: int(raw[i * width:(i + 1) * width], 16) for i, n in enumerate(names)}
    except ValueError:
        raise corrupt(f"{where}: a cpio header holds a field that is not a number") from None


def _newc(data: memoryview, pos: int, where: str, *, crc: bool) -> tuple[dict[str, int], str, memoryview, int]:
    raw = bytes(data[pos + 6:pos + 110])
    if len(raw) < 104:
        raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: a cpio header is cut short")
    h = _hex_fields(raw, 8, _NEWC_FIELDS, where)
    name_end = pos + 110 + h["namesize"]
    body_start = (name_end + 3) & ~3
    body_end = body_start + h["filesize"]
    if body_end > len(data):
        raise truncated(f"{where}: a cpio entry", h["filesize"], max(0, len(data) - body_start))
    name = bytes(data[pos + 110:name_end]).rstrip(b"\0").decode("utf-8", "replace")
    body = data[body_start:body_end]
    if crc and stat.S_ISREG(h["mode"]) and sum(bytes(body)) & 0xFFFFFFFF != h["check"]:
        raise ImageFormatError("IMAGE_CHECKSUM_MISMATCH",
                               f"{where}: {printable(name, limit=200)}: the cpio checksum does not match its data")
    return h, name, body, (body_end + 3) & ~3


def _odc(data: memoryview, pos: int, where: str) -> tuple[dict[str, int], str, memoryview, int]:
    raw = bytes(data[pos:pos + 76])
    if len(raw) < 76:
        raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: a cpio header is cut short")
    try:
        mode, namesize, filesize = int(raw[18:24], 8), int(raw[59:65], 8), int(raw[65:76], 8)
    except ValueError:
        raise corrupt(f"{where}: a cpio header holds a field that is not a number") from None
    name_end = pos + 76 + namesize
    body_end = name_end + filesize
    if body_end > len(data):
        raise truncated(f"{where}: a cpio entry", filesize, max(0, len(data) - name_end))
    name = bytes(data[pos + 76:name_end]).rstrip(b"\0").decode("utf-8", "replace")
    return {"mode": mode}, name, data[name_end:body_end], body_end

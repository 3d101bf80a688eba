"""Bitmain's update formats: the signed tarball (2019 on), the ``.bmu`` and the "merge" file.

Signed tarball (public reverse engineering of Antminer S9/S17/T17 packages, as summarised in
issue #9): ``runme.sh``+``.sig``, ``cert.pem``+``.sig``, ``fw.tar.gz``+``.sig``,
``version_number``. RSA PKCS#1 v1.5/SHA-256 throughout: the vendor root key signs ``runme.sh``
and ``cert.pem`` (a bare RSA public key), and ``cert.pem`` signs ``fw.tar.gz``. The stock
upgrader refuses links in the tarball and ``runme.sh`` files on its MD5 blacklist.

BMU and merge layouts: VladTheJunior/BitmainFirmwareUnpacker ``bmu.py`` (2023). A BMU is a
0x800-byte header (byte 0 = 0x26; a content bitmask, big-endian, at 11; the PEM ``miner.pem`` at
24 with its length at 22; its root-key signature at 0x418; the file count at 0x518, equal to the
bitmask's popcount; ``{u8 type, u32 BE size}`` descriptors from 0x51D), then each file, then one
256-byte signature per file by ``miner.pem``, then ``bmu.sig``: ``miner.pem``'s signature over
SHA-256(header) || SHA-256(each file) || SHA-256(each file signature). A merge file is a 36-byte
little-endian header (magic 0xABABABAB, version, header size, item count, item size, data
offset, CRC32 of the whole file with the CRC field zeroed) and 172-byte items naming one BMU per
control-board type. Amlogic-board payloads are encrypted: their signatures are checked, their
contents reported as not inspectable (a payload whose type promises a magic it lacks).
"""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import zlib
from collections.abc import Iterator

from attest.evidence import printable
from attest.image import vendorsig
from attest.image.containers.base import Context, corrupt, crc32, safe_name, truncated, under
from attest.image.limits import ImageFormatError
from attest.image.model import IMAGE, MEMBER, METADATA, SIGNATURE, UNSIGNED, Child, VendorSignature

MERGE_MAGIC = b"\xab\xab\xab\xab"
_BMU_HEADER = 0x800
_BMU_FILE_TYPES = {0: "BOOT.bin", 1: "devicetree.dtb", 2: "uImage", 3: "minerfs.image.gz",
                   4: "update.image.gz", 5: "crl.tar.gz", 6: "miner.btm.tar.gz", 7: "reserve", 9: "datafile"}
#: What each BMU file type must start with when it is not encrypted.
_EXPECTED_MAGIC = {1: b"\xd0\x0d\xfe\xed", 2: b"\x27\x05\x19\x56", 3: b"\x1f\x8b", 4: b"\x1f\x8b",
                   5: b"\x1f\x8b", 6: b"\x1f\x8b"}
_MERGE = struct.Struct("<9I")
_MERGE_ITEM = struct.Struct("<BBBB64s32s32s32sII")
_MAX_CRL_BYTES = 4 << 20


# --- the signed tarball -----------------------------------------------------------------------

def signed_tar_layout(ctx: Context, files: dict[str, bytes | memoryview | None],
                      path: str) -> dict[str, tuple[str | None, bool]]:
    """Roles and vendor-signature coverage for the members of a Bitmain signed tarball; {} for
    any other tar. Checks every signature the layout defines and records each."""
    if "runme.sh" not in files and "runme.sh.sig" not in files:
        return {}
    scheme, out = "bitmain-tar", {}
    where = path or "the package"

    def at(name: str) -> str:
        return f"{path}/{name}" if path else name

    runme_ok = "runme.sh" in files and vendorsig.check_with_vendor_keys(
        ctx, scheme, "runme.sh", files["runme.sh"] or b"", files.get("runme.sh.sig"), at("runme.sh.sig"))
    cert_ok = False
    cert_key = None
    if "cert.pem" in files:
        cert_ok = vendorsig.check_with_vendor_keys(ctx, scheme, "cert.pem", files["cert.pem"] or b"",
                                                   files.get("cert.pem.sig"), at("cert.pem.sig"))
        cert_key = vendorsig.load_embedded_key(files["cert.pem"] or b"")
    fw_ok = False
    if "fw.tar.gz" in files:
        if "cert.pem" not in files:
            ctx.signature(VendorSignature(scheme, "fw.tar.gz", "cert.pem", "missing", at("cert.pem")))
        else:
            fw_ok = vendorsig.check_with_embedded_key(ctx, scheme, "fw.tar.gz", files["fw.tar.gz"] or b"",
                                                      files.get("fw.tar.gz.sig"), cert_key,
                                                      "cert.pem (the package's key)", cert_ok, at("fw.tar.gz.sig"))
    if "runme.sh" in files:
        md5 = hashlib.md5(files["runme.sh"] or b"", usedforsecurity=False).hexdigest()
        if md5 in vendorsig.runme_blacklist(ctx):
            ctx.finding("VENDOR_REVOKED", at("runme.sh"), f"its MD5 {md5} is on the vendor's runme.sh blacklist")
    for name in files:
        if name.endswith(".sig") or name == "cert.pem":
            out[name] = (SIGNATURE, False)
        elif name == "version_number":
            out[name] = (METADATA, False)
    out["runme.sh"] = (MEMBER, runme_ok)
    out["fw.tar.gz"] = (None, fw_ok)
    if not files.get("runme.sh"):
        ctx.finding("IMAGE_CORRUPT", where, "a Bitmain signed package without runme.sh")
    return out


# --- BMU --------------------------------------------------------------------------------------

def looks_like_bmu(data: bytes | memoryview) -> bool:
    if len(data) < _BMU_HEADER or data[0] != 0x26:
        return False
    mask = struct.unpack_from(">H", data, 11)[0]
    count = data[0x518]
    pem_len = struct.unpack_from(">H", data, 22)[0]
    return 0 < count <= 16 and bin(mask).count("1") == count and 24 + pem_len <= 0x418 \
        and bytes(data[24:34]) == b"-----BEGIN"


def read_bmu(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    where = path or "the file"
    header = data[:_BMU_HEADER]
    count = header[0x518]
    files = [(header[0x51D + 5 * i], struct.unpack_from(">I", header, 0x51E + 5 * i)[0]) for i in range(count)]
    total = (count + 9) * 256 + sum(size for _, size in files)
    if total > len(data):
        raise truncated(f"{where}: the BMU", total, len(data))
    if total < len(data):
        raise corrupt(f"{where}: {len(data) - total} bytes follow the BMU's last signature")
    pem_len = struct.unpack_from(">H", header, 22)[0]
    miner_pem = bytes(header[24:24 + pem_len])
    scheme = "bitmain-bmu"
    pem_ok = vendorsig.check_with_vendor_keys(ctx, scheme, "miner.pem (in the BMU header)", miner_pem,
                                              header[0x418:0x518], f"{where}: header")
    key = vendorsig.load_embedded_key(miner_pem)
    pos = _BMU_HEADER
    bodies: list[tuple[int, str, memoryview]] = []
    for kind, size in files:
        bodies.append((kind, _BMU_FILE_TYPES.get(kind, f"type-{kind}"), data[pos:pos + size]))
        pos += size
    sigs = [data[pos + 256 * i:pos + 256 * (i + 1)] for i in range(count)]
    signed = [vendorsig.check_with_embedded_key(ctx, scheme, name, body, sig, key, "miner.pem", pem_ok,
                                                f"{where}: {name}.sig")
              for (_, name, body), sig in zip(bodies, sigs, strict=True)]
    summary = hashlib.sha256(header).digest() + b"".join(hashlib.sha256(b).digest() for _, _, b in bodies) \
        + b"".join(hashlib.sha256(s).digest() for s in sigs)
    vendorsig.check_with_embedded_key(ctx, scheme, "the BMU header and every file and file signature (bmu.sig)",
                                      summary, data[-256:], key, "miner.pem", pem_ok, f"{where}: bmu.sig")
    for (kind, name, body), ok in zip(bodies, signed, strict=True):
        if kind == 5:
            _apply_crl(ctx, body, miner_pem, f"{under(where, name)}")
            yield Child(name, body, role=SIGNATURE, note="vendor revocation data", vendor_signed=ok)
            continue
        expected = _EXPECTED_MAGIC.get(kind)
        if expected is not None and bytes(body[:len(expected)]) != expected:
            ctx.finding("IMAGE_ENCRYPTED", f"{under(where, name)}", "the payload does not start as its type must "
                        "(encrypted, as on Amlogic control boards): its signature was checked, its contents cannot be")
            yield Child(name, body, role=IMAGE, vendor_signed=ok, inspect=False, note="encrypted")
            continue
        yield Child(name, body, role=IMAGE, vendor_signed=ok, note=f"BMU file type {kind}")


def _apply_crl(ctx: Context, body: memoryview, miner_pem: bytes, where: str) -> None:
    """The BMU's crl.tar.gz: members listing revoked keys (PEM public keys) or key/file digests
    (hex SHA-256 or MD5, one a line). The format is not public; these are the forms read."""
    try:
        raw = zlib.decompressobj(wbits=31).decompress(bytes(body), _MAX_CRL_BYTES)
        revoked: set[str] = set()
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tf:
            for info in tf.getmembers()[:256]:
                handle = tf.extractfile(info) if info.isreg() else None
                text = handle.read(1 << 20) if handle else b""
                key = vendorsig.load_embedded_key(text)
                if key is not None:
                    revoked.add(hashlib.sha256(text.strip()).hexdigest())
                revoked.update(w.lower() for w in text.decode("ascii", "replace").split()
                               if len(w) in (32, 64) and all(c in "0123456789abcdefABCDEF" for c in w))
    except (zlib.error, tarfile.TarError, EOFError) as e:
        ctx.finding("IMAGE_CORRUPT", where, f"the vendor revocation list cannot be read ({type(e).__name__})")
        return
    pem = miner_pem.strip()
    ids = {hashlib.sha256(pem).hexdigest(), hashlib.md5(pem, usedforsecurity=False).hexdigest()}
    if ids & revoked:
        ctx.finding("VENDOR_REVOKED", where, "the BMU's own revocation list names its miner.pem signing key")


# --- merge files ------------------------------------------------------------------------------

def read_merge(ctx: Context, data: memoryview, path: str) -> Iterator[Child]:
    where = path or "the file"
    if len(data) < _MERGE.size:
        raise ImageFormatError("IMAGE_TRUNCATED", f"{where}: the merge header is cut short")
    _magic, _version, header_size, count, item_size, _data_off, stored, _r0, _r1 = _MERGE.unpack_from(data)
    whole = bytearray(data)
    whole[24:28] = b"\0\0\0\0"
    if crc32(whole) != stored:
        raise ImageFormatError("IMAGE_CHECKSUM_MISMATCH", f"{where}: the merge file's CRC32 does not match its data")
    del whole
    if item_size < _MERGE_ITEM.size or header_size + count * item_size > len(data):
        raise truncated(f"{where}: the merge file's item table", count * item_size, len(data) - header_size)
    held = [(0, header_size + count * item_size)]
    for i in range(count):
        ctx.budget.entry(where)
        fn_len, chip_len, hw_len, model_len, fn, chip, hw, model, offset, size = \
            _MERGE_ITEM.unpack_from(data, header_size + i * item_size)
        label = "/".join(printable(raw[:n], limit=64).replace("/", "_") or "-"
                         for raw, n in ((model, model_len), (hw, hw_len), (chip, chip_len)))
        name = safe_name(f"{label}/{printable(fn[:fn_len], limit=64).replace('/', '_') or f'item-{i}'}")
        if offset + size > len(data):
            raise truncated(f"{where}: item {name}", size, max(0, len(data) - offset))
        held.append((offset, offset + size))
        yield Child(name, data[offset:offset + size], note=f"merge item for {label}")
    yield from _outside_items(ctx, data, held, where)


def _outside_items(ctx: Context, data: memoryview, held: list[tuple[int, int]], where: str) -> Iterator[Child]:
    """Bytes of a merge file no item holds: the file's CRC32 covers them, no signature does."""
    from attest.image.unsigned import padding_only, report_unsigned  # unsigned imports detect, which imports us

    cursor = 0
    for start, end in [*sorted(held), (len(data), len(data))]:
        if start > cursor and not padding_only(data[cursor:start]):
            name = f"(outside every item, bytes {cursor}..{start})"
            report_unsigned(ctx.finding, f"{where} {name}", f"{start - cursor} bytes no merge item holds",
                            data[cursor:start])
            yield Child(name, data[cursor:start], role=UNSIGNED, note="bytes no merge item holds")
        cursor = max(cursor, end)

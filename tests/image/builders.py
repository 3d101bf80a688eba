"""Firmware files built the way a vendor (or an attacker) builds them: with the real tools.

mksquashfs, mkfs.ubifs/ubinize, mkimage, mke2fs, cpio, GNU tar and gzip make the images; the
``openssl`` command line makes the RSA keys and the PKCS#1 v1.5/SHA-256 signatures
(``openssl dgst -sha256 -sign``). Only layouts no public tool writes — Bitmain's BMU header, a
Canaan AUP header — are packed here with ``struct``, to the layout the issue documents.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
import subprocess
import zlib
from collections.abc import Sequence
from pathlib import Path

TOOLS = ("mksquashfs", "mkfs.ubifs", "ubinize", "mkimage", "mke2fs", "cpio", "tar", "gzip", "openssl", "dtc",
         "debugfs")


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


def run(*argv: str | Path, cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, input=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


# --- keys and signatures (openssl) ------------------------------------------------------------

def rsa_key(path: Path) -> tuple[Path, Path]:
    """A 2048-bit RSA private key and its bare public key (what Bitmain ships as cert.pem)."""
    run("openssl", "genrsa", "-out", path, "2048")
    pub = path.with_suffix(".pub.pem")
    run("openssl", "rsa", "-in", path, "-pubout", "-out", pub)
    return path, pub


def sign(key: Path, data: Path, out: Path | None = None) -> Path:
    out = out or data.with_name(data.name + ".sig")
    run("openssl", "dgst", "-sha256", "-sign", key, "-out", out, data)
    return out


# --- filesystems and images --------------------------------------------------------------------

def tree(root: Path, files: dict[str, bytes | str], modes: dict[str, int] | None = None) -> Path:
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content.encode() if isinstance(content, str) else content)
        if modes and rel in modes:
            p.chmod(modes[rel])
    return root


def squashfs(src: Path, out: Path) -> Path:
    run("mksquashfs", src, out, "-noappend", "-all-root", "-no-progress", "-quiet", "-comp", "gzip",
        "-mkfs-time", "0", "-all-time", "0")
    return out


def ext2(src: Path, out: Path, kib: int = 1024) -> Path:
    run("mke2fs", "-q", "-t", "ext2", "-b", "1024", "-d", src, out, str(kib))
    return out


def gzip_file(src: Path, out: Path) -> Path:
    out.write_bytes(run("gzip", "-n", "-9", "-c", src))
    return out


def uimage(data: Path, out: Path, *, kind: str = "kernel", compression: str = "none", name: str = "Linux") -> Path:
    run("mkimage", "-A", "arm", "-O", "linux", "-T", kind, "-C", compression, "-a", "0x8000", "-e", "0x8000",
        "-n", name, "-d", data, out)
    return out


def tar(out: Path, cwd: Path, members: Sequence[str], *, gz: bool = False, extra: Sequence[str] = ()) -> Path:
    run("tar", "--format=gnu", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0",
        "-czf" if gz else "-cf", out, *extra, *members, cwd=cwd)
    return out


def cpio_newc(src: Path, out: Path) -> Path:
    names = sorted(str(p.relative_to(src)) for p in src.rglob("*"))
    out.write_bytes(run("cpio", "-o", "-H", "newc", "--quiet", cwd=src, stdin="\n".join(names).encode() + b"\n"))
    return out


def ubi_image(src: Path, work: Path, volume: str = "rootfs") -> tuple[Path, Path]:
    """(the UBIFS image mkfs.ubifs made, the UBI image ubinize made of it): 2 KiB pages, 128 KiB
    eraseblocks, as on an S9's NAND."""
    fs = run_ubifs(src, work / f"{volume}.ubifs")
    cfg = work / "ubinize.cfg"
    cfg.write_text(f"[{volume}]\nmode=ubi\nimage={fs}\nvol_id=0\nvol_type=dynamic\nvol_name={volume}\n"
                   "vol_size=4MiB\n")
    out = work / "ubi.img"
    run("ubinize", "-o", out, "-m", "2048", "-p", "128KiB", cfg)
    return fs, out


def run_ubifs(src: Path, out: Path) -> Path:
    run("mkfs.ubifs", "-r", src, "-m", "2048", "-e", "126976", "-c", "64", "-o", out)
    return out


def dtb(out: Path) -> Path:
    src = out.with_suffix(".dts")
    src.write_text('/dts-v1/;\n/ { model = "Antminer test board"; compatible = "xlnx,zynq-7000"; };\n')
    run("dtc", "-I", "dts", "-O", "dtb", "-o", out, src)
    return out


# --- vendor layouts no public tool writes ----------------------------------------------------

BMU_TYPES = {"devicetree.dtb": 1, "uImage": 2, "minerfs.image.gz": 3, "crl.tar.gz": 5}


def bmu(out: Path, work: Path, root_key: Path, files: Sequence[Path], *, break_signature_of: str | None = None,
        reuse_miner_key: bool = False) -> Path:
    """A .bmu to the layout in issue #9: 0x800-byte header (0x26; content mask at 11; miner.pem
    length at 22 and the PEM at 24; its root signature at 0x418; file count at 0x518; {u8 type,
    u32 BE size} from 0x51D), the files, one signature per file by miner.pem, then bmu.sig."""
    if reuse_miner_key and (work / "miner.key").exists():
        miner_key, miner_pub = work / "miner.key", work / "miner.pub.pem"
    else:
        miner_key, miner_pub = rsa_key(work / "miner.key")
    pem = miner_pub.read_bytes()
    header = bytearray(0x800)
    header[0] = 0x26
    kinds = [BMU_TYPES[f.name] for f in files]
    struct.pack_into(">H", header, 11, sum(1 << k for k in kinds))
    struct.pack_into(">H", header, 22, len(pem))
    header[24:24 + len(pem)] = pem
    pem_file = work / "miner.pem"
    pem_file.write_bytes(pem)
    header[0x418:0x518] = sign(root_key, pem_file).read_bytes()
    header[0x518] = len(files)
    for i, (kind, f) in enumerate(zip(kinds, files, strict=True)):
        struct.pack_into(">BI", header, 0x51D + 5 * i, kind, f.stat().st_size)
    sigs = []
    for f in files:
        sig = bytearray(sign(miner_key, f, work / f"{f.name}.bmusig").read_bytes())
        if f.name == break_signature_of:
            sig[100] ^= 0x01
        sigs.append(bytes(sig))
    bodies = [f.read_bytes() for f in files]
    summary = work / "bmu.summary"
    summary.write_bytes(hashlib.sha256(header).digest() + b"".join(hashlib.sha256(b).digest() for b in bodies)
                        + b"".join(hashlib.sha256(s).digest() for s in sigs))
    out.write_bytes(bytes(header) + b"".join(bodies) + b"".join(sigs) + sign(miner_key, summary).read_bytes())
    return out


def aup(out: Path, payload: bytes, *, version: str = "20240101-avalon1246", bad_crc: bool = False) -> Path:
    """A Canaan AUP, format version 0: magic, version, payload length, 64-byte firmware version,
    CRC32 of the payload, payload."""
    crc = zlib.crc32(payload) ^ (0xDEADBEEF if bad_crc else 0)
    out.write_bytes(b"AUP format".ljust(16, b"\0") + struct.pack("<II64sI", 0, len(payload), version.encode(), crc)
                    + payload)
    return out


def merge(out: Path, bmus: Sequence[tuple[str, Path]], *, bad_crc: bool = False) -> Path:
    """A Bitmain "merge" file: a 36-byte LE header (0xABABABAB, version, header size, item count,
    item size, data offset, CRC32 of the whole file with this field zeroed, 2 reserved), then one
    172-byte item per control-board type ({u8 lengths x4, file name[64], chip[32], hardware[32],
    model[32], u32 offset, u32 size}), then the BMUs."""
    header_size, item_size = 36, 172
    data_off = header_size + item_size * len(bmus)
    items, blobs, offset = b"", b"", data_off
    for board, path in bmus:
        body = path.read_bytes()
        name, chip, hw, model = path.name.encode(), b"BM1368", board.encode(), b"Antminer S21"
        items += struct.pack("<BBBB64s32s32s32sII", len(name), len(chip), len(hw), len(model), name, chip, hw,
                             model, offset, len(body))
        blobs += body
        offset += len(body)
    head = bytearray(struct.pack("<9I", 0xABABABAB, 1, header_size, len(bmus), item_size, data_off, 0, 0, 0))
    whole = bytes(head) + items + blobs
    crc = zlib.crc32(whole) ^ (0x1 if bad_crc else 0)
    struct.pack_into("<I", head, 24, crc)
    out.write_bytes(bytes(head) + items + blobs)
    return out

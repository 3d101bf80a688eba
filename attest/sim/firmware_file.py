"""The firmware file a simulated rig hands out, so `attest image` can be tried on it offline.

Rigs whose scenario is about their firmware (``modified-firmware``, ``antbleed``) get one, written
to ``firmware/<rig>.tar.gz`` in the `attest sim` output and named in fleet.json as
``firmware_file``. It has the Bitmain signed-package layout (``runme.sh``, ``cert.pem``,
``fw.tar.gz`` and their ``.sig`` files, ``version_number``), built with the standard library
since it is the simulator's own artefact; ``fw.tar.gz`` holds the rig's flash images (``boot``,
``rootfs``: the release's synthetic bytes) and its miner binary.

What the vendor signed is the vendor's build: the release images and the miner the rig left the
factory with (an Antbleed-era bmminer was signed by the vendor in its day). What the file holds is
what the rig holds now, so a rootfs modified after the fact no longer matches the signature, as
on a real tampered package. The vendor's firmware root key is added to the sim trust store's
``vendor-keys/``.
"""

from __future__ import annotations

import functools
import gzip
import io
import tarfile
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from attest.sim.rig import Rig
from attest.sim.scenarios import release

#: Scenarios whose rigs hand out their firmware file.
HANDS_OUT_FIRMWARE = frozenset({"modified-firmware", "antbleed"})
VENDOR_KEY_FILE = "sim-firmware-root.pem"
RUNME = b"#!/bin/sh\n# simulated vendor upgrade script\ntar -xzf fw.tar.gz -C /tmp/upgrade\n"


@functools.cache
def _keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """(the vendor's firmware root key, the package key its cert.pem carries); made once per run."""
    return (rsa.generate_private_key(public_exponent=65537, key_size=2048),
            rsa.generate_private_key(public_exponent=65537, key_size=2048))


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _sign(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _tar(members: dict[str, bytes], *, gz: bool) -> bytes:
    """A reproducible tarball: the same members always give the same bytes (so signatures hold)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o755 if name.endswith(".sh") else 0o644
            tf.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0) if gz else raw.getvalue()


def _fw(images: dict[str, bytes], rig: Rig) -> bytes:
    return _tar({**images, rig.miner_path.lstrip("/"): rig.miner_binary}, gz=True)


def firmware_package(rig: Rig) -> bytes:
    root, package = _keys()
    vendor_build = _fw(release(rig.model, rig.firmware_version).images, rig)
    cert = _pem(package)
    return _tar({
        "runme.sh": RUNME, "runme.sh.sig": _sign(root, RUNME),
        "cert.pem": cert, "cert.pem.sig": _sign(root, cert),
        "fw.tar.gz": _fw(rig.images, rig), "fw.tar.gz.sig": _sign(package, vendor_build),
        "version_number": rig.firmware_version.encode() + b"\n",
    }, gz=True)


def write_firmware_files(rigs: list[Rig], out: Path) -> dict[str, str]:
    """Write the firmware files and the vendor key; rig name -> file path, for fleet.json."""
    files: dict[str, str] = {}
    for rig in rigs:
        if rig.scenario not in HANDS_OUT_FIRMWARE:
            continue
        path = out / "firmware" / f"{rig.name}.tar.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(firmware_package(rig))
        files[rig.name] = str(path)
    if files:
        keys = out / "trust" / "vendor-keys"
        keys.mkdir(parents=True, exist_ok=True)
        (keys / VENDOR_KEY_FILE).write_bytes(_pem(_keys()[0]))
    return files

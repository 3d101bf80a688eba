"""Frames between the station and its check process: a 4-byte big-endian length, then a pickle.

Both ends are this program (the station started the process and holds its pipes), but the check
process parses hostile device bytes: if a parser bug ever gave a rig code execution there, a plain
``pickle.loads`` in the station would hand it the station (and its key) as well. So frames are
read with ``FrameUnpickler``, which builds only the classes of our own data (classes defined in
``attest`` and ``gui`` modules) and a short list of plain standard types; no function, no module
attribute, nothing a pickle could call to run code.
"""

from __future__ import annotations

import asyncio
import io
import pickle
import struct
from dataclasses import dataclass, replace
from typing import Any, BinaryIO

from attest.appraise import Appraisal
from attest.evidence import Evidence
from attest.fleet import DeviceAppraised, DeviceRevised
from attest.manifest import Manifest


@dataclass(frozen=True)
class SlimAppraised:
    """A DeviceAppraised without what the station already holds: the manifest (by digest: the
    station planned the check with it) and the evidence, when a DeviceCollected carried that
    very object. A 1,000-rig manifest would otherwise travel in every frame, and each unpickle
    holds the station's GIL while the table paints."""

    appraisal: Appraisal  # evidence and manifest set to None when referenced
    manifest_digest: str | None
    evidence_sent: bool


def slim(event: DeviceAppraised, sent: dict[str, Evidence]) -> SlimAppraised:
    a = event.appraisal
    known = sent.get(a.address) is a.evidence
    thin = replace(a, evidence=None if known else a.evidence, manifest=None)  # type: ignore[arg-type]
    return SlimAppraised(thin, None if a.manifest is None else a.manifest.digest, known)


def rebuild(event: SlimAppraised, manifests: dict[str, Manifest], received: dict[str, Evidence]) -> DeviceAppraised:
    a = event.appraisal
    evidence = received[a.address] if event.evidence_sent else a.evidence
    manifest = None if event.manifest_digest is None else manifests[event.manifest_digest]
    return DeviceAppraised(replace(a, evidence=evidence, manifest=manifest))


@dataclass(frozen=True)
class SlimRevised:
    """A DeviceRevised, slimmed as SlimAppraised is; the appraisal it supersedes is not sent at
    all: the station holds it (the device's previous verdict)."""

    appraisal: Appraisal
    manifest_digest: str | None
    evidence_sent: bool
    because: str


def slim_revised(event: DeviceRevised, sent: dict[str, Evidence]) -> SlimRevised:
    thin = slim(DeviceAppraised(event.appraisal), sent)
    return SlimRevised(thin.appraisal, thin.manifest_digest, thin.evidence_sent, event.because)


def rebuild_revised(event: SlimRevised, manifests: dict[str, Manifest], received: dict[str, Evidence],
                    latest: dict[str, Appraisal]) -> DeviceRevised:
    new = rebuild(SlimAppraised(event.appraisal, event.manifest_digest, event.evidence_sent), manifests,
                  received).appraisal
    return DeviceRevised(new, latest.get(new.address, new), event.because)


@dataclass(frozen=True)
class BatchFinished:
    """The check is over; ``appraisals`` says how many DeviceAppraised events came before."""

    appraisals: int


@dataclass(frozen=True)
class SignRequest:
    """The check process asks the station to sign its batch's checkpoint. It holds no station
    key: it sends the message to sign and what the checkpoint adds (the log size the batch was
    built on, the new leaves), and the station signs only a checkpoint that grows its last one
    by exactly those leaves (``attest.log.rebuild.sign_extension``)."""

    message: bytes
    base_size: int
    leaves: tuple[bytes, ...]


@dataclass(frozen=True)
class SignReply:
    """The station's answer on the check process's stdin: a signature, or why not (a code of
    REASONS and a message)."""

    signature: bytes | None
    code: str = ""
    message: str = ""


#: The station refuses a bigger frame: a broken worker must not make it allocate without bound.
MAX_FRAME = 256 * 1024 * 1024
_HEADER = struct.Struct(">I")


def encode_frame(payload: Any) -> bytes:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def write_frame(out: BinaryIO, payload: Any) -> None:
    out.write(encode_frame(payload))
    out.flush()


#: Standard types our frames hold (dates in records, networks in a plan's ranges, paths).
_STANDARD_TYPES = {
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"), ("builtins", "complex"),
    ("collections", "OrderedDict"), ("collections", "defaultdict"), ("collections", "Counter"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"), ("datetime", "timedelta"),
    ("datetime", "timezone"), ("ipaddress", "IPv4Address"), ("ipaddress", "IPv6Address"),
    ("ipaddress", "IPv4Network"), ("ipaddress", "IPv6Network"), ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"), ("pathlib", "PurePosixPath"), ("pathlib", "PureWindowsPath"),
}
_OWN_PACKAGES = ("attest", "gui")


class FrameUnpickler(pickle.Unpickler):
    """Builds our own data classes and plain standard types; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _STANDARD_TYPES:
            return super().find_class(module, name)
        own = module.split(".", 1)[0] in _OWN_PACKAGES
        if own and name.isidentifier() and not name.startswith("_"):
            try:
                found = super().find_class(module, name)
            except (ImportError, AttributeError):
                found = None
            # A class defined in that module: never a function, a module, or a name it imported.
            if isinstance(found, type) and found.__module__ == module:
                return found
        raise pickle.UnpicklingError(f"a frame asked for {module}.{name}, which frames never hold")


def load_frame(data: bytes) -> Any:
    return FrameUnpickler(io.BytesIO(data)).load()


def read_frame(stream: BinaryIO) -> Any | None:
    """The next frame from a blocking stream, or None at a clean end of stream."""
    header = stream.read(_HEADER.size)
    if not header:
        return None
    if len(header) != _HEADER.size:
        raise EOFError("the check process's stream ended inside a frame header")
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes refused")
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the check process's stream ended inside a frame")
    return load_frame(data)


async def read_frame_async(reader: asyncio.StreamReader) -> Any | None:
    try:
        header = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            return None
        raise EOFError("the check process's stream ended inside a frame header") from e
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes refused")
    return load_frame(await reader.readexactly(size))

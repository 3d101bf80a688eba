"""Frames between the station and its check process: a 4-byte big-endian length, then a pickle.

Pickle is safe here because both ends are this program: the station started the process and
holds its pipes, and device bytes only travel inside the core's own frozen dataclasses.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO


@dataclass(frozen=True)
class BatchFinished:
    """The check is over; ``appraisals`` says how many DeviceAppraised events came before."""

    appraisals: int


#: The station refuses a bigger frame: a broken worker must not make it allocate without bound.
MAX_FRAME = 256 * 1024 * 1024
_HEADER = struct.Struct(">I")


def encode_frame(payload: Any) -> bytes:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(data)) + data


def write_frame(out: BinaryIO, payload: Any) -> None:
    out.write(encode_frame(payload))
    out.flush()


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
    return pickle.loads(data)


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
    return pickle.loads(await reader.readexactly(size))

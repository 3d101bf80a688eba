"""One unary gRPC call over HTTP/2 (grpclib), bytes in and bytes out: the Braiins OS public API.

The messages stay bytes here (a pass-through codec): encoding them is the driver's business, so
this module knows the wire, not the vendor. Every call runs under one deadline (connect
included); a reply larger than ``max_bytes`` is refused. grpclib reads a message whole once its
5-byte header declared its length, so the deadline, not the cap, is what bounds a peer that
declares gigabytes and trickles them: the cap then refuses it on arrival.
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpclib.client import Channel
from grpclib.const import Cardinality, Status
from grpclib.encoding.base import CodecBase
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError

from attest.transport.errors import (
    AUTH_FAILED,
    CONNECTION_RESET,
    MALFORMED_REPLY,
    REPLY_TOO_LARGE,
    TIMEOUT,
    UNREACHABLE,
    Recorder,
    TransportError,
)


class _Bytes(CodecBase):
    """Messages already encoded by the caller travel as they are."""

    __content_subtype__ = "proto"

    def encode(self, message: Any, message_type: Any) -> bytes:
        return bytes(message)

    def decode(self, data: bytes, message_type: Any) -> bytes:
        return bytes(data)


async def unary(host: str, port: int, path: str, request: bytes, *, metadata: dict[str, str] | None = None,
                timeout: float, max_bytes: int, record: Recorder | None = None) -> tuple[bytes, dict[str, str]]:
    """Call ``path`` (``/package.Service/Method``) with ``request``: (reply, initial metadata).

    Expected failures are TransportError: UNREACHABLE (nothing listens), TIMEOUT, AUTH_FAILED
    (UNAUTHENTICATED / PERMISSION_DENIED), MALFORMED_REPLY (not gRPC, or another gRPC error,
    whose status and message are quoted), REPLY_TOO_LARGE.
    """
    if record is not None:
        record(">", b"POST " + path.encode("ascii", "replace") + b" (gRPC, %d request bytes)" % len(request))
    channel = Channel(host, port, codec=_Bytes())
    try:
        async with asyncio.timeout(timeout):
            async with channel.request(path, Cardinality.UNARY_UNARY, bytes, bytes,
                                       metadata=dict(metadata or {})) as stream:
                await stream.send_message(request, end=True)
                await stream.recv_initial_metadata()
                reply = await stream.recv_message()
                await stream.recv_trailing_metadata()
                initial = {str(k): str(v) for k, v in (stream.initial_metadata or {}).items()
                           if isinstance(v, str)}
    except TimeoutError:
        raise TransportError(TIMEOUT, f"{path}: no complete reply within {timeout:g} s") from None
    except GRPCError as exc:
        code = AUTH_FAILED if exc.status in (Status.UNAUTHENTICATED, Status.PERMISSION_DENIED) else MALFORMED_REPLY
        message = str(exc.message or "")[:200]
        raise TransportError(code, f"{path}: gRPC status {exc.status.name}: {message}") from None
    except ConnectionRefusedError as exc:
        raise TransportError(UNREACHABLE, f"{path}: connect failed: {exc.strerror or exc}") from None
    except (StreamTerminatedError, ConnectionResetError, BrokenPipeError) as exc:
        raise TransportError(CONNECTION_RESET, f"{path}: connection lost: {exc}") from None
    except OSError as exc:
        raise TransportError(UNREACHABLE, f"{path}: {exc.strerror or exc}") from None
    except (ProtocolError, AssertionError, ValueError, KeyError, NotImplementedError) as exc:
        raise TransportError(MALFORMED_REPLY, f"{path}: not a gRPC reply ({type(exc).__name__})") from None
    finally:
        channel.close()
    if reply is None:
        raise TransportError(MALFORMED_REPLY, f"{path}: the reply carried no message")
    if record is not None:
        record("<", reply[:4096])
    if len(reply) > max_bytes:
        raise TransportError(REPLY_TOO_LARGE, f"{path}: reply of {len(reply)} bytes exceeds {max_bytes}")
    return reply, initial

"""One request, one reply over TCP: the framing of every port-4028 miner API.

The peer is untrusted, so every exchange runs under one deadline and one size cap: a device that
never answers, answers forever or answers a gigabyte costs us ``timeout`` seconds and
``max_bytes`` of memory, no more.

This module knows bytes, not vendors, and imports nothing of ``attest`` outside ``transport/``
(DESIGN.md's transport wall). Failures are ``TransportError`` values whose ``code`` strings are the same ones
the drivers raise, so a driver converts them without a lookup table; the transcript is a plain
callable so the caller decides where bytes are recorded.
"""

from __future__ import annotations

import asyncio
import contextlib

from attest.transport.errors import (
    CONNECTION_RESET,
    MALFORMED_REPLY,
    REPLY_TOO_LARGE,
    TIMEOUT,
    UNREACHABLE,
    Recorder,
    TransportError,
)

_READ_CHUNK = 64 * 1024
#: Bound on closing politely: a peer that stops reading must not hold us after the exchange.
_CLOSE_GRACE_SECONDS = 1.0


async def request(
    host: str,
    port: int,
    payload: bytes,
    *,
    timeout: float,
    max_bytes: int,
    record: Recorder | None = None,
    terminator: bytes | None = b"\x00",
) -> bytes:
    """Connect, send ``payload``, and return the reply read up to ``terminator`` or EOF.

    The returned bytes include the terminator when one arrived (cgminer/bmminer end replies with
    NUL; btminer just closes). ``timeout`` bounds the whole exchange, connect included. Raises
    ``TransportError`` for every expected failure: UNREACHABLE when the connect fails or is
    never answered, TIMEOUT when connected but the reply is not complete in time,
    CONNECTION_RESET when the peer resets or closes before any reply byte, REPLY_TOO_LARGE when
    more than ``max_bytes`` arrive.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    reader, writer = await open_until(host, port, deadline, timeout)

    received = bytearray()
    clean = False
    try:
        if record is not None:
            record(">", payload)
        try:
            async with asyncio.timeout_at(deadline):
                writer.write(payload)
                await writer.drain()
                clean = await _read_reply(reader, received, max_bytes, terminator)
        except TimeoutError:
            if received:
                detail = f"reply incomplete after {timeout:g} s ({len(received)} bytes)"
            else:
                detail = f"no reply within {timeout:g} s"
            raise TransportError(TIMEOUT, detail) from None
        except OSError as exc:  # reset, broken pipe, aborted
            raise TransportError(
                CONNECTION_RESET,
                f"connection lost after {len(received)} reply bytes: {exc.strerror or exc}",
            ) from None
        if not received:
            raise TransportError(CONNECTION_RESET, "peer closed the connection without answering")
        return bytes(received)
    finally:
        if record is not None and received:
            record("<", bytes(received))
        await _close(writer, graceful=clean)


async def _read_reply(
    reader: asyncio.StreamReader, received: bytearray, max_bytes: int, terminator: bytes | None
) -> bool:
    """Fill ``received``; True when the reply ended normally (terminator or EOF)."""
    while True:
        # Never ask for more than one byte past the cap: that byte is enough to know it is over.
        chunk = await reader.read(min(_READ_CHUNK, max_bytes + 1 - len(received)))
        if not chunk:
            return True
        end = chunk.find(terminator) if terminator else -1
        if end >= 0:
            chunk = chunk[: end + len(terminator or b"")]
        received += chunk
        if len(received) > max_bytes:
            raise TransportError(REPLY_TOO_LARGE, f"reply exceeds {max_bytes} bytes")
        if end >= 0:
            return True


async def _close(writer: asyncio.StreamWriter, *, graceful: bool) -> None:
    """Close politely after a complete reply; otherwise abort so nothing lingers."""
    if graceful:
        writer.close()
    else:
        writer.transport.abort()
    try:
        await asyncio.wait_for(writer.wait_closed(), _CLOSE_GRACE_SECONDS)
    except TimeoutError:
        # A peer that stopped reading keeps a graceful close waiting on the send buffer.
        writer.transport.abort()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    except OSError:
        pass  # the reset that ended the exchange, reported already


async def open_until(host: str, port: int, deadline: float, timeout: float,
                     what: str = "") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect before the loop time ``deadline`` (``timeout`` only names it in the message);
    every failure is UNREACHABLE, prefixed with ``what`` (e.g. "GET /cgi-bin/x: ")."""
    try:
        async with asyncio.timeout_at(deadline):
            return await asyncio.open_connection(host, port)
    except TimeoutError:
        # Checked before OSError: TimeoutError is one. A silent connect means nothing listens
        # (a dropped SYN), which is "unreachable", not "the device did not answer".
        raise TransportError(UNREACHABLE, f"{what}no answer to connect within {timeout:g} s") from None
    except OSError as exc:
        raise TransportError(UNREACHABLE, f"{what}connect failed: {exc.strerror or exc}") from None


async def request_length_prefixed(
    host: str,
    port: int,
    payload: bytes,
    *,
    timeout: float,
    max_bytes: int,
    record: Recorder | None = None,
) -> bytes:
    """Send ``payload`` after its length (4 bytes, little-endian) and read one reply framed the
    same way (Whatsminer API v3 on TCP 4433). The declared length is checked against
    ``max_bytes`` before anything is read, and a reply shorter than it declares is MALFORMED_REPLY
    quoting both numbers: a wrong prefix is a clear problem, never a hang or a huge buffer.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    reader, writer = await open_until(host, port, deadline, timeout)
    framed = len(payload).to_bytes(4, "little") + payload
    received = bytearray()
    clean = False
    try:
        if record is not None:
            record(">", framed)
        try:
            async with asyncio.timeout_at(deadline):
                writer.write(framed)
                await writer.drain()
                while len(received) < 4:
                    chunk = await reader.read(4 - len(received))
                    if not chunk:
                        break
                    received += chunk
                if len(received) < 4:
                    what = "closed without answering" if not received else f"sent only {len(received)} bytes"
                    raise TransportError(CONNECTION_RESET if not received else MALFORMED_REPLY,
                                         f"peer {what} (a length-prefixed reply starts with 4 length bytes)")
                declared = int.from_bytes(received[:4], "little")
                if declared > max_bytes:
                    raise TransportError(MALFORMED_REPLY if declared > 0x00FFFFFF else REPLY_TOO_LARGE,
                                         f"the reply's length prefix declares {declared} bytes, more than "
                                         f"the {max_bytes} accepted (prefix bytes {bytes(received[:4]).hex()})")
                while len(received) < 4 + declared:
                    chunk = await reader.read(min(_READ_CHUNK, 4 + declared - len(received)))
                    if not chunk:
                        raise TransportError(MALFORMED_REPLY, f"the reply declared {declared} bytes after its "
                                             f"length prefix but the peer closed after {len(received) - 4}")
                    received += chunk
                clean = True
        except TimeoutError:
            detail = (f"reply incomplete after {timeout:g} s ({len(received)} bytes)" if received
                      else f"no reply within {timeout:g} s")
            raise TransportError(TIMEOUT, detail) from None
        except OSError as exc:
            raise TransportError(CONNECTION_RESET, f"connection lost after {len(received)} reply bytes: "
                                 f"{exc.strerror or exc}") from None
        return bytes(received[4:])
    finally:
        if record is not None and received:
            record("<", bytes(received))
        await _close(writer, graceful=clean)

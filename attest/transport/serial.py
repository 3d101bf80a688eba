"""A serial console over pyserial: any pyserial URL, one worker thread per port, every read bounded.

``/dev/ttyUSB0`` (a USB-UART adapter), ``socket://HOST:PORT`` (a ser2net rack), ``rfc2217://``
and ``loop://`` (tests) all open through ``serial.serial_for_url``, so a console is reached the
same way whatever carries it (DESIGN.md, after pyserial's URL handlers).

pyserial blocks, so every call on a port runs on that port's own single-thread executor: two
reads (or a read and a write) can never interleave on one wire, and a slow port never holds up
the event loop or another port. A port already open in this process is refused rather than
shared, for the same reason. Reads poll in short slices so a deadline is honoured to within
:data:`POLL_SECONDS` without ever cancelling a read mid-flight (which would lose its bytes).

The device is the adversary: every read has a deadline and a byte cap, and failures raise
:class:`TransportError` with the drivers' code strings. This module knows bytes, not U-Boot or
Linux; the console driver decides what the bytes mean.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import serial

from attest.transport.errors import CONNECTION_RESET, REPLY_TOO_LARGE, TIMEOUT, UNREACHABLE, Recorder, TransportError

#: How long one blocking read may wait for its first byte: the granularity of every deadline.
POLL_SECONDS = 0.05
#: The most one blocking read takes in one go.
READ_CHUNK = 4096
#: What one read may put in the transcript; the transcript has its own total cap.
RECORD_CAP_BYTES = 8 * 1024
PARITIES = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD,
            "M": serial.PARITY_MARK, "S": serial.PARITY_SPACE}

T = TypeVar("T")
#: ``match(buffer)``: something (truthy) once the bytes so far hold what the caller waits for.
Matcher = Callable[[bytes], T | None]

_open_urls: set[str] = set()
_open_lock = threading.Lock()


def _discard(direction: str, data: bytes) -> None:
    """The recorder used when the caller keeps no transcript."""


def quote(data: bytes, limit: int = 120) -> str:
    """Device bytes for a message: ASCII, control bytes escaped, the *last* ``limit`` bytes.

    The end of what arrived is what tells a technician where the device stopped.
    """
    text = repr(bytes(data[-limit:]))[2:-1]
    return ("..." if len(data) > limit else "") + text


class SerialLink:
    """One open console port. Use :func:`open_link`; close with :meth:`close` (or ``async with``)."""

    def __init__(self, port: Any, url: str, executor: ThreadPoolExecutor, record: Recorder,
                 baudrate: int = 115200) -> None:
        self._port = port
        self._executor = executor
        self._record = record
        self.url = url
        self.baudrate = baudrate  # what the line is set to: how long a reply of N bytes takes
        self.bytes_sent = 0
        self.bytes_received = 0
        self._closed = False

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def write(self, data: bytes, *, secret: bool = False) -> None:
        """Send bytes; a port that went away raises CONNECTION_RESET. A secret is not recorded."""
        self._record(">", b"[secret withheld]" if secret else data[:RECORD_CAP_BYTES])
        try:
            await self._call(self._write_blocking, data)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(CONNECTION_RESET, f"writing to {self.url} failed: {exc}") from None
        self.bytes_sent += len(data)

    def _write_blocking(self, data: bytes) -> None:
        self._port.write(data)
        self._port.flush()

    async def read_some(self, wait: float = POLL_SECONDS) -> bytes:
        """Whatever arrives within about ``wait`` seconds (``b""`` if nothing did)."""
        deadline = time.monotonic() + wait
        while True:
            chunk = await self._read_chunk()
            if chunk or time.monotonic() >= deadline:
                return chunk

    async def _read_chunk(self) -> bytes:
        try:
            chunk = await self._call(self._read_blocking)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(CONNECTION_RESET, f"the console at {self.url} went away: {exc}") from None
        if chunk:
            self.bytes_received += len(chunk)
            self._record("<", chunk[:RECORD_CAP_BYTES])
        return chunk

    def _read_blocking(self) -> bytes:
        first = self._port.read(1)  # waits at most the port's timeout, POLL_SECONDS
        if not first:
            return b""
        waiting = min(self._port.in_waiting, READ_CHUNK)
        return first + (self._port.read(waiting) if waiting else b"")

    async def read_until(self, match: Matcher[T], *, timeout: float, max_bytes: int, what: str,
                         initial: bytes = b"", idle: float | None = None) -> tuple[bytes, T]:
        """Read until ``match(buffer)`` is truthy; returns the buffer and the match.

        Raises TIMEOUT after ``timeout`` seconds in all, or after ``idle`` seconds without a byte
        (a long reply that keeps coming may take its line time; a silent line may not), quoting
        the last bytes seen or saying nothing came; REPLY_TOO_LARGE past ``max_bytes``. ``what``
        names the wait in those messages ("the U-Boot prompt").
        """
        buffer = bytearray(initial)
        started = last_byte = time.monotonic()
        deadline = started + timeout
        found = match(bytes(buffer)) if buffer else None
        while not found:
            now = time.monotonic()
            if now >= deadline or (idle is not None and now - last_byte >= idle):
                seen = f"the last bytes were: {quote(buffer)}" if buffer else "nothing arrived"
                waited = f"{now - started:.1f} s" + (f", {now - last_byte:.1f} s of them silent" if buffer else "")
                raise TransportError(TIMEOUT, f"gave up waiting for {what} after {waited}; {len(buffer)} bytes, {seen}")
            chunk = await self._read_chunk()
            if not chunk:
                continue
            last_byte = time.monotonic()
            buffer += chunk
            if len(buffer) > max_bytes:
                raise TransportError(REPLY_TOO_LARGE, f"more than {max_bytes} bytes while waiting for {what}; "
                                                      f"the last were: {quote(buffer)}")
            found = match(bytes(buffer))
        return bytes(buffer), found

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._call(self._port.close)
        except (serial.SerialException, OSError):
            pass  # closing a port that already went away
        finally:
            self._executor.shutdown(wait=False)
            with _open_lock:
                _open_urls.discard(self.url)

    async def __aenter__(self) -> SerialLink:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def open_link(url: str, *, baudrate: int = 115200, parity: str = "N", bytesize: int = 8,
                    stopbits: float = 1, timeout: float = 5.0, record: Recorder = _discard) -> SerialLink:
    """Open ``url`` (a device path or any pyserial URL) raw, with no flow control.

    Raises UNREACHABLE when the port cannot be opened (missing, busy, refused) or the settings
    are impossible, TIMEOUT when opening takes longer than ``timeout`` (a ser2net host that
    does not answer).
    """
    if parity.upper() not in PARITIES:
        raise TransportError(UNREACHABLE, f"parity {parity!r} is not one of {', '.join(PARITIES)}")
    with _open_lock:
        if url in _open_urls:
            raise TransportError(UNREACHABLE, f"{url} is already in use by another check on this station")
        _open_urls.add(url)
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"serial {url}")

    def open_blocking() -> Any:
        # exclusive: a second program on the same adapter would steal half of every reply.
        return serial.serial_for_url(url, baudrate=baudrate, parity=PARITIES[parity.upper()], bytesize=bytesize,
                                     stopbits=stopbits, timeout=POLL_SECONDS, write_timeout=timeout,
                                     xonxoff=False, rtscts=False, dsrdtr=False, exclusive=True)

    try:
        async with asyncio.timeout(timeout):
            port = await asyncio.get_running_loop().run_in_executor(executor, open_blocking)
    except TimeoutError:
        _release(url, executor)
        raise TransportError(TIMEOUT, f"opening {url} did not finish within {timeout:g} s") from None
    except (serial.SerialException, OSError, ValueError) as exc:
        _release(url, executor)
        raise TransportError(UNREACHABLE, f"cannot open {url}: {exc}") from None
    record(">", f"[open {url} {baudrate} {bytesize}{parity.upper()}{stopbits:g}]".encode("utf-8", "backslashreplace"))
    return SerialLink(port, url, executor, record, baudrate)


def _release(url: str, executor: ThreadPoolExecutor) -> None:
    executor.shutdown(wait=False)
    with _open_lock:
        _open_urls.discard(url)

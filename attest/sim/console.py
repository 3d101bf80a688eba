"""A simulated rig's serial console on a pty: U-Boot with its autoboot countdown, then Linux.

``os.openpty`` gives each rig a real terminal device (``/dev/pts/N``) that pyserial opens like a
USB-UART adapter. Behind it the rig powers on: the U-Boot banner, ``Hit any key to stop
autoboot`` counting down (a key stops it at the prompt, attest.sim.uboot), else the kernel boots
to a ``login:`` prompt and a busybox shell (attest.sim.console_shell). ``reset`` and ``reboot``
start it over.

It behaves like a UART at 115200 8N1: every byte it sends takes its ten bit times (so timing and
byte counts are what a real line gives), and a client whose port is set to another rate gets
what a UART gives then — garbage both ways (the pty master sees the client's termios).
``rig.console`` adds line trouble (attest.sim.rig: silent, noisy, drop, reboot).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random

try:  # the simulated consoles are ptys: POSIX only (on Windows the simulator serves the network only)
    import termios
    import tty
except ImportError:
    HAS_PTY = False
else:
    HAS_PTY = True

from attest.sim.console_shell import ConsoleShell
from attest.sim.rig import DROP, NOISY, REBOOT, SILENT, Rig
from attest.sim.uboot import UBootShell, build_for

BAUD = 115200
BITS_PER_BYTE = 10  # start bit, eight data bits, stop bit
CHUNK = 32
LOGIN_FAIL_SECONDS = 1.0
#: The command whose output a ``drop`` or ``reboot`` console cuts in half.
TRIGGER = "sha256sum /dev/mtd"
KERNEL_LOG = [
    "Booting Linux on physical CPU 0x0",
    "Linux version 4.9.113 (jenkins@builder) (gcc version 7.3.1) #1 SMP PREEMPT",
    "CPU: ARMv7 Processor [413fc090] revision 0 (ARMv7), cr=18c5387d",
    "Machine model: Control Board",
    "Memory: 1012MB = 1012MB total",
    "NAND: 256 MiB",
    "4 cmdlinepart partitions found on MTD device pl353-nand",
    "VFS: Mounted root (squashfs filesystem) readonly on device 31:1.",
    "Freeing unused kernel memory: 1024K",
    "random: crng init done",
]


class _Interrupted(Exception):
    """Ctrl-C while a line was being typed."""


class RigConsole:
    """One rig's console. ``await start()``, then open ``path``; ``close()`` (and ``wait_closed()``) to stop."""

    def __init__(self, rig: Rig, *, countdown: int = 2, boot_seconds: float = 1.0, baud: int = BAUD) -> None:
        self.rig = rig
        self.countdown = countdown
        self.boot_seconds = boot_seconds
        self.baud = baud
        self.path = ""
        self.bytes_out = 0  # what the rig sent, as a line analyser on TX would count it
        self.bytes_in = 0
        self.boots = 0
        self._master = self._slave = -1
        self._inbox: asyncio.Queue[int] = asyncio.Queue()
        self._free_at = 0.0
        self._rng = random.Random(f"console/{rig.serial}")
        self._stage = "u-boot"
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> RigConsole:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        attrs = termios.tcgetattr(self._slave)
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        asyncio.get_running_loop().add_reader(self._master, self._on_input)
        self._task = asyncio.create_task(self._power_on())
        return self

    def close(self) -> None:
        """Power off: the unit stops and its pty goes away (a client's next read fails)."""
        if self._task is not None:
            self._task.cancel()
        if self._master >= 0:
            asyncio.get_running_loop().remove_reader(self._master)
            for fd in (self._master, self._slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._master = self._slave = -1

    async def wait_closed(self) -> None:
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    # --- the wire --------------------------------------------------------------------------------

    def _wrong_rate(self) -> bool:
        try:
            return termios.tcgetattr(self._master)[5] != termios.B115200
        except termios.error:
            return False

    def _on_input(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except OSError:
            return
        self.bytes_in += len(data)
        if self._wrong_rate():  # what a UART at 115200 makes of bytes sent at another rate
            data = bytes(((b * 37) ^ 0xA5) & 0xFF for b in data[::2])
        for byte in data:
            self._inbox.put_nowait(byte)

    async def _send(self, data: bytes) -> None:
        """Put bytes on the line at its pace; bytes nobody reads are lost, as on a real UART."""
        if self.rig.console == NOISY:
            data = self._noise(data)
        if self._wrong_rate():
            data = bytes(0x80 | ((b * 113) ^ 0x5A) & 0xFF for b in data if b % 3)
        loop = asyncio.get_running_loop()
        for start in range(0, len(data), CHUNK):
            chunk = data[start : start + CHUNK]
            self._free_at = max(loop.time(), self._free_at) + len(chunk) * BITS_PER_BYTE / self.baud
            await asyncio.sleep(max(0.0, self._free_at - loop.time()))
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._master, chunk)
            self.bytes_out += len(chunk)

    async def _text(self, text: str) -> None:
        await self._send(text.replace("\r\n", "\n").replace("\n", "\r\n").encode())

    def _noise(self, data: bytes) -> bytes:
        """Kernel lines and escapes between lines, junk after prompts, now and then a spoilt byte."""
        out = bytearray()
        for line in data.splitlines(keepends=True):
            if self._rng.random() < 0.004 and len(line) > 4:
                at = self._rng.randrange(len(line) - 2)
                line = line[:at] + bytes([0x80 | self._rng.randrange(128)]) + line[at + 1 :]
            out += line
            if line.endswith(b"\n"):
                roll = self._rng.random()
                if roll < 0.06 and self._stage == "linux":
                    out += b"[%5d.%06d] usb 1-1: device descriptor read/64, error -71\r\n" % (
                        self._rng.randrange(99999), self._rng.randrange(10**6))
                elif roll < 0.09:
                    out += b"\x1b[0m"
        if not data.endswith(b"\n") and self._rng.random() < 0.3:
            out += b"\xff\xfe\x00\x1b[0m\x13"
        return bytes(out)

    async def _key(self, timeout: float | None = None) -> int | None:
        try:
            return await asyncio.wait_for(self._inbox.get(), timeout)
        except TimeoutError:
            return None

    async def _line(self, *, echo: bool, interrupt: bytes = b"^C\r\n") -> str:
        """A typed line, echoed as the terminal shows it; Ctrl-C abandons it."""
        typed = bytearray()
        while True:
            key = await self._key()
            if key in (0x0D, 0x0A):
                if echo:
                    await self._send(b"\r\n")
                return typed.decode("latin-1")
            if key == 0x03:
                await self._send(interrupt)
                raise _Interrupted
            if key in (0x08, 0x7F):
                if typed:
                    typed.pop()
                    if echo:
                        await self._send(b"\b \b")
            elif key is not None and 0x20 <= key < 0x7F:
                typed.append(key)
                if echo:
                    await self._send(bytes([key]))

    async def _dead(self) -> None:
        """A line that carries nothing any more: keys go nowhere."""
        while True:
            await self._key()

    # --- the unit ----------------------------------------------------------------------------------

    async def _power_on(self) -> None:
        if self.rig.console == SILENT:
            await self._dead()
        while True:
            self.boots += 1
            if await self._uboot() == "boot":
                await self._linux()

    async def _uboot(self) -> str:
        self._stage = "u-boot"
        uboot = UBootShell(self.rig)
        await self._text(f"\n\n{uboot.build.version}\n\nDRAM:  1 GiB\nNAND:  256 MiB\nIn:    serial\n"
                         "Out:   serial\nErr:   serial\nNet:   eth0\n")
        if not await self._countdown():
            await self._text("\n")
            return "boot"
        prompt = build_for(self.rig).prompt
        await self._text(prompt)
        while True:
            try:
                line = await self._line(echo=True, interrupt=b"<INTERRUPT>\r\n")
            except _Interrupted:
                await self._text(prompt)
                continue
            output, action = uboot.run(line)
            if output:
                await self._text(output + "\n")
            if action:
                return action
            await self._text(prompt)

    async def _countdown(self) -> bool:
        """``Hit any key to stop autoboot``: True when a key came in time (it is swallowed)."""
        while not self._inbox.empty():
            self._inbox.get_nowait()  # keys typed before U-Boot listened are gone
        await self._text(f"Hit any key to stop autoboot: {self.countdown:2d} ")
        for left in range(self.countdown, 0, -1):
            if await self._key(1.0) is not None:
                await self._text("\b\b\b 0 \n")
                return True
            await self._text(f"\b\b\b{left - 1:2d} ")
        return False

    async def _linux(self) -> None:
        self._stage = "linux"
        await self._text("## Booting kernel from Legacy Image ...\nStarting kernel ...\n\n")
        pause = self.boot_seconds / len(KERNEL_LOG)
        for n, line in enumerate(KERNEL_LOG):
            await asyncio.sleep(pause)
            await self._text(f"[{n * pause:12.6f}] {line}\n")
        while True:
            await self._text(f"\n{self.rig.hostname} login: ")
            try:
                user = await self._line(echo=True)
                await self._text("Password: ")
                password = await self._line(echo=False)
            except _Interrupted:
                continue
            await self._text("\n")
            if user == self.rig.username and password == self.rig.password:
                if await self._shell() == "reboot":
                    return
            else:
                await asyncio.sleep(LOGIN_FAIL_SECONDS)
                await self._text("Login incorrect\n")

    async def _shell(self) -> str:
        shell = ConsoleShell(self.rig)
        await self._text(f"\n\nBusyBox v1.31.1 built-in shell (ash)\n\n{shell.prompt}")
        while True:
            try:
                line = await self._line(echo=shell.echo)
            except _Interrupted:
                await self._text(shell.prompt)
                continue
            output, action = shell.run(line)
            if shell.onlcr:
                output = output.replace(b"\n", b"\r\n")
            if TRIGGER in line and self.rig.console in (DROP, REBOOT):
                await self._send(output[: len(output) // 2])
                if self.rig.console == DROP:
                    await self._dead()
                await self._text("\n[  812.000000] Watchdog timeout: restarting\n")
                return "reboot"
            await self._send(output)
            if action == "reboot":
                await self._text("The system is going down NOW!\nreboot: Restarting system\n")
                return "reboot"
            if action == "exit":
                return "exit"
            await self._text(shell.prompt)

"""The U-Boot of a simulated rig: its environment, its flash, and the commands a technician types.

Each model has the U-Boot its control board would carry (docs/protocols.md, "Serial console"):
the Antminer S21's recent build has ``hash sha256``; the S19 Pro's 2016 Zynq build has only
``crc32`` (so the check must call its integrity weak); the Whatsminer's reads SPI NOR with
``sf``. Flash is the rig's partitions back to back, at the offsets its ``mtdparts`` states, so a
region read and hashed here is byte for byte what the SSH shell's ``/dev/mtdN`` holds.

Nothing here runs a host command; output is what U-Boot prints, ``\\n`` line ends (the console
turns them into ``\\r\\n``).
"""

from __future__ import annotations

import functools
import hashlib
import re
import zlib
from dataclasses import dataclass, field

from attest.sim.rig import Rig


@dataclass(frozen=True)
class UBootBuild:
    version: str
    prompt: str
    flash: str  # "nand" | "sf"
    mtd_id: str
    has_hash: bool
    loadaddr: int


BUILDS = {
    "Antminer S21": UBootBuild("U-Boot 2022.01 (Jul 10 2026 - 11:02:44 +0800)", "=> ", "nand", "nand0", True,
                               0x1000000),
    "Antminer S19 Pro": UBootBuild("U-Boot 2016.07 (Mar 21 2026 - 14:21:33 +0800)", "zynq-uboot> ", "nand", "nand0",
                                   False, 0x2000000),
    "Whatsminer M50S": UBootBuild("U-Boot 2018.05 (May 02 2026 - 09:12:40 +0800) Allwinner Technology", "=> ", "sf",
                                  "spi0.0", True, 0x42000000),
}
DEFAULT_BUILD = BUILDS["Antminer S21"]
#: The partition U-Boot saves its environment in, and its size (real boards: 0x20000; kept small,
#: as the simulator's other partitions are).
ENV_PARTITION = "env"
ENV_SIZE = 0x4000
TOOLCHAIN = "arm-linux-gnueabihf-gcc (Linaro GCC 7.3-2018.05) 7.3.1 20180425\nGNU ld (Linaro_Binutils-2018.05) 2.28.2"


def build_for(rig: Rig) -> UBootBuild:
    return BUILDS.get(rig.model, DEFAULT_BUILD)


def layout(rig: Rig) -> list[tuple[str, int]]:
    """The flash in order, as (name, size): the firmware images, the mutable config partition, the
    saved U-Boot environment, then any partition a scenario added (appended, so the genuine
    partitions keep their mtd numbers)."""
    parts = [(name, len(data)) for name, data in rig.images.items()]
    if rig.config_partition:
        parts.append(("config", len(rig.config_partition)))
    parts.append((ENV_PARTITION, ENV_SIZE))
    parts += [(name, len(data)) for name, data in rig.extra_partitions.items()]
    return parts


def partitions(rig: Rig) -> list[tuple[str, bytes]]:
    """The flash in order (see ``layout``), byte for byte: what ``/dev/mtdN`` and ``nand read`` give."""
    parts = list(rig.images.items())
    if rig.config_partition:
        parts.append(("config", rig.config_partition))
    parts.append((ENV_PARTITION, env_image(tuple(environment(rig).items()))))
    parts += list(rig.extra_partitions.items())
    return parts


def flash_dump(rig: Rig) -> bytes:
    """The whole flash chip as an external programmer reads it: every partition, back to back."""
    return b"".join(data for _, data in partitions(rig))


@functools.lru_cache(maxsize=4096)
def env_image(variables: tuple[tuple[str, str], ...], size: int = ENV_SIZE) -> bytes:
    """The environment as ``saveenv`` writes it to flash: CRC-32 (little-endian) over the data,
    then ``name=value`` pairs each ended by a NUL, one more NUL, and zeros to the end.

    Cached by content: a fleet's shells ask for their flash on every command.
    """
    data = b"".join(f"{name}={value}".encode() + b"\0" for name, value in variables) + b"\0"
    data = data[: size - 4].ljust(size - 4, b"\0")
    return zlib.crc32(data).to_bytes(4, "little") + data


def mtdparts(rig: Rig) -> str:
    build = build_for(rig)
    return f"mtdparts={build.mtd_id}:" + ",".join(f"{size // 1024}k({name})" for name, size in layout(rig))


def environment(rig: Rig) -> dict[str, str]:
    """printenv of the rig, in U-Boot's (sorted) order; ``rig.uboot_env`` adds or replaces entries."""
    build = build_for(rig)
    root = "/dev/mtdblock1" if build.flash == "nand" else "/dev/mtdblock1 rootwait"
    env = {
        "arch": "arm",
        "baudrate": "115200",
        "board": "zynq" if "Antminer" in rig.model else "sun50iw6p1",
        "bootargs": f"console=ttyPS0,115200 root={root} rootfstype=squashfs ro earlyprintk",
        "bootcmd": f"{build.flash} read ${{loadaddr}} 0x0 0x{len(rig.images.get('boot', b'')):x}; bootm ${{loadaddr}}",
        "bootdelay": "2",
        "ethaddr": rig.mac.lower(),
        "loadaddr": f"0x{build.loadaddr:x}",
        "miner_sn": rig.serial,
        "mtdids": f"{'nand0' if build.flash == 'nand' else 'nor0'}={build.mtd_id}",
        "mtdparts": mtdparts(rig),
        "serial#": rig.control_board_serial,
        "stderr": "serial",
        "stdin": "serial",
        "stdout": "serial",
    }
    env.update(rig.uboot_env)
    return dict(sorted(env.items()))


@dataclass
class UBootShell:
    """One power-on's U-Boot: environment in RAM, flash, RAM loaded by read commands."""

    rig: Rig
    build: UBootBuild = field(init=False)
    env: dict[str, str] = field(init=False)
    flash: bytes = field(init=False)
    ram: dict[int, bytes] = field(default_factory=dict)
    sf_probed: bool = False

    def __post_init__(self) -> None:
        self.build = build_for(self.rig)
        self.env = environment(self.rig)
        self.flash = flash_dump(self.rig)

    def run(self, line: str) -> tuple[str, str | None]:
        """Output of one command line, and ``"boot"`` / ``"reset"`` when it leaves the prompt."""
        out: list[str] = []
        for command in line.split(";"):
            words = re.sub(r"\$\{(\w+)\}", lambda m: self.env.get(m[1], ""), command).replace("''", "").split()
            if not words:
                continue
            text, action = self._command(words[0], words[1:])
            if text:
                out.append(text)
            if action:
                return "\n".join(out), action
        return "\n".join(out), None

    def _command(self, name: str, args: list[str]) -> tuple[str, str | None]:
        if name == "echo":
            return " ".join(args), None
        if name == "version":
            return f"{self.build.version}\n\n{TOOLCHAIN}", None
        if name == "printenv":
            return self._printenv(args), None
        if name == "setenv" and args:
            self.env[args[0]] = " ".join(args[1:])
            return "", None
        if name in ("boot", "bootd") or (name == "run" and args == ["bootcmd"]):
            return "", "boot"
        if name == "reset":
            return "resetting ...", "reset"
        if name == "crc32" and len(args) == 2:
            return self._digest("crc32", args), None
        if name == "hash" and self.build.has_hash and len(args) == 3 and args[0] == "sha256":
            return self._digest("sha256", args[1:]), None
        if name == self.build.flash and args[:1] == ["read"] and len(args) == 4:
            return self._read(args[1:]), None
        if name == "sf" and self.build.flash == "sf" and args[:1] == ["probe"]:
            self.sf_probed = True
            return "SF: Detected mx25l25635e with page size 256 Bytes, erase size 64 KiB, total 32 MiB", None
        if name == "help":
            return "\n".join(f"{c:<9} - " for c in self._commands()), None
        return f"Unknown command '{name}' - try 'help'", None

    def _commands(self) -> list[str]:
        base = ["boot", "bootm", "crc32", "echo", "help", "printenv", "reset", "setenv", "version", self.build.flash]
        return sorted([*base, "hash"] if self.build.has_hash else base)

    def _printenv(self, names: list[str]) -> str:
        if names:
            return "\n".join(f"{n}={self.env[n]}" if n in self.env else f'## Error: "{n}" not defined' for n in names)
        body = "\n".join(f"{k}={v}" for k, v in self.env.items())
        size = sum(len(k) + len(v) + 2 for k, v in self.env.items())
        return f"{body}\n\nEnvironment size: {size}/{ENV_SIZE - 4} bytes"

    def _read(self, args: list[str]) -> str:
        try:
            address, offset, size = (int(a, 16) for a in args)
        except ValueError:
            return f"Usage:\n{self.build.flash} read addr off size"
        if self.build.flash == "sf" and not self.sf_probed:
            return "No SPI flash selected. Please run `sf probe'"
        if offset + size > len(self.flash):
            return "Attempt to read outside the flash area\n 0 bytes read: ERROR"
        self.ram[address] = self.flash[offset : offset + size]
        if self.build.flash == "sf":
            return f"device 0 offset 0x{offset:x}, size 0x{size:x}\nSF: {size} bytes @ 0x{offset:x} Read: OK"
        return f"\nNAND read: device 0 offset 0x{offset:x}, size 0x{size:x}\n {size} bytes read: OK"

    def memory(self, address: int, size: int) -> bytes:
        for start, data in self.ram.items():
            if start <= address and address + size <= start + len(data):
                return data[address - start : address - start + size]
        return bytes(size)  # RAM nobody loaded: zeros, deterministically

    def _digest(self, algorithm: str, args: list[str]) -> str:
        try:
            address, size = int(args[0], 16), int(args[1], 16)
        except ValueError:
            return "Usage:\ncrc32 address count [addr]"
        data = self.memory(address, size)
        value = f"{zlib.crc32(data):08x}" if algorithm == "crc32" else hashlib.sha256(data).hexdigest()
        return f"{algorithm} for {address:08x} ... {address + size - 1:08x} ==> {value}"

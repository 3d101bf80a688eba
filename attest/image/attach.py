"""A flash dump read with an external programmer, attached to the unit it came from: its images
count at assurance ``offline`` for that unit's firmware.

Why: everything else the station reads passes through the rig's own software, which a rootkit
can bend. A lab that desoldered (or clipped onto) the flash chip and read it with a programmer
has bytes the rig's software never touched; attached to the unit (``attest verify ADDRESS
--attach SERIAL=DUMP.bin``, or *Attach flash dump…* in the app) they are the strongest evidence
short of a hardware root of trust.

The dump is split into partitions as ``attest image`` splits it (its own ``mtdparts``, else the
manifest's flash layout of the same size), and each partition becomes the claims a live rig's
partition does, at ``offline``: ``firmware.image.NAME.sha256``, and
``firmware.partition.mtdN.{name,size,content}`` (what it holds, told by
attest.flash_content; code the image reader found in a filesystem it opened counts too). Backdoor
indicators the reader found become ``indicator.ID``; ``firmware.dump`` names the file, and
``firmware.dump.unit_serial`` the unit its saved U-Boot environment names, if any. So appraisal
applies the live rules: unlisted partitions, mutable ones and the boot environment are judged
by what they hold. A dump that disagrees with the live rig is FIRMWARE_DUMP_DIFFERS
(attest.appraise_flash).

Reading is blocking work over a file that may be hundreds of MB: do it before the check (the CLI)
or off the GUI thread (the app), never on an event loop.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from attest.evidence import Assurance, Claim, Evidence, Problem, printable
from attest.flash_content import CODE, ENV_KEEP, Content, classify
from attest.image.containers import mtd
from attest.image.model import PARTITION, Inspection, Node
from attest.image.walk import inspect_file
from attest.manifest import Manifest
from attest.uboot_env import parse_environment, unit_serial

if TYPE_CHECKING:
    from attest.trust import TrustStore

OFFLINE = Assurance.OFFLINE
_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: What the image reader found inside a partition that means code is there.
_CODE_FINDINGS = frozenset({"FIRMWARE_UNSIGNED_CONTENT", "IMAGE_STARTUP_LISTENER", "IMAGE_FETCH_AND_RUN",
                            "BACKDOOR_INDICATOR"})
#: Reader findings that mean part of the dump could not be checked.
_COULD_NOT_CHECK = frozenset({"IMAGE_CORRUPT", "IMAGE_TRUNCATED", "IMAGE_LIMIT_EXCEEDED", "IMAGE_NESTING_LOOP",
                              "IMAGE_FORMAT_UNKNOWN", "IMAGE_TOO_COSTLY"})
MAX_DETAIL = 600


class DumpError(Exception):
    """The file cannot be used as this unit's flash dump; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DumpReading:
    """One dump, read: what it contributes to its unit's evidence (plain data, picklable)."""

    path: str
    sha256: str
    layout: str
    partitions: int
    claims: tuple[Claim, ...]
    problems: tuple[Problem, ...] = ()

    @property
    def summary(self) -> str:
        return f"{Path(self.path).name}: {self.partitions} partitions, {self.sha256}"


def read_dump(path: str | os.PathLike[str], trust: TrustStore | None, manifests: Sequence[Manifest], *,
              mtdparts: str | None = None) -> DumpReading:
    """Read and split one dump. Raises OSError when the file cannot be read, DumpError when it is
    no flash dump (no mtdparts in it, and no signed release's layout has its size)."""
    file = Path(path)
    layouts = [r.flash_layout for m in manifests for r in m.firmware if r.flash_layout]
    inspection = inspect_file(file, trust, mtdparts=mtdparts, layouts=layouts)
    if inspection.dump_layout is None:
        raise DumpError(f"{file.name} is not a flash dump Rig Attest can split: it holds no mtdparts string "
                        "and no signed release's flash layout has its size")
    try:
        parts = mtd.parse_mtdparts(inspection.dump_layout)
    except ValueError as e:
        raise DumpError(f"{file.name}: its mtdparts string cannot be used: {e}") from None
    source = f"dump {printable(file.name, 120)} (external programmer)"
    with open(file, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            claims = _partition_claims(data, size, parts, inspection, source)
    layout = inspection.dump_layout
    layout = layout if layout.startswith("mtdparts=") else f"mtdparts={layout}"
    claims.insert(0, Claim("firmware.dump", printable(f"{file.name}: {inspection.root.sha256}, {size} bytes, "
                                                      f"split by {layout}", MAX_DETAIL), source, OFFLINE))
    claims += _indicator_claims(inspection, source)
    problems = tuple(Problem(f.code, source, printable(f"{f.path}: {f.detail}" if f.path else f.detail, MAX_DETAIL))
                     for f in inspection.findings if f.code in _COULD_NOT_CHECK)
    return DumpReading(str(file), inspection.root.sha256, layout, len(parts), tuple(claims), problems)


def _partition_claims(data: mmap.mmap, size: int, parts: list[mtd.Partition], inspection: Inspection,
                      source: str) -> list[Claim]:
    claims: list[Claim] = []
    names = Counter(p.name for p in parts)
    nodes = {n.name: n for n in inspection.root.children if n.role == PARTITION}
    serial: str | None = None
    for index, part in enumerate(parts):
        key = f"firmware.partition.mtd{index}"
        end = size if part.size is None else part.offset + part.size
        shown = printable(part.name, 64)
        claims += [Claim(f"{key}.name", shown, source, OFFLINE),
                   Claim(f"{key}.size", max(0, min(end, size) - part.offset), source, OFFLINE)]
        if part.offset >= size or end > size:
            claims.append(Claim(f"{key}.read", f"failed: the partition declares bytes {part.offset}..{end} but the "
                                f"dump holds {size}", source, OFFLINE))
            continue
        view = memoryview(data)[part.offset:end]
        try:
            digest = "sha256:" + hashlib.sha256(view).hexdigest()
            content = classify(view)
            env = parse_environment(bytes(view[:ENV_KEEP]))
        finally:
            view.release()
        serial = serial or (unit_serial(env.variables) if env is not None else None)
        inner = _code_inside(nodes.get(part.name), inspection)
        if inner:
            content = Content(CODE, "; ".join(filter(None, [content.detail if content.kind == CODE else "", *inner])))
        if not _SAFE_NAME.fullmatch(part.name) or names[part.name] > 1:
            claims.append(Claim(f"{key}.rejected", f'name "{shown}" is not a plain partition name, or is listed '
                                "more than once; not judged by digest", source, OFFLINE))
        else:
            claims.append(Claim(f"firmware.image.{part.name}.sha256", digest, source, OFFLINE))
        claims.append(Claim(f"{key}.content", printable(content.text, MAX_DETAIL), source, OFFLINE))
    if serial is not None:
        claims.append(Claim("firmware.dump.unit_serial", printable(serial, 64), f"{source}, U-Boot environment",
                            OFFLINE))
    return claims


def _code_inside(node: Node | None, inspection: Inspection) -> list[str]:
    """Code the image reader found in a filesystem inside the partition: ELF files, and files its
    audit flagged (startup scripts that listen or fetch, backdoor indicators, unsigned content)."""
    if node is None:
        return []
    found = [f"an ELF file {n.path}" for n in node.walk() if n is not node and n.format == "elf" and n.role == "file"]
    prefix = node.path + "/"
    found += [f"{f.code} in {f.path}" for f in inspection.findings
              if f.code in _CODE_FINDINGS and (f.path == node.path or f.path.startswith(prefix))]
    return [printable(text, 160) for text in found[:4]] + ([f"and {len(found) - 4} more"] if len(found) > 4 else [])


def _indicator_claims(inspection: Inspection, source: str) -> list[Claim]:
    hits: dict[str, list[str]] = {}
    for f in inspection.findings:
        if f.code == "BACKDOOR_INDICATOR":
            hits.setdefault(f.detail.split(":", 1)[0], []).append(f.path or "the dump")
    return [Claim(f"indicator.{ident}", printable("in " + "; ".join(paths[:4]), MAX_DETAIL), source, OFFLINE)
            for ident, paths in hits.items() if _SAFE_NAME.fullmatch(ident)]


@dataclass
class AttachedDumps:
    """An ``attest.fleet.EvidenceSource``: each dump's claims join the evidence of the unit it was
    attached to, by serial (the CLI: addresses change, serials do not) or by address (the app's
    selected row)."""

    by_serial: Mapping[str, DumpReading] = field(default_factory=dict)
    by_address: Mapping[str, DumpReading] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)  # keys of by_serial / by_address that met their unit

    async def claims_for(self, evidence: Evidence) -> tuple[Sequence[Claim], Sequence[Problem]]:
        serial = evidence.value("unit.serial")
        for key, table in ((evidence.address, self.by_address), (None if serial is None else str(serial),
                                                                  self.by_serial)):
            reading = table.get(key) if key is not None else None
            if reading is not None:
                self.used.add(key)  # type: ignore[arg-type]
                return reading.claims, reading.problems
        return (), ()

    def unused(self) -> list[str]:
        """Serials and addresses a dump was attached to that no checked unit answered for."""
        return [k for k in (*self.by_serial, *self.by_address) if k not in self.used]

"""How appraisal weighs a unit's flash readings against each other, and judges flash no signed
release covers. Used by attest.appraise for the firmware category; plain functions over Evidence.

Which digest counts for what (docs/assurance.md):

* ``firmware.image.NAME.sha256`` at ``measured`` or better is a digest the station can stand
  behind: hashed by the station as the bytes streamed (``measured``), by U-Boot before the OS ran
  (``bootloader``), or from a flash dump an external programmer read (``offline``). Only these
  can make firmware affirming, and so a verdict TRUSTED.
* ``firmware.image.NAME.device_sha256`` (``device``) is the rig's own sha256sum: a cross-check.
  When it differs from a live measured or bootloader digest of the same partition the rig lied
  about its flash: FIRMWARE_SELF_REPORT_DIFFERS (UNTRUSTED). With nothing better, an unsigned one
  is still UNTRUSTED (the rig says so itself), and signed ones are at most a WARNING
  (FIRMWARE_DEVICE_DIGEST_ONLY): a modified rootfs ships the busybox that prints them.
* An ``offline`` digest (an attached dump) that differs from the live rig's is
  FIRMWARE_DUMP_DIFFERS (UNTRUSTED): the dump is another unit's or older than the flash, or the
  running rig serves other bytes than its chip holds; either way the dump does not vouch for it.

Flash no release covers (partitions the manifest does not list, mutable ones, a U-Boot
environment): code or a filesystem where no signature covers it is FIRMWARE_UNSIGNED_CONTENT
(UNTRUSTED); other bytes are FIRMWARE_UNSIGNED_DATA (WARNING) naming the partition and its size.
A mutable partition (config, env, data, reserve*) is the rig's own to rewrite, so only code in it
counts. Erased flash holds nothing to vouch for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from attest.evidence import Assurance, Claim, Evidence
from attest.flash_content import CODE, DATA, ERASED, FILESYSTEM, Content, is_mutable
from attest.manifest import FirmwareRelease

Add = Callable[..., None]  # _Findings.add(code, detail, *, expected=, found=)

_IMAGE = re.compile(r"firmware\.image\.(.+)\.(sha256|crc32|device_sha256)")
_PARTITION = re.compile(r"firmware\.partition\.mtd(\d{1,4})\.(name|size|content|read|rejected)")
_WHERE = {Assurance.MEASURED: "streamed to the station", Assurance.BOOTLOADER: "read through U-Boot",
          Assurance.OFFLINE: "in the attached flash dump", Assurance.DEVICE: "the rig's own tools"}


def _live(claim: Claim) -> bool:
    """Read from the running unit in this check (not a dump), by something other than its own tools."""
    return Assurance.MEASURED <= claim.assurance < Assurance.OFFLINE


def image_readings(ev: Evidence, *, live_only: bool = False) -> dict[str, list[Claim]]:
    """name -> its ``firmware.image.NAME.sha256`` claims at ``measured`` or better, in order."""
    out: dict[str, list[Claim]] = {}
    for c in ev.claims:
        m = _IMAGE.fullmatch(c.name)
        if m and m[2] == "sha256" and c.assurance >= Assurance.MEASURED and (not live_only or _live(c)):
            out.setdefault(m[1], []).append(c)
    return out


def _device_readings(ev: Evidence) -> dict[str, list[Claim]]:
    out: dict[str, list[Claim]] = {}
    for c in ev.claims:
        m = _IMAGE.fullmatch(c.name)
        if m and m[2] == "device_sha256":
            out.setdefault(m[1], []).append(c)
    return out


def cross_checks(ev: Evidence, add: Add) -> None:
    """The rig's own answers against the station's, and an attached dump against the live rig."""
    live = image_readings(ev, live_only=True)
    for name, said in sorted(_device_readings(ev).items()):
        measured = {str(c.value) for c in live.get(name, [])}
        lies = sorted({str(c.value) for c in said} - measured) if measured else []
        if lies:
            add("FIRMWARE_SELF_REPORT_DIFFERS", f"image {name}: the rig's own sha256sum says {', '.join(lies)}; "
                f"the flash {_WHERE[live[name][0].assurance]} hashes to {', '.join(sorted(measured))}",
                expected=", ".join(sorted(measured)), found=", ".join(lies))
    miner, said_miner = ev.best("firmware.miner.sha256"), ev.best("firmware.miner.device_sha256")
    if miner is not None and said_miner is not None and miner.assurance >= Assurance.MEASURED \
            and str(miner.value) != str(said_miner.value):
        add("FIRMWARE_SELF_REPORT_DIFFERS", f"miner binary: the rig's own sha256sum says {said_miner.value}; "
            f"the bytes streamed to the station hash to {miner.value}", expected=str(miner.value),
            found=str(said_miner.value))
    named, unit = ev.best("firmware.dump.unit_serial"), ev.value("unit.serial")
    if named is not None and unit is not None and str(named.value) != str(unit):
        add("FIRMWARE_DUMP_DIFFERS", f"the attached dump's U-Boot environment names unit {named.value}, "
            f"not this unit ({unit})", expected=str(unit), found=str(named.value))
    device = _device_readings(ev)
    for name, readings in sorted(image_readings(ev).items()):
        dumped = {str(c.value) for c in readings if c.assurance >= Assurance.OFFLINE}
        # The live unit: what the station or U-Boot read; the rig's own word only when nothing
        # better was read (a lie against a good reading is FIRMWARE_SELF_REPORT_DIFFERS already).
        running = {str(c.value) for c in readings if _live(c)} or {str(c.value) for c in device.get(name, [])}
        if dumped and running and running != dumped:
            add("FIRMWARE_DUMP_DIFFERS", f"image {name}: the attached dump holds {', '.join(sorted(dumped))}; "
                f"the unit read live gives {', '.join(sorted(running - dumped) or sorted(running))}",
                expected=", ".join(sorted(dumped)), found=", ".join(sorted(running)))


def judge_device_digests(ev: Evidence, releases: list[FirmwareRelease], revoked: dict[str, str], add: Add) -> bool:
    """With no digest at ``measured`` or better: the rig's own. Returns False when it has none."""
    said = {name: str(claims[0].value) for name, claims in _device_readings(ev).items()}
    known = {name for r in releases for name in r.images}
    judged = {n: d for n, d in said.items() if n in known or d in revoked}
    if not judged:
        return False
    bad = False
    for name, digest in sorted(judged.items()):
        if digest in revoked:
            add("FIRMWARE_REVOKED", f"image {name} (by the rig's own sha256sum): {revoked[digest]}", found=digest)
            bad = True
        elif not any(r.images.get(name) == digest for r in releases):
            add("FIRMWARE_DIGEST_UNKNOWN", f"image {name}, by the rig's own sha256sum", found=digest)
            bad = True
    if bad:
        return True
    whole = [r for r in releases if all(r.images.get(n) == d for n, d in judged.items())]
    what = f"{whole[0].model} {whole[0].version}" if whole else "signed images of several releases"
    add("FIRMWARE_DEVICE_DIGEST_ONLY", f"{what}: {', '.join(sorted(judged))} by the rig's own sha256sum")
    return True


@dataclass
class _Partition:
    index: int
    assurance: Assurance
    name: str = ""
    size: int | None = None
    rejected: bool = False
    contents: list[Content] = field(default_factory=list)
    failure: str = ""

    @property
    def where(self) -> str:
        size = f"{self.size} bytes" if self.size is not None else "size not read"
        dump = ", in the attached flash dump" if self.assurance >= Assurance.OFFLINE else ""
        return f"partition {self.name or f'mtd{self.index}'} (mtd{self.index}, {size}{dump})"


def _partition_tables(claims: Iterable[Claim]) -> list[_Partition]:
    """Every partition a reading listed, one per (assurance, mtd index): a dump's layout may not
    be the live rig's, so the two are never mixed."""
    table: dict[tuple[Assurance, int], _Partition] = {}
    for c in claims:
        m = _PARTITION.fullmatch(c.name)
        if m is None:
            continue
        part = table.setdefault((c.assurance, int(m[1])), _Partition(int(m[1]), c.assurance))
        if m[2] == "name":
            part.name = str(c.value)
        elif m[2] == "size" and isinstance(c.value, int) and not isinstance(c.value, bool):
            part.size = c.value
        elif m[2] == "rejected":
            part.rejected = True
        elif m[2] == "read":
            part.failure = str(c.value)
        elif m[2] == "content" and (content := Content.parse(str(c.value))) is not None:
            part.contents.append(content)
    return [table[k] for k in sorted(table)]


def uncovered(ev: Evidence, known_names: set[str], add: Add) -> None:
    """Flash no signed release lists: judged by what it holds (see the module docstring)."""
    seen: set[str] = set()
    for part in _partition_tables(ev.claims):
        seen.add(part.name)
        if part.name in known_names and not part.rejected:
            continue  # judged by digest
        _judge_uncovered(part, add)
    env = ev.best("uboot.env.content")
    if env is not None and (content := Content.parse(str(env.value))) is not None and content.kind == CODE:
        add("FIRMWARE_UNSIGNED_CONTENT", f"U-Boot's environment (read through U-Boot): {content.detail}")
    # Images digested with no partition listing (read through U-Boot, or by the rig's own tools).
    for name in sorted({m[1] for c in ev.claims if (m := _IMAGE.fullmatch(c.name))} - known_names - seen):
        if not is_mutable(name):
            add("FIRMWARE_UNSIGNED_DATA", f"partition {name}: no signed release lists it, and its content was not "
                "examined (only its digest was read)")


def _judge_uncovered(part: _Partition, add: Add) -> None:
    mutable = is_mutable(part.name) and not part.rejected
    kinds = {c.kind for c in part.contents}
    why = "the rig rewrites it, yet it holds code" if mutable else "no signed release lists it"
    if CODE in kinds:
        details = "; ".join(c.detail for c in part.contents if c.kind == CODE)
        add("FIRMWARE_UNSIGNED_CONTENT", f"{part.where}: {why}: {details}")
    elif mutable:
        return
    elif FILESYSTEM in kinds:
        details = "; ".join(c.detail for c in part.contents if c.kind == FILESYSTEM)
        add("FIRMWARE_UNSIGNED_CONTENT", f"{part.where}: {why}, and it holds a filesystem, which can hold code: "
            f"{details}")
    elif DATA in kinds:
        add("FIRMWARE_UNSIGNED_DATA", f"{part.where}: {why}; its bytes hold no code the station recognises")
    elif kinds == {ERASED}:
        return
    elif part.failure:
        add("FIRMWARE_UNSIGNED_DATA", f"{part.where}: {why}, and it could not be read: {part.failure}")
    else:
        add("FIRMWARE_UNSIGNED_DATA", f"{part.where}: {why}, and its content was not examined")

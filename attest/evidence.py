"""What was observed on a device, from where, and how much a compromised firmware could fake it.

Plain data only: drivers build these, appraisal reads them. Nothing here judges.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from attest.canonical import canonical_json

ClaimValue = str | int | bool | None

#: Transcript cap per collection: enough to debug a session, never unbounded device output.
TRANSCRIPT_CAP_BYTES = 64 * 1024


class Assurance(enum.IntEnum):
    """How the fact was obtained; higher is harder for a backdoored firmware to fake.

    The order is what appraisal relies on ("firmware at ``measured`` or better" for TRUSTED); the
    labels are what logs and the CLI carry, so a level may be inserted but a label never renamed.
    What each resists, and what a tampered rig must do to fake it (docs/assurance.md):

    - REPORTED: the running firmware's API or web page says so. Resists nothing: edit a string.
    - DEVICE: the rig's own tools computed it (its ``sha256sum`` of a partition, its ``grep``).
      Resists only an untouched userland: a modified rootfs ships a busybox that prints the
      genuine digests. A cross-check, never enough for TRUSTED.
    - MEASURED: the station read the raw bytes (``cat /dev/mtdN`` over SSH, sizes checked against
      ``/proc/mtd``) and hashed them itself as they streamed. Resists every lying tool output; to
      fake it the rig must intercept every read of its flash (a kernel module, or a patched
      busybox/libc all readers go through) and serve the original bytes it kept of what it changed.
    - OBSERVED: what the rig did on the intake network, seen by the station's watch. Resists a
      firmware that hides what it is but not what it does; faked by staying quiet for the watch.
    - BOOTLOADER: read through U-Boot before the OS starts (``hash sha256`` of flash in RAM,
      ``printenv``). Resists anything in the rootfs or kernel; faked by replacing the bootloader.
    - OFFLINE: a flash dump read by an external programmer, attached to the unit. The rig's
      software is not involved; only handing over another unit's chip or dump fakes it.
    - HARDWARE: signed by a device key over our fresh nonce. Faked by breaking the key.
    """

    REPORTED = 1  # the running firmware's API or web page says so: editing a string fakes it
    DEVICE = 2  # the rig's own tools computed it (its sha256sum): its own busybox can lie
    MEASURED = 3  # the station hashed the raw bytes as they streamed off the rig: needs a rootkit
    OBSERVED = 4  # what the rig did on the intake network, seen by the station's watch
    BOOTLOADER = 5  # read through the bootloader before the OS starts
    OFFLINE = 6  # a flash dump read by an external programmer: the rig's software is not involved
    HARDWARE = 7  # signed by a device key over our fresh nonce

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Assurance:
        return cls[label.upper()]


@dataclass(frozen=True)
class Claim:
    """One fact about the device. ``name`` is dotted and stable (``hashboard.0.serial``)."""

    name: str
    value: ClaimValue
    source: str  # e.g. "api://127.0.1.1:4028 stats" — where it was read, for the detail view
    assurance: Assurance

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "assurance": self.assurance.label}


@dataclass(frozen=True)
class Problem:
    """Something that stopped us from checking (timeout, refusal, garbage). Never a failed check."""

    code: str  # a reason code from attest.verdict, e.g. "TIMEOUT"
    endpoint: str  # e.g. "ssh://127.0.1.4:22"
    detail: str  # plain text, may quote (sanitised) device bytes

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "endpoint": self.endpoint, "detail": self.detail}


@dataclass
class Transcript:
    """What was sent and received, capped so a hostile device cannot fill memory through it."""

    cap_bytes: int = TRANSCRIPT_CAP_BYTES
    entries: list[tuple[str, str, bytes]] = field(default_factory=list)  # (endpoint, dir, data)
    size: int = 0
    truncated: bool = False

    def record(self, endpoint: str, direction: str, data: bytes) -> None:
        """``direction`` is ">" for bytes we sent and "<" for bytes we received."""
        room = self.cap_bytes - self.size
        if room <= 0:
            self.truncated = True
            return
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        self.entries.append((endpoint, direction, bytes(data)))
        self.size += len(data)

    def to_text(self) -> str:
        lines = [f"{ep} {d} {printable(data)}" for ep, d, data in self.entries]
        if self.truncated:
            lines.append(f"[transcript truncated at {self.cap_bytes} bytes]")
        return "\n".join(lines)


@dataclass(frozen=True)
class Evidence:
    """Everything collected from one device address in one run."""

    address: str
    claims: tuple[Claim, ...]
    problems: tuple[Problem, ...] = ()
    transcript: Transcript = field(default_factory=Transcript, compare=False)

    @functools.cached_property
    def _strongest(self) -> dict[str, Claim]:
        """name -> strongest claim, built once: appraisal and logging ask for every name."""
        out: dict[str, Claim] = {}
        for c in self.claims:
            held = out.get(c.name)
            if held is None or c.assurance > held.assurance:
                out[c.name] = c
        return out

    def best(self, name: str) -> Claim | None:
        """The strongest claim of that name (highest assurance; first seen on a tie)."""
        return self._strongest.get(name)

    def value(self, name: str) -> ClaimValue:
        claim = self.best(name)
        return claim.value if claim else None

    def names(self, pattern: str) -> list[str]:
        """Distinct claim names matching a regular expression, in first-seen order."""
        rx = re.compile(pattern)
        return list(dict.fromkeys(c.name for c in self.claims if rx.fullmatch(c.name)))

    def hashboard_serials(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for name in self.names(r"hashboard\.\d+\.serial"):
            value = self.value(name)
            if isinstance(value, str):
                out[int(name.split(".")[1])] = value
        return dict(sorted(out.items()))

    def identity(self) -> dict[str, Any]:
        return identity_document(
            serial=_str_or_none(self.value("unit.serial")),
            mac=_str_or_none(self.value("net.mac")),
            control_board=_str_or_none(self.value("control_board.serial")),
            hashboards=list(self.hashboard_serials().values()),
            psu=_str_or_none(self.value("psu.serial")),
        )

    @functools.cached_property
    def _identity_sha256(self) -> str | None:
        if self.value("unit.serial") is None:
            return None
        return identity_fingerprint(self.identity())

    def identity_sha256(self) -> str | None:
        """Fingerprint of the identity claims, or None when the unit serial was not read."""
        return self._identity_sha256

    def claims_json(self) -> dict[str, dict[str, Any]]:
        """name -> strongest claim, the shape of the CLI contract's ``claims`` field."""
        return {name: c.to_json() for name, c in self._strongest.items()}


def _str_or_none(value: ClaimValue) -> str | None:
    return None if value is None else str(value)


def normalise_mac(mac: str | None) -> str | None:
    """Lower-case, colon-separated; vendors print MACs in every style."""
    if mac is None:
        return None
    digits = re.sub(r"[^0-9a-fA-F]", "", mac).lower()
    if len(digits) != 12:
        return mac.strip().lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def identity_document(
    *,
    serial: str | None,
    mac: str | None,
    control_board: str | None,
    hashboards: Sequence[str],
    psu: str | None,
) -> dict[str, Any]:
    """The identity claims in the one shape both evidence and manifest entries are hashed in."""
    return {
        "unit.serial": serial,
        "net.mac": normalise_mac(mac),
        "control_board.serial": control_board,
        "hashboard.serials": list(hashboards),
        "psu.serial": psu,
    }


def identity_fingerprint(document: Mapping[str, Any]) -> str:
    """SHA-256 over the RFC 8785 canonical JSON of an identity document."""
    return hashlib.sha256(canonical_json(dict(document))).hexdigest()


_UNPRINTABLE = re.compile(r"[^\x20-\x7e\n\t]")


def printable(data: bytes | str, limit: int = 4096) -> str:
    """Device bytes as safe plain text: undecodable and control bytes become escapes."""
    text = data[:limit].decode("utf-8", errors="backslashreplace") if isinstance(data, bytes) else data[:limit]
    text = _UNPRINTABLE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)
    return text


def merge_claims(groups: Iterable[Iterable[Claim]]) -> tuple[Claim, ...]:
    return tuple(c for group in groups for c in group)

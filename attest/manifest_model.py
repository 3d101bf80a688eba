"""What a manufacturing manifest says, and the strict reading of its payload bytes.

Split from ``attest.manifest`` (which signs and verifies) so that the data model and its schema
can be read on their own; import everything through ``attest.manifest``. ``parse_payload``
trusts nothing: a payload reaches the rest of the program only after it passed the duplicate-key,
canonical-form and schema checks here, and (in ``verify_manifest``) the signature checks first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import rfc8785

from attest.canonical import canonical_json
from attest.dsse import DuplicateKeyError, NotJsonError, strict_json_loads
from attest.evidence import printable
from attest.verdict import REASONS

PAYLOAD_TYPE = "application/vnd.rigattest.manifest.v1+json"
SCHEMA = "rigattest.manifest/v1"
#: A shipment of a few thousand rigs is well under 4 MiB; the caps stop a hostile file from
#: filling memory before a single signature is checked.
MAX_ENVELOPE_BYTES = 16 * 1024 * 1024
MAX_PAYLOAD_BYTES = 8 * 1024 * 1024
#: JSON numbers are IEEE doubles (RFC 8785): larger integers would not survive a round trip.
MAX_SAFE_INTEGER = 2**53 - 1

_SHA256_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


class ManifestError(Exception):
    """A manifest was refused (or could not be signed). ``code`` is a stable key of
    ``attest.verdict.REASONS``; ``message`` is one specific sentence for a person."""

    def __init__(self, code: str, message: str) -> None:
        if code not in REASONS:
            raise ValueError(f"unknown reason code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FirmwareRelease:
    model: str
    version: str
    build: str
    images: dict[str, str]  # partition/image name -> "sha256:<hex>"
    #: update package file name -> "sha256:<hex>" of the whole file as the vendor distributes it
    #: (``attest image`` matches a package that its images alone could not vouch for)
    packages: dict[str, str] = field(default_factory=dict)
    #: Linux mtdparts string of this model's raw flash (``attest image`` splits a dump that carries
    #: none of its own by it), e.g. "pl35x-nand:32m(BOOT.bin-env-dts-kernel),144m(angstram-rootfs),..."
    flash_layout: str = ""


@dataclass(frozen=True)
class RevokedFirmware:
    digest: str  # "sha256:<hex>" of one image
    reason: str


@dataclass(frozen=True)
class HashboardEntry:
    slot: int
    serial: str
    chips: int | None


@dataclass(frozen=True)
class ManifestEntry:
    """One unit as the factory built it. ``serial`` may be withheld in favour of
    ``identity_sha256`` (the fingerprint of ``attest.evidence.identity_document``)."""

    serial: str | None
    model: str
    mac: str | None
    control_board_serial: str | None
    hashboards: tuple[HashboardEntry, ...]
    psu_serial: str | None
    identity_sha256: str | None
    origin: dict[str, str]


@dataclass(frozen=True)
class SignerInfo:
    """A signature that counted: which key, and why we trusted it."""

    keyid: str  # SHA-256 hex of the key's DER SubjectPublicKeyInfo
    kind: Literal["certificate", "pinned-key"]
    subject: str  # certificate subject (RFC 4514), or the pinned key's file name
    chain: tuple[str, ...]  # certificate subjects leaf -> root; empty for a pinned key

    def to_json(self) -> dict[str, Any]:
        return {"keyid": self.keyid, "kind": self.kind, "subject": self.subject,
                "chain": list(self.chain)}


@dataclass(frozen=True)
class Manifest:
    issuer: str
    sequence: int
    issued_at: datetime
    expires_at: datetime
    firmware: tuple[FirmwareRelease, ...]
    revoked_firmware: tuple[RevokedFirmware, ...]
    devices: tuple[ManifestEntry, ...]
    digest: str  # "sha256:<hex>" of the exact payload bytes that were signed
    signers: tuple[SignerInfo, ...] = ()
    _by_serial: dict[str, ManifestEntry] = field(init=False, repr=False, compare=False)
    _by_identity: dict[str, ManifestEntry] = field(init=False, repr=False, compare=False)
    _by_mac: dict[str, ManifestEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Indexed once: a fleet of hundreds looks every unit up in every loaded manifest.
        object.__setattr__(self, "_by_serial",
                           {e.serial: e for e in self.devices if e.serial is not None})
        object.__setattr__(self, "_by_identity",
                           {e.identity_sha256: e for e in self.devices if e.identity_sha256})
        macs: dict[str, list[ManifestEntry]] = {}
        for e in self.devices:
            if e.mac:
                macs.setdefault(_mac_key(e.mac), []).append(e)
        # A MAC listed twice identifies nobody: it is left out of the index.
        object.__setattr__(self, "_by_mac", {m: es[0] for m, es in macs.items() if len(es) == 1})

    def entry_for_serial(self, serial: str) -> ManifestEntry | None:
        return self._by_serial.get(serial)

    def entry_for_identity(self, identity_sha256: str) -> ManifestEntry | None:
        return self._by_identity.get(identity_sha256)

    def entry_for_mac(self, mac: str) -> ManifestEntry | None:
        """The one unit listed with this MAC, for firmware that never reports its serial (Avalon)."""
        return self._by_mac.get(_mac_key(mac))

    def to_summary_json(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "sequence": self.sequence,
            "digest": self.digest,
            "issued_at": _iso(self.issued_at),
            "expires_at": _iso(self.expires_at),
            "devices": len(self.devices),
            "firmware_releases": len(self.firmware),
            "revoked_firmware": len(self.revoked_firmware),
            "signers": [s.to_json() for s in self.signers],
        }


def _mac_key(mac: str) -> str:
    return "".join(ch for ch in mac.lower() if ch in "0123456789abcdef")


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def payload_digest(payload: bytes) -> str:
    return "sha256:" + hashlib.sha256(payload).hexdigest()


def parse_payload(payload: bytes) -> Manifest:
    """The manifest the payload bytes describe (``signers`` empty): refused unless the bytes are
    exactly the RFC 8785 form of a valid rigattest.manifest/v1 document."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ManifestError("MANIFEST_TOO_LARGE", f"The manifest payload is {len(payload)} bytes; "
                            f"the limit is {MAX_PAYLOAD_BYTES}.")
    try:
        doc = strict_json_loads(payload)
    except DuplicateKeyError as e:
        raise ManifestError("MANIFEST_DUPLICATE_KEYS",
                            f"The manifest payload repeats the key {e.key!r} in one object.") from None
    except NotJsonError as e:
        raise ManifestError("MANIFEST_MALFORMED", f"The manifest payload is not JSON: {e}.") from None
    try:
        canonical = canonical_json(doc)
    except (rfc8785.CanonicalizationError, RecursionError) as e:
        raise ManifestError("MANIFEST_NOT_CANONICAL",
                            f"The manifest payload has no RFC 8785 form: {e}.") from None
    if canonical != payload:
        at = next((i for i, (a, b) in enumerate(zip(canonical, payload, strict=False)) if a != b),
                  min(len(canonical), len(payload)))
        raise ManifestError("MANIFEST_NOT_CANONICAL",
                            f"The manifest payload is not RFC 8785 canonical JSON "
                            f"(first difference at byte {at}).")
    return _manifest(doc, payload_digest(payload))


# --- schema -------------------------------------------------------------------------------------

T = TypeVar("T")


def _invalid(where: str, problem: str) -> ManifestError:
    return ManifestError("MANIFEST_SCHEMA_INVALID", printable(f"{where}: {problem}.", limit=500))


def _object(value: Any, where: str, required: set[str], optional: set[str]) -> dict[str, Any]:
    """Unknown keys are refused: a v1 reader that skipped a field it does not know could
    accept a manifest that means something else to a newer reader."""
    if not isinstance(value, dict):
        raise _invalid(where, f"expected an object, got {_kind(value)}")
    missing = sorted(required - value.keys())
    if missing:
        raise _invalid(where, f"missing {', '.join(repr(k) for k in missing)}")
    unknown = sorted(value.keys() - required - optional)
    if unknown:
        raise _invalid(where, f"unknown key {unknown[0]!r}")
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _text(value: Any, where: str, *, max_len: int = 1024) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(where, f"expected a non-empty string, got {_kind(value)}")
    if len(value) > max_len:
        raise _invalid(where, f"longer than {max_len} characters")
    return value


def _optional_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SAFE_INTEGER:
        raise _invalid(where, f"expected a non-negative integer, got {_kind(value)}")
    return value


def _time(value: Any, where: str) -> datetime:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise _invalid(where, "expected an RFC 3339 time such as 2026-11-01T00:00:00Z")
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        raise _invalid(where, f"{value!r} is not a real date and time") from None


def _digest(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _SHA256_DIGEST.fullmatch(value):
        raise _invalid(where, "expected 'sha256:' followed by 64 lower-case hex digits")
    return value


def _list(value: Any, where: str, item: Callable[[Any, str], T]) -> tuple[T, ...]:
    if not isinstance(value, list):
        raise _invalid(where, f"expected a list, got {_kind(value)}")
    return tuple(item(v, f"{where}[{i}]") for i, v in enumerate(value))


def _manifest(doc: Any, digest: str) -> Manifest:
    top = _object(doc, "manifest", {"schema", "issuer", "sequence", "issued_at", "expires_at",
                                    "devices"}, {"firmware", "revoked_firmware"})
    if top["schema"] != SCHEMA:
        raise _invalid("schema", f"expected {SCHEMA!r}, got {top['schema']!r}")
    issued_at = _time(top["issued_at"], "issued_at")
    expires_at = _time(top["expires_at"], "expires_at")
    if expires_at <= issued_at:
        raise _invalid("expires_at", "must be later than issued_at")
    devices = _list(top["devices"], "devices", _entry)
    _unique([d.serial for d in devices], "devices", "serial")
    _unique([d.identity_sha256 for d in devices], "devices", "identity_sha256")
    return Manifest(
        issuer=_text(top["issuer"], "issuer", max_len=200),
        sequence=_count(top["sequence"], "sequence"),
        issued_at=issued_at,
        expires_at=expires_at,
        firmware=_list(top.get("firmware", []), "firmware", _release),
        revoked_firmware=_list(top.get("revoked_firmware", []), "revoked_firmware", _revoked),
        devices=devices,
        digest=digest,
    )


def _unique(values: list[str | None], where: str, key: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value is not None and value in seen:
            raise _invalid(f"{where}[{i}].{key}", f"{value!r} is listed twice; "
                           "a unit must match exactly one entry")
        if value is not None:
            seen.add(value)


def _release(value: Any, where: str) -> FirmwareRelease:
    obj = _object(value, where, {"model", "version", "images"}, {"build", "packages", "flash_layout"})
    images = obj["images"]
    if not isinstance(images, dict) or not images:
        raise _invalid(f"{where}.images", "expected a non-empty object of image name -> digest")
    packages = obj.get("packages", {})
    if not isinstance(packages, dict):
        raise _invalid(f"{where}.packages", "expected an object of package file name -> digest")
    return FirmwareRelease(
        model=_text(obj["model"], f"{where}.model"),
        version=_text(obj["version"], f"{where}.version"),
        build="" if obj.get("build") is None else _text(obj["build"], f"{where}.build"),
        images={_text(name, f"{where}.images"): _digest(d, f"{where}.images.{name}")
                for name, d in images.items()},
        packages={_text(name, f"{where}.packages"): _digest(d, f"{where}.packages.{name}")
                  for name, d in packages.items()},
        flash_layout="" if obj.get("flash_layout") is None else _text(obj["flash_layout"], f"{where}.flash_layout"),
    )


def _revoked(value: Any, where: str) -> RevokedFirmware:
    obj = _object(value, where, {"digest", "reason"}, set())
    return RevokedFirmware(digest=_digest(obj["digest"], f"{where}.digest"),
                           reason=_text(obj["reason"], f"{where}.reason"))


def _serial_of(value: Any, where: str) -> str | None:
    """``{"serial": "..."}`` (the control board and PSU are objects to leave room for more)."""
    if value is None:
        return None
    return _optional_text(_object(value, where, {"serial"}, set())["serial"], f"{where}.serial")


def _hashboard(value: Any, where: str) -> HashboardEntry:
    obj = _object(value, where, {"slot", "serial"}, {"chips"})
    chips = obj.get("chips")
    return HashboardEntry(slot=_count(obj["slot"], f"{where}.slot"),
                          serial=_text(obj["serial"], f"{where}.serial"),
                          chips=None if chips is None else _count(chips, f"{where}.chips"))


def _entry(value: Any, where: str) -> ManifestEntry:
    obj = _object(value, where, {"model"}, {"serial", "mac", "control_board", "hashboards", "psu",
                                            "identity_sha256", "origin"})
    identity = obj.get("identity_sha256")
    if identity is not None and (not isinstance(identity, str) or not _SHA256_HEX.fullmatch(identity)):
        raise _invalid(f"{where}.identity_sha256", "expected 64 lower-case hex digits")
    serial = _optional_text(obj.get("serial"), f"{where}.serial")
    if serial is None and identity is None:
        raise _invalid(where, "needs a serial or an identity_sha256 to be matched to a unit")
    hashboards = _list(obj.get("hashboards") or [], f"{where}.hashboards", _hashboard)
    slots = [hb.slot for hb in hashboards]
    if len(set(slots)) != len(slots):
        raise _invalid(f"{where}.hashboards", "a slot is listed twice")
    return ManifestEntry(
        serial=serial,
        model=_text(obj["model"], f"{where}.model"),
        mac=_optional_text(obj.get("mac"), f"{where}.mac"),
        control_board_serial=_serial_of(obj.get("control_board"), f"{where}.control_board"),
        hashboards=tuple(sorted(hashboards, key=lambda hb: hb.slot)),
        psu_serial=_serial_of(obj.get("psu"), f"{where}.psu"),
        identity_sha256=identity,
        origin=_origin(obj.get("origin"), f"{where}.origin"),
    )


def _origin(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _invalid(where, f"expected an object of strings, got {_kind(value)}")
    return {_text(k, where): _text(v, f"{where}.{k}") for k, v in value.items()}

"""The station's identity: the Ed25519 key that signs its verification log, and its name.

A third party trusts a log because of this key, so it never sits on disk in the clear: the
private key is PKCS#8 encrypted with the operator's passphrase (``BestAvailableEncryption``)
and written mode 0600. The public half and the station id sit beside it in ``station.json`` so
``attest station show`` and the log's headers need no passphrase.

The fingerprint is SHA-256 of the raw 32-byte public key, in hex: short enough to read over the
phone to an auditor, and independent of any PEM/DER wrapping. It is also the ``keyid`` in every
envelope the station signs.

Files live in ``$ATTEST_HOME/station/`` when ``ATTEST_HOME`` is set (tests, portable installs),
else in ``platformdirs.user_data_dir("rig-attest")/station/``. This module never prompts: the
caller (CLI or GUI) asks for the passphrase and hands the bytes in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import platformdirs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from attest.log.errors import LogError

KEY_FILE = "station.key"
INFO_FILE = "station.json"
_INFO_FORMAT = "rigattest.station/v1"
#: A station id becomes the log's origin and appears in file names and headers: keep it to
#: characters every tool prints and quotes the same way.
_STATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}")


def data_directory() -> Path:
    """Where this station keeps its key and its default log."""
    home = os.environ.get("ATTEST_HOME")
    return Path(home) if home else Path(platformdirs.user_data_dir("rig-attest"))


def station_directory() -> Path:
    return data_directory() / "station"


def fingerprint(public_key: ed25519.Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def public_pem(public_key: ed25519.Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def public_key_from_pem(data: bytes | str, where: str = "the station key") -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key from PEM; anything else is a clear input error, never a traceback."""
    raw = data.encode("ascii", "replace") if isinstance(data, str) else data
    try:
        key = serialization.load_pem_public_key(raw)
    except (ValueError, TypeError):
        raise LogError("LOG_INPUT_INVALID", f"{where} is not a PEM public key") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise LogError("LOG_INPUT_INVALID", f"{where} is not an Ed25519 key")
    return key


def signature_is_valid(public_key: ed25519.Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class StationIdentity:
    """What anyone may know about a station: its name and public key."""

    station_id: str
    public_key: ed25519.Ed25519PublicKey

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    @property
    def public_pem(self) -> str:
        return public_pem(self.public_key)


@dataclass(frozen=True)
class StationSigner:
    """The unlocked station key. Hold it only while signing; it is never written anywhere."""

    identity: StationIdentity
    private_key: ed25519.Ed25519PrivateKey

    @property
    def station_id(self) -> str:
        return self.identity.station_id

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)


def init_station(passphrase: bytes, station_id: str | None = None, *,
                 directory: Path | None = None, now: datetime | None = None) -> StationIdentity:
    """Make the station key. Refuses to replace an existing one: every log the old key signed
    would lose the only key that can extend it."""
    directory = directory or station_directory()
    if not passphrase:
        raise LogError("STATION_PASSPHRASE_NEEDED", "the station key needs a non-empty passphrase")
    if station_id is not None and not _STATION_ID.fullmatch(station_id):
        raise LogError("STATION_FILES_INVALID",
                       f"station id {station_id!r} is not allowed: use 1-64 letters, digits and . _ : @ -, "
                       "starting with a letter or digit")
    if (directory / KEY_FILE).exists() or (directory / INFO_FILE).exists():
        raise LogError("STATION_ALREADY_INITIALISED", f"a station key already exists in {directory}")
    key = ed25519.Ed25519PrivateKey.generate()
    identity = StationIdentity(station_id or f"station-{fingerprint(key.public_key())[:12]}", key.public_key())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(passphrase))
    info = {"format": _INFO_FORMAT, "station_id": identity.station_id, "public_key": identity.public_pem,
            "fingerprint": identity.fingerprint,
            "created": (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")}
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_new_private_file(directory / KEY_FILE, pem)
        try:
            _write_new_private_file(directory / INFO_FILE, (json.dumps(info, indent=2) + "\n").encode())
        except BaseException:
            # Half a station (a key without its id) would block the next init; undo it.
            with contextlib.suppress(OSError):
                (directory / KEY_FILE).unlink()
            raise
    except FileExistsError:
        raise LogError("STATION_ALREADY_INITIALISED", f"a station key already exists in {directory}") from None
    except OSError as e:
        raise LogError("STATION_FILES_UNWRITABLE",
                       f"cannot write the station key in {directory}: {e.strerror or e}") from None
    return identity


def _write_new_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` 0600 from the first byte (O_EXCL: never follow or replace what is there),
    and make it durable before anyone is told the station exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    os.close(fd)


def load_identity(directory: Path | None = None) -> StationIdentity:
    directory = directory or station_directory()
    try:
        raw = (directory / INFO_FILE).read_bytes()
    except FileNotFoundError:
        raise LogError("STATION_NOT_INITIALISED", f"no station key in {directory}") from None
    except OSError as e:
        raise LogError("STATION_FILES_INVALID", f"cannot read {directory / INFO_FILE}: {e.strerror or e}") from None
    try:
        info = json.loads(raw)
        station_id, pem = info["station_id"], info["public_key"]
        if info.get("format") != _INFO_FORMAT or not isinstance(station_id, str) or not isinstance(pem, str):
            raise ValueError
    except (ValueError, TypeError, KeyError):
        raise LogError("STATION_FILES_INVALID", f"{directory / INFO_FILE} is damaged") from None
    if not _STATION_ID.fullmatch(station_id):
        raise LogError("STATION_FILES_INVALID", f"{directory / INFO_FILE} holds an invalid station id")
    return StationIdentity(station_id, public_key_from_pem(pem, str(directory / INFO_FILE)))


def load_signer(passphrase: bytes, directory: Path | None = None) -> StationSigner:
    """Unlock the station key, checking it is the key ``station.json`` names: a swapped key
    file would otherwise sign under the old identity."""
    directory = directory or station_directory()
    identity = load_identity(directory)
    try:
        pem = (directory / KEY_FILE).read_bytes()
    except FileNotFoundError:
        raise LogError("STATION_NOT_INITIALISED", f"the station key file {directory / KEY_FILE} is missing") from None
    except OSError as e:
        raise LogError("STATION_FILES_INVALID", f"cannot read {directory / KEY_FILE}: {e.strerror or e}") from None
    if not passphrase:
        raise LogError("STATION_PASSPHRASE_WRONG", "an empty passphrase never opens the station key")
    try:
        key = serialization.load_pem_private_key(pem, passphrase)
    except TypeError:  # the file is not encrypted at all: refuse, it should never be
        raise LogError("STATION_FILES_INVALID", f"{directory / KEY_FILE} is not encrypted") from None
    except ValueError as e:
        if "password" in str(e).lower() or "decrypt" in str(e).lower():
            raise LogError("STATION_PASSPHRASE_WRONG",
                           f"the passphrase does not open the station key {directory / KEY_FILE}") from None
        raise LogError("STATION_FILES_INVALID", f"{directory / KEY_FILE} is damaged") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise LogError("STATION_FILES_INVALID", f"{directory / KEY_FILE} is not an Ed25519 key")
    if fingerprint(key.public_key()) != identity.fingerprint:
        raise LogError("STATION_FILES_INVALID",
                       f"{directory / KEY_FILE} is not the key {directory / INFO_FILE} names")
    return StationSigner(identity, key)

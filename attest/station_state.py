"""What this station has already accepted, so an old manifest cannot be replayed to it.

A vendor revokes firmware by publishing a newer manifest; an attacker who hands the station the
older one (rollback) would get that firmware accepted again. Remembering the highest sequence
seen per issuer, and the digest signed under it, refuses both the rollback and a second,
different manifest under a sequence number already used.

The file is JSON, rewritten atomically (temp file + ``os.replace``). Several processes on one
station may share it: ``record`` holds an exclusive lock (``attest.filelock``) while it re-reads
the file, checks and writes, so a concurrent writer can never lower a sequence (without the lock
two writers each read the old file and the one writing last won, even with a lower sequence).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from attest.filelock import LockTimeout, exclusive
from attest.manifest_model import ManifestError
from attest.trust_files import TrustError, write_atomically

STATE_FILE_NAME = "accepted-manifests.json"
_FORMAT = 1


@dataclass(frozen=True)
class Accepted:
    sequence: int
    digest: str


def state_directory() -> Path:
    """``ATTEST_HOME`` when set (tests, portable installs), else the per-user state directory."""
    home = os.environ.get("ATTEST_HOME")
    return Path(home) if home else Path(platformdirs.user_state_dir("rig-attest"))


class StationState:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @classmethod
    def default(cls) -> StationState:
        return cls(state_directory() / STATE_FILE_NAME)

    def accepted(self) -> dict[str, Accepted]:
        """Highest accepted sequence per issuer. A missing file is a fresh station; a corrupt
        one is an error, since treating it as empty would re-open every rollback."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise TrustError(f"station state {self.path} cannot be read: {e.strerror or e}") from None
        try:
            doc = json.loads(raw)
            if doc.get("format") != _FORMAT:
                raise ValueError(f"unknown format {doc.get('format')!r}")
            return {issuer: _accepted(v) for issuer, v in doc["issuers"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise TrustError(f"station state {self.path} is corrupt ({e}); restore it from a "
                             "backup rather than deleting it, or rollbacks go undetected") from None

    def check(self, issuer: str, sequence: int, digest: str) -> None:
        _check(self.accepted().get(issuer), issuer, sequence, digest)

    def record(self, issuer: str, sequence: int, digest: str) -> None:
        """Remember an accepted manifest; re-checks against the file as it is now, so two
        stations racing on one file cannot record a rollback."""
        try:
            with exclusive(self.path):
                self._record_locked(issuer, sequence, digest)
        except LockTimeout as e:
            raise TrustError(f"station state {self.path} is locked: {e}") from None
        except OSError as e:
            raise TrustError(f"station state {self.path} cannot be written: {e.strerror or e}") from None

    def _record_locked(self, issuer: str, sequence: int, digest: str) -> None:
        current = self.accepted()
        previous = current.get(issuer)
        _check(previous, issuer, sequence, digest)
        if previous is not None and previous.sequence == sequence:
            return
        current[issuer] = Accepted(sequence, digest)
        doc: dict[str, Any] = {
            "format": _FORMAT,
            "issuers": {k: {"sequence": v.sequence, "digest": v.digest}
                        for k, v in sorted(current.items())},
        }
        write_atomically(self.path, (json.dumps(doc, indent=2) + "\n").encode("utf-8"))


def _accepted(value: Any) -> Accepted:
    sequence, digest = value["sequence"], value["digest"]
    if isinstance(sequence, bool) or not isinstance(sequence, int) or not isinstance(digest, str):
        raise ValueError("an issuer entry needs an integer sequence and a digest string")
    return Accepted(sequence, digest)


def _check(previous: Accepted | None, issuer: str, sequence: int, digest: str) -> None:
    if previous is None:
        return
    if sequence < previous.sequence:
        raise ManifestError("MANIFEST_ROLLBACK",
                            f"This station already accepted sequence {previous.sequence} from "
                            f"'{issuer}'; this manifest has the older sequence {sequence}.")
    if sequence == previous.sequence and digest != previous.digest:
        raise ManifestError("MANIFEST_SEQUENCE_REUSED",
                            f"'{issuer}' sequence {sequence} was already accepted with digest "
                            f"{previous.digest}; this manifest has digest {digest}.")

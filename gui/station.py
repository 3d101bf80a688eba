"""What this station judges with: its trust store, the manifests it loaded, its policy.

Plain Python, no Qt: the file and crypto work (``check_manifest_file``) runs on the job thread,
and the window keeps one ``Station`` that only the GUI thread changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

from attest.address import PortProfile
from attest.manifest import Manifest, ManifestError, load_manifest
from attest.policy import Policy, PolicyError, load_policy
from attest.trust import StationState, TrustError, TrustStore


@dataclass(frozen=True)
class LoadedManifest:
    """One manifest file as the station judged it: accepted (``manifest``) or refused (``code``)."""

    path: Path
    manifest: Manifest | None = None
    code: str = ""
    message: str = ""

    @property
    def accepted(self) -> bool:
        return self.manifest is not None

    @property
    def expired(self) -> bool:
        return self.manifest is not None and self.manifest.expires_at < datetime.now(UTC)


def check_manifest_file(path: Path, trust: TrustStore | None) -> LoadedManifest:
    """Verify one file against the trust store and the station's rollback memory (job thread)."""
    if trust is None:
        return LoadedManifest(path, code="MANIFEST_SIGNER_UNKNOWN",
                              message="No trust store is set up, so no signature can be trusted.")
    try:
        return LoadedManifest(path, load_manifest(path, trust, state=StationState.default()))
    except ManifestError as e:
        return LoadedManifest(path, code=e.code, message=e.message)
    except TrustError as e:  # the station's own state file is broken: a setup problem
        return LoadedManifest(path, code=e.code, message=e.message)


def default_trust_dir() -> Path:
    return Path(platformdirs.user_data_dir("rig-attest")) / "trust"


@dataclass
class Station:
    trust_dir: Path | None = None
    trust: TrustStore | None = None
    trust_error: str = ""
    policy_path: Path | None = None
    policy: Policy = field(default_factory=Policy)
    policy_error: str = ""
    ports: PortProfile = field(default_factory=PortProfile)
    manifests: list[LoadedManifest] = field(default_factory=list)

    def open_trust(self, directory: Path, *, create: bool = False) -> None:
        self.trust_dir = directory
        try:
            self.trust = TrustStore.load(directory, create=create)
            self.trust_error = ""
        except (TrustError, OSError) as e:
            self.trust = None
            self.trust_error = getattr(e, "message", str(e))

    def open_policy(self, path: Path | None) -> None:
        self.policy_path = path
        try:
            self.policy = load_policy(path)
            self.policy_error = ""
        except PolicyError as e:
            self.policy = Policy()
            self.policy_error = e.message

    def record(self, results: list[LoadedManifest]) -> None:
        """Keep the newest judgement per file (a re-check after a trust change replaces it)."""
        by_path = {m.path: m for m in self.manifests}
        for r in results:
            by_path[r.path] = r
        self.manifests = list(by_path.values())

    def forget(self, path: Path) -> None:
        self.manifests = [m for m in self.manifests if m.path != path]

    def accepted(self) -> tuple[Manifest, ...]:
        """Manifests the check may use: accepted, one per payload digest."""
        seen: dict[str, Manifest] = {}
        for m in self.manifests:
            if m.manifest is not None:
                seen.setdefault(m.manifest.digest, m.manifest)
        return tuple(seen.values())

    def manifest_paths(self) -> list[Path]:
        return [m.path for m in self.manifests]


def is_manifest_candidate(path: str) -> bool:
    """Drag-and-drop accepts files only; whether one is a manifest is for the verifier to say."""
    return os.path.isfile(path)

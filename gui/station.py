"""What this station judges with: its trust store, the manifests it loaded, its policy.

Plain Python, no Qt: the file and crypto work (``check_manifest_files``) runs on the job thread,
and the window keeps one ``Station`` that only the GUI thread changes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import platformdirs

from attest.address import PortProfile
from attest.manifest import Manifest
from attest.manifest_set import load_manifest_files, newest_per_issuer
from attest.policy import Policy, PolicyError, load_policy
from attest.trust import StationState, TrustError, TrustStore


@dataclass(frozen=True)
class LoadedManifest:
    """One manifest file as the station judged it: accepted (``manifest``) or refused (``code``)."""

    path: Path
    manifest: Manifest | None = None
    code: str = ""
    message: str = ""
    superseded_by: Manifest | None = None  # verified, but the same issuer's higher sequence is loaded

    @property
    def accepted(self) -> bool:
        return self.manifest is not None

    @property
    def used(self) -> bool:
        return self.manifest is not None and self.superseded_by is None

    @property
    def expired(self) -> bool:
        return self.manifest is not None and self.manifest.expires_at < datetime.now(UTC)


def check_manifest_files(paths: Sequence[Path], trust: TrustStore | None) -> list[LoadedManifest]:
    """Verify files judged together (job thread): of one issuer's, only the highest sequence is
    used and recorded, whatever order they were loaded in; the others are listed as superseded."""
    if trust is None:
        return [LoadedManifest(p, code="MANIFEST_SIGNER_UNKNOWN",
                               message="No trust store is set up, so no signature can be trusted.") for p in paths]
    try:
        loads = load_manifest_files(paths, trust, state=StationState.default())
    except TrustError as e:  # the station's own state file is broken: a setup problem
        return [LoadedManifest(p, code=e.code, message=e.message) for p in paths]
    return [LoadedManifest(x.path, x.manifest, x.code, x.message, x.superseded_by) for x in loads]


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
        """Manifests the check may use: accepted, not superseded, one per payload digest."""
        return newest_per_issuer(m.manifest for m in self.manifests if m.used and m.manifest is not None)

    def judged_with(self, paths: Sequence[Path]) -> list[Path]:
        """The files to verify together when ``paths`` are added: every one already listed and
        the new ones, so each issuer's newest wins however the files arrived."""
        return list(dict.fromkeys([*self.manifest_paths(), *paths]))

    def manifest_paths(self) -> list[Path]:
        return [m.path for m in self.manifests]


def is_manifest_candidate(path: str) -> bool:
    """Drag-and-drop accepts files only; whether one is a manifest is for the verifier to say."""
    return os.path.isfile(path)

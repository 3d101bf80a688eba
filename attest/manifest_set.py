"""Several manifests loaded together: of one issuer's, only the highest sequence is ever used.

A vendor withdraws a release by publishing a manifest with a higher sequence that no longer lists
it. If the older manifest were still used alongside the newer one (an intake folder holding both,
``--manifest old --manifest new``), a rig running the withdrawn release would match the old one
and be TRUSTED; and in the other order the station's rollback memory refused the old one, so the
result depended on the order the files were named in. Here every file is verified first (its
signatures, validity and issuer), then per issuer only the manifests with the highest sequence are
used and recorded in the station's rollback state; the others are *superseded*: listed, never
used, never an error. ``newest_per_issuer`` is the same rule over manifests already loaded, and
the appraisal applies it too, so no caller can judge a rig against a superseded manifest.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from attest.manifest import Manifest, ManifestError, ManifestFileUnreadable, load_manifest
from attest.station_state import StationState
from attest.trust import TrustStore


@dataclass(frozen=True)
class ManifestLoad:
    """One file as the station judged it among the others loaded with it."""

    path: Path
    manifest: Manifest | None = None  # verified; None when refused
    code: str = ""  # the refusal's reason code
    message: str = ""
    superseded_by: Manifest | None = None  # a manifest of the same issuer with a higher sequence
    unreadable: str = ""  # why the file could not be read at all (missing, a directory, no permission)

    @property
    def used(self) -> bool:
        return self.manifest is not None and self.superseded_by is None


def newest_per_issuer(manifests: Iterable[Manifest]) -> tuple[Manifest, ...]:
    """The manifests to judge with: per issuer those with its highest sequence (one per digest),
    in the order given."""
    manifests = list(manifests)
    top: dict[str, int] = {}
    for m in manifests:
        top[m.issuer] = max(top.get(m.issuer, m.sequence), m.sequence)
    seen: set[str] = set()
    out = []
    for m in manifests:
        if m.sequence == top[m.issuer] and m.digest not in seen:
            seen.add(m.digest)
            out.append(m)
    return tuple(out)


def load_manifest_files(paths: Sequence[str | os.PathLike[str]], trust: TrustStore, *,
                        state: StationState | None, now: datetime | None = None) -> list[ManifestLoad]:
    """Verify every file, then use (and record in ``state``) only each issuer's newest. The
    result is the same whatever order ``paths`` are in. Raises TrustError when the station's
    state file is broken."""
    loads: list[ManifestLoad] = []
    for path in paths:
        try:
            loads.append(ManifestLoad(Path(path), load_manifest(path, trust, now=now, state=None)))
        except ManifestFileUnreadable as e:
            loads.append(ManifestLoad(Path(path), code=e.code, message=e.message, unreadable=e.reason))
        except ManifestError as e:
            loads.append(ManifestLoad(Path(path), code=e.code, message=e.message))
    newest = {m.digest: m for m in newest_per_issuer(x.manifest for x in loads if x.manifest is not None)}
    by_issuer = {m.issuer: m for m in newest.values()}
    out: list[ManifestLoad] = []
    for load in loads:
        m = load.manifest
        if m is None:
            out.append(load)
        elif m.digest not in newest:
            out.append(replace(load, superseded_by=by_issuer[m.issuer]))
        else:
            try:
                if state is not None:
                    state.check(m.issuer, m.sequence, m.digest)
                    state.record(m.issuer, m.sequence, m.digest)
                out.append(load)
            except ManifestError as e:
                out.append(ManifestLoad(load.path, code=e.code, message=e.message))
    return out

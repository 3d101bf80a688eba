"""The verdict on one firmware file: its inspection against the signed manifests.

The result is an ``attest.appraise.Appraisal`` whose address is the file's path, so ``attest
image`` prints and serialises exactly as ``attest verify`` does. The rules, in the order they
matter:

* Anything contraindicated — a checksum the format carries that fails, a vendor signature that
  does not verify or is missing, a revoked digest, a backdoor indicator, an unsafe archive entry,
  an image no signed release lists — makes the file UNTRUSTED.
* Then anything that could not be read (an unknown format, damage, a cap reached) makes it
  UNKNOWN: what was not read was not checked. So does the absence of a manifest: a vendor
  signature says who built a file, not that the build is a current release.
* Otherwise every judged layer must be vouched for by the manifest: the whole file listed among a
  release's ``packages``, or the layer (or a layer around it) listed among a release's ``images``
  — matched by SHA-256, never by name. Scripts and other package members may instead be covered
  by a valid vendor signature. A CRC32 proves integrity only, so an ``.aup`` is only ever as good
  as its manifest entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from attest.appraise import Appraisal, _categories
from attest.evidence import Assurance, Claim, Evidence, printable
from attest.image.model import IMAGE, MEMBER, PACKAGE, PARTITION, Finding, Inspection, Node
from attest.image.wording import file_reason as reason
from attest.manifest import FirmwareRelease, Manifest
from attest.manifest_set import newest_per_issuer
from attest.verdict import Reason, Status, Verdict

if TYPE_CHECKING:
    from attest.trust import TrustStore

SOURCE = "attest image"
_CANDIDATES = frozenset({IMAGE, MEMBER, PARTITION})
_SIGNATURE_CODES = {"valid": "VENDOR_SIGNATURE_VALID", "invalid": "VENDOR_SIGNATURE_INVALID",
                    "missing": "VENDOR_SIGNATURE_MISSING", "unknown-key": "VENDOR_KEY_UNKNOWN"}
#: Notes that never make a file UNKNOWN on their own: they say what a check could not prove.
_INFORMATIONAL = frozenset({"VENDOR_CHECKSUM_ONLY", "VENDOR_KEY_UNKNOWN"})


@dataclass(frozen=True)
class _Match:
    release: FirmwareRelease
    name: str  # the image or package name the manifest gives the digest


def appraise_inspection(inspection: Inspection, manifests: Sequence[Manifest]) -> Appraisal:
    # Findings, then the manifest's word, then signatures: among equals the first is the top reason,
    # and a release match says more than one signature over one member.
    manifests = newest_per_issuer(manifests)  # a superseded manifest never vouches for anything
    reasons: list[Reason] = [_finding_reason(f) for f in inspection.findings]
    root = inspection.root
    if not manifests:
        if _unrecognised(root):  # say so first: a manifest would not make an unknown format readable
            reasons.append(reason("IMAGE_FORMAT_UNKNOWN", "the format was not recognised: it is no firmware package, "
                                  "archive or flash image Rig Attest reads (a raw flash dump needs --mtdparts)"))
        reasons.append(reason("NO_MANIFEST"))
    else:
        reasons.extend(_against_manifests(root, manifests))
    for sig in inspection.signatures:
        where = f" ({sig.path})" if sig.path else ""
        reasons.append(reason(_SIGNATURE_CODES[sig.status], f"covers {sig.covers}; signer {sig.signer}{where}"))
    categories = _categories(reasons)
    return Appraisal(inspection.file, _verdict(reasons, bool(manifests)), tuple(reasons), categories,
                     _evidence(inspection), manifests[0] if len(manifests) == 1 else None)


def _finding_reason(f: Finding) -> Reason:
    detail = f"{f.path}: {f.detail}" if f.path and not f.detail.startswith(f.path) else f.detail
    return reason(f.code, detail, expected=f.expected, found=f.found)


def _against_manifests(root: Node, manifests: Sequence[Manifest]) -> list[Reason]:
    out: list[Reason] = []
    images: dict[str, list[_Match]] = {}
    packages: dict[str, _Match] = {}
    names: set[str] = set()
    for m in manifests:
        for r in m.firmware:
            names.update(r.images)
            for name, digest in r.images.items():
                images.setdefault(digest, []).append(_Match(r, name))
            for name, digest in r.packages.items():
                packages.setdefault(digest, _Match(r, name))
    revoked = {r.digest: r.reason for m in manifests for r in m.revoked_firmware}
    for node in root.walk():
        if node.sha256 in revoked:
            out.append(reason("FIRMWARE_REVOKED", f"{node.path or 'the file'}: {revoked[node.sha256]}",
                              found=node.sha256))
    if root.sha256 in packages:
        m = packages[root.sha256]
        out.append(reason("FIRMWARE_SIGNED_RELEASE", f"the whole file is package '{m.name}' of "
                          f"{m.release.model} {m.release.version}"))
        if root.problem is not None:  # listed, but its contents were not (all) audited
            out.append(reason("IMAGE_NOT_INSPECTED", f"the file's {root.format or 'format'} could not be read in full"))
        return out
    matched: list[tuple[Node, list[_Match]]] = []
    unvouched: list[Node] = []
    _judge(root, images, names, covered=False, matched=matched, unvouched=unvouched)
    out.extend(_unsigned_partitions(root, {id(n) for n, _ in matched}))
    for node in unvouched:
        if node.role == MEMBER and node.name.rsplit("/", 1)[-1] not in names:
            out.append(reason("IMAGE_MEMBER_UNVOUCHED", node.path or "the file's content", found=node.sha256))
        else:
            short = node.name.rsplit("/", 1)[-1]
            expected = sorted({d for d, ms in images.items() for m in ms if m.name == short})
            shown = ", ".join(expected[:3]) + (f" and {len(expected) - 3} more" if len(expected) > 3 else "")
            out.append(reason("FIRMWARE_DIGEST_UNKNOWN", f"image {node.path}",
                              expected=shown or None, found=node.sha256))
    if unvouched:
        return out
    if not matched:
        if _unrecognised(root):
            out.append(reason("IMAGE_FORMAT_UNKNOWN", "the format was not recognised, and the file's digest is not "
                              "among the signed releases"))
        else:
            out.append(reason("IMAGE_NO_RELEASE_MATCH"))
        return out
    # One release must hold every matched layer (the same kernel may ship in several releases).
    common = set.intersection(*({id(m.release) for m in ms} for _, ms in matched))
    if not common:
        listed = ", ".join(f"{n.path or 'the file'} = {ms[0].release.version} {ms[0].name}" for n, ms in matched[:8])
        out.append(reason("FIRMWARE_MIXED_RELEASES", listed))
    else:
        release = next(m.release for m in matched[0][1] if id(m.release) in common)
        listed = ", ".join(f"{n.path or 'the file'} = {next(m.name for m in ms if m.release is release)}"
                           for n, ms in matched[:8])
        out.append(reason("FIRMWARE_SIGNED_RELEASE", f"{release.model} {release.version}: {listed}"))
    if root.format is None and not root.children:
        out.append(reason("IMAGE_NOT_INSPECTED", "the file's format is not one Rig Attest reads"))
    return out


def _unrecognised(root: Node) -> bool:
    """Nothing Rig Attest reads was found in the file: no known format, nothing inside, no error."""
    return root.problem is None and root.format is None and not root.children


def _unsigned_partitions(root: Node, matched: set[int]) -> list[Reason]:
    """Flash no signed image vouches for. A partition the signed layout lists may hold per-unit
    data (U-Boot's environment, settings, an empty upgrade slot), so there only code is a
    finding; a partition no signed layout lists is a finding whatever it holds."""
    out: list[Reason] = []
    for node in root.walk():
        flash = node.flash
        if flash is None or any(id(n) in matched for n in node.walk()):
            continue
        if flash.code:
            where = "in the signed flash layout, but no signed image covers it" if flash.listed \
                else "not in any signed flash layout"
            out.append(reason("FIRMWARE_UNSIGNED_CONTENT", f"partition {node.path}: {where}; it may hold code: "
                              f"{flash.code}"))
        elif not flash.listed:
            what = flash.data or f"{node.size} bytes, all erased"
            out.append(reason("FIRMWARE_UNSIGNED_DATA", f"partition {node.path}: not in any signed flash layout; "
                              f"{what}"))
    return out


def _judge(node: Node, images: dict[str, list[_Match]], names: set[str], *, covered: bool, signed: bool = False,
           matched: list[tuple[Node, list[_Match]]], unvouched: list[Node]) -> bool:
    """Walk the tree; returns whether ``node`` or anything in it was judged. A node listed in the
    manifest vouches for everything inside it. An unlisted layer that holds judged layers (a
    partition around a UBI volume, a package around its images) is judged through them; one
    that holds none is judged itself. A partition is judged only when the manifest names it (the
    rest of a dump is per-unit: configuration, erase counters, free space); a package member may
    be vouched for by a valid vendor signature instead."""
    match = images.get(node.sha256)
    judged = False
    if match is not None and not covered:
        matched.append((node, match))
        covered = judged = True
    candidate = node.role in _CANDIDATES and not covered
    if node.role == PARTITION and node.name not in names:
        candidate = False
    signed = signed or node.vendor_signed  # a vendor signature covers every byte inside
    named_image = node.name.rsplit("/", 1)[-1] in names  # a member called "rootfs" is that image
    if node.role == MEMBER and signed and not named_image:
        candidate = False
    if node.problem is not None:  # unreadable: its own reason says so; a digest verdict would claim more
        candidate = False
    judged_below = False
    for child in node.children:
        judged_below |= _judge(child, images, names, covered=covered, signed=signed, matched=matched,
                               unvouched=unvouched)
    if candidate and not judged_below:
        unvouched.append(node)
        judged = True
    return judged or judged_below


def _verdict(reasons: Sequence[Reason], have_manifest: bool) -> Verdict:
    if any(r.status is Status.CONTRAINDICATED for r in reasons):
        return Verdict.UNTRUSTED
    if not have_manifest or any(r.status is Status.NONE and r.code not in _INFORMATIONAL for r in reasons):
        return Verdict.UNKNOWN
    if any(r.status is Status.WARNING for r in reasons):
        return Verdict.WARNING
    if any(r.code == "FIRMWARE_SIGNED_RELEASE" for r in reasons):
        return Verdict.TRUSTED
    return Verdict.UNKNOWN


def _evidence(inspection: Inspection) -> Evidence:
    """The file's layers as claims, named as a rig's flash measurements are: hashed by the station
    itself, and for a flash dump (read by a programmer, not by the rig's software) ``offline``."""
    level = Assurance.OFFLINE if inspection.dump_layout else Assurance.MEASURED
    claims = [Claim("image.sha256", inspection.root.sha256, SOURCE, level),
              Claim("image.format", inspection.root.format or "unknown", SOURCE, level)]
    for node in inspection.root.walk():
        if node.role in (IMAGE, PARTITION, PACKAGE) and node.sha256 and node.path:
            claims.append(Claim(f"firmware.image.{node.path}.sha256", node.sha256, SOURCE, level))
    seen: set[str] = set()
    for f in inspection.findings:
        if f.code == "BACKDOOR_INDICATOR":
            ident = f.detail.split(":", 1)[0]
            if ident not in seen:
                seen.add(ident)
                claims.append(Claim(f"indicator.{ident}", f"{f.path}", SOURCE, level))
    return Evidence(inspection.file, tuple(claims))


def check_file(path: str, trust: TrustStore | None, manifests: Sequence[Manifest], *,
               mtdparts: str | None = None) -> Appraisal:
    """Inspect and judge one file (CLI and GUI). Raises OSError when it cannot be read at all."""
    from attest.image.walk import inspect_file

    layouts = [r.flash_layout for m in manifests for r in m.firmware if r.flash_layout]
    return appraise_inspection(inspect_file(path, trust, mtdparts=mtdparts, layouts=layouts), manifests)


def detail_lines(appraisal: Appraisal) -> list[str]:
    """Every reason but the affirming ones, one plain-text line each, worst first: what a person
    reads under the verdict table (the table shows only the top reason)."""
    order = {Status.CONTRAINDICATED: 0, Status.NONE: 1, Status.WARNING: 2, Status.AFFIRMING: 3}
    lines = []
    for r in sorted(appraisal.reasons, key=lambda r: order[r.status]):
        text = f"{r.code}: {r.detail or r.message}"
        if r.expected is not None or r.found is not None:
            text += f" (expected {r.expected or '-'}, found {r.found or '-'})"
        lines.append(printable(text, limit=1000).replace("\n", " "))
    return lines

"""Appraisal: Evidence x signed manifests x station policy -> per-category status, reasons, verdict.

The verdict never claims more than the evidence supports: firmware only *reported* by the running
firmware is at best WARNING, and anything we could not check is UNKNOWN, never UNTRUSTED.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from attest.appraise_flash import cross_checks, image_readings, judge_device_digests, uncovered
from attest.egress import INDICATOR, NOT_JUDGED, UNLISTED, Judgement, destination, judge_evidence
from attest.evidence import Assurance, Claim, Evidence, normalise_mac
from attest.history import PriorChecks, Sighting
from attest.manifest import FirmwareRelease, Manifest, ManifestEntry
from attest.manifest_set import newest_per_issuer
from attest.policy import Policy
from attest.verdict import CATEGORIES, Reason, Status, Verdict, reason

_DISPLAY_ORDER = ("firmware", "hardware", "identity", "provenance", "configuration", "evidence")
#: The same serial answering at two stations this close together is two units.
CROSS_STATION_CLONE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Appraisal:
    address: str
    verdict: Verdict
    reasons: tuple[Reason, ...]
    categories: dict[str, Status]
    evidence: Evidence
    manifest: Manifest | None = None
    entry: ManifestEntry | None = None
    policy_digest: str = ""

    @property
    def top_reason(self) -> Reason | None:
        """The reason that decided the verdict: the most severe, firmware first among equals."""
        order = {Status.CONTRAINDICATED: 0, Status.NONE: 1, Status.WARNING: 2, Status.AFFIRMING: 3}
        if self.verdict is not Verdict.UNKNOWN:
            order[Status.NONE] = 4  # could-not-check notes never outrank what was checked
        rank = {c: i for i, c in enumerate(_DISPLAY_ORDER)}
        return min(self.reasons, key=lambda r: (order[r.status], rank.get(r.category, 99)),
                   default=None)

    def to_json(self) -> dict[str, Any]:
        """The CLI contract's verify line (extend, never rename)."""
        return {
            "address": self.address,
            "verdict": self.verdict.value,
            "reasons": [r.to_json() for r in self.reasons],
            "top_reason": None if (top := self.top_reason) is None else top.code,  # what decided the verdict
            "categories": {k: v.value for k, v in self.categories.items()},
            "claims": self.evidence.claims_json(),
            "identity_sha256": self.evidence.identity_sha256(),
            "manifest": None if self.manifest is None else {
                "issuer": self.manifest.issuer,
                "sequence": self.manifest.sequence,
                "digest": self.manifest.digest,
            },
            "policy_digest": self.policy_digest,
            "problems": [p.to_json() for p in self.evidence.problems],
        }


@dataclass
class _Findings:
    reasons: list[Reason] = field(default_factory=list)

    def add(self, code: str, detail: str = "", *, expected: str | None = None,
            found: str | None = None) -> None:
        self.reasons.append(reason(code, detail, expected=expected, found=found))


def clone_peers(evidences: Sequence[Evidence]) -> dict[str, list[str]]:
    """address -> the other addresses in the batch claiming the same serial or MAC."""
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for ev in evidences:
        for key in clone_keys(ev):
            seen[key].append(ev.address)
    return {ev.address: sorted({addr for key in clone_keys(ev) for addr in seen[key] if addr != ev.address})
            for ev in evidences}


def appraise_batch(evidences: Sequence[Evidence], manifests: Sequence[Manifest],
                   policy: Policy) -> list[Appraisal]:
    """Appraise a whole batch: a serial or MAC seen on two units flags both as clones."""
    peers = clone_peers(evidences)
    return [appraise(ev, manifests, policy, clone_addresses=peers[ev.address]) for ev in evidences]


def clone_keys(ev: Evidence) -> list[tuple[str, str]]:
    """What makes two units of one batch clones of each other: the same serial, or the same MAC."""
    keys = []
    serial = ev.value("unit.serial")
    if serial:
        keys.append(("serial", str(serial)))
    mac = normalise_mac(_str(ev.value("net.mac")))
    if mac:
        keys.append(("mac", mac))
    return keys


def appraise(ev: Evidence, manifests: Sequence[Manifest], policy: Policy, *,
             clone_addresses: Sequence[str] = (), prior: PriorChecks | None = None,
             station: str | None = None, now: datetime | None = None) -> Appraisal:
    """One device's verdict. ``prior`` is what the station's log (and the warehouse store)
    hold about its serial from earlier runs; ``station`` is this station's id and ``now`` the
    time of the check, for telling a clone at another bench from a unit seen there before."""
    manifests = newest_per_issuer(manifests)  # a superseded manifest never vouches for anything
    f = _Findings()
    for problem in ev.problems:
        detail = problem.detail
        if not detail.startswith(problem.endpoint):
            detail = f"{problem.endpoint}: {detail}"
        f.add(problem.code, detail)
    serial = _str(ev.value("unit.serial"))
    manifest, entry = _find_entry(ev, serial, manifests)
    if not manifests:
        f.add("NO_MANIFEST")
    elif serial is None and entry is None:
        # The top reason says what was missing and which channel would give it, not just the
        # first channel that failed (claims from an answering API outrank a closed SSH port).
        missing = reason("IDENTITY_NOT_READ", identity_missing(ev))
        if _asked(ev):
            f.reasons.insert(0, missing)
        else:
            f.reasons.append(missing)
    elif entry is None or manifest is None:
        f.add("DEVICE_NOT_IN_MANIFEST", f"serial {serial}", found=serial)
    else:
        _identity(ev, entry, f)
        _hardware(ev, entry, f)
        _firmware(ev, entry, manifest, manifests, f)
        _configuration(ev, policy, f)
        _provenance(manifest, entry, policy, f)
    if clone_addresses:
        f.add("SERIAL_CLONED", "same serial or MAC as " + ", ".join(clone_addresses))
    if prior is not None and serial is not None:
        _history(ev, prior, station, now or datetime.now(UTC), f)
    if entry is None and manifests and serial is not None:
        # Device checks that need no manifest entry still run: a backdoor is a backdoor.
        _indicators(ev, f)
    _egress(ev, policy, f)
    categories = _categories(f.reasons)
    verdict = _verdict(ev, f.reasons, categories, identified=entry is not None)
    return Appraisal(ev.address, verdict, tuple(f.reasons), categories, ev, manifest, entry,
                     policy.digest)


def _find_entry(ev: Evidence, serial: str | None,
                manifests: Sequence[Manifest]) -> tuple[Manifest | None, ManifestEntry | None]:
    fingerprint = ev.identity_sha256()
    for manifest in manifests:
        entry = manifest.entry_for_serial(serial) if serial else None
        if entry is None and fingerprint:
            entry = manifest.entry_for_identity(fingerprint)
        if entry is not None:
            return manifest, entry
    mac = _str(ev.value("net.mac"))
    if serial is None and mac:
        # Firmware that never reports a serial (Avalon's API) is found by its MAC; the other
        # identity claims (the controller's DNA as control board) are then checked as usual.
        for manifest in manifests:
            if (entry := manifest.entry_for_mac(mac)) is not None:
                return manifest, entry
    return None, None


#: How the technician names each channel, and what each failure means there.
_CHANNELS = {"api": "API", "web": "web UI", "ssh": "SSH", "whatsminer3": "Whatsminer API v3",
             "serial": "serial console", "grpc": "Braiins OS API", "whatsminer": "Whatsminer API",
             "epic": "ePIC API"}
_FAILURES = {"AUTH_FAILED": "login refused", "UNREACHABLE": "closed", "TIMEOUT": "no answer in time",
             "NOT_THIS_FAMILY": "answered as something else", "MALFORMED_REPLY": "malformed reply",
             "CONNECTION_RESET": "connection dropped", "REPLY_TOO_LARGE": "reply too large",
             "DRIVER_UNAVAILABLE": "not readable by this version", "INTERNAL_ERROR": "failed (a bug)"}


def identity_missing(ev: Evidence) -> str:
    """What each channel did and which would give the unit serial, e.g. "the API answered
    (BMMiner 1.0.0, Antminer S21) but carries no unit serial; web UI: login refused; SSH: closed"."""
    answered: dict[str, list[str]] = {}
    for c in _asked(ev):
        label = c.source.split(" ", 1)[0]
        facts = answered.setdefault(label, [])
        if c.name in ("firmware.miner.version", "unit.model") and len(facts) < 2 and str(c.value) not in facts:
            facts.append(str(c.value))
    parts = [f"the {_channel(label)} answered" + (f" ({', '.join(facts)})" if facts else "")
             + " but carries no unit serial" for label, facts in answered.items()]
    failed: list[str] = []
    for p in ev.problems:
        if p.code == "VALUE_MALFORMED":
            if "unit.serial" in p.detail:
                parts.append(f"{_channel(p.endpoint)}: the unit serial it sent was refused as malformed")
            continue
        said = _FAILURES.get(p.code, p.code)
        if p.code == "AUTH_FAILED" and ("none were given" in p.detail or "no SSH credentials" in p.detail):
            said = "no credentials given"
        parts.append(f"{_channel(p.endpoint)}: {said}")
        failed.append(_channel(p.endpoint))
    text = "; ".join(parts) or "nothing answered"
    if failed:
        text += f". The {' or '.join(dict.fromkeys(failed))} would give the unit serial: check its port and credentials"
    return text


def _asked(ev: Evidence) -> list[Claim]:
    """The claims the rig gave when asked (API, web, SSH, console): what the network watch saw it do
    or an attached dump holds is evidence too, but no channel of the rig that answered."""
    return [c for c in ev.claims if c.assurance not in (Assurance.OBSERVED, Assurance.OFFLINE)]


def _channel(label: str) -> str:
    kind = label.split("://", 1)[0] if "://" in label else label.split(":", 1)[0]
    return _CHANNELS.get(kind, kind)


def _identity(ev: Evidence, entry: ManifestEntry, f: _Findings) -> None:
    ok = True
    model = _str(ev.value("unit.model"))
    if model is not None and entry.model and model.strip().lower() != entry.model.strip().lower():
        f.add("MODEL_MISMATCH", expected=entry.model, found=model)
        ok = False
    mac = normalise_mac(_str(ev.value("net.mac")))
    if entry.mac and mac and normalise_mac(entry.mac) != mac:
        f.add("MAC_MISMATCH", expected=normalise_mac(entry.mac), found=mac)
        ok = False
    if entry.serial is None and entry.identity_sha256:
        found = ev.identity_sha256()
        if found != entry.identity_sha256:
            f.add("IDENTITY_FINGERPRINT_MISMATCH", expected=entry.identity_sha256, found=found)
            ok = False
    for name in ("unit.serial", "net.mac", "unit.model"):
        values = {_norm(name, c.value): c.source for c in ev.claims if c.name == name and c.value is not None}
        if len(values) > 1:
            f.add("CLAIMS_DISAGREE", f"{name}: " + "; ".join(f"{v} from {s}" for v, s in values.items()))
            ok = False
    if ok and ev.value("unit.serial") is None:
        f.add("IDENTITY_MATCHES_MANIFEST", f"by MAC {mac}: the unit reports no serial "
              f"(the manifest lists {entry.serial or 'none'})")
    elif ok:
        f.add("IDENTITY_MATCHES_MANIFEST", f"serial {entry.serial or ev.value('unit.serial')}")


def _norm(name: str, value: object) -> str:
    text = str(value).strip()
    return (normalise_mac(text) or text) if name == "net.mac" else text


def _hardware(ev: Evidence, entry: ManifestEntry, f: _Findings) -> None:
    bad = False
    unread: list[str] = []
    board = _str(ev.value("control_board.serial"))
    if entry.control_board_serial:
        if board is None:
            unread.append("control board serial")
        elif board != entry.control_board_serial:
            f.add("CONTROL_BOARD_SERIAL_MISMATCH", expected=entry.control_board_serial, found=board)
            bad = True
    found = ev.hashboard_serials()
    expected = {hb.slot: hb for hb in entry.hashboards}
    if expected and not found:
        unread.append("hashboard serials")
    elif expected:
        for slot, hb in sorted(expected.items()):
            if slot not in found:
                f.add("HASHBOARD_MISSING", f"slot {slot}", expected=hb.serial, found=None)
                bad = True
            elif found[slot] != hb.serial:
                f.add("HASHBOARD_SERIAL_MISMATCH", f"slot {slot}", expected=hb.serial, found=found[slot])
                bad = True
        for slot in sorted(set(found) - set(expected)):
            f.add("HASHBOARD_UNEXPECTED", f"slot {slot}", expected=None, found=found[slot])
            bad = True
    for slot, hb in sorted(expected.items()):
        chips = ev.value(f"hashboard.{slot}.chips")
        if hb.chips is not None and isinstance(chips, int) and chips != hb.chips:
            f.add("HASHBOARD_CHIPS_MISMATCH", f"slot {slot}", expected=str(hb.chips), found=str(chips))
    psu = _str(ev.value("psu.serial"))
    if entry.psu_serial and psu is not None and psu != entry.psu_serial:
        f.add("PSU_SERIAL_MISMATCH", expected=entry.psu_serial, found=psu)
        bad = True
    if unread:
        f.add("HARDWARE_NOT_READ", "not read: " + ", ".join(unread))
    elif not bad:
        checked = ["control board"] if entry.control_board_serial else []
        checked += [f"{len(expected)} hashboards"] if expected else []
        if entry.psu_serial and psu is not None:
            checked.append("PSU")
        f.add("HARDWARE_MATCHES_MANIFEST", "checked: " + ", ".join(checked))


def _firmware(ev: Evidence, entry: ManifestEntry, manifest: Manifest,
              manifests: Sequence[Manifest], f: _Findings) -> None:
    """Digests at ``measured`` or better judged against the signed releases; the rig's own digests
    only cross-check them (attest.appraise_flash says how each kind of reading counts)."""
    _indicators(ev, f)
    revoked = {r.digest: r.reason for m in manifests for r in m.revoked_firmware}
    model = entry.model
    releases = [r for r in manifest.firmware if r.model.strip().lower() == model.strip().lower()]
    known_names = {name for r in releases for name in r.images}
    measured = {
        name.split(".", 2)[2].rsplit(".", 1)[0]: c
        for name in ev.names(r"firmware\.image\..+\.sha256")
        if (c := ev.best(name)) is not None and c.assurance >= Assurance.MEASURED
    }
    # A bootloader's crc32 is no digest (an image can be made to any crc32): never a match.
    weak = [image for n in ev.names(r"firmware\.image\..+\.crc32")
            if (image := n.split(".", 2)[2].rsplit(".", 1)[0]) not in measured]
    if weak:
        f.add("FIRMWARE_WEAK_INTEGRITY", "only a crc32 for: " + ", ".join(weak))
    live = image_readings(ev, live_only=True)
    for name, claims in live.items():  # U-Boot and the running OS read the same flash: they must agree
        reads = {str(c.value): c.source for c in claims}
        if len(reads) > 1:
            said = "; ".join(f"{value} from {source}" for value, source in reads.items())
            f.add("CLAIMS_DISAGREE", f"firmware.image.{name}.sha256: {said}")
    cross_checks(ev, f.add)
    uncovered(ev, known_names, f.add)
    if not measured:
        if not judge_device_digests(ev, releases, revoked, f.add):
            _reported_firmware(ev, releases, f)
        return
    bad = False
    for name, readings in sorted(image_readings(ev).items()):  # every reading, not only the strongest
        for digest in dict.fromkeys(str(c.value) for c in readings):
            if digest in revoked:
                f.add("FIRMWARE_REVOKED", f"image {name}: {revoked[digest]}", found=digest)
                bad = True
            elif name in known_names and not any(r.images.get(name) == digest for r in releases):
                expected = ", ".join(sorted({r.images[name] for r in releases if name in r.images}))
                f.add("FIRMWARE_DIGEST_UNKNOWN", f"image {name}", expected=expected or None, found=digest)
                bad = True
    judged = {n: str(c.value) for n, c in measured.items() if n in known_names}
    if bad:
        return
    if not judged:
        f.add("FIRMWARE_IMAGE_MISSING", "no measured partition is named in the signed releases",
              expected=", ".join(sorted(known_names)), found=", ".join(sorted(measured)))
        return
    whole = [r for r in releases if all(r.images.get(n) == d for n, d in judged.items())]
    if not whole:
        f.add("FIRMWARE_MIXED_RELEASES", ", ".join(f"{n}" for n in sorted(judged)))
        return
    best = max(whole, key=lambda r: sum(1 for n in r.images if n in judged))
    missing = sorted(set(best.images) - set(judged))
    if missing:
        f.add("FIRMWARE_IMAGE_MISSING", "not found: " + ", ".join(missing))
        return
    reported = _str(ev.value("firmware.version"))
    if reported is not None and reported != best.version:
        f.add("FIRMWARE_VERSION_MISMATCH", expected=best.version, found=reported)
    weakest = min(measured[n].assurance for n in judged)
    f.add("FIRMWARE_SIGNED_RELEASE", f"{best.model} {best.version} (every image {weakest.label} or better)")


def _reported_firmware(ev: Evidence, releases: list[FirmwareRelease], f: _Findings) -> None:
    version = _str(ev.value("firmware.version"))
    build = _str(ev.value("firmware.build"))
    match = [r for r in releases if (version is not None and r.version == version)
             or (build is not None and r.build == build)]
    if match:
        f.add("FIRMWARE_REPORTED_ONLY", f"reports {match[0].version}")
    else:
        known = ", ".join(sorted({r.version for r in releases}))
        f.add("FIRMWARE_VERSION_UNKNOWN", expected=known or None, found=version or build)


def _history(ev: Evidence, prior: PriorChecks, station: str | None, now: datetime, f: _Findings) -> None:
    """Compare the unit with its earlier checks: parts that changed, a host key that changed,
    the same serial at another bench within the hour; the same identity again is only history."""
    for missing in prior.unavailable:
        f.add("HISTORY_UNAVAILABLE", missing)
    sightings = sorted(prior.sightings, key=lambda s: s.time, reverse=True)  # newest first
    if not sightings:
        return
    elsewhere = [s for s in sightings if station is not None and s.station != station
                 and (moment := s.moment) is not None and abs(now - moment) <= CROSS_STATION_CLONE_WINDOW]
    if elsewhere:
        s = elsewhere[0]
        f.add("SERIAL_CLONED", f"the same serial answered at station {s.station} at {_when(s)} "
              f"({s.address}, record {s.record}), within an hour of this check")
    current = _current_parts(ev)
    changed = False
    for s in sightings:
        differences = [(part, was, now_is) for part, was in s.identity_parts().items()
                       if was is not None and (now_is := current.get(part)) is not None and was != now_is]
        if differences:
            what = "; ".join(f"{part} was {_part_text(was)}, now {_part_text(now_is)}"
                             for part, was, now_is in differences)
            f.add("IDENTITY_CHANGED_SINCE", f"since the check of {_when(s)} at station {s.station} "
                  f"(record {s.record}): {what}",
                  expected="; ".join(f"{part} {_part_text(was)}" for part, was, _ in differences),
                  found="; ".join(f"{part} {_part_text(now_is)}" for part, _, now_is in differences))
            changed = True
            break
    host_key = _fingerprint(_str(ev.value("ssh.host_key")))
    keyed = next((s for s in sightings if s.ssh_host_key), None)
    if host_key is not None and keyed is not None and _fingerprint(keyed.ssh_host_key) != host_key:
        f.add("SSH_HOST_KEY_CHANGED", f"since the check of {_when(keyed)} at station {keyed.station} "
              f"(record {keyed.record})", expected=keyed.ssh_host_key, found=host_key)
    if not changed and not elsewhere:
        first, last = sightings[-1], sightings[0]
        stations = sorted({s.station for s in sightings})
        where = f"station {stations[0]}" if len(stations) == 1 else f"{len(stations)} stations"
        times = "once" if len(sightings) == 1 else f"{len(sightings)} times"
        f.add("IDENTITY_SEEN_BEFORE", f"checked {times} before at {where}, first {_when(first)}"
              + ("" if first is last else f", last {_when(last)}") + "; same identity")


def _fingerprint(host_key: str | None) -> str | None:
    """``SHA256:...`` whether a record holds it alone or after the key's algorithm (records made
    before the claim became the bare fingerprint)."""
    return None if host_key is None else (host_key.split() or [""])[-1]


def _current_parts(ev: Evidence) -> dict[str, Any]:
    return {
        "MAC": normalise_mac(_str(ev.value("net.mac"))),
        "control board": _str(ev.value("control_board.serial")),
        "hashboards": tuple(ev.hashboard_serials().values()) or None,
        "PSU": _str(ev.value("psu.serial")),
    }


def _part_text(value: object) -> str:
    return ", ".join(value) if isinstance(value, tuple) else str(value)


def _when(s: Sighting) -> str:
    """"2026-11-25 14:02 UTC" from the record's ISO time (its text when it does not parse)."""
    moment = s.moment
    return s.time if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _indicators(ev: Evidence, f: _Findings) -> None:
    if any(r.code == "BACKDOOR_INDICATOR" for r in f.reasons):
        return
    for name in ev.names(r"indicator\..+"):
        claim = ev.best(name)
        if claim is not None:
            f.add("BACKDOOR_INDICATOR", f"{name.split('.', 1)[1]}: {claim.value}")


def _egress(ev: Evidence, policy: Policy, f: _Findings) -> None:
    """What the station's network watch saw the rig do (``egress.*`` claims, attest.watch): a
    known backdoor's host or check-in is UNTRUSTED, a host or port off the egress allow-list a
    WARNING naming it, a rig that tried nothing only a note. Nothing when no watch ran."""
    watched = ev.best("egress.watch")
    if watched is None:
        return
    judgements = judge_evidence(ev, policy)
    if not judgements:
        f.add("EGRESS_NOT_SEEN", str(watched.value))
    hits: dict[str, list[Judgement]] = defaultdict(list)
    unlisted: dict[str, list[Judgement]] = defaultdict(list)
    for j in judgements:
        if j.status == INDICATOR and j.indicator:
            hits[j.indicator].append(j)
        elif j.status == UNLISTED:
            unlisted[destination(j.item)].append(j)
    for ident, found in hits.items():
        names = sorted({j.item.name for j in found if j.item.name})
        f.add("EGRESS_INDICATOR", f"{ident}: " + "; ".join(j.item.describe() for j in found),
              found=", ".join(names) or None)
    for where, found in unlisted.items():
        ports = sorted({j.item.port for j in found if j.item.port})
        f.add("EGRESS_UNLISTED", f"{where}: " + "; ".join(j.item.describe() for j in found) + f" ({found[0].why})",
              found=where + (f":{ports[0]}" if ports and not where.startswith("port ") else ""))
    if any(j.status == NOT_JUDGED for j in judgements):
        f.add("EGRESS_NOT_CHECKED")
    elif judgements and not hits and not unlisted:
        f.add("EGRESS_ALLOWED", f"{len(judgements)} distinct lookup(s) and connection(s)")
    reported = normalise_mac(_str(ev.value("net.mac")))
    seen = [m for m in str(ev.value("egress.mac") or "").split(", ") if m]
    if reported and any(normalise_mac(m) != reported for m in seen):
        f.add("CLAIMS_DISAGREE", f"net.mac: {reported} from the rig; {', '.join(seen)} seen on the wire by the "
              "station's network watch")


def _configuration(ev: Evidence, policy: Policy, f: _Findings) -> None:
    urls = sorted({str(c.value) for c in ev.claims
                   if c.name.startswith("config.pool.") and c.name.endswith(".url") and c.value})
    if policy.pool_allow is None:
        f.add("CONFIGURATION_NOT_CHECKED")
        return
    bad = [u for u in urls if not policy.pool_allowed(u)]
    for url in bad:
        f.add("POOL_NOT_ALLOWED", found=url)
    if not bad:
        f.add("CONFIGURATION_ALLOWED", f"{len(urls)} pool(s)")


def _provenance(manifest: Manifest, entry: ManifestEntry, policy: Policy, f: _Findings) -> None:
    if not policy.origin_allowed(entry.origin):
        where = ", ".join(f"{k}={v}" for k, v in sorted(entry.origin.items())) or "no origin given"
        f.add("ORIGIN_NOT_ALLOWED", where)
    else:
        f.add("MANIFEST_ACCEPTED", f"{manifest.issuer}, sequence {manifest.sequence}")


def _categories(reasons: Sequence[Reason]) -> dict[str, Status]:
    rank = {Status.CONTRAINDICATED: 3, Status.WARNING: 2, Status.AFFIRMING: 1, Status.NONE: 0}
    out = {c: Status.NONE for c in CATEGORIES}
    for r in reasons:
        if r.category in out and rank[r.status] > rank[out[r.category]]:
            out[r.category] = r.status
    return out


def _verdict(ev: Evidence, reasons: Sequence[Reason], categories: dict[str, Status], *,
             identified: bool) -> Verdict:
    if any(r.status is Status.CONTRAINDICATED for r in reasons):
        return Verdict.UNTRUSTED
    if not identified:
        return Verdict.UNKNOWN
    if any(r.status is Status.WARNING for r in reasons):
        return Verdict.WARNING
    required = ("identity", "hardware", "firmware", "provenance")
    if any(categories[c] is not Status.AFFIRMING for c in required):
        return Verdict.WARNING
    if categories["configuration"] is Status.WARNING:
        return Verdict.WARNING
    # TRUSTED needs firmware at measured or better: never the rig's own digests (device_sha256).
    if not any(r.code == "FIRMWARE_SIGNED_RELEASE" for r in reasons) or not image_readings(ev):
        return Verdict.WARNING
    return Verdict.TRUSTED


def _str(value: object) -> str | None:
    return None if value is None else str(value)

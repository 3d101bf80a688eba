"""What is inside: each file of an image checked for known backdoors and for ways in.

Every finding names the path inside the image and quotes the bytes around the match as plain
text. Indicators come from ``attest/data/indicators.json`` (shared with the on-device grep, so one
list serves both); the rest are fixed rules, each with its own reason code:
SSH ``authorized_keys`` holding keys, setuid/setgid files, startup and cron entries (and update
scripts such as ``runme.sh``) that open listeners or fetch and run code, and shadow entries whose
hash is a vendor's factory password.
"""

from __future__ import annotations

import posixpath
import re
import stat
from collections.abc import Callable

from attest.evidence import printable
from attest.image.model import context_text
from attest.image.passwords import matching_default
from attest.indicators import Indicator, default_indicators

Report = Callable[..., None]  # finding(code, path, detail, expected=..., found=...)

_SCAN_CHUNK = 8 << 20
_MAX_SCRIPT_BYTES = 1 << 20
_STARTUP = re.compile(r"(^|/)(etc/(init\.d|rc\d?\.d|rcS\.d|rc\.d|cron\.[a-z]+|crontabs|profile\.d"
                      r"|network/if-[a-z-]+\.d)/[^/]+"
                      r"|etc/(inittab|rc\.local|crontab|profile|rc\.common)"
                      r"|var/spool/cron/[^/]+|(usr/)?lib/systemd/system/[^/]+|etc/systemd/system/[^/]+"
                      r"|[^/]+\.sh|\(script\))$")
_LISTENER = re.compile(
    rb"\b(?:nc|ncat|netcat)\b[^\n;|&]*\s-[a-zA-Z]*[le]\b"  # nc -l / -lp / -e: a bind or reverse shell
    rb"|\btelnetd\b"
    rb"|\bsocat\b[^\n]*(?:TCP6?4?-LISTEN|UDP-LISTEN|EXEC:)"
    rb"|/dev/tcp/")
_FETCH_RUN = re.compile(
    rb"\b(?:wget|curl)\b[^\n|;]*\|\s*(?:/bin/|/usr/bin/)?(?:ba|da|a)?sh\b"
    rb"|\$\(\s*(?:wget|curl)\b"
    rb"|`\s*(?:wget|curl)\b")
_KEY_LINE = re.compile(rb"(?:^|\s)(ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+"
                       rb"|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
                       rb"\s+[A-Za-z0-9+/=]{20,}(?:\s+(\S+))?")


def audit_file(report: Report, fs_path: str, where: str, data: bytes | memoryview, mode: int,
               indicators: tuple[Indicator, ...] | None = None) -> None:
    """Check one regular file. ``fs_path`` is its path inside its filesystem (for the path
    rules); ``where`` its full path inside the inspected file (for the finding)."""
    scan_indicators(report, where, data, indicators or default_indicators())
    if mode & (stat.S_ISUID | stat.S_ISGID) and stat.S_ISREG(mode):
        bits = " and ".join(b for b, f in (("setuid", stat.S_ISUID), ("setgid", stat.S_ISGID)) if mode & f)
        report("IMAGE_SETUID_FILE", where, f"{bits} ({stat.filemode(mode)})")
    name = posixpath.basename(fs_path)
    if name in ("authorized_keys", "authorized_keys2"):
        _authorized_keys(report, where, data)
    if _STARTUP.search(fs_path) and len(data) <= _MAX_SCRIPT_BYTES:
        _startup_script(report, where, bytes(data))
    if name in ("shadow", "passwd") and "etc" in fs_path.split("/") and len(data) <= _MAX_SCRIPT_BYTES:
        _passwords(report, where, bytes(data))


def scan_indicators(report: Report, where: str, data: bytes | memoryview, indicators: tuple[Indicator, ...]) -> None:
    """One finding per indicator, at the first of its patterns found. A large view (a raw
    partition of the mapped file) is copied once, slice by slice, and every pattern is searched
    in each slice; slices overlap by the longest pattern, so no match falls between two."""
    needles = [(ind, tuple(p.encode("ascii") for p in ind.patterns)) for ind in indicators]
    overlap = max((len(n) for _, ns in needles for n in ns), default=1) - 1
    found: dict[str, tuple[int, bytes]] = {}
    step = max(1, len(data)) if isinstance(data, bytes) else _SCAN_CHUNK
    for start in range(0, len(data), step):
        chunk = data if isinstance(data, bytes) else bytes(data[start:start + _SCAN_CHUNK + overlap])
        for indicator, patterns in needles:
            if indicator.id in found:
                continue
            for needle in patterns:
                at = chunk.find(needle)
                if at >= 0:
                    found[indicator.id] = (start + at, needle)
                    break
        if len(found) == len(needles):
            break
    for indicator, _ in needles:
        if indicator.id in found:
            at, needle = found[indicator.id]
            report("BACKDOOR_INDICATOR", where, f"{indicator.id}: {context_text(data, at, at + len(needle))}")


def _authorized_keys(report: Report, where: str, data: bytes | memoryview) -> None:
    text = bytes(data[:_MAX_SCRIPT_BYTES])
    keys = [m for line in text.splitlines() if not line.lstrip().startswith(b"#")
            if (m := _KEY_LINE.search(line))]
    if keys:
        first = keys[0]
        who = printable(first.group(2) or b"(no comment)", limit=80)
        report("IMAGE_AUTHORIZED_KEYS", where,
               f"{len(keys)} key(s); first: {first.group(1).decode()} … {who}")


def _startup_script(report: Report, where: str, text: bytes) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith(b"#"):
            continue
        for code, rx in (("IMAGE_STARTUP_LISTENER", _LISTENER), ("IMAGE_FETCH_AND_RUN", _FETCH_RUN)):
            if rx.search(line):
                report(code, where, f"line {number}: {printable(line.strip(), limit=200)}")


def _passwords(report: Report, where: str, text: bytes) -> None:
    for line in text.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) < 2 or not fields[1].startswith("$"):
            continue
        match = matching_default(fields[1])
        if match is not None:
            report("IMAGE_DEFAULT_PASSWORD", where,
                   f"account {printable(fields[0], limit=32)}: the password is {match.vendor}'s factory "
                   f"default ('{match.password}')")

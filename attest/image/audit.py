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
from attest.image.limits import Budget, CheckOverrun, Limits
from attest.image.model import context_text
from attest.image.passwords import matching_default
from attest.image.shellrules import fetches_and_runs, opens_listener
from attest.indicators import Indicator, default_indicators

Report = Callable[..., None]  # finding(code, path, detail, expected=..., found=...)

_SCAN_CHUNK = 8 << 20
_LINES_PER_TICK = 4096
_STARTUP = re.compile(r"(^|/)(etc/(init\.d|rc\d?\.d|rcS\.d|rc\.d|cron\.[a-z]+|crontabs|profile\.d"
                      r"|network/if-[a-z-]+\.d)/[^/]+"
                      r"|etc/(inittab|rc\.local|crontab|profile|rc\.common)"
                      r"|var/spool/cron/[^/]+|(usr/)?lib/systemd/system/[^/]+|etc/systemd/system/[^/]+"
                      r"|[^/]+\.sh|\(script\))$")
_KEY_LINE = re.compile(rb"(?:^|\s)(ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+"
                       rb"|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)"
                       rb"\s+[A-Za-z0-9+/=]{20,}(?:\s+(\S+))?")


def is_startup_path(fs_path: str) -> bool:
    """A startup, cron or update-script path: what runs without anyone typing it."""
    return _STARTUP.search(fs_path) is not None


def audit_file(report: Report, fs_path: str, where: str, data: bytes | memoryview, mode: int,
               indicators: tuple[Indicator, ...] | None = None, budget: Budget | None = None) -> None:
    """Check one regular file. ``fs_path`` is its path inside its filesystem (for the path
    rules); ``where`` its full path inside the inspected file (for the finding).

    Each check runs on its own clock (``Budget.check_clock``): one that overruns says what it
    left unchecked (IMAGE_TOO_COSTLY) and the others still run."""
    budget = budget or Budget(Limits())
    checks: list[tuple[str, Callable[[float], None]]] = [
        ("the backdoor indicator scan", lambda deadline: scan_indicators(
            report, where, data, indicators or default_indicators(), budget=budget, deadline=deadline))]
    if mode & (stat.S_ISUID | stat.S_ISGID) and stat.S_ISREG(mode):
        bits = " and ".join(b for b, f in (("setuid", stat.S_ISUID), ("setgid", stat.S_ISGID)) if mode & f)
        report("IMAGE_SETUID_FILE", where, f"{bits} ({stat.filemode(mode)})")
    name = posixpath.basename(fs_path)
    if name in ("authorized_keys", "authorized_keys2"):
        checks.append(("the authorized_keys check", lambda deadline: _authorized_keys(
            report, where, data, budget, deadline)))
    if is_startup_path(fs_path):
        checks.append(("the startup script rules", lambda deadline: _startup_script(
            report, where, data, budget, deadline)))
    if name in ("shadow", "passwd") and "etc" in fs_path.split("/"):
        checks.append(("the default password check", lambda deadline: _passwords(
            report, where, data, budget, deadline)))
    for what, check in checks:
        try:
            check(budget.check_clock())
        except CheckOverrun:
            report("IMAGE_TOO_COSTLY", where, f"{what} ran past its {budget.limits.max_check_seconds:g} s budget; "
                   "the rest of this file was not checked by it")


def _whole(report: Report, where: str, data: bytes | memoryview, budget: Budget, what: str) -> bytes | None:
    """The file's bytes for a line-by-line check, or None (and a finding) when it is too large to
    read whole: a check skipped in silence would be a pass nobody earned."""
    cap = budget.limits.max_script_bytes
    if len(data) > cap:
        report("IMAGE_TOO_COSTLY", where, f"{len(data)} bytes, over the {cap}-byte cap for {what}: "
               "the file was not checked by it")
        return None
    return bytes(data)


def scan_indicators(report: Report, where: str, data: bytes | memoryview, indicators: tuple[Indicator, ...], *,
                    budget: Budget | None = None, deadline: float | None = None) -> None:
    """One finding per indicator, at the first of its patterns found. A large view (a raw
    partition of the mapped file) is copied once, slice by slice, and every pattern is searched
    in each slice; slices overlap by the longest pattern, so no match falls between two."""
    needles = [(ind, tuple(p.encode("ascii") for p in ind.patterns)) for ind in indicators]
    overlap = max((len(n) for _, ns in needles for n in ns), default=1) - 1
    found: dict[str, tuple[int, bytes]] = {}
    step = max(1, len(data)) if isinstance(data, bytes) else _SCAN_CHUNK
    for start in range(0, len(data), step):
        if budget is not None:
            budget.tick_check(budget.deadline if deadline is None else deadline, where)
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


def _authorized_keys(report: Report, where: str, data: bytes | memoryview, budget: Budget, deadline: float) -> None:
    text = _whole(report, where, data, budget, "the authorized_keys check")
    if text is None:
        return
    keys = []
    for number, line in enumerate(text.splitlines()):
        if number % _LINES_PER_TICK == 0:
            budget.tick_check(deadline, where)
        if not line.lstrip().startswith(b"#") and (m := _KEY_LINE.search(line)):
            keys.append(m)
    if keys:
        first = keys[0]
        who = printable(first.group(2) or b"(no comment)", limit=80)
        report("IMAGE_AUTHORIZED_KEYS", where,
               f"{len(keys)} key(s); first: {first.group(1).decode()} … {who}")


def _startup_script(report: Report, where: str, data: bytes | memoryview, budget: Budget, deadline: float) -> None:
    text = _whole(report, where, data, budget, "the startup script rules")
    if text is None:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if number % _LINES_PER_TICK == 0:
            budget.tick_check(deadline, where)
        if line.lstrip().startswith(b"#"):
            continue
        for code, rule in (("IMAGE_STARTUP_LISTENER", opens_listener), ("IMAGE_FETCH_AND_RUN", fetches_and_runs)):
            if rule(line):
                report(code, where, f"line {number}: {printable(line.strip(), limit=200)}")


def _passwords(report: Report, where: str, data: bytes | memoryview, budget: Budget, deadline: float) -> None:
    """Each hash costs a thousand MD5 rounds per factory password: a shadow file of 100,000 lines
    (a 1.6 KB gzip) would take minutes, so at most ``max_password_checks`` hashes are compared and
    the rest are named as unchecked."""
    text = _whole(report, where, data, budget, "the default password check")
    if text is None:
        return
    hashes = [(fields[0], fields[1]) for line in text.decode("utf-8", "replace").splitlines()
              if len(fields := line.split(":")) >= 2 and fields[1].startswith("$")]
    cap = budget.limits.max_password_checks
    for account, hashed in hashes[:cap]:
        budget.tick_check(deadline, where)
        match = matching_default(hashed)
        if match is not None:
            report("IMAGE_DEFAULT_PASSWORD", where,
                   f"account {printable(account, limit=32)}: the password is {match.vendor}'s factory "
                   f"default ('{match.password}')")
    if len(hashes) > cap:
        report("IMAGE_TOO_COSTLY", where, f"{len(hashes)} password hashes; only the first {cap} were compared "
               f"with the vendors' factory passwords, the other {len(hashes) - cap} (from account "
               f"{printable(hashes[cap][0], limit=32)} on) were not checked")

"""Known-bad byte strings (backdoors, ransomware) that drivers look for in a rig's miner binary.

The list ships as ``attest/data/indicators.json``; a station policy may name its own file. It is
validated strictly before use because every pattern ends up on a device's command line (as a
``grep -F -e`` argument, shell-quoted) and every id in a claim name (``indicator.<id>``): a bad
entry must stop the station, not silently weaken or break the scan.

An indicator may also say how the backdoor shows itself on the wire (``network``): the host names
it looks up, the ports it connects to and bytes its check-in always carries. The station's network
watch (``attest.watch``) and the appraisal of what it saw use those; the ports are listened on.
"""

from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

MAX_FILE_BYTES = 1024 * 1024
MAX_INDICATORS = 256
MAX_PATTERNS = 512
#: All patterns together must fit comfortably on a busybox command line (ARG_MAX >= 128 KiB).
MAX_PATTERN_BYTES_TOTAL = 32 * 1024
MIN_PATTERN_CHARS = 6  # shorter strings turn up by chance in any large binary
MAX_PATTERN_CHARS = 256
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
#: Printable ASCII only: no newline (grep output is line-based), no NUL (cannot be an argv byte).
_PATTERN = re.compile(r"[\x20-\x7e]+")
_KEYS = frozenset({"id", "patterns", "description", "reference"})
_OPTIONAL_KEYS = frozenset({"network"})
_NETWORK_KEYS = frozenset({"hosts", "ports", "checkins"})
#: A host name as DNS spells it (lower-case, no trailing dot): what a lookup is compared with.
_HOST = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+")


class IndicatorError(Exception):
    """The indicator list cannot be used; ``message`` says which entry and why."""

    code = "INDICATORS_INVALID"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class NetworkIndicator:
    """How a backdoor shows itself on the wire: any host looked up (or a subdomain of one), or any
    check-in bytes in a connection's first bytes, means it is there. ``ports`` are where it
    connects: the watch listens there, but a port alone proves nothing."""

    hosts: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    checkins: tuple[str, ...] = ()

    def names_host(self, name: str) -> bool:
        name = name.lower().rstrip(".")
        return any(name == host or name.endswith("." + host) for host in self.hosts)

    def checkin_in(self, data: bytes) -> bool:
        return any(c.encode("ascii") in data for c in self.checkins)


@dataclass(frozen=True)
class Indicator:
    """One known-bad thing: any of its ``patterns`` found in a miner binary means it is there."""

    id: str
    patterns: tuple[str, ...]
    description: str
    reference: str
    network: NetworkIndicator | None = None


def load_indicators(path: str | os.PathLike[str] | None = None) -> tuple[Indicator, ...]:
    """The indicators in ``path``, or the shipped list when ``path`` is None."""
    if path is None:
        return default_indicators()
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise IndicatorError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from None
    return parse_indicators(data, origin=os.fspath(path))


@functools.cache
def default_indicators() -> tuple[Indicator, ...]:
    data = resources.files("attest").joinpath("data/indicators.json").read_bytes()
    return parse_indicators(data, origin="attest/data/indicators.json")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key in an object")
    return dict(pairs)


def parse_indicators(data: bytes, *, origin: str = "indicators") -> tuple[Indicator, ...]:
    """Validate and build the list; raises IndicatorError naming the first problem."""
    if len(data) > MAX_FILE_BYTES:
        raise IndicatorError(f"{origin}: larger than {MAX_FILE_BYTES} bytes")
    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=_reject_duplicate_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise IndicatorError(f"{origin}: not valid JSON: {exc}") from None
    if not isinstance(document, list) or not document:
        raise IndicatorError(f"{origin}: must be a non-empty JSON list of indicators")
    if len(document) > MAX_INDICATORS:
        raise IndicatorError(f"{origin}: more than {MAX_INDICATORS} indicators")
    indicators = tuple(_indicator(entry, f"{origin}[{n}]") for n, entry in enumerate(document))
    _check_across(indicators, origin)
    return indicators


def _indicator(entry: object, where: str) -> Indicator:
    if not isinstance(entry, dict):
        raise IndicatorError(f"{where}: must be an object")
    if not _KEYS <= set(entry) <= _KEYS | _OPTIONAL_KEYS:
        raise IndicatorError(f"{where}: keys must be {', '.join(sorted(_KEYS))} (and optionally network)")
    ident = entry["id"]
    if not isinstance(ident, str) or not _ID.fullmatch(ident):
        raise IndicatorError(f"{where}: id must match {_ID.pattern} (it becomes a claim name)")
    patterns = entry["patterns"]
    if not isinstance(patterns, list) or not (patterns or "network" in entry):
        raise IndicatorError(f"{where} ({ident}): patterns must be a non-empty list (or empty with network)")
    for pattern in patterns:
        if not isinstance(pattern, str) or not _PATTERN.fullmatch(pattern):
            raise IndicatorError(f"{where} ({ident}): each pattern must be printable ASCII text")
        if not MIN_PATTERN_CHARS <= len(pattern) <= MAX_PATTERN_CHARS:
            raise IndicatorError(
                f"{where} ({ident}): pattern {pattern!r} must be {MIN_PATTERN_CHARS}..{MAX_PATTERN_CHARS} characters"
            )
    for key in ("description", "reference"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise IndicatorError(f"{where} ({ident}): {key} must be non-empty text")
    network = _network(entry["network"], f"{where} ({ident})") if "network" in entry else None
    return Indicator(ident, tuple(patterns), entry["description"], entry["reference"], network)


def _network(value: object, where: str) -> NetworkIndicator:
    """Host names are compared with what rigs look up, ports listened on, check-ins searched for
    in a connection's first bytes: each is checked so a bad entry cannot match everything."""
    if not isinstance(value, dict) or not value or not set(value) <= _NETWORK_KEYS:
        raise IndicatorError(f"{where}: network must be an object with hosts, ports and/or checkins")
    hosts = value.get("hosts", [])
    ports = value.get("ports", [])
    checkins = value.get("checkins", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and _HOST.fullmatch(h) for h in hosts):
        raise IndicatorError(f"{where}: network.hosts must be lower-case DNS names (a.example.com)")
    if not isinstance(ports, list) or not all(isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536
                                              for p in ports):
        raise IndicatorError(f"{where}: network.ports must be TCP port numbers")
    if not isinstance(checkins, list) or not all(
            isinstance(c, str) and _PATTERN.fullmatch(c) and MIN_PATTERN_CHARS <= len(c) <= MAX_PATTERN_CHARS
            for c in checkins):
        raise IndicatorError(f"{where}: network.checkins must be printable ASCII text of "
                             f"{MIN_PATTERN_CHARS}..{MAX_PATTERN_CHARS} characters")
    if not hosts and not checkins:
        raise IndicatorError(f"{where}: network needs hosts or checkins (a port alone proves nothing)")
    return NetworkIndicator(tuple(hosts), tuple(ports), tuple(checkins))


def network_indicators(indicators: tuple[Indicator, ...] | None = None) -> tuple[Indicator, ...]:
    """The indicators that say how they show on the wire (the shipped list when None)."""
    return tuple(i for i in (default_indicators() if indicators is None else indicators) if i.network is not None)


def _check_across(indicators: tuple[Indicator, ...], origin: str) -> None:
    """Ids and patterns must be unique: a match has to name exactly one indicator."""
    ids: set[str] = set()
    patterns: set[str] = set()
    for indicator in indicators:
        if indicator.id in ids:
            raise IndicatorError(f"{origin}: id {indicator.id!r} appears twice")
        ids.add(indicator.id)
        for pattern in indicator.patterns:
            if pattern in patterns:
                raise IndicatorError(f"{origin}: pattern {pattern!r} appears twice")
            patterns.add(pattern)
    if len(patterns) > MAX_PATTERNS:
        raise IndicatorError(f"{origin}: more than {MAX_PATTERNS} patterns")
    if sum(len(p) for p in patterns) > MAX_PATTERN_BYTES_TOTAL:
        raise IndicatorError(f"{origin}: patterns total more than {MAX_PATTERN_BYTES_TOTAL} bytes")


class IndicatorScan:
    """Every pattern of the indicators looked for in a stream of bytes, chunk by chunk.

    For a miner binary streamed to the station (never held whole): each chunk is searched with the
    last ``longest pattern - 1`` bytes of the one before it, so no match falls between two chunks.
    """

    def __init__(self, indicators: tuple[Indicator, ...] | list[Indicator]) -> None:
        self._needles = [(p.encode("ascii"), p) for ind in indicators for p in ind.patterns]
        self._overlap = max((len(n) for n, _ in self._needles), default=1) - 1
        self._tail = b""
        self.found: dict[str, None] = {}  # patterns seen, first-seen order

    def feed(self, data: bytes | memoryview) -> None:
        window = self._tail + bytes(data)
        for needle, pattern in self._needles:
            if pattern not in self.found and needle in window:
                self.found[pattern] = None
        self._tail = window[-self._overlap:] if self._overlap else b""

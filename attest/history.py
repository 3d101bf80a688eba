"""Earlier checks of a unit, as appraisal needs them: who saw which serial, when, and with what.

A unit's identity is more than its manifest entry: the same serial seen last week with another
MAC, control board, hashboards or PSU is a unit whose parts changed since (or a clone), and the
same serial answering at two stations within the hour is two units. Appraisal learns this from
``Sighting`` values, which come from wherever records are kept: the station's own signed log
and, where a warehouse has one, the shared store. Both implement ``History``; appraisal never
knows which it was given, and this module knows neither (plain data and one protocol).

A sighting is read from a record the station signed, so its fields are the claims that record
carried; it is never device text that bypassed the claim checks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from attest.evidence import normalise_mac

#: Sightings one lookup returns at most (newest first): enough to say "checked N times" and to
#: find a change, bounded however often a unit is re-checked.
MAX_SIGHTINGS = 200


@dataclass(frozen=True)
class Sighting:
    """One earlier verdict about a unit, as its signed record holds it."""

    station: str  # the station id that signed the record
    time: str  # ISO-8601 UTC, as the record holds it
    record: str  # how a person finds the record again: "bench-2 #1234"
    batch: str  # the record's batch: a run never counts its own records as history
    address: str
    serial: str
    mac: str | None = None
    control_board: str | None = None
    hashboards: tuple[str, ...] = ()
    psu: str | None = None
    ssh_host_key: str | None = None
    verdict: str = ""

    @property
    def moment(self) -> datetime | None:
        try:
            parsed = datetime.fromisoformat(self.time.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    @property
    def day(self) -> str:
        return self.time[:10]

    def identity_parts(self) -> dict[str, Any]:
        """The parts compared between two checks of one serial; None means not read then."""
        return {
            "MAC": normalise_mac(self.mac),
            "control board": self.control_board,
            "hashboards": self.hashboards or None,
            "PSU": self.psu,
        }


def sighting_from_record(record: Mapping[str, Any], *, reference: str) -> Sighting | None:
    """A Sighting from a log record (the CLI's verify line plus station fields); None when the
    record names no serial or is not shaped like one of ours."""
    serial = record.get("serial")
    claims = record.get("claims")
    if not isinstance(serial, str) or not serial or not isinstance(claims, Mapping):
        return None

    def value(name: str) -> str | None:
        claim = claims.get(name)
        got = claim.get("value") if isinstance(claim, Mapping) else None
        return None if got is None or isinstance(got, bool) else str(got)

    slots = sorted(
        (int(name.split(".")[1]), got)
        for name in claims
        if isinstance(name, str) and name.startswith("hashboard.") and name.endswith(".serial")
        and name.split(".")[1].isascii() and name.split(".")[1].isdecimal() and len(name.split(".")) == 3
        and (got := value(name)) is not None
    )
    return Sighting(
        station=str(record.get("station", "")),
        time=str(record.get("time", "")),
        record=reference,
        batch=str(record.get("batch", "")),
        address=str(record.get("address", "")),
        serial=serial,
        mac=value("net.mac"),
        control_board=value("control_board.serial"),
        hashboards=tuple(s for _, s in slots),
        psu=value("psu.serial"),
        ssh_host_key=value("ssh.host_key"),
        verdict=str(record.get("verdict", "")),
    )


class History(Protocol):
    """Somewhere earlier checks are kept (the station's log, the warehouse store)."""

    #: Said in reasons and the detail pane: "station log", "warehouse store".
    name: str

    async def sightings(self, serial: str) -> Sequence[Sighting]:
        """Earlier records of ``serial``, newest first, at most MAX_SIGHTINGS. Raises
        ``HistoryUnavailable`` when the records cannot be read (the check goes on without them,
        and says so)."""
        ...


class HistoryUnavailable(Exception):
    """The history could not be consulted: a could-not-check, never a finding."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PriorChecks:
    """What appraisal is told of a unit's past: the sightings found, and which histories could
    not be read (said in the verdict as a could-not-check, never taken as "no history")."""

    sightings: tuple[Sighting, ...] = ()
    consulted: tuple[str, ...] = ()  # names of the histories read
    unavailable: tuple[str, ...] = ()  # "warehouse store: connection refused"

"""What a rig reached on the intake network, read back from its ``egress.*`` claims and judged.

The network watch (``attest.watch``) reports and never judges; appraisal, the GUI's Network tab
and ``attest watch --policy`` all judge through ``judge`` here, so the three never disagree. Each
lookup or connection is one of: a known backdoor (its host, or its check-in bytes, from the
network indicators in ``data/indicators.json``), allowed by the station policy's egress
allow-list, unlisted, or not judged (the policy has no ``[egress]`` table). A port alone proves
nothing: Antbleed's 7000 is listened on, but only its host or its check-in name it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from attest.evidence import Evidence
from attest.indicators import Indicator, network_indicators
from attest.policy import Policy

INDICATOR = "indicator"
UNLISTED = "unlisted"
ALLOWED = "allowed"
NOT_JUDGED = "not judged"
_REVERSE = re.compile(r".*\.(in-addr|ip6)\.arpa")


@dataclass(frozen=True)
class EgressItem:
    """One distinct lookup or kind of connection a rig made during the watch."""

    kind: str  # "lookup" | "connection"
    index: int
    name: str | None = None  # the name looked up, or the TLS server name of a connection
    qtype: str | None = None
    port: int | None = None
    outcome: str | None = None  # a connection's: tls, plain, silent, ...
    count: int = 1
    size: int | None = None
    checkins: tuple[str, ...] = ()
    preview: str | None = None

    def describe(self) -> str:
        """Plain words for a technician ("looked up x (A)", "TLS to port 443 naming x")."""
        times = f", {self.count} times" if self.count > 1 else ""
        if self.kind == "lookup":
            return f"looked up {self.name} ({self.qtype}{times})"
        what = {"tls": "TLS", "plain": "a plain connection", "silent": "a connection that sent nothing",
                "closed": "a connection closed without a byte"}.get(self.outcome or "", f"{self.outcome} connection")
        if self.checkins:
            return f"sent {', '.join(self.checkins)}'s check-in to port {self.port}{times}"
        naming = f" naming {self.name}" if self.name else ""
        sent = f", {self.size} bytes" if self.size else ""
        return f"{what} to port {self.port}{naming}{sent}{times}"


@dataclass(frozen=True)
class Judgement:
    item: EgressItem
    status: str  # INDICATOR | UNLISTED | ALLOWED | NOT_JUDGED
    why: str
    indicator: str | None = None  # the indicator id, for INDICATOR


def egress_items(ev: Evidence) -> list[EgressItem]:
    """The rig's lookups and connections from its ``egress.dns.N.*`` and ``egress.connect.N.*`` claims."""
    items: list[EgressItem] = []
    for name in ev.names(r"egress\.dns\.\d+\.name"):
        n = int(name.split(".")[2])
        items.append(EgressItem("lookup", n, name=_text(ev.value(name)), qtype=_text(ev.value(f"egress.dns.{n}.type")),
                                count=_int(ev.value(f"egress.dns.{n}.count"), 1)))
    for name in ev.names(r"egress\.connect\.\d+\.port"):
        n = int(name.split(".")[2])
        checkin = _text(ev.value(f"egress.connect.{n}.checkin"))
        items.append(EgressItem(
            "connection", n, name=_text(ev.value(f"egress.connect.{n}.sni")), port=_int(ev.value(name), 0),
            outcome=_text(ev.value(f"egress.connect.{n}.outcome")),
            count=_int(ev.value(f"egress.connect.{n}.count"), 1),
            size=_int(ev.value(f"egress.connect.{n}.bytes"), 0),
            checkins=tuple(c.strip() for c in checkin.split(",")) if checkin else (),
            preview=_text(ev.value(f"egress.connect.{n}.preview"))))
    return items


def judge(item: EgressItem, policy: Policy, indicators: Sequence[Indicator] | None = None) -> Judgement:
    known = network_indicators(None if indicators is None else tuple(indicators))
    for ind in known:
        net = ind.network
        if net is None:
            continue
        if item.checkins and ind.id in item.checkins:
            return Judgement(item, INDICATOR, f"{ind.id}: its check-in, sent to port {item.port}", ind.id)
        if item.name and net.names_host(item.name):
            return Judgement(item, INDICATOR, f"{ind.id}: a host it checks in with", ind.id)
    if item.kind == "lookup" and item.name and _REVERSE.fullmatch(item.name):
        return Judgement(item, ALLOWED, "a reverse lookup: it names no place to connect to")
    if item.kind == "lookup" or item.name:
        verdict = policy.egress_host_allowed(item.name or "", None if item.kind == "lookup" else item.port)
    else:
        verdict = policy.egress_port_allowed(item.port or 0)
    if verdict is None:
        return Judgement(item, NOT_JUDGED, "the station policy has no [egress] allow-list")
    if verdict:
        return Judgement(item, ALLOWED, "on the egress allow-list")
    if item.name and policy.is_vendor_update_host(item.name):
        return Judgement(item, UNLISTED, "the vendor's update host, which this station's policy does not allow")
    if item.name:
        return Judgement(item, UNLISTED, "not on the egress allow-list")
    return Judgement(item, UNLISTED, f"port {item.port} is on no rule of the egress allow-list (no TLS name to judge)")


def judge_evidence(ev: Evidence, policy: Policy, indicators: Sequence[Indicator] | None = None) -> list[Judgement]:
    return [judge(item, policy, indicators) for item in egress_items(ev)]


def destination(item: EgressItem) -> str:
    """What an unlisted finding names: the host (looked up or as TLS name), else the port."""
    return item.name if item.name else f"port {item.port}"


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default

"""`attest watch` and `attest verify --watch`: the network watch from the command line.

``attest watch --listen ADDR[:PORT] --duration 10m [--json] [--policy FILE]`` streams each new
lookup and kind of connection as it is seen, judged against the policy's egress allow-list and the
network indicators, then a summary per source. ``open_verify_watch`` starts the watch a verify
folds into its evidence. Everything a rig sent is shown as escaped plain text.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from attest.discovery import address_order
from attest.egress import EgressItem, judge
from attest.evidence import printable
from attest.fleet import EvidenceSource
from attest.policy import Policy, PolicyError, load_policy
from attest.watch import DEFAULT_WINDOW_SECONDS as DEFAULT_WATCH_SECONDS
from attest.watch import Connection, Lookup, Notice, SourceRecord, Watch, WatchError, parse_listen
from attest.watch.claims import WatchSource

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smh]?)")


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``1h``: seconds (argparse type)."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 10m, 1h)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def add_verify_options(v: argparse.ArgumentParser) -> None:
    v.add_argument("--watch", metavar="ADDR[:PORT]",
                   help="watch the rigs' DNS and connections on this station address (the rigs' DNS server) "
                        "during the check, and judge what they reach")
    v.add_argument("--watch-seconds", type=parse_duration, metavar="N",
                   help=f"how long the watch lasts from the start of the check (default {DEFAULT_WATCH_SECONDS:g})")


class VerifyWatch:
    """A watch running for one verify: its evidence source, and what it saw of no rig asked about."""

    def __init__(self, watch: Watch, source: WatchSource) -> None:
        self.watch = watch
        self.source = source

    @property
    def sources(self) -> Sequence[EvidenceSource]:
        return (self.source,)

    async def close(self) -> None:
        await self.watch.close()
        strays = sorted(self.source.unclaimed(), key=lambda r: address_order(r.address))
        if strays:
            names = ", ".join(r.address for r in strays[:10]) + (" …" if len(strays) > 10 else "")
            print(f"attest: the watch also saw {len(strays)} address(es) that are no rig of this check: {names} "
                  "(`attest watch` shows what they did)", file=sys.stderr)


def check_verify_watch_options(args: argparse.Namespace) -> None:
    """Refuse --watch options that cannot work before anything is loaded or any rig is read."""
    listen = getattr(args, "watch", None)
    seconds = getattr(args, "watch_seconds", None)
    if listen is None:
        if seconds is not None:
            raise WatchError("--watch-seconds needs --watch ADDR[:PORT]")
        return
    parse_listen(listen)
    seconds = seconds or DEFAULT_WATCH_SECONDS
    deadline = getattr(args, "deadline", None)
    if deadline is not None and seconds >= deadline:
        raise WatchError(f"--watch-seconds ({seconds:g}) must be shorter than --deadline ({deadline:g}): "
                         "every rig waits for the watch window to close before it is judged")


async def open_verify_watch(args: argparse.Namespace, policy: Policy) -> VerifyWatch | None:
    """The watch `attest verify --watch` asked for, started; None without --watch."""
    check_verify_watch_options(args)
    listen = getattr(args, "watch", None)
    if listen is None:
        return None
    seconds = getattr(args, "watch_seconds", None) or DEFAULT_WATCH_SECONDS
    address, port = parse_listen(listen)
    watch = await Watch(address, port, tcp_ports=policy.watch_ports).start()
    if watch.not_listening:
        print("attest: the watch is not listening on " + "; ".join(
            f"port {p}: {why}" for p, why in sorted(watch.not_listening.items())), file=sys.stderr)
    return VerifyWatch(watch, watch.evidence_source(seconds))


# --- attest watch -------------------------------------------------------------------------------

def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    w = sub.add_parser("watch", help="answer the rigs' DNS and watch what they connect to (the egress watch)",
                       description="Answer every DNS query on the intake network with this station's address and "
                       "accept the connections that follow, printing each lookup and connection as it happens "
                       "(names, ports, TLS server names, first bytes). Nothing is forwarded. See docs/watch.md for "
                       "giving rigs the station as their DNS. Exit 0 when the watch ran its duration, 2 when it "
                       "could not listen.")
    w.add_argument("--listen", required=True, metavar="ADDR[:PORT]",
                   help="this station's address on the intake network, and the DNS port (default 53)")
    w.add_argument("--duration", type=parse_duration, default=600.0, metavar="D",
                   help="how long to watch: 90s, 10m, 1h (default 10m)")
    w.add_argument("--policy", help="station policy (policy.toml): its [egress] allow-list judges what is seen "
                   "and its watch_ports are listened on")
    w.add_argument("--json", action="store_true", help="one JSON object per observation per line")
    w.set_defaults(func=cmd_watch)


def cmd_watch(args: argparse.Namespace) -> int:
    try:
        policy = load_policy(args.policy)
        address, port = parse_listen(args.listen)
    except PolicyError as e:
        print(f"attest: {e.message}", file=sys.stderr)
        return 2
    except WatchError as e:
        print(f"attest: {e.message}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_watch(address, port, policy, args.duration, as_json=args.json))
    except WatchError as e:
        print(f"attest: {e.message}", file=sys.stderr)
        return 2


async def _watch(address: str, port: int, policy: Policy, duration: float, *, as_json: bool) -> int:
    watch = await Watch(address, port, tcp_ports=policy.watch_ports).start()
    until = time.time() + duration
    queue = watch.subscribe()
    out = _JsonOut() if as_json else _TextOut()
    out.started(watch, until)
    try:
        async with asyncio.timeout(duration):
            while True:
                out.item(await queue.get(), policy)
    except TimeoutError:
        pass
    finally:
        await watch.close()
        out.finished(watch.observations.sources.values(), watch.observations.sources_refused)
    return 0


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _item(obs: Lookup | Connection) -> EgressItem:
    if isinstance(obs, Lookup):
        return EgressItem("lookup", 0, name=obs.name, qtype=obs.qtype)
    return EgressItem("connection", 0, name=obs.sni, port=obs.port, outcome=obs.outcome, size=obs.size,
                      checkins=obs.checkins)


class _TextOut:
    def started(self, watch: Watch, until: float) -> None:
        print(f"attest: watching {watch.describe()} until {_iso(until)} (Ctrl-C ends it)", file=sys.stderr)
        for p, why in sorted(watch.not_listening.items()):
            print(f"attest: not listening on port {p}: {why}", file=sys.stderr)
        print(f"{'TIME':<9} {'SOURCE':<16} {'MAC':<17}  WHAT")
        sys.stdout.flush()

    def item(self, obs: Lookup | Connection | Notice, policy: Policy) -> None:
        when = datetime.fromtimestamp(obs.time).strftime("%H:%M:%S")
        if isinstance(obs, Notice):
            print(f"{when:<9} {printable(obs.source):<16} {'':<17}  note: {obs.message}")
        else:
            j = judge(_item(obs), policy)
            what = _item(obs).describe()
            if isinstance(obs, Connection) and obs.first_bytes and not obs.outcome.startswith("tls"):
                what += ": " + printable(obs.first_bytes[:80]).replace("\n", "\\n")
            print(f"{when:<9} {printable(obs.source):<16} {obs.mac or '-':<17}  {what}  [{j.status}: {j.why}]")
        sys.stdout.flush()

    def finished(self, records: Any, refused: int) -> None:
        for r in records:
            print(f"summary {r.address}: {_summary_text(r)}")
        if refused:
            print(f"summary: {refused} packet(s) or connection(s) from sources past the watch's limit")


class _JsonOut:
    def started(self, watch: Watch, until: float) -> None:
        _emit({"kind": "watch", "listen": watch.describe(), "dns_port": watch.dns_port,
               "tcp_ports": [p for p in watch.tcp_ports if p not in watch.not_listening],
               "not_listening": {str(p): why for p, why in watch.not_listening.items()}, "until": _iso(until)})

    def item(self, obs: Lookup | Connection | Notice, policy: Policy) -> None:
        if isinstance(obs, Notice):
            _emit({"kind": "notice", "time": _iso(obs.time), "source": obs.source, "message": obs.message})
            return
        j = judge(_item(obs), policy)
        line: dict[str, Any] = {"time": _iso(obs.time), "source": obs.source, "mac": obs.mac}
        if isinstance(obs, Lookup):
            line.update(kind="lookup", name=obs.name, type=obs.qtype)
        else:
            line.update(kind="connection", port=obs.port, outcome=obs.outcome, sni=obs.sni, bytes=obs.size,
                        checkins=list(obs.checkins), preview=printable(obs.first_bytes[:256]),
                        first_bytes_base64=base64.b64encode(obs.first_bytes).decode("ascii"))
        line.update(judgement=j.status, why=j.why)
        if j.indicator:
            line["indicator"] = j.indicator
        _emit(line)

    def finished(self, records: Any, refused: int) -> None:
        for r in records:
            _emit({"kind": "summary", "source": r.address, "macs": r.macs,
                   "lookups": sum(t.count for _, t in r.lookups.values()),
                   "connections": sum(t.count for _, t in r.connections.values()),
                   "queries_over_rate": r.queries_over_rate, "malformed": r.malformed,
                   "not_kept": r.lookups_over_cap + r.connections_over_cap + r.connections_refused})
        if refused:
            _emit({"kind": "summary", "source": None, "refused_past_source_limit": refused})


def _summary_text(r: SourceRecord) -> str:
    parts = [f"{sum(t.count for _, t in r.lookups.values())} lookups ({len(r.lookups)} different)",
             f"{sum(t.count for _, t in r.connections.values())} connections ({len(r.connections)} kinds)"]
    if r.macs:
        parts.append("MAC " + ", ".join(r.macs))
    for n, what in ((r.queries_over_rate, "queries past the rate limit"), (r.malformed, "malformed packets"),
                    (r.lookups_over_cap + r.connections_over_cap + r.connections_refused, "past the caps")):
        if n:
            parts.append(f"{n} {what}")
    return "; ".join(parts)


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()

"""`attest store ...`, `attest station enroll` and `attest log export --store`: the CLI of the store.

``register(subparsers, groups)`` adds them (``groups`` are the ``station`` and ``log`` action
subparsers from ``attest.log.commands.register``); ``store_for_verify`` and ``push_after_run``
are what ``attest verify --store`` calls. Failures are one line on stderr and an exit code
(2 could not run, 4 refused or tampered), never a traceback. Nothing here imports psycopg
until a store command runs, so the CLI starts as fast without a warehouse.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from attest.log.errors import LogError
from attest.store.errors import StoreError

STORE_HELP = "warehouse store URL, postgresql://HOST[:PORT]/DB[?sslmode=verify-full] (default: ATTEST_STORE, " \
             "else the store this station enrolled in)"


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (StoreError, LogError) as e:
            print(f"attest: {e.code}: {e.message}", file=sys.stderr)
            return e.exit_code
    run.__name__ = command.__name__
    return run


def register(subparsers: Any, groups: dict[str, Any]) -> None:
    st = subparsers.add_parser("store", help="the warehouse store: several stations' logs on one PostgreSQL",
                               description="A warehouse's PostgreSQL server, shared by its stations: each station "
                               "pushes its signed records there, and every check consults it for the unit's history "
                               "at other stations. See docs/warehouse.md for running one.")
    ssub = st.add_subparsers(metavar="ACTION")
    init = ssub.add_parser("init", help="create or upgrade the warehouse schema (as the database superuser); "
                           "prints its version",
                           description="Create the warehouse schema in an empty database, or upgrade an older one; "
                           "running it again changes nothing. Prints the schema version. Exit 0 done, 2 could not.")
    init.add_argument("url", help="postgresql://SUPERUSER@HOST[:PORT]/DB")
    init.set_defaults(func=_guarded(cmd_store_init))
    sync = ssub.add_parser("sync", help="push every record the store does not hold yet",
                           description="Push every record of this station's log that the store does not hold yet "
                           "(after an outage, say). Safe to repeat: the store keys records by their hash. "
                           "Exit 0 pushed, 2 could not reach or was refused (the records stay queued).")
    sync.add_argument("--store", help=STORE_HELP)
    sync.add_argument("--log", help="log database (default: log.sqlite in the station's data directory)")
    sync.set_defaults(func=_guarded(cmd_store_sync))
    rep = ssub.add_parser("report", help="per station records and verdicts; units seen at several stations; "
                          "identity changes across stations",
                          description="What the warehouse took in: per station its records and verdicts, the units "
                          "seen at more than one station, and the units whose identity changed between stations.")
    rep.add_argument("--store", help=STORE_HELP)
    rep.add_argument("--since", help="only records from this date/time (UTC unless given)")
    rep.add_argument("--json", action="store_true", help="one JSON object")
    rep.set_defaults(func=_guarded(cmd_store_report))
    ver = ssub.add_parser("verify", help="check every station's records against its signed checkpoints: "
                          "exit 0 holds, 4 tampered",
                          description="Check every record in the store against its station's signed checkpoints "
                          "and enrolled key, as an auditor would. Exit 0 when everything holds; 4 naming the "
                          "station, the record and what was tampered with; 2 when the store cannot be read.")
    ver.add_argument("--store", help=STORE_HELP)
    ver.add_argument("--station-key", action="append", default=[], metavar="PEM|FINGERPRINT",
                     help="a station's public key as the station shows it (repeatable): every enrolled key must "
                     "be one of these, so a key replaced in the database is caught")
    ver.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ver.set_defaults(func=_guarded(cmd_store_verify))

    enroll = groups["station"].add_parser("enroll", help="register this station's id and public key in a "
                                          "warehouse store, and give it its own login role",
                                          description="Register this station's id and public key in a warehouse "
                                          "store, as a warehouse administrator, and give the station its own "
                                          "login role: from then on the store accepts its records and no one "
                                          "else's under its name.")
    enroll.add_argument("--store", required=True, help="postgresql://ADMIN@HOST[:PORT]/DB: a warehouse "
                        "administrator's (or the superuser's) login")
    enroll.add_argument("--role", help="an existing login role for this station (default: station_<id>, made "
                        "with a random password saved beside the station key)")
    enroll.set_defaults(func=_guarded(cmd_station_enroll))

    export = groups["log"].choices["export"]
    export.add_argument("--store", help="export from the warehouse store instead of this station's log: one "
                        "bundle spanning stations, each part signed by its own station (needs no key)")
    local = export.get_default("func")
    export.set_defaults(func=_guarded(lambda args: cmd_store_export(args) if args.store else local(args)))


# --- attest verify --store --------------------------------------------------------------------

def store_for_verify(url: str | None) -> Any:
    """The store ``attest verify`` consults and pushes to (``--store``, else ATTEST_STORE), or None."""
    from attest.store.connection import configured_target

    return configured_target(url)


def history_for(target: Any) -> Any:
    from attest.store.history import StoreHistory

    return StoreHistory(target)


def push_after_run(log: str | Path | None, target: Any) -> int:
    """After the run's local appends: push whatever the store lacks, and say so on stderr. A
    store that cannot be reached costs nothing but a line: the records wait in the log. Returns
    2 when a push was refused (the run's exit code is the verdicts' otherwise)."""
    from attest.log.sqlite import default_log_path
    from attest.store.push import push_pending
    from attest.store.queue import queue_state

    path = Path(log) if log is not None else default_log_path()
    try:
        result = push_pending(path, target)
    except StoreError as e:
        waiting = _waiting(path, target)
        print(f"attest: {waiting} records not pushed to {target.display} ({e.code}: {e.message}); "
              "they wait in the station's log for the next check or `attest store sync`", file=sys.stderr)
        return 0 if e.code in ("STORE_UNREACHABLE",) else 2
    state = queue_state(path, target.display)
    print(f"attest: pushed {result.sent} records to {target.display}; {state.summary()}", file=sys.stderr)
    return 0


def _waiting(path: Path, target: Any) -> int:
    from attest.store.queue import queue_state

    try:
        return queue_state(path, target.display).waiting
    except LogError:
        return 0


# --- the commands -----------------------------------------------------------------------------

def cmd_store_init(args: argparse.Namespace) -> int:
    from attest.store.connection import parse_target
    from attest.store.schema import init_store

    target = parse_target(args.url)
    result = init_store(target)
    state = "created" if result.created else "already current"
    print(f"store schema version {result.version} ({state}) at {target.display}")
    if result.server:
        print(f"  ingest check runs on the server's {result.server}")
    print(f"  store id {result.store_id}")
    return 0


def cmd_station_enroll(args: argparse.Namespace) -> int:
    from attest.station import load_identity
    from attest.store.connection import parse_target
    from attest.store.enroll import enroll_station

    identity = load_identity()
    target = parse_target(args.store)
    done = enroll_station(target, identity, role=args.role)
    what = "was already enrolled" if done.already else "enrolled"
    print(f"station {done.station} {what} in {target.display} as role {done.role}")
    print(f"  key fingerprint {done.fingerprint}")
    print(f"  this station's login is saved in {done.saved_to}; push with `attest store sync`")
    return 0


def cmd_store_sync(args: argparse.Namespace) -> int:
    from attest.log.sqlite import default_log_path
    from attest.store.connection import resolve_target
    from attest.store.push import push_pending
    from attest.store.queue import queue_state

    target = resolve_target(args.store)
    path = Path(args.log) if args.log else default_log_path()
    try:
        result = push_pending(path, target)
    except StoreError:
        print(f"attest: {queue_state(path, target.display).summary()}; they stay in {path}", file=sys.stderr)
        raise
    print(f"pushed {result.sent} records to {target.display}: it holds {result.stored} of station "
          f"{result.station or '-'}'s {result.local}; {queue_state(path, target.display).summary()}")
    return 0


def cmd_store_report(args: argparse.Namespace) -> int:
    from attest.log.commands import parse_time
    from attest.store.connection import resolve_target
    from attest.store.report import store_report

    target = resolve_target(args.store)
    report = store_report(target, parse_time(args.since, "--since"))
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return 0
    sys.stdout.write("\n".join(report_lines(report)) + "\n")
    return 0


def report_lines(report: Any) -> list[str]:
    from attest.evidence import printable

    order = ("TRUSTED", "WARNING", "UNTRUSTED", "UNKNOWN")
    since = f" since {report.since}" if report.since else ""
    lines = [f"Warehouse store {report.store}{since}", "",
             f"{'STATION':<24}  {'RECORDS':>8}  " + "  ".join(f"{v:>9}" for v in order) + "  LAST PUSH"]
    for s in report.stations:
        lines.append(f"{s.id:<24}  {s.records:>8}  " + "  ".join(f"{s.verdicts.get(v, 0):>9}" for v in order)
                     + f"  {(s.last_push or '-')[:16].replace('T', ' ')}")
    lines += ["", f"Units seen at more than one station: {len(report.multi_station)}"]
    for u in report.multi_station[:50]:
        lines.append(f"  {printable(u['serial']):<22}  {', '.join(u['stations'])}  ({u['records']} records, "
                     f"{u['first'][:16]} .. {u['last'][:16]})")
    lines += ["", f"Identity changes across stations: {len(report.identity_changes)}"]
    for c in report.identity_changes[:50]:
        lines.append(f"  {printable(c.serial)}: {c.earlier.station} {c.earlier.time[:16]} -> {c.later.station} "
                     f"{c.later.time[:16]}: " + "; ".join(printable(p) for p in c.parts))
    if report.refused:
        lines += ["", f"Refused pushes: {sum(r['pushes'] for r in report.refused)}"]
        for r in report.refused[:50]:
            lines.append(f"  role {r['role']} (station {r['station'] or '-'}): {r['code']} x{r['pushes']}, last "
                         f"{(r['last'] or '')[:16]}: {printable(r['message'] or '')}")
    return lines


def cmd_store_verify(args: argparse.Namespace) -> int:
    from attest.log.commands import pinned_fingerprint
    from attest.store.audit import audit_store
    from attest.store.connection import resolve_target

    target = resolve_target(args.store)
    pins = {p for key in args.station_key if (p := pinned_fingerprint(key)) is not None}
    report = audit_store(target, pins=pins)
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        for s in report.stations:
            state = "OK" if not s.findings else "TAMPERED"
            print(f"{state}: station {s.station}: {s.records} records, {s.checkpoints} signed checkpoints checked, "
                  f"key {s.fingerprint}")
        for f in report.findings:
            where = f" record {f.record}" if f.record is not None else ""
            print(f"  {f.code}: station {f.station}{where}: {f.message}", file=sys.stderr)
        if not report.stations:
            print(f"{target.display}: no station is enrolled yet")
    return 0 if report.ok else 4


def cmd_store_export(args: argparse.Namespace) -> int:
    from attest.log.commands import parse_time
    from attest.log.store import Selection
    from attest.store.connection import resolve_target
    from attest.store.export import export_store_bundle

    if not args.output:
        raise LogError("LOG_INPUT_INVALID", "give -o FILE for the bundle")
    if args.intoto:
        raise LogError("LOG_INPUT_INVALID", "--intoto is for a station's own log (it signs the statements); "
                       "leave it out with --store")
    selection = Selection(args.batch, parse_time(args.since, "--since"),
                          parse_time(args.until, "--until", end_of_day=True), tuple(args.serial))
    done = export_store_bundle(resolve_target(args.store), args.output, selection=selection)
    shown = sum(p.shown for p in done.parts)
    print(f"exported {args.output}: {len(done.parts)} stations ("
          + ", ".join(f"{p.station} {p.shown}/{p.tree_size}" for p in done.parts)
          + f"), {shown} records shown in full; check it with `attest log verify {args.output}` and each "
          "station's key")
    return 0


def verify_options(parser: argparse.ArgumentParser) -> None:
    """``attest verify --store``."""
    parser.add_argument("--store", help="also consult and push to this warehouse store (default: ATTEST_STORE); "
                        "verdicts are then always recorded in the station's log first")


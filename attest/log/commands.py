"""`attest station ...` and `attest log ...`: the command-line face of the signed log.

``register(subparsers)`` adds both command groups to the CLI's parser; ``log_appraisals`` is
what ``attest verify --log DB`` calls after a batch. Every command returns its exit code and
turns ``LogError`` into one line on stderr (2 for could-not-run, 4 for a refused document),
never a traceback. Exit codes follow the CLI contract: 0 holds, 2 unusable input, 4 refused.

The station passphrase comes from ``ATTEST_PASSPHRASE`` (unattended intake lines) or a
terminal prompt; ``--no-input`` makes a missing one an error instead of a prompt.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from attest.appraise import Appraisal
from attest.log.append import log_batch, sign_current_checkpoint
from attest.log.canonical import iso_time
from attest.log.checkpoint import Checkpoint, read_checkpoint_file
from attest.log.errors import LogError
from attest.log.export import export_bundle, save_latest_checkpoint
from attest.log.intoto import export_statements
from attest.log.receipt import ReceiptReport, make_receipt, receipt_for_serial, verify_receipt, write_receipt
from attest.log.store import Selection, open_store
from attest.log.verify import BundleReport, verify_bundle
from attest.station import (
    StationSigner,
    fingerprint,
    init_station,
    load_identity,
    load_signer,
    public_key_from_pem,
    station_directory,
)
from attest.verdict import REASONS

PASSPHRASE_ENV = "ATTEST_PASSPHRASE"
OPERATOR_ENV = "ATTEST_OPERATOR"
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


# --- what attest verify --log calls -----------------------------------------------------------

def log_appraisals(log: str | None, appraisals: Sequence[Appraisal], *, signer: StationSigner | None = None,
                   no_input: bool = False, operator: str | None = None,
                   batch_id: str | None = None) -> Checkpoint:
    """Record one verify run as one batch; raises ``LogError`` (exit 2) with nothing half-written.

    Pass ``signer`` from ``unlock_station`` called before the scan, so a technician is asked for
    the passphrase (and told it is wrong) before a long scan rather than after it. Without one,
    the key is unlocked here, before the log is opened, so a wrong passphrase leaves no empty log.
    ``log`` None means the default log in the station's data directory."""
    signer = signer or unlock_station(no_input=no_input)
    store = open_store(log)
    try:
        return log_batch(store, signer, appraisals, operator=operator or default_operator(), batch_id=batch_id)
    finally:
        store.close()


def unlock_station(*, no_input: bool) -> StationSigner:
    """The station key, unlocked with ATTEST_PASSPHRASE or a prompt; ``LogError`` otherwise."""
    load_identity()  # "no station yet" is a clearer error than a passphrase prompt for nothing
    return load_signer(read_passphrase(no_input=no_input))


def read_passphrase(*, no_input: bool, confirm: bool = False) -> bytes:
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        if not env:
            raise LogError("STATION_PASSPHRASE_NEEDED", f"{PASSPHRASE_ENV} is set but empty")
        return env.encode("utf-8")
    if no_input:
        raise LogError("STATION_PASSPHRASE_NEEDED", f"--no-input was given and {PASSPHRASE_ENV} is not set")
    if not sys.stdin.isatty():
        raise LogError("STATION_PASSPHRASE_NEEDED", f"no terminal to ask for the passphrase; set {PASSPHRASE_ENV}")
    first = getpass.getpass("Station key passphrase: ")
    if confirm and getpass.getpass("Repeat the passphrase: ") != first:
        raise LogError("STATION_PASSPHRASE_NEEDED", "the two passphrases differ")
    return first.encode("utf-8")


def default_operator() -> str:
    name = os.environ.get(OPERATOR_ENV)
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "unknown"


# --- registration -----------------------------------------------------------------------------

def register(subparsers: Any) -> dict[str, Any]:
    """Add ``station`` and ``log`` to the CLI (``subparsers`` from ``add_subparsers()``); returns
    their action subparsers, for other subsystems to add actions to (the warehouse store)."""
    st = subparsers.add_parser("station", help="this station's signing identity",
                               description="The station's Ed25519 key signs its verification log. Make it once "
                                           "with `attest station init`; `attest station show` prints what an "
                                           "auditor needs to check the log.")
    ssub = st.add_subparsers(metavar="ACTION")
    st.set_defaults(func=_help_of(st))
    si = ssub.add_parser("init", help="make the station's Ed25519 signing key (encrypted at rest)",
                         description="Make this station's Ed25519 signing key, once. It is kept encrypted "
                                     f"with a passphrase (asked twice, or taken from {PASSPHRASE_ENV}) in the "
                                     "station's data directory (ATTEST_HOME to move it).")
    si.add_argument("--id", dest="station_id", help="station name (default: generated from the key)")
    si.add_argument("--no-input", action="store_true", help=f"never prompt; take {PASSPHRASE_ENV}")
    si.set_defaults(func=_guarded(cmd_station_init))
    sh = ssub.add_parser("show", help="print the station id, key fingerprint and public key",
                         description="Print the station id, its key's SHA-256 fingerprint and its public key: "
                                     "publish these so auditors can check the station's logs and receipts.")
    sh.add_argument("--json", action="store_true", help="print id, fingerprint and public key as JSON")
    sh.add_argument("--pem", action="store_true", help="print only the public key PEM")
    sh.set_defaults(func=_guarded(cmd_station_show))

    lg = subparsers.add_parser("log", help="export and verify the signed verification log",
                               description="Every verdict of `attest verify --log DB` (and of the desktop app) is "
                                           "a record in a signed, append-only log. Export it for an auditor, "
                                           "save one rig's receipt, or check either offline.")
    lsub = lg.add_subparsers(metavar="ACTION")
    lg.set_defaults(func=_help_of(lg))
    ex = lsub.add_parser("export", help="write a signed .attestlog.jsonl bundle (and in-toto statements)",
                         description="Write the log as a signed bundle an auditor checks offline with `attest "
                                     "log verify`. Records outside --batch/--since/--until/--serial are kept as "
                                     "hashes only, so the bundle still proves the whole log. Exit 0 written, 2 not.")
    _log_option(ex)
    ex.add_argument("-o", "--output", help="bundle file (.attestlog.jsonl)")
    ex.add_argument("--intoto", help="also write per-rig in-toto statements (DSSE, JSON Lines)")
    ex.add_argument("--batch", metavar="ID",
                    help="show this batch's records in full (the rest as hashes only, so the bundle still verifies)")
    ex.add_argument("--since", metavar="DATE", help="show records from this date/time in full (UTC unless given)")
    ex.add_argument("--until", metavar="DATE",
                    help="show records before this time, or up to the end of this date, in full")
    ex.add_argument("--serial", action="append", default=[],
                    help="show this unit's records in full (repeatable)")
    ex.add_argument("--no-input", action="store_true", help=f"never prompt; take {PASSPHRASE_ENV}")
    ex.set_defaults(func=_guarded(cmd_log_export))
    ve = lsub.add_parser("verify", help="check a bundle offline: exit 0 holds, 4 tampered, 2 unreadable",
                         description="Check an exported bundle offline: every record, the signed checkpoint, and "
                                     "(with --since) that it extends an earlier one. Exit 0 holds, 4 tampered "
                                     "(each finding named), 2 unreadable.")
    ve.add_argument("file", help="the exported bundle (.attestlog.jsonl)")
    ve.add_argument("--station-key", metavar="PEM|FINGERPRINT", action="append", default=[],
                    help="the station's public key PEM file (or its fingerprint), as `attest station show` prints; "
                    "repeat it for a bundle spanning stations (each station's part must match one)")
    ve.add_argument("--since", metavar="CHECKPOINT", help="an earlier checkpoint file the log must extend")
    ve.add_argument("--json", action="store_true", help="print the result as one JSON object")
    ve.set_defaults(func=_guarded(cmd_log_verify))
    rc = lsub.add_parser("receipt", help="write one unit's receipt: record, inclusion proof, checkpoint",
                         description="Write one unit's receipt (its record, an inclusion proof and the signed "
                                     "checkpoint): a buyer keeps it and checks it alone with `attest log "
                                     "verify-receipt`.")
    _log_option(rc)
    which = rc.add_mutually_exclusive_group(required=True)
    which.add_argument("--serial", help="the unit's serial (its latest record)")
    which.add_argument("--index", type=int, help="a record by its leaf index")
    rc.add_argument("-o", "--output", required=True, metavar="FILE", help="the receipt file to write")
    rc.set_defaults(func=_guarded(cmd_log_receipt))
    vr = lsub.add_parser("verify-receipt", help="check one receipt offline",
                         description="Check one unit's receipt offline. Exit 0 holds, 4 refused, 2 unreadable.")
    vr.add_argument("file", help="the receipt file")
    vr.add_argument("--station-key", metavar="PEM|FINGERPRINT",
                    help="the station's public key PEM file (or its fingerprint), as `attest station show` prints")
    vr.add_argument("--json", action="store_true", help="print the result as one JSON object")
    vr.set_defaults(func=_guarded(cmd_log_verify_receipt))
    cp = lsub.add_parser("checkpoint", help="save the latest signed checkpoint, for a later verify --since",
                         description="Save the log's latest signed checkpoint. Kept today, it lets `attest log "
                                     "verify --since FILE` prove tomorrow's log only grew from it.")
    _log_option(cp)
    cp.add_argument("-o", "--output", required=True, metavar="FILE", help="the checkpoint file to write")
    cp.set_defaults(func=_guarded(cmd_log_checkpoint))
    return {"station": ssub, "log": lsub}


#: Setup problems a technician fixes with one command or setting: the line names it.
_SAY_WHAT_TO_DO = frozenset({"STATION_NOT_INITIALISED", "STATION_ALREADY_INITIALISED", "STATION_PASSPHRASE_NEEDED",
                             "STATION_FILES_UNWRITABLE", "LOG_STORE_READ_ONLY", "LOG_STORE_FULL"})


def log_error_text(error: LogError) -> str:
    """``CODE: message``, and for a setup problem what to do about it, on one line."""
    text = f"{error.code}: {error.message}"
    if error.code in _SAY_WHAT_TO_DO:
        text += f". {REASONS[error.code].remediation}"
    return text


def _help_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A group given no action (`attest log`): its own help on stderr, exit 2."""
    def show(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2
    return show


def _log_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log", metavar="DB",
                        help="log database (default: log.sqlite in the station's data directory)")


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except LogError as e:
            print(f"attest: {log_error_text(e)}", file=sys.stderr)
            return e.exit_code
    run.__name__ = command.__name__
    return run


# --- station ----------------------------------------------------------------------------------

def cmd_station_init(args: argparse.Namespace) -> int:
    identity = init_station(read_passphrase(no_input=args.no_input, confirm=True), args.station_id)
    print(f"station {identity.station_id} created in {station_directory()}")
    print(f"fingerprint {identity.fingerprint}")
    return 0


def cmd_station_show(args: argparse.Namespace) -> int:
    identity = load_identity()
    if args.json:
        print(json.dumps({"station_id": identity.station_id, "fingerprint": identity.fingerprint,
                          "public_key": identity.public_pem}))
    elif args.pem:
        sys.stdout.write(identity.public_pem)
    else:
        print(f"station      {identity.station_id}\nfingerprint  {identity.fingerprint}")
        sys.stdout.write(identity.public_pem)
    return 0


# --- log --------------------------------------------------------------------------------------

def cmd_log_export(args: argparse.Namespace) -> int:
    if not args.output and not args.intoto:
        raise LogError("LOG_INPUT_INVALID", "give -o FILE for the bundle, --intoto FILE for statements, or both")
    selection = Selection(args.batch, parse_time(args.since, "--since"),
                          parse_time(args.until, "--until", end_of_day=True), tuple(args.serial))
    signer = unlock_station(no_input=args.no_input)
    store = open_store(args.log, create=False)
    try:
        if args.output:
            summary = export_bundle(store, signer, args.output, selection=selection)
            size, checkpoint = summary.tree_size, summary.checkpoint
            print(f"exported {args.output}: {summary.tree_size} records, {summary.shown} shown in full; "
                  f"root {checkpoint.root_hash.hex()}")
        else:
            size = sign_current_checkpoint(store, signer).tree_size
        if args.intoto:
            indices = None if selection.everything else store.select(selection)
            statements = export_statements(store, signer, args.intoto, indices, size)
            skipped = (f" ({statements.without_identity} without an identity fingerprint skipped)"
                       if statements.without_identity else "")
            print(f"wrote {statements.written} in-toto statements to {args.intoto}{skipped}")
    finally:
        store.close()
    return 0


def cmd_log_verify(args: argparse.Namespace) -> int:
    pins = [p for key in args.station_key if (p := pinned_fingerprint(key)) is not None]
    since = read_checkpoint_file(args.since) if args.since else None
    report = verify_bundle(args.file, pins=pins, since=since)
    if args.json:
        print(json.dumps(report.to_json()))
    elif report.ok:
        print("\n".join(bundle_lines(args.file, report)))
    else:
        print("\n".join(refusal_lines(args.file, report.findings)), file=sys.stderr)
    return 0 if report.ok else 4


def cmd_log_receipt(args: argparse.Namespace) -> int:
    store = open_store(args.log, create=False)
    try:
        receipt = receipt_for_serial(store, args.serial) if args.serial else make_receipt(store, args.index)
    finally:
        store.close()
    write_receipt(args.output, receipt)
    print(f"receipt for record {receipt['index']} written to {args.output}")
    return 0


def cmd_log_verify_receipt(args: argparse.Namespace) -> int:
    report = verify_receipt(args.file, pinned=pinned_fingerprint(args.station_key))
    if args.json:
        print(json.dumps(report.to_json()))
    elif report.ok:
        print("\n".join(receipt_lines(args.file, report)))
    else:
        print("\n".join(refusal_lines(args.file, report.findings)), file=sys.stderr)
    return 0 if report.ok else 4


def cmd_log_checkpoint(args: argparse.Namespace) -> int:
    store = open_store(args.log, create=False)
    try:
        checkpoint = save_latest_checkpoint(store, args.output)
    finally:
        store.close()
    print(f"checkpoint of {checkpoint.tree_size} records ({checkpoint.time}) written to {args.output}")
    return 0


# --- helpers ----------------------------------------------------------------------------------

def pinned_fingerprint(value: str | None) -> str | None:
    """--station-key: a PEM file, or the 64-hex fingerprint `attest station show` prints."""
    if value is None:
        return None
    if _FINGERPRINT.fullmatch(value.lower()):
        return value.lower()
    try:
        data = Path(value).read_bytes()
    except OSError as e:
        raise LogError("LOG_INPUT_INVALID", f"cannot read the station key {value}: {e.strerror or e}") from None
    return fingerprint(public_key_from_pem(data, f"--station-key {value}"))


def parse_time(text: str | None, option: str, *, end_of_day: bool = False) -> str | None:
    """A date (``2026-11-01``) or ISO-8601 time; naive means UTC. A bare date given to
    --until means up to the end of that day, which is what a person means by it."""
    if text is None:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
            if end_of_day:
                moment += timedelta(days=1)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise LogError("LOG_INPUT_INVALID", f"{option} {text!r} is not a date (2026-11-01) or time "
                       "(2026-11-01T14:30:00Z)") from None
    return iso_time(moment)


def bundle_lines(path: str, report: BundleReport) -> list[str]:
    """What a bundle that holds says, for a person: the CLI prints it, the GUI's auditor dialog shows it."""
    if report.parts:  # a warehouse bundle: each station's part on its own
        lines = [f"OK: {path}: {len(report.parts)} stations, each part checked against its own key"]
        for part in report.parts:
            lines.extend("  " + line for line in bundle_lines(f"station {part.station}", part)[1:])
        return lines
    lines = [f"OK: {path}",
             f"  station {report.station}, key {report.key_fingerprint} " + _pin_note(report.key_pinned),
             f"  {report.tree_size} records signed {report.checkpoint_time}: {report.shown} shown in full, "
             f"{report.hidden} as hashes only",
             f"  root {report.root_hash}"]
    if report.since_size is not None:
        lines.append(f"  extends the earlier checkpoint of {report.since_size} records")
    return lines


def receipt_lines(path: str, report: ReceiptReport) -> list[str]:
    rec = report.record
    return [f"OK: {path}",
            f"  record {report.index} of {report.tree_size} in station {report.station}'s log, "
            f"signed {report.checkpoint_time}",
            f"  {rec.get('serial') or rec.get('address')}: {rec.get('verdict')} at {rec.get('time')}",
            f"  key {report.key_fingerprint} " + _pin_note(report.key_pinned)]


def refusal_lines(path: str, findings: Sequence[Any]) -> list[str]:
    return [f"refused: {path}", *(f"  {f.code}: {f.message}" for f in findings)]


def _pin_note(pinned: bool) -> str:
    return "(matches the key given)" if pinned else \
        "(NOT pinned: compare it with the fingerprint the station published, or pass --station-key)"

"""`attest`: the command line for intake scripts and technicians.

Names, exit codes and JSON shapes are a public contract (DESIGN.md, "Command-line contract"):
extend them, never rename them. Exit codes: 0 all TRUSTED / document accepted, 1 worst WARNING,
2 usage or unreadable input, 3 worst UNKNOWN, 4 worst UNTRUSTED / document refused.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from attest import __version__, cli_help
from attest.address import AddressError, EndpointTarget, HostTarget, PortProfile, RangeTarget, parse_address
from attest.appraise import Appraisal
from attest.cli_help import formatted
from attest.collect import collect
from attest.credentials import CredentialsError, load_credentials
from attest.discovery import address_order
from attest.drivers.base import CollectOptions
from attest.evidence import Evidence, printable
from attest.fleet import (
    DEADLINE_EXCEEDED,
    DISCOVERY_CONCURRENCY,
    Discovered,
    DiscoveryDone,
    discover_events,
    range_addresses,
    range_size,
    verify_many,
)
from attest.log.commands import default_operator, log_error_text, unlock_station
from attest.log.commands import register as register_log_commands
from attest.log.errors import LogError
from attest.manifest import Manifest, ManifestError, ManifestFileUnreadable, load_manifest
from attest.policy import Policy, PolicyError, load_policy
from attest.progress import FleetProgress, progress_mode
from attest.store.commands import history_for, push_after_run, store_for_verify, verify_options
from attest.store.commands import register as register_store_commands
from attest.store.errors import StoreError
from attest.trust import StationState, TrustError, TrustStore
from attest.verdict import Verdict, worst
from attest.verify_run import RunLog, VerdictLines, VerifyOutcome, log_message
from attest.watch import WatchError
from attest.watch_command import add_verify_options, check_verify_watch_options, open_verify_watch
from attest.watch_command import register as register_watch_command

if TYPE_CHECKING:  # attest.image loads only when a dump is attached: `attest verify` starts fast
    from attest.image.attach import AttachedDumps, DumpReading

EXIT_OK, EXIT_WARNING, EXIT_USAGE, EXIT_UNKNOWN, EXIT_REFUSED = 0, 1, 2, 3, 4
#: What a shell reports for a program ended by SIGINT (128 + 2); scripts already expect it.
EXIT_INTERRUPTED = 130


class UsageError(Exception):
    """Bad arguments or unreadable input: exit 2 with the message, never a traceback."""


def main(argv: Sequence[str] | None = None) -> int:
    if list(sys.argv[1:] if argv is None else argv)[:1] == ["--image-worker"]:  # a bundle's image check process
        from attest.image.worker import main as image_worker_main

        return image_worker_main()
    logging.basicConfig(level=logging.WARNING, format="attest: %(levelname)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.func(args))
    except UsageError as e:
        print(f"attest: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("attest: interrupted (Ctrl-C) before the command finished", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `attest ... | head`: the reader stopped early. No traceback, and not 0 either: a script
        # with pipefail must not read a cut-short verify as "all TRUSTED". 141 is what a tool
        # killed by SIGPIPE reports.
        with contextlib.suppress(OSError):  # Python must not complain again when flushing at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _fail(message: str) -> NoReturn:
    raise UsageError(message)


# --- shared option handling -------------------------------------------------------------------

def _ports(args: argparse.Namespace) -> PortProfile:
    try:
        return PortProfile.parse(getattr(args, "ports", None))
    except AddressError as e:
        _fail(e.message)


def _policy(args: argparse.Namespace) -> Policy:
    try:
        return load_policy(getattr(args, "policy", None))
    except PolicyError as e:
        _fail(e.message)


def _options(args: argparse.Namespace, policy: Policy) -> CollectOptions:
    timeout = getattr(args, "timeout", None) or policy.request_timeout
    return CollectOptions(timeout=timeout, hash_timeout=policy.hash_timeout,
                          max_measured_bytes=policy.measure_max_bytes, measure_timeout=policy.measure_timeout)


def _credentials(args: argparse.Namespace, policy: Policy) -> Any:
    allow = policy.allow_vendor_defaults and not getattr(args, "no_vendor_defaults", False)
    try:
        return load_credentials(getattr(args, "credentials", None), allow_vendor_defaults=allow)
    except CredentialsError as e:
        _fail(e.message)


def _trust(path: str) -> TrustStore:
    try:
        return TrustStore.load(Path(path))
    except TrustError as e:
        _fail(f"trust store {path}: {e.message}")


def _manifests(paths: Sequence[str], trust: TrustStore) -> list[Manifest]:
    """Every file verified; of one issuer's, only the highest sequence is used (whatever the
    order given), the others named on stderr as superseded."""
    from attest.manifest_set import load_manifest_files

    try:
        loads = load_manifest_files(paths, trust, state=StationState.default())
    except TrustError as e:  # the station state (accepted sequences) is unreadable
        _fail(f"station state: {e.message}")
    for load in loads:
        if load.unreadable:
            _fail(f"cannot read manifest {load.path}: {load.unreadable}")
        if load.manifest is None:
            _fail(f"manifest {load.path} refused: {load.code}: {load.message}")
        if load.superseded_by is not None:
            print(f"manifest {load.path} (sequence {load.manifest.sequence}) is superseded by sequence "
                  f"{load.superseded_by.sequence} from the same issuer: not used", file=sys.stderr)
    return [load.manifest for load in loads if load.used and load.manifest is not None]


def _targets(addresses: Sequence[str]) -> list[Any]:
    out = []
    for text in _with_address_files(addresses):
        try:
            out.append(parse_address(text))
        except AddressError as e:
            _fail(e.message)
    return out


def _with_address_files(addresses: Sequence[str]) -> list[str]:
    """``@FILE`` stands for the addresses in FILE (``@-``: standard input), one per line, as an
    intake script writes them from a DHCP lease table; blank lines and ``#`` comments are skipped."""
    out: list[str] = []
    for text in addresses:
        if not text.startswith("@"):
            out.append(text)
            continue
        name = text[1:]
        try:
            lines = sys.stdin.read().splitlines() if name == "-" else Path(name).read_text().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            _fail(f"cannot read addresses from {name}: {getattr(e, 'strerror', None) or e}")
        out.extend(line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip())
    return out


def _seconds(text: str) -> float:
    """argparse type for a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _count(text: str) -> int:
    """argparse type for a positive whole number (rigs, devices at once)."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1: {text!r}")
    return int(text)


def _help_of(parser: argparse.ArgumentParser) -> Any:
    """A command group given no action (`attest manifest`): its own help, exit 2."""
    def show(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return show


def _emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# --- attest verify ----------------------------------------------------------------------------

def cmd_verify(args: argparse.Namespace) -> int:
    try:
        check_verify_watch_options(args)
    except WatchError as e:
        _fail(e.message)
    policy = _policy(args)
    trust = _trust(args.trust)
    manifests = _manifests(args.manifest, trust)
    targets = _targets(args.address)
    concurrency = args.concurrency or policy.concurrency
    signer = None
    run_log = None
    try:  # a warehouse store only takes signed records: with one, verdicts are always logged first
        store = store_for_verify(getattr(args, "store", None))
    except StoreError as e:
        _fail(f"{e.code}: {e.message}")
    if args.log is not None or store is not None:
        try:  # before the scan: a wrong passphrase should not cost a technician a pallet's wait
            signer = unlock_station(no_input=args.no_input)
            run_log = RunLog(args.log, signer, default_operator())
        except LogError as e:
            _fail(log_error_text(e))
    histories = [history_for(store)] if store is not None else []
    dumps = _attached_dumps(getattr(args, "attach", None) or [], trust, manifests)
    started = time.monotonic()
    outcome = VerifyOutcome()
    interrupted = False
    try:
        asyncio.run(_verify(targets, manifests, policy, args, concurrency, outcome=outcome, run_log=run_log,
                            stream_lines=True, dumps=dumps, histories=histories))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        logged_ok = True
        if outcome.log is not None and run_log is not None:
            line, logged_ok = log_message(outcome.log, run_log.store.location, interrupted=not outcome.finished)
            print(line, file=sys.stderr)
    elapsed = time.monotonic() - started
    if store is not None and run_log is not None and outcome.log is not None and outcome.log.recorded:
        logged_ok = push_after_run(args.log, store) == 0 and logged_ok
    if interrupted:
        return _verify_interrupted(outcome, elapsed, recorded=outcome.log is not None and outcome.log.recorded > 0,
                                   as_json=args.json)
    for key in dumps.unused():
        print(f"attest: no checked unit answered with serial {printable(key)}: its flash dump was not used",
              file=sys.stderr)
    appraisals = outcome.appraisals
    if not args.json and appraisals:
        print()
        print_verdict_table(appraisals, sys.stdout)
        if outcome.discovery is not None:
            print(outcome.discovery.summary())
        print(summary_line(appraisals, elapsed))
    elif args.json and outcome.discovery is not None:
        print(f"attest: {outcome.discovery.summary()}", file=sys.stderr)
    if not logged_ok:
        return EXIT_USAGE
    if not appraisals:
        print("attest: no device answered", file=sys.stderr)
        return EXIT_UNKNOWN
    return worst([a.verdict for a in appraisals]).exit_code


def _verify_interrupted(outcome: VerifyOutcome, elapsed: float, *, recorded: bool, as_json: bool) -> int:
    """Ctrl-C: every verdict given was printed as it came and (with a log) recorded as it came;
    count them, and say what was left undone."""
    done = len(outcome.latest)
    if done and not as_json:
        print(summary_line(list(outcome.latest.values()), elapsed))
    where = f" (above{', and recorded in the log' if recorded else ''})" if done else ""
    left = max(outcome.started, outcome.collected) - done
    rest = f"; {left} rig(s) already being read were not judged" if left > 0 else ""
    print(f"attest: interrupted (Ctrl-C) after {elapsed:.1f} s: {done} rig(s) judged before it{where}{rest}; "
          "verify the rest again", file=sys.stderr)
    return EXIT_INTERRUPTED


def _attached_dumps(specs: Sequence[str], trust: TrustStore, manifests: Sequence[Manifest]) -> AttachedDumps:
    """``--attach SERIAL=DUMP``: each dump read and split before the check (a bad file stops the
    run with exit 2 before a single rig is asked)."""
    from attest.image.attach import AttachedDumps, DumpError, read_dump

    by_serial: dict[str, DumpReading] = {}
    for spec in specs:
        serial, sep, path = spec.partition("=")
        if not sep or not serial.strip() or not path:
            _fail(f"--attach {spec!r}: expected SERIAL=DUMP.bin (the unit's serial number, then its flash dump)")
        if serial.strip() in by_serial:
            _fail(f"--attach: serial {serial.strip()} is given two dumps")
        try:
            reading = read_dump(path, trust, manifests)
        except OSError as e:
            _fail(f"cannot read flash dump {path}: {e.strerror or e}")
        except DumpError as e:
            _fail(f"--attach {serial.strip()}: {e.message}")
        by_serial[serial.strip()] = reading
        print(f"attest: flash dump for {printable(serial.strip())}: {reading.summary}", file=sys.stderr)
    return AttachedDumps(by_serial=by_serial)


async def _verify(targets: list[Any], manifests: list[Manifest], policy: Policy,
                  args: argparse.Namespace, concurrency: int, *, outcome: VerifyOutcome | None = None,
                  run_log: RunLog | None = None, stream_lines: bool = False, dumps: AttachedDumps | None = None,
                  histories: Sequence[Any] = ()) -> list[Appraisal]:
    """Ranges go to verify_many as they are: each host found is collected while the rest of the
    range is still being probed, and each verdict is printed (``stream_lines``) and recorded
    (``run_log``) as soon as it is judged. The station's log (with ``run_log``) and ``histories``
    (the warehouse store) are consulted for each serial's earlier checks."""
    ports = _ports(args)
    options = _options(args, policy)
    credentials = _credentials(args, policy)
    deadline = getattr(args, "deadline", None)
    progress = FleetProgress(sys.stderr, progress_mode(sys.stderr, asked=getattr(args, "progress", False)),
                             known=sum(not isinstance(t, RangeTarget) for t in targets))
    outcome = outcome if outcome is not None else VerifyOutcome()
    lines = VerdictLines(sys.stdout, as_json=getattr(args, "json", False), outcome=outcome,
                         before_write=progress.clear, quiet=not stream_lines)
    try:  # before the first rig is read: a rig checks in when it boots, and the watch must be up
        watch = await open_verify_watch(args, policy)
    except WatchError as e:
        if run_log is not None:
            run_log.close()  # nothing recorded yet: the log is closed untouched
        _fail(e.message)
    logging_to: dict[str, Any] = {"histories": tuple(histories)}
    if run_log is not None:
        run_log.start()
        logging_to = {"histories": (run_log.history, *histories), "station": run_log.signer.station_id,
                      "batch": run_log.batch_id}
    try:
        async for event in verify_many(targets, manifests=manifests, policy=policy, ports=ports,
                                       credentials=credentials, options=options, concurrency=concurrency,
                                       deadline=deadline, host_deadline=getattr(args, "host_deadline", None),
                                       sources=[*(watch.sources if watch else ()),
                                                *([dumps] if dumps is not None and dumps.by_serial else [])],
                                       **logging_to):
            progress.on_event(event)
            if run_log is not None:
                run_log.on_event(event)
            lines.on_event(event)
    finally:
        progress.done()
        if run_log is not None:
            outcome.log = run_log.close()
        if watch is not None:
            await watch.close()
        for history in histories:
            await history.aclose()
    _report_deadline(deadline, outcome.appraisals, outcome.discovery)
    return outcome.appraisals


def _report_deadline(deadline: float | None, appraisals: Sequence[Appraisal], discovery: DiscoveryDone | None) -> None:
    """One line on stderr when the deadline cut the run short: the verdicts alone would not say
    that some addresses of a range were never even probed."""
    cut = sum(any(r.code == DEADLINE_EXCEEDED for r in a.reasons) for a in appraisals)
    parts = [f"{cut} device(s) not finished (UNKNOWN, {DEADLINE_EXCEEDED})"] if cut else []
    if discovery is not None and discovery.cut_short:
        parts.append(f"{discovery.addresses - discovery.probed} of {discovery.addresses} addresses never probed")
    if deadline is not None and parts:
        print(f"attest: the deadline of {deadline:g} s passed: " + "; ".join(parts), file=sys.stderr)


def _cell(text: object, width: int, *, keep_end: bool = False) -> str:
    s = printable(str(text)).replace("\n", " ")
    if len(s) <= width:
        return s
    return "…" + s[-(width - 1):] if keep_end else s[: width - 1] + "…"


def print_verdict_table(appraisals: Sequence[Appraisal], out: TextIO,
                        scenarios: dict[str, str] | None = None) -> None:
    """One row per device; ``scenarios`` (demo only) adds what each simulated rig is."""
    # A file path (attest image) is wider than an address: show its end, where the name is.
    width = min(max([16, *(len(a.address) for a in appraisals)]), 48)
    cols = [("ADDRESS", width), ("VERDICT", 9), ("SERIAL", 18), ("MODEL", 17)]
    if scenarios is not None:
        cols.append(("SCENARIO", 22))
    cols.append(("REASON", 0))
    out.write("  ".join(f"{name:<{w}}" if w else name for name, w in cols) + "\n")
    for a in appraisals:
        top = a.top_reason
        specifics = (top.detail or top.found or "") if top else ""
        why = (top.code + (f" ({specifics})" if specifics else "")) if top else ""
        row = [a.address, a.verdict.value, a.evidence.value("unit.serial") or "-",
               a.evidence.value("unit.model") or "-"]
        if scenarios is not None:
            row.append(scenarios.get(a.address, "-"))
        cells = [f"{_cell(v, w, keep_end=i == 0):<{w}}" for i, (v, (_, w)) in enumerate(zip(row, cols, strict=False))]
        out.write("  ".join([*cells, _cell(why, 90)]) + "\n")


def summary_line(appraisals: Sequence[Appraisal], elapsed: float, noun: str = "rigs") -> str:
    counts = Counter(a.verdict for a in appraisals)
    order = (Verdict.TRUSTED, Verdict.WARNING, Verdict.UNTRUSTED, Verdict.UNKNOWN)
    parts = [f"{counts[v]} {v.value.lower()}" for v in order]
    if len(appraisals) == 1:
        noun = noun.removesuffix("s")
    return f"{len(appraisals)} {noun}: " + " · ".join(parts) + f"  ({elapsed:.1f} s)"


# --- attest image -----------------------------------------------------------------------------

def cmd_image(args: argparse.Namespace) -> int:
    """Firmware files and flash dumps, offline: the same verdicts, exit codes and JSON lines as
    `attest verify`, with the file path as the address."""
    from attest.image.appraise_image import detail_lines
    from attest.image.isolated import ImageCheckFailed, check_file_isolated

    if args.manifest and not args.trust:
        _fail("--manifest needs --trust (the trust store that vouches for the manifest)")
    trust = _trust(args.trust) if args.trust else None
    manifests = _manifests(args.manifest or [], trust) if trust is not None else []
    started = time.monotonic()
    appraisals: list[Appraisal] = []
    for file in args.file:
        try:
            # in a child process with a memory cap and a deadline: no file can hang or kill this one
            appraisals.append(check_file_isolated(file, trust, manifests, mtdparts=args.mtdparts))
        except OSError as e:
            _fail(f"cannot read {file}: {e.strerror or e}")
        except ImageCheckFailed as e:
            _fail(f"checking {file} failed: {e}")
    if args.json:
        for a in appraisals:
            _emit_json(a.to_json())
    else:
        print_verdict_table(appraisals, sys.stdout)
        for a in appraisals:
            print(f"{printable(a.address)}: {a.verdict.value}")
            for line in detail_lines(a):
                print(f"  {line}")
        print(summary_line(appraisals, time.monotonic() - started, noun="files"))
    return worst([a.verdict for a in appraisals]).exit_code


# --- attest collect / scan --------------------------------------------------------------------

def cmd_collect(args: argparse.Namespace) -> int:
    policy = _policy(args)
    targets = _targets([args.address])
    target = targets[0]
    if not isinstance(target, HostTarget | EndpointTarget):
        _fail("collect takes one host or endpoint; use `attest scan` for a range")
    evidence = asyncio.run(collect(target, ports=_ports(args), credentials=_credentials(args, policy),
                                   options=_options(args, policy)))
    if args.json:
        _emit_json(evidence_json(evidence))
    else:
        print_evidence(evidence, sys.stdout)
    if not evidence.claims:
        return EXIT_UNKNOWN
    return EXIT_OK


def evidence_json(ev: Evidence) -> dict[str, Any]:
    return {
        "address": ev.address,
        "claims": ev.claims_json(),
        "all_claims": [{"name": c.name, **c.to_json()} for c in ev.claims],
        "identity_sha256": ev.identity_sha256(),
        "problems": [p.to_json() for p in ev.problems],
    }


def print_evidence(ev: Evidence, out: TextIO) -> None:
    out.write(f"{ev.address}\n")
    for c in ev.claims:
        value = _cell(c.value, 48)
        out.write(f"  {_cell(c.name, 32):<32}  {value:<48}  {c.assurance.label:<9}  {_cell(c.source, 60)}\n")
    for p in ev.problems:
        out.write(f"  ! {p.code} {p.endpoint}: {_cell(p.detail, 120)}\n")
    fp = ev.identity_sha256()
    out.write(f"  identity_sha256 {fp or '- (unit serial not read)'}\n")


def cmd_scan(args: argparse.Namespace) -> int:
    policy = _policy(args)
    targets = _targets(args.range)
    progress = FleetProgress(sys.stderr, progress_mode(sys.stderr, asked=args.progress), verb="probed")
    try:
        found, done = asyncio.run(_scan(targets, _ports(args), _options(args, policy), args, progress))
    finally:
        progress.done()
    for d in found:
        if args.json:
            line: dict[str, Any] = {"address": d.host, "services": d.services, "identified": d.identified}
            if not d.identified:
                line.update(opened=d.opened, said=d.said)
            _emit_json(line)
        elif d.identified:
            services = ", ".join(f"{k}={v}" for k, v in d.services.items())
            print(f"{d.host:<16}  {services}")
        else:
            print(f"{d.host:<16}  not identified: {printable(d.not_identified_text().split(' ', 1)[1])}")
    if args.json:
        print(f"attest: {done.summary()}", file=sys.stderr)
    else:
        print(done.summary())
    if done.cut_short:
        print(f"attest: the deadline of {args.deadline:g} s passed: {done.addresses - done.probed} of "
              f"{done.addresses} addresses never probed", file=sys.stderr)
    return EXIT_OK if any(d.identified for d in found) else EXIT_UNKNOWN


async def _scan(targets: list[Any], ports: PortProfile, options: CollectOptions, args: argparse.Namespace,
                progress: FleetProgress) -> tuple[list[Discovered], DiscoveryDone]:
    """Every address of every target, probed lazily (a /16 is never one list), sorted at the end."""
    def addresses() -> Iterator[str]:
        for t in targets:
            yield from range_addresses(t.network) if isinstance(t, RangeTarget) else [t.host]

    total = sum(range_size(t.network) if isinstance(t, RangeTarget) else 1 for t in targets)
    found: dict[str, Discovered] = {}
    done = DiscoveryDone(total, 0, 0)
    async for event in discover_events(addresses(), total=total, ports=ports, options=options,
                                       concurrency=args.concurrency, deadline=args.deadline):
        progress.on_event(event)
        if isinstance(event, Discovered):
            found.setdefault(event.host, event)  # an address named twice is one host
        elif isinstance(event, DiscoveryDone):
            done = event
    return sorted(found.values(), key=lambda d: address_order(d.host)), done


# --- attest manifest ... ----------------------------------------------------------------------

def cmd_manifest_verify(args: argparse.Namespace) -> int:
    trust = _trust(args.trust)
    try:
        manifest = load_manifest(Path(args.file), trust, state=StationState.default())
    except ManifestFileUnreadable as e:
        _fail(f"cannot read {args.file}: {e.reason}")
    except ManifestError as e:
        print(f"refused: {e.code}: {e.message}", file=sys.stderr)
        return EXIT_REFUSED
    except TrustError as e:
        _fail(f"station state: {e.message}")
    summary = manifest.to_summary_json()
    if args.json:
        _emit_json({"accepted": True, **summary})
    else:
        print(f"accepted: {manifest.issuer}, sequence {manifest.sequence}, "
              f"{len(manifest.devices)} devices, {manifest.digest}")
    return EXIT_OK


def cmd_manifest_inspect(args: argparse.Namespace) -> int:
    from attest.manifest import inspect_file

    try:
        info = inspect_file(Path(args.file))
    except ManifestFileUnreadable as e:
        _fail(f"cannot read {args.file}: {e.reason}")
    except ManifestError as e:
        print(f"attest: {args.file}: {e.code}: {e.message}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        _emit_json(info)
    else:
        print("signatures NOT checked here; use `attest manifest verify` for that")
        for key, value in info.items():
            print(f"{key}: {json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else printable(value)}")
    return EXIT_OK


def _signing_passphrase(args: argparse.Namespace) -> bytes | None:
    """From ATTEST_SIGNING_PASSPHRASE (unattended signing), else a prompt when asked for."""
    env = os.environ.get("ATTEST_SIGNING_PASSPHRASE")
    if env is not None:
        return env.encode()
    if not args.ask_passphrase:
        return None
    if not sys.stdin.isatty():
        _fail("--ask-passphrase needs a terminal; set ATTEST_SIGNING_PASSPHRASE instead")
    return getpass.getpass(f"Passphrase for {args.key}: ").encode()


def cmd_manifest_sign(args: argparse.Namespace) -> int:
    from attest.manifest import sign_file

    try:
        sign_file(Path(args.payload), key=Path(args.key), certs=[Path(c) for c in args.cert or []],
                  out=Path(args.output), passphrase=_signing_passphrase(args))
    except ManifestError as e:
        _fail(f"{e.code}: {e.message}")
    print(f"signed {args.output}")
    return EXIT_OK


# --- attest sim / demo ------------------------------------------------------------------------

def cmd_sim(args: argparse.Namespace) -> int:
    from attest.sim.egress import parse_dns_server
    from attest.sim.runner import scenario_names, serve_forever

    ports = PortProfile.parse(args.ports) if args.ports else None
    try:
        dns = parse_dns_server(args.dns) if args.dns else None
        count = args.fleet or len(scenario_names("mixed"))
        asyncio.run(serve_forever(count, args.scenario, Path(args.out), base=args.base_address,
                                  ports=None if ports is None else
                                  {"api": ports.api, "web": ports.web, "ssh": ports.ssh,
                                   "whatsminer3": ports.whatsminer3, "grpc": ports.grpc},
                                  dns=dns, dns_every=args.dns_every, binary_indicators=not args.no_binary_indicators,
                                  seed=args.seed))
    except ValueError as e:
        _fail(str(e))
    except OSError as e:
        _fail(_sim_start_failure(e))
    return EXIT_OK


def _sim_start_failure(error: OSError) -> str:
    """One line for a simulator that could not listen: who holds the address, and what to do."""
    from attest.sim.address_in_use import bind_failure, in_use_message
    from attest.sim.runner import free_base

    taken = bind_failure(error)
    if taken is None:
        return f"cannot start the simulated fleet: {error.strerror or error}"
    try:
        suggestion = f"use another loopback block: --base-address {free_base(None)}"
    except RuntimeError:
        suggestion = "use another loopback block with --base-address"
    return "cannot start the simulated fleet: " + in_use_message(*taken, suggestion=suggestion)


class _Terminated(Exception):
    """SIGTERM stopped the demo; raised where the program stands so every ``with`` and ``finally`` runs."""


def cmd_demo(args: argparse.Namespace) -> int:
    """The command-line demo: a simulated mixed fleet, verified in this terminal.

    Its temporary directory holds a station key and rollback state: SIGTERM (a closed terminal,
    a `kill`) must remove it as Ctrl-C does. While the event loop runs, SIGTERM cancels the run
    (so the fleet closes cleanly); outside it, SIGTERM raises. Either way the ``with`` that owns
    the directory is left through its exit, which deletes it."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _run_demo(args)
    except _Terminated:
        print("attest: the demo was stopped (SIGTERM); its temporary files are removed", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_terminated(_signum: int, _frame: object) -> None:
    raise _Terminated


def _run_demo(args: argparse.Namespace) -> int:
    from attest.sim.runner import scenario_names, start_fleet

    with tempfile.TemporaryDirectory(prefix="attest-demo-") as tmp:
        out = Path(tmp)
        os.environ.setdefault("ATTEST_HOME", str(out / "station"))

        scenarios: dict[str, str] = {}
        terminated: list[bool] = []

        async def run() -> list[Appraisal]:
            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            if task is not None:
                loop.add_signal_handler(signal.SIGTERM, lambda: (terminated.append(True), task.cancel()))
            try:
                return await verify_demo_fleet()
            finally:
                loop.remove_signal_handler(signal.SIGTERM)
                signal.signal(signal.SIGTERM, _raise_terminated)

        async def verify_demo_fleet() -> list[Appraisal]:
            count = args.fleet or len(scenario_names("mixed"))
            fleet = await start_fleet(count, "mixed", out / "sim", base=args.base_address)
            scenarios.update({r.host: r.scenario for r in fleet.rigs})
            try:
                print(f"Simulated fleet of {len(fleet.rigs)} rigs is up ({fleet.fleet_json}).", flush=True)
                trust = _trust(str(out / "sim" / "trust"))
                manifests = _manifests([str(out / "sim" / "manifest.dsse.json")], trust)
                policy = _policy(argparse.Namespace(policy=str(out / "sim" / "policy.toml")))
                ports = fleet.ports or {}
                ns = argparse.Namespace(ports=",".join(f"{k}={v}" for k, v in ports.items()),
                                        timeout=None, credentials=None, no_vendor_defaults=False)
                targets = [HostTarget(r.host) for r in fleet.rigs]
                return await _verify(targets, manifests, policy, ns, policy.concurrency)
            finally:
                await fleet.close()

        started = time.monotonic()
        try:
            appraisals = asyncio.run(run())
        except asyncio.CancelledError:
            if terminated:
                raise _Terminated from None
            raise
        except OSError as e:
            _fail(_sim_start_failure(e))
        print_verdict_table(appraisals, sys.stdout, scenarios)
        print(summary_line(appraisals, time.monotonic() - started))
    return EXIT_OK


# --- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="attest", **formatted(description=cli_help.MAIN))
    p.add_argument("--version", action="version", version=f"attest {__version__}")
    sub = p.add_subparsers(metavar="COMMAND")

    def device_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--ports", metavar="PROFILE",
                        help="where each host's services listen (default api=4028,web=80,ssh=22), "
                             "e.g. api=4028,web=8080,ssh=2222")
        sp.add_argument("--policy", metavar="FILE",
                        help="station policy (policy.toml): pool allow-list, origin, timeouts; "
                             "without one, pools are not checked")
        sp.add_argument("--credentials", metavar="FILE", help="logins for the rigs (credentials.toml)")
        sp.add_argument("--no-vendor-defaults", action="store_true",
                        help="never try factory default logins")
        sp.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                        help="seconds per request (default from the policy, else 5)")
        sp.add_argument("--json", action="store_true", help="one JSON object per device per line")

    def fleet_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--deadline", type=_seconds, metavar="SECONDS",
                        help="end the whole run by then: devices not finished are UNKNOWN (DEADLINE_EXCEEDED)")
        sp.add_argument("--progress", action="store_true",
                        help="progress lines on stderr even when it is not a terminal (a terminal gets a bar)")

    v = sub.add_parser("verify", help="collect evidence and give each device a verdict",
                       **formatted(description=cli_help.VERIFY, epilog=cli_help.VERIFY_EPILOG))
    v.add_argument("address", nargs="+", help="host (10.0.4.17), CIDR range (10.0.4.0/24), endpoint URL "
                   "(ssh://root@10.0.4.17), or @FILE with one a line (@- reads stdin)")
    v.add_argument("--manifest", action="append", required=True, metavar="FILE",
                   help="the vendor's signed manifest (.dsse.json); repeat for several shipments")
    v.add_argument("--trust", required=True, metavar="DIR",
                   help="trust store directory: roots/*.pem vendor root certificates, keys/*.pem pinned keys")
    v.add_argument("--concurrency", type=_count, metavar="N", help="devices checked at once (default from policy, 64)")
    v.add_argument("--log", metavar="DB", help="append every verdict to this signed verification log")
    v.add_argument("--no-input", action="store_true",
                   help="never prompt (the station passphrase then comes from ATTEST_PASSPHRASE)")
    v.add_argument("--attach", action="append", metavar="SERIAL=DUMP",
                   help="a flash dump read with an external programmer, for the unit with this serial "
                        "(repeatable): its images count at assurance offline")
    v.add_argument("--host-deadline", type=_seconds, metavar="SECONDS",
                   help="most time one device may take; past it the device is UNKNOWN (TIMEOUT)")
    add_verify_options(v)
    verify_options(v)
    fleet_options(v)
    device_options(v)
    v.set_defaults(func=cmd_verify)

    c = sub.add_parser("collect", help="show the evidence one device gives, claim by claim",
                       **formatted(description=cli_help.COLLECT, epilog=cli_help.COLLECT_EPILOG))
    c.add_argument("address", help="one host or endpoint URL (not a range)")
    device_options(c)
    c.set_defaults(func=cmd_collect)

    s = sub.add_parser("scan", help="discover what answers in a range, and which family",
                       **formatted(description=cli_help.SCAN, epilog=cli_help.SCAN_EPILOG))
    s.add_argument("range", nargs="+", help="CIDR range, host, or @FILE of them (@- stdin)")
    s.add_argument("--concurrency", type=_count, default=DISCOVERY_CONCURRENCY, metavar="N",
                   help=f"addresses probed at once (default {DISCOVERY_CONCURRENCY})")
    fleet_options(s)
    device_options(s)
    s.set_defaults(func=cmd_scan)

    m = sub.add_parser("manifest", help="sign, verify or inspect a manufacturing manifest",
                       description=cli_help.MANIFEST)
    msub = m.add_subparsers(metavar="ACTION")
    m.set_defaults(func=_help_of(m))
    ms = msub.add_parser("sign", help="sign a manifest payload into a DSSE envelope",
                         **formatted(description=cli_help.MANIFEST_SIGN, epilog=cli_help.MANIFEST_SIGN_EPILOG))
    ms.add_argument("payload", help="the manifest payload (JSON, rigattest.manifest/v1)")
    ms.add_argument("--key", required=True, metavar="KEY.pem",
                    help="private key PEM (Ed25519, ECDSA P-256, or RSA of 2048 bits or more)")
    ms.add_argument("--ask-passphrase", action="store_true",
                    help="prompt for the key's passphrase (or set ATTEST_SIGNING_PASSPHRASE)")
    ms.add_argument("--cert", action="append", metavar="CERT.pem",
                    help="signer certificate PEM, leaf first, then intermediates (repeatable)")
    ms.add_argument("-o", "--output", required=True, metavar="OUT.dsse.json", help="the signed envelope to write")
    ms.set_defaults(func=cmd_manifest_sign)
    mv = msub.add_parser("verify", help="check a manifest against the trust store",
                         **formatted(description=cli_help.MANIFEST_VERIFY, epilog=cli_help.MANIFEST_VERIFY_EPILOG))
    mv.add_argument("file", help="the signed manifest (.dsse.json)")
    mv.add_argument("--trust", required=True, metavar="DIR", help="trust store directory")
    mv.add_argument("--json", action="store_true", help="print the accepted manifest's summary as JSON")
    mv.set_defaults(func=cmd_manifest_verify)
    mi = msub.add_parser("inspect", help="show what a manifest says (signatures not checked)",
                         description=cli_help.MANIFEST_INSPECT)
    mi.add_argument("file", help="the manifest (.dsse.json)")
    mi.add_argument("--json", action="store_true", help="print it as one JSON object")
    mi.set_defaults(func=cmd_manifest_inspect)

    from attest.sim.scenarios import FAMILY_SCENARIOS, SCENARIO_HELP, SCENARIOS, SERIAL_SCENARIOS, TAMPER_SCENARIOS

    sim = sub.add_parser("sim", help="run virtual rigs that speak the real protocols",
                         **formatted(description=cli_help.SIM,
                                     epilog=cli_help.scenario_epilog(SCENARIOS, SERIAL_SCENARIOS, SCENARIO_HELP,
                                                                     families=FAMILY_SCENARIOS,
                                                                     tamper=TAMPER_SCENARIOS)))
    sim.add_argument("--fleet", type=_count, metavar="N",
                     help="how many rigs (default: one per scenario and firmware family of the mixed fleet); "
                          "scenarios repeat in order when N is larger")
    sim.add_argument("--scenario", default="mixed", metavar="NAME",
                     help="what every rig is (listed below); mixed gives every scenario and one rig per "
                          "firmware family (default); families gives the family rigs alone")
    sim.add_argument("--out", default="sim-out", metavar="DIR",
                     help="where fleet.json, hosts.txt, the manifest, trust store and policy go (default sim-out)")
    sim.add_argument("--base-address", default="127.0.1.1", metavar="ADDRESS",
                     help="first rig's loopback address (Linux; default 127.0.1.1); later rigs count up")
    sim.add_argument("--ports", metavar="PROFILE",
                     help="listen on these ports (e.g. api=14028,web=18080,ssh=12222) instead of the real ones")
    sim.add_argument("--dns", metavar="ADDR:PORT", help="rigs resolve and connect through this DNS server every "
                     "few seconds, as their scenario's firmware would (the station's watch); default: no traffic")
    sim.add_argument("--dns-every", type=_seconds, default=5.0, metavar="SECONDS",
                     help="how often each rig resolves and connects (default 5)")
    sim.add_argument("--no-binary-indicators", action="store_true",
                     help="no miner binary carries a backdoor string: the antbleed rig shows only on the network")
    sim.add_argument("--seed", help="make other units than the demo's; two fleets with one seed hold the same "
                     "units (serials, boards, SSH host key), as one pallet reaching two stations")
    sim.set_defaults(func=cmd_sim)

    im = sub.add_parser("image", help="verify firmware files or flash dumps offline, before they touch a rig",
                        **formatted(description=cli_help.IMAGE, epilog=cli_help.IMAGE_EPILOG))
    im.add_argument("file", nargs="+", help="update package, image or flash dump")
    im.add_argument("--manifest", action="append", metavar="FILE",
                    help="signed manifest (repeatable; needs --trust); without one the verdict is at best UNKNOWN")
    im.add_argument("--trust", metavar="DIR", help="trust store directory (its vendor-keys/ check vendor signatures)")
    im.add_argument("--mtdparts", metavar="STRING",
                    help="split a flash dump by this mtdparts string, e.g. 'spi0.0:1m(boot),-(rootfs)' "
                         "(default: the dump's own, else the manifest's flash_layout)")
    im.add_argument("--json", action="store_true", help="one JSON object per file per line")
    im.set_defaults(func=cmd_image)

    register_store_commands(sub, register_log_commands(sub))
    register_watch_command(sub)

    d = sub.add_parser("demo", help="verify a simulated mixed fleet in this terminal", description=cli_help.DEMO)
    d.add_argument("--fleet", type=_count, metavar="N",
                   help="how many rigs (default: one per scenario and firmware family of the mixed fleet)")
    d.add_argument("--base-address", default="127.0.1.1", metavar="ADDRESS",
                   help="first rig's loopback address (default 127.0.1.1); later rigs count up")
    d.set_defaults(func=cmd_demo)
    return p


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())

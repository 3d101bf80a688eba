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
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from attest import __version__
from attest.address import AddressError, EndpointTarget, HostTarget, PortProfile, RangeTarget, parse_address
from attest.appraise import Appraisal
from attest.collect import collect
from attest.credentials import CredentialsError, load_credentials
from attest.discovery import address_order
from attest.drivers.base import CollectOptions
from attest.evidence import Evidence, printable
from attest.fleet import (
    DEADLINE_EXCEEDED,
    DISCOVERY_CONCURRENCY,
    BatchDone,
    Discovered,
    DiscoveryDone,
    discover_events,
    range_addresses,
    range_size,
    verify_many,
)
from attest.log.commands import log_appraisals, unlock_station
from attest.log.commands import register as register_log_commands
from attest.log.errors import LogError
from attest.manifest import Manifest, ManifestError, load_manifest
from attest.policy import Policy, PolicyError, load_policy
from attest.progress import FleetProgress, progress_mode
from attest.trust import StationState, TrustError, TrustStore
from attest.verdict import Verdict, worst

EXIT_OK, EXIT_WARNING, EXIT_USAGE, EXIT_UNKNOWN, EXIT_REFUSED = 0, 1, 2, 3, 4


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
        return 130
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
    return CollectOptions(timeout=timeout, hash_timeout=policy.hash_timeout)


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


def _emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# --- attest verify ----------------------------------------------------------------------------

def cmd_verify(args: argparse.Namespace) -> int:
    policy = _policy(args)
    trust = _trust(args.trust)
    manifests = _manifests(args.manifest, trust)
    targets = _targets(args.address)
    concurrency = args.concurrency or policy.concurrency
    signer = None
    if args.log is not None:
        try:  # before the scan: a wrong passphrase should not cost a technician a pallet's wait
            signer = unlock_station(no_input=args.no_input)
        except LogError as e:
            _fail(f"{e.code}: {e.message}")
    started = time.monotonic()
    appraisals = asyncio.run(_verify(targets, manifests, policy, args, concurrency))
    elapsed = time.monotonic() - started
    if args.json:
        for a in appraisals:
            _emit_json(a.to_json())
    else:
        print_verdict_table(appraisals, sys.stdout)
        print(summary_line(appraisals, elapsed))
    if signer is not None and appraisals:
        try:
            checkpoint = log_appraisals(args.log, appraisals, signer=signer)
        except LogError as e:
            print(f"attest: verdicts NOT recorded: {e.code}: {e.message}", file=sys.stderr)
            return EXIT_USAGE
        root = checkpoint.root_hash.hex()[:16]
        print(f"attest: recorded {len(appraisals)} verdicts in {args.log}; "
              f"signed checkpoint: tree size {checkpoint.tree_size}, root {root}…", file=sys.stderr)
    if not appraisals:
        print("attest: no device answered", file=sys.stderr)
        return EXIT_UNKNOWN
    return worst([a.verdict for a in appraisals]).exit_code


async def _verify(targets: list[Any], manifests: list[Manifest], policy: Policy,
                  args: argparse.Namespace, concurrency: int) -> list[Appraisal]:
    """Ranges go to verify_many as they are: each host found is collected while the rest of the
    range is still being probed."""
    ports = _ports(args)
    options = _options(args, policy)
    credentials = _credentials(args, policy)
    deadline = getattr(args, "deadline", None)
    progress = FleetProgress(sys.stderr, progress_mode(sys.stderr, asked=getattr(args, "progress", False)),
                             known=sum(not isinstance(t, RangeTarget) for t in targets))
    result: list[Appraisal] = []
    discovery: DiscoveryDone | None = None
    try:
        async for event in verify_many(targets, manifests=manifests, policy=policy, ports=ports,
                                       credentials=credentials, options=options, concurrency=concurrency,
                                       deadline=deadline, host_deadline=getattr(args, "host_deadline", None)):
            progress.on_event(event)
            if isinstance(event, DiscoveryDone):
                discovery = event
            elif isinstance(event, BatchDone):
                result = list(event.appraisals)
    finally:
        progress.done()
    _report_deadline(deadline, result, discovery)
    return result


def _report_deadline(deadline: float | None, appraisals: Sequence[Appraisal], discovery: DiscoveryDone | None) -> None:
    """One line on stderr when the deadline cut the run short: the verdicts alone would not say
    that some addresses of a range were never even probed."""
    cut = sum(any(r.code == DEADLINE_EXCEEDED for r in a.reasons) for a in appraisals)
    parts = [f"{cut} device(s) not finished (UNKNOWN, {DEADLINE_EXCEEDED})"] if cut else []
    if discovery is not None and discovery.cut_short:
        parts.append(f"{discovery.addresses - discovery.probed} of {discovery.addresses} addresses never probed")
    if deadline is not None and parts:
        print(f"attest: the deadline of {deadline:g} s passed: " + "; ".join(parts), file=sys.stderr)


def _cell(text: object, width: int) -> str:
    s = printable(str(text)).replace("\n", " ")
    return s if len(s) <= width else s[: width - 1] + "…"


def print_verdict_table(appraisals: Sequence[Appraisal], out: TextIO,
                        scenarios: dict[str, str] | None = None) -> None:
    """One row per device; ``scenarios`` (demo only) adds what each simulated rig is."""
    cols = [("ADDRESS", 16), ("VERDICT", 9), ("SERIAL", 18), ("MODEL", 17)]
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
        cells = [f"{_cell(v, w):<{w}}" for v, (_, w) in zip(row, cols, strict=False)]
        out.write("  ".join([*cells, _cell(why, 90)]) + "\n")


def summary_line(appraisals: Sequence[Appraisal], elapsed: float, noun: str = "rigs") -> str:
    counts = Counter(a.verdict for a in appraisals)
    order = (Verdict.TRUSTED, Verdict.WARNING, Verdict.UNTRUSTED, Verdict.UNKNOWN)
    parts = [f"{counts[v]} {v.value.lower()}" for v in order]
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
            _emit_json({"address": d.host, "services": d.services})
        else:
            services = ", ".join(f"{k}={v}" for k, v in d.services.items())
            print(f"{d.host:<16}  {services}")
    if not args.json:
        print(f"{len(found)} of {done.addresses} hosts answered")
    if done.cut_short:
        print(f"attest: the deadline of {args.deadline:g} s passed: {done.addresses - done.probed} of "
              f"{done.addresses} addresses never probed", file=sys.stderr)
    return EXIT_OK if found else EXIT_UNKNOWN


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
    from attest.sim.runner import serve_forever

    ports = PortProfile.parse(args.ports) if args.ports else None
    try:
        asyncio.run(serve_forever(args.fleet, args.scenario, Path(args.out), base=args.base_address,
                                  ports=None if ports is None else
                                  {"api": ports.api, "web": ports.web, "ssh": ports.ssh}))
    except ValueError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"cannot start the simulated fleet: {e}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """The command-line demo: a simulated mixed fleet, verified in this terminal."""
    from attest.sim.runner import start_fleet

    with tempfile.TemporaryDirectory(prefix="attest-demo-") as tmp:
        out = Path(tmp)
        os.environ.setdefault("ATTEST_HOME", str(out / "station"))

        scenarios: dict[str, str] = {}

        async def run() -> list[Appraisal]:
            fleet = await start_fleet(args.fleet, "mixed", out / "sim", base=args.base_address)
            scenarios.update({r.host: r.scenario for r in fleet.rigs})
            try:
                print(f"Simulated fleet of {len(fleet.rigs)} rigs is up ({fleet.fleet_json}).")
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
        appraisals = asyncio.run(run())
        print_verdict_table(appraisals, sys.stdout, scenarios)
        print(summary_line(appraisals, time.monotonic() - started))
    return EXIT_OK


# --- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="attest", description="Verify Bitcoin mining rigs against "
                                "their manufacturer's signed manifest.")
    p.add_argument("--version", action="version", version=f"attest {__version__}")
    sub = p.add_subparsers(metavar="COMMAND")

    def device_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--ports", help="port profile, e.g. api=4028,web=8080,ssh=2222")
        sp.add_argument("--policy", help="station policy file (policy.toml)")
        sp.add_argument("--credentials", help="credentials file (credentials.toml)")
        sp.add_argument("--no-vendor-defaults", action="store_true",
                        help="never try factory default logins")
        sp.add_argument("--timeout", type=float, help="seconds per request (default from policy, 5)")
        sp.add_argument("--json", action="store_true", help="one JSON object per device per line")

    def fleet_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--deadline", type=_seconds, metavar="SECONDS",
                        help="end the whole run by then: devices not finished are UNKNOWN (DEADLINE_EXCEEDED)")
        sp.add_argument("--progress", action="store_true",
                        help="progress lines on stderr even when it is not a terminal (a terminal gets a bar)")

    v = sub.add_parser("verify", help="collect evidence and give each device a verdict")
    v.add_argument("address", nargs="+", help="host, CIDR range, endpoint URL, or @FILE of them (@- stdin)")
    v.add_argument("--manifest", action="append", required=True, help="signed manifest (repeatable)")
    v.add_argument("--trust", required=True, help="trust store directory")
    v.add_argument("--concurrency", type=int, help="devices checked at once (default from policy)")
    v.add_argument("--log", metavar="DB", help="append every verdict to this signed verification log")
    v.add_argument("--no-input", action="store_true",
                   help="never prompt (the station passphrase then comes from ATTEST_PASSPHRASE)")
    v.add_argument("--host-deadline", type=_seconds, metavar="SECONDS",
                   help="most time one device may take; past it the device is UNKNOWN (TIMEOUT)")
    fleet_options(v)
    device_options(v)
    v.set_defaults(func=cmd_verify)

    c = sub.add_parser("collect", help="show the evidence one device gives, claim by claim")
    c.add_argument("address")
    device_options(c)
    c.set_defaults(func=cmd_collect)

    s = sub.add_parser("scan", help="discover what answers in a range, and which family")
    s.add_argument("range", nargs="+", help="CIDR range, host, or @FILE of them (@- stdin)")
    s.add_argument("--concurrency", type=int, default=DISCOVERY_CONCURRENCY,
                   help=f"addresses probed at once (default {DISCOVERY_CONCURRENCY})")
    fleet_options(s)
    device_options(s)
    s.set_defaults(func=cmd_scan)

    m = sub.add_parser("manifest", help="sign, verify or inspect a manufacturing manifest")
    msub = m.add_subparsers(metavar="ACTION")
    ms = msub.add_parser("sign", help="sign a manifest payload into a DSSE envelope")
    ms.add_argument("payload")
    ms.add_argument("--key", required=True, help="private key PEM (Ed25519 or ECDSA P-256)")
    ms.add_argument("--ask-passphrase", action="store_true",
                    help="prompt for the key's passphrase (or set ATTEST_SIGNING_PASSPHRASE)")
    ms.add_argument("--cert", action="append", help="signer certificate PEM, leaf first (repeatable)")
    ms.add_argument("-o", "--output", required=True)
    ms.set_defaults(func=cmd_manifest_sign)
    mv = msub.add_parser("verify", help="check a manifest against the trust store")
    mv.add_argument("file")
    mv.add_argument("--trust", required=True)
    mv.add_argument("--json", action="store_true")
    mv.set_defaults(func=cmd_manifest_verify)
    mi = msub.add_parser("inspect", help="show what a manifest says (signatures not checked)")
    mi.add_argument("file")
    mi.add_argument("--json", action="store_true")
    mi.set_defaults(func=cmd_manifest_inspect)

    sim = sub.add_parser("sim", help="run virtual rigs that speak the real protocols")
    sim.add_argument("--fleet", type=int, default=13)
    sim.add_argument("--scenario", default="mixed")
    sim.add_argument("--out", default="sim-out")
    sim.add_argument("--base-address", default="127.0.1.1",
                     help="first rig's loopback address (Linux); later rigs count up")
    sim.add_argument("--ports", help="force a port profile instead of the real ports")
    sim.set_defaults(func=cmd_sim)

    im = sub.add_parser("image", help="verify firmware files or flash dumps offline, before they touch a rig")
    im.add_argument("file", nargs="+", help="update package, image or flash dump")
    im.add_argument("--manifest", action="append", help="signed manifest (repeatable; needs --trust)")
    im.add_argument("--trust", help="trust store directory (its vendor-keys/ check vendor signatures)")
    im.add_argument("--mtdparts", help="split a flash dump by this mtdparts string (default: the dump's own)")
    im.add_argument("--json", action="store_true", help="one JSON object per file per line")
    im.set_defaults(func=cmd_image)

    register_log_commands(sub)

    d = sub.add_parser("demo", help="verify a simulated mixed fleet in this terminal")
    d.add_argument("--fleet", type=int, default=13)
    d.add_argument("--base-address", default="127.0.1.1")
    d.set_defaults(func=cmd_demo)
    return p


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())

"""A check of some rows, planned on the GUI thread and run in a check process through ``fleet``.

``plan_check`` snapshots everything the check needs (targets, manifests, policy, credentials)
into plain data, so the check never reads a live row or widget. ``run_check`` is the op given to
``gui.jobs``: it hands the plan to a check process (``gui.check_worker``, see there for why a
process) and yields the core's own events (``DeviceStarted`` ... ``BatchDone``) as they come
back. ``run_check_here`` is the same check in this process: the worker runs it, and so can a
test.

Rows are grouped by port profile, one ``verify_many`` per group, because the core takes one
profile per batch; clones are therefore found within a group (in practice one group per
pallet). Serial consoles go with the first group: a console has no ports.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from attest.address import AddressError, EndpointTarget, HostTarget, PortProfile, parse_address
from attest.appraise import Appraisal
from attest.credentials import CredentialRule, Credentials
from attest.drivers.base import CollectOptions, ConsoleOutput
from attest.evidence import Evidence
from attest.fleet import BatchDone, DeviceAppraised, DeviceCollected, Event, EvidenceSource, verify_many
from attest.image.attach import AttachedDumps, DumpReading
from attest.log.append import new_batch_id
from attest.log.commands import log_appraisals
from attest.log.errors import LogError
from attest.manifest import Manifest
from attest.policy import Policy
from attest.station import StationIdentity, StationSigner, public_key_from_pem
from attest.store import QueueState, StoreError, StoreHistory, StoreTarget, configured_target, push_pending, queue_state
from attest.watch import DEFAULT_WINDOW_SECONDS, Watch, parse_listen
from gui.check_frames import BatchFinished, SlimAppraised, encode_frame, read_frame_async, rebuild
from gui.console_feed import merge_console_output
from gui.models.rows import DeviceRow, RowKind

log = logging.getLogger(__name__)

#: How much of a dead check process's stderr is kept for the message shown to the technician.
STDERR_TAIL = 4000


@dataclass(frozen=True)
class LogPlan:
    """Where and as whom the check's verdicts are recorded: the GUI always logs.

    The unlocked key travels to the check process as raw bytes over its private pipe (the same
    user, the same machine, never a file); the process signs the batch's checkpoint itself, so a
    1,000-record append never runs in the GUI's process.
    """

    path: str  # the SQLite log
    station_id: str
    public_pem: str
    private_key: bytes  # Ed25519 raw private bytes
    operator: str
    store_url: str = ""  # the warehouse store (the station setting; empty: ATTEST_STORE, else none)

    @classmethod
    def of(cls, path: str, signer: StationSigner, operator: str, store_url: str = "") -> LogPlan:
        return cls(path, signer.station_id, signer.identity.public_pem, signer.private_key.private_bytes_raw(),
                   operator, store_url)

    def signer(self) -> StationSigner:
        identity = StationIdentity(self.station_id, public_key_from_pem(self.public_pem))
        return StationSigner(identity, ed25519.Ed25519PrivateKey.from_private_bytes(self.private_key))


@dataclass(frozen=True)
class BatchLogged:
    """The batch's verdicts are in the signed log: records ``first``..``size - 1``, and the
    checkpoint signed over them (its root is what the PDF report and receipts carry)."""

    first: int
    size: int
    root_hex: str
    time: str
    batch: str
    station_fingerprint: str


@dataclass(frozen=True)
class LogFailed:
    """The verdicts stand, but could not be recorded (``code`` a key of REASONS)."""

    code: str
    message: str


@dataclass(frozen=True)
class WatchPlan:
    """The network watch a check runs (attest.watch): on this station address and DNS port, for
    ``seconds`` from the check's start, listening on the policy's ``ports``."""

    address: str
    dns_port: int
    seconds: float
    ports: tuple[int, ...]


def watch_plan(listen: str, seconds: float, policy: Policy) -> WatchPlan | None:
    """From the station setting (``ADDR[:PORT]``, empty: no watch); raises WatchError when unusable."""
    if not listen.strip():
        return None
    address, port = parse_listen(listen)
    return WatchPlan(address, port, seconds or DEFAULT_WINDOW_SECONDS, policy.watch_ports)


@dataclass(frozen=True)
class StoreSynced:
    """After the batch was logged: what the warehouse store holds now (``queue``), and why a push
    failed (``code``, ``message``; the records then wait in the log for the next check)."""

    sent: int
    queue: QueueState | None
    code: str = ""
    message: str = ""


@dataclass(frozen=True)
class CheckPlan:
    groups: tuple[tuple[PortProfile, tuple[HostTarget | EndpointTarget, ...]], ...]
    skipped: tuple[str, ...]  # pending rows: nothing to reach yet
    manifests: tuple[Manifest, ...]
    policy: Policy
    credentials: Credentials
    options: CollectOptions
    concurrency: int
    log: LogPlan | None = None
    watch: WatchPlan | None = None
    dumps: tuple[tuple[str, DumpReading], ...] = ()  # device id -> the flash dump attached to it

    @property
    def total(self) -> int:
        return sum(len(t) for _, t in self.groups)

    def device_ids(self) -> list[str]:
        return [t.address for _, targets in self.groups for t in targets]


def plan_check(rows: Sequence[DeviceRow], *, manifests: Sequence[Manifest], policy: Policy,
               default_ports: PortProfile, request_timeout: float | None, hash_timeout: float | None,
               concurrency: int | None, log: LogPlan | None = None, watch: WatchPlan | None = None) -> CheckPlan:
    groups: dict[PortProfile, list[HostTarget | EndpointTarget]] = {}
    consoles: list[EndpointTarget] = []
    skipped: list[str] = []
    rules: list[CredentialRule] = []
    for row in rows:
        if row.kind is RowKind.SERIAL:
            try:
                target = parse_address(row.device_id)
            except AddressError:
                skipped.append(row.device_id)  # intake only adds canonical console addresses
                continue
            if isinstance(target, EndpointTarget):
                consoles.append(target)
        elif row.target is None:
            skipped.append(row.device_id)
        else:
            groups.setdefault(row.ports or default_ports, []).append(row.target)
            if row.credential is not None:
                rules.append(CredentialRule(row.host, row.credential_kind, row.credential))
    if consoles:
        groups.setdefault(next(iter(groups), default_ports), []).extend(consoles)
    options = CollectOptions(timeout=request_timeout or policy.request_timeout,
                             hash_timeout=hash_timeout or policy.hash_timeout,
                             max_measured_bytes=policy.measure_max_bytes, measure_timeout=policy.measure_timeout)
    dumps = tuple((row.device_id, row.dump) for row in rows if row.dump is not None)
    return CheckPlan(tuple((p, tuple(t)) for p, t in groups.items()), tuple(skipped),
                     tuple(manifests), policy, Credentials(tuple(rules), policy.allow_vendor_defaults),
                     options, concurrency or policy.concurrency, log, watch, dumps)


async def run_check_here(plan: CheckPlan) -> AsyncIterator[Event | ConsoleOutput | BatchLogged | LogFailed
                                                          | StoreSynced]:
    """The check in this process: every group through ``verify_many``; one BatchDone at the end.
    With a watch, it listens from the start and every group's rigs are judged over its window;
    with a warehouse store, it is consulted for each serial, and pushed to after the log append."""
    appraisals: list[Appraisal] = []
    store, problem = _store_of(plan.log)
    histories = [StoreHistory(store)] if store is not None else []
    station = plan.log.station_id if plan.log is not None else None
    watch = None
    try:
        if plan.watch is not None:
            watch = await Watch(plan.watch.address, plan.watch.dns_port, tcp_ports=plan.watch.ports).start()
        sources: tuple[EvidenceSource, ...] = ((watch.evidence_source(plan.watch.seconds),)
                                               if watch is not None and plan.watch else ())
        if plan.dumps:
            sources = (*sources, AttachedDumps(by_address=dict(plan.dumps)))
        async for event in _groups(plan, appraisals, sources, histories, station):
            yield event
    finally:
        if watch is not None:
            await watch.close()
        for history in histories:
            await history.aclose()
    if plan.log is not None and appraisals:
        yield log_check(plan.log, appraisals)
    if plan.log is not None and (store is not None or problem):
        yield await asyncio.to_thread(push_check, plan.log, store, problem)
    yield BatchDone(tuple(appraisals))


def _store_of(log: LogPlan | None) -> tuple[StoreTarget | None, str]:
    if log is None:
        return None, ""
    try:
        return configured_target(log.store_url or None), ""
    except StoreError as e:
        return None, f"{e.code}: {e.message}"


def push_check(log: LogPlan, store: StoreTarget | None, problem: str) -> StoreSynced:
    """Push what the store lacks; a failure is a value (the records wait in the log)."""
    if store is None:
        return StoreSynced(0, None, "STORE_URL_INVALID", problem)
    path = Path(log.path)
    try:
        result = push_pending(path, store)
    except (StoreError, LogError) as e:
        return StoreSynced(0, _queue(path, store), e.code, e.message)
    return StoreSynced(result.sent, _queue(path, store))


def _queue(path: Path, store: StoreTarget) -> QueueState | None:
    try:
        return queue_state(path, store.display)
    except LogError:
        return None


async def _groups(plan: CheckPlan, appraisals: list[Appraisal], sources: Sequence[EvidenceSource],
                  histories: list[StoreHistory], station: str | None) -> AsyncIterator[Event | ConsoleOutput]:
    for ports, targets in plan.groups:
        def stream(options: CollectOptions, ports: PortProfile = ports,
                   targets: tuple[HostTarget | EndpointTarget, ...] = targets) -> AsyncIterator[Event]:
            return verify_many(targets, manifests=plan.manifests, policy=plan.policy, ports=ports,
                               credentials=plan.credentials, options=options, concurrency=plan.concurrency,
                               sources=sources, histories=histories, station=station)

        consoles = any(isinstance(t, EndpointTarget) and t.kind == "serial" for t in targets)
        events = merge_console_output(stream, plan.options) if consoles else stream(plan.options)
        async for event in events:  # a serial console's chunks ride along, for the live console tab
            if isinstance(event, BatchDone):
                appraisals.extend(event.appraisals)
            else:
                yield event


def log_check(plan: LogPlan, appraisals: Sequence[Appraisal]) -> BatchLogged | LogFailed:
    """Record the batch in one transaction; a failure loses nothing already recorded."""
    batch = new_batch_id(datetime.now(UTC))
    try:
        signer = plan.signer()
        checkpoint = log_appraisals(plan.path, appraisals, signer=signer, operator=plan.operator, batch_id=batch)
    except LogError as e:
        return LogFailed(e.code, e.message)
    except ValueError as e:  # a damaged key handed over: never a crash of the check
        return LogFailed("STATION_FILES_INVALID", str(e))
    first = checkpoint.tree_size - len(appraisals)  # the batch is appended whole, in one transaction
    return BatchLogged(first, checkpoint.tree_size, checkpoint.root_hash.hex(), checkpoint.time, batch,
                       signer.identity.fingerprint)


class CheckProcessError(RuntimeError):
    """The check process ended without finishing the check; the message says how."""


def worker_command() -> list[str]:
    """How to start a check process: the bundle's own executable, or this Python."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--check-worker"]
    return [sys.executable, "-m", "gui.check_worker"]


_spares: dict[asyncio.AbstractEventLoop, asyncio.subprocess.Process] = {}
_starting: set[asyncio.Future[None]] = set()  # spares being started (the loop only keeps weak refs)


async def _spawn() -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *worker_command(), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def prepare_worker() -> None:
    """Start a check process ahead of time, so the next check does not wait ~0.5 s for imports.

    A spare that is never used exits by itself when the station does: its stdin closes.
    """
    loop = asyncio.get_running_loop()
    spare = _spares.get(loop)
    if spare is None or spare.returncode is not None:
        _spares[loop] = await _spawn()


async def _take_worker() -> asyncio.subprocess.Process:
    spare = _spares.pop(asyncio.get_running_loop(), None)
    if spare is not None and spare.returncode is None:
        return spare
    return await _spawn()


async def run_check(plan: CheckPlan) -> AsyncIterator[Event | ConsoleOutput | BatchLogged | LogFailed]:
    """The check in a check process; cancelling this generator kills the process.

    Killing is the right way to stop it: its sockets close with it, so nothing keeps talking to
    the rigs, and the station has nothing to clean up but the process itself.
    """
    process = await _take_worker()
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    stderr_tail = bytearray()

    async def keep_stderr(stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(4096):
            stderr_tail.extend(chunk)
            del stderr_tail[:-STDERR_TAIL]

    stderr_task = asyncio.ensure_future(keep_stderr(process.stderr))
    finished = False
    try:
        spare = asyncio.ensure_future(prepare_worker())  # the next check's process starts meanwhile
        _starting.add(spare)
        spare.add_done_callback(_starting.discard)
        process.stdin.write(encode_frame(plan))
        await process.stdin.drain()
        process.stdin.close()
        appraisals: list[Appraisal] = []
        manifests = {m.digest: m for m in plan.manifests}
        received: dict[str, Evidence] = {}
        while (batch := await read_frame_async(process.stdout)) is not None:
            for event in batch:
                if isinstance(event, SlimAppraised):
                    event = rebuild(event, manifests, received)
                elif isinstance(event, DeviceCollected):
                    received[event.evidence.address] = event.evidence
                if isinstance(event, BatchFinished):
                    if event.appraisals != len(appraisals):
                        raise CheckProcessError(f"the check process appraised {event.appraisals} rigs but "
                                                f"sent {len(appraisals)} verdicts")
                    finished = True
                    yield BatchDone(tuple(appraisals))
                    continue
                if isinstance(event, DeviceAppraised):
                    appraisals.append(event.appraisal)
                yield event
        code = await process.wait()
        await stderr_task
        if not finished:
            last = bytes(stderr_tail).decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise CheckProcessError(f"the check process stopped (exit status {code}) before the check "
                                    f"finished: {last[0]}")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        stderr_task.cancel()


def serial_address(device: str, baud: int) -> str:
    """The row id of a console, in the one spelling the core gives back with its events."""
    text = f"serial:{device}" if "://" in device else f"serial://{device}"
    return parse_address(f"{text}?baud={baud}").address


def target_for(text: str) -> HostTarget | EndpointTarget:
    """A single device address as typed (ranges are expanded by discovery first)."""
    target = parse_address(text)
    if not isinstance(target, HostTarget | EndpointTarget):
        raise AddressError(f"{text!r} is a range: it is discovered first, then each host is added")
    return target

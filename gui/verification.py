"""A check of some rows, planned on the GUI thread and run in a check process through ``fleet``.

``plan_check`` snapshots everything the check needs (targets, manifests, policy, credentials)
into plain data, so the check never reads a live row or widget. ``run_check`` is the op given to
``gui.jobs``: it hands the plan to a check process (``gui.check_worker``, see there for why a
process) and yields the core's own events (``DeviceStarted`` ... ``BatchDone``) as they come
back. ``run_check_here`` is the same check in this process: the worker runs it, and so can a
test.

Every verdict is recorded in the station's signed log the moment it is given (a revision as a
new record citing the one it replaces), and the log is consulted for each serial's earlier
checks. A cancelled check stops its process politely (SIGTERM) so what was judged before the
cancel is committed and signed; only a process that does not stop in time is killed.

Rows are grouped by port profile, one ``verify_many`` per group, because the core takes one
profile per batch; clones are therefore found within a group (in practice one group per
pallet). Serial consoles go with the first group: a console has no ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from attest.address import AddressError, EndpointTarget, HostTarget, PortProfile, parse_address
from attest.appraise import Appraisal
from attest.child_process import module_command
from attest.credentials import CredentialRule, Credentials
from attest.drivers.base import CollectOptions, ConsoleOutput
from attest.evidence import Evidence
from attest.fleet import (
    BatchDone,
    DeviceAppraised,
    DeviceCollected,
    DeviceRevised,
    Discovered,
    Event,
    EvidenceSource,
    verify_many,
)
from attest.image.attach import AttachedDumps, DumpReading
from attest.log.errors import LogError
from attest.log.rebuild import sign_extension
from attest.log.stream import StreamSummary
from attest.manifest import Manifest
from attest.policy import Policy
from attest.station import StationIdentity, StationSigner, public_key_from_pem
from attest.store import QueueState, StoreError, StoreHistory, StoreTarget, configured_target, push_pending, queue_state
from attest.verdict import REASONS
from attest.verify_run import RunLog
from attest.watch import DEFAULT_WINDOW_SECONDS, Watch, parse_listen
from gui.check_frames import (
    BatchFinished,
    SignReply,
    SignRequest,
    SlimAppraised,
    SlimRevised,
    encode_frame,
    read_frame,
    read_frame_async,
    rebuild,
    rebuild_revised,
    write_frame,
)
from gui.console_feed import merge_console_output
from gui.models.rows import DeviceRow, RowKind

log = logging.getLogger(__name__)

#: How much of a dead check process's stderr is kept for the message shown to the technician.
STDERR_TAIL = 4000
#: How long a cancelled check process gets to commit and sign what it judged before it is killed.
STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class LogPlan:
    """Where and as whom the check's verdicts are recorded: the GUI always logs.

    The check process appends the batch itself (so a 1,000-record append never runs in the GUI's
    process), but it never holds the station key: the process reads device bytes, and a key it
    held could be copied out of it and sign anything, for ever. It asks the station to sign the
    one checkpoint it needs (``SignRequest``), and the station signs only a checkpoint that
    extends its log's last one by the batch's records (``answer_sign_request``).
    """

    path: str  # the SQLite log
    station_id: str
    public_pem: str
    operator: str
    store_url: str = ""  # the warehouse store (the station setting; empty: ATTEST_STORE, else none)

    @classmethod
    def of(cls, path: str, signer: StationSigner, operator: str, store_url: str = "") -> LogPlan:
        return cls(path, signer.station_id, signer.identity.public_pem, operator, store_url)

    def identity(self) -> StationIdentity:
        return StationIdentity(self.station_id, public_key_from_pem(self.public_pem))


@dataclass(frozen=True)
class RemoteSigner:
    """The check process's stand-in for the station key (an ``ExtensionSigner``): each
    checkpoint goes to the station as a ``SignRequest`` frame on stdout, and the signature (or
    the refusal) comes back on stdin."""

    identity: StationIdentity
    requests: BinaryIO
    replies: BinaryIO

    @property
    def station_id(self) -> str:
        return self.identity.station_id

    def sign_extension(self, message: bytes, base_size: int, leaves: Sequence[bytes]) -> bytes:
        write_frame(self.requests, [SignRequest(message, base_size, tuple(bytes(leaf) for leaf in leaves))])
        reply = read_frame(self.replies)
        if not isinstance(reply, SignReply):
            raise LogError("STATION_PASSPHRASE_NEEDED", "the station did not answer the request to sign the checkpoint")
        if reply.signature is None:
            raise LogError(reply.code if reply.code in REASONS else "LOG_INCONSISTENT", reply.message)
        return reply.signature


def answer_sign_request(request: SignRequest, log: LogPlan | None, signer: StationSigner | None) -> SignReply:
    """The station's side (job thread): sign only a checkpoint that extends its log."""
    if log is None or signer is None:
        return SignReply(None, "STATION_PASSPHRASE_NEEDED",
                         "the station key is not open, so the batch cannot be signed")
    if signer.station_id != log.station_id:
        return SignReply(None, "LOG_WRONG_STATION", f"the check was planned for station {log.station_id!r}")
    try:
        return SignReply(sign_extension(log.path, signer, request.message, request.base_size, request.leaves))
    except LogError as e:
        return SignReply(None, e.code, e.message)


@dataclass(frozen=True)
class BatchLogged:
    """The batch's verdicts are in the signed log: ``records`` of them (``revisions`` of those
    revising an earlier verdict of the batch) from leaf ``first`` on, and the checkpoint signed
    over the log of ``size`` records (its root is what the PDF report and receipts carry)."""

    first: int
    size: int
    root_hex: str
    time: str
    batch: str
    station_fingerprint: str
    records: int = 0
    revisions: int = 0


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
    discovered: tuple[Discovered, ...] = ()  # what a range scan saw on hosts that did not identify

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
    discovered = tuple(row.discovered for row in rows if row.discovered is not None)
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
                     options, concurrency or policy.concurrency, log, watch, dumps, discovered)


async def run_check_here(plan: CheckPlan, signer: StationSigner | RemoteSigner | None = None, *,
                         interrupted: Callable[[BatchLogged | LogFailed], None] | None = None,
                         ) -> AsyncIterator[Event | ConsoleOutput | BatchLogged | LogFailed | StoreSynced]:
    """The check in this process: every group through ``verify_many``; one BatchDone at the end.

    Each verdict is recorded as it is given; what became of the records comes as BatchLogged (or
    LogFailed) just before BatchDone, or, when the check is stopped early, goes to
    ``interrupted`` (the generator cannot yield any more by then). With a watch, it listens from
    the start and every group's rigs are judged over its window; with a warehouse store, the store
    is consulted for each serial and pushed to after the records are in the station's log.
    ``signer`` signs the checkpoints when ``plan.log`` is set (the check process's is remote).
    """
    run_log, failed = _open_log(plan.log, signer)
    appraisals: list[Appraisal] = []
    finished = False
    result: BatchLogged | LogFailed | None = failed
    store, problem = _store_of(plan.log)
    store_histories = [StoreHistory(store)] if store is not None else []
    watch = None
    try:
        if plan.watch is not None:
            watch = await Watch(plan.watch.address, plan.watch.dns_port, tcp_ports=plan.watch.ports).start()
        sources: tuple[EvidenceSource, ...] = ((watch.evidence_source(plan.watch.seconds),)
                                               if watch is not None and plan.watch else ())
        if plan.dumps:
            sources = (*sources, AttachedDumps(by_address=dict(plan.dumps)))
        if run_log is not None:
            run_log.start()
        station = plan.log.station_id if plan.log is not None else None
        logging_to: dict[str, Any] = {"histories": tuple(store_histories), "station": station}
        if run_log is not None:
            logging_to = {"histories": (run_log.history, *store_histories), "station": run_log.signer.station_id,
                          "batch": run_log.batch_id}
        for ports, targets in plan.groups:
            def stream(options: CollectOptions, ports: PortProfile = ports,
                       targets: tuple[HostTarget | EndpointTarget, ...] = targets) -> AsyncIterator[Event]:
                return verify_many(targets, manifests=plan.manifests, policy=plan.policy, ports=ports,
                                   credentials=plan.credentials, options=options, concurrency=plan.concurrency,
                                   discovered=plan.discovered, sources=sources, **logging_to)

            consoles = any(isinstance(t, EndpointTarget) and t.kind == "serial" for t in targets)
            events = merge_console_output(stream, plan.options) if consoles else stream(plan.options)
            async for event in events:  # a serial console's chunks ride along, for the live console tab
                if isinstance(event, BatchDone):
                    appraisals.extend(event.appraisals)
                    continue
                if run_log is not None:
                    run_log.on_event(event)
                yield event
        finished = True
    finally:
        if watch is not None:
            await watch.close()
        for history in store_histories:
            await history.aclose()
        if run_log is not None:
            result = _log_result(run_log, run_log.close())
            if not finished and interrupted is not None and result is not None:
                interrupted(result)
    if result is not None and appraisals:
        yield result
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


def _open_log(plan: LogPlan | None, signer: StationSigner | RemoteSigner | None,
              ) -> tuple[RunLog | None, LogFailed | None]:
    """The run's log records and history; a log that cannot be opened leaves the check to run
    (its verdicts stand) and says so at the end."""
    if plan is None:
        return None, None
    if signer is None:
        return None, LogFailed("STATION_PASSPHRASE_NEEDED",
                               "the station key is not open, so the check was not recorded")
    try:
        return RunLog(plan.path, signer, plan.operator), None  # type: ignore[arg-type]
    except LogError as e:
        return None, LogFailed(e.code, e.message)
    except ValueError as e:  # a damaged key handed over: never a crash of the check
        return None, LogFailed("STATION_FILES_INVALID", str(e))


def _log_result(run_log: RunLog, summary: StreamSummary | None) -> BatchLogged | LogFailed | None:
    if summary is None or (summary.recorded == 0 and summary.error is None):
        return None
    if summary.error is not None and (summary.recorded == 0 or summary.checkpoint is None):
        return LogFailed(summary.error.code, summary.error.message)
    if summary.error is not None:
        return LogFailed(summary.error.code, f"only {summary.recorded} of {summary.recorded + summary.not_recorded} "
                         f"verdicts were recorded: {summary.error.message}")
    checkpoint = summary.checkpoint
    assert checkpoint is not None and summary.first is not None
    return BatchLogged(summary.first, checkpoint.tree_size, checkpoint.root_hash.hex(), checkpoint.time,
                       run_log.batch_id, run_log.signer.identity.fingerprint, summary.recorded, summary.revisions)


class CheckProcessError(RuntimeError):
    """The check process ended without finishing the check; the message says how."""


def worker_command() -> list[str]:
    """How to start a check process: the bundle's own executable, or this Python running the
    ``gui`` package this process imported (never one from the working directory)."""
    return module_command("gui.check_worker", frozen_flag="--check-worker")


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


async def run_check(plan: CheckPlan, signer: StationSigner | None = None, *,
                    interrupted: Callable[[BatchLogged | LogFailed], None] | None = None,
                    ) -> AsyncIterator[Event | ConsoleOutput | BatchLogged | LogFailed]:
    """The check in a check process; cancelling this generator stops the process. ``signer``
    (the open station key) stays in this process: it answers the process's ``SignRequest``.

    It is asked to stop (SIGTERM): its sockets close as its check is cancelled, so nothing keeps
    talking to the rigs, and it commits and signs the verdicts it gave before it exits; what
    became of them goes to ``interrupted``. One that does not stop within STOP_GRACE_SECONDS is
    killed: the station has nothing to clean up but the process itself.
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
        await process.stdin.drain()  # stdin stays open: the answers to SignRequest go there
        latest: dict[str, Appraisal] = {}  # address -> its newest verdict (revisions replace)
        manifests = {m.digest: m for m in plan.manifests}
        received: dict[str, Evidence] = {}
        while (batch := await read_frame_async(process.stdout)) is not None:
            for event in batch:
                if isinstance(event, SignRequest):
                    reply = await asyncio.to_thread(answer_sign_request, event, plan.log, signer)
                    process.stdin.write(encode_frame(reply))
                    await process.stdin.drain()
                    continue
                if isinstance(event, SlimAppraised):
                    event = rebuild(event, manifests, received)
                elif isinstance(event, SlimRevised):
                    event = rebuild_revised(event, manifests, received, latest)
                elif isinstance(event, DeviceCollected):
                    received[event.evidence.address] = event.evidence
                if isinstance(event, BatchFinished):
                    if event.appraisals != len(latest):
                        raise CheckProcessError(f"the check process appraised {event.appraisals} rigs but "
                                                f"sent {len(latest)} verdicts")
                    finished = True
                    yield BatchDone(_in_plan_order(plan, latest))
                    continue
                if isinstance(event, DeviceAppraised | DeviceRevised):
                    latest[event.appraisal.address] = event.appraisal
                yield event
        process.stdin.close()
        code = await process.wait()
        await stderr_task
        if not finished:
            last = bytes(stderr_tail).decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise CheckProcessError(f"the check process stopped (exit status {code}) before the check "
                                    f"finished: {last[0]}")
    finally:
        if process.returncode is None:
            await _stop(process, interrupted, plan.log, signer)
        stderr_task.cancel()


def _in_plan_order(plan: CheckPlan, latest: dict[str, Appraisal]) -> tuple[Appraisal, ...]:
    ordered = [latest[a] for a in dict.fromkeys(plan.device_ids()) if a in latest]
    known = {a.address for a in ordered}
    return (*ordered, *(a for address, a in latest.items() if address not in known))


async def _stop(process: asyncio.subprocess.Process,
                interrupted: Callable[[BatchLogged | LogFailed], None] | None,
                log_plan: LogPlan | None, signer: StationSigner | None) -> None:
    """Ask a check process to stop and read what it still says (the fate of its log records)
    until it exits, answering its request to sign what it recorded; kill it if it takes longer
    than STOP_GRACE_SECONDS."""
    with contextlib.suppress(ProcessLookupError):
        process.terminate()

    async def drain() -> None:
        assert process.stdout is not None
        while (batch := await read_frame_async(process.stdout)) is not None:
            for event in batch:
                if isinstance(event, SignRequest) and process.stdin is not None:
                    reply = await asyncio.to_thread(answer_sign_request, event, log_plan, signer)
                    with contextlib.suppress(ConnectionError):
                        process.stdin.write(encode_frame(reply))
                        await process.stdin.drain()
                elif isinstance(event, BatchLogged | LogFailed) and interrupted is not None:
                    interrupted(event)
        await process.wait()

    try:
        async with asyncio.timeout(STOP_GRACE_SECONDS):
            await drain()
    except (TimeoutError, EOFError, ValueError, pickle.UnpicklingError) as e:
        log.warning("the check process did not stop cleanly (%s); killing it", type(e).__name__)
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


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

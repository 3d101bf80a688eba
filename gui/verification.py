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
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from attest.address import AddressError, EndpointTarget, HostTarget, PortProfile, parse_address
from attest.appraise import Appraisal
from attest.child_process import module_command
from attest.credentials import CredentialRule, Credentials
from attest.drivers.base import CollectOptions, ConsoleOutput
from attest.evidence import Evidence
from attest.fleet import BatchDone, DeviceAppraised, DeviceCollected, Event, verify_many
from attest.log.append import new_batch_id
from attest.log.commands import log_appraisals
from attest.log.errors import LogError
from attest.log.rebuild import sign_extension
from attest.manifest import Manifest
from attest.policy import Policy
from attest.station import StationIdentity, StationSigner, public_key_from_pem
from attest.verdict import REASONS
from gui.check_frames import (
    BatchFinished,
    SignReply,
    SignRequest,
    SlimAppraised,
    encode_frame,
    read_frame,
    read_frame_async,
    rebuild,
    write_frame,
)
from gui.console_feed import merge_console_output
from gui.models.rows import DeviceRow, RowKind

log = logging.getLogger(__name__)

#: How much of a dead check process's stderr is kept for the message shown to the technician.
STDERR_TAIL = 4000


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

    @classmethod
    def of(cls, path: str, signer: StationSigner, operator: str) -> LogPlan:
        return cls(path, signer.station_id, signer.identity.public_pem, operator)

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
class CheckPlan:
    groups: tuple[tuple[PortProfile, tuple[HostTarget | EndpointTarget, ...]], ...]
    skipped: tuple[str, ...]  # pending rows: nothing to reach yet
    manifests: tuple[Manifest, ...]
    policy: Policy
    credentials: Credentials
    options: CollectOptions
    concurrency: int
    log: LogPlan | None = None

    @property
    def total(self) -> int:
        return sum(len(t) for _, t in self.groups)

    def device_ids(self) -> list[str]:
        return [t.address for _, targets in self.groups for t in targets]


def plan_check(rows: Sequence[DeviceRow], *, manifests: Sequence[Manifest], policy: Policy,
               default_ports: PortProfile, request_timeout: float | None, hash_timeout: float | None,
               concurrency: int | None, log: LogPlan | None = None) -> CheckPlan:
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
                             hash_timeout=hash_timeout or policy.hash_timeout)
    return CheckPlan(tuple((p, tuple(t)) for p, t in groups.items()), tuple(skipped),
                     tuple(manifests), policy, Credentials(tuple(rules), policy.allow_vendor_defaults),
                     options, concurrency or policy.concurrency, log)


async def run_check_here(plan: CheckPlan, signer: StationSigner | RemoteSigner | None = None,
                         ) -> AsyncIterator[Event | ConsoleOutput | BatchLogged | LogFailed]:
    """The check in this process: every group through ``verify_many``; one BatchDone at the end.
    ``signer`` signs the batch's checkpoint when ``plan.log`` is set (the worker's is remote)."""
    appraisals: list[Appraisal] = []
    for ports, targets in plan.groups:
        def stream(options: CollectOptions, ports: PortProfile = ports,
                   targets: tuple[HostTarget | EndpointTarget, ...] = targets) -> AsyncIterator[Event]:
            return verify_many(targets, manifests=plan.manifests, policy=plan.policy, ports=ports,
                               credentials=plan.credentials, options=options, concurrency=plan.concurrency)

        consoles = any(isinstance(t, EndpointTarget) and t.kind == "serial" for t in targets)
        events = merge_console_output(stream, plan.options) if consoles else stream(plan.options)
        async for event in events:  # a serial console's chunks ride along, for the live console tab
            if isinstance(event, BatchDone):
                appraisals.extend(event.appraisals)
            else:
                yield event
    if plan.log is not None and appraisals:
        yield log_check(plan.log, appraisals, signer)
    yield BatchDone(tuple(appraisals))


def log_check(plan: LogPlan, appraisals: Sequence[Appraisal],
              signer: StationSigner | RemoteSigner | None) -> BatchLogged | LogFailed:
    """Record the batch in one transaction; a failure loses nothing already recorded."""
    batch = new_batch_id(datetime.now(UTC))
    if signer is None:
        return LogFailed("STATION_PASSPHRASE_NEEDED", "the station key is not open, so the batch was not recorded")
    try:
        checkpoint = log_appraisals(plan.path, appraisals, signer=signer, operator=plan.operator,  # type: ignore[arg-type]
                                    batch_id=batch)
    except LogError as e:
        return LogFailed(e.code, e.message)
    except ValueError as e:  # a damaged station identity handed over: never a crash of the check
        return LogFailed("STATION_FILES_INVALID", str(e))
    first = checkpoint.tree_size - len(appraisals)  # the batch is appended whole, in one transaction
    return BatchLogged(first, checkpoint.tree_size, checkpoint.root_hash.hex(), checkpoint.time, batch,
                       signer.identity.fingerprint)


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


async def run_check(plan: CheckPlan, signer: StationSigner | None = None,
                    ) -> AsyncIterator[Event | ConsoleOutput | BatchLogged | LogFailed]:
    """The check in a check process; cancelling this generator kills the process. ``signer``
    (the open station key) stays in this process: it answers the process's ``SignRequest``.

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
        await process.stdin.drain()  # stdin stays open: the answers to SignRequest go there
        appraisals: list[Appraisal] = []
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
        process.stdin.close()
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

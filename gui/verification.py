"""A check of some rows, planned on the GUI thread and run on the job thread through ``fleet``.

``plan_check`` snapshots everything the check needs (targets, manifests, policy, credentials)
into plain data, so the job never reads a live row or widget. ``run_check`` is the op given to
``gui.jobs``: it yields the core's own events (``DeviceStarted`` ... ``BatchDone``).

Rows are grouped by port profile, one ``verify_many`` per group, because the core takes one
profile per batch; clones are therefore found within a group (in practice one group per
pallet).

Serial consoles have no driver yet (a later issue). Their rows are not faked: the port is looked
for (a vanished adapter is UNREACHABLE) and otherwise the evidence records that nothing could be
read, and the core's appraisal turns that into UNKNOWN with the reason spelled out.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from attest.address import AddressError, EndpointTarget, HostTarget, PortProfile, parse_address
from attest.appraise import Appraisal, appraise_batch
from attest.credentials import CredentialRule, Credentials
from attest.drivers.base import CollectOptions
from attest.evidence import Evidence, Problem
from attest.fleet import BatchDone, DeviceAppraised, DeviceCollected, DeviceStarted, Event, verify_many
from attest.manifest import Manifest
from attest.policy import Policy
from attest.verdict import REASONS
from gui.models.rows import DeviceRow, RowKind

#: The code the core will give "no driver reads this endpoint kind"; until it exists the closest
#: existing code is used and the detail says exactly what happened.
NO_DRIVER_CODE = "DRIVER_UNAVAILABLE" if "DRIVER_UNAVAILABLE" in REASONS else "NOT_THIS_FAMILY"


@dataclass(frozen=True)
class CheckPlan:
    groups: tuple[tuple[PortProfile, tuple[HostTarget | EndpointTarget, ...]], ...]
    serial_ids: tuple[str, ...]
    skipped: tuple[str, ...]  # pending rows: nothing to reach yet
    manifests: tuple[Manifest, ...]
    policy: Policy
    credentials: Credentials
    options: CollectOptions
    concurrency: int

    @property
    def total(self) -> int:
        return sum(len(t) for _, t in self.groups) + len(self.serial_ids)

    def device_ids(self) -> list[str]:
        return [t.address for _, targets in self.groups for t in targets] + list(self.serial_ids)


def plan_check(rows: Sequence[DeviceRow], *, manifests: Sequence[Manifest], policy: Policy,
               default_ports: PortProfile, request_timeout: float | None, hash_timeout: float | None,
               concurrency: int | None) -> CheckPlan:
    groups: dict[PortProfile, list[HostTarget | EndpointTarget]] = {}
    serial_ids: list[str] = []
    skipped: list[str] = []
    rules: list[CredentialRule] = []
    for row in rows:
        if row.kind is RowKind.SERIAL:
            serial_ids.append(row.device_id)
        elif row.target is None:
            skipped.append(row.device_id)
        else:
            groups.setdefault(row.ports or default_ports, []).append(row.target)
            if row.credential is not None:
                rules.append(CredentialRule(row.host, row.credential_kind, row.credential))
    options = CollectOptions(timeout=request_timeout or policy.request_timeout,
                             hash_timeout=hash_timeout or policy.hash_timeout)
    return CheckPlan(tuple((p, tuple(t)) for p, t in groups.items()), tuple(serial_ids), tuple(skipped),
                     tuple(manifests), policy, Credentials(tuple(rules), policy.allow_vendor_defaults),
                     options, concurrency or policy.concurrency)


async def run_check(plan: CheckPlan) -> AsyncIterator[Event]:
    """The job: every group through ``verify_many``, then the serial rows; one BatchDone at the end."""
    appraisals: list[Appraisal] = []
    for ports, targets in plan.groups:
        async for event in verify_many(targets, manifests=plan.manifests, policy=plan.policy, ports=ports,
                                       credentials=plan.credentials, options=plan.options,
                                       concurrency=plan.concurrency):
            if isinstance(event, BatchDone):
                appraisals.extend(event.appraisals)
            else:
                yield event
    if plan.serial_ids:
        evidences = []
        for device_id in plan.serial_ids:
            yield DeviceStarted(device_id)
            evidence = Evidence(device_id, (), (serial_problem(device_id),))
            evidences.append(evidence)
            yield DeviceCollected(evidence)
        for appraisal in appraise_batch(evidences, plan.manifests, plan.policy):
            appraisals.append(appraisal)
            yield DeviceAppraised(appraisal)
    yield BatchDone(tuple(appraisals))


def serial_address(device: str, baud: int) -> str:
    """The row id of a console: ``serial:///dev/ttyUSB0?baud=115200`` or ``serial:socket://h:p``."""
    if "://" in device:
        return f"serial:{device}"
    return f"serial://{device}?baud={baud}"


def serial_device(device_id: str) -> str:
    """The pyserial port name or URL inside a ``serial:`` row id."""
    rest = device_id.removeprefix("serial:")
    if rest.startswith("//"):
        return urlsplit(device_id).path or rest[2:]
    return rest


def serial_problem(device_id: str) -> Problem:
    """Why a serial row has no evidence: the adapter is gone, or there is no driver to read it."""
    device = serial_device(device_id)
    if "://" not in device and not os.path.exists(device):
        return Problem("UNREACHABLE", device_id,
                       f"the serial port {device} is not present (unplugged, or the adapter vanished)")
    return Problem(NO_DRIVER_CODE, device_id,
                   "Rig Attest has no serial-console driver yet (it comes with a later release): "
                   "nothing was read from this port, so the unit could not be checked")


def target_for(text: str) -> HostTarget | EndpointTarget:
    """A single device address as typed (ranges are expanded by discovery first)."""
    target = parse_address(text)
    if not isinstance(target, HostTarget | EndpointTarget):
        raise AddressError(f"{text!r} is a range: it is discovered first, then each host is added")
    return target

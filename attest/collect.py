"""Collect Evidence from one device: every endpoint its address reaches, concurrently.

Drivers report; this module only decides which endpoints to ask and turns their expected
failures into Problems, so one dead interface never hides what the others said.
"""

from __future__ import annotations

import asyncio
import logging

from attest.address import EndpointTarget, HostTarget, PortProfile
from attest.claim_values import checked
from attest.credentials import Credentials
from attest.drivers import driver_for_kind
from attest.drivers.base import (
    NOT_THIS_FAMILY,
    UNREACHABLE,
    CollectError,
    CollectOptions,
    Credential,
    Endpoint,
    Session,
)
from attest.evidence import Claim, Evidence, Problem, Transcript

log = logging.getLogger(__name__)

#: Endpoint kinds tried on a bare host, in the order their claims are listed (and preferred on a
#: tie of assurance: Whatsminer API v3 names more than v2, so it comes first).
HOST_KINDS = ("whatsminer3", "api", "web", "ssh", "grpc")
#: Kinds most hosts do not serve: their refused port is no problem once another kind answered.
OPTIONAL_KINDS = ("whatsminer3", "grpc")


def endpoints_for(target: HostTarget | EndpointTarget, ports: PortProfile,
                  credentials: Credentials) -> list[Endpoint]:
    if isinstance(target, EndpointTarget):
        explicit = (Credential(target.username, target.password or "")
                    if target.username is not None and target.password is not None else None)
        creds = credentials.for_endpoint(target.host, target.kind, explicit)
        if target.username is not None and target.password is None:
            creds = tuple(c for c in creds if c.username == target.username)
        return [Endpoint(target.kind, target.host, target.port, creds, target.params)]
    host = target.host
    return [Endpoint(kind, host, getattr(ports, kind), credentials.for_endpoint(host, kind))
            for kind in HOST_KINDS]


def device_deadline(options: CollectOptions, kind: str = "") -> float:
    """A backstop over the drivers' own per-read timeouts: no device may hold a batch forever.

    A serial console may also wait for a boot, and hashes flash twice (in U-Boot, then Linux); SSH
    streams the flash to the station within ``measure_timeout`` besides.
    """
    backstop = options.timeout * 12 + options.hash_timeout
    if kind in ("ssh", ""):
        backstop += options.measure_timeout
    return backstop + options.boot_timeout + options.hash_timeout if kind == "serial" else backstop


async def collect(target: HostTarget | EndpointTarget, *, ports: PortProfile,
                  credentials: Credentials, options: CollectOptions) -> Evidence:
    transcript = Transcript()
    session = Session(options, transcript)
    endpoints = endpoints_for(target, ports, credentials)
    outcomes = await asyncio.gather(*(_collect_endpoint(ep, session) for ep in endpoints))
    claims: list[Claim] = []
    problems: list[Problem] = []
    for got, problem in outcomes:
        claims.extend(got)
        if problem is not None:
            problems.append(problem)
    problems.extend(session.problems)
    problems = _drop_expected_absences(claims, problems, endpoints)
    return Evidence(target.address, tuple(claims), tuple(problems), transcript)


async def _collect_endpoint(endpoint: Endpoint, session: Session) -> tuple[list[Claim], Problem | None]:
    try:
        driver = driver_for_kind(endpoint.kind)
    except KeyError:
        return [], Problem("DRIVER_UNAVAILABLE", endpoint.label,
                           f"this version of Rig Attest has no driver for {endpoint.kind} endpoints; nothing was read")
    try:
        async with asyncio.timeout(device_deadline(session.options, endpoint.kind)):
            got = await driver.collect(endpoint, session)
        # Every value is checked before it is a claim (attest.claim_values): one refused value
        # costs that claim and becomes a problem, never the reply.
        kept, refused = checked(got, endpoint.label)
        for problem in refused:
            session.note(problem)
        return kept, None
    except CollectError as e:
        return [], Problem(e.code, endpoint.label, e.message)
    except TimeoutError:
        return [], Problem("TIMEOUT", endpoint.label, "the device did not finish answering before the deadline")
    except Exception as e:  # a driver bug must not sink the batch; it is logged and shown
        log.exception("driver %s failed on %s", driver.NAME, endpoint.label)
        return [], Problem("INTERNAL_ERROR", endpoint.label, f"{type(e).__name__}: {e}")


def _drop_expected_absences(claims: list[Claim], problems: list[Problem],
                            endpoints: list[Endpoint]) -> list[Problem]:
    """A Whatsminer has no Antminer web UI: its closed port 80 is not a problem worth showing."""
    models = {str(c.value) for c in claims if c.name == "unit.model"}
    web_labels = {ep.label for ep in endpoints if ep.kind == "web"}
    optional = {ep.label for ep in endpoints if ep.kind in OPTIONAL_KINDS}
    # Something is there when a kind answered, or when a port at least took the connection (a rig
    # that hangs or talks garbage): then a refused optional port (most rigs have no 4433 or 50051)
    # says nothing, and must not become the reason the technician reads first.
    listening = bool(claims) or any(p.code != UNREACHABLE and p.endpoint not in optional for p in problems)
    if listening:
        problems = [p for p in problems if not (p.endpoint in optional and p.code in (UNREACHABLE, NOT_THIS_FAMILY))]
    if models and not any(m.lower().startswith("antminer") for m in models):
        return [p for p in problems if not (p.endpoint in web_labels and p.code == UNREACHABLE)]
    return problems

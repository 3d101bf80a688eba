"""Braiins OS (BOSer, 22.08 and later) public API: gRPC on TCP 50051.

``ApiVersionService/GetApiVersion`` answers anyone (discovery); ``AuthenticationService/Login``
(root with an empty password out of the box) returns a token in the ``authorization`` metadata,
which ``MinerService/GetMinerDetails`` (model, unit serial, MAC, PSU serial, Braiins OS version,
control board SoC) and ``MinerService/GetHashboards`` (each board's serial and chips) need. Only
these reads are ever called. Braiins OS is not the manufacturer's firmware: what it reports is
``reported`` and its version is in no vendor's manifest. The older BOSminer API on 4028 is read by
the cgminer driver (its ``BOSminer``, ``BOSminer+`` and ``BOSer`` version keys).
"""

from __future__ import annotations

import asyncio
from typing import Any

from google.protobuf.message import DecodeError

from attest.drivers import braiins_proto as proto
from attest.drivers.base import AUTH_FAILED, MALFORMED_REPLY, CollectError, Endpoint, Session
from attest.drivers.cgminer_api import MAX_SLOTS, claim, text
from attest.evidence import Claim, printable
from attest.transport import grpc
from attest.transport.errors import TransportError

NAME = "braiins"
KIND = "grpc"
DEFAULT_PORT = 50051
SCHEMES = ("braiins+grpc",)
FAMILY = "braiins-os"


async def _call(endpoint: Endpoint, session: Session, path: str, request: Any, reply_type: str,
                token: str | None = None) -> tuple[Any, dict[str, str]]:
    def record(direction: str, data: bytes) -> None:
        session.transcript.record(endpoint.label, direction, data)

    try:
        raw, metadata = await grpc.unary(endpoint.host, endpoint.port, path, request.SerializeToString(),
                                         metadata={"authorization": token} if token else None,
                                         timeout=session.options.timeout,
                                         max_bytes=session.options.max_reply_bytes, record=record)
    except TransportError as exc:
        raise CollectError(exc.code, f"{endpoint.label} {printable(exc.message)}") from None
    try:
        return proto.parse(reply_type, raw), metadata
    except DecodeError:
        raise CollectError(MALFORMED_REPLY, f"{endpoint.label} {path}: not a {reply_type} message") from None


async def identify(host: str, port: int, session: Session) -> str | None:
    try:
        await _call(Endpoint(KIND, host, port), session, proto.API_VERSION, proto.message("ApiVersionRequest"),
                    "ApiVersion")
    except CollectError:
        return None
    return FAMILY


async def _login(endpoint: Endpoint, session: Session) -> str:
    if not endpoint.credentials:
        # Nothing to log in with: still learn whether Braiins OS answers here at all, so a closed
        # port reads as closed, not as a refused login.
        await _call(endpoint, session, proto.API_VERSION, proto.message("ApiVersionRequest"), "ApiVersion")
        raise CollectError(AUTH_FAILED, f"{endpoint.label} requires credentials to log in; none were given")
    tried: list[str] = []
    for credential in endpoint.credentials:
        request = proto.message("LoginRequest", username=credential.username, password=credential.password)
        try:
            reply, metadata = await _call(endpoint, session, proto.LOGIN, request, "LoginResponse")
        except CollectError as exc:
            if exc.code != AUTH_FAILED:
                raise
            tried.append(credential.username)
            continue
        token = metadata.get("authorization") or reply.token
        if token and len(token) <= 512 and token.isprintable():
            return token
    users = ", ".join(printable(u, 64) for u in tried) or "none given"
    raise CollectError(AUTH_FAILED, f"{endpoint.label} Login refused every credential tried (users: {users})")


async def collect(endpoint: Endpoint, session: Session) -> list[Claim]:
    token = await _login(endpoint, session)
    details, boards = await asyncio.gather(
        _call(endpoint, session, proto.MINER_DETAILS, proto.message("GetMinerDetailsRequest"),
              "GetMinerDetailsResponse", token),
        _call(endpoint, session, proto.HASHBOARDS, proto.message("GetHashboardsRequest"),
              "GetHashboardsResponse", token),
        return_exceptions=True)
    if isinstance(details, BaseException):
        raise details
    claims = details_claims(details[0], f"{endpoint.label} GetMinerDetails")
    if isinstance(boards, CollectError):
        session.note_failure(endpoint.label, boards)  # the details still stand
    elif isinstance(boards, BaseException):
        raise boards
    else:
        claims += hashboard_claims(boards[0], f"{endpoint.label} GetHashboards")
    return claims


def details_claims(details: Any, source: str) -> list[Claim]:
    claims = claim("unit.model", text(details.miner_identity.name), source)
    claims += claim("unit.serial", text(details.serial_number), source)
    claims += claim("net.mac", text(details.mac_address), source)
    claims += claim("psu.serial", text(details.psu_info.serial_number), source)
    claims += claim("firmware.build", text(details.bos_version.current), source)
    edition = "Braiins OS+" if details.bos_version.bos_plus else "Braiins OS"
    major = text(details.bos_version.major)
    claims += claim("firmware.type", f"{edition} {major}" if major else edition, source)
    claims += claim("control_board.type", proto.SOC_FAMILIES.get(details.control_board_soc_family), source)
    return claims


def hashboard_claims(reply: Any, source: str) -> list[Claim]:
    """Boards by their place in id order: Braiins OS names them by chain ("1".."3", or "6".."8"
    on the S9), so the order of the ids is the order of the slots."""
    boards = list(reply.hashboards)[:MAX_SLOTS]
    numeric = all(b.id.isdigit() and len(b.id) < 4 for b in boards)
    ordered = sorted(boards, key=lambda b: int(b.id)) if numeric else boards
    claims: list[Claim] = []
    for slot, board in enumerate(ordered):
        claims += claim(f"hashboard.{slot}.serial", text(board.serial_number), source)
        if board.HasField("chips_count"):
            claims += claim(f"hashboard.{slot}.chips", board.chips_count.value, source)
    return claims

"""A simulated Braiins OS public API: gRPC on TCP 50051 (grpclib server, protobuf messages).

GetApiVersion answers anyone; Login takes root with the rig's password (empty, as shipped) and
returns a token in the ``authorization`` response metadata, as BOSer does; GetMinerDetails and
GetHashboards answer UNAUTHENTICATED without that token. Every other method is UNIMPLEMENTED.
"""

from __future__ import annotations

import secrets
from typing import Any

from grpclib.const import Cardinality, Handler, Status
from grpclib.encoding.proto import ProtoCodec
from grpclib.exceptions import GRPCError
from grpclib.server import Server, Stream

from attest.drivers import braiins_proto as proto
from attest.sim.rig import Rig

API_VERSION = (1, 3, 0)


def _types(name: str) -> Any:
    return type(proto.message(name))


class BraiinsApi:
    """The handlers for one rig (grpclib finds them through ``__mapping__``)."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.tokens: set[str] = set()

    def __mapping__(self) -> dict[str, Handler]:
        def unary(func: Any, request: str, reply: str) -> Handler:
            return Handler(func, Cardinality.UNARY_UNARY, _types(request), _types(reply))

        return {
            proto.API_VERSION: unary(self.api_version, "ApiVersionRequest", "ApiVersion"),
            proto.LOGIN: unary(self.login, "LoginRequest", "LoginResponse"),
            proto.MINER_DETAILS: unary(self.miner_details, "GetMinerDetailsRequest", "GetMinerDetailsResponse"),
            proto.HASHBOARDS: unary(self.hashboards, "GetHashboardsRequest", "GetHashboardsResponse"),
        }

    async def api_version(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        major, minor, patch = API_VERSION
        await stream.send_message(proto.message("ApiVersion", major=major, minor=minor, patch=patch))

    async def login(self, stream: Stream[Any, Any]) -> None:
        request = await stream.recv_message()
        if request is None or request.username != self.rig.username or \
                request.password != self.rig.extras.get("grpc_password", ""):
            raise GRPCError(Status.UNAUTHENTICATED, "Invalid username or password")
        token = secrets.token_hex(16)
        self.tokens.add(token)
        await stream.send_initial_metadata(metadata={"authorization": token})
        await stream.send_message(proto.message("LoginResponse", token=token, timeout_s=3600))

    def _check(self, stream: Stream[Any, Any]) -> None:
        if (stream.metadata or {}).get("authorization") not in self.tokens:
            raise GRPCError(Status.UNAUTHENTICATED, "Missing or invalid authorization token")

    async def miner_details(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        self._check(stream)
        rig = self.rig
        current = f"{rig.firmware_build}-0-c7e7fee8-{rig.firmware_version}-plus"
        await stream.send_message(proto.message(
            "GetMinerDetailsResponse", uid=rig.serial[-8:].lower(),
            miner_identity=proto.message("MinerIdentity", brand=1, name=rig.model, miner_model=rig.model),
            platform=7, bos_mode=4,
            bos_version=proto.message("BosVersion", current=current,
                                      major=rig.firmware_version.rsplit(".", 1)[0], bos_plus=True),
            hostname=rig.hostname, mac_address=rig.mac, system_uptime=3600, bosminer_uptime_s=3500,
            system_uptime_s=3600, status=2, kernel_version="6.1.54",
            psu_info=proto.message("PsuInfo", serial_number=rig.psu_serial, model_name="APW12"),
            control_board_soc_family=3, serial_number=rig.serial))

    async def hashboards(self, stream: Stream[Any, Any]) -> None:
        await stream.recv_message()
        self._check(stream)
        boards = [proto.message("Hashboard", id=str(b.slot + 1), enabled=True,
                                chips_count=proto.message("UInt32Value", value=b.chips), model="BHB42601",
                                serial_number=b.serial, board_name=f"HB{b.slot}", chip_type="BM1362")
                  for b in sorted(self.rig.hashboards, key=lambda b: b.slot)]
        await stream.send_message(proto.message("GetHashboardsResponse", hashboards=boards))


class GrpcServer:
    """A started grpclib server with asyncio.Server's close/wait_closed."""

    def __init__(self, server: Server) -> None:
        self._server = server

    @property
    def port(self) -> int:
        """The port listened on (for port 0); grpclib keeps its asyncio server as ``_server``."""
        return int(self._server._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]

    def close(self) -> None:
        self._server.close()

    async def wait_closed(self) -> None:
        await self._server.wait_closed()


async def start_grpc_server(rig: Rig, host: str, port: int) -> GrpcServer:
    server = Server([BraiinsApi(rig)], codec=ProtoCodec())
    await server.start(host, port, reuse_address=True)
    return GrpcServer(server)

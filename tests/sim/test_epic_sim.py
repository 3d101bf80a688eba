"""The simulated ePIC rig: HTTP on the API port, as independent clients (curl, a raw socket) see it."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Awaitable, Callable

import pytest

from attest.sim.epic import DEFAULT_PASSWORD, start_epic_servers
from attest.sim.scenarios import make_rig
from tests.conftest import skip_unless_ci


def with_rig(check: Callable[[int, int], Awaitable[object]]) -> object:
    rig = make_rig(50, "antminer-epic", "127.0.0.1")

    async def go() -> object:
        servers = await start_epic_servers(rig, "127.0.0.1", 0, 0)
        try:
            api, web = (s.sockets[0].getsockname()[1] for s in servers)
            return await check(api, web)
        finally:
            for server in servers:
                server.close()
            for server in servers:
                await server.wait_closed()

    return asyncio.run(go())


async def exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)  # to EOF: the server must close
    finally:
        writer.close()


def test_a_cgminer_request_gets_400_at_once_and_the_connection_closed():
    reply = with_rig(lambda api, _: exchange(api, b'{"command":"version+stats+pools+devdetails"}'))
    assert isinstance(reply, bytes) and reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_writes_need_the_password_and_are_refused_even_with_it():
    async def check(api: int, _: int) -> tuple[bytes, bytes]:
        def post(password: str) -> bytes:
            body = json.dumps({"password": password, "param": "Stop"}).encode()
            return (b"POST /miner HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

        return await exchange(api, post("wrong")), await exchange(api, post(DEFAULT_PASSWORD))

    wrong, right = with_rig(check)  # type: ignore[misc]
    assert wrong.startswith(b"HTTP/1.1 401 ") and b'"result": false' in wrong
    assert right.startswith(b"HTTP/1.1 403 ") and b"no writes" in right


def test_curl_reads_the_pages_and_the_dashboard():
    if shutil.which("curl") is None:
        skip_unless_ci("curl is not installed")

    async def check(api: int, web: int) -> list[str]:
        urls = [f"http://127.0.0.1:{api}/{page}" for page in ("summary", "capabilities", "network", "hashrate")]
        urls.append(f"http://127.0.0.1:{web}/")
        results = []
        for url in urls:
            proc = await asyncio.create_subprocess_exec("curl", "-sS", "--max-time", "5", url,
                                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await proc.communicate()
            assert proc.returncode == 0, err
            results.append(out.decode())
        return results

    summary, capabilities, network, hashrate, dashboard = with_rig(check)  # type: ignore[misc]
    assert json.loads(summary)["Status"]["Operating State"] == "Mining"
    assert json.loads(summary)["Software"].startswith("PowerPlay-BMS v")
    assert json.loads(capabilities)["Model"] == "Antminer S19j Pro"
    assert len(json.loads(capabilities)["Board Serial Numbers"]) == 3
    assert json.loads(network)["dhcp"]["mac_address"].count(":") == 5
    assert [len(board["Data"]) for board in json.loads(hashrate)] == [126, 126, 126]
    assert "<title>Miner Web Dashboard</title>" in dashboard


@pytest.mark.parametrize("path", ["/cgi-bin/get_system_info.cgi", "/api/v1/info"])
def test_other_firmwares_pages_are_not_found(path):
    reply = with_rig(lambda api, web: exchange(web, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                                                    .encode()))
    assert isinstance(reply, bytes) and reply.startswith(b"HTTP/1.1 404 ")

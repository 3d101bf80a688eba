"""The SSH driver against the simulator's SSH shell over real loopback sockets."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections.abc import Awaitable

import pytest

from attest.drivers import base, ssh
from attest.drivers.base import (
    AUTH_FAILED,
    MALFORMED_REPLY,
    REPLY_TOO_LARGE,
    TIMEOUT,
    UNREACHABLE,
    Claim,
    CollectError,
    CollectOptions,
    Credential,
    Endpoint,
    Session,
)
from attest.evidence import Assurance, Transcript
from attest.sim.rig import Rig
from attest.sim.scenarios import make_rig, release
from attest.sim.ssh_server import make_host_key, start_ssh_server
from attest.transport import ssh as ssh_transport

HOST = "127.0.0.1"
HOST_KEY = make_host_key()
ROOT = Credential("root", "root")


def run(coro: Awaitable[object]) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def _collect(
    rig: Rig, options: CollectOptions, credentials: tuple[Credential, ...], transcript: Transcript
) -> list[Claim]:
    handle = await start_ssh_server(rig, HOST, 0, HOST_KEY)
    assert handle is not None
    try:
        endpoint = Endpoint("ssh", HOST, handle.port, credentials)
        return await ssh.collect(endpoint, Session(options, transcript))
    finally:
        handle.close()
        await handle.wait_closed()


def collect(
    rig: Rig,
    options: CollectOptions | None = None,
    credentials: tuple[Credential, ...] = (ROOT,),
    transcript: Transcript | None = None,
) -> dict[str, Claim]:
    claims = run(_collect(rig, options or CollectOptions(), credentials, transcript or Transcript()))
    assert isinstance(claims, list)
    return {c.name: c for c in claims}


def failure(
    rig: Rig, options: CollectOptions | None = None, credentials: tuple[Credential, ...] = (ROOT,)
) -> CollectError:
    with pytest.raises(CollectError) as caught:
        collect(rig, options, credentials)
    return caught.value


def free_port() -> int:
    """A port nothing listens on: bound, read, released."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def test_module_declares_itself_and_transport_codes_match_the_drivers():
    assert (ssh.NAME, ssh.KIND, ssh.DEFAULT_PORT, ssh.SCHEMES) == ("ssh", "ssh", 22, ("ssh",))
    for code in ("TIMEOUT", "UNREACHABLE", "CONNECTION_RESET", "MALFORMED_REPLY", "REPLY_TOO_LARGE", "AUTH_FAILED"):
        assert getattr(ssh_transport, code) == getattr(base, code) == code


def test_genuine_antminer_is_measured_in_full():
    rig = make_rig(0, "genuine", HOST)
    rig.password = "s3cret-Pa55word"
    transcript = Transcript()
    claims = collect(rig, credentials=(Credential("root", "s3cret-Pa55word"),), transcript=transcript)
    for name, data in rig.images.items():
        claim = claims[f"firmware.image.{name}.sha256"]
        assert claim.value == "sha256:" + hashlib.sha256(data).hexdigest()
        assert claim.assurance is Assurance.MEASURED
    assert "firmware.image.config.sha256" not in claims
    assert claims["net.mac"].value == rig.mac.lower()
    assert claims["control_board.serial"].value == rig.control_board_serial
    assert claims["config.pool.0.url"].value == rig.pools[0].url
    assert claims["firmware.miner.sha256"].value == "sha256:" + hashlib.sha256(rig.miner_binary).hexdigest()
    assert not [n for n in claims if n.startswith("indicator.")]
    assert claims["service.ssh"].value == "open"
    host_key = claims["ssh.host_key"]
    assert host_key.value == f"ssh-ed25519 {HOST_KEY.get_fingerprint('sha256')}"
    assert host_key.assurance is Assurance.REPORTED
    text = transcript.to_text()
    assert "cat /proc/mtd" in text and "sha256sum /dev/mtd0 /dev/mtd1" in text
    assert "s3cret" not in text


def test_genuine_whatsminer_reads_btminer_and_cgminer_conf():
    rig = make_rig(2, "genuine", HOST)
    assert rig.family == "whatsminer"
    claims = collect(rig)
    assert claims["firmware.miner.path"].value == "/usr/bin/btminer"
    assert claims["config.pool.0.url"].value == rig.pools[0].url
    assert claims["firmware.image.rootfs.sha256"].value == release(rig.model, rig.firmware_version).digests()["rootfs"]


def test_antbleed_rig_shows_the_indicator():
    claims = collect(make_rig(0, "antbleed", HOST))
    indicator = claims["indicator.antbleed"]
    assert "auth.minerlink.com in /usr/bin/bmminer" in str(indicator.value)
    assert indicator.assurance is Assurance.MEASURED
    assert "indicator.hant" not in claims


def test_modified_firmware_rootfs_digest_differs_from_the_release():
    rig = make_rig(0, "modified-firmware", HOST)
    claims = collect(rig)
    signed = release(rig.model, rig.firmware_version).digests()
    assert claims["firmware.image.rootfs.sha256"].value != signed["rootfs"]
    assert claims["firmware.image.boot.sha256"].value == signed["boot"]


def test_credentials_are_tried_in_order():
    claims = collect(make_rig(0, "genuine", HOST), credentials=(Credential("root", "admin"), ROOT))
    assert claims["service.ssh"].value == "open"


def test_wrong_password_and_no_credentials_are_auth_failed():
    assert failure(make_rig(0, "genuine", HOST), credentials=(Credential("root", "wrong"),)).code == AUTH_FAILED
    assert failure(make_rig(0, "genuine", HOST), credentials=()).code == AUTH_FAILED


def test_unresponsive_rig_times_out_within_the_bound():
    started = time.monotonic()
    error = failure(make_rig(0, "unresponsive", HOST), CollectOptions(timeout=0.5))
    assert error.code == TIMEOUT
    assert time.monotonic() - started < 3


def test_garbage_rig_is_malformed_reply():
    error = failure(make_rig(0, "garbage", HOST), CollectOptions(timeout=2))
    assert error.code == MALFORMED_REPLY
    assert "HTTP/1.1 400" in error.message


def test_slow_rig_works_with_a_five_second_timeout():
    claims = collect(make_rig(0, "slow", HOST), CollectOptions(timeout=5))
    assert claims["firmware.image.rootfs.sha256"].value.startswith("sha256:")  # type: ignore[union-attr]


def test_slow_command_past_its_timeout_is_timeout():
    started = time.monotonic()
    assert failure(make_rig(0, "slow", HOST), CollectOptions(timeout=0.3)).code == TIMEOUT
    assert time.monotonic() - started < 3


def test_output_over_the_cap_is_reply_too_large():
    rig = make_rig(0, "genuine", HOST)
    rig.files["/config/bmminer.conf"] = b" " * (2 * 1024 * 1024)
    assert failure(rig).code == REPLY_TOO_LARGE
    small = CollectOptions(max_reply_bytes=64)  # /proc/mtd alone is longer than this
    assert failure(make_rig(0, "genuine", HOST), small).code == REPLY_TOO_LARGE


def test_ssh_disabled_rig_is_unreachable():
    rig = make_rig(0, "api-only", HOST)
    assert run(start_ssh_server(rig, HOST, 0, HOST_KEY)) is None
    endpoint = Endpoint("ssh", HOST, free_port(), (ROOT,))
    with pytest.raises(CollectError) as caught:
        run(ssh.collect(endpoint, Session(CollectOptions(timeout=2), Transcript())))
    assert caught.value.code == UNREACHABLE


def test_peer_flooding_text_before_a_version_is_cut_off():
    async def scenario() -> CollectError:
        async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while not writer.is_closing():
                    writer.write(b"x" * 4096 + b"\r\n")
                    await writer.drain()
            except ConnectionError:
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(flood, HOST, 0)
        try:
            endpoint = Endpoint("ssh", HOST, server.sockets[0].getsockname()[1], (ROOT,))
            with pytest.raises(CollectError) as caught:
                await ssh.collect(endpoint, Session(CollectOptions(timeout=5), Transcript()))
            return caught.value
        finally:
            server.close()
            await server.wait_closed()

    error = run(scenario())
    assert isinstance(error, CollectError) and error.code == MALFORMED_REPLY


def test_identify_reads_the_banner():
    async def scenario() -> list[str | None]:
        session = Session(CollectOptions(timeout=0.5), Transcript())
        found: list[str | None] = []
        for scenario_name in ("genuine", "garbage", "unresponsive"):
            handle = await start_ssh_server(make_rig(0, scenario_name, HOST), HOST, 0, HOST_KEY)
            assert handle is not None
            try:
                found.append(await ssh.identify(HOST, handle.port, session))
            finally:
                handle.close()
                await handle.wait_closed()
        found.append(await ssh.identify(HOST, free_port(), session))
        return found

    assert run(scenario()) == ["ssh", None, None, None]

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
from attest.sim.ssh_server import host_key_for, make_host_key, start_ssh_server
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
        claim = claims[f"firmware.image.{name}.sha256"]  # streamed to the station and hashed there
        assert claim.value == "sha256:" + hashlib.sha256(data).hexdigest()
        assert claim.assurance is Assurance.MEASURED and "hashed by the station" in claim.source
        said = claims[f"firmware.image.{name}.device_sha256"]  # the rig's own answer: a cross-check
        assert said.value == claim.value and said.assurance is Assurance.DEVICE
    assert "firmware.image.config.sha256" not in claims
    assert claims["firmware.partition.mtd2.content"].value == "data"  # config: mutable, looked into
    assert str(claims["firmware.partition.mtd3.content"].value).startswith("data: a U-Boot environment")
    flash = sum(len(data) for data in rig.images.values()) + len(rig.config_partition) + 0x4000
    assert claims["firmware.stream.bytes"].value == flash + len(rig.miner_binary)
    assert claims["net.mac"].value == rig.mac.lower()
    assert claims["control_board.serial"].value == rig.control_board_serial
    assert claims["config.pool.0.url"].value == rig.pools[0].url
    assert claims["firmware.miner.sha256"].value == "sha256:" + hashlib.sha256(rig.miner_binary).hexdigest()
    assert not [n for n in claims if n.startswith("indicator.")]
    assert claims["service.ssh"].value == "open"
    host_key = claims["ssh.host_key"]
    assert host_key.value == HOST_KEY.get_fingerprint("sha256") and host_key.value.startswith("SHA256:")
    assert host_key.assurance is Assurance.REPORTED and "ssh-ed25519" in host_key.source
    text = transcript.to_text()
    assert "cat /proc/mtd" in text and "sha256sum /dev/mtd0 /dev/mtd1" in text
    assert "cat /dev/mtd0 /dev/mtd1 /dev/mtd2 /dev/mtd3" in text and f"[{flash} bytes streamed to the station]" in text
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


def test_a_lying_sha256sum_is_kept_only_as_the_rigs_word_beside_what_the_station_measured():
    rig = make_rig(0, "lying-sha256sum", HOST)
    claims = collect(rig)
    signed = release(rig.model, rig.firmware_version).digests()["rootfs"]
    assert claims["firmware.image.rootfs.device_sha256"].value == signed  # what the rig says
    assert claims["firmware.image.rootfs.sha256"].value == "sha256:" + hashlib.sha256(rig.images["rootfs"]).hexdigest()
    assert claims["firmware.image.rootfs.sha256"].value != signed


def test_a_partition_shorter_than_proc_mtd_says_gets_no_digest_and_a_longer_one_ends_the_check():
    rig = make_rig(0, "genuine", HOST)
    rig.files["/dev/mtd1"] = rig.images["rootfs"][:1000]
    claims = collect(rig)
    assert "firmware.image.rootfs.sha256" not in claims
    assert claims["firmware.partition.mtd1.read"].value == f"failed: cat gave exit status 0 after 1000 of " \
                                                           f"{len(rig.images['rootfs'])} bytes"
    rig.files["/dev/mtd1"] = rig.images["rootfs"] + b"\x00"
    error = failure(rig)
    assert error.code == REPLY_TOO_LARGE and "/dev/mtd1" in error.message and "/proc/mtd" in error.message


def test_the_per_rig_byte_cap_and_time_budget_are_clear_problems():
    rig = make_rig(0, "genuine", HOST)
    error = failure(rig, CollectOptions(max_measured_bytes=100_000))
    assert error.code == "MEASUREMENT_LIMIT_EXCEEDED" and "max_measured_bytes" in error.message
    slow = make_rig(0, "slow", HOST)
    error = failure(slow, CollectOptions(timeout=5, measure_timeout=0.5))
    assert error.code == "MEASUREMENT_LIMIT_EXCEEDED" and "measure_timeout" in error.message


def test_each_rig_presents_its_own_host_key_as_a_sha256_fingerprint():
    async def fingerprints() -> list[str]:
        out = []
        for rig in (make_rig(0, "genuine", HOST), make_rig(1, "genuine", HOST)):
            handle = await start_ssh_server(rig, HOST, 0)
            assert handle is not None
            try:
                claims = await ssh.collect(Endpoint("ssh", HOST, handle.port, (ROOT,)),
                                           Session(CollectOptions(), Transcript()))
            finally:
                handle.close()
                await handle.wait_closed()
            out.append(next(str(c.value) for c in claims if c.name == "ssh.host_key"))
        return out

    first, second = run(fingerprints())  # type: ignore[misc]
    assert first == host_key_for(make_rig(0, "genuine", HOST)).get_fingerprint("sha256")
    assert first.startswith("SHA256:") and second.startswith("SHA256:") and first != second

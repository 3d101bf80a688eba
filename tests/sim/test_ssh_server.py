"""The simulator's SSH shell: its little userland, and the server's auth, behaviours and scale."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shlex
import time
import zlib
from collections.abc import Awaitable

import asyncssh
import pytest

from attest.sim.rig import SLOW_DELAY_SECONDS, Rig
from attest.sim.scenarios import ANTBLEED_BYTES, make_rig
from attest.sim.ssh_server import (
    GARBAGE_BYTES,
    ShellSyntaxError,
    execute,
    host_key_for,
    make_host_key,
    rig_files,
    split_command,
    start_ssh_server,
)
from attest.sim.uboot import ENV_SIZE, env_image, environment

HOST = "127.0.0.1"
HOST_KEY = make_host_key()  # one per test module: a thousand listeners need not derive a thousand


def run(coro: Awaitable[object]) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def antminer() -> Rig:
    return make_rig(0, "genuine", HOST)


@pytest.fixture(scope="module")
def whatsminer() -> Rig:
    return make_rig(2, "genuine", HOST)


# --- the userland ------------------------------------------------------------------------------


def test_proc_mtd_lists_images_then_config_then_env_with_exact_hex_sizes(antminer: Rig):
    out = execute(antminer, "cat /proc/mtd")
    assert out.exit_status == 0 and out.stderr == b""
    lines = out.stdout.decode().splitlines()
    assert lines[0] == "dev:    size   erasesize  name"
    env = env_image(tuple(environment(antminer).items()))
    expected = [*antminer.images.items(), ("config", antminer.config_partition), ("env", env)]
    for index, (line, (name, data)) in enumerate(zip(lines[1:], expected, strict=True)):
        assert line == f'mtd{index}: {len(data):08x} 00020000 "{name}"'
        assert execute(antminer, f"cat /dev/mtd{index}").stdout == data


def test_the_env_partition_is_the_saved_uboot_environment_with_a_valid_crc(antminer: Rig):
    data = execute(antminer, "cat /dev/mtd3").stdout
    assert len(data) == ENV_SIZE
    assert int.from_bytes(data[:4], "little") == zlib.crc32(data[4:])
    pairs = dict(item.decode().split("=", 1) for item in data[4:].split(b"\0\0", 1)[0].split(b"\0"))
    assert pairs == environment(antminer)
    assert pairs["mtdparts"].endswith(",16k(config),16k(env)")


def test_scenario_partitions_are_appended_so_genuine_ones_keep_their_numbers():
    rig = make_rig(0, "unlisted-partition", HOST)
    mtd = execute(rig, "cat /proc/mtd").stdout.decode().splitlines()
    assert [line.split('"')[1] for line in mtd[1:]] == ["boot", "rootfs", "config", "env", "upgrade-rootfs"]
    assert execute(rig, "cat /dev/mtd4").stdout.startswith(b"\x7fELF")
    assert "(upgrade-rootfs)" in environment(rig)["mtdparts"]


def test_a_lying_sha256sum_prints_the_genuine_digest_while_cat_reads_the_real_flash():
    rig = make_rig(0, "lying-sha256sum", HOST)
    genuine = make_rig(0, "genuine", HOST).images["rootfs"]
    real = execute(rig, "cat /dev/mtd1").stdout
    assert real == rig.images["rootfs"] != genuine
    said = execute(rig, "sha256sum /dev/mtd0 /dev/mtd1").stdout.decode().splitlines()
    assert said[1] == f"{hashlib.sha256(genuine).hexdigest()}  /dev/mtd1"
    assert said[0] == f"{hashlib.sha256(rig.images['boot']).hexdigest()}  /dev/mtd0"


def test_each_rig_has_its_own_host_key_the_same_on_every_run_and_a_new_one_on_request():
    first, second = make_rig(0, "genuine", HOST), make_rig(1, "genuine", HOST)
    fingerprint = host_key_for(first).get_fingerprint("sha256")
    assert fingerprint == host_key_for(make_rig(0, "genuine", HOST)).get_fingerprint("sha256")
    assert fingerprint != host_key_for(second).get_fingerprint("sha256")
    first.host_key_seed = "reflashed"
    assert host_key_for(first).get_fingerprint("sha256") != fingerprint


def test_sha256sum_hashes_like_coreutils_and_reports_missing_files(antminer: Rig):
    out = execute(antminer, "sha256sum /dev/mtd0 /dev/nope /dev/mtd1")
    boot, rootfs = (hashlib.sha256(antminer.images[n]).hexdigest() for n in ("boot", "rootfs"))
    assert out.stdout == f"{boot}  /dev/mtd0\n{rootfs}  /dev/mtd1\n".encode()
    assert out.stderr == b"sha256sum: /dev/nope: No such file or directory\n"
    assert out.exit_status == 1
    quiet = execute(antminer, "sha256sum /dev/mtd0 /dev/nope 2>/dev/null")
    assert (quiet.stderr, quiet.exit_status) == (b"", 1)


def test_identity_files_match_the_rig(antminer: Rig, whatsminer: Rig):
    assert execute(antminer, "cat /sys/class/net/eth0/address").stdout == antminer.mac.lower().encode() + b"\n"
    cpuinfo = execute(antminer, "cat /proc/cpuinfo").stdout.decode()
    assert f"Serial\t\t: {antminer.control_board_serial}\n" in cpuinfo
    both = "cat /config/bmminer.conf /config/cgminer.conf"
    out = execute(antminer, both)
    assert out.stdout == antminer.pool_config_json() and out.exit_status == 1
    assert out.stderr == b"cat: /config/cgminer.conf: No such file or directory\n"
    assert json.loads(execute(whatsminer, both + " 2>/dev/null").stdout)["pools"][0]["url"] == whatsminer.pools[0].url
    assert execute(whatsminer, "cat /usr/bin/btminer").stdout == whatsminer.miner_binary


def test_cat_of_a_directory_and_unknown_commands_answer_like_busybox(antminer: Rig):
    out = execute(antminer, "cat /proc")
    assert (out.stderr, out.exit_status) == (b"cat: /proc: Is a directory\n", 1)
    out = execute(antminer, "dd if=/dev/mtd0")
    assert (out.stdout, out.stderr, out.exit_status) == (b"", b"sh: dd: not found\n", 127)
    assert execute(antminer, "/bin/cat /proc/mtd").stdout.startswith(b"dev:")


def test_grep_fixed_strings_across_files_with_prefix_and_exit_codes():
    rig = make_rig(0, "antbleed", HOST)
    pattern = '{"ctrl_board":"%s","id":"%d","hashboard":[%s]}'
    command = f"grep -a -o -H -F -e auth.minerlink.com -e {shlex.quote(pattern)} /usr/bin/bmminer"
    out = execute(rig, command)
    assert out.exit_status == 0
    assert out.stdout == f"/usr/bin/bmminer:auth.minerlink.com\n/usr/bin/bmminer:{pattern}\n".encode()
    several = execute(rig, "grep -a -o -F -e auth.minerlink.com /usr/bin/bmminer /usr/bin/cgminer")
    assert several.stdout == b"/usr/bin/bmminer:auth.minerlink.com\n"  # prefix: several files
    assert (several.stderr, several.exit_status) == (b"grep: /usr/bin/cgminer: No such file or directory\n", 2)
    alone = execute(rig, "grep -aoF -e auth.minerlink.com /usr/bin/bmminer")
    assert alone.stdout == b"auth.minerlink.com\n"  # no prefix for one file without -H
    clean = execute(make_rig(0, "genuine", HOST), command + " 2>/dev/null")
    assert (clean.stdout, clean.stderr, clean.exit_status) == (b"", b"", 1)
    assert ANTBLEED_BYTES in rig.miner_binary


def test_grep_without_dash_a_reports_binary_match_and_rejects_unknown_options(antminer: Rig):
    rig = make_rig(0, "antbleed", HOST)
    assert (
        execute(rig, "grep -F auth.minerlink.com /usr/bin/bmminer").stdout == b"Binary file /usr/bin/bmminer matches\n"
    )
    out = execute(antminer, "grep -r x /")
    assert out.exit_status == 2 and out.stderr.startswith(b"grep: invalid option -- 'r'")


def test_the_shell_parses_quotes_and_refuses_everything_but_single_commands(antminer: Rig):
    assert split_command("""grep -e 'a b' -e "c\\"d" e\\ f 2>/dev/null""") == (
        ["grep", "-e", "a b", "-e", 'c"d', "e f"],
        True,
    )
    assert split_command("cat '2>/dev/null'") == (["cat", "2>/dev/null"], False)
    for hostile in ["cat /proc/mtd | nc x 1", "cat a; reboot", "cat $(reboot)", "cat `x`", "cat >/x", "cat 'open"]:
        with pytest.raises(ShellSyntaxError):
            split_command(hostile)
        out = execute(antminer, hostile)
        assert out.exit_status == 2 and out.stdout == b"" and out.stderr.startswith(b"sh: syntax error")


def test_planted_files_override_the_defaults():
    rig = make_rig(0, "genuine", HOST)
    rig.files["/config/bmminer.conf"] = b"{}"
    rig.files["/etc/motd"] = b"I am hAnt!"
    files = rig_files(rig)
    assert files["/config/bmminer.conf"] == b"{}" and files["/etc/motd"] == b"I am hAnt!"


# --- the servers -------------------------------------------------------------------------------


async def _connect(port: int, password: str = "root") -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        HOST, port, username="root", password=password, known_hosts=None, client_keys=None, config=None
    )


def test_password_login_exec_and_refusals(antminer: Rig):
    async def scenario() -> None:
        handle = await start_ssh_server(antminer, HOST, 0, HOST_KEY)
        assert handle is not None and handle.port > 0
        try:
            with pytest.raises(asyncssh.PermissionDenied):
                await _connect(handle.port, "wrong")
            async with await _connect(handle.port) as conn:
                assert conn.get_server_host_key().get_fingerprint() == HOST_KEY.get_fingerprint()
                result = await conn.run("cat /sys/class/net/eth0/address", encoding=None)
                assert (result.stdout, result.exit_status) == (antminer.mac.lower().encode() + b"\n", 0)
                result = await conn.run("nope", encoding=None)
                assert (result.stderr, result.exit_status) == (b"sh: nope: not found\n", 127)
                with pytest.raises(asyncssh.ChannelOpenError):
                    await conn.create_process()  # an interactive shell is refused
        finally:
            handle.close()
            await handle.wait_closed()

    run(scenario())


def test_ssh_disabled_rig_gets_no_listener():
    assert run(start_ssh_server(make_rig(0, "api-only", HOST), HOST, 0, HOST_KEY)) is None


def test_unresponsive_accepts_and_never_writes_and_garbage_is_not_ssh():
    async def scenario() -> None:
        silent = await start_ssh_server(make_rig(0, "unresponsive", HOST), HOST, 0, HOST_KEY)
        noisy = await start_ssh_server(make_rig(1, "garbage", HOST), HOST, 0, HOST_KEY)
        assert silent is not None and noisy is not None
        reader, writer = await asyncio.open_connection(HOST, silent.port)
        writer.write(b"SSH-2.0-test\r\n")
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.read(1), 0.3)
        silent.close()
        await silent.wait_closed()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # close() dropped the connection
        writer.close()
        reader, writer = await asyncio.open_connection(HOST, noisy.port)
        writer.write(b"SSH-2.0-test\r\n")
        assert await asyncio.wait_for(reader.read(), 5) == GARBAGE_BYTES
        writer.close()
        noisy.close()
        await noisy.wait_closed()

    run(scenario())


def test_slow_rig_answers_each_command_late():
    async def scenario() -> float:
        handle = await start_ssh_server(make_rig(0, "slow", HOST), HOST, 0, HOST_KEY)
        assert handle is not None
        try:
            async with await _connect(handle.port) as conn:
                started = time.monotonic()
                result = await conn.run("cat /proc/mtd", encoding=None)
                assert result.exit_status == 0
                return time.monotonic() - started
        finally:
            handle.close()
            await handle.wait_closed()

    assert run(scenario()) >= SLOW_DELAY_SECONDS


def test_close_drops_live_client_connections(antminer: Rig):
    async def scenario() -> None:
        handle = await start_ssh_server(antminer, HOST, 0, HOST_KEY)
        assert handle is not None
        conn = await _connect(handle.port)
        handle.close()
        await handle.wait_closed()
        await asyncio.wait_for(conn.wait_closed(), 5)

    run(scenario())


def test_a_thousand_rigs_listen_in_one_process_with_one_host_key(antminer: Rig):
    async def scenario() -> None:
        handles = [await start_ssh_server(antminer, HOST, 0, HOST_KEY) for _ in range(1000)]
        try:
            ports = {h.port for h in handles if h is not None}
            assert len(ports) == 1000
            for handle in (handles[0], handles[-1]):
                assert handle is not None
                async with await _connect(handle.port) as conn:
                    result = await conn.run("sha256sum /dev/mtd1", encoding=None)
                    assert result.stdout.startswith(hashlib.sha256(antminer.images["rootfs"]).hexdigest().encode())
        finally:
            for handle in handles:
                if handle is not None:
                    handle.close()
            for handle in handles:
                if handle is not None:
                    await handle.wait_closed()

    run(scenario())

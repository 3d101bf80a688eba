"""`attest watch` as a technician runs it: a real process, real queries and connections to it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from attest.sim.egress import parse_dns_server
from attest.watch import WatchError, parse_listen
from attest.watch_command import parse_duration
from tests.watch.conftest import DNS_PORT, query

CHECKIN = b'{"ctrl_board":"02:A7:00:11:22:33","id":"9","hashboard":[]}'


def test_attest_watch_streams_what_rigs_do_judged_by_the_policy(block, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[egress]\nallow = ["pool.ntp.org"]\nwatch_ports = [7000, 8443]\n')

    async def go():
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "attest.cli", "watch", "--listen", f"{block[0]}:{DNS_PORT}", "--duration", "4s",
            "--policy", str(policy), "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        first = json.loads(await proc.stdout.readline())  # the watch is listening once this is out
        await query(block[0], "pool.ntp.org", source=block[1])
        await query(block[0], "auth.minerlink.com", source=block[2])
        _, writer = await asyncio.open_connection(block[0], 7000, local_addr=(block[2], 0))
        writer.write(CHECKIN)
        await writer.drain()
        rest, err = await proc.communicate()
        writer.close()
        return first, [json.loads(line) for line in rest.decode().splitlines()], proc.returncode, err

    first, lines, code, err = asyncio.run(go())
    assert code == 0, err
    assert first["kind"] == "watch" and first["tcp_ports"] == [7000, 8443]
    kinds = {(line["kind"], line.get("source")) for line in lines}
    assert ("lookup", block[1]) in kinds and ("connection", block[2]) in kinds
    ntp = next(line for line in lines if line.get("name") == "pool.ntp.org")
    assert (ntp["judgement"], ntp["type"], ntp["mac"]) == ("allowed", "A", None)
    bad = next(line for line in lines if line.get("name") == "auth.minerlink.com")
    assert (bad["judgement"], bad["indicator"]) == ("indicator", "antbleed")
    conn = next(line for line in lines if line["kind"] == "connection")
    assert (conn["port"], conn["outcome"], conn["checkins"], conn["judgement"]) == (7000, "plain", ["antbleed"],
                                                                                       "indicator")
    assert conn["preview"] == CHECKIN.decode()
    summaries = {line["source"]: line for line in lines if line["kind"] == "summary"}
    assert summaries[block[2]]["lookups"] == 1 and summaries[block[2]]["connections"] == 1


@pytest.mark.parametrize("listen, message", [
    ("0.0.0.0", "one address of this station"),
    ("10.0.4.1:99999", "bad DNS port"),
    ("rig-bench.local", "bad watch address"),
])
def test_attest_watch_refuses_what_it_cannot_use(listen, message):
    result = subprocess.run([sys.executable, "-m", "attest.cli", "watch", "--listen", listen, "--duration", "1s"],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and message in result.stderr


def test_attest_watch_says_why_it_cannot_listen(block):
    result = subprocess.run([sys.executable, "-m", "attest.cli", "watch", "--listen", "192.0.2.77:5300",
                             "--duration", "1s"], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2 and "the address is not one of this station's" in result.stderr


def test_verify_watch_options_are_checked_before_any_rig_is_read(tmp_path):
    base = [sys.executable, "-m", "attest.cli", "verify", "127.0.0.1", "--manifest", "m", "--trust", str(tmp_path)]
    for more, message in ((["--watch-seconds", "5"], "--watch-seconds needs --watch"),
                          (["--watch", "10.0.4.1", "--watch-seconds", "30", "--deadline", "20"], "shorter than"),
                          (["--watch", "0.0.0.0"], "one address of this station")):
        result = subprocess.run([*base, *more], capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 2 and message in result.stderr, result.stderr


def test_listen_and_duration_texts():
    assert parse_listen("10.0.4.1") == ("10.0.4.1", 53)
    assert parse_listen("10.0.4.1:5353") == ("10.0.4.1", 5353)
    assert parse_listen("[fd00::1]:53") == ("fd00::1", 53)
    assert parse_listen("fd00::1") == ("fd00::1", 53)
    with pytest.raises(WatchError):
        parse_listen("[fd00::1]x")
    assert [parse_duration(t) for t in ("90", "90s", "10m", "1h", "1.5m")] == [90, 90, 600, 3600, 90]
    assert parse_dns_server("127.0.0.5:5300") == ("127.0.0.5", 5300)
    with pytest.raises(ValueError):
        parse_dns_server("dns.example:53")

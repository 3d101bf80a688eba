"""The shell command plan and its parsers against an in-memory runner, including hostile output."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import shlex
from collections.abc import Callable, Mapping

import pytest

from attest.drivers.base import TIMEOUT, CollectError, CollectOptions
from attest.drivers.shell import (
    CMD_CPUINFO,
    CMD_MAC,
    CMD_MINER_DIGESTS,
    CMD_POOL_CONFIG,
    CMD_PROC_MTD,
    MAX_POOLS,
    ShellResult,
    hash_command,
    indicator_scan_command,
    parse_cpuinfo_serial,
    parse_grep_matches,
    parse_mac,
    parse_pool_urls,
    parse_proc_mtd,
    parse_sha256sum,
)
from attest.drivers.shell_plan import collect_shell_evidence
from attest.evidence import Assurance, printable
from attest.indicators import IndicatorError, default_indicators, load_indicators, parse_indicators

SOURCE = "ssh://10.0.4.17:22"
BOOT = b"boot image" * 100
ROOTFS = b"rootfs image" * 300
MINER = b"\x7fELF bmminer"
ANTBLEED = next(i for i in default_indicators() if i.id == "antbleed")
Reply = ShellResult | Callable[[str], ShellResult]


def ok(stdout: bytes, status: int = 0, stderr: bytes = b"") -> ShellResult:
    return ShellResult(status, stdout, stderr)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeRunner:
    """Answers by exact command; anything unplanned is a shell's "not found"."""

    def __init__(self, replies: Mapping[str, Reply]) -> None:
        self.replies = dict(replies)
        self.calls: list[tuple[str, float, int]] = []

    async def __call__(self, command: str, *, timeout: float, max_bytes: int) -> ShellResult:
        self.calls.append((command, timeout, max_bytes))
        for key, reply in self.replies.items():
            if command == key or (key.endswith("*") and command.startswith(key[:-1])):
                return reply(command) if callable(reply) else reply
        return ok(b"", 127, f"sh: {command.split()[0]}: not found\n".encode())


def genuine_replies() -> dict[str, Reply]:
    mtd = (
        b"dev:    size   erasesize  name\n"
        b'mtd0: 00000fa0 00020000 "boot"\n'
        b'mtd1: 00000e10 00020000 "rootfs"\n'
        b'mtd2: 00004000 00020000 "config"\n'
    )
    conf = json.dumps({"pools": [{"url": "stratum+tcp://pool.example:3333", "user": "u", "pass": "x"}]})
    return {
        CMD_PROC_MTD: ok(mtd),
        "sha256sum /dev/mtd0 /dev/mtd1": ok(f"{digest(BOOT)}  /dev/mtd0\n{digest(ROOTFS)}  /dev/mtd1\n".encode()),
        CMD_MAC: ok(b"02:A7:00:11:22:33\n"),
        CMD_CPUINFO: ok(b"processor\t: 0\nHardware\t: Xilinx Zynq\nSerial\t\t: CB0123456789\n"),
        CMD_MINER_DIGESTS: ok(f"{digest(MINER)}  /usr/bin/bmminer\n".encode(), 1),
        "grep *": ok(b"", 1),
        CMD_POOL_CONFIG: ok(conf.encode(), 1),
    }


#: What the rig's own tools computed (its sha256sum, its grep): never more than ``device``.
SELF_REPORTED = ("firmware.image.", "firmware.miner.", "scan.indicators", "indicator.")


def collect(runner: FakeRunner, options: CollectOptions | None = None, **kwargs: object) -> dict[str, object]:
    """The plan as a serial console runs it (no stream): the rig's own digests, at ``device``."""
    claims = asyncio.run(collect_shell_evidence(runner, SOURCE, options or CollectOptions(), **kwargs))  # type: ignore[arg-type]
    names = [c.name for c in claims]
    assert len(names) == len(set(names)), f"duplicate claim names: {names}"
    assert all(c.source.startswith(SOURCE) for c in claims)
    for c in claims:
        expected = Assurance.DEVICE if c.name.startswith(SELF_REPORTED) else Assurance.MEASURED
        assert c.assurance is expected, c
    return {c.name: c.value for c in claims}


# --- the plan ----------------------------------------------------------------------------------


def test_without_a_stream_the_digests_are_the_rigs_own_and_never_called_measured():
    runner = FakeRunner(genuine_replies())
    claims = collect(runner)
    assert claims["firmware.image.boot.device_sha256"] == "sha256:" + digest(BOOT)
    assert claims["firmware.image.rootfs.device_sha256"] == "sha256:" + digest(ROOTFS)
    assert not [name for name in claims if name.endswith(".sha256")]  # nothing the station hashed
    assert "firmware.image.config.device_sha256" not in claims
    assert claims["firmware.partition.count"] == 3
    assert claims["firmware.partition.mtd2.name"] == "config" and claims["firmware.partition.mtd2.size"] == 0x4000
    assert claims["net.mac"] == "02:a7:00:11:22:33"
    assert claims["control_board.serial"] == "CB0123456789"
    assert claims["firmware.miner.device_sha256"] == "sha256:" + digest(MINER)
    assert claims["firmware.miner.path"] == "/usr/bin/bmminer"
    assert claims["config.pool.0.url"] == "stratum+tcp://pool.example:3333"
    assert not [name for name in claims if name.startswith("indicator.")]
    assert str(claims["scan.indicators"]).endswith("0 found")


def test_hashing_uses_hash_timeout_and_every_command_the_reply_cap():
    runner = FakeRunner(genuine_replies())
    collect(runner, CollectOptions(timeout=3, hash_timeout=77, max_reply_bytes=4096))
    timeouts = {command.split()[0] + (" mtd" if "/dev/mtd" in command else ""): t for command, t, _ in runner.calls}
    assert timeouts["sha256sum mtd"] == 77 and timeouts["grep"] == 77 and timeouts["cat"] == 3
    assert {cap for _, _, cap in runner.calls} == {4096}


def test_only_present_miner_binaries_are_grepped_with_filename_prefix():
    replies = genuine_replies()
    hit = f"/usr/bin/bmminer:auth.minerlink.com\n/usr/bin/bmminer:{ANTBLEED.patterns[2]}\n".encode()
    replies["grep *"] = ok(hit * 3)
    runner = FakeRunner(replies)
    claims = collect(runner)
    grep = next(command for command, _, _ in runner.calls if command.startswith("grep"))
    assert grep.split()[:5] == ["grep", "-a", "-o", "-H", "-F"]
    assert "/usr/bin/btminer" not in grep and grep.endswith("/usr/bin/bmminer 2>/dev/null")
    assert claims["indicator.antbleed"] == (
        f"auth.minerlink.com in /usr/bin/bmminer; {ANTBLEED.patterns[2]} in /usr/bin/bmminer"
    )
    assert "indicator.hant" not in claims


def test_grep_command_quotes_every_pattern_back_to_itself():
    patterns = [p for i in default_indicators() for p in i.patterns] + ["it's $(reboot) `x` \\ ;|&"]
    command = indicator_scan_command(patterns, ["/usr/bin/bmminer"])
    words = shlex.split(command)
    assert [words[i + 1] for i, w in enumerate(words) if w == "-e"] == patterns
    assert words[-2:] == ["/usr/bin/bmminer", "2>/dev/null"]


def test_grep_failure_is_reported_as_a_scan_that_did_not_run_not_as_clean():
    replies = genuine_replies()
    replies["grep *"] = ok(b"", 2, b"grep: /usr/bin/bmminer: I/O error\n")
    claims = collect(FakeRunner(replies))
    assert claims["scan.indicators"] == "failed: grep gave exit status 2"
    assert claims["firmware.image.rootfs.device_sha256"]  # the rest stands


def test_no_miner_binary_means_no_scan_and_says_so():
    replies = genuine_replies()
    replies[CMD_MINER_DIGESTS] = ok(b"", 1)
    runner = FakeRunner(replies)
    claims = collect(runner)
    assert claims["scan.indicators"] == "not run: no miner binary found"
    assert "firmware.miner.device_sha256" not in claims
    assert not any(command.startswith("grep") for command, _, _ in runner.calls)


def test_a_failing_command_loses_only_its_own_claims():
    replies = genuine_replies()
    del replies[CMD_MAC]  # -> 127 not found
    replies[CMD_CPUINFO] = ok(b"", 1, b"cat: /proc/cpuinfo: No such file or directory\n")
    claims = collect(FakeRunner(replies))
    assert "net.mac" not in claims and "control_board.serial" not in claims
    assert claims["firmware.image.rootfs.device_sha256"] and claims["config.pool.0.url"]


def test_a_transport_failure_ends_the_collection():
    replies = genuine_replies()

    def stalls(command: str) -> ShellResult:
        raise CollectError(TIMEOUT, "no reply")

    replies["grep *"] = stalls
    with pytest.raises(CollectError) as caught:
        collect(FakeRunner(replies))
    assert caught.value.code == TIMEOUT


def test_weird_and_duplicate_partition_names_are_reported_not_hashed():
    mtd = (
        b"dev:    size   erasesize  name\n"
        b'mtd0: 00001000 00020000 "../../x"\n'
        b'mtd1: 00001000 00020000 "rootfs"\n'
        b'mtd2: 00001000 00020000 "rootfs"\n'
        b'mtd3: 00001000 00020000 "a b\xff\x1b[2J"\n'
        b'mtd4: 00001000 00020000 "kernel"\n'
        b'mtd5: 00001000 00020000 "reserve2"\n'
    )
    replies = genuine_replies()
    replies[CMD_PROC_MTD] = ok(mtd)
    replies["sha256sum /dev/mtd4"] = ok(f"{'ab' * 32}  /dev/mtd4\n".encode())
    runner = FakeRunner(replies)
    claims = collect(runner)
    assert [c for c, _, _ in runner.calls if c.startswith("sha256sum /dev")] == ["sha256sum /dev/mtd4"]
    assert claims["firmware.image.kernel.device_sha256"] == "sha256:" + "ab" * 32
    assert "../../x" in str(claims["firmware.partition.mtd0.rejected"])
    assert "more than once" in str(claims["firmware.partition.mtd1.rejected"])
    assert "more than once" in str(claims["firmware.partition.mtd2.rejected"])
    rejected = str(claims["firmware.partition.mtd3.rejected"])
    assert "\x1b" not in rejected and "\\x1b" in rejected
    assert not [n for n in claims if n.startswith("firmware.image.") and n != "firmware.image.kernel.device_sha256"]


def test_ten_thousand_partitions_are_capped_at_max_partitions():
    lines = [b"dev:    size   erasesize  name"] + [b'mtd%d: 00001000 00020000 "p%d"' % (i, i) for i in range(10_000)]
    replies = genuine_replies()
    replies[CMD_PROC_MTD] = ok(b"\n".join(lines) + b"\n")
    replies["sha256sum /dev/mtd*"] = lambda command: ok(
        b"".join(f"{'0' * 64}  {device}\n".encode() for device in command.split()[1:])
    )
    runner = FakeRunner(replies)
    claims = collect(runner, CollectOptions(max_partitions=32))
    assert claims["firmware.partition.count"] == 10_000
    assert len([n for n in claims if n.startswith("firmware.image.")]) == 32
    hashed = next(c for c, _, _ in runner.calls if c.startswith("sha256sum /dev"))
    assert len(hashed.split()) == 33


@pytest.mark.parametrize("seed", range(8))
def test_hostile_output_for_every_command_never_crashes(seed: int):
    rnd = random.Random(seed)
    chunks = [
        b"\x00\xff\xfe" * 1000,
        b"\n" * 50_000,
        b"mtd0: zz",
        b'dev: size erasesize name\nmtd0: 00001000 00020000 "rootfs\n',
        b"[" * 100_000,
        b'{"pools": [{"url": 1e999999}, {"url": "' + b"9" * 100_000 + b'"}]}',
        bytes(rnd.randrange(256) for _ in range(20_000)),
        b"Serial: \xff\xfe\nSerial: x\n",
        b"\r\n".join([b"a" * 64 + b"  /dev/mtd0"] * 1000),
    ]

    def hostile(command: str) -> ShellResult:
        return ok(rnd.choice(chunks) * rnd.randrange(1, 4), rnd.choice([0, 1, 2, 127, -1, None]))  # type: ignore[arg-type]

    runner = FakeRunner({"*": hostile})
    claims = collect(runner)
    # Garbage never becomes evidence: every value that got through is the plain, bounded text or
    # number its claim allows, and nothing identity- or firmware-shaped was made up from it.
    for name, value in claims.items():
        if isinstance(value, str):
            assert printable(value) == value and len(value) <= 4096, name
        else:
            assert isinstance(value, int) and not isinstance(value, bool), name
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", str(v)) for n, v in claims.items()
               if n.startswith("firmware.image.") or n == "firmware.miner.sha256")
    assert "net.mac" not in claims or re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", str(claims["net.mac"]), re.I)
    assert "control_board.serial" not in claims or re.fullmatch(r"[A-Za-z0-9._-]{1,64}",
                                                                  str(claims["control_board.serial"]))
    pools = [v for n, v in claims.items() if n.startswith("config.pool.")]
    assert len(pools) <= MAX_POOLS and all(len(str(v)) <= 512 for v in pools)
    assert not [n for n in claims if n.startswith("firmware.image.")]  # no /proc/mtd here names a partition
    assert runner.calls  # the plan ran: the hostile replies were read, not skipped


# --- parsers -----------------------------------------------------------------------------------


def test_proc_mtd_parse_is_strict_and_tolerates_crlf():
    data = (
        b'dev:    size   erasesize  name\r\nmtd0: 00040000 00020000 "boot"\r\n'
        b'mtd1: 0004000 00020000 "short"\r\nmtd0: 00040000 00020000 "again"\r\n'
        b'mtd2: 00030000 00020000 "rootfs" trailing\r\nmtd3: 00030000 00020000 "rootfs"\r\n'
    )
    table = parse_proc_mtd(data, limit=32)
    assert [(p.index, p.size, p.name) for p in table.partitions] == [(0, 0x40000, "boot"), (3, 0x30000, "rootfs")]
    assert (table.total, table.malformed) == (2, 3)
    assert parse_proc_mtd(b'mtd0: 00040000 00020000 "boot"\n', limit=32).partitions == ()


def test_sha256sum_parse_accepts_only_asked_paths_exact_format_and_no_conflicts():
    a, b = "a" * 64, "b" * 64
    data = (
        f"{a}  /dev/mtd0\n{a.upper()}  /dev/mtd1\n{a} /dev/mtd2\n{b}  /dev/mtd9\n"
        f"{a}  /dev/mtd3\n{b}  /dev/mtd3\n{b}  /dev/mtd4\r\n"
    ).encode()
    wanted = ["/dev/mtd0", "/dev/mtd1", "/dev/mtd2", "/dev/mtd3", "/dev/mtd4"]
    assert parse_sha256sum(data, wanted) == {"/dev/mtd0": a, "/dev/mtd4": b}
    assert hash_command(["/dev/mtd0", "/dev/mtd1"]) == "sha256sum /dev/mtd0 /dev/mtd1"


def test_grep_parse_needs_a_known_file_and_an_exact_pattern():
    patterns = ["auth.minerlink.com", 'x{"a":"%s"}']
    data = (
        b"/usr/bin/bmminer:auth.minerlink.com\n/usr/bin/bmminer:auth.minerlink.comX\n"
        b'/tmp/evil:auth.minerlink.com\nauth.minerlink.com\n/usr/bin/cgminer:x{"a":"%s"}\r\n'
        b"/usr/bin/bmminer:auth.minerlink.com\n"
    )
    assert parse_grep_matches(data, ["/usr/bin/bmminer", "/usr/bin/cgminer"], patterns) == [
        ("auth.minerlink.com", "/usr/bin/bmminer"),
        ('x{"a":"%s"}', "/usr/bin/cgminer"),
    ]


def test_mac_and_cpuinfo_parsers():
    assert parse_mac(b"AA:bb:CC:00:11:22\n") == "aa:bb:cc:00:11:22"
    assert parse_mac(b"aa:bb:cc:00:11\n") is None
    assert parse_mac(b"aa:bb:cc:00:11:22\naa:bb:cc:00:11:23\n") is None
    assert parse_cpuinfo_serial(b"Hardware : X\nSerial\t\t: 00000000abcdef01\n") == "00000000abcdef01"
    assert parse_cpuinfo_serial(b"Serial : A1\nSerial : B2\n") is None  # contradicted
    assert parse_cpuinfo_serial(b"Serial : a b\n") is None
    assert parse_cpuinfo_serial(b"Hardware : X\n") is None


def test_pool_config_parse_handles_two_files_concatenated_and_junk():
    one = json.dumps({"pools": [{"url": "stratum+tcp://a:1"}, {"url": "stratum+tcp://b:2"}]}, indent=1)
    two = json.dumps({"pools": [{"url": "stratum+tcp://c:3"}, {"url": 5}, "x", {"user": "u"}]})
    assert parse_pool_urls(f"{one}\n{two}\n".encode()) == [
        "stratum+tcp://a:1",
        "stratum+tcp://b:2",
        "stratum+tcp://c:3",
    ]
    assert parse_pool_urls(f"{one}garbage{{".encode()) == ["stratum+tcp://a:1", "stratum+tcp://b:2"]
    assert parse_pool_urls(b"[" * 100_000) == []
    hostile = b'{"pools": [{"url": "stratum+tcp://\xff\\u001b:1"}]}'
    assert parse_pool_urls(hostile) == ["stratum+tcp://\\ufffd\\x1b:1"]  # shown as escapes
    many = json.dumps({"pools": [{"url": f"stratum+tcp://p{i}:1"} for i in range(100)]})
    assert len(parse_pool_urls(many.encode())) == MAX_POOLS


# --- indicators --------------------------------------------------------------------------------


def test_shipped_indicators_hold_antbleed_and_hant_without_generic_strings():
    indicators = {i.id: i for i in load_indicators()}
    assert {"antbleed", "hant"} <= set(indicators)
    assert "auth.minerlink.com" in indicators["antbleed"].patterns
    assert '{"ctrl_board":"%s","id":"%d","hashboard":[%s]}' in indicators["antbleed"].patterns
    assert "send_mac" not in indicators["antbleed"].patterns  # also a prefix of innocent names
    assert indicators["hant"].patterns == ("I am hAnt!",)
    assert "2017" in indicators["antbleed"].reference


def test_indicator_file_from_a_path(tmp_path):
    path = tmp_path / "ind.json"
    path.write_text(json.dumps([{"id": "x1", "patterns": ["evil.example"], "description": "d", "reference": "r"}]))
    assert [i.id for i in load_indicators(path)] == ["x1"]
    with pytest.raises(IndicatorError):
        load_indicators(tmp_path / "missing.json")


@pytest.mark.parametrize(
    "document",
    [
        "{}",
        "[]",
        '[{"id": "a", "patterns": ["abcdefg"], "description": "d", "reference": "r", "extra": 1}]',
        '[{"id": "A b", "patterns": ["abcdefg"], "description": "d", "reference": "r"}]',
        '[{"id": "a", "patterns": ["abc\\ndef"], "description": "d", "reference": "r"}]',
        '[{"id": "a", "patterns": ["abc\\u0000def"], "description": "d", "reference": "r"}]',
        '[{"id": "a", "patterns": ["abc"], "description": "d", "reference": "r"}]',
        '[{"id": "a", "patterns": [], "description": "d", "reference": "r"}]',
        '[{"id": "a", "patterns": ["abcdefg"], "description": "", "reference": "r"}]',
        '[{"id": "a", "id": "b", "patterns": ["abcdefg"], "description": "d", "reference": "r"}]',
        '[{"id": "a", "patterns": ["abcdefg"], "description": "d", "reference": "r"},'
        ' {"id": "a", "patterns": ["hijklmn"], "description": "d", "reference": "r"}]',
        '[{"id": "a", "patterns": ["abcdefg"], "description": "d", "reference": "r"},'
        ' {"id": "b", "patterns": ["abcdefg"], "description": "d", "reference": "r"}]',
        "[" * 10_000,
    ],
)
def test_invalid_indicator_files_are_refused(document: str):
    with pytest.raises(IndicatorError):
        parse_indicators(document.encode())

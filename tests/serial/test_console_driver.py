"""The console driver against a simulated rig's console on a real pty: stages, evidence, bad lines.

Every bad line the issue names (wrong baud, silence, refused login, huge printenv, a reboot or a
dead line mid-check) must end UNKNOWN with a reason that says what the console showed, within the
configured limits; a noisy but working line must still be read in full.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
import tty
from pathlib import Path

import pytest
import serial

from attest.address import PortProfile, parse_address
from attest.appraise import appraise
from attest.collect import collect
from attest.credentials import Credentials
from attest.evidence import Assurance
from attest.manifest import Manifest, load_manifest
from attest.policy import load_policy
from attest.sim.rig import DROP, NOISY, REBOOT, SILENT, Rig
from attest.sim.runner import write_artefacts
from attest.trust import TrustStore
from attest.verdict import Verdict
from tests.serial.console_peer import FAST, Collected, collect_console, genuine_rig, with_options

ANTMINER_S21, ANTMINER_S19 = 0, 1  # demo-fleet slots: the S21's U-Boot has hash sha256, the S19's only crc32


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Manifest], object]:
    """The vendor's manifest for the two demo rigs the tests power on, and the demo policy."""
    out = tmp_path_factory.mktemp("vendor")
    rigs = [genuine_rig(ANTMINER_S21), genuine_rig(ANTMINER_S19)]
    ports = {"api": 4028, "web": 80, "ssh": 22}
    write_artefacts(rigs, out, ports, {r.name: ports for r in rigs})
    manifest = load_manifest(out / "manifest.dsse.json", TrustStore.load(out / "trust"))
    return [manifest], load_policy(out / "policy.toml")


def check(rig: Rig, query: str = "", **kwargs: object) -> Collected:
    return asyncio.run(collect_console(rig, query, **kwargs))  # type: ignore[arg-type]


def console(behaviour: str) -> Rig:
    def change(rig: Rig) -> None:
        rig.console = behaviour
    return genuine_rig(ANTMINER_S21, change)


def verdict_of(got: Collected, signed: tuple[list[Manifest], object]) -> tuple[Verdict, dict[str, str]]:
    manifests, policy = signed
    appraisal = appraise(got.evidence, manifests, policy)  # type: ignore[arg-type]
    return appraisal.verdict, {r.code: r.detail for r in appraisal.reasons}


# --- where the console is ------------------------------------------------------------------------

def _wait_for(port: serial.Serial, text: bytes, seconds: float = 10.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + seconds
    while text not in seen and time.monotonic() < deadline:
        seen += port.read(256)
    assert text in seen, seen[-200:]
    return seen


def stop_in_uboot(path: str) -> None:
    with serial.Serial(path, 115200, timeout=0.1) as port:
        _wait_for(port, b"stop autoboot")
        port.write(b" ")
        _wait_for(port, b"> ")


def wait_for_login(path: str) -> None:
    with serial.Serial(path, 115200, timeout=0.1) as port:
        _wait_for(port, b"login: ")


def log_in(path: str) -> None:
    with serial.Serial(path, 115200, timeout=0.1) as port:
        _wait_for(port, b"login: ")
        port.write(b"root\r")
        _wait_for(port, b"Password: ")
        port.write(b"root\r")
        _wait_for(port, b"# ")


def test_a_fresh_power_on_is_caught_in_its_countdown_and_read_from_uboot_then_linux() -> None:
    got = check(genuine_rig(ANTMINER_S21))
    claims = got.claims()
    assert claims["console.found"] == "u-boot autoboot countdown"
    assert claims["uboot.version"].startswith("U-Boot 2022.01")
    assert claims["console.login"] == "as root"
    assert claims["console.shell.checked"] == "every output checked with the device's cksum"
    # U-Boot and Linux read the same flash, and agree; Linux's digest is the rig's own sha256sum.
    by_assurance = {(c.name, c.assurance): c.value for c in got.evidence.claims}
    for image in ("boot", "rootfs"):
        said = by_assurance[(f"firmware.image.{image}.device_sha256", Assurance.DEVICE)]
        assert by_assurance[(f"firmware.image.{image}.sha256", Assurance.BOOTLOADER)] == said
    assert not any(c.name.endswith(".sha256") and c.assurance is Assurance.MEASURED for c in got.evidence.claims)


def test_a_console_left_at_the_uboot_prompt_is_read_there_and_stays_there() -> None:
    got = check(genuine_rig(ANTMINER_S21), "stay=bootloader", prepare=stop_in_uboot)
    claims = got.claims()
    assert claims["console.found"] == "u-boot prompt"
    assert claims["uboot.env.bootcmd"].startswith("nand read")
    assert claims["unit.serial"] == genuine_rig(ANTMINER_S21).serial
    assert not any(c.assurance is Assurance.MEASURED for c in got.evidence.claims)
    assert got.console.boots == 1 and got.console._stage == "u-boot"


def test_a_vendor_prompt_and_a_crc32_only_uboot_give_weak_integrity_never_a_digest_match(signed) -> None:
    got = check(genuine_rig(ANTMINER_S19), "stay=bootloader", prepare=stop_in_uboot)
    claims = got.claims()
    assert claims["uboot.version"].startswith("U-Boot 2016.07")
    assert claims["firmware.image.rootfs.crc32"].startswith("crc32:")
    assert not any(name.endswith(".sha256") for name in claims)
    assert "weak" in claims["uboot.flash.integrity"]
    verdict, reasons = verdict_of(got, signed)
    assert verdict is not Verdict.TRUSTED
    assert "FIRMWARE_WEAK_INTEGRITY" in reasons and "rootfs" in reasons["FIRMWARE_WEAK_INTEGRITY"]
    assert "FIRMWARE_SIGNED_RELEASE" not in reasons


def test_a_console_at_its_login_prompt_is_logged_into() -> None:
    got = check(genuine_rig(ANTMINER_S21), "stay=linux", prepare=wait_for_login)
    claims = got.claims()
    assert claims["console.found"] == "linux login prompt"
    assert claims["console.login"] == "as root"
    assert claims["firmware.image.rootfs.device_sha256"].startswith("sha256:")


def test_a_console_left_at_a_root_shell_is_used_as_it_is() -> None:
    got = check(genuine_rig(ANTMINER_S21), "stay=linux", user="", prepare=log_in)
    claims = got.claims()
    assert claims["console.found"] == "linux shell"
    assert claims["console.login"] == "none needed: the console was at an open shell"
    assert claims["console.shell.user"] == "root"
    assert claims["hashboard.2.serial"] == genuine_rig(ANTMINER_S21).hashboards[2].serial


def test_a_noisy_line_is_read_through_to_the_same_claims_as_a_clean_one(signed) -> None:
    clean = check(genuine_rig(ANTMINER_S21))
    noisy = check(console(NOISY))
    assert noisy.evidence.problems == ()
    values = lambda got: {(c.name, c.assurance, c.value) for c in got.evidence.claims  # noqa: E731
                          if not c.name.startswith("console.")}
    assert values(noisy) == values(clean)
    assert verdict_of(noisy, signed)[0] is Verdict.TRUSTED


# --- bad lines: UNKNOWN, saying what was seen, on time --------------------------------------------

def _unknown(got: Collected, signed, code: str, *said: str, seconds: float) -> None:
    assert got.evidence.claims == (), "a failed console check must not leave a partial set of claims"
    verdict, reasons = verdict_of(got, signed)
    assert verdict is Verdict.UNKNOWN
    assert code in reasons, reasons
    for text in said:
        assert text in reasons[code], reasons[code]
    assert got.seconds < seconds


def test_wrong_baud_rate_is_unknown_as_line_noise(signed) -> None:
    got = check(genuine_rig(ANTMINER_S21), "baud=9600")
    _unknown(got, signed, "MALFORMED_REPLY", "line noise", "baud rate 9600", seconds=FAST.timeout + 1)


def test_a_console_that_never_shows_a_prompt_is_unknown_saying_it_sent_nothing(signed) -> None:
    got = check(console(SILENT))
    _unknown(got, signed, "TIMEOUT", "sent nothing", seconds=FAST.timeout + 1.5)


def test_a_refused_login_is_unknown_saying_so(signed) -> None:
    got = check(genuine_rig(ANTMINER_S21), user="root:wrong")
    _unknown(got, signed, "AUTH_FAILED", "Login incorrect", "root", seconds=FAST.boot_timeout + 2 * FAST.timeout)
    assert "wrong" not in str(got.evidence.problems)


def test_a_huge_printenv_is_cut_at_the_cap_and_unknown(signed) -> None:
    def huge(rig: Rig) -> None:
        # ~98 KB of environment in short lines, so whatever tail the message quotes names a variable
        rig.uboot_env.update({f"blob{i:04d}": "x" * 40 for i in range(2000)})

    got = check(genuine_rig(ANTMINER_S21, huge))
    # The cap (64 KiB) takes ~5.7 s of line at 115200: the limit is the timeout plus twice that.
    _unknown(got, signed, "REPLY_TOO_LARGE", "printenv", "blob", seconds=FAST.timeout + 2 * 5.7 + 1)


def test_a_reboot_mid_check_is_unknown_quoting_the_banner(signed) -> None:
    got = check(console(REBOOT))
    _unknown(got, signed, "CONNECTION_RESET", "restarted", "U-Boot 2022.01", seconds=FAST.boot_timeout)


def test_a_console_that_drops_mid_command_is_unknown_quoting_where_it_stopped(signed) -> None:
    got = check(console(DROP))
    _unknown(got, signed, "TIMEOUT", "sha256sum /dev/mtd", "silent", seconds=FAST.hash_timeout + 5)


def test_a_missing_port_is_unknown_and_unreachable(signed, tmp_path: Path) -> None:
    evidence = asyncio.run(collect(parse_address(f"serial://{tmp_path}/ttyUSB9"), ports=PortProfile(),
                                   credentials=Credentials(), options=with_options()))
    assert evidence.problems[0].code == "UNREACHABLE"


def test_a_live_listener_sees_the_console_as_it_crosses_the_line_without_the_password() -> None:
    from attest.drivers.base import ConsoleOutput

    seen: list[ConsoleOutput] = []
    got = check(genuine_rig(ANTMINER_S21), "stay=linux", listen=seen.append)
    assert got.evidence.claims and not got.evidence.problems
    assert {c.endpoint for c in seen} == {f"serial://{got.console.path}"}
    received = b"".join(c.data for c in seen if c.direction == "<")
    sent = b"".join(c.data for c in seen if c.direction == ">")
    assert b"login: " in received and b"BusyBox" in received
    assert b"[secret withheld]" in sent and b"root\r" in sent
    # The same chunks, in the same order, as the transcript keeps.
    assert [(c.endpoint, c.direction, c.data) for c in seen] == got.evidence.transcript.entries


def test_a_login_left_half_done_is_answered_once_and_started_over(signed) -> None:
    """A console at "Password:" that ignores Ctrl-C (some getty builds do), slow to refuse."""
    controller, agent = os.openpty()
    tty.setraw(agent)
    typed = bytearray()

    def peer() -> None:
        try:
            while True:
                data = os.read(controller, 256)
                typed.extend(data)
                if b"\x03" in data:  # shown again, not obeyed (the first showing went by unread)
                    os.write(controller, b"^C\r\nAntminer login: root\r\nPassword: ")
                if b"\r" in data:
                    time.sleep(1.0)  # busybox login takes its time over a wrong password
                    os.write(controller, b"\r\nLogin incorrect\r\nAntminer login: ")
        except OSError:
            return  # the test closed the pty

    threading.Thread(target=peer, daemon=True).start()
    try:
        evidence = asyncio.run(collect(parse_address(f"serial://{os.ttyname(agent)}"), ports=PortProfile(),
                                       credentials=Credentials(allow_vendor_defaults=False),
                                       options=with_options(timeout=5.0)))
    finally:
        os.close(controller)
        os.close(agent)
    assert evidence.problems[0].code == "AUTH_FAILED"  # it got back to the login prompt, with nothing to type
    assert "no credentials" in evidence.problems[0].detail
    assert typed.count(b"\r") == 1, typed


def test_stay_in_bootloader_at_a_running_linux_reboots_it_into_uboot_and_reads_it() -> None:
    got = check(genuine_rig(ANTMINER_S21), "stay=bootloader", prepare=wait_for_login)
    claims = got.claims()
    assert got.evidence.problems == ()
    assert claims["console.found"] == "linux login prompt"
    assert claims["uboot.version"].startswith("U-Boot 2022.01")
    assert claims["firmware.image.rootfs.sha256"].startswith("sha256:")
    assert not any(c.assurance is Assurance.MEASURED for c in got.evidence.claims)
    assert got.console.boots == 2 and got.console._stage == "u-boot"  # rebooted once, left in U-Boot


def test_a_shell_without_cksum_is_read_unverified_each_output_taken_twice(monkeypatch, signed) -> None:
    from attest.sim import console_shell as sim_shell

    def no_cksum(self: sim_shell.ConsoleShell, paths: list[str]) -> tuple[bytes, bytes, None]:
        self.status = 127
        return b"", b"sh: cksum: not found\n", None

    monkeypatch.setattr(sim_shell.ConsoleShell, "_cksum", no_cksum)
    seen: list = []
    got = check(genuine_rig(ANTMINER_S21), "stay=linux", listen=seen.append)
    claims = got.claims()
    assert got.evidence.problems == ()
    assert claims["console.shell.checked"].startswith("outputs unverified")
    rootfs = hashlib.sha256(genuine_rig(ANTMINER_S21).images["rootfs"]).hexdigest()
    said = {c.name: c.value for c in got.evidence.claims if c.assurance is Assurance.DEVICE}
    assert said["firmware.image.rootfs.device_sha256"] == f"sha256:{rootfs}"
    sent = b"".join(c.data for c in seen if c.direction == ">")
    assert sent.count(b"sha256sum /dev/mtd0 /dev/mtd1; echo") == 2  # the flash hash, read twice to agree
    # The Linux shell alone: only the rig's own sha256sum vouches for the flash, never a TRUSTED.
    verdict, reasons = verdict_of(got, signed)
    assert verdict is Verdict.WARNING and "FIRMWARE_DEVICE_DIGEST_ONLY" in reasons


def wait_for_countdown(path: str) -> None:
    with serial.Serial(path, 115200, timeout=0.1) as port:
        _wait_for(port, b"stop autoboot")


def test_stay_linux_never_stops_a_countdown_it_finds() -> None:
    seen: list = []
    rig = genuine_rig(ANTMINER_S21)
    got = asyncio.run(collect_console(rig, "stay=linux", prepare=wait_for_countdown, countdown=3,
                                      listen=seen.append))
    claims = got.claims()
    assert got.evidence.problems == ()
    assert claims["console.found"] == "u-boot autoboot countdown"
    assert "uboot.version" not in claims and claims["console.login"] == "as root"
    login = next(i for i, c in enumerate(seen) if c.direction == ">" and c.data == b"root\r")
    typed = [c.data for c in seen[:login] if c.direction == ">" and not c.data.startswith(b"[open ")]
    assert typed == [], f"any key stops autoboot, and these were sent: {typed}"
    assert got.console.boots == 1


def test_a_vendor_prompt_that_looks_like_a_shell_is_found_when_named(monkeypatch) -> None:
    import dataclasses

    from attest.sim import uboot as sim_uboot

    custom = dataclasses.replace(sim_uboot.BUILDS["Antminer S21"], prompt="bitmain# ")
    monkeypatch.setitem(sim_uboot.BUILDS, "Antminer S21", custom)
    named = check(genuine_rig(ANTMINER_S21), "stay=bootloader&prompt=bitmain%23")
    assert named.evidence.problems == ()
    assert named.claims()["uboot.version"].startswith("U-Boot 2022.01")
    unnamed = check(genuine_rig(ANTMINER_S21), "stay=bootloader")
    code, detail = unnamed.problem()
    assert code == "TIMEOUT" and "bitmain#" in detail  # it says what the console showed instead

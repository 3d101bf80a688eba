"""Recognising a console's stages and framing command output on a line that is not a protocol."""

from __future__ import annotations

import pytest

from attest.drivers.console_text import (
    AUTOBOOT,
    LOGIN_PROMPT,
    PASSWORD_PROMPT,
    SHELL_PROMPT,
    UBOOT_PROMPT,
    UBOOT_REBOOT_SIGNS,
    FrameScan,
    Rebooted,
    clean,
    noise_ratio,
    tail,
)


@pytest.mark.parametrize("end", [b"\r\n=> ", b"\r\nzynq-uboot> ", b"\nU-Boot> ", b"\r\nZynqMP>",
                                 b"\r\n\x1b[1m=>\x1b[0m "])
def test_uboot_prompt_variants_are_recognised(end: bytes) -> None:
    assert UBOOT_PROMPT.search(tail(b"DRAM:  1 GiB\r\nNet:   eth0" + end))


@pytest.mark.parametrize("end", [b"\r\nroot@antMiner:~# ", b"\r\n# ", b"\r\n~ $ "])
def test_shell_prompts_are_recognised_and_are_not_uboot_prompts(end: bytes) -> None:
    assert SHELL_PROMPT.search(tail(b"BusyBox v1.31.1" + end))
    assert not UBOOT_PROMPT.search(tail(b"BusyBox v1.31.1" + end))


def test_a_finished_line_ending_in_a_prompt_character_is_no_prompt() -> None:
    assert not UBOOT_PROMPT.search(tail(b"copying 0x100 bytes => done\r\n"))
    assert not SHELL_PROMPT.search(tail(b"# comment line\r\n"))


def test_login_password_and_autoboot_shapes() -> None:
    assert LOGIN_PROMPT.search(tail(b"\r\nAntminer login: "))
    assert PASSWORD_PROMPT.search(tail(b"root\r\nPassword: "))
    countdown = b"Hit any key to stop autoboot:  2 \b\b\b 1 "
    assert AUTOBOOT.search(clean(countdown))


def test_clean_drops_escapes_and_junk_and_unifies_line_breaks() -> None:
    raw = b"\x1b[32mgreen\x1b[0m\r\nnext\n\rthird\rfourth\xff\xfe\x00 x\bY"
    assert clean(raw) == b"green\nnext\nthird\nfourth Y"


def test_noise_ratio_tells_a_wrong_baud_rate_from_text() -> None:
    wrong_rate = bytes((0x80 | (i * 113) % 128) for i in range(400))
    assert noise_ratio(wrong_rate) > 0.9
    assert noise_ratio(b"U-Boot 2022.01\r\n\x1b[0mDRAM: 1 GiB\r\n") == 0.0


def _scan_bytewise(scan: FrameScan, data: bytes) -> bool:
    """Feed the buffer as a slow line delivers it: one byte at a time, the matcher re-run each time."""
    done = False
    for end in range(1, len(data) + 1):
        done = scan(data[:end])
        if done:
            return True
    return done


def test_frame_takes_exactly_the_output_between_markers_despite_echo_crlf_ansi_kernel_lines() -> None:
    # What U-Boot shows for `echo TB; echo TB; printenv x; echo TE; echo TE` with the line's habits.
    wire = (b"=> echo TB; echo TB; printenv x; echo TE; echo TE\r\n"  # our echo: ends with the end token
            b"TB\r\nTB\r\n"
            b"\x1b[0mx=1\n\r"
            b"[   12.345678] usb 1-1: device descriptor read/64, error -71\r\n"
            b"y=\xff2\r\n"
            b"TE\r\nTE\r\n=> ")
    scan = FrameScan(b"TB", b"TE")
    assert _scan_bytewise(scan, wire)
    assert scan.body == [b"x=1", b"y=2"]


def test_frame_ends_at_the_second_end_marker_when_the_first_is_spoilt() -> None:
    wire = b"TB\r\nTB\r\nline\r\nT\xc5E0\r\nTE0\r\n# "
    scan = FrameScan(b"TB", b"TE")
    assert _scan_bytewise(scan, wire)
    assert scan.status == 0
    assert scan.body[0] == b"line"  # the spoilt copy stays as a junk line after the output


def test_frame_begins_at_the_second_begin_marker_when_the_first_is_spoilt() -> None:
    scan = FrameScan(b"TB", b"TE")
    assert _scan_bytewise(scan, b"echo T''B\r\nX\xe1B\r\nTB\r\nout\r\nTE7\r\n")
    assert scan.body == [b"out"] and scan.status == 7


def test_output_running_into_the_end_marker_without_a_newline_is_kept() -> None:
    scan = FrameScan(b"TB", b"TE")
    assert scan(b"TB\nTB\n02:a7:30:06:00:00TE0\n")
    assert scan.body == [b"02:a7:30:06:00:00"] and scan.status == 0


def test_a_boot_banner_mid_command_is_a_reboot_not_output() -> None:
    scan = FrameScan(b"TB", b"TE", UBOOT_REBOOT_SIGNS)
    with pytest.raises(Rebooted) as caught:
        _scan_bytewise(scan, b"TB\r\nTB\r\npartial\r\n\r\nU-Boot SPL 2022.01 (Jul 10 2026)\r\nDRAM:  1 GiB\r\n")
    assert b"U-Boot SPL" in caught.value.line


def test_garbage_never_completes_a_frame() -> None:
    scan = FrameScan(b"TB", b"TE")
    junk = bytes(range(256)) * 8
    assert not _scan_bytewise(scan, junk + b"\r\n")
    assert not scan.begun

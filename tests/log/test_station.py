"""The station key: encrypted at rest, 0600, one per station, and clear errors when it can't be used."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization

from attest.log.errors import LogError
from attest.station import (
    INFO_FILE,
    KEY_FILE,
    data_directory,
    init_station,
    load_identity,
    load_signer,
    station_directory,
)
from tests.log.synthetic import PASSPHRASE


def test_station_files_live_under_attest_home(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTEST_HOME", str(tmp_path))
    assert station_directory() == tmp_path / "station"
    assert data_directory() == tmp_path


def test_init_makes_an_encrypted_private_key_only_the_owner_can_read():
    identity = init_station(PASSPHRASE.encode(), "intake-bench-3")
    key_file = station_directory() / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((station_directory() / INFO_FILE).stat().st_mode) == 0o600
    pem = key_file.read_bytes()
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(pem, None)
    assert identity.station_id == "intake-bench-3"
    assert load_identity() == identity


def test_fingerprint_is_sha256_of_the_raw_public_key():
    identity = init_station(PASSPHRASE.encode())
    raw = identity.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert identity.fingerprint == hashlib.sha256(raw).hexdigest()
    assert identity.station_id == f"station-{identity.fingerprint[:12]}"


def test_unlocked_key_signs_as_the_published_identity():
    identity = init_station(PASSPHRASE.encode(), "s1")
    signer = load_signer(PASSPHRASE.encode())
    identity.public_key.verify(signer.sign(b"checkpoint"), b"checkpoint")


def test_wrong_passphrase_is_named_and_the_key_still_opens_with_the_right_one():
    init_station(PASSPHRASE.encode(), "s1")
    with pytest.raises(LogError) as e:
        load_signer(b"Tr0ub4dor&3")
    assert e.value.code == "STATION_PASSPHRASE_WRONG"
    assert load_signer(PASSPHRASE.encode()).station_id == "s1"


def test_missing_key_says_to_run_station_init():
    with pytest.raises(LogError) as e:
        load_signer(PASSPHRASE.encode())
    assert e.value.code == "STATION_NOT_INITIALISED"
    init_station(PASSPHRASE.encode(), "s1")
    (station_directory() / KEY_FILE).unlink()
    with pytest.raises(LogError) as e:
        load_signer(PASSPHRASE.encode())
    assert e.value.code == "STATION_NOT_INITIALISED"
    assert "missing" in e.value.message


def test_second_init_refuses_to_replace_the_key_that_signed_the_logs():
    first = init_station(PASSPHRASE.encode(), "s1")
    with pytest.raises(LogError) as e:
        init_station(b"another", "s2")
    assert e.value.code == "STATION_ALREADY_INITIALISED"
    assert load_signer(PASSPHRASE.encode()).identity == first


def test_a_key_file_swapped_for_another_station_key_is_refused(tmp_path):
    init_station(PASSPHRASE.encode(), "s1")
    init_station(PASSPHRASE.encode(), "s2", directory=tmp_path / "other")
    os.replace(tmp_path / "other" / KEY_FILE, station_directory() / KEY_FILE)
    with pytest.raises(LogError) as e:
        load_signer(PASSPHRASE.encode())
    assert e.value.code == "STATION_FILES_INVALID"


@pytest.mark.parametrize("bad", ["", "-lead", "has space", "x" * 65, "new\nline", "ünï"])
def test_station_ids_that_would_print_ambiguously_are_refused(bad):
    with pytest.raises(LogError) as e:
        init_station(PASSPHRASE.encode(), bad)
    assert e.value.code == "STATION_FILES_INVALID"


def test_empty_passphrase_is_refused():
    with pytest.raises(LogError) as e:
        init_station(b"", "s1")
    assert e.value.code == "STATION_PASSPHRASE_NEEDED"


def test_read_only_data_dir_gives_a_clear_error_and_keeps_the_existing_key(read_only):
    home = data_directory()
    home.mkdir(parents=True, exist_ok=True)
    with read_only(home):
        with pytest.raises(LogError) as e:
            init_station(PASSPHRASE.encode(), "s1")
        assert e.value.code == "STATION_FILES_UNWRITABLE"
        assert "Read-only" in e.value.message or "ermission" in e.value.message
    init_station(PASSPHRASE.encode(), "s1")
    with read_only(station_directory()):
        assert load_signer(PASSPHRASE.encode()).station_id == "s1"  # reading still works

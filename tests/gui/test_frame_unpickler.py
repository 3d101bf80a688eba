"""Frames from the check process are read as data only: a pickle that would call a function
(what a compromised check process would send) is refused before anything runs."""

from __future__ import annotations

import asyncio
import io
import os
import pickle

import pytest

from attest.evidence import Assurance, Claim, Evidence, Problem
from attest.fleet import DeviceCollected
from gui.check_frames import encode_frame, load_frame, read_frame, read_frame_async


class _RunsACommand:
    def __reduce__(self):
        return (os.system, ("touch /tmp/should-never-exist-rig-attest",))


def test_our_own_events_round_trip():
    ev = Evidence("10.0.4.17", (Claim("unit.serial", "SN1", "api://10.0.4.17:4028 stats", Assurance.REPORTED),),
                  (Problem("TIMEOUT", "ssh://10.0.4.17:22", "no banner"),))
    frame = encode_frame([DeviceCollected(ev)])
    [event] = read_frame(io.BytesIO(frame))
    assert event.evidence.claims == ev.claims and event.evidence.problems == ev.problems


@pytest.mark.parametrize("payload", [
    _RunsACommand(),
    [DeviceCollected(Evidence("x", ())), _RunsACommand()],  # hidden inside an honest-looking frame
])
def test_a_frame_that_would_call_a_function_is_refused(payload, tmp_path):
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(pickle.UnpicklingError, match=r"posix.system|os.system|nt.system"):
        load_frame(data)
    assert not os.path.exists("/tmp/should-never-exist-rig-attest")


@pytest.mark.parametrize("module, name", [
    ("attest.cli", "main"),  # a function of ours
    ("attest.cli", "os"),  # a module one of ours imported
    ("attest.cli", "NoSuchThing"),
    ("attest.cli", "os.system"),  # a dotted path through an imported module
    ("builtins", "eval"),
    ("gui.check_frames", "pickle"),
])
def test_only_classes_defined_in_our_modules_are_built(module, name):
    # A frame naming the global directly (protocol 4's STACK_GLOBAL), as a hand-made pickle would.
    data = (pickle.PROTO + bytes([4]) + pickle.SHORT_BINUNICODE + bytes([len(module)]) + module.encode()
            + pickle.SHORT_BINUNICODE + bytes([len(name)]) + name.encode() + pickle.STACK_GLOBAL + pickle.STOP)
    with pytest.raises(pickle.UnpicklingError):
        load_frame(data)


def test_the_station_reads_frames_with_the_same_guard():
    data = pickle.dumps(_RunsACommand(), protocol=pickle.HIGHEST_PROTOCOL)

    async def read() -> object:
        reader = asyncio.StreamReader()
        reader.feed_data(len(data).to_bytes(4, "big") + data)
        reader.feed_eof()
        return await read_frame_async(reader)

    with pytest.raises(pickle.UnpicklingError):
        asyncio.run(read())

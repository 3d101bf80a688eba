"""A unit's SSH host key goes into its signed log record at its first check; a later check with
another key is SSH_HOST_KEY_CHANGED (a WARNING), read back through that record.

The whole path is real: a simulated rig on loopback SSH, attest.fleet.verify_many, the record
attest.log.append writes to a SQLite log, and attest.history.sighting_from_record reading it
back. Between the checks the rig gets a new host key, as a reflash (or a machine in the middle)
would give it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

from attest.address import HostTarget, PortProfile
from attest.appraise import Appraisal, appraise
from attest.credentials import Credentials
from attest.drivers.base import CollectOptions
from attest.fleet import BatchDone, verify_many
from attest.history import PriorChecks, sighting_from_record
from attest.log.append import log_batch
from attest.log.sqlite import SqliteStore
from attest.manifest import load_manifest
from attest.policy import load_policy
from attest.sim.runner import SimFleet, start_fleet
from attest.sim.ssh_server import SSHServerHandle, host_key_from_seed, start_ssh_server
from attest.station import station_directory
from attest.trust import TrustStore
from attest.verdict import Verdict
from tests.conftest import free_loopback_base
from tests.log.synthetic import make_signer


async def _check(fleet: SimFleet, out: Path) -> Appraisal:
    manifests = [load_manifest(out / "manifest.dsse.json", TrustStore.load(out / "trust"))]
    events = [e async for e in verify_many(
        [HostTarget(fleet.rigs[0].host)], manifests=manifests, policy=load_policy(out / "policy.toml"),
        ports=PortProfile(**fleet.ports or {}), credentials=Credentials(), options=CollectOptions(timeout=10.0))]
    done = events[-1]
    assert isinstance(done, BatchDone)
    return done.appraisals[0]


async def _new_host_key(fleet: SimFleet) -> None:
    """Restart the rig's SSH server with another key, on the same address and port."""
    rig = fleet.rigs[0]
    old = next(s for s in fleet.servers if isinstance(s, SSHServerHandle) and s.host == rig.host)
    old.close()
    await old.wait_closed()
    fleet.servers.remove(old)
    rig.host_key_seed = "reflashed"
    server = await start_ssh_server(rig, rig.host, old.port)
    assert server is not None
    fleet.servers.append(server)


async def _two_checks(out: Path, *, change_key: bool) -> tuple[Appraisal, Appraisal]:
    fleet = await start_fleet(1, "genuine", out, base=free_loopback_base(), consoles=False)
    try:
        first = await _check(fleet, out)
        if change_key:
            await _new_host_key(fleet)
        return first, await _check(fleet, out)
    finally:
        await fleet.close()


def _prior_from_log(first: Appraisal, log: Path) -> PriorChecks:
    signer = make_signer(station_directory())
    with SqliteStore(log) as store:
        log_batch(store, signer, [first], operator="tester")
        records = [json.loads(r.data) for r in store.records(0, store.count())]
    sightings = [s for i, r in enumerate(records) if (s := sighting_from_record(r, reference=f"#{i}")) is not None]
    return PriorChecks(tuple(sightings), ("station log",))


def test_the_host_key_is_in_the_signed_record_and_a_new_one_later_is_a_warning(tmp_path: Path) -> None:
    first, second = asyncio.run(_two_checks(tmp_path / "sim", change_key=True))
    assert first.verdict is Verdict.TRUSTED
    recorded = first.to_json()["claims"]["ssh.host_key"]["value"]
    assert recorded.startswith("SHA256:")
    prior = _prior_from_log(first, tmp_path / "log.sqlite")
    assert prior.sightings[0].ssh_host_key == recorded  # read back from the record the log signed
    again = appraise(second.evidence, [first.manifest], load_policy(tmp_path / "sim" / "policy.toml"), prior=prior)
    changed = next(r for r in again.reasons if r.code == "SSH_HOST_KEY_CHANGED")
    assert changed.expected == recorded
    assert changed.found == host_key_from_seed("reflashed").get_fingerprint("sha256") != recorded
    assert again.verdict is Verdict.WARNING


def test_the_same_host_key_again_is_only_history(tmp_path: Path) -> None:
    first, second = asyncio.run(_two_checks(tmp_path / "sim", change_key=False))
    prior = _prior_from_log(first, tmp_path / "log.sqlite")
    again = appraise(second.evidence, [first.manifest], load_policy(tmp_path / "sim" / "policy.toml"), prior=prior)
    codes = {r.code for r in again.reasons}
    assert "SSH_HOST_KEY_CHANGED" not in codes and "IDENTITY_SEEN_BEFORE" in codes
    assert again.verdict is Verdict.TRUSTED


def test_a_record_from_before_the_fingerprint_form_is_compared_by_its_fingerprint(tmp_path: Path) -> None:
    """Records written before ssh.host_key became ``SHA256:...`` held ``<algorithm> SHA256:...``."""
    first, second = asyncio.run(_two_checks(tmp_path / "sim", change_key=False))
    prior = _prior_from_log(first, tmp_path / "log.sqlite")
    old = replace(prior.sightings[0], ssh_host_key="ssh-ed25519 " + str(prior.sightings[0].ssh_host_key))
    again = appraise(second.evidence, [first.manifest], load_policy(tmp_path / "sim" / "policy.toml"),
                     prior=replace(prior, sightings=(old,)))
    assert "SSH_HOST_KEY_CHANGED" not in {r.code for r in again.reasons}

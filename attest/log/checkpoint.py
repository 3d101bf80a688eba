"""Signed checkpoints: the station's word that its log had N records with this root at a time.

A checkpoint is a DSSE envelope (payload type below) over the RFC 8785 payload ``{schema,
origin, tree_size, root_hash, time}``, signed with the station's Ed25519 key over DSSE's PAE.
Reusing DSSE rather than inventing a signed format means the same key can sign checkpoints and
in-toto statements without either ever being mistaken for the other: PAE binds the payload
type into every signature. ``keyid`` is the station fingerprint (SHA-256 of the raw public key).

The signature is always checked over the payload bytes exactly as they arrived, before the
payload is believed; re-encoding first would let a verifier and a reader see different things.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric import ed25519

from attest.canonical import canonical_json
from attest.dsse import NotJsonError, b64decode, b64encode, pae, strict_json_loads
from attest.log.canonical import iso_time
from attest.log.errors import LogError
from attest.log.files import read_capped
from attest.station import StationIdentity, StationSigner, fingerprint, signature_is_valid

PAYLOAD_TYPE = "application/vnd.rigattest.checkpoint.v1+json"
SCHEMA = "rigattest.checkpoint/v1"
#: A checkpoint is a few hundred bytes; refuse to parse megabytes pretending to be one.
MAX_CHECKPOINT_BYTES = 64 * 1024


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    time: str
    keyid: str
    signature: bytes
    payload: bytes  # the exact signed bytes

    def envelope(self) -> dict[str, Any]:
        return {"payload": b64encode(self.payload), "payloadType": PAYLOAD_TYPE,
                "signatures": [{"keyid": self.keyid, "sig": b64encode(self.signature)}]}

    def signature_valid(self, public_key: ed25519.Ed25519PublicKey) -> bool:
        return signature_is_valid(public_key, self.signature, pae(PAYLOAD_TYPE, self.payload))

    def signed_by(self, public_key: ed25519.Ed25519PublicKey) -> bool:
        return self.keyid == fingerprint(public_key) and self.signature_valid(public_key)

    def summary(self) -> dict[str, Any]:
        return {"origin": self.origin, "tree_size": self.tree_size, "root_hash": self.root_hash.hex(),
                "time": self.time, "keyid": self.keyid}

    @classmethod
    def from_envelope(cls, obj: Any) -> Checkpoint:
        """Parse without trusting; raises ``ValueError`` naming what is malformed."""
        if not isinstance(obj, dict) or obj.get("payloadType") != PAYLOAD_TYPE:
            raise ValueError("not a Rig Attest checkpoint envelope")
        sigs = obj.get("signatures")
        if not isinstance(sigs, list) or len(sigs) != 1 or not isinstance(sigs[0], dict):
            raise ValueError("a checkpoint carries exactly one signature")
        keyid, sig = sigs[0].get("keyid"), sigs[0].get("sig")
        if not isinstance(keyid, str) or not isinstance(sig, str) or not isinstance(obj.get("payload"), str):
            raise ValueError("the checkpoint's signature or payload is missing")
        payload = b64decode(obj["payload"])
        try:
            body = strict_json_loads(payload)
        except (NotJsonError, ValueError) as e:
            raise ValueError(f"the checkpoint payload is not JSON: {e}") from None
        if not isinstance(body, dict) or body.get("schema") != SCHEMA:
            raise ValueError("the checkpoint payload is not a rigattest.checkpoint/v1")
        origin, size, root, time = (body.get(k) for k in ("origin", "tree_size", "root_hash", "time"))
        if not (isinstance(origin, str) and isinstance(size, int) and not isinstance(size, bool)
                and size >= 0 and isinstance(root, str) and isinstance(time, str)):
            raise ValueError("the checkpoint payload lacks origin, tree_size, root_hash or time")
        try:
            root_bytes = bytes.fromhex(root)
        except ValueError:
            root_bytes = b""
        if len(root_bytes) != 32:
            raise ValueError("the checkpoint's root_hash is not a SHA-256 in hex")
        return cls(origin, size, root_bytes, time, keyid, b64decode(sig), payload)


def sign_checkpoint(signer: StationSigner, tree_size: int, root_hash: bytes, now: datetime, *,
                    extends: tuple[int, Sequence[bytes]] | None = None) -> Checkpoint:
    """``extends`` is (the size the tree was built on, the leaves added): a signer that holds no
    key itself (the GUI's check process asks the station, ``ExtensionSigner``) is given what it
    needs to check that the checkpoint only adds those leaves to the last one it signed."""
    payload = canonical_json({"schema": SCHEMA, "origin": signer.station_id, "tree_size": tree_size,
                              "root_hash": root_hash.hex(), "time": iso_time(now)})
    message = pae(PAYLOAD_TYPE, payload)
    if isinstance(signer, ExtensionSigner):
        if extends is None:
            raise LogError("STATION_FILES_INVALID", "this process may only sign checkpoints that extend the log")
        signature = signer.sign_extension(message, *extends)
    else:
        signature = signer.sign(message)
    return Checkpoint(signer.station_id, tree_size, root_hash, iso_time(now), signer.identity.fingerprint,
                      signature, payload)


@runtime_checkable
class ExtensionSigner(Protocol):
    """A signer without the key: it can only have checkpoints signed that extend the log by the
    given leaves (the station checks that before it signs)."""

    identity: StationIdentity

    @property
    def station_id(self) -> str: ...

    def sign_extension(self, message: bytes, base_size: int, leaves: Sequence[bytes]) -> bytes: ...


def checkpoint_payload(message: bytes) -> Checkpoint:
    """The checkpoint a PAE message would sign (signature and key id left empty), or ValueError:
    what a station reads before it signs a message another process hands it."""
    prefix = b"DSSEv1 %d %b " % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode())
    if not message.startswith(prefix):
        raise ValueError("not a checkpoint message")
    length, _, payload = message[len(prefix):].partition(b" ")
    if not length.isdigit() or int(length) != len(payload) or pae(PAYLOAD_TYPE, payload) != message:
        raise ValueError("a malformed checkpoint message")
    envelope = {"payload": b64encode(payload), "payloadType": PAYLOAD_TYPE,
                "signatures": [{"keyid": "", "sig": ""}]}
    return Checkpoint.from_envelope(envelope)


def parse_checkpoint_json(data: bytes, where: str) -> Checkpoint:
    try:
        return Checkpoint.from_envelope(strict_json_loads(data))
    except (NotJsonError, ValueError, binascii.Error) as e:
        raise LogError("LOG_UNREADABLE", f"{where} is not a checkpoint: {e}") from None


def read_checkpoint_file(path: str | os.PathLike[str]) -> Checkpoint:
    return parse_checkpoint_json(read_capped(path, MAX_CHECKPOINT_BYTES, "a checkpoint"), str(path))


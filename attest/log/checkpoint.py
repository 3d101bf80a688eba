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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from attest.canonical import canonical_json
from attest.dsse import NotJsonError, b64decode, b64encode, pae, strict_json_loads
from attest.log.canonical import iso_time
from attest.log.errors import LogError
from attest.log.files import read_capped
from attest.station import StationSigner, fingerprint, signature_is_valid

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


def sign_checkpoint(signer: StationSigner, tree_size: int, root_hash: bytes, now: datetime) -> Checkpoint:
    payload = canonical_json({"schema": SCHEMA, "origin": signer.station_id, "tree_size": tree_size,
                              "root_hash": root_hash.hex(), "time": iso_time(now)})
    signature = signer.sign(pae(PAYLOAD_TYPE, payload))
    return Checkpoint(signer.station_id, tree_size, root_hash, iso_time(now), signer.identity.fingerprint,
                      signature, payload)


def parse_checkpoint_json(data: bytes, where: str) -> Checkpoint:
    try:
        return Checkpoint.from_envelope(strict_json_loads(data))
    except (NotJsonError, ValueError, binascii.Error) as e:
        raise LogError("LOG_UNREADABLE", f"{where} is not a checkpoint: {e}") from None


def read_checkpoint_file(path: str | os.PathLike[str]) -> Checkpoint:
    return parse_checkpoint_json(read_capped(path, MAX_CHECKPOINT_BYTES, "a checkpoint"), str(path))


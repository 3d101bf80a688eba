"""The warehouse server's ingest check, run inside PostgreSQL by PL/Python (``attest.ingest_push``).

This file is the body of a trigger function (``schema.sql`` embeds it), so it must stand alone:
the server's own Python 3 with ``hashlib`` and Debian's ``python3-cryptography``, nothing of
``attest``. The station's side imports ``compact_range`` from here so both ends agree on it.

What it refuses to believe: a push is one station's next run of records, the checkpoint it
signed over them, and the hashes of the records after them up to that checkpoint (the
"compact range", a few dozen hashes). It is stored only if the role that sent it is enrolled,
the checkpoint is signed by that station's enrolled Ed25519 key for that station, each record
names that station and its own position and the hash of the record before it (the chain the
station's log keeps), and the records, after everything the server already holds from that
station, add up with the compact range to exactly the signed root. That last step proves every
record's inclusion under the signed checkpoint at its index (RFC 6962 hashing), with one
signature check per push instead of one proof per record. Anything else is refused: the push
row is kept with the refusal (so ``attest store report`` shows it) and no record is stored.
"""

import base64
import hashlib
import json
from typing import Any

PAYLOAD_TYPE = "application/vnd.rigattest.checkpoint.v1+json"
CHECKPOINT_SCHEMA = "rigattest.checkpoint/v1"
MAX_RECORDS = 10_000
MAX_RECORD_BYTES = 1024 * 1024
MAX_PUSH_BYTES = 64 * 1024 * 1024
MAX_CHECKPOINT_BYTES = 64 * 1024


class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def compact_range(begin: int, end: int) -> list[tuple[int, int]]:
    """The aligned perfect subtrees (level, index) that cover leaves [begin, end), left to right."""
    out: list[tuple[int, int]] = []
    while begin < end:
        level = (begin & -begin).bit_length() - 1 if begin else (end - begin).bit_length() - 1
        while begin + (1 << level) > end:
            level -= 1
        out.append((level, begin >> level))
        begin += 1 << level
    return out


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def push_node(frontier: list[tuple[int, bytes]], level: int, digest: bytes) -> None:
    """Add an aligned perfect subtree to the right of the frontier (a binary counter's carry)."""
    while frontier and frontier[-1][0] == level:
        _, left = frontier.pop()
        digest = _node(left, digest)
        level += 1
    frontier.append((level, digest))


def frontier_levels(size: int) -> list[int]:
    return [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


def root_of(frontier: list[tuple[int, bytes]]) -> bytes:
    if not frontier:
        return hashlib.sha256(b"").digest()
    root = frontier[-1][1]
    for _, digest in reversed(frontier[:-1]):
        root = _node(digest, root)
    return root


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def read_checkpoint(envelope_text: str, station: str, public_key: bytes, fingerprint: str) -> dict[str, Any]:
    """The checkpoint's payload, once its one signature is the enrolled key's over these bytes."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not isinstance(envelope_text, str) or len(envelope_text) > MAX_CHECKPOINT_BYTES:
        raise Refused("STORE_CHECKPOINT_INVALID", "the checkpoint is missing or too large")
    try:
        envelope = json.loads(envelope_text)
        sigs = envelope["signatures"]
        if envelope["payloadType"] != PAYLOAD_TYPE or not isinstance(sigs, list) or len(sigs) != 1:
            raise ValueError("not one signature over a Rig Attest checkpoint")
        payload = base64.b64decode(envelope["payload"], validate=True)
        signature = base64.b64decode(sigs[0]["sig"], validate=True)
        keyid = sigs[0]["keyid"]
    except (ValueError, KeyError, TypeError) as e:
        raise Refused("STORE_CHECKPOINT_INVALID", f"the checkpoint is malformed: {e}") from None
    if keyid != fingerprint:
        raise Refused("STORE_KEY_NOT_ENROLLED", f"the checkpoint is signed by key {str(keyid)[:64]}, not the key "
                      f"enrolled for station {station} ({fingerprint})")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, pae(PAYLOAD_TYPE, payload))
    except InvalidSignature:
        raise Refused("STORE_SIGNATURE_INVALID", f"the checkpoint's signature is not station {station}'s "
                      "enrolled key's") from None
    try:
        body = json.loads(payload)
        size, root, origin = body["tree_size"], bytes.fromhex(body["root_hash"]), body["origin"]
        if body["schema"] != CHECKPOINT_SCHEMA or not isinstance(size, int) or size < 0 or len(root) != 32:
            raise ValueError("not a rigattest.checkpoint/v1")
    except (ValueError, KeyError, TypeError) as e:
        raise Refused("STORE_CHECKPOINT_INVALID", f"the signed checkpoint is malformed: {e}") from None
    if origin != station:
        raise Refused("STORE_CHECKPOINT_INVALID", f"the checkpoint was signed for station {str(origin)[:64]!r}, "
                      f"not {station!r}")
    return {"tree_size": size, "root": root, "time": body.get("time")}


def record_fields(data: bytes, index: int, previous: bytes | None, station: str) -> dict[str, Any]:
    """The columns queries use, read from the record bytes the leaf hash covers; the record must
    sit at ``index`` after ``previous`` in ``station``'s log."""
    try:
        record = json.loads(data)
    except ValueError:
        raise Refused("STORE_RECORD_MALFORMED", f"record {index} is not JSON") from None
    if not isinstance(record, dict):
        raise Refused("STORE_RECORD_MALFORMED", f"record {index} is not a JSON object")
    if record.get("index") != index:
        raise Refused("STORE_CHAIN_BROKEN", f"the record pushed at index {index} says it is record "
                      f"{str(record.get('index'))[:20]}")
    if record.get("previous_leaf") != (None if previous is None else previous.hex()):
        raise Refused("STORE_CHAIN_BROKEN", f"record {index} does not follow record {index - 1}: its "
                      "previous_leaf is not that record's hash")
    if record.get("station") != station:
        raise Refused("STORE_RECORD_MALFORMED", f"record {index} names station "
                      f"{str(record.get('station'))[:64]!r}, not {station!r}")
    when = record.get("time")
    if not isinstance(when, str) or not when:
        raise Refused("STORE_RECORD_MALFORMED", f"record {index} has no time")
    reasons = record.get("reasons")
    codes = [r["code"] for r in reasons if isinstance(r, dict) and isinstance(r.get("code"), str)] \
        if isinstance(reasons, list) else []

    def text(name: str) -> str | None:
        value = record.get(name)
        return value if isinstance(value, str) else None

    return {"time": when, "serial": text("serial"), "verdict": text("verdict"), "batch": text("batch"),
            "address": text("address"), "identity": text("identity_sha256"), "reasons": " ".join(codes)}


def ingest(plpy: Any, SD: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Check one push row and store its records; returns the outcome columns."""
    plans = SD.get("plans")
    if plans is None:
        plans = SD["plans"] = {
            "station": plpy.prepare("SELECT station, public_key, fingerprint FROM attest.stations WHERE role = $1",
                                    ["name"]),
            "lock": plpy.prepare("SELECT pg_advisory_xact_lock(hashtextextended('attest.push:' || $1, 0))",
                                 ["text"]),
            "head": plpy.prepare("SELECT head, frontier FROM attest.pushes WHERE station = $1 AND outcome = "
                                 "'accepted' ORDER BY id DESC LIMIT 1", ["text"]),
            "leaves": plpy.prepare("SELECT idx, leaf_hash FROM attest.records WHERE station = $1 AND idx >= $2 "
                                   "AND idx < $3 ORDER BY idx", ["text", "bigint", "bigint"]),
            "insert": plpy.prepare(
                "INSERT INTO attest.records (station, idx, leaf_hash, data, push_id, time, serial, verdict, batch, "
                "address, identity_sha256, reasons) SELECT $1, i, h, d, $2, t::timestamptz, s, v, b, a, f, "
                "string_to_array(NULLIF(r, ''), ' ') FROM unnest($3::bigint[], $4::bytea[], $5::bytea[], "
                "$6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[]) "
                "AS u(i, h, d, t, s, v, b, a, f, r)",
                ["text", "bigint", "bigint[]", "bytea[]", "bytea[]", "text[]", "text[]", "text[]", "text[]",
                 "text[]", "text[]", "text[]"]),
        }
    rows = plpy.execute(plans["station"], [new["role"]])
    if not rows:
        raise Refused("STORE_NOT_ENROLLED", f"role {new['role']} has no enrolled station: enrol the station "
                      "(attest station enroll) before it pushes")
    station, public_key, fingerprint = rows[0]["station"], bytes(rows[0]["public_key"]), rows[0]["fingerprint"]
    if new.get("station") not in (None, station):
        raise Refused("STORE_NOT_ENROLLED", f"role {new['role']} is enrolled as station {station}, "
                      f"not {str(new['station'])[:64]}")
    checkpoint = read_checkpoint(new["checkpoint"], station, public_key, fingerprint)
    records = [bytes(r) for r in (new.get("records") or [])]
    right = [bytes(r) for r in (new.get("right_nodes") or [])]
    first = new["first_index"]
    if len(records) > MAX_RECORDS or sum(len(r) for r in records) > MAX_PUSH_BYTES \
            or any(len(r) > MAX_RECORD_BYTES for r in records):
        raise Refused("STORE_PUSH_TOO_LARGE", f"a push holds at most {MAX_RECORDS} records of at most "
                      f"{MAX_RECORD_BYTES} bytes, {MAX_PUSH_BYTES} bytes in all")
    plpy.execute(plans["lock"], [station])
    head_rows = plpy.execute(plans["head"], [station])
    head = head_rows[0]["head"] if head_rows else 0
    frontier_hashes = [bytes(h) for h in (head_rows[0]["frontier"] or [])] if head_rows else []
    frontier = list(zip(frontier_levels(head), frontier_hashes, strict=True))
    if first is None or first < 0 or first > head:
        raise Refused("STORE_CHAIN_BROKEN", f"the push starts at record {first}, but the store holds "
                      f"{head} records of station {station}: records in between were never pushed")
    overlap = min(head, first + len(records)) - first
    if overlap > 0:  # sent again (a push whose answer was lost): the same bytes, or a rewritten log
        stored = plpy.execute(plans["leaves"], [station, first, first + overlap])
        for offset, row in enumerate(stored):
            if bytes(row["leaf_hash"]) != hashlib.sha256(b"\x00" + records[offset]).digest():
                raise Refused("STORE_FORK", f"record {first + offset} of station {station} differs from the one "
                              "already stored: the station's log was rewritten")
        records, first = records[overlap:], head
    end = first + len(records)
    size, signed_root = checkpoint["tree_size"], checkpoint["root"]
    if size < end:
        raise Refused("STORE_CHECKPOINT_INVALID", f"the checkpoint covers {size} records, not the {end} pushed")
    previous = None
    if first > 0:
        previous = bytes(plpy.execute(plans["leaves"], [station, first - 1, first])[0]["leaf_hash"])
    columns: dict[str, list[Any]] = {k: [] for k in ("idx", "leaf", "data", "time", "serial", "verdict", "batch",
                                                     "address", "identity", "reasons")}
    for offset, data in enumerate(records):
        index = first + offset
        fields = record_fields(data, index, previous, station)
        leaf = hashlib.sha256(b"\x00" + data).digest()
        push_node(frontier, 0, leaf)
        previous = leaf
        for name, value in (("idx", index), ("leaf", leaf), ("data", data), *fields.items()):
            columns[name].append(value)
    head_frontier = [digest for _, digest in frontier]
    spans = compact_range(end, size)
    if len(right) != len(spans) or any(len(h) != 32 for h in right):
        raise Refused("STORE_CHECKPOINT_INVALID", f"the push needs {len(spans)} hashes of the records "
                      f"{end}..{size - 1} to reach the signed root, it has {len(right)}")
    for (level, _), digest in zip(spans, right, strict=True):
        push_node(frontier, level, digest)
    if root_of(frontier) != signed_root:
        raise Refused("STORE_ROOT_MISMATCH", f"records {first}..{end - 1} of station {station} are not the ones "
                      f"its checkpoint of {size} records signed")
    if records:
        plpy.execute(plans["insert"], [station, new["id"], columns["idx"], columns["leaf"], columns["data"],
                                       columns["time"], columns["serial"], columns["verdict"], columns["batch"],
                                       columns["address"], columns["identity"], columns["reasons"]])
    return {"station": station, "outcome": "accepted", "code": None,
            "message": f"{len(records)} new records of station {station} ({first}..{end - 1})" if records
            else f"nothing new from station {station}",
            "accepted": len(records), "tree_size": size, "root": signed_root, "head": end,
            "frontier": head_frontier}


def handle(plpy: Any, TD: dict[str, Any], SD: dict[str, Any]) -> str:
    """The trigger: fill in the outcome, drop the pushed bytes (kept once, in attest.records)."""
    new = TD["new"]
    try:
        with plpy.subtransaction():
            outcome = ingest(plpy, SD, new)
    except Refused as e:
        outcome = {"outcome": "refused", "code": e.code, "message": e.message, "accepted": 0, "head": None,
                   "frontier": None, "tree_size": None, "root": None}
    except Exception as e:  # a record already stored elsewhere, a NULL in an array: refused, never a crash
        outcome = {"outcome": "refused", "code": "STORE_RECORD_MALFORMED",
                   "message": f"{type(e).__name__}: {str(e)[:500]}", "accepted": 0, "head": None, "frontier": None,
                   "tree_size": None, "root": None}
    new.update(outcome)
    new["records"] = None
    new["right_nodes"] = None
    return "MODIFY"

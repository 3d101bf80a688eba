"""``attest station enroll``: tell the store this station's id and public key, and give it a role.

Enrolment is a warehouse administrator's act (a login in ``attest_admin``, or the superuser):
it binds a station id, the station's Ed25519 public key and one login role together, in the
append-only ``attest.stations``. From then on the server accepts records from that role only
when they are signed by that key and name that station. No passphrase is needed: only the
public half of the key travels.

The role is ``station_<id>`` unless ``--role`` names one the DBA made (client certificates,
their own password policy). A role made here gets a random SCRAM password, saved for this
station alone in ``store.json`` (0600); with ``--role`` the station logs in however the DBA
arranged, and ``store.json`` keeps only the role's name.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from psycopg import sql

from attest.station import StationIdentity
from attest.store.connection import StationLogin, StoreTarget, connect, mapped, save_login, without_login
from attest.store.errors import StoreError
from attest.store.schema import check_version

_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Enrolment:
    station: str
    role: str
    fingerprint: str
    created_role: bool
    already: bool  # the same station, key and role were enrolled before: nothing changed
    saved_to: str


def role_for(station_id: str) -> str:
    """A role name from a station id: lower case, other characters as underscores, <= 63 bytes."""
    return ("station_" + re.sub(r"[^a-z0-9_]", "_", station_id.lower()))[:63]


def enroll_station(target: StoreTarget, identity: StationIdentity, *, role: str | None = None) -> Enrolment:
    explicit = role is not None
    role = role or role_for(identity.station_id)
    if not _ROLE.fullmatch(role):
        raise StoreError("STORE_URL_INVALID", f"role {role!r} is not a plain lower-case PostgreSQL name")
    raw = identity.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    password = ""
    with connect(target, autocommit=False) as conn, mapped(target):
        check_version(conn, target)
        existing = conn.execute("SELECT station, role, fingerprint FROM attest.stations "
                                "WHERE station = %s OR role = %s OR fingerprint = %s",
                                (identity.station_id, role, identity.fingerprint)).fetchall()
        same = [r for r in existing if tuple(r) == (identity.station_id, role, identity.fingerprint)]
        if existing and not same:
            station, other_role, fingerprint = existing[0]
            raise StoreError("STORE_ALREADY_ENROLLED", f"{target.display} already has station {station} with role "
                             f"{other_role} and key {fingerprint[:16]}…; this is station {identity.station_id} "
                             f"with role {role} and key {identity.fingerprint[:16]}…")
        created = _ensure_role(conn, role, explicit=explicit)
        if not explicit:
            # Our own naming convention: the role is this station's, and its password is new.
            password = secrets.token_urlsafe(24)
            verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role),
                                                                     sql.Literal(verifier.decode())))
        if not same:
            conn.execute("INSERT INTO attest.stations (station, role, public_key, public_pem, fingerprint) "
                         "VALUES (%s, %s, %s, %s, %s)",
                         (identity.station_id, role, raw, identity.public_pem, identity.fingerprint))
        conn.commit()
    saved = save_login(StationLogin(without_login(target).url(), role, password))
    return Enrolment(identity.station_id, role, identity.fingerprint, created, bool(same), str(saved))


def _ensure_role(conn: Any, role: str, *, explicit: bool) -> bool:
    """Make the login role a station (a member of attest_station); True when it was made here.
    The password never travels: the server is given its SCRAM verifier, made here."""
    row = conn.execute("SELECT oid FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if row is None and explicit:
        raise StoreError("STORE_URL_INVALID", f"role {role} does not exist: create it first, or leave out --role")
    if row is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE attest_station").format(sql.Identifier(role)))
        return True
    member = conn.execute("SELECT pg_has_role(%s, 'attest_station', 'USAGE')", (role,)).fetchone()[0]
    if not member:
        conn.execute(sql.SQL("GRANT attest_station TO {}").format(sql.Identifier(role)))
    return False

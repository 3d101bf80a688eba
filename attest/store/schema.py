"""``attest store init``: create or upgrade the warehouse schema, idempotently.

The schema (``server/schema.sql``) and the ingest check it embeds (``server/ingest.py``) are
applied in one transaction under an advisory lock, so two inits at once, or an init beside
pushing stations, never see half a schema. Functions are replaced on every init, which is how
an upgraded Rig Attest brings its ingest check to the server. Creating a PL/Python function
needs a superuser; on a store that is already current, init by anyone else only reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from attest import __version__
from attest.store.connection import StoreTarget, connect, mapped
from attest.store.errors import StoreError

SCHEMA_VERSION = 1
_LOCK = 0x52474154_0001  # "RGAT" + 1: the init lock, one per database


@dataclass(frozen=True)
class InitResult:
    version: int
    created: bool  # False: it was current already
    server: str  # the server's Python and cryptography, as the ingest check sees them
    store_id: str


def schema_sql() -> str:
    server = resources.files("attest.store") / "server"
    ingest = (server / "ingest.py").read_text(encoding="utf-8")
    if "$ingest$" in ingest:
        raise RuntimeError("server/ingest.py must not contain the $ingest$ quote")
    return (server / "schema.sql").read_text(encoding="utf-8").replace("{INGEST_PY}", ingest)


def current_version(conn: Any) -> int | None:
    """The store's schema version, or None when the database has no warehouse schema."""
    exists = conn.execute("SELECT to_regclass('attest.schema_versions') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    row = conn.execute("SELECT max(version) FROM attest.schema_versions").fetchone()
    return None if row[0] is None else int(row[0])


def check_version(conn: Any, target: StoreTarget) -> int:
    """Refuse a store this version cannot use: none at all, or one from a newer Rig Attest."""
    version = current_version(conn)
    if version is None:
        raise StoreError("STORE_NOT_INITIALISED", f"{target.display} has no Rig Attest warehouse schema: "
                         "run `attest store init` there first")
    if version > SCHEMA_VERSION:
        raise StoreError("STORE_SCHEMA_NEWER", f"{target.display} has schema version {version}; "
                         f"this Rig Attest knows up to {SCHEMA_VERSION}")
    return version


def init_store(target: StoreTarget) -> InitResult:
    with connect(target, autocommit=False) as conn, mapped(target):
        version = current_version(conn)
        conn.rollback()
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError("STORE_SCHEMA_NEWER", f"{target.display} has schema version {version}; "
                             f"this Rig Attest knows up to {SCHEMA_VERSION}")
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        conn.rollback()
        if not superuser:
            if version == SCHEMA_VERSION:
                return InitResult(version, False, "", _store_id(conn))
            raise StoreError("STORE_SERVER_UNSUITABLE", f"{target.display}: creating the warehouse schema needs "
                             "the database superuser (PL/Python functions are a superuser's to create)")
        available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'plpython3u'").fetchone()
        conn.rollback()
        if available is None:
            raise StoreError("STORE_SERVER_UNSUITABLE", f"{target.display}: PL/Python is not installed on the "
                             "server (Debian: apt-get install postgresql-plpython3-15 python3-cryptography)")
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            conn.execute(schema_sql())
            conn.execute("INSERT INTO attest.schema_versions (version, tool_version) VALUES (%s, %s) "
                         "ON CONFLICT (version) DO NOTHING", (SCHEMA_VERSION, __version__))
            conn.execute("INSERT INTO attest.meta (key, value) VALUES ('store_id', gen_random_uuid()::text) "
                         "ON CONFLICT (key) DO NOTHING")
        try:
            server = conn.execute("SELECT attest.server_check()").fetchone()[0]
        except Exception as e:  # the server's Python lacks cryptography: the ingest check cannot run
            conn.rollback()
            raise StoreError("STORE_SERVER_UNSUITABLE", f"{target.display}: the server's Python cannot check "
                             f"Ed25519 signatures ({' '.join(str(e).split())[:200]}); install "
                             "python3-cryptography on the database server") from None
        conn.commit()
        return InitResult(SCHEMA_VERSION, version != SCHEMA_VERSION, server, _store_id(conn))


def _store_id(conn: Any) -> str:
    row = conn.execute("SELECT value FROM attest.meta WHERE key = 'store_id'").fetchone()
    conn.rollback()
    return "" if row is None else str(row[0])

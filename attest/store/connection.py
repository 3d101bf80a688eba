"""Where the warehouse store is, and as whom this station logs in to it.

A store is named by a libpq URL (``postgresql://db.example/attest?sslmode=verify-full``), from
``--store``, ``ATTEST_STORE`` or the GUI's station settings. A station always pushes as its own
role: ``attest station enroll`` saves that role's login in ``store.json`` beside the station
key (mode 0600), and any URL that names the same server and database but no user is completed
with it. A URL that names a user is used as it is (a DBA's own login, client certificates).
TLS is libpq's: ``sslmode``, ``sslrootcert``, ``sslcert``, ``sslkey`` in the URL.

Every connection bounds its waits: the connect (``connect_timeout``), each statement
(``statement_timeout``), and a dead peer (TCP keepalives and ``tcp_user_timeout``), so a
station whose network died mid-push finds out in seconds, not when TCP gives up. Passwords
never appear in messages: ``StoreTarget.display`` is what is shown.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attest.station import station_directory
from attest.store.errors import StoreError, from_database

if TYPE_CHECKING:
    import psycopg

STORE_ENV = "ATTEST_STORE"
CREDENTIALS_FILE = "store.json"
_CREDENTIALS_FORMAT = "rigattest.store-login/v1"
CONNECT_TIMEOUT_SECONDS = 5
LOOKUP_TIMEOUT_MS = 5_000
PUSH_TIMEOUT_MS = 120_000


@dataclass(frozen=True)
class StoreTarget:
    """A store to connect to: libpq parameters (password included) and a printable name."""

    params: tuple[tuple[str, str], ...]

    @property
    def values(self) -> dict[str, str]:
        return dict(self.params)

    @property
    def display(self) -> str:
        v = self.values
        user = f"{v['user']}@" if v.get("user") else ""
        host = v.get("host", "") or "localhost"
        port = f":{v['port']}" if v.get("port") else ""
        tls = f"?sslmode={v['sslmode']}" if v.get("sslmode") else ""
        return f"postgresql://{user}{host}{port}/{v.get('dbname', '')}{tls}"

    def url(self) -> str:
        """The whole target as a URL, password left out (what enrolment saves beside the key)."""
        from urllib.parse import quote, urlencode

        v = {k: val for k, val in self.values.items() if k != "password"}
        user = f"{quote(v.pop('user'), safe='')}@" if v.get("user") else ""
        host = v.pop("host", "")
        port = f":{v.pop('port')}" if v.get("port") else ""
        dbname = quote(v.pop("dbname", ""), safe="")
        if host.startswith("/"):  # a Unix socket directory goes in the query
            v["host"], host = host, ""
        query = f"?{urlencode(sorted(v.items()))}" if v else ""
        return f"postgresql://{user}{host}{port}/{dbname}{query}"

    @property
    def server(self) -> tuple[str, str, str]:
        v = self.values
        return v.get("host", "") or "localhost", v.get("port", "") or "5432", v.get("dbname", "")

    def conninfo(self, statement_timeout_ms: int) -> str:
        from psycopg.conninfo import make_conninfo

        extra = {"connect_timeout": str(CONNECT_TIMEOUT_SECONDS), "keepalives": "1", "keepalives_idle": "10",
                 "keepalives_interval": "5", "keepalives_count": "3", "tcp_user_timeout": "30000",
                 "application_name": "rig-attest"}
        params = {**extra, **self.values}
        options = params.get("options", "")
        params["options"] = f"{options} -c statement_timeout={statement_timeout_ms}".strip()
        return make_conninfo(**params)


def parse_target(url: str) -> StoreTarget:
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    if not url.startswith(("postgresql://", "postgres://")):
        raise StoreError("STORE_URL_INVALID", "a warehouse store is a postgresql://HOST[:PORT]/DATABASE URL")
    try:
        params = conninfo_to_dict(url)
    except ProgrammingError as e:
        raise StoreError("STORE_URL_INVALID", f"the store URL cannot be read: {e}") from None
    if not params.get("dbname"):
        raise StoreError("STORE_URL_INVALID", "the store URL names no database: postgresql://HOST/DATABASE")
    return StoreTarget(tuple(sorted((k, str(v)) for k, v in params.items() if v is not None)))


def credentials_path() -> Path:
    return station_directory() / CREDENTIALS_FILE


@dataclass(frozen=True)
class StationLogin:
    """This station's own role at one store, saved by enrolment."""

    url: str  # without user or password
    role: str
    password: str

    def target(self) -> StoreTarget:
        return with_login(parse_target(self.url), self.role, self.password)


def with_login(target: StoreTarget, user: str, password: str) -> StoreTarget:
    values = {**target.values, "user": user}
    if password:
        values["password"] = password
    else:
        values.pop("password", None)
    return StoreTarget(tuple(sorted(values.items())))


def without_login(target: StoreTarget) -> StoreTarget:
    return StoreTarget(tuple((k, v) for k, v in target.params if k not in ("user", "password")))


def saved_login() -> StationLogin | None:
    try:
        raw = credentials_path().read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StoreError("STORE_URL_INVALID", f"cannot read {credentials_path()}: {e.strerror or e}") from None
    try:
        doc = json.loads(raw)
        if doc.get("format") != _CREDENTIALS_FORMAT:
            raise ValueError
        return StationLogin(str(doc["url"]), str(doc["role"]), str(doc.get("password", "")))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise StoreError("STORE_URL_INVALID", f"{credentials_path()} is damaged: enrol the station again") from None


def save_login(login: StationLogin) -> Path:
    """Write store.json 0600 from the first byte, replacing an earlier enrolment atomically."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    doc = {"format": _CREDENTIALS_FORMAT, "url": login.url, "role": login.role, "password": login.password}
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, (json.dumps(doc, indent=2) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def resolve_target(url: str | None) -> StoreTarget:
    """The store to use: ``url`` (else ATTEST_STORE, else the enrolled one), completed with this
    station's own login when the URL names the enrolled server and no user (or the station's
    own role without a password)."""
    url = url or os.environ.get(STORE_ENV) or None
    login = saved_login()
    if url is None:
        if login is None:
            raise StoreError("STORE_URL_INVALID", f"no warehouse store given: use --store URL or set {STORE_ENV}")
        return login.target()
    target = parse_target(url)
    if login is None or parse_target(login.url).server != target.server:
        return target
    user = target.values.get("user")
    if user is None or (user == login.role and "password" not in target.values):
        return with_login(target, login.role, login.password)
    return target


def configured_target(url: str | None) -> StoreTarget | None:
    """Like ``resolve_target`` but None when no store is configured at all (a station without a
    warehouse): ``attest verify`` then neither consults nor pushes."""
    if not (url or os.environ.get(STORE_ENV)):
        return None
    return resolve_target(url)


def connect(target: StoreTarget, *, statement_timeout_ms: int = PUSH_TIMEOUT_MS,
            autocommit: bool = True) -> psycopg.Connection[Any]:
    import psycopg

    try:
        return psycopg.connect(target.conninfo(statement_timeout_ms), autocommit=autocommit)
    except psycopg.Error as e:
        raise from_database(e, target.display) from None


async def connect_async(target: StoreTarget, *,
                        statement_timeout_ms: int = LOOKUP_TIMEOUT_MS) -> psycopg.AsyncConnection[Any]:
    import psycopg

    try:
        return await psycopg.AsyncConnection.connect(target.conninfo(statement_timeout_ms), autocommit=True)
    except psycopg.Error as e:
        raise from_database(e, target.display) from None


@contextlib.contextmanager
def mapped(target: StoreTarget) -> Iterator[None]:
    """Turn any database failure inside the block into a StoreError naming the store."""
    import psycopg

    try:
        yield
    except psycopg.Error as e:
        raise from_database(e, target.display) from None

"""A real PostgreSQL server for the warehouse tests and benches: a private cluster in a temp dir.

``initdb`` and ``pg_ctl`` from Debian's postgresql packages (the newest installed version), run
as the ``postgres`` user when we are root (the server refuses to run as root). The cluster
listens on a free loopback port with TLS on (a throwaway CA and a server certificate for
127.0.0.1 and localhost, so ``sslmode=verify-full`` can be tested), checks passwords with
SCRAM over TCP (station roles really log in), and trusts only its own Unix socket directory.
It can be killed (``pg_ctl stop -m immediate``: a crash, no clean shutdown) and started again.

``ATTEST_TEST_PG`` (a superuser URL; ``.ci/run`` sets it after starting Debian's own cluster)
puts the session's throwaway database on that server instead; tests that must kill or
reconfigure a server still use a private cluster.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SUPERUSER = "postgres"


def postgres_bindir() -> Path | None:
    """The newest installed server's bin directory, or None when no server is installed."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin/postgres")), key=lambda p: int(p.parts[-3]), reverse=True) \
        if root.is_dir() else []
    if versions:
        return versions[0].parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_tls(directory: Path) -> Path:
    """A CA and a server certificate signed by it; returns the CA file clients pin."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Rig Attest test warehouse CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (directory / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.TraditionalOpenSSL,
                                                             serialization.NoEncryption()))
    (directory / "server.key").chmod(0o600)
    ca_file = directory / "ca.crt"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return ca_file


class PrivateCluster:
    """One initdb'd cluster; ``start()``/``kill()``/``stop()`` as a DBA would."""

    def __init__(self, *, fsync: bool = False, settings: dict[str, str] | None = None) -> None:
        bindir = postgres_bindir()
        if bindir is None:
            raise FileNotFoundError("no PostgreSQL server installed (Debian: apt-get install postgresql)")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="attest-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.socket_dir.mkdir()
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.ca_file = write_tls(self.root)
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            for path in (self.root, self.socket_dir, self.root / "server.crt", self.root / "server.key"):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.root.chmod(0o755)
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self._as_postgres:
            os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--pwfile", str(pwfile), "-A", "scram-sha-256",
                  "--auth-local", "trust", "-E", "UTF8", "--locale", "C.UTF-8")
        pwfile.unlink()
        conf = {
            "port": str(self.port), "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'", "ssl": "on",
            "ssl_cert_file": f"'{self.root / 'server.crt'}'", "ssl_key_file": f"'{self.root / 'server.key'}'",
            "fsync": "on" if fsync else "off", "synchronous_commit": "on",  # a crash keeps what was committed
            "full_page_writes": "on" if fsync else "off", "max_connections": "60",
            "shared_buffers": "128MB", "log_min_messages": "warning", "logging_collector": "off",
            **(settings or {}),
        }
        with open(self.data / "postgresql.conf", "a") as f:
            f.write("\n".join(f"{k} = {v}" for k, v in conf.items()) + "\n")
        self.log = self.root / "server.log"
        if self._as_postgres:
            self.log.touch()
            os.chown(self.log, pwd.getpwnam("postgres").pw_uid, -1)

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, cwd=self.root)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def start(self) -> None:
        """Start the server (nothing to do when it runs)."""
        if self.running():
            return
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start", check=False)
        if done.returncode != 0:
            raise RuntimeError(f"postgres did not start: {done.stdout}{done.stderr}{self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """A crash: every backend dies at once, nothing is flushed politely."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def url(self, dbname: str = "postgres", *, user: str = SUPERUSER, password: str | None = None,
            sslmode: str = "disable") -> str:
        secret = self.password if password is None and user == SUPERUSER else password
        auth = quote(user, safe="") + (f":{quote(secret, safe='')}" if secret else "")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}?sslmode={sslmode}"

    def create_database(self, name: str) -> str:
        self._run("psql", "-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres",
                  "-v", "ON_ERROR_STOP=1", "-c", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.root)


def throwaway_database(base_url: str, name: str) -> str:
    """CREATE DATABASE on an existing server (``ATTEST_TEST_PG``); returns its URL."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(base_url)
    if not base_url.startswith(("postgresql://", "postgres://")):
        raise ValueError(f"ATTEST_TEST_PG must be a postgresql:// URL, not {make_conninfo(**params)!r}")
    head, _, query = base_url.partition("?")
    return head.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")


def drop_database(base_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

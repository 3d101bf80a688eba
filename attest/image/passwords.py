"""Is a shadow-file hash a vendor's factory password? The list is data
(``attest/data/default_passwords.json``, updatable without a code change); hashes are compared by
recomputing them, since every unit's salt may differ.

MD5-crypt (``$1$``, what the busybox userlands of Antminer and AvalonMiner control boards use) is
computed here after Poul-Henning Kamp's reference ``crypt-md5.c`` (FreeBSD, 1994), because the
stdlib ``crypt`` module is deprecated and gone in Python 3.13. Other schemes are matched only when
the data file lists the exact hash string.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from importlib import resources

_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class DefaultPassword:
    vendor: str
    account: str
    password: str
    reference: str


@functools.cache
def default_passwords() -> tuple[DefaultPassword, ...]:
    raw = json.loads(resources.files("attest").joinpath("data/default_passwords.json").read_text("utf-8"))
    return tuple(DefaultPassword(e["vendor"], e["account"], e["password"], e["reference"]) for e in raw)


def md5_crypt(password: bytes, salt: bytes) -> str:
    magic = b"$1$"
    salt = salt[:8]
    alt = hashlib.md5(password + salt + password).digest()
    ctx = hashlib.md5(password + magic + salt)
    for i in range(len(password), 0, -16):
        ctx.update(alt[:min(16, i)])
    i = len(password)
    while i:
        ctx.update(b"\0" if i & 1 else password[:1])
        i >>= 1
    final = ctx.digest()
    for i in range(1000):
        step = hashlib.md5()
        step.update(password if i & 1 else final)
        if i % 3:
            step.update(salt)
        if i % 7:
            step.update(password)
        step.update(final if i & 1 else password)
        final = step.digest()
    out = ""
    for a, b, c in ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)):
        out += _to64((final[a] << 16) | (final[b] << 8) | final[c], 4)
    out += _to64(final[11], 2)
    return f"$1${salt.decode('ascii', 'replace')}${out}"


def _to64(value: int, n: int) -> str:
    chars = []
    for _ in range(n):
        chars.append(_ITOA64[value & 0x3F])
        value >>= 6
    return "".join(chars)


def matching_default(hashed: str) -> DefaultPassword | None:
    """The factory password this hash is of, if it is one of the listed ones."""
    if hashed.startswith("$1$"):
        salt = hashed[3:].split("$", 1)[0].encode("ascii", "replace")
        for entry in default_passwords():
            if md5_crypt(entry.password.encode(), salt) == hashed:
                return entry
    return None

"""The warehouse store's one error type, and how a database failure becomes one.

Like ``LogError``, every code is a key of ``attest.verdict.REASONS`` (the technician's sentence
and what to do); callers branch on ``code`` and never parse the text. Server messages are kept
as plain text in ``message``: they are the database's words, shown as such.
"""

from __future__ import annotations

from attest.verdict import REASONS

#: The store refused what a station sent: the CLI exits 4 for these, 2 for the rest.
REFUSAL_CODES = frozenset({
    "STORE_NOT_ENROLLED", "STORE_KEY_NOT_ENROLLED", "STORE_SIGNATURE_INVALID", "STORE_CHECKPOINT_INVALID",
    "STORE_CHAIN_BROKEN", "STORE_ROOT_MISMATCH", "STORE_FORK", "STORE_RECORD_MALFORMED", "STORE_PUSH_TOO_LARGE",
})


class StoreError(Exception):
    def __init__(self, code: str, message: str) -> None:
        if code not in REASONS:
            raise ValueError(f"unknown store error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def exit_code(self) -> int:
        return 4 if self.code in REFUSAL_CODES else 2


def from_database(error: Exception, where: str) -> StoreError:
    """A psycopg exception as a StoreError naming the store (never its password)."""
    import psycopg
    from psycopg import errors

    text = " ".join(str(error).split())[:400] or type(error).__name__
    if isinstance(error, errors.InsufficientPrivilege):
        return StoreError("STORE_PERMISSION_DENIED", f"{where}: {text}")
    if isinstance(error, errors.UndefinedTable | errors.InvalidSchemaName | errors.UndefinedFunction):
        return StoreError("STORE_NOT_INITIALISED", f"{where} has no Rig Attest warehouse schema ({text}); "
                          "run `attest store init` there first")
    if isinstance(error, errors.InvalidPassword | errors.InvalidAuthorizationSpecification):
        return StoreError("STORE_LOGIN_REFUSED", f"{where}: {text}")
    if isinstance(error, psycopg.OperationalError):
        lowered = text.lower()
        if "password authentication failed" in lowered or ("role" in lowered and "does not exist" in lowered) \
                or "no password supplied" in lowered or "no pg_hba.conf entry" in lowered:
            return StoreError("STORE_LOGIN_REFUSED", f"{where}: {text}")
        return StoreError("STORE_UNREACHABLE", f"{where}: {text}")
    return StoreError("STORE_UNREACHABLE", f"{where}: {type(error).__name__}: {text}")

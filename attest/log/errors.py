"""The one error type of the station key and verification log.

Callers (CLI, GUI) branch on ``code`` and show ``message``; they never parse the text. Every
code is a key of ``attest.verdict.REASONS``, which gives the technician's sentence and what to do.
"""

from __future__ import annotations

from attest.verdict import REASONS

#: Codes that mean "the document was checked and refused" rather than "could not run":
#: the CLI exits 4 for these and 2 for every other code.
REFUSAL_CODES = frozenset({
    "LOG_RECORD_EDITED", "LOG_RECORDS_MISSING", "LOG_RECORDS_REORDERED", "LOG_RECORDS_ADDED",
    "LOG_TRUNCATED", "LOG_SIGNATURE_INVALID", "LOG_SIGNED_BY_OTHER_KEY", "LOG_ROOT_MISMATCH",
    "LOG_INCLUSION_PROOF_INVALID", "LOG_INCONSISTENT", "LOG_SUPERSEDES_INVALID",
})


class LogError(Exception):
    """An expected failure of the station key or the log, with a stable ``code``."""

    def __init__(self, code: str, message: str) -> None:
        if code not in REASONS:
            raise ValueError(f"unknown log error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def exit_code(self) -> int:
        return 4 if self.code in REFUSAL_CODES else 2

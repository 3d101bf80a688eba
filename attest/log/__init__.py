"""The append-only, signed verification log (DESIGN.md, "Verification log").

Modules, in the order data flows through them:

- ``append``: verdict -> record -> leaf, one signed checkpoint per batch (``log_batch``);
- ``store`` / ``sqlite``: where records live (``open_store``), append-only;
- ``merkle``: RFC 6962 hashes and proofs; ``checkpoint``: the signed tree heads;
- ``export`` / ``receipt`` / ``intoto``: what leaves the station;
- ``verify``: what an auditor runs offline; ``commands``: the ``attest station|log`` CLI.

Only the error type is imported here: the submodules import ``attest.station``, which imports
this package for ``LogError``, so eager imports here would make the two a cycle.
"""

from attest.log.errors import LogError

__all__ = ["LogError"]

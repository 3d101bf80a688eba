"""The device drivers Rig Attest knows, listed explicitly (one line per family).

Each module declares NAME, KIND (the endpoint kind it reads), DEFAULT_PORT, SCHEMES and
``async def collect(endpoint, session) -> list[Claim]``; discovery uses ``identify``.
"""

from __future__ import annotations

from types import ModuleType

from attest.drivers import antminer_web, braiins, cgminer, console, epic, ssh, whatsminer, whatsminer3

DRIVERS: tuple[ModuleType, ...] = (cgminer, whatsminer, whatsminer3, antminer_web, braiins, epic, ssh, console)


def driver_for_kind(kind: str) -> ModuleType:
    for driver in DRIVERS:
        if kind == driver.KIND:
            return driver
    raise KeyError(f"no driver reads endpoints of kind {kind!r}")

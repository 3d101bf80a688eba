"""Rig Attest core: verify that a mining rig is the machine its manufacturer built.

This package never imports Qt; the desktop app in ``gui`` sits on top of it.
"""

__version__ = "0.1.0"

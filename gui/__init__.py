"""Rig Attest desktop app (PySide6). Imports attest; attest never imports this package."""

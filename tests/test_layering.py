"""The walls of DESIGN.md's architecture, checked on the source so a crossing fails a test."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "attest"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(sub: str) -> list[Path]:
    return sorted((ROOT / sub).rglob("*.py")) if (ROOT / sub).is_dir() else [ROOT / sub]


def crossing(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    return [f"{p.relative_to(ROOT)} imports {name}" for p in paths for name in sorted(imports_of(p))
            if any(name == f or name.startswith(f + ".") for f in forbidden)]


def test_core_never_imports_qt_in_a_fresh_interpreter():
    code = ("import sys, attest.cli, attest.fleet, attest.appraise, attest.sim.runner; "
            "assert 'PySide6' not in sys.modules, 'attest pulled in Qt'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_drivers_report_and_never_judge():
    assert crossing(modules("drivers"), ("attest.appraise", "attest.verdict", "attest.fleet", "attest.sim")) == []


def test_transports_know_bytes_not_vendors():
    outside = [name for name in ("attest.evidence", "attest.drivers", "attest.verdict", "attest.appraise",
                                 "attest.manifest", "attest.fleet", "attest.collect", "attest.sim")]
    assert crossing(modules("transport"), tuple(outside)) == []
    imported = {n for p in modules("transport") for n in imports_of(p) if n.startswith("attest")}
    assert all(n.startswith("attest.transport") for n in imported), imported


def test_plain_data_modules_import_no_device_code():
    plain = [ROOT / n for n in ("evidence.py", "verdict.py", "manifest.py", "manifest_model.py", "dsse.py",
                                "trust.py", "trust_files.py", "certchain.py", "station_state.py")]
    assert crossing(plain, ("attest.drivers", "attest.transport", "attest.fleet", "attest.collect", "attest.sim")) == []


def test_only_the_cli_starts_the_simulator():
    product = [p for p in ROOT.rglob("*.py") if "sim" not in p.relative_to(ROOT).parts and p.name != "cli.py"]
    assert crossing(product, ("attest.sim",)) == []

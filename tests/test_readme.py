"""The README is a newcomer's first page: its opening commands and its reason table stay true."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from attest.verdict import REASONS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _reasons_table_tool():
    spec = importlib.util.spec_from_file_location("reasons_table", ROOT / "tools" / "reasons_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_starts_with_the_two_commands():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "```"
    assert lines[1].split("#")[0].strip() == "make run"
    assert lines[2].split("#")[0].strip() == "make test"
    assert lines[3] == "```"


def test_readme_reason_table_matches_verdict_py():
    """If this fails after adding a reason code: .venv/bin/python tools/reasons_table.py --write"""
    tool = _reasons_table_tool()
    in_readme = tool.table_in(README.read_text(encoding="utf-8"))
    assert in_readme == tool.render(), "README.md's reason table is stale: run tools/reasons_table.py --write"


def test_the_table_lists_every_code_once():
    tool = _reasons_table_tool()
    rows = [line for line in tool.render().splitlines() if line.startswith("| `")]
    codes = [row.split("`")[1] for row in rows]
    assert sorted(codes) == sorted(REASONS)


def test_a_stale_table_is_noticed():
    tool = _reasons_table_tool()
    readme = README.read_text(encoding="utf-8")
    stale = tool.replace_table(readme, "\n".join(tool.render().splitlines()[:-1]))  # one code missing
    assert tool.table_in(stale) != tool.render()

"""Tests that need a tool, a peer or a privilege may skip on a developer's machine, never on CI:
there a skip would be a test that cannot fail (CI=true is set by .ci/run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import skip_unless_ci

TESTS = Path(__file__).resolve().parent
_SKIP = re.compile(r"pytest\.skip\(|importorskip\(|mark\.skipif\(|mark\.skip\(")


def test_a_missing_prerequisite_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="under CI=true this test must run"):
        skip_unless_ci("no frobnicator here")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        skip_unless_ci("no frobnicator here")


def test_every_skip_in_the_suite_is_gated_on_ci() -> None:
    """Each skip goes through skip_unless_ci, or names the CI variable in its own condition."""
    ungated = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name in ("conftest.py", "test_skips.py") and path.parent == TESTS:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if _SKIP.search(line) and not re.search(r"\bCI\b|on_ci\(", "\n".join(lines[max(0, number - 3):number])):
                ungated.append(f"{path.relative_to(TESTS)}:{number}: {line.strip()}")
    assert ungated == []

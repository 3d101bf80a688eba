"""Setting the pool allow-list in a policy.toml without disturbing the rest of it.

The desktop app offers to set the allow-list when pools are not being checked. The operator's
policy file may hold comments and settings the app knows nothing about, so only the ``allow``
line of ``[pools]`` is rewritten (or added), and the result is read back: if anything but the
allow-list would change, nothing is written and the operator is told to edit the file by hand.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

from attest.policy import MAX_POLICY_BYTES, PolicyError, policy_from_dict

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_ALLOW = re.compile(r"^\s*allow\s*=")


def check_rule(rule: str) -> str | None:
    """Why ``rule`` cannot be a pool allow-list entry, or None when it can."""
    if not rule:
        return "an empty line"
    if any(c.isspace() for c in rule):
        return f"{rule!r} has a space in it"
    if len(rule) > 300:
        return f"{rule[:40]!r}… is longer than 300 characters"
    return None


def with_pool_allow(text: str, rules: list[str]) -> str:
    """``text`` (a policy.toml) with ``[pools] allow`` set to ``rules``; PolicyError when that
    cannot be done without changing anything else."""
    for rule in rules:
        problem = check_rule(rule)
        if problem is not None:
            raise PolicyError(f"not a pool rule: {problem}")
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"the policy file is not valid TOML: {e}") from None
    line = "allow = " + json.dumps(rules)
    lines = text.splitlines()
    start = next((i for i, s in enumerate(lines) if (m := _HEADER.match(s)) and m.group(1) == "pools"), None)
    if start is None:
        lines += ["", "[pools]", line]
    else:
        end = next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
        at = next((i for i in range(start + 1, end) if _ALLOW.match(lines[i])), None)
        if at is None:
            lines.insert(start + 1, line)
        else:
            last = _array_end(lines, at, end)
            lines[at:last + 1] = [line]
    result = "\n".join(lines) + "\n"
    _check_only_pools_changed(before, result, rules)
    return result


def _array_end(lines: list[str], at: int, end: int) -> int:
    """The last line of the ``allow = [ ... ]`` value that starts on line ``at``."""
    depth = 0
    for i in range(at, end):
        text = lines[i].split("#", 1)[0] if '"' not in lines[i] else lines[i]
        depth += text.count("[") - text.count("]")
        if depth <= 0:
            return i
    return at


def _check_only_pools_changed(before: dict[str, object], result: str, rules: list[str]) -> None:
    try:
        after = tomllib.loads(result)
    except tomllib.TOMLDecodeError:
        raise PolicyError("the policy file is laid out in a way the app cannot edit safely; "
                          "set [pools] allow in it by hand") from None
    policy = policy_from_dict(after)
    expected = {**before, "pools": {**_table(before.get("pools")), "allow": rules}}
    if policy.pool_allow != tuple(rules) or after != expected:
        raise PolicyError("the policy file is laid out in a way the app cannot edit safely; "
                          "set [pools] allow in it by hand")


def _table(value: object) -> dict[str, object]:
    return dict(value) if isinstance(value, dict) else {}


def set_pool_allow(path: Path, rules: list[str]) -> None:
    """Write the allow-list into ``path`` (created when missing), whole or not at all."""
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else "# Station policy (policy.toml)\n"
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(f"cannot read policy file {path}: {getattr(e, 'strerror', None) or e}") from None
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise PolicyError(f"policy file {path} is larger than {MAX_POLICY_BYTES} bytes")
    new = with_pool_allow(text, rules)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise PolicyError(f"cannot write policy file {path}: {e.strerror or e}") from None

"""Does a line of shell open a listener, or fetch code and run it? In time linear in the line.

A startup script is attacker-chosen bytes, and one line may be a megabyte long. The obvious
regular expressions (``\\bnc\\b[^;|&]*\\s-[a-z]*l`` and ``\\bwget\\b[^|;]*\\|\\s*sh``) backtrack:
each ``nc`` or ``wget`` on a long line rescans the rest of it, so a line of ``nc nc nc ...``
costs time quadratic in its length (a 1 MB line, from a 355-byte gzip, would take hours). Here
each line is cut once into shell commands (at ``;``, ``&``, ``|`` and newlines) and every
pattern left is one that cannot backtrack past the text it has already read, so the whole check
reads each byte a fixed number of times. The rules are those the old expressions stated:

- a listener: ``nc``/``ncat``/``netcat`` with an option whose letters end in ``l`` or ``e``
  (``-l``, ``-lp``, ``-e``) later in the same command; ``telnetd``; ``socat`` with a
  ``*-LISTEN`` or ``EXEC:`` address later on the line; ``/dev/tcp/``;
- fetch and run: ``wget`` or ``curl`` in one stage of a pipeline whose next stage is a shell
  (``| sh``, ``| /bin/bash``, ...); ``$(wget ...`` or a backquoted ``wget``/``curl``.
"""

from __future__ import annotations

import itertools
import re

_NETCAT = re.compile(rb"\b(?:nc|ncat|netcat)\b")
_LISTEN_OPTION = re.compile(rb"\s-[a-zA-Z]*[le]\b")
_SOCAT = re.compile(rb"\bsocat\b")
_SOCAT_ADDRESS = re.compile(rb"TCP6?4?-LISTEN|UDP-LISTEN|EXEC:")
_ALWAYS = re.compile(rb"\btelnetd\b|/dev/tcp/")
_FETCHER = re.compile(rb"\b(?:wget|curl)\b")
_SHELL_STAGE = re.compile(rb"\s*(?:/bin/|/usr/bin/)?(?:ba|da|a)?sh\b")
_SUBSTITUTION = re.compile(rb"\$\(\s*(?:wget|curl)\b|`\s*(?:wget|curl)\b")
_COMMAND_BREAK = re.compile(rb"[;&|\n]")


def opens_listener(line: bytes) -> bool:
    if _ALWAYS.search(line):
        return True
    socat = _SOCAT.search(line)
    if socat is not None and _SOCAT_ADDRESS.search(line, socat.end()):
        return True
    for command in _COMMAND_BREAK.split(line):
        # Only the first nc of a command matters: any option after a later one is after it too.
        netcat = _NETCAT.search(command)
        if netcat is not None and _LISTEN_OPTION.search(command, netcat.end()):
            return True
    return False


def fetches_and_runs(line: bytes) -> bool:
    if _SUBSTITUTION.search(line):
        return True
    for sequence in line.split(b";"):
        stages = sequence.split(b"|")
        for stage, following in itertools.pairwise(stages):
            if _FETCHER.search(stage) and _SHELL_STAGE.match(following):
                return True
    return False

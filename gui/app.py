"""Entry point of `attest-gui`.

The PySide6 intake station is issue #3 and not built yet; until it is, this entry point says so
plainly and points at the command-line demo, rather than pretending to be an app.
"""

from __future__ import annotations

import sys


def main() -> int:
    print("attest-gui: the desktop app is not built yet (issue #3). "
          "Run `attest demo` (or `make run`) for the command-line demo of a simulated fleet.",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

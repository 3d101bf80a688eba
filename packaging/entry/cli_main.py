"""The bundle's ``attest`` executable (the CLI for intake scripts): the installed script's entry point."""

import sys

from attest.cli import main

if __name__ == "__main__":
    sys.exit(main())

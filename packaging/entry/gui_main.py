"""The bundle's ``attest-gui`` executable: the same entry point as the installed script."""

import sys

from gui.app import main

if __name__ == "__main__":
    sys.exit(main())

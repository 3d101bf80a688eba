"""How this program starts a helper process of its own: the same code, never the working directory's.

``python -m gui.check_worker`` puts the current directory first on ``sys.path``, so a ``gui/``
folder wherever the station was started from (a USB stick of firmware files, a shared intake
directory) would be imported and run instead of ours, and handed the check's plan. The child
is started in isolated mode (``-I``: no current directory, no ``PYTHON*`` variables, no user
site) with the directory of the package this process itself imported put first, then runs the
module as ``-m`` would. A frozen bundle starts its own executable with a flag instead.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def module_command(module: str, *, frozen_flag: str) -> list[str]:
    """argv running ``module`` as ``__main__`` in a fresh interpreter of this very install."""
    if getattr(sys, "frozen", False):
        return [sys.executable, frozen_flag]
    package = importlib.import_module(module.split(".")[0])
    root = str(Path(package.__file__ or "").resolve().parent.parent)
    code = (f"import sys; sys.path.insert(0, {root!r}); import runpy; "
            f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
    return [sys.executable, "-I", "-u", "-c", code]

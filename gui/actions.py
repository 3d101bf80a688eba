"""Every command of the main window as a QAction with its shortcut, in its menu and toolbar.

Kept apart from the window so the keyboard map reads as one table: a technician working for
hours drives the station from the keyboard (and a barcode scanner), not the mouse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QToolBar

#: name -> (text, shortcut, menu, on toolbar, tip)
COMMANDS: dict[str, tuple[str, str, str, bool, str]] = {
    "add_host": ("Add &host or range…", "Ctrl+N", "&File", True, "Add a host, a range or an endpoint URL"),
    "scan_range": ("Scan &range…", "Ctrl+R", "&File", True, "Discover a range's rigs; each row appears as it answers"),
    "add_serial": ("Add &serial console…", "Ctrl+Shift+N", "&File", True, "Add a rig on a serial port"),
    "load_manifest": ("&Load manifests…", "Ctrl+O", "&File", True, "Load signed manufacturing manifests"),
    "verify_firmware": ("Verify &firmware file…", "Ctrl+Shift+O", "&File", False,
                        "Check a firmware update file or flash dump offline, before it touches a rig"),
    "export_csv": ("Export &CSV…", "Ctrl+E", "&File", False, "Save the table as CSV"),
    "export_pdf": ("Export &PDF report…", "Ctrl+P", "&File", True, "Save a PDF report of the batch"),
    "quit": ("&Quit", "Ctrl+Q", "&File", False, "Close the station"),
    "verify_selected": ("&Verify selected", "Ctrl+Return", "&Check", True, "Check the selected rigs"),
    "verify_all": ("Verify &all", "Ctrl+Shift+Return", "&Check", True, "Check every rig in the table"),
    "reverify": ("&Re-verify last batch", "F5", "&Check", True, "Check the rigs of the last check again"),
    "cancel": ("&Cancel check", "Esc", "&Check", True, "Stop the running check"),
    "remove_rows": ("Re&move selected rigs", "Del", "&Check", False, "Remove the selected rows"),
    "attach_dump": ("Attach flash &dump…", "Ctrl+Shift+D", "&Check", False,
                    "Attach a flash dump read with an external programmer to the selected rig: its next check "
                    "counts the dump's images at assurance offline"),
    "scan": ("&Scan serial", "Ctrl+L", "&Station", False, "Put the cursor in the barcode field"),
    "filter": ("&Filter", "Ctrl+F", "&Station", False, "Put the cursor in the filter box"),
    "trust_store": ("&Trust store…", "Ctrl+T", "&Station", True, "Vendor roots and pinned keys"),
    "settings": ("S&ettings…", "Ctrl+,", "&Station", False, "Station name, operator, timeouts, theme"),
    "pool_allow": ("&Pool allow-list…", "Ctrl+Shift+P", "&Station", False,
                   "The mining pools this station accepts; without a list, pools are not checked"),
    "history": ("Verification &history…", "Ctrl+H", "&Log", True, "The signed log: search, receipts, export"),
    "export_log": ("&Export signed log…", "Ctrl+Shift+E", "&Log", False,
                   "Write a signed log bundle an auditor can check offline"),
    "save_receipt": ("Save &receipt…", "Ctrl+Shift+R", "&Log", False,
                     "Save the selected rig's latest record with its inclusion proof"),
    "verify_log": ("&Verify a log or receipt…", "Ctrl+Shift+V", "&Log", False,
                   "Check a log bundle or receipt offline, as an auditor"),
    "warehouse": ("&Warehouse…", "Ctrl+Shift+W", "&Log", False,
                  "Today's intake at every station of the warehouse store, and this station's push queue"),
    "lock_key": ("&Lock station key", "Ctrl+Shift+L", "&Log", False,
                 "Forget the opened station key; the next check asks for the passphrase"),
}


@dataclass
class Actions:
    by_name: dict[str, QAction]

    def __getitem__(self, name: str) -> QAction:
        return self.by_name[name]


def build_actions(window: QMainWindow, handlers: dict[str, Callable[[], object]]) -> Actions:
    menus: dict[str, object] = {}
    toolbar = QToolBar("Main")
    toolbar.setObjectName("main-toolbar")
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    toolbar.setMovable(False)
    window.addToolBar(toolbar)
    actions: dict[str, QAction] = {}
    for name, (text, shortcut, menu_name, on_toolbar, tip) in COMMANDS.items():
        action = QAction(text, window)
        action.setObjectName(name)
        action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})")
        action.setStatusTip(tip)
        action.triggered.connect(handlers[name])
        menu = menus.get(menu_name)
        if menu is None:
            menu = window.menuBar().addMenu(menu_name)
            menus[menu_name] = menu
        menu.addAction(action)  # type: ignore[attr-defined]
        if on_toolbar:
            toolbar.addAction(action)
        actions[name] = action
    actions["cancel"].setEnabled(False)
    return Actions(actions)

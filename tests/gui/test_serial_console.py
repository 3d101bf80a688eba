"""The serial-console flow in the window: "stay in bootloader" reaches the driver, and a serial
rig's live console log shows device text as plain text only, capped."""

from __future__ import annotations

import os

from attest.address import PortProfile, parse_address
from attest.collect import endpoints_for
from attest.credentials import Credentials
from attest.drivers.base import CollectOptions
from attest.drivers.console import ConsoleSettings
from gui.dialogs.add_serial import AddSerialDialog
from gui.models.rows import RowKind
from gui.views.console_log import MAX_BYTES_PER_CONSOLE, MAX_LINES, console_label


def test_stay_in_bootloader_is_carried_to_the_console_driver(qtbot, window):
    dialog = AddSerialDialog(window)
    qtbot.addWidget(dialog)
    dialog.port.setEditText("/dev/ttyUSB7")
    assert dialog.address() == "serial:///dev/ttyUSB7"
    dialog.stay.setChecked(True)
    dialog.baud.setCurrentText("57600")
    address = dialog.address()
    assert address == "serial:///dev/ttyUSB7?baud=57600&stay=bootloader"
    row_id = window.intake.add_serial(address)
    assert window.model.row(row_id).kind is RowKind.SERIAL
    # What a check of that row hands the console driver: the endpoint option, then its setting.
    (endpoint,) = endpoints_for(parse_address(row_id), PortProfile(), Credentials())
    settings = ConsoleSettings.of(endpoint, CollectOptions())
    assert (settings.url, settings.baud, settings.stay) == ("/dev/ttyUSB7", 57600, "bootloader")


def test_the_console_log_shows_the_selected_serial_rig_live_as_plain_text(qtbot, window):
    controller, agent = os.openpty()
    try:
        device = os.ttyname(agent)
        first = window.intake.add_serial(f"serial://{device}")
        other = window.intake.add_serial("serial:///dev/ttyUSB-other?stay=bootloader")
        assert window.table.select_device(first)
        pane = window.detail
        assert pane.tabs.isTabVisible(pane.console_tab)
        label = console_label(first)
        hostile = b"\x1b[2J\x1b[31m<b>U-Boot</b> <a href='x'>2022.01</a>\x1b[0m\r\n=> \x07\x08\x00"
        pane.append_console(label, "<", hostile)
        pane.append_console(label, ">", b"echo RA1B; version\r")
        pane.append_console(label, ">", b"[secret withheld]")
        pane.append_console(console_label(other), "<", b"zynq-uboot> ")
        shown = pane.console.toPlainText()
        assert "<b>U-Boot</b> <a href='x'>2022.01</a>\n=> " in shown  # markup shown as typed, not rendered
        assert "\x1b" not in shown and "\x07" not in shown and "\x00" not in shown
        assert "» echo RA1B; version" in shown and "» [secret withheld]" in shown
        assert "zynq-uboot" not in shown  # another console's bytes stay with that console
        assert window.table.select_device(other)
        assert pane.console.toPlainText() == "zynq-uboot> "
    finally:
        os.close(controller)
        os.close(agent)


def test_the_console_log_is_capped_however_much_the_device_sends(qtbot, window):
    pane = window.detail
    row_id = window.intake.add_serial("serial:///dev/ttyUSB-chatty")
    assert window.table.select_device(row_id)
    label = console_label(row_id)
    for n in range(400):
        pane.append_console(label, "<", (f"[{n:5d}.000000] kernel says hello\r\n" * 40).encode())
    kept = pane.console.text_of(label)
    assert len(kept) <= MAX_BYTES_PER_CONSOLE
    assert "[  399.000000]" in kept and "[    0.000000]" not in kept  # the newest kept, the oldest dropped
    assert pane.console.blockCount() <= MAX_LINES


def test_a_network_rig_has_no_console_tab(qtbot, window):
    (host,) = window.intake.add_targets([parse_address("10.0.4.17")])
    serial = window.intake.add_serial("serial:///dev/ttyUSB-any")
    assert window.table.select_device(serial)
    assert window.detail.tabs.isTabVisible(window.detail.console_tab)
    assert window.table.select_device(host)
    assert not window.detail.tabs.isTabVisible(window.detail.console_tab)


def test_a_checks_events_carry_the_console_live_to_the_detail_pane(qtbot, window):
    """verify_many through merge_console_output against a simulated rig's pty: the ConsoleOutput
    chunks arrive before the rig's verdict and, handed to the pane, show its console."""
    import asyncio

    from attest.credentials import Credentials
    from attest.drivers.base import ConsoleOutput
    from attest.fleet import DeviceAppraised, verify_many
    from attest.policy import Policy
    from attest.sim.console import RigConsole
    from attest.sim.scenarios import make_rig
    from gui.console_feed import merge_console_output

    async def run() -> tuple[str, list[object]]:
        console = await RigConsole(make_rig(0, "genuine", "127.0.0.1"), boot_seconds=0.3).start()
        try:
            target = parse_address(f"serial://root:root@{console.path}?stay=linux")
            stream = merge_console_output(
                lambda options: verify_many([target], manifests=[], policy=Policy(), ports=PortProfile(),
                                            credentials=Credentials(allow_vendor_defaults=False), options=options),
                CollectOptions(timeout=3.0, hash_timeout=5.0, boot_timeout=8.0))
            return target.address, [event async for event in stream]
        finally:
            console.close()
            await console.wait_closed()

    address, events = asyncio.run(run())
    chunks = [e for e in events if isinstance(e, ConsoleOutput)]
    verdict_at = next(i for i, e in enumerate(events) if isinstance(e, DeviceAppraised))
    assert chunks and all(events.index(c) < verdict_at for c in chunks[:3])
    row_id = window.intake.add_serial(address)
    assert window.table.select_device(row_id)
    for chunk in chunks:
        window.detail.append_console(chunk.endpoint, chunk.direction, chunk.data)
    shown = window.detail.console.toPlainText()
    assert "Antminer login:" in shown and "BusyBox" in shown and "» [secret withheld]" in shown


def test_merged_stream_raises_the_streams_error_and_closing_it_cancels_the_stream():
    import asyncio

    import pytest

    from gui.console_feed import merge_console_output

    cancelled: list[bool] = []

    async def failing(options: CollectOptions):
        options.on_console(b"chunk")  # type: ignore[misc]  # any object rides along, in order
        yield 1
        raise RuntimeError("device job broke")

    async def endless(options: CollectOptions):
        try:
            while True:
                yield 0
                await asyncio.sleep(0.01)
        finally:
            cancelled.append(True)

    async def run() -> list[object]:
        got: list[object] = []
        with pytest.raises(RuntimeError, match="device job broke"):
            async for item in merge_console_output(failing, CollectOptions()):
                got.append(item)
        merged = merge_console_output(endless, CollectOptions())
        await anext(merged)
        await merged.aclose()
        return got

    assert asyncio.run(run()) == [b"chunk", 1]
    assert cancelled == [True]

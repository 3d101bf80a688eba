"""A rig's serial console (USB-UART, ser2net): U-Boot below the firmware, then its Linux shell.

The driver first finds where the console is — an autoboot countdown, a U-Boot prompt, a login
prompt, an open shell, a kernel still booting — and then reads what that stage offers:

* U-Boot (assurance ``bootloader``): attest.drivers.uboot — version, environment, flash hashed
  in RAM. A countdown is interrupted (Ctrl-C) to get there.
* Linux (assurance ``measured``): log in with the endpoint's credentials, then the same command
  plan as SSH (attest.drivers.shell) through a checksummed runner (attest.drivers.console_shell),
  plus the CGI reports an Antminer's web UI would give, run locally (hashboard serials).

``stay`` (``serial:///dev/ttyUSB0?stay=bootloader`` or CollectOptions.console_stay) picks how far:
``bootloader`` stops in U-Boot and leaves the unit there (a running unit is rebooted into it);
``linux`` never stops autoboot; by default U-Boot is read when it is reachable without a reset,
then the unit boots on and its shell is read too. The unit is never reset unless asked.

Failure policy as for SSH: any failure on the wire (silence, noise, a refused login, a reply past
its cap, the unit rebooting under us) ends the collection with no claims and a message that says
what the console showed, because a partial set cannot say which checks ran.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

from attest.drivers import antminer_web
from attest.drivers.base import (
    AUTH_FAILED,
    CONNECTION_RESET,
    MALFORMED_REPLY,
    TIMEOUT,
    UNREACHABLE,
    Claim,
    CollectError,
    CollectOptions,
    ConsoleOutput,
    Endpoint,
    Session,
)
from attest.drivers.console_shell import ConsoleShell
from attest.drivers.console_text import (
    AUTOBOOT,
    BOOTING_SIGNS,
    COUNTDOWN_REDRAW,
    LOGIN_PROMPT,
    LOGIN_REFUSED,
    PASSWORD_PROMPT,
    SHELL_PROMPT,
    UBOOT_PROMPT,
    Rebooted,
    lines,
    noise_ratio,
    tail,
)
from attest.drivers.shell_plan import collect_shell_evidence
from attest.drivers.uboot import UBoot, collect_bootloader_evidence, parse_version
from attest.evidence import Assurance, Transcript, printable
from attest.transport.serial import SerialLink, TransportError, open_link, quote

NAME = "console"
KIND = "serial"
DEFAULT_PORT = 115200  # serial endpoints carry the baud rate where others carry a port
SCHEMES = ("serial",)
STAYS = ("", "bootloader", "linux")

#: The CGI scripts behind an Antminer's web UI are shell scripts on the unit: run locally they
#: print the same JSON the web driver reads, which is where hashboard serials are reported.
CGI_DIR = "/www/pages/cgi-bin"
#: Bytes of console history kept while watching a boot (a boot log is tens of KB).
WATCH_WINDOW = 16 * 1024
#: Junk past this share of what arrived is a line at the wrong rate, not a device talking.
NOISE_LIMIT = 0.35
NOISE_MIN_BYTES = 256
#: busybox login waits this long before it says a password was wrong.
LOGIN_REFUSAL_SECONDS = 3.0
#: How long stay=linux watches a console before waking it: U-Boot redraws its countdown each second.
LINUX_LOOK_SECONDS = 1.2
ACTIVATE = re.compile(rb"(?i)press enter to activate|activate this console")

COUNTDOWN, UBOOT, LOGIN, SHELL = "u-boot autoboot countdown", "u-boot prompt", "linux login prompt", "linux shell"
HALF_LOGIN = "a password prompt nobody answered"  # not a stage: answered, then watched again


class NoFirmwareBooted(Exception):
    """U-Boot was told to boot and came back to its prompt: no firmware (or none it can load).

    Not a failure on the wire: the U-Boot stage read before it is complete and stays reported.
    """


@dataclass(frozen=True)
class ConsoleSettings:
    url: str
    baud: int
    parity: str
    stay: str
    prompt: re.Pattern[bytes] | None

    @classmethod
    def of(cls, endpoint: Endpoint, options: CollectOptions) -> ConsoleSettings:
        params = dict(endpoint.params)
        stay = params.get("stay", options.console_stay)
        if stay not in STAYS:
            raise CollectError(UNREACHABLE, f"stay={stay!r} is not one of: bootloader, linux")
        custom = params.get("prompt")
        prompt = re.compile(re.escape(custom.encode()) + rb" ?$") if custom else None
        return cls(endpoint.host, endpoint.port or DEFAULT_PORT, params.get("parity", "N"), stay, prompt)


async def collect(endpoint: Endpoint, session: Session) -> list[Claim]:
    """Read the console at whatever stage it is, as far as ``stay`` allows (see the module doc).

    Raises CollectError: UNREACHABLE (port missing or busy), TIMEOUT (silence, no prompt),
    MALFORMED_REPLY (line noise: wrong baud?), AUTH_FAILED, REPLY_TOO_LARGE, CONNECTION_RESET
    (the console went away, or the unit rebooted mid-check).
    """
    settings = ConsoleSettings.of(endpoint, session.options)
    label = endpoint.label
    listener = session.options.on_console

    def record(direction: str, data: bytes) -> None:
        session.transcript.record(label, direction, data)
        if listener is not None:
            listener(ConsoleOutput(label, direction, data))

    try:
        link = await open_link(settings.url, baudrate=settings.baud, parity=settings.parity,
                               timeout=session.options.timeout, record=record)
    except TransportError as exc:
        raise CollectError(exc.code, exc.message) from None
    async with link:
        check = ConsoleCheck(link, endpoint, settings, session.options, session)
        try:
            return await check.run()
        except TransportError as exc:
            raise CollectError(exc.code, f"{check.where}: {exc.message}") from None
        except NoFirmwareBooted as exc:  # before U-Boot was read: nothing of this visit stands
            raise CollectError(MALFORMED_REPLY, f"{check.where}: {exc}") from None
        except Rebooted as exc:
            said = printable(exc.line, 120)
            raise CollectError(CONNECTION_RESET, f"{check.where}: the unit restarted under the check (it printed "
                                                 f"{said!r}); verify it again once it is up") from None


class ConsoleCheck:
    """One visit to a console: find the stage, read it, move on as ``stay`` says."""

    def __init__(self, link: SerialLink, endpoint: Endpoint, settings: ConsoleSettings,
                 options: CollectOptions, session: Session | None = None) -> None:
        self.link = link
        # Where field-level trouble in the web UI's own reports goes (a fresh one when alone).
        self.session = session if session is not None else Session(options, Transcript(cap_bytes=0))
        self.endpoint = endpoint
        self.settings = settings
        self.options = options
        self.where = "looking for a prompt"  # what the check was doing, for error messages
        self.claims: list[Claim] = []
        self.version_output: list[bytes] | None = None  # U-Boot's `version`, read when finding its prompt

    def note(self, name: str, value: str) -> None:
        # What the console showed: the running firmware (or whatever drives the line) could fake it.
        self.claims.append(Claim(name, value, f"{self.endpoint.label} console", Assurance.REPORTED))

    async def run(self) -> list[Claim]:
        stage = await self.find_stage(wake=True, seconds=self.options.timeout)
        self.note("console.found", stage)
        if stage == COUNTDOWN and self.settings.stay == "linux":
            self.where = "waiting for the unit to boot"
            stage = await self.find_stage(wake=False, seconds=self.options.boot_timeout, after_boot=True)
        elif stage == COUNTDOWN:
            stage = await self.stop_autoboot()
        if stage == UBOOT:
            if self.settings.stay != "linux":
                await self.read_bootloader()
            if self.settings.stay == "bootloader":
                return self.claims
            self.where = "booting from U-Boot"
            await self.link.read_some(0.3)  # the prompt after our last command, so it is not taken as new
            await self.link.write(b"boot\r")
            try:
                stage = await self.find_stage(wake=False, seconds=self.options.boot_timeout, after_boot=True)
            except NoFirmwareBooted as exc:
                if self.settings.stay == "linux":
                    raise CollectError(MALFORMED_REPLY, str(exc)) from None
                # U-Boot was read in full and the unit is back at its prompt: that stage stands.
                self.note("console.linux", f"not reached: {exc}")
                return self.claims
        if stage not in (LOGIN, SHELL):
            raise CollectError(CONNECTION_RESET, f"the unit was booting, but then its console showed a {stage}")
        logged_in = False
        if stage == LOGIN:
            await self.log_in()
            logged_in = True
        if self.settings.stay == "bootloader":
            await self.reboot_into_bootloader()
            return self.claims
        await self.read_linux(logged_in)
        return self.claims

    # --- where is the console? ---------------------------------------------------------------

    async def find_stage(self, *, wake: bool, seconds: float, after_boot: bool = False) -> str:
        """Watch the console until it shows a stage; a kernel on its way up extends the wait.

        Waking sends Ctrl-C first — it clears a half-typed line at any prompt and interrupts
        nothing else — and Enter only once nothing answered it: an empty line at a U-Boot
        prompt would repeat the last command, whatever that was. With ``stay=linux`` the Ctrl-C
        waits until the console has shown no countdown for a while: it would stop autoboot.
        """
        buffer = b""
        started = last_byte = time.monotonic()
        deadline = started + seconds
        nudges = 0
        ctrl_c_at = None if not wake else started + (LINUX_LOOK_SECONDS if self.settings.stay == "linux" else 0.0)
        while True:
            if ctrl_c_at is not None and time.monotonic() >= ctrl_c_at:
                await self.link.write(b"\x03")
                ctrl_c_at, last_byte = None, time.monotonic()
            chunk = await self.link.read_some(0.1)
            now = time.monotonic()
            if chunk:
                buffer, last_byte = (buffer + chunk)[-WATCH_WINDOW:], now
            # A prompt is followed by silence; a boot log cut mid-line may end in ">" or "#" too.
            stage = await self._stage_of(buffer, after_boot=after_boot, quiet=not chunk)
            if stage == HALF_LOGIN:
                # A login someone left half done: answer it once (it fails) and watch afresh, so
                # the same "Password:" is not answered again while the login takes its time.
                await self.link.write(b"\r")
                buffer = b""
                last_byte = now + LOGIN_REFUSAL_SECONDS  # no nudging while the login takes its time
            elif stage is not None:
                return stage
            if ACTIVATE.search(tail(buffer)):
                await self.link.write(b"\r")
                buffer = b""
            if len(buffer) >= NOISE_MIN_BYTES and noise_ratio(buffer) > NOISE_LIMIT:
                raise CollectError(MALFORMED_REPLY, f"only line noise on the console ({len(buffer)} bytes, mostly not "
                                                    f"text: {quote(buffer, 48)}); is the baud rate "
                                                    f"{self.settings.baud} right? (rigs use 115200 8N1)")
            if BOOTING_SIGNS.search(tail(buffer, 2048)) and deadline < started + self.options.boot_timeout:
                deadline = started + self.options.boot_timeout  # booting: worth waiting for
            if wake and ctrl_c_at is None and now - last_byte > 1.0 + nudges and nudges < 2:
                nudges += 1
                await self.link.write(b"\r")
                last_byte = now
            if now >= deadline:
                raise self._no_prompt(buffer, now - started)

    async def _stage_of(self, buffer: bytes, *, after_boot: bool, quiet: bool) -> str | None:
        end = tail(buffer)
        if not end:
            return None
        last = end.rsplit(b"\n", 1)[-1]
        # After a boot was started, the countdown's redraws are the one already seen running out.
        redraw = not after_boot and COUNTDOWN_REDRAW.search(buffer[-8:])
        if AUTOBOOT.search(last) or (AUTOBOOT.search(end) and not last.strip()) or redraw:
            return COUNTDOWN
        if not quiet:
            return None
        if LOGIN_PROMPT.search(end):
            return LOGIN
        if PASSWORD_PROMPT.search(end):
            return HALF_LOGIN
        custom = self.settings.prompt
        if (custom and custom.search(end)) or UBOOT_PROMPT.search(end) or SHELL_PROMPT.search(end):
            if after_boot and UBOOT_PROMPT.search(end) and not SHELL_PROMPT.search(end):
                said = [line.strip().decode("ascii") for line in lines(buffer[-800:]) if line.strip()][-3:-1]
                raise NoFirmwareBooted("U-Boot did not boot the firmware: it came back to its prompt after "
                                       f"{printable(' / '.join(said), 200)!r}")
            return await self._confirm_prompt()
        return None

    async def _confirm_prompt(self) -> str:
        """A prompt-shaped line: ``version`` tells U-Boot (which prints its version) from a shell."""
        self.where = "asking the prompt what it is"
        output = await UBoot(self.link, self.options).run("version")
        if parse_version(output) is None:
            return SHELL
        self.version_output = output
        return UBOOT

    def _no_prompt(self, buffer: bytes, waited: float) -> CollectError:
        if not buffer:
            return CollectError(TIMEOUT, f"the console sent nothing in {waited:.0f} s, even after Ctrl-C and Enter: "
                                         "check the adapter's TX/RX and ground wires and that the unit is on")
        if noise_ratio(buffer) > NOISE_LIMIT:
            return CollectError(MALFORMED_REPLY, f"only line noise on the console ({len(buffer)} bytes: "
                                                 f"{quote(buffer, 48)}); is the baud rate {self.settings.baud} right?")
        return CollectError(TIMEOUT, f"no U-Boot, login or shell prompt in {waited:.0f} s; the console's last "
                                     f"words were: {printable(tail(buffer, 200), 200)!r}")

    # --- U-Boot ------------------------------------------------------------------------------

    async def stop_autoboot(self) -> str:
        """Ctrl-C until the U-Boot prompt shows; a kernel starting instead means we were too late."""
        self.where = "stopping autoboot"
        buffer = b""
        deadline = time.monotonic() + self.options.timeout
        quiet = True
        while time.monotonic() < deadline:
            # One Ctrl-C per lull: each one that reaches the prompt prints another prompt.
            if quiet and not self._uboot_prompt(buffer):
                await self.link.write(b"\x03")
            chunk = await self.link.read_some(0.1)
            quiet = not chunk
            buffer = (buffer + chunk)[-WATCH_WINDOW:]
            end = tail(buffer)
            if not chunk and self._uboot_prompt(buffer):
                return await self._confirm_prompt()
            if BOOTING_SIGNS.search(end):
                if self.settings.stay == "bootloader":
                    raise CollectError(TIMEOUT, "autoboot could not be stopped: the kernel started first "
                                                "(is bootdelay 0, or a key other than Ctrl-C needed?)")
                return await self.find_stage(wake=False, seconds=self.options.boot_timeout, after_boot=True)
        raise CollectError(TIMEOUT, f"no U-Boot prompt within {self.options.timeout:g} s of stopping autoboot; "
                                    f"the console's last words were: {printable(tail(buffer, 200), 200)!r}")

    def _uboot_prompt(self, buffer: bytes) -> bool:
        end = tail(buffer)
        return bool(UBOOT_PROMPT.search(end) or (self.settings.prompt and self.settings.prompt.search(end)))

    async def read_bootloader(self) -> None:
        self.where = "reading U-Boot"
        self.claims += await collect_bootloader_evidence(UBoot(self.link, self.options), self.endpoint.label,
                                                         self.options, version_output=self.version_output)

    async def reboot_into_bootloader(self) -> None:
        """stay=bootloader at a running Linux: ``reboot``, stop its autoboot, read U-Boot."""
        self.where = "rebooting into U-Boot"
        await self.link.read_some(0.3)
        await self.link.write(b"reboot\r")
        await self.link.read_until(lambda b: AUTOBOOT.search(tail(b, 1024)), timeout=self.options.boot_timeout,
                                   max_bytes=4 * 1024 * 1024, what="U-Boot's autoboot countdown after `reboot`")
        if await self.stop_autoboot() != UBOOT:
            raise CollectError(TIMEOUT, "asked for the bootloader, but the unit booted its firmware instead")
        await self.read_bootloader()

    # --- Linux -------------------------------------------------------------------------------

    async def log_in(self) -> None:
        self.where = "logging in"
        credentials = self.endpoint.credentials
        if not credentials:
            raise CollectError(AUTH_FAILED, "the console asks for a login and no credentials were given")
        for credential in credentials:
            await self.link.write(credential.username.encode() + b"\r")
            buffer, _ = await self.link.read_until(lambda b: PASSWORD_PROMPT.search(tail(b)) or SHELL_PROMPT.search(
                tail(b)), timeout=self.options.timeout, max_bytes=64 * 1024, what="a password prompt")
            if PASSWORD_PROMPT.search(tail(buffer)):
                await self.link.write(credential.password.encode() + b"\r", secret=True)
                # busybox login waits ~3 s before saying a password was wrong
                buffer, _ = await self.link.read_until(
                    lambda b: SHELL_PROMPT.search(tail(b)) or LOGIN_REFUSED.search(b) or LOGIN_PROMPT.search(tail(b)),
                    timeout=self.options.timeout + 5, max_bytes=64 * 1024, what="the login's answer")
            if SHELL_PROMPT.search(tail(buffer)) and not LOGIN_REFUSED.search(buffer):
                self.note("console.login", f"as {credential.username}")
                return
            if not LOGIN_PROMPT.search(tail(buffer)):
                await self.link.read_until(lambda b: LOGIN_PROMPT.search(tail(b)), timeout=self.options.timeout + 5,
                                           max_bytes=64 * 1024, what="the login prompt after a refused login")
        users = ", ".join(printable(c.username, 32) for c in credentials)
        raise CollectError(AUTH_FAILED, f"the console refused every login tried (users: {users}; "
                                        "it answered 'Login incorrect')")

    async def read_linux(self, logged_in: bool) -> None:
        self.where = "reading the Linux shell"
        shell = ConsoleShell(self.link, self.settings.baud, self.options.timeout)
        root = await shell.setup()
        if not logged_in:
            self.note("console.login", "none needed: the console was at an open shell")
        self.note("console.shell.user", "root" if root else "not root (flash cannot be read)")
        label = self.endpoint.label
        self.claims += await collect_shell_evidence(shell, label, self.options)
        self.claims += await self._cgi_claims(shell)
        self.note("console.shell.checked", "every output checked with the device's cksum" if shell.checked
                  else "outputs unverified: the shell has no writable /tmp or no cksum; "
                  "each measurement was read until two readings agreed")
        if logged_in:
            await shell.finish()

    async def _cgi_claims(self, shell: ConsoleShell) -> list[Claim]:
        """What the web UI reports, from its own CGI scripts run on the unit (reported claims)."""
        claims: list[Claim] = []
        for name, parse in (("get_system_info.cgi", antminer_web.system_info_claims),
                            ("stats.cgi", antminer_web.stats_claims)):
            result = await shell.report(f"{CGI_DIR}/{name} 2>/dev/null", timeout=self.options.timeout,
                                        max_bytes=min(self.options.max_reply_bytes, 256 * 1024))
            start = result.stdout.find(b"{")
            if result.exit_status != 0 or start < 0:
                continue  # not an Antminer (or not this firmware's layout): nothing reported here
            try:
                document = json.loads(result.stdout[start:].decode("utf-8"))
                if isinstance(document, dict):
                    claims += parse(document, self.endpoint, self.session)
            except (ValueError, RecursionError, CollectError):
                continue  # a report that does not parse loses only its own claims
        return claims

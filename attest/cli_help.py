"""What `attest COMMAND --help` says beyond the option list: what the command is for, an example
that works as typed, and what its exit code means.

Kept apart from the parser in ``attest.cli`` so the parser stays a list of options; every text
here is read by a technician at a terminal, so it names real files and real addresses.
"""

from __future__ import annotations

import argparse

EXIT_CODES = """\
exit codes: 0 every rig TRUSTED · 1 worst is WARNING · 2 usage or unreadable input ·
            3 worst is UNKNOWN · 4 worst is UNTRUSTED · 130 interrupted (Ctrl-C)"""

DOCUMENT_EXIT_CODES = "exit codes: 0 accepted · 2 unreadable or bad usage · 4 refused (the reason on stderr)"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs keep their line breaks (examples must stay one per line)."""


def formatted(**kwargs: str) -> dict[str, object]:
    """``add_parser`` keywords for a command with a description and an epilog."""
    return {**kwargs, "formatter_class": HelpFormatter}


MAIN = """\
Verify Bitcoin mining rigs against their manufacturer's signed manifest.

Try it without any rig: `attest demo` verifies a simulated fleet in this terminal.
`attest COMMAND --help` explains each command."""

VERIFY = """\
Read each rig (miner API, web interface, SSH) and judge it against the signed manifest:
TRUSTED, WARNING, UNTRUSTED or UNKNOWN, with the reason that decided it."""

VERIFY_EPILOG = f"""\
examples:
  attest verify 10.0.4.17 --manifest shipment-0042.dsse.json --trust trust
  attest verify 10.0.4.0/24 --manifest shipment-0042.dsse.json --trust trust --policy policy.toml --json
  attest verify @pallet.txt --manifest shipment-0042.dsse.json --trust trust --log station.sqlite

{EXIT_CODES}"""

COLLECT = "Show the evidence one rig gives, claim by claim, with where each came from and its assurance."
COLLECT_EPILOG = """\
example:
  attest collect 10.0.4.17 --ports api=4028,web=80,ssh=22

exit codes: 0 something was read · 2 usage · 3 nothing could be read"""

SCAN = "Discover what answers in a range, and which miner family it is. Nothing is judged."
SCAN_EPILOG = """\
example:
  attest scan 10.0.4.0/24

exit codes: 0 something answered · 2 usage · 3 nothing answered"""

IMAGE = """\
Check firmware files and flash dumps offline, before they touch a rig: what is inside, the vendor's
own signatures, known backdoors, and (with --manifest) whether the manufacturer signed this release."""

IMAGE_EPILOG = f"""\
example (the demo simulator writes two firmware files; see firmware_file in its fleet.json):
  attest image sim-out/firmware/rig-006.tar.gz --manifest sim-out/manifest.dsse.json --trust sim-out/trust

{EXIT_CODES.replace('every rig', 'every file')}"""

MANIFEST = "Sign, check or read a manufacturing manifest (a DSSE envelope)."
MANIFEST_SIGN = "Sign a manifest payload (JSON) into a DSSE envelope: the vendor's side."
MANIFEST_SIGN_EPILOG = """\
example:
  attest manifest sign payload.json --key signer.key --cert signer.pem -o shipment-0042.dsse.json

exit codes: 0 signed · 2 the payload, key or certificate cannot be used"""
MANIFEST_VERIFY = "Check a manifest's signatures, certificate chain and validity against the trust store."
MANIFEST_VERIFY_EPILOG = f"""\
example:
  attest manifest verify shipment-0042.dsse.json --trust trust

{DOCUMENT_EXIT_CODES}"""
MANIFEST_INSPECT = "Show what a manifest says. Signatures are NOT checked: use `attest manifest verify` for that."

SIM = """\
Run virtual rigs that speak the real protocols (miner API, Antminer web CGI, SSH, serial console),
each on its own loopback address, until stopped with Ctrl-C. Also writes what a station needs to
check them: OUT/fleet.json (the rigs and their endpoints), OUT/hosts.txt (one address a line, for
`attest verify @OUT/hosts.txt`), OUT/ports.txt (the port profile the rigs use), OUT/manifest.dsse.json,
OUT/trust/ and OUT/policy.toml. Prints "ready OUT/fleet.json" once every rig listens, then (on stderr)
the `attest verify` command for this fleet."""

DEMO = """\
Start a simulated fleet with one rig per scenario, verify it in this terminal and print the
verdicts, then stop the fleet and delete its temporary files (also on Ctrl-C or SIGTERM)."""


def scenario_epilog(scenarios: dict[str, str], serial: dict[str, tuple[str, str]],
                    about: dict[str, str], *, families: dict[str, tuple[str, str, str]] | None = None,
                    tamper: dict[str, str] | None = None) -> str:
    """The scenarios `attest sim --scenario` takes, each with the verdict it must get."""
    families = families or {}
    tamper = tamper or {}
    width = max(len(n) for n in [*scenarios, *serial, *families, *tamper, "families"])
    lines = ["scenarios (--scenario NAME), with the verdict a full check gives:",
             f"  {'mixed':<{width}}  every scenario and firmware family of the first two lists (the default)"]
    for name, verdict in scenarios.items():
        lines.append(f"  {name:<{width}}  {verdict:<9}  {about.get(name, '')}".rstrip())
    if families:
        lines += ["", "one genuine rig of each firmware family (in mixed; --scenario families runs them alone):"]
        for name, (model, _family, verdict) in families.items():
            lines.append(f"  {name:<{width}}  {verdict:<9}  a genuine {model}, read the way its firmware answers")
    if tamper or serial:
        lines += ["", "not in mixed:"]
    for name, verdict in tamper.items():
        lines.append(f"  {name:<{width}}  {verdict:<9}  {about.get(name, '')}".rstrip())
    for name, (network, console) in serial.items():
        what = f"{about[name]}; " if name in about else ""
        lines.append(f"  {name:<{width}}  {network:<9}  {what}{console} over the serial console alone")
    lines += ["", "example:", "  attest sim --out sim-out      # then, in another terminal:",
              "  attest verify @sim-out/hosts.txt --manifest sim-out/manifest.dsse.json --trust sim-out/trust \\",
              '      --policy sim-out/policy.toml --ports "$(cat sim-out/ports.txt)"',
              "  (the rigs use the real ports 4028/80/22 when the simulator may bind them, else 4028/8080/2222)"]
    return "\n".join(lines)

"""Verdicts and reason codes: the stable vocabulary of every result Rig Attest gives.

Codes are public (intake scripts match on them): add new ones, never rename or reuse one.
Every code has a sentence a technician understands and what to do about it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Verdict(enum.Enum):
    TRUSTED = "TRUSTED"
    WARNING = "WARNING"
    UNKNOWN = "UNKNOWN"
    UNTRUSTED = "UNTRUSTED"

    @property
    def exit_code(self) -> int:
        return {"TRUSTED": 0, "WARNING": 1, "UNKNOWN": 3, "UNTRUSTED": 4}[self.value]

    @property
    def severity(self) -> int:
        """Order for "worst of a batch": UNTRUSTED > UNKNOWN > WARNING > TRUSTED."""
        return {"TRUSTED": 0, "WARNING": 1, "UNKNOWN": 2, "UNTRUSTED": 3}[self.value]


class Status(enum.Enum):
    """Per-category appraisal status, after IETF RATS AR4SI."""

    AFFIRMING = "affirming"
    WARNING = "warning"
    CONTRAINDICATED = "contraindicated"
    NONE = "none"  # nothing could be judged


CATEGORIES = ("identity", "hardware", "firmware", "configuration", "provenance")
#: Reasons about evidence we could not gather sit outside the five categories: could-not-check
#: is never checked-and-failed.
EVIDENCE = "evidence"


@dataclass(frozen=True)
class ReasonInfo:
    category: str
    status: Status
    message: str
    remediation: str


def _r(category: str, status: str, message: str, remediation: str) -> ReasonInfo:
    return ReasonInfo(category, Status(status), message, remediation)


REASONS: dict[str, ReasonInfo] = {
    # --- could not check (never UNTRUSTED on their own) ---
    "TIMEOUT": _r(EVIDENCE, "none", "The device accepted the connection but did not answer in time.",
                  "Check the unit has finished booting and is not overloaded, then verify again."),
    "DEADLINE_EXCEEDED": _r(EVIDENCE, "none", "The run's overall deadline passed before this unit was fully checked, so nothing from it is used.",
                            "Verify this unit again, or give the run a longer --deadline."),
    "UNREACHABLE": _r(EVIDENCE, "none", "Nothing answered on this address and port.",
                      "Check power, cabling, the DHCP lease and the port profile."),
    "CONNECTION_RESET": _r(EVIDENCE, "none", "The device closed the connection in the middle of a reply.",
                           "Verify again; if it repeats, check the network link and the unit's logs."),
    "MALFORMED_REPLY": _r(EVIDENCE, "none", "The device answered with bytes that are not the expected protocol.",
                          "Check the port profile points at the right service; the transcript shows what came back."),
    "REPLY_TOO_LARGE": _r(EVIDENCE, "none", "The device sent more data than a genuine reply could hold; it was cut off.",
                          "Treat the unit with suspicion and check it over the serial console."),
    "AUTH_FAILED": _r(EVIDENCE, "none", "The device refused the credentials we tried.",
                      "Add the unit's credentials to the credentials file, or allow vendor defaults in the policy."),
    "NOT_THIS_FAMILY": _r(EVIDENCE, "none", "A service answered, but it is not a miner interface Rig Attest reads.",
                          "Check the port profile; name the endpoint explicitly if the unit uses other ports."),
    "NOT_IDENTIFIED": _r(EVIDENCE, "none", "This address accepted a connection on a miner port but did not identify as a miner: its firmware may be hung or broken, or it is another kind of device.",
                         "Find the unit at this address; the detail shows what it said. Power-cycle it and verify again, or check it over its serial console."),
    "IDENTITY_NOT_READ": _r(EVIDENCE, "none", "No interface told us the unit's serial number, so it cannot be matched to a manifest.",
                            "Make sure the API or web interface is reachable, or check the unit over its serial console."),
    "NO_MANIFEST": _r(EVIDENCE, "none", "No accepted manufacturing manifest was loaded, so there is nothing to compare with.",
                      "Load the vendor's signed manifest for this shipment."),
    "SSH_UNAVAILABLE": _r(EVIDENCE, "none", "The unit's shell (SSH) was not available, so its flash could not be measured.",
                          "Enable SSH, add its credentials, or check the unit over the serial console."),
    "INTERNAL_ERROR": _r(EVIDENCE, "none", "Rig Attest hit an unexpected error while reading this unit (a bug in Rig Attest, not a finding).",
                         "Verify again; if it repeats, report it with the unit's transcript."),
    "EGRESS_NOT_SEEN": _r(EVIDENCE, "none", "The station's network watch saw this rig look up no name and open no connection, so its network behaviour was not observed (a firmware may just wait longer than the watch).",
                          "Nothing to do for the verdict; to observe it, watch longer (--watch-seconds) and check the intake network gives rigs the station as their DNS server."),
    "HISTORY_UNAVAILABLE": _r(EVIDENCE, "none", "Earlier checks of this unit could not be consulted, so changes since then were not looked for.",
                              "Check the station log or warehouse store named in the detail, then verify again."),
    "MEASUREMENT_LIMIT_EXCEEDED": _r(EVIDENCE, "none", "The unit's flash could not be streamed to the station within the limits set for one rig (bytes or seconds), so its firmware was not measured.",
                                     "Check the unit alone, with higher [measure] limits in the station policy or over a faster link; a flash far larger than the model's is itself suspect."),
    "VALUE_MALFORMED": _r(EVIDENCE, "warning", "The device sent a value that cannot be what it claims to be (a serial with a line break, unreadable bytes, a placeholder, far too long), so that value was not used.",
                          "Treat the unit with suspicion: genuine firmware reports clean values. The detail names the field and quotes what was sent; check it over the serial console."),
    "DRIVER_UNAVAILABLE": _r(EVIDENCE, "none", "Rig Attest cannot read this kind of endpoint yet, so nothing was checked there.",
                             "Check the unit through another interface (network API, web or SSH)."),
    # --- a firmware file or flash dump that could not be checked (attest image) ---
    "IMAGE_FORMAT_UNKNOWN": _r(EVIDENCE, "none", "The file's format is not one Rig Attest can read, so nothing in it was verified.",
                               "Ask the vendor for the file in a documented format, or compare it by digest with the signed manifest."),
    "IMAGE_CORRUPT": _r(EVIDENCE, "none", "Part of the file is damaged or malformed, so it could not be checked.",
                        "Download or dump the file again and verify the new copy; do not flash this one."),
    "IMAGE_TRUNCATED": _r(EVIDENCE, "none", "The file is shorter than its own headers declare: cut short in transfer, or crafted.",
                          "Download or dump the file again; do not flash this one."),
    "IMAGE_LIMIT_EXCEEDED": _r(EVIDENCE, "none", "The file expands past the safety limits (bytes, files or nesting depth), so it was not checked in full.",
                               "Treat the file as suspect; a genuine firmware package stays well inside the limits."),
    "IMAGE_TOO_COSTLY": _r(EVIDENCE, "none", "Checking the file ran out of its time, memory or work budget, so part of it (named in the detail) was not checked.",
                           "Treat the file as suspect: genuine firmware is checked well inside the budgets. Do not flash it until it has been checked in full."),
    "IMAGE_NESTING_LOOP": _r(EVIDENCE, "none", "A container inside the file contains itself, so it was not followed.",
                             "Treat the file as crafted and do not flash it."),
    "IMAGE_NO_RELEASE_MATCH": _r(EVIDENCE, "none", "Nothing in the file could be matched to the signed releases: the whole file is no listed package, and no image in it is a listed image.",
                                 "Ask the vendor for the manifest listing this release's images or package, or verify the rig after flashing."),
    # --- identity ---
    "IDENTITY_MATCHES_MANIFEST": _r("identity", "affirming", "Unit serial and network identity match the signed manifest.", ""),
    "DEVICE_NOT_IN_MANIFEST": _r("identity", "contraindicated", "The unit's serial number is in none of the loaded signed manifests.",
                                 "Check the right manifest is loaded; otherwise quarantine the unit and ask the vendor."),
    "MODEL_MISMATCH": _r("identity", "contraindicated", "The unit reports a different model from the one the manifest lists for its serial.",
                         "Quarantine the unit and compare its label with the manifest."),
    "MAC_MISMATCH": _r("identity", "contraindicated", "The network MAC address differs from the manifest's for this serial.",
                       "Quarantine the unit: the control board may have been replaced."),
    "IDENTITY_FINGERPRINT_MISMATCH": _r("identity", "contraindicated", "The unit's identity fingerprint does not match the manifest's.",
                                        "Quarantine the unit and photograph its serial labels."),
    "SERIAL_CLONED": _r("identity", "contraindicated", "Another unit claims the same serial number or MAC address: in this batch, or at another station within the hour.",
                        "Quarantine both units and compare their labels and board serials."),
    "IDENTITY_CHANGED_SINCE": _r("identity", "contraindicated", "This serial was checked before with a different MAC, control board, hashboards or power supply.",
                                 "Quarantine the unit: its parts were swapped since the earlier check, or it is a clone of that unit. Compare the board labels with the earlier record."),
    "SSH_HOST_KEY_CHANGED": _r("identity", "warning", "The unit's SSH host key differs from the one recorded at its earlier check.",
                               "Expected after a reflash; otherwise suspect a replaced control board or a machine in the middle, and check the unit over its serial console."),
    "IDENTITY_SEEN_BEFORE": _r("identity", "affirming", "This unit was checked before with the same identity.", ""),
    "CLAIMS_DISAGREE": _r("identity", "warning", "Two interfaces of the unit report different values for the same fact.",
                          "Check the unit over the serial console; the detail view shows which sources disagree."),
    # --- hardware ---
    "HARDWARE_MATCHES_MANIFEST": _r("hardware", "affirming", "Control board and hashboard serials match the manifest.", ""),
    "CONTROL_BOARD_SERIAL_MISMATCH": _r("hardware", "contraindicated", "The control board serial differs from the manifest's.",
                                        "Quarantine the unit and photograph the control board label."),
    "HASHBOARD_SERIAL_MISMATCH": _r("hardware", "contraindicated", "A hashboard serial differs from the manifest's for that slot.",
                                    "Quarantine the unit and photograph the hashboard labels."),
    "HASHBOARD_MISSING": _r("hardware", "contraindicated", "A hashboard listed in the manifest was not found in the unit.",
                            "Check the hashboard's ribbon cable and power; if it is absent, quarantine the unit."),
    "HASHBOARD_UNEXPECTED": _r("hardware", "contraindicated", "The unit has a hashboard in a slot the manifest lists as empty.",
                               "Quarantine the unit and photograph the hashboard labels."),
    "HASHBOARD_CHIPS_MISMATCH": _r("hardware", "warning", "A hashboard reports fewer or more chips than the manifest lists.",
                                   "Often a failed chip; check the board's chain in the miner log."),
    "PSU_SERIAL_MISMATCH": _r("hardware", "contraindicated", "The power supply serial differs from the manifest's.",
                              "Quarantine the unit and photograph the PSU label."),
    "HARDWARE_NOT_READ": _r("hardware", "warning", "Some board serials the manifest lists could not be read from the unit.",
                            "Check the unit over SSH or the serial console to read the missing serials."),
    # --- firmware ---
    "FIRMWARE_SIGNED_RELEASE": _r("firmware", "affirming", "Every measured flash image matches a release the manufacturer signed.", ""),
    "FIRMWARE_DIGEST_UNKNOWN": _r("firmware", "contraindicated", "A flash image's digest matches no release the manufacturer signed.",
                                  "Quarantine the unit and reflash it with signed firmware before use."),
    "FIRMWARE_SELF_REPORT_DIFFERS": _r("firmware", "contraindicated", "The rig's own sha256sum gave another digest for its flash than the bytes the station read and hashed itself: the rig lied about its firmware.",
                                       "Quarantine the unit: its software hides what its flash holds. Reflash it through the bootloader or an external programmer before any use."),
    "FIRMWARE_DEVICE_DIGEST_ONLY": _r("firmware", "warning", "The flash images match a signed release, but only by the rig's own sha256sum, which modified firmware can fake.",
                                      "Verify the unit over SSH so the station reads and hashes the flash itself, or attach a flash dump read with an external programmer."),
    "FIRMWARE_DUMP_DIFFERS": _r("firmware", "contraindicated", "The flash dump attached to this unit does not match what the unit's flash gave when read live.",
                                "Check the dump is this unit's and newer than its last update; if it is, quarantine the unit: the running rig serves other bytes than its flash chip holds."),
    "FIRMWARE_REVOKED": _r("firmware", "contraindicated", "The firmware is a signed release that the manufacturer has since revoked.",
                           "Update the unit to a current signed release before use."),
    "FIRMWARE_IMAGE_MISSING": _r("firmware", "warning", "A flash image the signed release lists was not found on the unit.",
                                 "Check the partition table over the serial console."),
    "FIRMWARE_REPORTED_ONLY": _r("firmware", "warning", "The firmware version is only what the running firmware says; its flash was not measured.",
                                 "Enable SSH or use the serial console so the flash can be hashed."),
    "FIRMWARE_VERSION_UNKNOWN": _r("firmware", "warning", "The firmware reports a version that is not among the signed releases.",
                                   "Measure the flash over SSH or the serial console to know what is installed."),
    "FIRMWARE_VERSION_MISMATCH": _r("firmware", "warning", "The version the firmware reports differs from the release its flash images match.",
                                    "Verify again; if it repeats, reflash with signed firmware."),
    "FIRMWARE_WEAK_INTEGRITY": _r("firmware", "warning", "Some flash images were only checked with a crc32 through the bootloader, which proves nothing about who made them.",
                                  "Measure the flash with sha256 (over SSH or the console's Linux shell) before trusting the unit."),
    "FIRMWARE_MIXED_RELEASES": _r("firmware", "warning", "The flash images are signed, but come from different releases.",
                                  "Reflash the unit with one complete signed release."),
    "FIRMWARE_UNSIGNED_CONTENT": _r("firmware", "contraindicated", "The firmware holds code or scripts that no signature covers: a partition or archive member the signed release does not list, or data hidden after the signed part.",
                                    "Quarantine the unit (or do not flash the file): whatever runs from that content was not made by the manufacturer."),
    "FIRMWARE_UNSIGNED_DATA": _r("firmware", "warning", "The firmware holds bytes that no signature covers (a partition or region the signed release does not list); no code was found in them.",
                                 "Check the named region with the vendor; it may be settings or padding, but nothing vouches for it."),
    "BACKDOOR_INDICATOR": _r("firmware", "contraindicated", "The miner software holds a known backdoor indicator.",
                             "Quarantine the unit, keep it off the network, and reflash with a clean signed release."),
    "EGRESS_INDICATOR": _r("firmware", "contraindicated", "On the intake network the rig looked up or checked in with a known backdoor's server (seen by the station's network watch, whatever the firmware says about itself).",
                           "Quarantine the unit, keep it off the internet, and reflash with a clean signed release."),
    # --- firmware files and flash dumps, offline (attest image) ---
    "IMAGE_CHECKSUM_MISMATCH": _r("firmware", "contraindicated", "A checksum the file's own format carries (CRC32 or FIT hash) does not match its data: damaged or altered.",
                                  "Do not flash the file; get a fresh copy from the vendor."),
    "IMAGE_UNSAFE_MEMBER": _r("firmware", "contraindicated", "The archive holds an entry that would land outside its folder, a hard link, an escaping link or a device node: an attack on whoever unpacks it.",
                              "Do not flash or unpack the file; report where it came from."),
    "IMAGE_MEMBER_UNVOUCHED": _r("firmware", "contraindicated", "A file in the update package is neither listed in the signed manifest nor covered by a valid vendor signature.",
                                 "Do not flash the package; ask the vendor for the release listed in the manifest."),
    "IMAGE_NOT_INSPECTED": _r("firmware", "warning", "The file matches a signed release, but its contents could not be opened, so they were not audited.",
                              "Flash it only if the vendor confirms the format; the digest match is the only check made."),
    "IMAGE_ENCRYPTED": _r("firmware", "warning", "Part of the file is encrypted, so its contents could not be audited (its signatures were checked).",
                          "Rely on the signed manifest's digests for this part; the contents cannot be inspected offline."),
    "VENDOR_SIGNATURE_VALID": _r("firmware", "affirming", "A vendor signature in the file verifies with a vendor key from the trust store.", ""),
    "VENDOR_SIGNATURE_INVALID": _r("firmware", "contraindicated", "A vendor signature in the file does not match what it signs: the signed part was altered.",
                                   "Do not flash the file; get a fresh copy from the vendor."),
    "VENDOR_SIGNATURE_MISSING": _r("firmware", "contraindicated", "The vendor's package format requires a signature that is missing from the file.",
                                   "Do not flash the file; a genuine package carries every signature."),
    "VENDOR_KEY_UNKNOWN": _r("firmware", "none", "A vendor signature could not be checked: no vendor key in the trust store verifies it.",
                             "Add the vendor's public key to the trust store's vendor-keys/ folder, if you trust it."),
    "VENDOR_REVOKED": _r("firmware", "contraindicated", "Revocation data the vendor ships lists this file or its signing key.",
                         "Do not flash the file; use the vendor's current release."),
    "VENDOR_CHECKSUM_ONLY": _r("firmware", "none", "The vendor's format carries only CRC32 checksums: they show integrity, never who made the file.",
                               "Rely on the signed manifest: only a digest listed there shows the file is the vendor's."),
    "IMAGE_AUTHORIZED_KEYS": _r("firmware", "contraindicated", "The image holds an SSH authorized_keys file with keys in it: whoever holds them can log in.",
                                "Do not flash the image; a vendor image ships no login keys."),
    "IMAGE_SETUID_FILE": _r("firmware", "warning", "The image holds a setuid or setgid program.",
                            "Check the listed program is one the vendor's release is known to ship (busybox often is)."),
    "IMAGE_STARTUP_LISTENER": _r("firmware", "contraindicated", "A startup or cron entry in the image opens a network listener or shell (nc -l, telnetd, socat).",
                                 "Do not flash the image: it would give remote access to the rig."),
    "IMAGE_FETCH_AND_RUN": _r("firmware", "contraindicated", "A startup, cron or update script in the image downloads code and runs it (wget|curl ... | sh).",
                              "Do not flash the image: it would run whatever that server sends."),
    "IMAGE_DEFAULT_PASSWORD": _r("firmware", "warning", "An account in the image has a vendor default password.",
                                 "Change the password on the rig right after flashing."),
    # --- configuration ---
    "CONFIGURATION_ALLOWED": _r("configuration", "affirming", "Every configured pool is on the station's allow-list.", ""),
    "CONFIGURATION_NOT_CHECKED": _r("configuration", "none", "The station policy sets no pool allow-list, so pools were not judged.",
                                    "Set the pools your operation uses: [pools] allow in policy.toml, or the app's Pool allow-list… (Station menu)."),
    "POOL_NOT_ALLOWED": _r("configuration", "warning", "A mining pool outside the station's allow-list is configured.",
                           "Reset the pool settings before the unit goes live."),
    "EGRESS_ALLOWED": _r("configuration", "affirming", "Every name the rig looked up and every connection it opened during the network watch is on the station's egress allow-list.", ""),
    "EGRESS_NOT_CHECKED": _r("configuration", "none", "The station policy sets no egress allow-list, so what the rig reached was only compared with known backdoors.", ""),
    "EGRESS_UNLISTED": _r("configuration", "warning", "During the network watch the rig tried to reach a host or port that is not on the station's egress allow-list.",
                          "Find out what the named host is (vendor telemetry, a hidden pool, a backdoor) before the unit goes live; add it to the policy's [egress] allow-list only if it is wanted."),
    # --- provenance ---
    "MANIFEST_ACCEPTED": _r("provenance", "affirming", "The unit is listed in a manifest whose signature and validity were checked.", ""),
    "ORIGIN_NOT_ALLOWED": _r("provenance", "contraindicated", "The manifest says the unit was assembled somewhere the station policy does not accept.",
                             "Set the unit aside for procurement review."),
    # --- manifest refusals (attest manifest verify, exit 4) ---
    "MANIFEST_MALFORMED": _r("provenance", "contraindicated", "The manifest file is truncated or is not a DSSE JSON envelope.",
                             "Ask the vendor for the manifest file again."),
    "MANIFEST_WRONG_PAYLOAD_TYPE": _r("provenance", "contraindicated", "The envelope does not hold a Rig Attest manufacturing manifest.",
                                      "Check you loaded the manifest and not another signed document."),
    "MANIFEST_TOO_LARGE": _r("provenance", "contraindicated", "The manifest is larger than Rig Attest accepts.",
                             "Ask the vendor to split the shipment into several manifests."),
    "MANIFEST_DUPLICATE_KEYS": _r("provenance", "contraindicated", "The manifest's JSON repeats a key, so two readers could see different contents.",
                                  "Refuse the manifest and report it to the vendor."),
    "MANIFEST_NOT_CANONICAL": _r("provenance", "contraindicated", "The manifest payload is not canonical JSON (RFC 8785).",
                                 "Refuse the manifest and report it to the vendor."),
    "MANIFEST_SCHEMA_INVALID": _r("provenance", "contraindicated", "The manifest's contents do not follow the manifest format.",
                                  "Ask the vendor for a manifest in the rigattest.manifest/v1 format."),
    "MANIFEST_SIGNATURE_INVALID": _r("provenance", "contraindicated", "A signature on the manifest does not match its contents: it was altered or damaged.",
                                     "Refuse the manifest and ask the vendor for a fresh copy."),
    "MANIFEST_SIGNER_UNKNOWN": _r("provenance", "contraindicated", "No key or certificate in the trust store signed the manifest.",
                                  "Import the vendor's root certificate or key into the trust store, if you trust it."),
    "MANIFEST_CHAIN_INVALID": _r("provenance", "contraindicated", "The signer's certificate chain does not lead to a trusted root.",
                                 "Check the vendor's root certificate is in the trust store."),
    "MANIFEST_CHAIN_INCOMPLETE": _r("provenance", "contraindicated", "The signer's certificate chain stops short: the certificate that issued one in it is neither in the manifest nor a root in the trust store.",
                                    "Ask the vendor for the manifest with its intermediate certificates; if the missing one is the vendor's root, import it into the trust store."),
    "MANIFEST_CHAIN_WEAK_ALGORITHM": _r("provenance", "contraindicated", "A certificate in the signer's chain is signed with SHA-1 or MD5, which are refused because such signatures can be forged.",
                                        "Ask the vendor to reissue its certificates signed with SHA-256 or stronger."),
    "MANIFEST_CHAIN_EXPIRED": _r("provenance", "contraindicated", "A certificate in the signer's chain has expired.",
                                 "Ask the vendor for a manifest signed with a current certificate."),
    "MANIFEST_CHAIN_NOT_YET_VALID": _r("provenance", "contraindicated", "A certificate in the signer's chain is not valid yet.",
                                       "Check the station's clock, then ask the vendor."),
    "MANIFEST_SIGNER_NOT_CODE_SIGNING": _r("provenance", "contraindicated", "The signer's certificate is not allowed to sign code or manifests.",
                                           "Ask the vendor to sign with its code-signing certificate."),
    "MANIFEST_SIGNER_REVOKED": _r("provenance", "contraindicated", "The manifest was signed by a key or certificate that has been revoked.",
                                  "Refuse the manifest and ask the vendor for one signed with a current key."),
    "MANIFEST_SIGNER_KEY_TOO_SMALL": _r("provenance", "contraindicated", "The signer's key is too small to be trusted.",
                                        "Ask the vendor to sign with a 2048-bit or larger RSA key, or an EC/Ed25519 key."),
    "MANIFEST_THRESHOLD_NOT_MET": _r("provenance", "contraindicated", "Fewer trusted keys signed the manifest than this issuer requires.",
                                     "Ask the vendor for the fully signed manifest."),
    "MANIFEST_EXPIRED": _r("provenance", "contraindicated", "The manifest's validity period has ended.",
                           "Ask the vendor for a current manifest."),
    "MANIFEST_NOT_YET_VALID": _r("provenance", "contraindicated", "The manifest is not valid yet.",
                                 "Check the station's clock, then ask the vendor."),
    "MANIFEST_ROLLBACK": _r("provenance", "contraindicated", "The manifest is older (lower sequence) than one already accepted from this issuer.",
                            "Load the vendor's newest manifest; an old one may list revoked firmware as good."),
    "MANIFEST_SEQUENCE_REUSED": _r("provenance", "contraindicated", "The issuer already signed a different manifest with this sequence number.",
                                   "Refuse both and report it to the vendor: two versions of the same manifest exist."),
    "SIGNING_KEY_UNUSABLE": _r("provenance", "none", "The key or certificate given for signing a manifest cannot be used.",
                               "Sign with an Ed25519, ECDSA P-256 or RSA (2048-bit or more) key, leaf certificate first."),
    # --- the station's own trust store (a setup problem, not a finding about any unit) ---
    "TRUST_STORE_INVALID": _r(EVIDENCE, "none", "The station's trust store or manifest state could not be read or changed.",
                              "Fix or replace the file the message names; do not delete the manifest state file."),
    # --- the station's signing key and verification log (setup problems: exit 2) ---
    "STATION_NOT_INITIALISED": _r(EVIDENCE, "none", "This station has no signing key yet, so it cannot sign its verification log.",
                                  "Run `attest station init` once on this station."),
    "STATION_ALREADY_INITIALISED": _r(EVIDENCE, "none", "This station already has a signing key; a second one would orphan its signed logs.",
                                      "Keep the existing key; move its station directory away first only if you mean to retire it."),
    "STATION_PASSPHRASE_WRONG": _r(EVIDENCE, "none", "The passphrase does not open the station's signing key.",
                                   "Type the passphrase again, or check ATTEST_PASSPHRASE for intake scripts."),
    "STATION_PASSPHRASE_NEEDED": _r(EVIDENCE, "none", "The station's signing key needs a passphrase and none could be asked for.",
                                    "Set ATTEST_PASSPHRASE for unattended runs, or run without --no-input at a terminal."),
    "STATION_FILES_UNWRITABLE": _r(EVIDENCE, "none", "The station's data directory cannot be written (read-only, full or not permitted).",
                                   "Free space or fix the directory's permissions, or point ATTEST_HOME at a writable directory."),
    "STATION_FILES_INVALID": _r(EVIDENCE, "none", "The station's identity files are damaged or were given an invalid value.",
                                "Restore the station directory from its backup; never edit the key file by hand."),
    "LOG_STORE_FULL": _r(EVIDENCE, "none", "The verification log could not grow: the disk or database is full. Nothing already recorded was lost.",
                         "Free disk space, then verify the batch again so its verdicts are recorded."),
    "LOG_STORE_READ_ONLY": _r(EVIDENCE, "none", "The verification log cannot be written (read-only file or directory). Nothing already recorded was lost.",
                              "Make the log's directory writable, then verify the batch again so its verdicts are recorded."),
    "LOG_STORE_UNAVAILABLE": _r(EVIDENCE, "none", "The verification log could not be opened: missing, locked, damaged or not a Rig Attest log.",
                                "Check the --log path; if another program holds the file, close it and retry."),
    "LOG_WRONG_STATION": _r(EVIDENCE, "none", "The verification log belongs to another station's key, so this station may not sign it.",
                            "Use this station's own log file, or run on the station that owns the log."),
    "LOG_RECORD_NOT_FOUND": _r(EVIDENCE, "none", "No record in the verification log matches what was asked for.",
                               "Check the serial number, or verify the unit so it gets a record."),
    "LOG_INPUT_INVALID": _r(EVIDENCE, "none", "An option or input file given to the log command cannot be used.",
                            "Correct the option the message names."),
    "LOG_OUTPUT_UNWRITABLE": _r(EVIDENCE, "none", "The output file could not be written.",
                                "Choose a writable place with free space for the output file."),
    # --- verification log refusals (attest log verify / verify-receipt: exit 4, or 2 when unreadable) ---
    "LOG_UNREADABLE": _r("provenance", "contraindicated", "The file cannot be read as a Rig Attest verification log or receipt.",
                         "Ask the station for the file again; check it was not cut short in transfer."),
    "LOG_FORMAT_UNKNOWN": _r("provenance", "contraindicated", "The file is in a format this version of Rig Attest does not know.",
                             "Check it is a .attestlog.jsonl bundle or receipt, or update Rig Attest."),
    "LOG_RECORD_EDITED": _r("provenance", "contraindicated", "A record differs from the one the station signed: it was edited.",
                            "Treat the record as forged; ask the station for its log and compare."),
    "LOG_RECORDS_MISSING": _r("provenance", "contraindicated", "Records the station signed are missing from the log.",
                              "Ask the station for the complete log; a log with gaps cannot be trusted as a whole."),
    "LOG_RECORDS_REORDERED": _r("provenance", "contraindicated", "Records are not in the order the station signed them.",
                                "Ask the station for its log again; the file was rearranged after signing."),
    "LOG_RECORDS_ADDED": _r("provenance", "contraindicated", "The log holds records the station's signature does not cover.",
                            "Disregard the extra records; only signed records count."),
    "LOG_TRUNCATED": _r("provenance", "contraindicated", "The log was cut short: its end, or its signed checkpoint, is missing.",
                        "Ask the station for the complete log file."),
    "LOG_SIGNATURE_INVALID": _r("provenance", "contraindicated", "The checkpoint's signature does not match its contents.",
                                "Treat the log as forged; ask the station for a fresh export."),
    "LOG_SIGNED_BY_OTHER_KEY": _r("provenance", "contraindicated", "The log is signed by a key other than the station's.",
                                  "Check you were given the right station key; otherwise treat the log as forged."),
    "LOG_ROOT_MISMATCH": _r("provenance", "contraindicated", "The records do not add up to the root hash the station signed.",
                            "Treat the log as altered; ask the station for a fresh export."),
    "LOG_INCLUSION_PROOF_INVALID": _r("provenance", "contraindicated", "The receipt's proof does not place its record in the signed log.",
                                      "Ask the station for a fresh receipt for this unit."),
    "LOG_INCONSISTENT": _r("provenance", "contraindicated", "The log does not extend the earlier checkpoint: history was rewritten or removed.",
                           "Keep both files and raise it with the station's operator: a signed log must only grow."),
    # --- the warehouse store (attest store ..., --store): setup problems exit 2, refusals exit 4 ---
    "STORE_URL_INVALID": _r(EVIDENCE, "none", "No usable warehouse store address was given.",
                            "Give --store postgresql://HOST/DB (or set ATTEST_STORE, or the store URL in the station settings)."),
    "STORE_UNREACHABLE": _r(EVIDENCE, "none", "The warehouse store's server could not be reached. The station's own log keeps every record; they wait to be pushed.",
                            "Check the network and the server; the records are pushed by the next check or `attest store sync`."),
    "STORE_LOGIN_REFUSED": _r(EVIDENCE, "none", "The warehouse store's server refused this station's login.",
                              "Enrol the station again (`attest station enroll`), or ask the warehouse administrator to check its role."),
    "STORE_NOT_INITIALISED": _r(EVIDENCE, "none", "The database has no Rig Attest warehouse schema.",
                                "Run `attest store init URL` once, as the database superuser."),
    "STORE_SCHEMA_NEWER": _r(EVIDENCE, "none", "The warehouse store was set up by a newer Rig Attest than this one.",
                             "Update Rig Attest on this station."),
    "STORE_SERVER_UNSUITABLE": _r(EVIDENCE, "none", "The database server cannot run the warehouse's ingest check (PL/Python or python3-cryptography missing), or the login is not a superuser.",
                                  "On the server install postgresql-plpython3 and python3-cryptography, then run `attest store init` as the superuser."),
    "STORE_PERMISSION_DENIED": _r(EVIDENCE, "none", "The database login lacks the right for this store command.",
                                  "Enrol stations with a warehouse administrator's login (attest_admin) or the superuser."),
    "STORE_ALREADY_ENROLLED": _r(EVIDENCE, "none", "Another key or role is already enrolled under this station id, or this key under another id.",
                                 "Give the station a new id, or ask the warehouse administrator which enrolment is the right one."),
    "STORE_NOT_ENROLLED": _r(EVIDENCE, "none", "The store refused the push: the role that sent it has no enrolled station, or another one.",
                             "Enrol this station with `attest station enroll --store URL`, then run `attest store sync`."),
    "STORE_KEY_NOT_ENROLLED": _r(EVIDENCE, "none", "The store refused the push: its records are signed by a key that is not the station's enrolled key.",
                                 "Push from the station whose key was enrolled; a station with a new key must be enrolled under a new id."),
    "STORE_SIGNATURE_INVALID": _r(EVIDENCE, "none", "The store refused the push: its checkpoint's signature is not valid.",
                                  "Check the station's log with `attest log export` and `attest log verify`; it may be damaged or forged."),
    "STORE_CHECKPOINT_INVALID": _r(EVIDENCE, "none", "The store refused the push: its signed checkpoint is malformed or does not cover the records.",
                                   "Update Rig Attest on the station, then run `attest store sync` again."),
    "STORE_CHAIN_BROKEN": _r(EVIDENCE, "none", "The store refused the push: a record does not follow the one before it in the station's log.",
                             "Check the station's log with `attest log export` and `attest log verify`."),
    "STORE_ROOT_MISMATCH": _r(EVIDENCE, "none", "The store refused the push: the records do not add up to the root the station signed.",
                              "Check the station's log with `attest log export` and `attest log verify`."),
    "STORE_FORK": _r(EVIDENCE, "none", "The station's log and the store disagree about records already pushed: one of them was rewritten or replaced.",
                     "Do not push from this log; give the warehouse administrator both sides, and enrol a fresh log under a new station id."),
    "STORE_RECORD_MALFORMED": _r(EVIDENCE, "none", "The store refused a record that is not shaped like a Rig Attest log record.",
                                 "Update Rig Attest on the station; check its log with `attest log verify`."),
    "STORE_PUSH_TOO_LARGE": _r(EVIDENCE, "none", "The store refused a push larger than it accepts at once.",
                               "Update Rig Attest on the station: it pushes in smaller parts."),
    "LOG_SUPERSEDES_INVALID": _r("provenance", "contraindicated", "A record says it replaces (revises) an earlier record, but the record it names is not in the signed log.",
                                 "Ask the station for its complete log; a revision must cite the verdict it replaces."),
}


@dataclass(frozen=True)
class Reason:
    code: str
    category: str
    status: Status
    message: str
    detail: str = ""  # the specifics: slot, expected vs found; plain text, may hold device text
    expected: str | None = None
    found: str | None = None
    #: What to do, when the registry's words do not fit what was checked (a firmware file is not
    #: a unit to quarantine); empty: the registry's remediation.
    advice: str = ""

    @property
    def remediation(self) -> str:
        return self.advice or REASONS[self.code].remediation

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "category": self.category,
                               "status": self.status.value, "message": self.message}
        if self.detail:
            out["detail"] = self.detail
        if self.expected is not None or self.found is not None:
            out["expected"] = self.expected
            out["found"] = self.found
        return out


def reason(code: str, detail: str = "", *, expected: str | None = None,
           found: str | None = None) -> Reason:
    """Build a Reason from the registry; an unknown code is a programming error."""
    info = REASONS[code]
    return Reason(code, info.category, info.status, info.message, detail, expected, found)


def worst(verdicts: list[Verdict]) -> Verdict:
    return max(verdicts, key=lambda v: v.severity, default=Verdict.TRUSTED)

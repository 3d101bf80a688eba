"""`attest image`: the same exit codes and JSON Lines shape as `attest verify`, address = file path."""

from __future__ import annotations

import json

import pytest

from attest.cli import main
from tests.image.conftest import Kit

VERIFY_KEYS = {"address", "verdict", "reasons", "categories", "claims", "identity_sha256", "manifest",
               "policy_digest", "problems"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_lines_shape_and_worst_exit_code(kit: Kit, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "image", str(kit["genuine"]), str(kit["withdrawn"]), "--manifest",
                       str(kit.manifest), "--trust", str(kit.trust), "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert [(d["address"], d["verdict"]) for d in lines] == [(str(kit["genuine"]), "TRUSTED"),
                                                              (str(kit["withdrawn"]), "UNTRUSTED")]
    assert all(set(d) >= VERIFY_KEYS for d in lines)  # the verify line, as extended by others
    assert lines[0]["claims"]["image.sha256"]["value"].startswith("sha256:")
    assert code == 4


def test_trusted_file_exits_0_and_prints_table_and_reasons(kit: Kit, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "image", str(kit["genuine"]), "--manifest", str(kit.manifest), "--trust",
                       str(kit.trust))
    assert code == 0
    assert out.splitlines()[0].startswith("ADDRESS")
    assert "FIRMWARE_SIGNED_RELEASE: Antminer S19 2026.09.1" in out
    assert out.rstrip().endswith("s)") and "1 file: 1 trusted" in out


def test_unknown_exits_3_without_manifest(kit: Kit, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "image", str(kit["genuine"]), "--trust", str(kit.trust))
    assert code == 3 and "NO_MANIFEST" in out


def test_manifest_without_trust_and_missing_file_are_usage_errors(kit: Kit, capsys: pytest.CaptureFixture[str],
                                                                  tmp_path) -> None:
    code, _, err = run(capsys, "image", str(kit["genuine"]), "--manifest", str(kit.manifest))
    assert code == 2 and "--manifest needs --trust" in err
    code, _, err = run(capsys, "image", str(tmp_path / "nope.bin"))
    assert code == 2 and "cannot read" in err


@pytest.mark.parametrize("order", ["old-first", "new-first"])
def test_two_manifests_of_one_issuer_judge_by_the_newest_in_either_order(kit: Kit, capsys: pytest.CaptureFixture[str],
                                                                        order: str) -> None:
    """The genuine package is TRUSTED under the kit's manifest, which lists its release; the next
    sequence withdraws that release. Named together, in either order, the package is judged
    against the newer one: it used to be TRUSTED (old first) or refused outright (new first)."""
    old = kit.manifest
    new = kit.newer_manifest(firmware=[r for r in kit.payload["firmware"] if r["model"] != "Antminer S19"])
    argv = ["image", str(kit["genuine"]), "--trust", str(kit.trust), "--json"]
    for m in ([old, new] if order == "old-first" else [new, old]):
        argv += ["--manifest", str(m)]
    code, out, err = run(capsys, *argv)
    assert code == 4, err  # UNTRUSTED: its rootfs is in no release the newest manifest lists
    line = json.loads(out)
    assert line["manifest"]["sequence"] == kit.payload["sequence"] + 1
    assert "is superseded by sequence" in err and "from the same issuer: not used" in err

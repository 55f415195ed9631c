#!/usr/bin/env python3
"""caps-backup file backup benchmark (issue 4, "Benchmarks"): `caps-backup backup --kind files` of a tree of
product images against `zip -r -0` and a first `restic backup` of the same tree, in the same run, warm cache;
then a second backup after 1% of the files changed; peak RSS; at 52,000 and 200,000 files.

    python3 bench/files_bench.py --bin .build/release/caps-backup                 # 52000 and 200000 files
    python3 bench/files_bench.py --bin .build/release/caps-backup --files 52000   # one size
    python3 bench/files_bench.py --bin .build-files/release/caps-backup --quick   # 3000 files: smoke test

Standard library only (bench/benchlib.py). Generated trees are kept under --work and reused when the
parameters match; archives and restic repositories are removed after each size. Prints a Markdown section
(also written to --md) and writes raw numbers to --work/files-results.json.

The generated tree: `uploads/products/NNNN/sku-NNNNNN-V.jpg`, 100 files per folder, each file unique random
bytes (like JPEGs, incompressible and never deduplicated); sizes log-normal with a median of ~31 KB, plus a
1.2% long tail log-uniform from 150 KB to 1.5 MB (52,000 files: ~2.1 GB); a few text files (.json, .txt);
and `uploads/paint-swatches/` (which the backup skips by default, and the baselines are not given).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as B  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20
GENERATOR_VERSION = 2

# Targets from issue 4.
VS_ZIP = 0.6
VS_RESTIC = 0.35
SECOND_VS_FIRST = 0.5
RSS_LIMIT_MIB = 150


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the tree


def file_size(rng: random.Random) -> int:
    if rng.random() < 0.012:
        return int(150_000 * 10 ** rng.random())  # the long tail: 150 KB .. 1.5 MB
    return int(min(400_000, max(2_000, 31_000 * math.exp(0.55 * rng.gauss(0, 1)))))


def generate(root: Path, files: int, seed: int) -> dict:
    """Writes the tree (unique random bytes per file) and returns its description."""
    rng = random.Random(seed)
    data = random.Random(seed + 1)
    products = root / "products"
    total = 0
    t0 = time.monotonic()
    for i in range(files):
        folder = products / f"{i // 100:04d}"
        if i % 100 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        size = file_size(rng)
        (folder / f"sku-{i:06d}-{i % 3 + 1}.jpg").write_bytes(data.randbytes(size))
        total += size
        if i and i % 20000 == 0:
            log(f"    {i} files, {total / MIB:.0f} MiB ({time.monotonic() - t0:.0f} s)")
    texts = products / "text"
    texts.mkdir(parents=True, exist_ok=True)
    for i in range(20):
        text = json.dumps({"sku": i, "name": f"Product {i}", "tags": ["paint", "hardware"] * 50}, indent=2)
        (texts / f"product-{i}.json").write_text(text)
        total += len(text)
    swatches = root / "paint-swatches" / "harborline"
    swatches.mkdir(parents=True, exist_ok=True)
    for i in range(max(10, files // 100)):
        (swatches / f"HA-{i:05d}.png").write_bytes(data.randbytes(1500))
    return {"files": files + 20, "bytes": total, "seed": seed, "version": GENERATOR_VERSION,
            "seconds": round(time.monotonic() - t0, 1)}


def tree(args, files: int) -> tuple[Path, dict]:
    """The generated uploads folder for this size and seed: made once, then reused."""
    base = args.work / f"tree-{files}-s{args.seed}"
    marker = base / "tree.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("version") == GENERATOR_VERSION and info.get("files") == files + 20:
            log(f"  reusing {base} ({info['files']} files, {info['bytes'] / MIB:.0f} MiB)")
            return base / "uploads", info
    if base.exists():
        shutil.rmtree(base)
    log(f"  generating {files} files under {base} (once; reused by later runs) ...")
    info = generate(base / "uploads", files, args.seed)
    marker.write_text(json.dumps(info, indent=2))
    log(f"  generated {info['files']} files, {info['bytes'] / MIB:.0f} MiB in {info['seconds']} s")
    return base / "uploads", info


def change_one_percent(uploads: Path, seed: int) -> dict:
    """1% of the product files change: half rewritten with new bytes, a quarter deleted, a quarter added."""
    rng = random.Random(seed + 99)
    files = sorted(p for p in (uploads / "products").rglob("*.jpg"))
    count = max(4, len(files) // 100)
    picked = rng.sample(files, count)
    rewritten, deleted = picked[: count // 2], picked[count // 2: count * 3 // 4]
    for path in rewritten:
        # A new file renamed over the old one (as most programs save): the pristine tree, hard-linked, stays intact.
        temp = path.with_suffix(".tmp")
        temp.write_bytes(rng.randbytes(file_size(rng)))
        temp.rename(path)
    for path in deleted:
        path.unlink()
    added = count - len(rewritten) - len(deleted)
    new_folder = uploads / "products" / "new"
    new_folder.mkdir(exist_ok=True)
    for i in range(added):
        (new_folder / f"added-{i:05d}.jpg").write_bytes(rng.randbytes(file_size(rng)))
    return {"rewritten": len(rewritten), "deleted": len(deleted), "added": added}


# --------------------------------------------------------------------------- contenders


def warm(uploads: Path) -> None:
    """Reads every file once, so every contender starts with the tree in the page cache."""
    for folder, _dirs, names in os.walk(uploads):
        for name in names:
            try:
                with open(os.path.join(folder, name), "rb", buffering=0) as f:
                    while f.read(4 << 20):
                        pass
            except OSError:
                pass


def measure(label: str, argv, uploads: Path, **kw) -> dict:
    warm(uploads)
    res = B.run(argv, timeout=7200, **kw)
    log(f"    {label}: {res.wall:.2f} s, CPU {res.cpu or 0:.1f} s, RSS {(res.rss_kib or 0) / 1024:.0f} MiB")
    return {"wall": res.wall, "cpu": res.cpu, "rss_kib": res.rss_kib, "phases": res.phases, "stdout": res.stdout}


def ours(args, uploads: Path, data: Path, label: str) -> dict:
    argv = [args.bin, "backup", "--kind", "files", "--uploads", uploads, "--data-dir", data, "--json"]
    out = measure(label, argv, uploads, phases=True)
    job = json.loads(out.pop("stdout"))
    if job.get("status") != "succeeded":
        raise B.BenchError(f"file backup did not succeed: {job}")
    out.update(size=job.get("size"), id=job.get("id"), path=job.get("path"))
    return out


def bench_size(args, files: int) -> dict:
    pristine, info = tree(args, files)
    scratch = args.work / f"run-{files}"
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    # A hard-linked copy to work on: the 1% change replaces or removes links, never the pristine files.
    uploads = scratch / "uploads"
    B.run(["cp", "-al", pristine, uploads], rss=False, timeout=3600)
    out: dict = {"tree": info}
    try:
        foreign = B.ForeignLoad()
        log("  baseline: zip -r -0 -q (uploads/products)")
        r = measure("zip -r -0", ["zip", "-r", "-0", "-q", scratch / "zip0.zip", "products"], uploads, cwd=uploads)
        r.pop("stdout")
        out["zip0"] = dict(r, size=B.file_size(scratch / "zip0.zip"))
        (scratch / "zip0.zip").unlink()

        log("  baseline: restic backup, first run, fresh repository (uploads/products)")
        repo = scratch / "restic-repo"
        env = dict(os.environ, RESTIC_PASSWORD="x", RESTIC_REPOSITORY=str(repo), RESTIC_CACHE_DIR=str(scratch / "restic-cache"))
        B.run(["restic", "init"], env=env, rss=False, timeout=600)
        r = measure("restic backup", ["restic", "backup", "--quiet", "--host", "bench", "products"], uploads, env=env, cwd=uploads)
        r.pop("stdout")
        out["restic"] = dict(r, size=B.tree_size(repo))
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(scratch / "restic-cache", ignore_errors=True)

        data = scratch / "data"
        log("  caps-backup backup --kind files, first run")
        out["first"] = ours(args, uploads, data, "first run")
        # The first archive is not needed any more (the second run compares with the catalog's manifest):
        # removing it keeps the disk use of the 200,000-file run at one archive.
        Path(out["first"]["path"]).unlink(missing_ok=True)
        log("  changing 1% of the files")
        out["changes"] = change_one_percent(uploads, args.seed)
        log("  caps-backup backup --kind files, after 1% changed")
        out["second"] = ours(args, uploads, data, "second run")
        out["foreign_cores"] = foreign.cores()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- report


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def markdown(results: dict) -> str:
    lines = ["## File backups (issue 4)", "",
             "`caps-backup backup --kind files` of generated product-image trees (unique random bytes, median ~31 KB, "
             "1.2% long tail to 1.5 MB, 100 files per folder), warm cache, against `zip -r -0 -q` and a first "
             "`restic backup` (fresh repository) of the same `uploads/products/`. The second run follows changes to "
             "1% of the files (half rewritten, a quarter deleted, a quarter added). Wall time by `time.monotonic()`, "
             "peak RSS by `/usr/bin/time -f %M`. Generated by `bench/files_bench.py`.", "",
             "| files | size | zip -r -0 | restic (first) | ours, first | ours, after 1% changed | peak RSS (first / second) | other load |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for files, r in results["sizes"].items():
        lines.append(f"| {r['tree']['files']:,} | {r['tree']['bytes'] / MIB:,.0f} MiB | {r['zip0']['wall']:.2f} s | {r['restic']['wall']:.2f} s "
                     f"| {r['first']['wall']:.2f} s | {r['second']['wall']:.2f} s "
                     f"| {r['first']['rss_kib'] / 1024:.0f} / {r['second']['rss_kib'] / 1024:.0f} MiB | {r['foreign_cores']:.2f} cores |")
    lines += ["", "| files | first / zip -0 (≤ 0.6) | first / restic (≤ 0.35) | second / first (≤ 0.5) | RSS ≤ 150 MiB |",
              "| ---: | ---: | ---: | ---: | ---: |"]
    for files, r in results["sizes"].items():
        a = r["first"]["wall"] / r["zip0"]["wall"]
        b = r["first"]["wall"] / r["restic"]["wall"]
        c = r["second"]["wall"] / r["first"]["wall"]
        rss = max(r["first"]["rss_kib"], r["second"]["rss_kib"]) / 1024
        lines.append(f"| {r['tree']['files']:,} | {a:.2f} {verdict(a <= VS_ZIP)} | {b:.2f} {verdict(b <= VS_RESTIC)} "
                     f"| {c:.2f} {verdict(c <= SECOND_VS_FIRST)} | {rss:.0f} MiB {verdict(rss <= RSS_LIMIT_MIB)} |")
    lines += ["", "Phases of our runs (seconds, from the progress line):", ""]
    for files, r in results["sizes"].items():
        for run in ("first", "second"):
            phases = ", ".join(f"{name} {seconds:.2f}" for name, seconds in r[run]["phases"])
            lines.append(f"- {r['tree']['files']:,} files, {run}: {phases}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(REPO / ".build/release/caps-backup"), help="caps-backup binary (release build)")
    ap.add_argument("--work", default=str(REPO / "bench-data" / "files"), help="generated trees and scratch space")
    ap.add_argument("--files", help="tree sizes, comma-separated (default 52000,200000; 3000 with --quick)")
    ap.add_argument("--quick", action="store_true", help="a 3000-file tree: a smoke test of this script")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--md", help="also write the Markdown section to this file")
    ap.add_argument("--quiet-wait", type=float, default=600, help="wait at most this long for an idle machine before each size")
    args = ap.parse_args(argv)
    args.work = Path(args.work).resolve()
    args.bin = str(Path(args.bin).resolve())
    sizes = [int(s) for s in (args.files or ("3000" if args.quick else "52000,200000")).split(",")]
    for tool in ("zip", "restic"):
        if shutil.which(tool) is None:
            raise B.BenchError(f"missing tool: {tool} (scripts/install-deps.sh installs it)")
    args.work.mkdir(parents=True, exist_ok=True)
    results = {"machine": B.machine_info(REPO, Path(args.bin), args.work), "sizes": {}}
    try:
        for files in sizes:
            log(f"== {files} files")
            B.wait_quiet(args.quiet_wait, log=log)
            results["sizes"][str(files)] = bench_size(args, files)
    finally:
        B.CHILDREN.cleanup()
    (args.work / "files-results.json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    if args.md:
        Path(args.md).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""caps-backup benchmarks (issue 2, "Benchmarks"): full database backup, POS impact, verified restore,
each against the plain tools (sqlite3 VACUUM INTO, gzip -6, pigz -6, restic, gunzip + PRAGMA
integrity_check) on the same demo database, in the same run.

    python3 bench/run.py --bin .build/release/caps-backup            # 100 MiB and 1 GiB, writes docs/benchmarks.md
    python3 bench/run.py --bin .build-bench/release/caps-backup --quick   # 20 MiB smoke test of this script

Standard library only. Seeded stores are kept under --work and reused when size and seed match;
every run works on a fresh copy, so runs do not drift. Raw numbers go to --work/results-*.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchlib as B  # noqa: E402
import report  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20


# --------------------------------------------------------------------------- store set-up


def seeded_store(args, size_mb: int) -> tuple[Path, dict]:
    """The pristine demo store for this size and seed: seeded once, then reused."""
    store = args.work / f"seed-{size_mb}mb-s{args.seed}"
    marker = store / "bench-seed.json"
    want = {"size_mb": size_mb, "seed": args.seed, "images": args.images}
    if marker.exists() and (store / "pos.db").exists():
        info = json.loads(marker.read_text())
        if all(info.get(k) == v for k, v in want.items()):
            log(f"  reusing seeded store {store} ({fmt_bytes(B.file_size(store / 'pos.db'))})")
            return store, info
    if store.exists():
        shutil.rmtree(store)
    log(f"  seeding a {size_mb} MiB store in {store} (once; reused by later runs) ...")
    res = B.run([args.bin, "demo", "seed", "--dir", store, "--size-mb", size_mb, "--seed", args.seed,
                 "--images", args.images, "--json"], rss=False, timeout=3600)
    report_json = res.json()
    # Fold the WAL into the main file so copies of the store are one file.
    B.run(["sqlite3", store / "pos.db", "PRAGMA wal_checkpoint(TRUNCATE);"], rss=False)
    info = dict(want, seconds=round(res.wall, 1), db_bytes=B.file_size(store / "pos.db"), report=report_json)
    marker.write_text(json.dumps(info, indent=2))
    log(f"  seeded in {res.wall:.1f} s: pos.db {fmt_bytes(info['db_bytes'])}")
    return store, info


def fresh_copy(seed: Path, run_dir: Path) -> Path:
    """A working copy of the store (the benchmark writes to and restores into it); uploads are linked."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    store = run_dir / "store"
    store.mkdir(parents=True)
    for entry in seed.iterdir():
        if entry.name in ("bench-seed.json",) or entry.name.endswith("-shm"):
            continue
        if entry.name == "uploads":
            (store / "uploads").symlink_to(entry)
        elif entry.is_dir():
            shutil.copytree(entry, store / entry.name)
        else:
            shutil.copy2(entry, store / entry.name)
    return store


def config_files(store: Path) -> list[Path]:
    folder = store / "config"
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


# --------------------------------------------------------------------------- measurements


def ours_backup(args, store: Path, data: Path, phases: bool = True) -> dict:
    # Time to publication: the integrity check that follows is timed on its own (caps-backup verify).
    argv = [args.bin, "backup", "--kind", "db-full", "--skip-integrity-check", "--pos-db", store / "pos.db", "--data-dir", data]
    cfg = config_files(store)
    if cfg:
        argv += ["--config-files", ",".join(str(p) for p in cfg)]
    res = B.run(argv + ["--json"], phases=phases, timeout=3600)
    job = res.json()
    if job.get("status") != "succeeded":
        raise B.BenchError(f"backup did not succeed: {job}")
    return {"wall": res.wall, "cpu": res.cpu, "size": job.get("size") or B.file_size(Path(job["path"])), "rss_kib": res.rss_kib,
            "id": job.get("id"), "path": job.get("path"), "phases": res.phases,
            "started": res.started, "finished": res.finished}


def bench_backup(args, store: Path, base: Path, data: Path) -> dict:
    db = store / "pos.db"
    out: dict = {"db_bytes": B.file_size(db)}
    snap, gz, pgz = base / "snap.sqlite", base / "snap.gz", base / "snap.pigz.gz"
    for leftover in (snap, gz, pgz):  # a repeated section starts clean (VACUUM INTO refuses an existing file)
        leftover.unlink(missing_ok=True)
    for leftover in (base / "restic-repo", base / "restic-cache"):
        shutil.rmtree(leftover, ignore_errors=True)

    log("  baseline: sqlite3 VACUUM INTO")
    B.warm(db, Path(str(db) + "-wal"))
    r = B.run(["sqlite3", db, f"VACUUM INTO '{snap}'"], timeout=3600)
    out["vacuum"] = {"wall": r.wall, "cpu": r.cpu, "size": B.file_size(snap), "rss_kib": r.rss_kib}

    log("  baseline: gzip -6")
    B.warm(snap)
    r = B.run(["gzip", "-6", "-c", snap], stdout_file=gz, timeout=3600)
    out["gzip"] = {"wall": r.wall, "cpu": r.cpu, "size": B.file_size(gz), "rss_kib": r.rss_kib}

    log("  baseline: pigz -6")
    B.warm(snap)
    r = B.run(["pigz", "-6", "-c", snap], stdout_file=pgz, timeout=3600)
    out["pigz"] = {"wall": r.wall, "cpu": r.cpu, "size": B.file_size(pgz), "rss_kib": r.rss_kib}

    log("  baseline: restic backup (fresh repository)")
    repo = base / "restic-repo"
    env = dict(os.environ, RESTIC_PASSWORD="x", RESTIC_REPOSITORY=str(repo), RESTIC_CACHE_DIR=str(base / "restic-cache"))
    B.run(["restic", "init"], env=env, rss=False, timeout=600)
    init_size = B.tree_size(repo)
    B.warm(snap)
    r = B.run(["restic", "backup", "--quiet", "--host", "bench", snap.name], env=env, cwd=base, timeout=3600)
    out["restic"] = {"wall": r.wall, "cpu": r.cpu, "size": B.tree_size(repo) - init_size, "repo_size": B.tree_size(repo), "rss_kib": r.rss_kib}

    runs = []
    for i in range(args.runs):
        log(f"  caps-backup backup --kind db-full, run {i + 1}/{args.runs}")
        B.warm(db, Path(str(db) + "-wal"))
        runs.append(ours_backup(args, store, data))
        log(f"    {runs[-1]['wall']:.2f} s, {fmt_bytes(runs[-1]['size'])}, RSS {fmt_kib(runs[-1]['rss_kib'])}")
    out["ours_runs"] = runs
    walls = [r["wall"] for r in runs]
    med = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    out["ours"] = {"wall": statistics.median(walls), "size": int(statistics.median(r["size"] for r in runs)),
                   "rss_kib": int(statistics.median(r["rss_kib"] for r in runs if r["rss_kib"])),
                   "rss_kib_max": max(r["rss_kib"] or 0 for r in runs), "cpu": med["cpu"], "median_run": med}
    return out


def simulator_window(args, store: Path, run_dir: Path, name: str, during) -> dict:
    """Runs `demo simulate --tps N` for a window; `during(sim)` decides what happens inside it."""
    ledger = run_dir / f"ledger-{name}.tsv"
    ledger.unlink(missing_ok=True)  # the simulator appends; a repeated section starts a new ledger
    stdout, stderr = run_dir / f"simulate-{name}.json", run_dir / f"simulate-{name}.err"
    argv = [args.bin, "demo", "simulate", "--dir", store, "--tps", args.tps, "--ledger", ledger, "--json"]
    sim = B.start(argv, stdout_file=stdout, stderr_file=stderr)
    t0 = time.time()
    try:
        extra = during(sim)
    finally:
        rc = B.stop(sim)
    t1 = time.time()
    text = stdout.read_text(errors="replace")
    if rc not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):
        raise B.BenchError(f"simulator exited {rc}: {stderr.read_text(errors='replace')[-1500:]}")
    try:
        summary = json.loads(text)
    except json.JSONDecodeError as e:
        raise B.BenchError(f"simulator printed no JSON summary ({e}): {text[:500]!r} {stderr.read_text(errors='replace')[-800:]!r}")
    return {"summary": summary, "latency": sim_latency(summary), "seconds": t1 - t0, "ledger": str(ledger), **(extra or {})}


def bench_pos_impact(args, store: Path, data: Path, run_dir: Path) -> dict:
    wal = Path(str(store / "pos.db") + "-wal")

    log(f"  POS simulator at {args.tps} tps, idle for {args.idle_seconds:g} s")
    idle = simulator_window(args, store, run_dir, "idle", lambda sim: sleep_alive(sim, args.idle_seconds))

    log(f"  POS simulator at {args.tps} tps, backup after {args.lead_seconds:g} s")

    def with_backup(sim):
        sleep_alive(sim, args.lead_seconds)
        before = B.file_size(wal)
        with B.FilePoller(wal) as poller:
            backup = ours_backup(args, store, data)
        after = B.file_size(wal)
        sleep_alive(sim, args.tail_seconds)
        return {"backup": backup, "wal_before": before, "wal_max": poller.max, "wal_after": after}

    busy = simulator_window(args, store, run_dir, "backup", with_backup)
    # The simulator's own summary covers its whole window; the ledger lets us keep only the
    # commits that happened while the backup ran, if it records per-commit latencies.
    b = busy["backup"]
    busy["window_latency"] = ledger_latency(Path(busy["ledger"]), b["started"], b["finished"])
    idle["window_latency"] = ledger_latency(Path(idle["ledger"]), None, None)
    return {"idle": idle, "backup": busy}


def bench_restore(args, store: Path, base: Path, data: Path, backup: dict) -> dict:
    out: dict = {}
    gz, x = base / "snap.gz", base / "restored.sqlite"
    log("  baseline: gunzip -c snap.gz > x.sqlite")
    B.warm(gz)
    r = B.run(["gunzip", "-c", gz], stdout_file=x, timeout=3600)
    out["gunzip"] = {"wall": r.wall, "cpu": r.cpu, "rss_kib": r.rss_kib}
    log("  baseline: sqlite3 x.sqlite 'PRAGMA integrity_check'")
    B.warm(x)
    r = B.run(["sqlite3", x, "PRAGMA integrity_check"], timeout=3600)
    if r.stdout.strip() != "ok":
        raise B.BenchError(f"integrity_check of the gunzipped snapshot: {r.stdout[:300]}")
    out["integrity"] = {"wall": r.wall, "cpu": r.cpu, "rss_kib": r.rss_kib}

    backup_id, archive = str(backup["id"]), Path(backup["path"])
    db = store / "pos.db"
    # The deep check first: verify runs integrity_check on the image and records it on the backup, as the
    # service does after each backup; a restore of the bit-identical image then relies on it.
    log(f"  caps-backup verify {backup_id}")
    B.warm(archive)
    res = B.run([args.bin, "verify", backup_id, "--data-dir", data, "--json"], phases=True, timeout=3600)
    out["verify"] = {"wall": res.wall, "cpu": res.cpu, "rss_kib": res.rss_kib, "phases": res.phases}
    for label, flags in (("ours", []), ("ours_no_pre", ["--no-pre-restore-snapshot"])):
        log(f"  caps-backup restore {backup_id} --yes {' '.join(flags)}".rstrip())
        B.warm(archive, db, Path(str(db) + "-wal"))
        res = B.run([args.bin, "restore", backup_id, "--pos-db", db, "--data-dir", data, "--yes", *flags, "--json"],
                    phases=True, timeout=3600)
        rec = res.json()
        if rec.get("status") != "succeeded":
            raise B.BenchError(f"restore did not succeed: {rec}")
        out[label] = {"wall": res.wall, "rss_kib": res.rss_kib, "cpu": res.cpu, "phases": res.phases, "pre_restore": rec.get("preRestorePath")}
        log(f"    {res.wall:.2f} s, RSS {fmt_kib(res.rss_kib)}")

    return out


# --------------------------------------------------------------------------- simulator output


def sim_latency(summary: dict) -> dict:
    """Commit latency (BEGIN to COMMIT, ms) from `demo simulate --json` (DemoSimulationSummary)."""
    lat = summary.get("latencyMs") or {}
    return {
        "transactions": summary.get("transactions"),
        "failures": (summary.get("busyFailures") or 0) + (summary.get("otherFailures") or 0),
        "p50": lat.get("p50"), "p99": lat.get("p99"), "max": lat.get("max"), "mean": lat.get("mean"),
        "achieved_tps": summary.get("achievedTPS"),
    }


def percentile(sorted_values: list, q: float):
    """Nearest rank, as the simulator computes it."""
    if not sorted_values:
        return None
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 1))))
    return sorted_values[rank - 1]


def ledger_latency(ledger: Path, start, end):
    """Latency of the sales that began inside [start, end] (wall clock, seconds; None = all), from the
    simulator's ledger: `invoice_id<TAB>begin_unix_ns<TAB>commit_unix_ns`."""
    if not ledger.exists():
        return None
    lo = None if start is None else int(start * 1e9)
    hi = None if end is None else int(end * 1e9)
    samples, first, last = [], None, None
    for line in ledger.read_text().splitlines():
        fields = line.split("\t")
        if len(fields) != 3:
            continue
        try:
            begin, commit = int(fields[1]), int(fields[2])
        except ValueError:
            continue
        if (lo is not None and begin < lo) or (hi is not None and begin > hi):
            continue
        samples.append((commit - begin) / 1e6)
        first = begin if first is None else min(first, begin)
        last = commit if last is None else max(last, commit)
    if not samples:
        return None
    samples.sort()
    seconds = (hi - lo) / 1e9 if lo is not None and hi is not None else (last - first) / 1e9
    return {"transactions": len(samples), "seconds": seconds, "p50": percentile(samples, 0.5),
            "p99": percentile(samples, 0.99), "max": samples[-1]}


# --------------------------------------------------------------------------- driver


def sleep_alive(sim, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sim.poll() is not None:
            raise B.BenchError(f"the simulator exited early with {sim.returncode}")
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fmt_bytes(n) -> str:
    return report.fmt_bytes(n)


def fmt_kib(k) -> str:
    return report.fmt_kib(k)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(REPO / ".build/release/caps-backup"), help="caps-backup binary (release build)")
    ap.add_argument("--work", default=str(REPO / "bench-data"), help="seeded stores, working copies, results (default bench-data/)")
    ap.add_argument("--sizes", help="database sizes in MiB, comma-separated (default 100,1024; 20 with --quick)")
    ap.add_argument("--quick", action="store_true", help="tiny store and short windows: a smoke test of this script")
    ap.add_argument("--out", help="Markdown report (default docs/benchmarks.md; with --quick WORK/benchmarks-quick.md)")
    ap.add_argument("--seed", type=int, default=1, help="demo seed (default 1)")
    ap.add_argument("--images", type=int, default=50, help="product images in the demo store (the DB backup ignores them)")
    ap.add_argument("--runs", type=int, default=3, help="runs of our backup per size; the median is reported (default 3)")
    ap.add_argument("--render", metavar="RESULTS_JSON", help="only rewrite --out from a results-*.json of an earlier run")
    ap.add_argument("--seed-only", action="store_true", help="only seed (or check) the demo stores, measure nothing")
    ap.add_argument("--quiet-wait", type=float, help="before each section, wait at most this many seconds for the "
                    "machine to be idle (< 0.3 cores busy); default 900, 0 with --quick")
    ap.add_argument("--retries", type=int, default=2, help="measure a section again (at most this many times) when other "
                    "processes used more than 0.2 cores during it; the quietest attempt is kept (default 2)")
    ap.add_argument("--tps", type=int, default=20, help="simulator transactions per second (default 20)")
    ap.add_argument("--idle-seconds", type=float, help="idle simulator window (default 20; 5 with --quick)")
    ap.add_argument("--lead-seconds", type=float, default=3.0, help="simulator time before the backup starts")
    ap.add_argument("--tail-seconds", type=float, default=2.0, help="simulator time after the backup ends")
    a = ap.parse_args(argv)
    a.bin = Path(a.bin).absolute()  # not resolve(): keep the name it was given
    a.work = Path(a.work).resolve()
    a.sizes = [int(s) for s in (a.sizes or ("20" if a.quick else "100,1024")).split(",") if s.strip()]
    a.quiet_wait = a.quiet_wait if a.quiet_wait is not None else (0.0 if a.quick else 900.0)
    a.idle_seconds = a.idle_seconds if a.idle_seconds is not None else (5.0 if a.quick else 20.0)
    a.out = Path(a.out).resolve() if a.out else (a.work / "benchmarks-quick.md" if a.quick else REPO / "docs/benchmarks.md")
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        generated = report.render(json.loads(Path(args.render).read_text()))
        report.write(args.out, generated)
        print(generated)
        log(f"report: {args.out}")
        return 0
    if not args.bin.exists():
        log(f"no caps-backup binary at {args.bin}: build it first (make release)")
        return 2
    B.require_tools()
    args.work.mkdir(parents=True, exist_ok=True)

    def on_term(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:  # keep nohup's choice
        signal.signal(signal.SIGHUP, on_term)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw = args.work / f"results-{stamp}.json"

    results = {"machine": B.machine_info(REPO, args.bin, args.work), "args": {
        "sizes": args.sizes, "seed": args.seed, "runs": args.runs, "tps": args.tps, "idle_seconds": args.idle_seconds,
        "lead_seconds": args.lead_seconds, "tail_seconds": args.tail_seconds, "quick": args.quick}, "sizes": {}}
    try:
        for size in args.sizes:
            log(f"== {size} MiB")
            seed_dir, seed_info = seeded_store(args, size)
            if args.seed_only:
                continue
            run_dir = args.work / f"run-{size}mb"
            store = fresh_copy(seed_dir, run_dir)
            base, data = run_dir / "baseline", run_dir / "data"
            base.mkdir()
            r = {"seed": {k: v for k, v in seed_info.items() if k != "report"}, "load_before": os.getloadavg()}
            r["busy_before"], r["foreign"] = {}, {}
            sections = (("backup", lambda: bench_backup(args, store, base, data)),
                        ("pos", lambda: bench_pos_impact(args, store, data, run_dir)),
                        ("restore", lambda: bench_restore(args, store, base, data, r["backup"]["ours"]["median_run"])))
            for name, measure in sections:
                for attempt in range(1 + args.retries):
                    r["busy_before"][name] = B.wait_quiet(args.quiet_wait, log=log)
                    foreign = B.ForeignLoad()  # other processes' CPU while this section measures (waits excluded)
                    result = measure()
                    cores = foreign.cores()
                    if name not in r["foreign"] or cores < r["foreign"][name]:
                        r[name], r["foreign"][name] = result, cores
                    if cores <= report.BUSY_WARNING:
                        break
                    if attempt < args.retries:
                        log(f"  other processes used {cores:.2f} cores during this section: measuring it again")
            r["load_after"] = os.getloadavg()
            r["foreign_cores"] = max(r["foreign"].values())
            results["sizes"][str(size)] = r
            raw.write_text(json.dumps(results, indent=2, default=str))  # what is done survives an interruption
    except KeyboardInterrupt:
        log("interrupted; stopping what this script started")
        return 130
    except SystemExit:
        log("terminated; stopping what this script started")
        raise
    except B.BenchError as e:
        log(f"benchmark failed: {e}")
        return 1
    finally:
        B.CHILDREN.cleanup()

    if args.seed_only:
        return 0
    raw.write_text(json.dumps(results, indent=2, default=str))
    generated = report.render(results)
    report.write(args.out, generated)
    print(generated)
    log(f"report: {args.out}\nraw results: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

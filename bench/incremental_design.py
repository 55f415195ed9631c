#!/usr/bin/env python3
"""Measures the candidate designs for hourly incremental database backups (issue 3).

On a seeded demo store: take base copies, let the POS simulator commit N sales, take new copies,
and compare what each design would have to store:
  A. pages that differ BY POSITION between two one-step online-backup copies (live page layout);
  B. pages whose CONTENT is not in the previous image, between two VACUUM INTO images;
  B'. pages that differ by position between two VACUUM INTO images (why B needs content addressing);
plus 64 KiB blocks, and what restic adds for the second VACUUM INTO image.
Standard library only. Prints a Markdown table; numbers go to docs/incremental.md.
"""
import argparse, hashlib, json, os, shutil, sqlite3, subprocess, sys, tempfile, time, zlib

PAGE = 4096


def online_copy(src, dst):
    t = time.monotonic()
    s = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    d = sqlite3.connect(dst)
    s.backup(d, pages=-1)  # one step: one read transaction
    d.close(); s.close()
    return time.monotonic() - t


def vacuum_into(src, dst):
    t = time.monotonic()
    s = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    s.execute("VACUUM INTO ?", (dst,))
    s.close()
    return time.monotonic() - t


def blocks(path, size):
    with open(path, "rb") as f:
        while True:
            b = f.read(size)
            if not b:
                return
            yield b


def compare(old, new, size, by_content):
    """Returns (changed block count, total blocks, gzip -6 bytes of the changed blocks, seconds)."""
    t = time.monotonic()
    if by_content:
        known = {hashlib.sha256(b).digest() for b in blocks(old, size)}
    else:
        known = [hashlib.sha256(b).digest() for b in blocks(old, size)]
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    out = 0
    changed = total = 0
    for i, b in enumerate(blocks(new, size)):
        total += 1
        h = hashlib.sha256(b).digest()
        same = (h in known) if by_content else (i < len(known) and known[i] == h)
        if not same:
            changed += 1
            out += len(comp.compress(b))
    out += len(comp.flush())
    return changed, total, out, time.monotonic() - t


def gzip_size(path):
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    n = 0
    for b in blocks(path, 1 << 20):
        n += len(comp.compress(b))
    return n + len(comp.flush())


def restic_added(work, first, second):
    if not shutil.which("restic"):
        return None
    repo = os.path.join(work, "restic-repo")
    shutil.rmtree(repo, ignore_errors=True)
    env = dict(os.environ, RESTIC_PASSWORD="bench", RESTIC_REPOSITORY=repo)
    subprocess.run(["restic", "init", "-q"], env=env, check=True, stdout=subprocess.DEVNULL)
    snap = os.path.join(work, "restic-src")
    os.makedirs(snap, exist_ok=True)
    target = os.path.join(snap, "pos.sqlite")

    def repo_size():
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(repo) for f in fs)

    shutil.copyfile(first, target)
    subprocess.run(["restic", "backup", "-q", snap], env=env, check=True, stdout=subprocess.DEVNULL)
    before = repo_size()
    shutil.copyfile(second, target)
    subprocess.run(["restic", "backup", "-q", snap], env=env, check=True, stdout=subprocess.DEVNULL)
    return repo_size() - before


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", required=True)
    p.add_argument("--size-mb", type=int, default=256)
    p.add_argument("--sales", type=int, default=72000, help="72,000 = one stress hour at 20 tps; 1,000 = a busy real hour")
    p.add_argument("--work", default=None)
    a = p.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="caps-incr-")
    store = os.path.join(work, "store")
    if not os.path.exists(os.path.join(store, "pos.db")):
        subprocess.run([a.bin, "demo", "seed", "--dir", store, "--size-mb", str(a.size_mb), "--images", "1"], check=True,
                       stdout=subprocess.DEVNULL)
    db = os.path.join(store, "pos.db")
    files = {k: os.path.join(work, k) for k in ["a0", "a1", "v0", "v1"]}
    for f in files.values():
        if os.path.exists(f):
            os.remove(f)
    t_online0 = online_copy(db, files["a0"])
    t_vacuum0 = vacuum_into(db, files["v0"])
    t = time.monotonic()
    subprocess.run([a.bin, "demo", "simulate", "--dir", store, "--tps", "100000", "--count", str(a.sales), "--seed", "99",
                    "--json"], check=True, stdout=subprocess.DEVNULL)
    t_sim = time.monotonic() - t
    t_online1 = online_copy(db, files["a1"])
    t_vacuum1 = vacuum_into(db, files["v1"])
    full_gz = gzip_size(files["v1"])
    rows = []
    for name, old, new, size, content in [
        ("A: online copies, by position, 4 KiB", "a0", "a1", PAGE, False),
        ("A: online copies, by position, 64 KiB", "a0", "a1", 65536, False),
        ("B: VACUUM INTO, by content, 4 KiB", "v0", "v1", PAGE, True),
        ("B': VACUUM INTO, by position, 4 KiB", "v0", "v1", PAGE, False),
    ]:
        changed, total, gz, secs = compare(files[old], files[new], size, content)
        rows.append((name, changed, total, gz, secs))
    added = restic_added(work, files["v0"], files["v1"])
    print(f"store {a.size_mb} MiB, {a.sales} sales simulated in {t_sim:.1f} s; image {os.path.getsize(files['v1'])/2**20:.0f} MiB,"
          f" gzip -6 of the full image {full_gz/2**20:.1f} MiB")
    print(f"one-step online copy {t_online0:.2f}/{t_online1:.2f} s; VACUUM INTO {t_vacuum0:.2f}/{t_vacuum1:.2f} s\n")
    print("| design | changed blocks | of | share | gzip'd changed bytes | vs full archive | compare time (Python) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, changed, total, gz, secs in rows:
        print(f"| {name} | {changed:,} | {total:,} | {changed/total:.1%} | {gz/2**20:.1f} MiB | {gz/full_gz:.1%} | {secs:.1f} s |")
    if added is not None:
        print(f"| restic backup of the second VACUUM INTO image adds | | | | {added/2**20:.1f} MiB | {added/full_gz:.1%} | |")
    print(json.dumps({"rows": rows, "restic_added": added, "full_gz": full_gz}), file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The dashboard's overview over a large catalog (issue 14, "Benchmarks"): GET /api/v1/overview must answer
in under 50 ms p99 with 10,000 backups in the catalog.

    python3 bench/overview_bench.py --bin .build/release/caps-backup [--rows 10000] [--requests 200]

Seeds a small demo store and --rows synthetic backup records (`caps-backup bench-seed-catalog`), starts
`caps-backup serve` (no scheduler) with a freshly generated JWT secret, warms up, then times --requests
sequential overview requests on one keep-alive connection. Prints one JSON document; with --out, also writes
the figures into that Markdown file's "Dashboard overview" section. Standard library only.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_load import sign  # noqa: E402

SECTION = "## Dashboard overview"


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--out", help="Markdown file whose 'Dashboard overview' section is (re)written")
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)

    with tempfile.TemporaryDirectory(prefix="caps-overview-bench-") as work:
        store, data = os.path.join(work, "store"), os.path.join(work, "data")
        subprocess.run([binary, "demo", "seed", "--dir", store, "--size-mb", "2", "--images", "5"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([binary, "bench-seed-catalog", "--data-dir", data, "--rows", str(args.rows)], check=True, stdout=subprocess.DEVNULL)
        secret = secrets.token_hex(32)
        server = subprocess.Popen(
            [binary, "serve", "--no-scheduler", "--listen", "127.0.0.1:0", "--pos-db", os.path.join(store, "pos.db"), "--data-dir", data],
            env=dict(os.environ, CAPS_JWT_SECRET=secret), stdout=subprocess.PIPE, stderr=open(os.path.join(work, "server.log"), "wb"), text=True)
        try:
            line = server.stdout.readline()
            if "listening on" not in line:
                raise SystemExit(f"caps-backup serve did not start: {line!r}")
            host, port = line.split("http://", 1)[1].strip().rsplit(":", 1)
            token = sign(secret, user="bench", station="bench")
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            headers = {"Authorization": f"Bearer {token}"}

            def get() -> float:
                start = time.perf_counter()
                connection.request("GET", "/api/v1/overview", headers=headers)
                response = connection.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    raise SystemExit(f"overview answered {response.status}: {body[:300]!r}")
                return elapsed

            for _ in range(20):
                get()
            times = [get() * 1000 for _ in range(args.requests)]
        finally:
            server.terminate()
            server.wait(timeout=60)

    result = {
        "rows": args.rows, "requests": args.requests,
        "median_ms": round(statistics.median(times), 2), "p99_ms": round(percentile(times, 99), 2),
        "max_ms": round(max(times), 2), "target_p99_ms": 50,
        "build": "debug" if "/debug/" in binary else "release",
    }
    print(json.dumps(result))
    if args.out:
        write_section(Path(args.out), result)


def write_section(path: Path, r: dict) -> None:
    text = path.read_text() if path.exists() else ""
    section = (f"{SECTION}\n\nGET /api/v1/overview over a catalog of {r['rows']:,} backups (`bench/overview_bench.py`: "
               f"`caps-backup bench-seed-catalog`, then {r['requests']} sequential requests on one keep-alive connection "
               f"after 20 warm-up ones, `serve --no-scheduler`, loopback, {r['build']} build): median {r['median_ms']} ms, "
               f"**p99 {r['p99_ms']} ms** (target: under {r['target_p99_ms']} ms), max {r['max_ms']} ms.\n")
    if SECTION in text:
        start = text.index(SECTION)
        following = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[following:] if following >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    main()

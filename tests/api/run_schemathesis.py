#!/usr/bin/env python3
"""Fuzzes the caps-backup HTTP API from its own OpenAPI document with schemathesis (part of `make test`).

Starts `caps-backup serve --demo` on a free loopback port over a small demo store in a temporary
directory, signs in as the demo admin, makes one backup so ids exist, then runs schemathesis
against /api/v1/openapi.json. Fails when schemathesis finds a 5xx, a response that does not match
its schema (status, content type, headers, body), or a case where bad input is not refused; and
when the server did not survive the run or did not shut down cleanly on SIGTERM.

    tests/api/run_schemathesis.py --bin .build/debug/caps-backup [--st .build-venv/bin/st] [--max-examples N]
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

# Every check schemathesis has, except the ones that assume another API design:
# - positive_data_acceptance: "valid per schema" data we still refuse by meaning (an archive of
#   random bytes is a valid binary body but a damaged archive, a random string is not a time zone);
# - use_after_free / ensure_resource_availability: a deleted backup stays readable with status
#   "deleted" (the history is kept, R6.6), by design.
EXCLUDED_CHECKS = ["positive_data_acceptance", "use_after_free", "ensure_resource_availability"]


def request(base, method, path, token=None, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=60) as response:
        return response.status, response.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="the caps-backup binary")
    parser.add_argument("--st", default=os.path.join(os.path.dirname(__file__), "../../.build-venv/bin/st"))
    parser.add_argument("--max-examples", type=int, default=25, help="test cases per operation and phase")
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    args.bin, args.st = os.path.abspath(args.bin), os.path.abspath(args.st)

    work = tempfile.mkdtemp(prefix="caps-schemathesis-")
    server = None
    try:
        store = os.path.join(work, "store")
        subprocess.run([args.bin, "demo", "seed", "--dir", store, "--size-mb", "2", "--images", "5"],
                       check=True, stdout=subprocess.DEVNULL)
        env = dict(os.environ, CAPS_JWT_SECRET=secrets.token_hex(32))
        server = subprocess.Popen(
            [args.bin, "serve", "--demo", "--no-scheduler", "--listen", "127.0.0.1:0",
             "--pos-db", os.path.join(store, "pos.db"), "--data-dir", os.path.join(work, "data"),
             "--config-files", ",".join(os.path.join(store, "config", f) for f in sorted(os.listdir(os.path.join(store, "config"))))],
            env=env, stdout=subprocess.PIPE, stderr=open(os.path.join(work, "server.log"), "wb"), text=True)
        line = server.stdout.readline()
        if "listening on" not in line:
            raise SystemExit(f"caps-backup serve did not start: {line!r}; see {work}/server.log")
        base = line.split("listening on", 1)[1].strip()

        _, body = request(base, "POST", "/login", body={"user": "admin"})
        token = json.loads(body)["token"]
        status, body = request(base, "POST", "/api/v1/backups", token, {"kind": "db-full"})
        backup = json.loads(body)
        for _ in range(600):
            _, body = request(base, "GET", f"/api/v1/backups/{backup['id']}", token)
            if json.loads(body)["backup"]["status"] != "running":
                break
            time.sleep(0.05)

        command = [
            args.st, "run", f"{base}/api/v1/openapi.json",
            "--header", f"Authorization: Bearer {token}",
            "--checks", "all", "--exclude-checks", ",".join(EXCLUDED_CHECKS),
            "--max-examples", str(args.max_examples), "--seed", str(args.seed),
            "--workers", "1", "--request-timeout", "60",
            "--suppress-health-check", "all",
        ]
        print("running:", " ".join(c if "Bearer" not in c else "Authorization: Bearer ***" for c in command), flush=True)
        result = subprocess.run(command, cwd=work)

        if server.poll() is not None:
            raise SystemExit(f"the server died during the run (exit {server.returncode}); see {work}/server.log")
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=120)
        server = None
        if code != 0:
            raise SystemExit(f"the server did not shut down cleanly (exit {code})")
        if result.returncode != 0:
            log = open(os.path.join(work, "server.log"), errors="replace").read()
            print(log[-4000:], file=sys.stderr)
            raise SystemExit(f"schemathesis found problems (exit {result.returncode})")
        print("schemathesis: no 5xx, every response matches the OpenAPI document")
    finally:
        if server is not None:
            server.kill()
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Load on the caps-backup API: N concurrent clients on the overview and the backup list while full
backups run (issue 6's benchmark: 50 clients, 60 s). Standard library only: threads and http.client,
one keep-alive connection per client.

Start a server first, e.g. on the bench store:

    CAPS_JWT_SECRET=bench-secret-0123456789abcdef0123456789 caps-backup serve --no-scheduler --listen 127.0.0.1:8080 \\
        --pos-db bench-data/store/pos.db --data-dir /tmp/bench-data-dir &
    python3 bench/api_load.py --url http://127.0.0.1:8080 --secret bench-secret-0123456789abcdef0123456789 --clients 50 --duration 60 --backups

Prints requests per second, latency percentiles and errors per path, and with --json one JSON
document (for docs/benchmarks.md). A token comes from --token, or is signed here with --secret
(HS256, as the POS does), or from a demo server's /login with --demo-login.
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import sys
import threading
import time
import urllib.parse


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(secret: str, user="bench", station="bench", lifetime=3600) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64url(json.dumps({"sub": user, "station_id": station, "permissions": ["MANAGE_SETTINGS"],
                                "exp": int(time.time()) + lifetime}).encode())
    mac = hmac.new(secret.encode(), f"{header}.{claims}".encode(), hashlib.sha256).digest()
    return f"{header}.{claims}.{b64url(mac)}"


class Client:
    def __init__(self, url, token):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.headers = {"Authorization": f"Bearer {token}"}
        self.conn = None

    def request(self, method, path, body=None):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                headers = dict(self.headers)
                if body is not None:
                    headers["Content-Type"] = "application/json"
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, data
            except (http.client.HTTPException, ConnectionError, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    auth = parser.add_mutually_exclusive_group(required=True)
    auth.add_argument("--token")
    auth.add_argument("--secret", help="sign a token here (HS256) with the server's secret")
    auth.add_argument("--demo-login", action="store_true", help="get the admin token from a --demo server's /login")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--paths", default="/api/v1/overview,/api/v1/backups?limit=50")
    parser.add_argument("--backups", action="store_true", help="keep a db-full backup running for the whole run")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    if args.demo_login:
        status, body = Client(args.url, "").request("POST", "/login", json.dumps({"user": "admin"}))
        token = json.loads(body)["token"]
    else:
        token = args.token or sign(args.secret)
    paths = args.paths.split(",")

    stop = threading.Event()
    lock = threading.Lock()
    latencies = {p: [] for p in paths}
    errors = {p: {} for p in paths}
    backups = {"started": 0, "succeeded": 0, "failed": 0, "refused": 0}

    def worker(index):
        client = Client(args.url, token)
        i = index
        while not stop.is_set():
            path = paths[i % len(paths)]
            i += 1
            start = time.perf_counter()
            try:
                status, _ = client.request("GET", path)
                key = None if status == 200 else str(status)
            except Exception as e:  # noqa: BLE001 - every failure counts as an error
                key = type(e).__name__
            elapsed = time.perf_counter() - start
            with lock:
                if key is None:
                    latencies[path].append(elapsed)
                else:
                    errors[path][key] = errors[path].get(key, 0) + 1

    def backup_loop():
        client = Client(args.url, token)
        while not stop.is_set():
            status, body = client.request("POST", "/api/v1/backups", json.dumps({"kind": "db-full"}))
            if status != 202:
                backups["refused"] += 1
                time.sleep(0.5)
                continue
            backups["started"] += 1
            job_id = json.loads(body)["id"]
            # The progress stream ends with the job's final state.
            status, body = client.request("GET", f"/api/v1/backups/{job_id}/progress")
            final = body.decode().strip().split("\n")[-1]
            state = json.loads(final[len("data: "):]).get("status") if final.startswith("data: ") else "unknown"
            backups["succeeded" if state == "succeeded" else "failed"] += 1

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(args.clients)]
    if args.backups:
        threads.append(threading.Thread(target=backup_loop, daemon=True))
    began = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(args.duration)
    stop.set()
    for t in threads:
        t.join(timeout=120)
    wall = time.perf_counter() - began

    report = {"clients": args.clients, "durationSeconds": round(wall, 1), "paths": {}, "backups": backups if args.backups else None}
    total = 0
    for path in paths:
        values = sorted(latencies[path])
        total += len(values)
        report["paths"][path] = {
            "requests": len(values),
            "requestsPerSecond": round(len(values) / wall, 1),
            "latencyMs": {name: round(percentile(values, p) * 1000, 2) if values else None
                          for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))},
            "errors": errors[path],
        }
    report["requestsPerSecond"] = round(total / wall, 1)
    report["errors"] = sum(sum(e.values()) for e in errors.values())
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.clients} clients, {wall:.1f} s: {report['requestsPerSecond']} requests/s, {report['errors']} errors")
        for path, r in report["paths"].items():
            l = r["latencyMs"]
            print(f"  {path:32} {r['requestsPerSecond']:8.1f}/s  p50 {l['p50']} ms  p90 {l['p90']} ms  p99 {l['p99']} ms  max {l['max']} ms  errors {r['errors'] or 0}")
        if args.backups:
            print(f"  backups during the run: {backups}")
    sys.exit(1 if report["errors"] else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# `make demo`: caps-backup on the demo store. A simulated POS writes 20 sales a second, a first full
# backup is taken while it writes, then the service runs (API, scheduler, demo login) until Ctrl-C.
set -euo pipefail
bin=$1
dir=$2
listen=${CAPS_DEMO_LISTEN:-127.0.0.1:8080}
data="$dir/data"
if [ "${CAPS_DEMO_EMPTY:-}" = 1 ]; then
    # A fresh install for the restore wizard (R8): no POS database yet, so `serve` starts in setup mode and
    # prints a one-time setup code (also in $dir/fresh/data/setup-code). Upload a backup archive to restore it.
    fresh="$dir/fresh"
    mkdir -p "$fresh"
    echo "Empty store for the setup wizard: $fresh (POS database $fresh/pos.db does not exist yet)"
    exec "$bin" serve --demo --listen "$listen" --pos-db "$fresh/pos.db" --uploads "$fresh/uploads" --data-dir "$fresh/data" ${CAPS_DEMO_ARGS:-}
fi
store=(--pos-db "$dir/pos.db" --uploads "$dir/uploads" --config-files "$(ls -d "$dir"/config/* | paste -sd,)"
       --config-redact-keys jwt_hs256_secret --data-dir "$data")

"$bin" demo simulate --dir "$dir" --tps 20 > "$dir/simulate.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
echo "POS simulator running (pid $sim, 20 sales/s). Taking a first full database backup while it writes..."
"$bin" backup --kind db-full "${store[@]}"
echo
"$bin" list "${store[@]}"
echo
echo "Store: $dir   Data dir: $data"
echo "Starting the service on http://$listen  (demo login: http://$listen/login; Ctrl-C stops it)"
# Demo mode signs its tokens with a fresh secret of its own at every start (sign in again after a
# restart) and listens on loopback only (CAPS_DEMO_LISTEN=0.0.0.0:8080 also needs --demo-allow-remote).
"$bin" serve --demo --listen "$listen" "${store[@]}" ${CAPS_DEMO_ARGS:-}

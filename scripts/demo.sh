#!/usr/bin/env bash
# Runs caps-backup on the demo store: a POS writing at 20 sales/s, a full backup taken while it
# writes, verified, and listed. (The HTTP service and dashboard join here when they land.)
set -euo pipefail
bin=$1
dir=$2
data="$dir/data"
store=(--pos-db "$dir/pos.db" --uploads "$dir/uploads" --config-files "$(ls -d "$dir"/config/* | paste -sd,)" --data-dir "$data")

"$bin" demo simulate --dir "$dir" --tps 20 > "$dir/simulate.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
echo "POS simulator running (pid $sim, 20 sales/s). Taking a full database backup while it writes..."
"$bin" backup --kind db-full "${store[@]}"
echo
"$bin" verify "$("$bin" list --json "${store[@]}" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" "${store[@]}"
echo
"$bin" list "${store[@]}"
echo
echo "Store: $dir   Data dir: $data"
echo "Try:   $bin restore <ID> --yes ${store[*]}"

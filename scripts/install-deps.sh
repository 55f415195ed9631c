#!/usr/bin/env bash
# Installs the Debian packages caps-backup needs to build, test and benchmark.
# Idempotent and quick when everything is present: apt runs only for what is missing.
set -euo pipefail
packages=(libsqlite3-dev libdeflate-dev sqlite3 zip unzip gzip pigz restic python3 time)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

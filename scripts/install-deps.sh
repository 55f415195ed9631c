#!/usr/bin/env bash
# Installs the Debian packages caps-backup needs to build, test and benchmark.
# Idempotent and quick when everything is present: apt runs only for what is missing.
set -euo pipefail
packages=(libsqlite3-dev libdeflate-dev sqlite3 zip unzip gzip pigz restic python3 python3-venv time
          # the dashboard (web/): React and TypeScript from Debian, bundled by esbuild, no npm
          node-react node-react-dom node-typescript node-csstype node-prop-types esbuild
          # the browser tests (tests/browser/) and the dashboard benchmark
          chromium chromium-driver)
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

# schemathesis (PyPI) fuzzes the HTTP API from its OpenAPI document in `make test`. It lives in a
# virtualenv under .build-venv/ (ignored by git like every .build*), pinned, and is installed only
# when that exact version is missing.
schemathesis_version=4.32.5
venv="$(dirname "$0")/../.build-venv"
if ! "$venv/bin/st" --version 2>/dev/null | grep -qx "st, version $schemathesis_version"; then
  echo "installing schemathesis $schemathesis_version into .build-venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi

# Selenium (PyPI) drives Debian's chromium through its chromedriver in the browser tests, in the same venv.
selenium_version=4.27.1
if ! "$venv/bin/python" -c "import selenium, sys; sys.exit(selenium.__version__ != '$selenium_version')" 2>/dev/null; then
  echo "installing selenium $selenium_version into .build-venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "selenium==$selenium_version"
fi

# matplotlib (PyPI) draws the POS latency trace's plot in `make bench` only (`install-deps.sh --bench`),
# so `make test` on a fresh machine does not download it.
matplotlib_version=3.11.2
if [ "${1:-}" = "--bench" ] && ! "$venv/bin/python" -c "import matplotlib, sys; sys.exit(matplotlib.__version__ != '$matplotlib_version')" 2>/dev/null; then
  echo "installing matplotlib $matplotlib_version into .build-venv (benchmarks only)"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "matplotlib==$matplotlib_version"
fi

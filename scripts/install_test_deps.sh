#!/usr/bin/env bash
# Installs what `make test` needs, idempotently, from the package registries only:
# rustfmt and clippy (rustup components) and cargo-nextest (crates.io).
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have rustup; then
  for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
      echo "installing rust component ${component}"
      rustup component add "${component}"
    fi
  done
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

# Browser tests (tests/it/browser.rs): Debian chromium, an emoji font for readable
# screenshots, and playwright-core from npm (pinned by tests/browser/package-lock.json).
if ! have chromium; then
  echo "installing chromium"
  apt_get() { if [ "$(id -u)" -eq 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
  apt_get update -qq
  DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends chromium fonts-noto-color-emoji
fi
if ! have node || ! have npm; then
  echo "installing node and npm"
  apt_get() { if [ "$(id -u)" -eq 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
  apt_get update -qq
  DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends nodejs npm
fi
browser_dir="$(dirname "$0")/../tests/browser"
if [ ! -d "$browser_dir/node_modules/playwright-core" ]; then
  echo "installing playwright-core"
  npm ci --prefix "$browser_dir" --no-audit --no-fund --silent
fi

# Notification tests: a real SMTP server (aiosmtpd, tests/support/smtp_sink.py); data-source and
# model-store tests: the S3 (moto) and GCS (gcp-storage-emulator) emulators. All in a venv of
# their own under tests/.venv, pinned by tests/requirements.txt; pip runs again whenever that
# file changes (a stamp in the venv holds the hash it was last installed from).
venv="$(dirname "$0")/../tests/.venv"
requirements="$(dirname "$0")/../tests/requirements.txt"
requirements_hash="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$requirements_hash" ]; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    apt_get() { if [ "$(id -u)" -eq 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
    apt_get update -qq
    DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends python3 python3-venv
  fi
  echo "installing tests/requirements.txt into tests/.venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  echo "$requirements_hash" >"$venv/.requirements.sha256"
fi

# Data-source and model-store tests (tests/support/services.rs): PostgreSQL and ClickHouse from
# Debian, each started by the tests in a temporary folder. Their system services are neither
# needed nor started: a policy-rc.d that denies every start is in place during the install
# (unless the machine already has one), so a service that cannot start fails no install.
missing_debs=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing_debs+=(postgresql)
have psql || missing_debs+=(postgresql-client)
{ have clickhouse-server || [ -x /usr/sbin/clickhouse-server ]; } || missing_debs+=(clickhouse-server)
have clickhouse-client || missing_debs+=(clickhouse-client)
have openssl || missing_debs+=(openssl)
# Deployment-script tests (tests/deploy/run.sh) lint the scripts with shellcheck.
have shellcheck || missing_debs+=(shellcheck)
if [ "${#missing_debs[@]}" -gt 0 ]; then
  echo "installing ${missing_debs[*]}"
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 755 "$policy"
    trap 'as_root rm -f "$policy"' EXIT
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing_debs[@]}"
fi

# Azure tests: the Azurite blob emulator; DuckDB tests: the libduckdb.so that the duckdb crate
# links against (DUCKDB_LIB_DIR=tests/services/node_modules/@duckdb/node-bindings-linux-x64).
# Both from npm, pinned by tests/services/package-lock.json.
services_dir="$(dirname "$0")/../tests/services"
if [ ! -x "$services_dir/node_modules/.bin/azurite-blob" ] \
  || [ ! -f "$services_dir/node_modules/@duckdb/node-bindings-linux-x64/libduckdb.so" ]; then
  echo "installing azurite and libduckdb"
  npm ci --prefix "$services_dir" --no-audit --no-fund --silent
fi

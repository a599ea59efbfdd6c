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

# Notification tests: a real SMTP server (aiosmtpd, tests/support/smtp_sink.py) in a venv of
# its own under tests/.venv, pinned by tests/requirements.txt.
venv="$(dirname "$0")/../tests/.venv"
if ! "$venv/bin/python" -c "import aiosmtpd" >/dev/null 2>&1; then
  if ! python3 -m venv --help >/dev/null 2>&1; then
    apt_get() { if [ "$(id -u)" -eq 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
    apt_get update -qq
    DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends python3 python3-venv
  fi
  echo "installing aiosmtpd"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$(dirname "$0")/../tests/requirements.txt"
fi

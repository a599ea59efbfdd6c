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

#!/usr/bin/env bash
# The pipeline benchmark (train, score, alert on one batch of N metrics x P points) on a local
# libsql file, then on a real libSQL server (sqld, what Turso runs) in remote mode and through
# an embedded replica, each on a fresh server, with what the server counted per job
# (statements, rows read, rows written: what Turso bills).
#
#   scripts/bench-turso.sh [metrics] [points]
#
# sqld is taken from ANOMSTACK_TEST_SQLD, a `shared/bin/sqld` beside or above the checkout,
# or PATH. Needs a release build (`cargo build --release`) and python3 (free ports).
set -euo pipefail
metrics="${1:-1000}"
points="${2:-1000}"
bin="${CARGO_TARGET_DIR:-target}/release/anomstack"
[ -x "$bin" ] || { echo "bench-turso: $bin not found (cargo build --release)" >&2; exit 1; }
sqld="${ANOMSTACK_TEST_SQLD:-}"
if [ -z "$sqld" ]; then
    dir="$PWD"
    while [ "$dir" != / ]; do
        for c in "$dir/shared/bin/sqld" "$dir/../shared/bin/sqld"; do
            [ -x "$c" ] && { sqld="$c"; break 2; }
        done
        dir="$(dirname "$dir")"
    done
fi
[ -n "$sqld" ] || sqld="$(command -v sqld || true)"
[ -n "$sqld" ] || { echo "bench-turso: no sqld (set ANOMSTACK_TEST_SQLD)" >&2; exit 1; }
export RUST_LOG=error

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "== local file"
"$bin" bench pipeline --metrics "$metrics" --points "$points"
for mode in remote replica; do
    work="$(mktemp -d)"
    http="$(free_port)"; admin="$(free_port)"
    "$sqld" --db-path "$work/data.sqld" --http-listen-addr "127.0.0.1:$http" \
        --admin-listen-addr "127.0.0.1:$admin" --no-welcome >"$work/sqld.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$http/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    echo "== $mode (sqld $("$sqld" --version 2>/dev/null | head -1 || echo '?'))"
    extra=()
    [ "$mode" = replica ] && extra=(--replica)
    "$bin" bench pipeline --metrics "$metrics" --points "$points" \
        --database-url "http://127.0.0.1:$http" --server-stats "http://127.0.0.1:$admin" \
        "${extra[@]}" || status=$?
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$work"
    [ "${status:-0}" = 0 ] || exit "$status"
done

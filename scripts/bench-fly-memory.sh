#!/usr/bin/env bash
# Memory of the release binary as it runs on Fly: fly.toml's [env] paths pointed at an empty
# /data-like folder, the shipped example batches given a day of history first (`backfill`, so
# models train), then the server with every job due each minute (so one sitting covers ingest,
# train, score, alert and change of every batch) and the dashboard loaded while they run.
# Prints the server's resident memory each 10 s and its peak (VmHWM) at the end.
#
#   scripts/bench-fly-memory.sh [seconds]    (default 240; needs `cargo build --release`, or
#   ANOMSTACK_BIN=path/to/anomstack for another build)
set -euo pipefail
seconds="${1:-240}"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${ANOMSTACK_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/anomstack}"
[ -x "$bin" ] || { echo "bench-fly-memory: build first (cargo build --release): $bin" >&2; exit 1; }
data="$(mktemp -d)"
port="${PORT:-18080}"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT

every_minute=()
for batch in simple sales users freq cmd_ingest; do
    b="$(echo "$batch" | tr '[:lower:]' '[:upper:]')"
    for job in INGEST TRAIN SCORE ALERT CHANGE; do
        every_minute+=("ANOMSTACK__${b}__${job}_CRON_SCHEDULE=* * * * *")
    done
done

cd "$root"
export ANOMSTACK_SQLITE_PATH="$data/anomstack.db" ANOMSTACK_MODEL_PATH="local://$data/models" \
    ANOMSTACK_DUCKDB_PATH="$data/anomstack-duckdb.db" ANOMSTACK_METRICS_DIR="$root/metrics" \
    ANOMSTACK_HOST=127.0.0.1 ANOMSTACK_PORT="$port" ANOMSTACK_LOG_FORMAT=json RUST_LOG=warn
from="$(date -u -d '-1 day' '+%F %T')"
for batch in simple sales users freq cmd_ingest; do
    "$bin" backfill "$batch" --from "$from" --every 10m >/dev/null 2>&1 \
        || echo "backfill $batch failed (see its output by running it by hand)" >&2
done
env "${every_minute[@]}" "$bin" serve >"$data/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.2; done

start=$(date +%s)
while [ $(( $(date +%s) - start )) -lt "$seconds" ]; do
    for page in / /batch/simple /batch/sales /batch/users /batch/freq /batch/simple/anomalies; do
        curl -sS -o /dev/null "http://127.0.0.1:$port$page" || true
    done
    printf '%4ss  rss %s\n' "$(( $(date +%s) - start ))" \
        "$(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status")"
    sleep 10
done
runs=$(curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^anomstack_job_runs_total/ {s += $2} END {print s + 0}')
echo "job runs finished: $runs"
curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^anomstack_job_runs_total/ {print "  " $0}'
echo "models saved: $(find "$data/models" -type f 2>/dev/null | wc -l)"
awk '/VmHWM/ {printf "peak rss (VmHWM): %.1f MiB\n", $2/1024} /VmRSS/ {printf "rss now: %.1f MiB\n", $2/1024}' "/proc/$pid/status"

#!/usr/bin/env bash
# Soak test: `anomstack serve` on the example metrics, with a day of seeded history and every
# job of every example batch scheduled each minute, while `anomstack bench load` requests the
# home page, a batch page and the API from many connections. Prints per path the requests,
# errors (must be 0), p50 and p99; the server's RSS (now and peak); the jobs run meanwhile.
#
#   scripts/bench-soak.sh [seconds, default 60] [connections, default 200]
#
# Needs a release build (`cargo build --release`) and python3 (to read the run history).
set -euo pipefail
seconds="${1:-60}"
connections="${2:-200}"
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/release/anomstack"
for tool in "$bin" python3 curl; do
    command -v "$tool" >/dev/null || { echo "bench-soak: $tool not found" >&2; exit 1; }
done
dir="$(mktemp -d)"
port=18282
cp -r metrics "$dir/metrics"
# Every job of every batch each minute, switched on (the shipped schedules are STOPPED).
find "$dir/metrics" -name '*.yaml' -exec sed -i -E \
    -e 's/^([a-z]+_cron_schedule):.*/\1: "* * * * *"/' \
    -e 's/^([a-z]+_default_schedule_status):.*/\1: RUNNING/' {} +
ANOMSTACK_METRICS_DIR="$dir/metrics" ANOMSTACK_SQLITE_PATH="$dir/app.db" \
    ANOMSTACK_MODEL_PATH="local://$dir/models" ANOMSTACK_SEED_HOURS=24 ANOMSTACK_PORT=$port \
    RUST_LOG=warn "$bin" serve >"$dir/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { echo "bench-soak: the server did not start" >&2; tail "$dir/serve.log" >&2; exit 1; }
# The seeding of a day of history runs in the background (a recorded run per step): load
# starts once the number of runs has stood still for ten seconds.
runs() {
    python3 - "$dir/app.db" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM job_runs").fetchone()[0])
PY
}
last=-1; still=0
for _ in $(seq 600); do
    now="$(runs)"
    if [ "$now" = "$last" ]; then still=$((still + 1)); else still=0; fi
    [ "$still" -ge 10 ] && break
    last="$now"; sleep 1
done
started="$(date -u '+%Y-%m-%d %H:%M:%S')"
status=0
"$bin" bench load --base "http://127.0.0.1:$port" --connections "$connections" --seconds "$seconds" \
    --path / --path /batch/simple --path /api/v1/batches/simple/metrics || status=$?
awk '/VmRSS|VmHWM/ { printf "  server %s %.0f MiB\n", $1, $2 / 1024 }' "/proc/$server/status"
python3 - "$dir/app.db" "$started" <<'PY'
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT job, status, count(*) FROM job_runs WHERE started_at >= ? GROUP BY job, status ORDER BY job, status",
    (sys.argv[2],)).fetchall()
print("  jobs run meanwhile:", ", ".join(f"{j} {s} {n}" for j, s, n in rows) or "none")
PY
exit "$status"

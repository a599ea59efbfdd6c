#!/usr/bin/env bash
# Load test of the dashboard: B batches x M metrics x P points in a libsql file, served by
# `anomstack serve` with its scheduler and workers running jobs every minute, loaded with
# oha from 127.0.0.1.
#
#   scripts/bench-dashboard.sh [seconds per endpoint, default 60] [connections, default 16]
#
# Needs a release build and oha (`cargo install oha --locked`). The database is seeded once
# into ${BENCH_DIR:-/var/tmp/anomstack-dashboard-bench} (25 s, 340 MB) and reused.
set -euo pipefail
seconds="${1:-60}"
connections="${2:-16}"
bin="${CARGO_TARGET_DIR:-target}/release/anomstack"
oha="$(command -v oha || echo /var/tmp/oha/bin/oha)"
for tool in "$bin" "$oha" python3; do
    command -v "$tool" >/dev/null || { echo "bench-dashboard: $tool not found" >&2; exit 1; }
done
dir="${BENCH_DIR:-/var/tmp/anomstack-dashboard-bench}"
if [ ! -f "$dir/app.db" ]; then
    RUST_LOG=error "$bin" bench dashboard --batches 50 --metrics 100 --points 1000 --dir "$dir" | head -1
fi
port=18181
ANOMSTACK_IGNORE_EXAMPLES=true ANOMSTACK_METRICS_DIR="$dir/metrics" \
    ANOMSTACK_SQLITE_PATH="$dir/app.db" ANOMSTACK_PORT=$port RUST_LOG=error \
    "$bin" serve >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
run() { # label path
    curl -s -o /dev/null "http://127.0.0.1:$port$2"
    "$oha" -z "${seconds}s" -c "$connections" --no-tui --output-format json \
        "http://127.0.0.1:$port$2" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin); s = d["summary"]; p = d["latencyPercentiles"]
codes = d.get("statusCodeDistribution", {})
rps, p50, p99 = s["requestsPerSec"], p["p50"] * 1000, p["p99"] * 1000
print("  %-34s %8.0f req/s   p50 %6.1f ms   p99 %6.1f ms   statuses %s" % (sys.argv[1], rps, p50, p99, codes))
' "$1"
}
echo "dashboard: 50 batches x 100 metrics x 1000 points, $connections connections, ${seconds}s each"
run "/ (home)" "/"
run "/batch/b07" "/batch/b07"
run "/batch/b07/chart?metric=metric_010" "/batch/b07/chart?metric=metric_010"
run "/batch/b07?refresh=1 (uncached)" "/batch/b07?refresh=1"
python3 - "$dir/app.db" <<'PY' || true
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT job, count(*) FROM job_runs WHERE started_at >= datetime('now', '-10 minutes') GROUP BY job").fetchall()
print("  jobs run by the scheduler meanwhile:", dict(rows))
PY

#!/usr/bin/env bash
# The train, score and alert jobs on one batch of N metrics x P points stored in a libsql
# file, each run as its own `anomstack run <job> bench` process under `/usr/bin/time -v`
# (wall time and peak RSS of the whole process: start-up, config, database and models).
#
#   scripts/bench-pipeline.sh [shipped|original] [runs] [metrics] [points]
#
# Needs a release build (`cargo build --release`), GNU time and the sqlite3 shell (to clear
# the scores between score runs, so each run scores every timestamp again).
set -euo pipefail
config="${1:-shipped}"
runs="${2:-5}"
metrics="${3:-1000}"
points="${4:-1000}"
bin="${CARGO_TARGET_DIR:-target}/release/anomstack"
for tool in "$bin" /usr/bin/time sqlite3; do
    command -v "$tool" >/dev/null || { echo "bench-pipeline: $tool not found" >&2; exit 1; }
done
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
export RUST_LOG=error ANOMSTACK_METRICS_DIR="$dir/metrics" ANOMSTACK_SQLITE_PATH="$dir/app.db"
"$bin" bench pipeline --config "$config" --metrics "$metrics" --points "$points" --dir "$dir" \
    | sed -n '1,2p'

measure() { # job -> "wall_s rss_mib"
    /usr/bin/time -v "$bin" run "$1" bench 2>&1 >/dev/null \
        | awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, t, ":"); w = 0;
                                                  for (i = 1; i <= n; i++) w = w * 60 + t[i] }
                      /Maximum resident set size/ { r = $2 / 1024 }
                      END { printf "%.3f %.1f\n", w, r }'
}
summary() { # job, then one "wall rss" line per run on stdin
    sort -n | awk -v job="$1" '{ w[NR] = $1; if ($2 > r) r = $2 }
        END { printf "  %-6s wall min %.2f s  median %.2f s  max %.2f s   peak RSS max %.1f MiB  (%d runs)\n",
                     job, w[1], w[int((NR + 1) / 2)], w[NR], r, NR }'
}
for job in train score alert; do
    for _ in $(seq "$runs"); do
        if [ "$job" = score ]; then
            sqlite3 "$dir/app.db" "DELETE FROM metrics WHERE metric_type = 'score'"
        fi
        if [ "$job" = alert ]; then
            sqlite3 "$dir/app.db" "DELETE FROM metrics WHERE metric_type = 'alert'"
        fi
        measure "$job"
    done | summary "$job"
done

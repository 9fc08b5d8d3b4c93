#!/usr/bin/env bash
# A rate sweep of one scenario: bench/openloop.sh at each offered rate, then bench/plot.sh sweep
# (throughput and p99 against the offered rate, a PNG). Against a running shopstream at $API_URL;
# starts nothing (scripts/run.sh, or bench/compare.sh's way of starting it).
#
#   bench/sweep.sh <scenario> <rate,rate,...> [duration per rate, default 15s] [results dir]
#
# e.g. bench/sweep.sh charge 1000,2000,3000,4000,5000 15s
# Each rate's run lands in DIR/<rate>/ (default DIR bench/results/<UTC time>-sweep-<scenario>),
# the plot in DIR/sweep.png, every rate's RESULT line in DIR/summary.txt (printed too). A pause
# of 5 s between rates lets the backlog of an overloaded rate drain before the next one.
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench/.." && pwd)
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"

usage() { ss_usage "${BASH_SOURCE[0]}" "$@"; }
[[ "${1:-}" == -h || "${1:-}" == --help ]] && usage 0
(($# >= 2 && $# <= 4)) || usage
scenario=$1 rates=$2 duration=${3:-15s}
results=${4:-$bench/results/$(date -u +%Y%m%dT%H%M%SZ)-sweep-$scenario}
[[ "$rates" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || ss_die "rates must be positive integers separated by commas, got '$rates'"

mkdir -p "$results"
: >"$results/summary.txt"
dirs=()
IFS=, read -r -a rate_list <<<"$rates"
for rate in "${rate_list[@]}"; do
    ss_say "$scenario at $rate requests/s for $duration"
    "$bench/openloop.sh" "$scenario" "$rate" "$duration" "$results/$rate" >"$results/$rate.log" 2>&1 ||
        ss_die "openloop at $rate failed: see $results/$rate.log"
    grep '^RESULT ' "$results/$rate.log" | tail -n 1 | tee -a "$results/summary.txt"
    dirs+=("$results/$rate")
    sleep 5
done
"$bench/plot.sh" sweep "$results/sweep.png" "${dirs[@]}"
ss_say "plot: $results/sweep.png"

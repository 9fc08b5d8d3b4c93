#!/usr/bin/env bash
# Runs one benchmark scenario with wrk against a running shopstream at $API_URL; starts nothing.
#
#   bench/run.sh <charge|issue|products|products_cached|popular|balance|order_spread|order_hot10|
#                order_hot1> [duration, default 15s] [connections, default 64]
#
# charge   POST /users/{id}/balance/charge, spread over the 10,000 users of bench/prepare.sh
# issue    POST /users/{id}/coupons, one hot coupon of quantity 10,000,000 (created here through
#          the admin API, fresh for every run) and a distinct user per request
# products GET /products (first page)
# balance  GET /users/{id}/balance, spread over the same 10,000 users
# products_cached  GET /products over many pages (bench/products_cached.lua; wants ~50k products,
#          e.g. the bench database of scripts/index_report.sh)
# popular  GET /products/popular (bench/popular.lua)
# order_spread, order_hot10, order_hot1  POST /orders, one line of quantity 1, a random user of
#          bench/prepare_orders.sh; the product uniform over its 10,000 products, over the first
#          10, or always the first (bench/order.lua); the RESULT line adds paid, failed, pending
#
# Prints wrk's report (throughput, latency distribution with --latency) and a RESULT line with
# requests/s, p50, p99 and the count of each HTTP status. Needs API_URL (and ADMIN_TOKEN for
# issue) from `eval "$(scripts/stack.sh env)"`, $SS_STATE_DIR/bench.env from bench/prepare.sh
# (bench/prepare_orders.sh for the order scenarios; nothing for products and popular), wrk,
# curl and jq. BENCH_THREADS overrides the wrk threads (default: the CPU count, at most the
# connections). BENCH_PROMETHEUS_OUT=FILE: also write the Prometheus series of the dashboard's
# panels over the run to FILE (bench_prometheus_save of bench/lib.sh; needs PROMETHEUS_URL).
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench/.." && pwd)
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"
# shellcheck source=bench/lib.sh
source "$bench/lib.sh"

usage() {
    sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}
scenario=${1:-}
duration=${2:-15s}
connections=${3:-64}
case "$scenario" in
-h | --help) usage 0 ;;
charge | issue | products | products_cached | popular | balance) script=$scenario ;;
order_spread | order_hot10 | order_hot1)
    script=order
    export BENCH_ORDER_MODE=${scenario#order_}
    ;;
*) usage ;;
esac
[[ "$connections" =~ ^[1-9][0-9]{0,4}$ ]] || ss_die "connections must be a positive integer"
[[ -n "${API_URL:-}" ]] || ss_die "API_URL is not set (eval \"\$(scripts/stack.sh env)\")"
command -v wrk >/dev/null || ss_die "wrk is missing (scripts/install-deps.sh installs it)"

threads=${BENCH_THREADS:-$(nproc)}
if ((threads > connections)); then
    threads=$connections
fi
export BENCH_THREADS=$threads

bench_load_env "$scenario"
if [[ "$scenario" == issue ]]; then
    bench_hot_coupon
fi

ss_say "$scenario: $duration, $connections connections, $threads threads against $API_URL"
cd "$bench"
if [[ -z "${BENCH_PROMETHEUS_OUT:-}" ]]; then
    LUA_PATH="$bench/?.lua;;" exec wrk --latency --timeout 10s -t "$threads" -c "$connections" \
        -d "$duration" -s "$bench/$script.lua" "$API_URL"
fi
started=$(date +%s)
LUA_PATH="$bench/?.lua;;" wrk --latency --timeout 10s -t "$threads" -c "$connections" \
    -d "$duration" -s "$bench/$script.lua" "$API_URL"
bench_prometheus_save "$BENCH_PROMETHEUS_OUT" "$started" "$(date +%s)"

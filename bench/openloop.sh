#!/usr/bin/env bash
# Open-loop load (a fixed request rate, whatever the latency) with vegeta against a running
# shopstream at $API_URL; starts nothing. The requests are those of bench/run.sh's scenarios.
#
#   bench/openloop.sh <charge|issue|balance|products|order_spread|order_hot10|order_hot1>
#                     <rate per second> <duration, e.g. 15s> [results dir]
#
# charge   POST /users/{id}/balance/charge {"amount":1}, round-robin over bench/prepare.sh's users
# issue    POST /users/{id}/coupons on a fresh hot coupon, a distinct user per request
# balance  GET /users/{id}/balance, round-robin over the same users
# products GET /products (first page)
# order_*  POST /orders, one line of quantity 1, a random user of bench/prepare_orders.sh and a
#          random product: uniform over its products (spread), over the first 10 (hot10), or
#          always the first (hot1), as bench/order.lua
#
# Writes to the results dir (default bench/results/<UTC time>-openloop-<scenario>-<rate>):
# targets.json (vegeta's JSON targets, bodies in base64), results.bin (vegeta's binary results),
# results.json (the same, one JSON object per request: `vegeta encode`), report.txt (vegeta's
# text report), report.json, and prometheus.json (the Prometheus series of the dashboard's panels
# over the run, when the stack's Prometheus answers at $PROMETHEUS_URL); prints one line:
#   RESULT scenario=S rate=R seconds=D requests=N throughput=T p50_ms p90_ms p99_ms max_ms
#          success=RATIO count_202=N statuses=200:n,202:n,...
# A 202 is a request answered at the ingress deadline without its outcome (not completed). The
# success ratio is vegeta's (2xx and 3xx answers), so it counts 202s as successes: look at
# count_202. bench/plot.sh draws the results. Needs API_URL (ADMIN_TOKEN for issue), bench.env,
# jq, curl, and vegeta (scripts/install-deps.sh puts it in <cache>/bin). BENCH_API_URLS="URL
# URL...": send the requests round-robin to these ingress instances instead (e.g. the two that
# `SS_RUN_INGRESS=2 scripts/run.sh` starts); API_URL still serves the set-up calls.
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench/.." && pwd)
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"
# shellcheck source=bench/lib.sh
source "$bench/lib.sh"

# The most targets written for a run: a longer or faster run cycles through them again.
readonly TARGETS_MAX=1000000

usage() { ss_usage "${BASH_SOURCE[0]}" "$@"; }
case "${1:-}" in
-h | --help) usage 0 ;;
charge | issue | balance | products | order_spread | order_hot10 | order_hot1) scenario=$1 ;;
*) usage ;;
esac
(($# >= 3)) || usage
rate=$2 duration=$3
[[ "$rate" =~ ^[1-9][0-9]{0,5}$ ]] || ss_die "the rate is requests per second, 1..999999, not '$rate'"
seconds=$(bench_seconds "$duration")
((seconds > 0)) || ss_die "the duration must be positive"
[[ -n "${API_URL:-}" ]] || ss_die "API_URL is not set (eval \"\$(scripts/stack.sh env)\")"
vegeta=$(command -v vegeta || echo "$(ss_cache_dir)/bin/vegeta")
[[ -x "$vegeta" ]] || ss_die "vegeta is missing: run scripts/install-deps.sh"
command -v jq >/dev/null || ss_die "jq is missing: run scripts/install-deps.sh"
results=${4:-$bench/results/$(date -u +%Y%m%dT%H%M%SZ)-openloop-$scenario-$rate}
mkdir -p "$results"

bench_load_env "$scenario"
if [[ "$scenario" == issue ]]; then
    bench_hot_coupon
fi
# One second of targets more than the run takes: vegeta may send a request or two past
# rate x seconds, and those must not wrap round to the first targets (for issue, a user who has
# the coupon already, answered 409).
count=$((rate * (seconds + 1)))
((count <= TARGETS_MAX)) || count=$TARGETS_MAX

# request_lines: "METHOD PATH BODY" per request (BODY "-" for none), COUNT of them.
request_lines() {
    local product_max=${BENCH_ORDER_PRODUCT_MAX:-0}
    case "$scenario" in
    order_hot10) product_max=$((BENCH_ORDER_PRODUCT_MIN + 9)) ;;
    order_hot1) product_max=$BENCH_ORDER_PRODUCT_MIN ;;
    esac
    awk -v scenario="$scenario" -v count="$count" -v seed="$RANDOM$$" \
        -v charge_min="${BENCH_CHARGE_USER_MIN:-0}" -v charge_max="${BENCH_CHARGE_USER_MAX:-0}" \
        -v issue_min="${BENCH_ISSUE_USER_MIN:-0}" -v issue_max="${BENCH_ISSUE_USER_MAX:-0}" \
        -v coupon="${BENCH_COUPON_ID:-0}" -v user_min="${BENCH_ORDER_USER_MIN:-0}" \
        -v user_max="${BENCH_ORDER_USER_MAX:-0}" -v product_min="${BENCH_ORDER_PRODUCT_MIN:-0}" \
        -v product_max="$product_max" '
        function pick(lo, hi) { return lo + int(rand() * (hi - lo + 1)) }
        BEGIN {
            srand(seed)
            for (i = 0; i < count; i++) {
                if (scenario == "charge")
                    printf "POST /api/v1/users/%d/balance/charge {\"amount\":1}\n", charge_min + i % (charge_max - charge_min + 1)
                else if (scenario == "balance")
                    printf "GET /api/v1/users/%d/balance -\n", charge_min + i % (charge_max - charge_min + 1)
                else if (scenario == "issue")
                    printf "POST /api/v1/users/%d/coupons {\"couponId\":%d}\n", issue_min + i % (issue_max - issue_min + 1), coupon
                else if (scenario == "products")
                    print "GET /api/v1/products -"
                else
                    printf "POST /api/v1/orders {\"userId\":%d,\"products\":[{\"id\":%d,\"quantity\":1}]}\n", pick(user_min, user_max), pick(product_min, product_max)
            }
        }'
}

bases=${BENCH_API_URLS:-$API_URL}
ss_say "$scenario: writing $count targets"
# Target n goes to base n modulo the number of bases: vegeta takes the targets in turn.
request_lines | jq -R -c --arg bases "$bases" '
    ($bases | split(" ") | map(select(. != ""))) as $base
    | split(" ") as [$method, $path, $body]
    | {method: $method, url: ($base[(input_line_number - 1) % ($base | length)] + $path),
       header: {"Content-Type": ["application/json"]}}
      + (if $body == "-" then {} else {body: ($body | @base64)} end)' >"$results/targets.json"

ss_say "$scenario: $rate requests/s for ${seconds}s against $bases (results in $results)"
started=$(date +%s)
# The ingress accepts at most SS_INGRESS_CONNECTIONS_PER_ADDRESS_MAX (512) connections from one
# address and resets the rest, and vegeta sends from one: past 480 requests in flight, new ones
# wait for a connection, and that wait is part of their latency (vegeta times from the send).
connections=${BENCH_OPENLOOP_CONNECTIONS:-480}
"$vegeta" attack -format=json -targets="$results/targets.json" -rate="$rate/s" \
    -duration="${seconds}s" -timeout=10s -max-connections="$connections" >"$results/results.bin"
bench_prometheus_save "$results/prometheus.json" "$started" "$(date +%s)"
"$vegeta" report -type=text "$results/results.bin" >"$results/report.txt"
"$vegeta" report -type=json "$results/results.bin" >"$results/report.json"
"$vegeta" encode -to=json "$results/results.bin" >"$results/results.json"
cat "$results/report.txt"

jq -r --arg scenario "$scenario" --arg rate "$rate" --arg seconds "$seconds" '
    def ms: . / 1e6 * 100 | round / 100;
    (.status_codes // {}) as $codes
    | "RESULT scenario=\($scenario) rate=\($rate) seconds=\($seconds) requests=\(.requests)"
      + " throughput=\(.throughput * 10 | round / 10) p50_ms=\(.latencies["50th"] | ms)"
      + " p90_ms=\(.latencies["90th"] | ms) p99_ms=\(.latencies["99th"] | ms)"
      + " max_ms=\(.latencies.max | ms) success=\(.success * 10000 | round / 10000)"
      + " count_202=\($codes["202"] // 0)"
      + " statuses=\($codes | to_entries | sort_by(.key) | map("\(.key):\(.value)") | join(","))"' \
    "$results/report.json" | tee "$results/result.txt"

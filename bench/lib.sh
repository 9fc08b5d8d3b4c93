# shellcheck shell=bash
# Shared by the bench scripts (run.sh, openloop.sh, compare.sh, cpu.sh, statements.sh). Source
# it after scripts/lib/common.sh; it defines functions only:
#
#   bench_load_env SCENARIO   exports the id ranges of $SS_STATE_DIR/bench.env (bench/prepare.sh,
#                             bench/prepare_orders.sh) that SCENARIO needs; dies when missing
#   bench_hot_coupon          creates a fresh hot coupon (quantity 10,000,000) through the admin
#                             API at $API_URL and exports BENCH_COUPON_ID
#   bench_seconds DURATION    prints the seconds of a duration such as 15, 15s, 2m
#   bench_result_ops FILE     prints the operations of the last RESULT line in FILE (bench/run.sh's
#                             output): paid=N for orders, else the count of 200s in statuses=
#   bench_prometheus_save FILE START END
#                             when the stack's Prometheus answers ($PROMETHEUS_URL), writes to
#                             FILE the series of every query of the Grafana dashboard
#                             (docker/grafana/dashboards/shopstream.json) between the unix times
#                             START and END (/api/v1/query_range); otherwise says so and returns 0

bench_load_env() {
    local scenario=$1 env_file
    case "$scenario" in
    products* | popular) return 0 ;;
    esac
    env_file="$(ss_state_dir)/bench.env"
    [[ -r "$env_file" ]] || ss_die "$env_file is missing: run bench/prepare.sh first"
    if [[ "$scenario" == order_* ]] && ! grep -q '^BENCH_ORDER_USER_MIN=' "$env_file"; then
        ss_die "$env_file has no order users: run bench/prepare_orders.sh first"
    fi
    set -a
    # shellcheck source=/dev/null
    source "$env_file"
    set +a
}

bench_hot_coupon() {
    local expires reply
    [[ -n "${ADMIN_TOKEN:-}" ]] || ss_die "ADMIN_TOKEN is not set"
    expires=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)
    reply=$(curl -sS -X POST -H "Authorization: Bearer $ADMIN_TOKEN" \
        -H 'Content-Type: application/json' \
        --data "{\"name\":\"bench hot coupon\",\"discountRate\":0.1,\"quantity\":10000000,\"expiredAt\":\"$expires\"}" \
        "$API_URL/api/v1/admin/coupons")
    BENCH_COUPON_ID=$(jq -er '.data.id' <<<"$reply") || ss_die "could not create the coupon: $reply"
    export BENCH_COUPON_ID
    ss_say "hot coupon $BENCH_COUPON_ID"
}

bench_seconds() {
    case "$1" in
    *[!0-9smh]* | "") ss_die "a duration is N, Ns, Nm or Nh, not '$1'" ;;
    *h) echo $((${1%h} * 3600)) ;;
    *m) echo $((${1%m} * 60)) ;;
    *s) echo $((${1%s})) ;;
    *) echo $(($1)) ;;
    esac
}

bench_result_ops() {
    local line
    line=$(grep '^RESULT ' "$1" | tail -n 1 || true)
    [[ -n "$line" ]] || ss_die "the command printed no RESULT line: pass --ops N"
    if [[ "$line" =~ (^| )paid=([0-9]+) ]]; then
        echo "${BASH_REMATCH[2]}"
    elif [[ "$line" =~ statuses=([^ ]*,)?200:([0-9]+) ]]; then
        echo "${BASH_REMATCH[2]}"
    else
        echo 0
    fi
}

# The dashboard's panels are the series worth keeping; its Grafana-only $__rate_interval becomes
# BENCH_PROMETHEUS_RATE_WINDOW (default 5s: five scrapes of the local stack's 1 s interval), and
# the step is BENCH_PROMETHEUS_STEP (default 1s). One JSON document: {prometheus, start, end,
# step, rate_window, panels: [{title, legend, expr, status, result: [{metric, values}]}]}.
bench_prometheus_save() {
    local file=$1 start=$2 end=$3 url=${PROMETHEUS_URL:-}
    local dashboard step window title legend expr
    dashboard="$(ss_repo_root)/docker/grafana/dashboards/shopstream.json"
    step=${BENCH_PROMETHEUS_STEP:-1s}
    window=${BENCH_PROMETHEUS_RATE_WINDOW:-5s}
    if [[ -z "$url" ]] || ! curl -fs -o /dev/null --max-time 2 "$url/-/ready"; then
        ss_say "no Prometheus at ${url:-\$PROMETHEUS_URL (unset)}: series not saved"
        return 0
    fi
    # Wait for the scrape that follows END, so the run's last second is in the data.
    sleep "${BENCH_PROMETHEUS_SETTLE_S:-2}"
    local parts="$file.parts"
    : >"$parts"
    while IFS=$'\t' read -r title legend expr; do
        expr=${expr//\$__rate_interval/$window}
        curl -fsS --max-time 30 -G "$url/api/v1/query_range" --data-urlencode "query=$expr" \
            --data-urlencode "start=$start" --data-urlencode "end=$end" \
            --data-urlencode "step=$step" |
            jq -c --arg title "$title" --arg legend "$legend" --arg expr "$expr" \
                '{title: $title, legend: $legend, expr: $expr, status: .status, result: .data.result}' \
                >>"$parts" || ss_warn "query_range failed for $expr"
    done < <(jq -r '.panels[] | .title as $t | .targets[] | [$t, .legendFormat, .expr] | @tsv' "$dashboard")
    jq -s --arg url "$url" --argjson from "$start" --argjson to "$end" --arg step "$step" \
        --arg window "$window" \
        '{prometheus: $url, start: $from, "end": $to, step: $step, rate_window: $window, panels: .}' \
        "$parts" >"$file"
    rm -f "$parts"
    ss_say "Prometheus series of $(date -u -d "@$start" +%T)-$(date -u -d "@$end" +%T) UTC in $file"
}

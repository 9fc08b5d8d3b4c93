# shellcheck shell=bash
# Shared by the bench scripts (run.sh, openloop.sh, compare.sh). Source it after
# scripts/lib/common.sh; it defines functions only:
#
#   bench_load_env SCENARIO   exports the id ranges of $SS_STATE_DIR/bench.env (bench/prepare.sh,
#                             bench/prepare_orders.sh) that SCENARIO needs; dies when missing
#   bench_hot_coupon          creates a fresh hot coupon (quantity 10,000,000) through the admin
#                             API at $API_URL and exports BENCH_COUPON_ID
#   bench_seconds DURATION    prints the seconds of a duration such as 15, 15s, 2m

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

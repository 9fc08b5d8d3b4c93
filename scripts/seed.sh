#!/usr/bin/env bash
# Demo data through the public admin API of a running shopstream: three users with a balance,
# a handful of products, a 10% coupon (issued to the first user), then one paid order. Writes
# $SS_STATE_DIR/demo.txt: curl lines with the real ids that work as printed (scripts/run.sh
# shows it). Each run adds new rows; nothing is deleted.
#
# Needs API_URL and ADMIN_TOKEN (from `eval "$(scripts/stack.sh env)"`; read from there when
# unset), the ingress and the user, coupon and stock workers running. curl and jq.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"

if [[ -z "${API_URL:-}" || -z "${ADMIN_TOKEN:-}" ]]; then
    eval "$("$root/scripts/stack.sh" env)"
fi
state_dir=$(ss_state_dir)
mkdir -p "$state_dir"
demo="$state_dir/demo.txt"
# A mutation answered 202 is polled at its Location this many times, 0.2 s apart.
settle_polls_max=150

command -v jq >/dev/null || ss_die "jq is missing (scripts/install-deps.sh installs it)"

# api METHOD PATH [BODY] [admin]: prints the final envelope's data; dies unless it is a 200.
# A 202 (the worker was slower than the deadline) is followed to its final result.
api() {
    local method=$1 path=$2 body=${3:-} admin=${4:-}
    local args=(-sS -X "$method" -H 'Content-Type: application/json' -w '\n%{http_code}')
    if [[ -n "$admin" ]]; then
        args+=(-H "Authorization: Bearer $ADMIN_TOKEN")
    fi
    if [[ -n "$body" ]]; then
        args+=(--data "$body")
    fi
    local reply status envelope
    reply=$(curl "${args[@]}" "$API_URL$path") || ss_die "$method $path: no answer from $API_URL"
    status=${reply##*$'\n'}
    envelope=${reply%$'\n'*}
    if [[ "$status" == 202 ]]; then
        local request_id poll
        request_id=$(jq -r '.data.requestId' <<<"$envelope")
        for ((poll = 0; poll < settle_polls_max; poll++)); do
            sleep 0.2
            envelope=$(curl -sS "$API_URL/api/v1/requests/$request_id")
            if [[ $(jq -r '.data.status' <<<"$envelope") == DONE ]]; then
                envelope=$(jq -c '.data.result' <<<"$envelope")
                status=$(jq -r '.code' <<<"$envelope")
                break
            fi
        done
    fi
    if [[ "$status" != 200 ]]; then
        ss_die "$method $path answered $status: $envelope"
    fi
    jq -c '.data // {}' <<<"$envelope"
}

user_create() { api POST /api/v1/admin/users "{\"nickname\":\"$1\"}" admin | jq -r .id; }
charge() { api POST "/api/v1/users/$1/balance/charge" "{\"amount\":$2}" >/dev/null; }
product_create() {
    api POST /api/v1/admin/products "{\"name\":\"$1\",\"price\":$2,\"stock\":$3}" admin | jq -r .id
}

ss_say "seeding demo data at $API_URL"
alice=$(user_create alice)
bob=$(user_create bob)
carol=$(user_create carol)
charge "$alice" 500000
charge "$bob" 200000
charge "$carol" 50000

keyboard=$(product_create "Mechanical keyboard" 89000 100)
mouse=$(product_create "Wireless mouse" 32000 250)
monitor=$(product_create "27-inch monitor" 329000 20)
cable=$(product_create "USB-C cable" 9000 1000)
limited=$(product_create "Limited edition mug" 15000 3)

expires=$(date -u -d '+30 days' +%Y-%m-%dT%H:%M:%SZ)
coupon=$(api POST /api/v1/admin/coupons \
    "{\"name\":\"WELCOME10\",\"discountRate\":0.1,\"quantity\":100,\"expiredAt\":\"$expires\"}" \
    admin | jq -r .id)
api POST "/api/v1/users/$alice/coupons" "{\"couponId\":$coupon}" >/dev/null

# One paid order, so GET /orders/{id} and the best sellers have something to show. Orders may
# not be served by this build yet: then the demo simply has none.
order=""
order_reply=$(curl -sS -X POST -H 'Content-Type: application/json' \
    --data "{\"userId\":$carol,\"products\":[{\"id\":$cable,\"quantity\":2}]}" \
    "$API_URL/api/v1/orders" || true)
if [[ $(jq -r '.code // empty' <<<"$order_reply" 2>/dev/null) == 200 ]]; then
    order=$(jq -r '.data.orderId' <<<"$order_reply")
else
    ss_warn "the demo order was not placed: $order_reply"
fi

{
    printf '\nDemo data: users alice=%s bob=%s carol=%s; products %s %s %s %s %s; coupon %s.\n' \
        "$alice" "$bob" "$carol" "$keyboard" "$mouse" "$monitor" "$cable" "$limited" "$coupon"
    printf 'Try (copy and paste):\n'
    printf "  curl -s %s/api/v1/users/%s/balance\n" "$API_URL" "$alice"
    printf "  curl -s -X POST -H 'Content-Type: application/json' -d '{\"amount\":10000}' %s/api/v1/users/%s/balance/charge\n" \
        "$API_URL" "$bob"
    printf "  curl -s '%s/api/v1/products?limit=5'\n" "$API_URL"
    printf "  curl -s %s/api/v1/products/popular\n" "$API_URL"
    printf "  curl -s %s/api/v1/users/%s/coupons\n" "$API_URL" "$alice"
    printf "  curl -s -X POST -H 'Content-Type: application/json' -d '{\"couponId\":%s}' %s/api/v1/users/%s/coupons\n" \
        "$coupon" "$API_URL" "$bob"
    printf "  curl -s -X POST -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-order-%s' -d '{\"userId\":%s,\"couponId\":%s,\"products\":[{\"id\":%s,\"quantity\":1},{\"id\":%s,\"quantity\":1}]}' %s/api/v1/orders\n" \
        "$alice" "$alice" "$coupon" "$keyboard" "$mouse" "$API_URL"
    if [[ -n "$order" ]]; then
        printf "  curl -s %s/api/v1/orders/%s\n" "$API_URL" "$order"
    fi
    printf "  curl -s -X POST -H 'Content-Type: application/json' -H 'Prefer: respond-async' -d '{\"amount\":1}' %s/api/v1/users/%s/balance/charge\n" \
        "$API_URL" "$carol"
    printf "  curl -s -X PATCH -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{\"stockDelta\":10}' %s/api/v1/admin/products/%s\n" \
        "$ADMIN_TOKEN" "$API_URL" "$limited"
    printf "  curl -s %s/openapi.json | jq '.paths | keys'\n" "$API_URL"
} >"$demo"
ss_say "wrote $demo"

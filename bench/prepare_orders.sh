#!/usr/bin/env bash
# Prepares the data of the order scenarios straight through SQL (much faster than the admin API
# for this many rows): BENCH_ORDER_PRODUCTS SELLING products (default 10,000) at price 100 with
# a stock of 100,000,000 each, so no scenario runs out of stock, and BENCH_ORDER_USERS users
# (default 10,000) charged to the balance limit of 10,000,000 (each can pay 100,000 orders of one
# line), with the CHARGE history row a charge through the API would have written. Replaces the
# BENCH_ORDER_* lines of $SS_STATE_DIR/bench.env (keeps the others), which bench/run.sh reads.
# The hot products of the scenarios are the first ones of the range: hot1 orders the first,
# hot10 the first ten. Each run adds new rows; it deletes nothing. Needs PG_DSN (from
# `scripts/stack.sh env`) and psql. The users get their balance straight in SQL, not through a
# charge command: safe while the user workers run, since no worker has seen these new ids yet
# and none keeps accounts from one batch to the next.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"

if [[ -z "${PG_DSN:-}" ]]; then
    eval "$("$root/scripts/stack.sh" env)"
fi
users=${BENCH_ORDER_USERS:-10000}
products=${BENCH_ORDER_PRODUCTS:-10000}
readonly price=100 stock=100000000 balance=10000000
for value in "$users" "$products"; do
    [[ "$value" =~ ^[1-9][0-9]{0,6}$ ]] || ss_die "counts must be integers in 1..9999999, got $value"
done
((products >= 10)) || ss_die "BENCH_ORDER_PRODUCTS must be at least 10 (hot10 orders the first ten)"
state_dir=$(ss_state_dir)
mkdir -p "$state_dir"

ss_say "inserting $users order users (balance $balance) and $products products (price $price, stock $stock)"
# One statement each, so each range is one block of its sequence (nobody else inserts users or
# products while a benchmark is being prepared).
read -r user_min user_max < <(psql "$PG_DSN" -v ON_ERROR_STOP=1 -qAt -F ' ' -c \
    "WITH added AS (INSERT INTO users (nickname, balance)
                    SELECT 'bench-order-' || g, $balance FROM generate_series(1, $users) AS g
                    RETURNING id),
          history AS (INSERT INTO balance_history (user_id, type, amount, balance_after)
                      SELECT id, 'CHARGE', $balance, $balance FROM added)
     SELECT min(id), max(id) FROM added")
read -r product_min product_max < <(psql "$PG_DSN" -v ON_ERROR_STOP=1 -qAt -F ' ' -c \
    "WITH added AS (INSERT INTO products (name, price, stock)
                    SELECT 'bench order product ' || g, $price, $stock
                    FROM generate_series(1, $products) AS g RETURNING id)
     SELECT min(id), max(id) FROM added")
[[ -n "$user_min" && -n "$product_min" ]] || ss_die "the inserts returned no ids"

env_file="$state_dir/bench.env"
tmp=$(mktemp "$state_dir/bench.env.XXXXXX")
chmod 644 "$tmp"
if [[ -r "$env_file" ]]; then
    grep -v '^BENCH_ORDER_' "$env_file" >"$tmp" || true
fi
cat >>"$tmp" <<EOT
BENCH_ORDER_USER_MIN=$user_min
BENCH_ORDER_USER_MAX=$user_max
BENCH_ORDER_PRODUCT_MIN=$product_min
BENCH_ORDER_PRODUCT_MAX=$product_max
EOT
mv -- "$tmp" "$env_file"
ss_say "wrote $env_file: order users $user_min..$user_max, products $product_min..$product_max"

#!/usr/bin/env bash
# Prepares the benchmark data straight through SQL (much faster than the admin API for this
# many rows): BENCH_CHARGE_USERS users for the charge and balance scenarios (default 10,000),
# BENCH_ISSUE_USERS users for the issue scenario (default 400,000: enough distinct users for
# about 30,000 issue requests a second over 13 s), and BENCH_PRODUCTS SELLING products
# (default 100). Writes their id ranges to $SS_STATE_DIR/bench.env, which bench/run.sh reads.
# The order scenarios have their own data: bench/prepare_orders.sh.
# Each run adds new rows; it deletes nothing. Needs PG_DSN (from `scripts/stack.sh env`) and psql.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"

if [[ -z "${PG_DSN:-}" ]]; then
    eval "$("$root/scripts/stack.sh" env)"
fi
charge_users=${BENCH_CHARGE_USERS:-10000}
issue_users=${BENCH_ISSUE_USERS:-400000}
products=${BENCH_PRODUCTS:-100}
for value in "$charge_users" "$issue_users" "$products"; do
    [[ "$value" =~ ^[1-9][0-9]{0,7}$ ]] || ss_die "counts must be integers in 1..99999999, got $value"
done
state_dir=$(ss_state_dir)
mkdir -p "$state_dir"

# users_insert COUNT PREFIX: prints "min max" of the ids just inserted. One statement, so the
# ids are one block of the sequence unless another session inserts users at the same moment
# (then the range also holds a few foreign users, which the scenarios treat like their own).
users_insert() {
    psql "$PG_DSN" -v ON_ERROR_STOP=1 -qAt -F ' ' -c \
        "WITH added AS (INSERT INTO users (nickname)
                        SELECT '$2-' || g FROM generate_series(1, $1) AS g RETURNING id)
         SELECT min(id), max(id) FROM added"
}

ss_say "inserting $charge_users charge users, $issue_users issue users, $products products"
read -r charge_min charge_max < <(users_insert "$charge_users" bench-charge)
read -r issue_min issue_max < <(users_insert "$issue_users" bench-issue)
psql "$PG_DSN" -v ON_ERROR_STOP=1 -qAt -c \
    "INSERT INTO products (name, price, stock)
     SELECT 'bench product ' || g, 1000 + g, 1000000 FROM generate_series(1, $products) AS g"

# Replaces the charge and issue lines of bench.env and keeps the others (bench/prepare_orders.sh
# writes the BENCH_ORDER_* ones).
env_file="$state_dir/bench.env"
tmp=$(mktemp "$state_dir/bench.env.XXXXXX")
chmod 644 "$tmp"
if [[ -r "$env_file" ]]; then
    grep -v -e '^BENCH_CHARGE_' -e '^BENCH_ISSUE_' "$env_file" >"$tmp" || true
fi
cat >>"$tmp" <<EOT
BENCH_CHARGE_USER_MIN=$charge_min
BENCH_CHARGE_USER_MAX=$charge_max
BENCH_ISSUE_USER_MIN=$issue_min
BENCH_ISSUE_USER_MAX=$issue_max
EOT
mv -- "$tmp" "$env_file"
ss_say "wrote $env_file: charge users $charge_min..$charge_max, issue users $issue_min..$issue_max"

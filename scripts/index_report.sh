#!/usr/bin/env bash
#
# The reproducible run behind docs/reports/indexes.md: builds a database of realistic volume
# apart from the tests' one, then runs EXPLAIN (ANALYZE, BUFFERS) on every query the ingress and
# the workers send, first with the indexes of every migration except the index migration
# (006_indexes.sql, "before"), then with it ("after").
#
# usage: scripts/index_report.sh [output file]     (default: /tmp/ss-index-report.txt)
#
# Environment: PG_DSN (a postgresql:// URL; the bench database takes its host, port and role),
# SS_BENCH_DB (default shopstream_bench, dropped and created again on every run),
# SS_BENCH_RUNS (EXPLAIN ANALYZE runs per query, the median is reported; default 5). The
# database is left with every migration applied, for the HTTP benchmarks (bench/).
#
# Volumes: 100,000 users, 100,000 products (90 % SELLING), 1,000 coupons and 200,000 issued
# coupons, 150,000 orders over the three days of the popular window and 150,000 older ones
# (up to 30 days), 1 to 3 lines each with a skewed product popularity (a few products sell a
# lot), their balance history, stock reservations, request results, idempotency keys, and 30
# days of product_rank. CREATE DATABASE needs a role that may create databases: the DSN's, or,
# when run as root next to scripts/stack.sh's cluster, the postgres account over its socket.
# Takes about two minutes on two cores; keep other benchmark runs apart.
set -euo pipefail

# shellcheck source=lib/common.sh disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

REPO="$(ss_repo_root)"
readonly REPO
readonly SQL_DIR="$REPO/schemas/sql"
readonly INDEX_MIGRATION="006_indexes"
readonly RUNS_MAX=50

out="${1:-/tmp/ss-index-report.txt}"
pg_dsn="${PG_DSN:-postgresql://shopstream:shopstream@127.0.0.1:15432/shopstream}"
bench_db="${SS_BENCH_DB:-shopstream_bench}"
runs="${SS_BENCH_RUNS:-5}"
[[ "$bench_db" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || ss_die "SS_BENCH_DB='$bench_db' is not a plain name"
if ! [[ "$runs" =~ ^[1-9][0-9]*$ ]] || ((runs > RUNS_MAX)); then
    ss_die "SS_BENCH_RUNS must be 1..$RUNS_MAX"
fi
[[ "$pg_dsn" =~ ^postgres(ql)?://[^/]+/[^/?]+(\?.*)?$ ]] || ss_die "PG_DSN must be a postgresql:// URL"
command -v psql >/dev/null || ss_die "psql not found"

# The same URL with the database name replaced.
bench_dsn="$(sed -E "s#^(postgres(ql)?://[^/]+/)[^/?]+#\1$bench_db#" <<<"$pg_dsn")"
readonly bench_dsn
psql_bench=(psql "$bench_dsn" -X -q -v ON_ERROR_STOP=1 --no-psqlrc)

# ---------------------------------------------------------------------------------------------
# the database

# Runs one statement as a role that may create databases.
as_admin() {
    if psql "$pg_dsn" -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null 2>&1; then
        return 0
    fi
    local location socket port
    location="$(ss_state_dir)/pg_location"
    if ((EUID != 0)) || [[ ! -r "$location" ]]; then
        ss_die "the role of PG_DSN may not create databases; run as root next to scripts/stack.sh or use a DSN of such a role"
    fi
    socket="$(cat "$location")/run"
    ((${#socket} <= 90)) || socket=/tmp
    port="$(sed -E 's#^postgres(ql)?://[^/]*:([0-9]+)/.*#\2#' <<<"$pg_dsn")"
    [[ "$port" =~ ^[0-9]+$ ]] || port=5432
    (cd / && runuser -u postgres -- psql -h "$socket" -p "$port" -X -q -v ON_ERROR_STOP=1 \
        -d postgres -c "$1") >/dev/null
}

database_create() {
    local owner
    owner="$(psql "$pg_dsn" -X -A -t -c "SELECT current_user")"
    ss_say "creating $bench_db (owner $owner)"
    as_admin "DROP DATABASE IF EXISTS $bench_db"
    as_admin "CREATE DATABASE $bench_db OWNER $owner ENCODING 'UTF8' TEMPLATE template0"
}

# Applies the migrations; with "before", every one except the index migration.
migrate() {
    local which="$1" dir
    dir="$(mktemp -d)"
    cp "$SQL_DIR"/[0-9][0-9][0-9]_*.sql "$dir"/
    if [[ "$which" == before ]]; then
        rm -f "$dir/$INDEX_MIGRATION.sql"
    fi
    "$REPO/scripts/migrate.sh" "$bench_dsn" "$dir" >&2
    rm -rf "$dir"
}

# VACUUM ANALYZE of the project's tables (the catalogs are the superuser's).
vacuum_analyze() {
    "${psql_bench[@]}" -A -t -c "SELECT string_agg(quote_ident(tablename), ', ')
        FROM pg_tables WHERE schemaname = 'public'" |
        xargs -I{} "${psql_bench[@]}" -c "VACUUM ANALYZE {}" >/dev/null
}

generate() {
    ss_say "generating data"
    "${psql_bench[@]}" <<'SQL'
SELECT setseed(0.42);
INSERT INTO users (nickname, balance)
SELECT 'user-' || g, (random() * 5000000)::bigint FROM generate_series(1, 100000) g;

INSERT INTO products (name, price, stock, sell_status, updated_at)
SELECT 'product-' || g, 100 * (1 + (random() * 999)::int), (random() * 1000)::bigint,
       CASE WHEN g % 20 = 0 THEN 'HOLD' WHEN g % 20 = 1 THEN 'STOP_SELLING' ELSE 'SELLING' END,
       now() - random() * interval '30 days'
FROM generate_series(1, 100000) g;

INSERT INTO coupons (name, discount_rate, quantity, issued_count, status, expired_at)
SELECT 'coupon-' || g, round((0.05 + random() * 0.45)::numeric, 2), 1000, 200,
       CASE WHEN g % 10 = 0 THEN 'CANCELED' ELSE 'PUBLISHABLE' END,
       now() + (g % 60 - 10) * interval '1 day'
FROM generate_series(1, 1000) g;

-- 200 issued coupons per coupon, each to another user.
INSERT INTO user_coupons (user_id, coupon_id, status, issued_at, used_at)
SELECT u, c, CASE WHEN (u + c) % 3 = 0 THEN 'USED' ELSE 'UNUSED' END,
       now() - random() * interval '30 days', NULL
FROM generate_series(1, 1000) c, LATERAL (
    SELECT DISTINCT 1 + ((c * 7919 + k * 104729) % 100000) AS u FROM generate_series(1, 200) k) s;

-- Orders: 150,000 in the popular window (today and the two days before), 150,000 older.
CREATE TEMP TABLE o_src AS
SELECT g,
       CASE WHEN g <= 150000
            THEN date_trunc('day', now()) - interval '2 days'
                 + random() * (now() - (date_trunc('day', now()) - interval '2 days'))
            ELSE now() - interval '3 days' - random() * interval '27 days' END AS at,
       CASE WHEN g % 20 = 0 THEN 'FAILED' WHEN g % 97 = 0 AND g <= 1000 THEN 'PENDING'
            ELSE 'PAID' END AS status,
       1 + (random() * 99999)::bigint AS user_id
FROM generate_series(1, 300000) g;
INSERT INTO orders (id, user_id, status, total_price, discount_price, paid_amount,
                    failure_reason, request_id, created_at, updated_at, paid_at)
SELECT nextval('orders_id_seq'), user_id, status, 0, 0, 0,
       CASE WHEN status = 'FAILED' THEN 'INSUFFICIENT_STOCK' END, 'bench-' || g, at, at,
       CASE WHEN status = 'PAID' THEN at END
FROM o_src ORDER BY at;

-- 1 to 3 lines; popularity skewed: product = 1 + floor(99999 * r^3).
INSERT INTO order_items (order_id, product_id, quantity, unit_price, reservation)
SELECT o.id, 1 + floor(99999 * power(random(), 3))::bigint, 1 + (random() * 4)::int, 1000,
       CASE o.status WHEN 'PAID' THEN 'RESERVED' WHEN 'FAILED' THEN 'REJECTED' ELSE 'PENDING' END
FROM orders o, generate_series(1, 3) k
WHERE k <= 1 + o.id % 3
ON CONFLICT DO NOTHING;
UPDATE orders o SET total_price = t.total, paid_amount = t.total
FROM (SELECT order_id, sum(quantity * unit_price) AS total FROM order_items GROUP BY order_id) t
WHERE o.id = t.order_id;

INSERT INTO balance_history (user_id, type, amount, balance_after, request_id, order_id,
                             created_at)
SELECT user_id, 'USE', greatest(paid_amount, 1), 0, request_id, id, paid_at
FROM orders WHERE status = 'PAID';
INSERT INTO balance_history (user_id, type, amount, balance_after, request_id, created_at)
SELECT 1 + (random() * 99999)::bigint, 'CHARGE', 10000, 10000, 'bench-charge-' || g,
       now() - random() * interval '30 days'
FROM generate_series(1, 100000) g;

INSERT INTO stock_reservations (order_id, product_id, quantity, status, reason, updated_at)
SELECT oi.order_id, oi.product_id, oi.quantity,
       CASE oi.reservation WHEN 'RESERVED' THEN 'RESERVED' WHEN 'REJECTED' THEN 'REJECTED'
            ELSE 'RESERVED' END,
       CASE WHEN oi.reservation = 'REJECTED' THEN 'INSUFFICIENT_STOCK' END, o.updated_at
FROM order_items oi JOIN orders o ON o.id = oi.order_id
WHERE o.created_at > now() - interval '7 days';

INSERT INTO request_results (request_id, http_status, body, created_at)
SELECT '0-1700000000000-' || g, 200, '{"code":200,"message":"OK"}', now() - random() * interval '7 days'
FROM generate_series(1, 300000) g;
INSERT INTO request_pending (request_id)
SELECT '0-1700000000000-' || g FROM generate_series(1, 1000) g;
INSERT INTO idempotency_keys (scope, key, body_hash, request_id)
SELECT 'POST /api/v1/orders', 'key-' || g, md5(g::text), '0-1700000000000-' || g
FROM generate_series(1, 100000) g;

INSERT INTO partition_state (consumer_group, topic, partition, next_offset, epoch)
SELECT grp, topic, p, 100000, 3
FROM (VALUES ('ss-user-worker', 'ss.cmd.user'), ('ss-stock-worker', 'ss.cmd.stock'),
             ('ss-coupon-worker', 'ss.cmd.coupon')) AS t(grp, topic), generate_series(0, 11) p;
INSERT INTO outbox (source, topic, partition, record_keys, record_values, record_headers)
SELECT 'ss-stock-worker/ss.cmd.stock/' || (g % 12), 'ss.cmd.user', -1, ARRAY['1'::bytea],
       ARRAY['\x00'::bytea], ARRAY[NULL::jsonb]
FROM generate_series(1, 2000) g;

INSERT INTO product_rank (rank_date, product_id, rank_type, score)
SELECT d::date, oi.product_id, 'SELL', sum(oi.quantity)
FROM orders o JOIN order_items oi ON oi.order_id = o.id,
     LATERAL (SELECT date_trunc('day', o.paid_at) AS d) day
WHERE o.status = 'PAID' AND o.paid_at < date_trunc('day', now())
GROUP BY d, oi.product_id;
INSERT INTO rank_batch_runs (rank_date, finished_at)
SELECT DISTINCT rank_date, now() FROM product_rank;
SQL
    vacuum_analyze
    "${psql_bench[@]}" -A -t -F ' ' -c "SELECT 'rows:', (SELECT count(*) FROM users) users,
        (SELECT count(*) FROM products) products, (SELECT count(*) FROM orders) orders,
        (SELECT count(*) FROM order_items) order_items, (SELECT count(*) FROM user_coupons)
        user_coupons, (SELECT count(*) FROM orders WHERE status = 'PAID' AND paid_at >=
        date_trunc('day', now()) - interval '2 days') paid_in_window" >&2
}

# ---------------------------------------------------------------------------------------------
# the queries, with realistic parameters taken from the data

scalar() { "${psql_bench[@]}" -A -t -c "$1"; }

parameters() {
    P_USER=$(scalar "SELECT user_id FROM user_coupons WHERE status = 'UNUSED' ORDER BY user_id LIMIT 1 OFFSET 5000")
    P_ORDER=$(scalar "SELECT id FROM orders WHERE status = 'PAID' ORDER BY id LIMIT 1 OFFSET 200000")
    P_USERS=$(scalar "SELECT array_agg(id)::text FROM (SELECT id FROM users ORDER BY md5(id::text) LIMIT 500) s")
    P_PRODUCTS=$(scalar "SELECT array_agg(id)::text FROM (SELECT id FROM products ORDER BY md5(id::text) LIMIT 500) s")
    P_PRODUCTS_20=$(scalar "SELECT array_agg(id)::text FROM (SELECT id FROM products ORDER BY md5(id::text) LIMIT 20) s")
    P_ORDERS=$(scalar "SELECT array_agg(id)::text FROM (SELECT id FROM orders WHERE created_at > now() - interval '1 day' ORDER BY md5(id::text) LIMIT 500) s")
    P_PAIR_ORDERS=$(scalar "SELECT array_agg(order_id ORDER BY order_id, product_id)::text FROM (SELECT order_id, product_id FROM stock_reservations ORDER BY md5(order_id::text) LIMIT 500) s")
    P_PAIR_PRODUCTS=$(scalar "SELECT array_agg(product_id ORDER BY order_id, product_id)::text FROM (SELECT order_id, product_id FROM stock_reservations ORDER BY md5(order_id::text) LIMIT 500) s")
    P_UC_COUPONS=$(scalar "SELECT array_agg(coupon_id ORDER BY coupon_id, user_id)::text FROM (SELECT coupon_id, user_id FROM user_coupons ORDER BY md5(id::text) LIMIT 500) s")
    P_UC_USERS=$(scalar "SELECT array_agg(user_id ORDER BY coupon_id, user_id)::text FROM (SELECT coupon_id, user_id FROM user_coupons ORDER BY md5(id::text) LIMIT 500) s")
    P_UC_IDS=$(scalar "SELECT array_agg(id)::text FROM (SELECT id FROM user_coupons ORDER BY md5(id::text) LIMIT 500) s")
    P_COUPONS=$(scalar "SELECT array_agg(id)::text FROM (SELECT id FROM coupons ORDER BY md5(id::text) LIMIT 50) s")
    P_KEYS=$(scalar "SELECT array_agg(key)::text FROM (SELECT key FROM idempotency_keys ORDER BY md5(key) LIMIT 500) s")
    P_SCOPES=$(scalar "SELECT array_agg('POST /api/v1/orders'::text)::text FROM generate_series(1, 500)")
    P_CURSOR=$(scalar "SELECT id FROM products WHERE sell_status = 'SELLING' ORDER BY id LIMIT 1 OFFSET 50000")
    P_TODAY=$(scalar "SELECT current_date")
    P_FIRST=$(scalar "SELECT current_date - 2")
    P_YESTERDAY=$(scalar "SELECT current_date - 1")
    P_REQUEST="0-1700000000000-123456"
    P_SOURCE="ss-stock-worker/ss.cmd.stock/3"
    P_SINCE_MS=$(scalar "SELECT (extract(epoch FROM now() - interval '20 seconds') * 1000)::bigint")
    P_REBUILD_AFTER=$(scalar "SELECT order_id FROM order_items oi JOIN orders o ON o.id = oi.order_id WHERE o.status = 'PAID' AND o.paid_at >= current_date - 1 AND o.paid_at < current_date ORDER BY order_id LIMIT 1 OFFSET 20000")
}

# name|kind|sql : kind "read" runs as is, "write" runs inside BEGIN ... ROLLBACK.
queries() {
    cat <<EOF
ingress GET /users/{id}/balance|read|SELECT balance FROM users WHERE id = $P_USER
ingress GET /users/{id}/coupons: user exists|read|SELECT 1 FROM users WHERE id = $P_USER
ingress GET /users/{id}/coupons|read|SELECT c.id, uc.id, c.name, c.discount_rate, (extract(epoch FROM c.expired_at) * 1000)::bigint FROM user_coupons uc JOIN coupons c ON c.id = uc.coupon_id WHERE uc.user_id = $P_USER AND uc.status = 'UNUSED' AND c.expired_at > now() ORDER BY uc.id
ingress GET /products (first page, PostgreSQL path)|read|SELECT id, name, price, stock, stock_version FROM products WHERE sell_status = 'SELLING' AND id > 0 ORDER BY id LIMIT 21
ingress GET /products (page 2,500)|read|SELECT id, name, price, stock, stock_version FROM products WHERE sell_status = 'SELLING' AND id > $P_CURSOR ORDER BY id LIMIT 21
ingress GET /products: overlay misses|read|SELECT id, stock, stock_version FROM products WHERE id = ANY('$P_PRODUCTS_20'::bigint[])
ingress GET /products/popular: names|read|SELECT id, name, price FROM products WHERE id = ANY('{1,2,3,4,5}'::bigint[])
ingress GET /products/popular: day has sales|read|SELECT EXISTS (SELECT 1 FROM orders WHERE status = 'PAID' AND paid_at >= ('$P_TODAY'::date)::timestamp AT TIME ZONE 'UTC' AND paid_at < ('$P_TODAY'::date + 1)::timestamp AT TIME ZONE 'UTC')
ingress GET /products/popular: Redis down, aggregated|read|SELECT p.id, p.name, p.price, t.sold FROM ( SELECT oi.product_id, sum(oi.quantity)::bigint AS sold FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.status = 'PAID' AND o.paid_at >= ('$P_FIRST'::date)::timestamp AT TIME ZONE 'UTC' AND o.paid_at < ('$P_TODAY'::date + 1)::timestamp AT TIME ZONE 'UTC' GROUP BY oi.product_id ORDER BY sold DESC, oi.product_id LIMIT 5) t JOIN products p ON p.id = t.product_id ORDER BY t.sold DESC, t.product_id
ingress GET /orders/{id}|read|SELECT o.user_id, o.status, o.total_price, o.discount_price, o.paid_amount, o.failure_reason, i.product_id, i.quantity, i.unit_price FROM orders o LEFT JOIN order_items i ON i.order_id = o.id WHERE o.id = $P_ORDER ORDER BY i.product_id
ingress GET /requests/{id}: result|read|SELECT body FROM request_results WHERE request_id = '$P_REQUEST'
ingress GET /requests/{id}: pending|read|SELECT 1 FROM request_pending WHERE request_id = '$P_REQUEST'
ingress 202: request_pending insert|write|INSERT INTO request_pending (request_id) SELECT unnest('{a-1,a-2,a-3}'::text[]) ON CONFLICT (request_id) DO NOTHING
ingress admin: insert user|write|INSERT INTO users (nickname) VALUES ('n') RETURNING id
ingress admin: insert product|write|INSERT INTO products (name, price, stock, sell_status) VALUES ('p', 1, 1, 'SELLING') RETURNING id
worker claim partition|write|INSERT INTO partition_state (consumer_group, topic, partition, next_offset, epoch) VALUES ('ss-user-worker', 'ss.cmd.user', 3, 0, 1) ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET epoch = partition_state.epoch + 1 RETURNING next_offset, epoch
worker batch: fence and move the offsets (one round, 4 partitions)|write|UPDATE partition_state ps SET next_offset = f.n FROM unnest('{0,1,2,3}'::int[], '{3,3,3,3}'::bigint[], '{100000,100000,100000,100000}'::bigint[], '{100500,100500,100500,100500}'::bigint[]) AS f(p, e, x, n) WHERE ps.consumer_group = 'ss-user-worker' AND ps.topic = 'ss.cmd.user' AND ps.partition = f.p AND ps.epoch = f.e AND ps.next_offset = f.x
worker batch: read the partition state|read|SELECT next_offset, epoch FROM partition_state WHERE consumer_group = 'ss-user-worker' AND topic = 'ss.cmd.user' AND partition = 3
worker batch: delete delivered outbox rows|write|DELETE FROM outbox o USING unnest(ARRAY['$P_SOURCE'], '{0}'::bigint[], '{1000}'::bigint[]) AS d(s, a, u) WHERE o.source = d.s AND o.id > d.a AND o.id <= d.u
worker outbox: pending rows|read|SELECT o.id, o.topic, o.partition, r.k, r.v, r.h, r.n - 1, cardinality(o.record_values) FROM (SELECT * FROM outbox WHERE source = '$P_SOURCE' AND id > 0 ORDER BY id LIMIT 64) o CROSS JOIN LATERAL unnest(o.record_keys, o.record_values, o.record_headers) WITH ORDINALITY AS r(k, v, h, n) ORDER BY o.id, r.n
worker batch: idempotency lookup (500 keys)|read|SELECT ik.scope, ik.key, ik.body_hash, rr.http_status, rr.body, ik.request_id FROM unnest('$P_SCOPES'::text[], '$P_KEYS'::text[]) AS q(scope, key) JOIN idempotency_keys ik ON ik.scope = q.scope AND ik.key = q.key LEFT JOIN request_results rr ON rr.request_id = ik.request_id
worker batch: results insert (500)|write|INSERT INTO request_results (request_id, http_status, body) SELECT 'r-' || g, 200, '{}' FROM generate_series(1, 500) g ON CONFLICT (request_id) DO NOTHING
user worker: load accounts (500)|read|SELECT id, balance, held FROM users WHERE id = ANY('$P_USERS'::bigint[]) ORDER BY id
user worker: update balances (500)|write|UPDATE users u SET balance = v.balance, held = v.held FROM unnest('$P_USERS'::bigint[], array_fill(1000::bigint, ARRAY[500]), array_fill(0::bigint, ARRAY[500])) AS v(id, balance, held) WHERE u.id = v.id
user worker: balance history insert (500)|write|INSERT INTO balance_history (user_id, type, amount, balance_after, request_id, order_id) SELECT u, 'CHARGE', 1, 1, 'x', NULL FROM unnest('$P_USERS'::bigint[]) u
user worker: load orders (500)|read|SELECT id, user_id, coalesce(coupon_id, 0), coalesce(user_coupon_id, 0), status, total_price, discount_price, paid_amount, failure_reason, request_id, reply_partition, coalesce(floor(extract(epoch FROM paid_at) * 1000)::bigint, 0) FROM orders WHERE id = ANY('$P_ORDERS'::bigint[]) ORDER BY id
user worker: load order lines (500 orders)|read|SELECT order_id, product_id, quantity, unit_price, reservation FROM order_items WHERE order_id = ANY('$P_ORDERS'::bigint[]) ORDER BY order_id, product_id
user worker: load products (500)|read|SELECT id, price, sell_status FROM products WHERE id = ANY('$P_PRODUCTS'::bigint[])
user worker: load coupons of the orders (500)|read|SELECT q.user_id, q.coupon_id, (c.discount_rate * 10000)::bigint, floor(extract(epoch FROM c.expired_at) * 1000)::bigint, coalesce(uc.id, 0), coalesce(uc.status = 'USED', false) FROM unnest('$P_UC_USERS'::bigint[], '$P_UC_COUPONS'::bigint[]) AS q(user_id, coupon_id) JOIN coupons c ON c.id = q.coupon_id LEFT JOIN user_coupons uc ON uc.user_id = q.user_id AND uc.coupon_id = q.coupon_id
user worker: order ids (500)|read|SELECT nextval('orders_id_seq') FROM generate_series(1, 500)
user worker: mark coupons used (500)|write|UPDATE user_coupons u SET status = 'USED', used_at = now() FROM unnest('$P_UC_IDS'::bigint[]) AS v(id) WHERE u.id = v.id
coupon worker: load coupons (50)|read|SELECT id, name, (discount_rate * 10000)::bigint, quantity, issued_count, status, floor(extract(epoch FROM expired_at) * 1000)::bigint FROM coupons WHERE id = ANY('$P_COUPONS'::bigint[]) ORDER BY id
coupon worker: load users (500)|read|SELECT id FROM users WHERE id = ANY('$P_USERS'::bigint[]) ORDER BY id
coupon worker: issued pairs (500)|read|SELECT uc.coupon_id, uc.user_id FROM user_coupons uc JOIN unnest('$P_UC_COUPONS'::bigint[], '$P_UC_USERS'::bigint[]) AS q(coupon_id, user_id) ON uc.coupon_id = q.coupon_id AND uc.user_id = q.user_id
stock worker: load products (500)|read|SELECT id, name, price, stock, sell_status FROM products WHERE id = ANY('$P_PRODUCTS'::bigint[])
stock worker: load reservations (500)|read|SELECT r.order_id, r.product_id, r.quantity, r.status, r.reason FROM unnest('$P_PAIR_ORDERS'::bigint[], '$P_PAIR_PRODUCTS'::bigint[]) AS k(order_id, product_id) JOIN stock_reservations r ON r.order_id = k.order_id AND r.product_id = k.product_id
stock worker: update products (500)|write|UPDATE products p SET stock = v.stock, sell_status = v.sell_status, updated_at = now(), stock_version = p.stock_version + 1 FROM unnest('$P_PRODUCTS'::bigint[], array_fill(5::bigint, ARRAY[500]), array_fill('SELLING'::text, ARRAY[500])) AS v(id, stock, sell_status) WHERE p.id = v.id RETURNING p.id, p.stock, p.stock_version
stock worker: upsert reservations (500)|write|INSERT INTO stock_reservations (order_id, product_id, quantity, status, reason) SELECT o, p, 1, 'RELEASED', NULL FROM unnest('$P_PAIR_ORDERS'::bigint[], '$P_PAIR_PRODUCTS'::bigint[]) AS u(o, p) ON CONFLICT (order_id, product_id) DO UPDATE SET quantity = EXCLUDED.quantity, status = EXCLUDED.status, reason = EXCLUDED.reason, updated_at = now()
stock worker: overlay rewrite (changed in the last 20 s)|read|SELECT id, stock, stock_version FROM products WHERE updated_at >= to_timestamp($P_SINCE_MS::bigint / 1000.0)
rank: rebuild a day, first page of 500 lines|read|SELECT oi.order_id, oi.product_id, oi.quantity FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.status = 'PAID' AND o.paid_at >= ('$P_YESTERDAY'::date)::timestamp AT TIME ZONE 'UTC' AND o.paid_at < ('$P_YESTERDAY'::date + 1)::timestamp AT TIME ZONE 'UTC' AND (oi.order_id, oi.product_id) > (0::bigint, 0::bigint) ORDER BY oi.order_id, oi.product_id LIMIT 500
rank: rebuild a day, a later page of 500 lines|read|SELECT oi.order_id, oi.product_id, oi.quantity FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.status = 'PAID' AND o.paid_at >= ('$P_YESTERDAY'::date)::timestamp AT TIME ZONE 'UTC' AND o.paid_at < ('$P_YESTERDAY'::date + 1)::timestamp AT TIME ZONE 'UTC' AND (oi.order_id, oi.product_id) > ($P_REBUILD_AFTER::bigint, 0::bigint) ORDER BY oi.order_id, oi.product_id LIMIT 500
rank: rebuild, first page, proposed: AND o.id >= after|read|SELECT oi.order_id, oi.product_id, oi.quantity FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.status = 'PAID' AND o.paid_at >= ('$P_YESTERDAY'::date)::timestamp AT TIME ZONE 'UTC' AND o.paid_at < ('$P_YESTERDAY'::date + 1)::timestamp AT TIME ZONE 'UTC' AND (oi.order_id, oi.product_id) > (0::bigint, 0::bigint) AND o.id >= 0::bigint ORDER BY oi.order_id, oi.product_id LIMIT 500
rank: rebuild, a later page, proposed: AND o.id >= after|read|SELECT oi.order_id, oi.product_id, oi.quantity FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.status = 'PAID' AND o.paid_at >= ('$P_YESTERDAY'::date)::timestamp AT TIME ZONE 'UTC' AND o.paid_at < ('$P_YESTERDAY'::date + 1)::timestamp AT TIME ZONE 'UTC' AND (oi.order_id, oi.product_id) > ($P_REBUILD_AFTER::bigint, 0::bigint) AND o.id >= $P_REBUILD_AFTER::bigint ORDER BY oi.order_id, oi.product_id LIMIT 500
worker retention: prune expired keys (1,000)|write|DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys WHERE created_at < now() - 86400::bigint * interval '1 second' ORDER BY created_at LIMIT 1000::bigint FOR UPDATE SKIP LOCKED))
worker retention: prune expired results (1,000)|write|DELETE FROM request_results WHERE ctid = ANY(ARRAY(SELECT ctid FROM request_results WHERE created_at < least(now() - 604800::bigint * interval '1 second', (SELECT min(created_at) FROM idempotency_keys)) ORDER BY created_at LIMIT 1000::bigint FOR UPDATE SKIP LOCKED))
ingress retention: prune expired pending rows (1,000)|write|DELETE FROM request_pending WHERE ctid = ANY(ARRAY(SELECT ctid FROM request_pending WHERE created_at < now() - 604800::bigint * interval '1 second' ORDER BY created_at LIMIT 1000::bigint FOR UPDATE SKIP LOCKED))
ingress retention: sweep answered pending rows (1,000)|write|WITH candidates AS (SELECT request_id, created_at FROM request_pending WHERE (created_at, request_id) > ('-infinity'::timestamptz, ''::text) ORDER BY created_at, request_id LIMIT 1000::bigint), gone AS (DELETE FROM request_pending p USING candidates c WHERE p.request_id = c.request_id AND EXISTS (SELECT 1 FROM request_results r WHERE r.request_id = c.request_id) RETURNING 1), last AS (SELECT created_at, request_id FROM candidates ORDER BY created_at DESC, request_id DESC LIMIT 1) SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM candidates), (SELECT created_at::text FROM last), (SELECT request_id FROM last)
stock worker retention: scan above the horizon (1,000)|read|SELECT order_id, created_at < now() - 2592000::bigint * interval '1 second' FROM stock_reservations WHERE order_id >= 0::bigint ORDER BY order_id, product_id LIMIT 1000::bigint
stock worker: load the reservation horizon|read|SELECT order_id_below FROM stock_reservation_horizon WHERE id = 1
rank: daily batch insert|write|INSERT INTO product_rank (rank_date, product_id, rank_type, score) SELECT '$P_TODAY'::date, oi.product_id, 'SELL', sum(oi.quantity) FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE o.status = 'PAID' AND o.paid_at >= ('$P_YESTERDAY'::date)::timestamp AT TIME ZONE 'UTC' AND o.paid_at < ('$P_YESTERDAY'::date + 1)::timestamp AT TIME ZONE 'UTC' GROUP BY oi.product_id
rank: daily batch delete|write|DELETE FROM product_rank WHERE rank_date = '$P_YESTERDAY'::date AND rank_type = 'SELL'
rank: days without a batch|read|SELECT d::date - DATE '1970-01-01' FROM generate_series('$P_FIRST'::date - 30, '$P_YESTERDAY'::date, interval '1 day') AS d WHERE NOT EXISTS (SELECT 1 FROM rank_batch_runs r WHERE r.rank_date = d::date) ORDER BY 1
EOF
}

# Runs every query $runs times; prints the plan of the last run and the median execution time.
explain_all() {
    local phase="$1" name kind sql i times median
    printf '\n======== %s ========\n' "$phase"
    while IFS='|' read -r name kind sql; do
        [[ -n "$name" ]] || continue
        times=()
        local plan=""
        for ((i = 0; i < runs; i++)); do
            if [[ "$kind" == write ]]; then
                plan="$("${psql_bench[@]}" -A -t -c "BEGIN" -c "EXPLAIN (ANALYZE, BUFFERS) $sql" -c "ROLLBACK")"
            else
                plan="$("${psql_bench[@]}" -A -t -c "EXPLAIN (ANALYZE, BUFFERS) $sql")"
            fi
            times+=("$(awk '/Execution Time:/ {print $3}' <<<"$plan")")
        done
        median="$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')"
        printf '\n---- %s [%s] median %s ms of %d runs\n%s\n' "$name" "$phase" "$median" "$runs" "$plan"
        printf 'TIME\t%s\t%s\t%s\n' "$phase" "$median" "$name" >&2
    done < <(queries)
}

{
    printf 'shopstream index report, %s, PostgreSQL %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        "$(psql "$pg_dsn" -X -A -t -c 'SHOW server_version')"
    database_create
    migrate before
    generate
    parameters
    explain_all before
    ss_say "applying $INDEX_MIGRATION"
    migrate after
    vacuum_analyze
    explain_all after
} >"$out" 2> >(tee "$out.times" >&2)
ss_say "plans in $out, times in $out.times"

#!/usr/bin/env bash
# Issue 9's comparison: every flow on the row-lock design (one transaction per request with
# SELECT ... FOR UPDATE, run by pgbench against a PostgreSQL cluster of its own) and, with
# --shopstream, on shopstream end to end over HTTP (bench/run.sh against scripts/run.sh's
# services), then one table: each flow's rate for both, the ratio, p50/p99, CPU per operation.
#
#   bench/compare.sh [options]
#
#   --scenarios LIST   comma-separated, default charge,issue,order_spread,order_hot10,order_hot1
#   --duration S       seconds per measured run (default 15)
#   --warmup S         seconds of the warm-up run before each measured one, 0: none (default 3)
#   --clients N        pgbench clients of the row-lock design (default 32)
#   --threads N        pgbench threads (default: the CPU count)
#   --shopstream       also run shopstream's side (default: the row-lock design only)
#   --connections N    wrk connections of shopstream's side (default 256)
#   --openloop         with --shopstream: then each scenario at a fixed rate of half the rate
#                      just measured (bench/openloop.sh, vegeta), p50/p99/max and 202s, and its
#                      plots (bench/plot.sh run)
#   --settle S         seconds to wait after starting scripts/run.sh (default 15)
#   --first-warmup S   before shopstream's first measured run, every scenario once for S
#                      seconds, discarded (default 30; 0: none): the broker's JVM takes about
#                      90 s of order load to compile its hot paths (its CPU per spread order
#                      falls from 5 to 1 times its steady figure over six 15 s runs from a
#                      fresh stack, docs/performance.md "The broker's warm-up"), which would
#                      otherwise land on whichever scenarios come first
#   --port P           the row-lock cluster's port (default 15442)
#   --results DIR      where the outputs go (default bench/results/<UTC time>-compare)
#   --keep             keep the row-lock cluster's folder (it is deleted by default)
#   -h, --help
#
# Row-lock design: a fresh cluster (initdb in a folder under /var/tmp, run as the postgres
# account as scripts/stack.sh does, its server settings: fsync and synchronous_commit on), the
# migrations of schemas/sql applied by scripts/migrate.sh (the same tables and indexes) and the
# foreign keys shopstream's owners replace (bench/rowlock/foreign_keys.sql), the data
# of bench/prepare.sh and bench/prepare_orders.sh, then per scenario pgbench -M prepared with
# bench/rowlock/<charge|issue|order>.sql over TCP. The cluster is stopped before shopstream's
# side starts. Operations are counted in the database (rows written), not trusted from pgbench.
# CPU: utime + stime of every process of the cluster (bench/cpu.sh --postgres-only) and of
# pgbench itself, per operation.
#
# Shopstream's side: uses the shopstream at $API_URL (eval "$(scripts/stack.sh env)") when it
# answers /health, otherwise starts scripts/run.sh (the default deployment; stopped at the end).
# Runs bench/prepare.sh and bench/prepare_orders.sh when bench.env lacks their ranges, then per
# scenario a warm-up and `bench/cpu.sh run -- bench/run.sh <scenario> <duration>s <connections>`;
# when the stack's Prometheus answers ($PROMETHEUS_URL), the series of the Grafana dashboard's
# panels over each measured run go to DIR/shopstream-<scenario>.prometheus.json.
#
# Prints, and saves to DIR/summary.md: one RESULT line per side and scenario, the comparison
# table, shopstream's CPU per operation by component, and with --openloop the latency at half
# the maximum rate. Every output of every run is in DIR.
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench/.." && pwd)
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"
# shellcheck source=bench/lib.sh
source "$bench/lib.sh"

readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly DB=rowlock ROLE=shopstream PASSWORD=shopstream

usage() { ss_usage "${BASH_SOURCE[0]}" "$@"; }

scenarios=charge,issue,order_spread,order_hot10,order_hot1
duration=15 warmup=3 clients=32 threads=$(nproc) shopstream=0 openloop=0 connections=256 settle=15
first_warmup=30
port=${SS_ROWLOCK_PG_PORT:-15442} results="" keep=0
while (($# > 0)); do
    case "$1" in
    --scenarios) scenarios=$2 && shift ;;
    --duration) duration=$2 && shift ;;
    --warmup) warmup=$2 && shift ;;
    --clients) clients=$2 && shift ;;
    --threads) threads=$2 && shift ;;
    --shopstream) shopstream=1 ;;
    --openloop) openloop=1 ;;
    --connections) connections=$2 && shift ;;
    --settle) settle=$2 && shift ;;
    --first-warmup) first_warmup=$2 && shift ;;
    --port) port=$2 && shift ;;
    --results) results=$2 && shift ;;
    --keep) keep=1 ;;
    -h | --help) usage 0 ;;
    *) usage ;;
    esac
    shift
done
for value in "$duration" "$warmup" "$clients" "$threads" "$connections" "$settle" "$first_warmup" "$port"; do
    [[ "$value" =~ ^[0-9]{1,5}$ ]] || ss_die "not a number: '$value' (--help)"
done
((duration > 0 && clients > 0 && threads > 0 && connections > 0)) || ss_die "duration, clients, threads and connections must be positive"
((threads <= clients)) || threads=$clients
((!openloop || shopstream)) || ss_die "--openloop needs --shopstream"
IFS=, read -r -a scenario_list <<<"$scenarios"
for scenario in "${scenario_list[@]}"; do
    case "$scenario" in
    charge | issue | order_spread | order_hot10 | order_hot1) ;;
    *) ss_die "unknown scenario '$scenario' (charge, issue, order_spread, order_hot10, order_hot1)" ;;
    esac
done
for tool in pgbench psql curl jq wrk; do
    command -v "$tool" >/dev/null || ss_die "$tool is missing: run scripts/install-deps.sh"
done
[[ -x "$PG_BIN/initdb" ]] || ss_die "$PG_BIN/initdb is missing: run scripts/install-deps.sh"
results=${results:-$bench/results/$(date -u +%Y%m%dT%H%M%SZ)-compare}
mkdir -p "$results"
results=$(cd "$results" && pwd)

if ((EUID == 0)); then
    as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
    as_pg() { (cd / && "$@"); }
fi

# ---------------------------------------------------------------------------------------------
# the row-lock design's own cluster

cluster="" started_run_pid=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    cluster_stop
    if [[ -n "$started_run_pid" ]]; then
        ss_say "stopping scripts/run.sh (pid $started_run_pid)"
        kill -TERM "$started_run_pid" 2>/dev/null || true
        wait "$started_run_pid" 2>/dev/null || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cluster_stop() {
    [[ -n "$cluster" ]] || return 0
    if as_pg test -f "$cluster/data/postmaster.pid"; then
        as_pg "$PG_BIN/pg_ctl" stop -D "$cluster/data" -m fast -w >>"$results/rowlock-pg_ctl.log" 2>&1 ||
            ss_warn "pg_ctl stop failed: see $results/rowlock-pg_ctl.log"
    fi
    if ((keep)); then
        ss_say "row-lock cluster kept in $cluster"
    else
        rm -rf -- "$cluster"
    fi
    cluster=""
}

# The server settings of scripts/stack.sh's cluster (pg_write_config), so that both designs
# run on the same PostgreSQL; only the port and the socket folder differ.
cluster_config() {
    as_pg tee -a "$cluster/data/postgresql.conf" >/dev/null <<EOF
# bench/compare.sh: the settings of scripts/stack.sh's cluster
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$cluster/run'
max_connections = 200
shared_buffers = 512MB
effective_cache_size = 4GB
work_mem = 16MB
maintenance_work_mem = 256MB
synchronous_commit = on
fsync = on
wal_compression = on
max_wal_size = 2GB
checkpoint_timeout = 15min
random_page_cost = 1.1
log_min_duration_statement = 1000
log_line_prefix = '%m [%p] %u@%d '
log_lock_waits = on
autovacuum_naptime = 5s
EOF
}

cluster_start() {
    ! ss_port_is_open "$port" || ss_die "port $port is taken: choose another with --port"
    cluster=$(mktemp -d /var/tmp/ss-rowlock.XXXXXX)
    chmod 755 "$cluster"
    mkdir -p "$cluster/run" "$cluster/state"
    if ((EUID == 0)); then
        chown postgres:postgres "$cluster" "$cluster/run"
    fi
    ss_say "row-lock cluster: initdb in $cluster/data, port $port"
    as_pg "$PG_BIN/initdb" -D "$cluster/data" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >"$results/rowlock-initdb.log" 2>&1 ||
        ss_die "initdb failed: see $results/rowlock-initdb.log"
    cluster_config
    as_pg "$PG_BIN/pg_ctl" start -D "$cluster/data" -l "$cluster/postgres.log" -w -t 60 \
        >"$results/rowlock-pg_ctl.log" 2>&1 || ss_die "pg_ctl start failed: see $cluster/postgres.log"
    as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$cluster/run" -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'" \
        -c "CREATE DATABASE $DB OWNER $ROLE ENCODING 'UTF8' TEMPLATE template0" >/dev/null
    export PGPASSWORD=$PASSWORD
    rowlock_dsn="postgresql://$ROLE:$PASSWORD@127.0.0.1:$port/$DB"
    "$root/scripts/migrate.sh" "$rowlock_dsn" "$root/schemas/sql" 2>"$results/rowlock-migrate.log" ||
        ss_die "migrations failed: see $results/rowlock-migrate.log"
    psql "$rowlock_dsn" -X -q -v ON_ERROR_STOP=1 -f "$bench/rowlock/foreign_keys.sql" \
        2>>"$results/rowlock-migrate.log" || ss_die "foreign keys failed: see $results/rowlock-migrate.log"
}

# The same data as shopstream's scenarios, by the same scripts; their bench.env goes to the
# cluster's own state folder.
cluster_seed() {
    ss_say "row-lock cluster: seeding with bench/prepare.sh and bench/prepare_orders.sh"
    PG_DSN=$rowlock_dsn SS_STATE_DIR=$cluster/state "$bench/prepare.sh" 2>>"$results/rowlock-seed.log"
    PG_DSN=$rowlock_dsn SS_STATE_DIR=$cluster/state "$bench/prepare_orders.sh" 2>>"$results/rowlock-seed.log"
    as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$cluster/run" -p "$port" -U postgres -d "$DB" \
        -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
    # shellcheck source=/dev/null
    source "$cluster/state/bench.env"
}

rl_sql() {
    psql "$rowlock_dsn" -X -q -v ON_ERROR_STOP=1 -At -c "$1"
}

# The committed operations of a scenario so far, counted in the database.
rowlock_done() {
    case "$1" in
    charge) rl_sql "SELECT count(*) FROM balance_history WHERE type = 'CHARGE'" ;;
    issue) rl_sql "SELECT coalesce(sum(issued_count), 0) FROM coupons" ;;
    order_*) rl_sql "SELECT count(*) FROM orders WHERE status = 'PAID'" ;;
    esac
}

# pgbench_vars SCENARIO: the -D options of the scenario's script (a fresh hot coupon for issue).
pgbench_vars() {
    local coupon
    case "$1" in
    charge)
        echo "-D user_min=$BENCH_CHARGE_USER_MIN -D user_count=$((BENCH_CHARGE_USER_MAX - BENCH_CHARGE_USER_MIN + 1))"
        echo "-D clients=$clients -D n=0"
        ;;
    issue)
        coupon=$(rl_sql "INSERT INTO coupons (name, discount_rate, quantity, expired_at)
                         VALUES ('bench hot coupon', 0.1, 10000000, now() + interval '1 day') RETURNING id")
        echo "-D coupon_id=$coupon -D user_min=$BENCH_ISSUE_USER_MIN"
        echo "-D user_count=$((BENCH_ISSUE_USER_MAX - BENCH_ISSUE_USER_MIN + 1)) -D clients=$clients -D n=0"
        ;;
    order_*)
        local hot=$BENCH_ORDER_PRODUCT_MAX
        [[ "$1" == order_hot10 ]] && hot=$((BENCH_ORDER_PRODUCT_MIN + 9))
        [[ "$1" == order_hot1 ]] && hot=$BENCH_ORDER_PRODUCT_MIN
        echo "-D user_min=$BENCH_ORDER_USER_MIN -D user_max=$BENCH_ORDER_USER_MAX"
        echo "-D product_min=$BENCH_ORDER_PRODUCT_MIN -D product_max=$hot -D coupon_id=0"
        ;;
    esac
}

# pgbench_run SCENARIO SECONDS OUT_PREFIX: runs pgbench; its own CPU ticks (utime + stime,
# reaped by the subshell) go to OUT_PREFIX.ticks.
pgbench_run() {
    local scenario=$1 seconds=$2 prefix=$3 script=${1%%_*}
    # shellcheck disable=SC2046 # pgbench_vars prints separate -D options
    (
        pgbench -n -M prepared -c "$clients" -j "$threads" -T "$seconds" \
            -f "$bench/rowlock/$script.sql" $(pgbench_vars "$scenario") \
            --log --log-prefix="$prefix.log" -h 127.0.0.1 -p "$port" -U "$ROLE" "$DB" \
            >"$prefix.txt" 2>&1 || {
            cat "$prefix.txt" >&2
            exit 1
        }
        read -r stat <"/proc/$BASHPID/stat"
        read -r -a f <<<"${stat##*) }"
        echo $((f[13] + f[14])) >"$prefix.ticks"
    ) || ss_die "pgbench failed ($scenario)"
}

# Latency percentiles (ms) from pgbench's per-transaction logs (third field: microseconds).
pgbench_percentiles() {
    cat "$1".log.* | awk '{ print $3 }' | sort -n | awk '
        { v[NR] = $1 }
        END { if (NR == 0) { print "p50_ms=0 p99_ms=0 max_ms=0"; exit }
              i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
              i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
              printf "p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", v[i50] / 1000, v[i99] / 1000, v[NR] / 1000 }'
}

rowlock_scenario() {
    local scenario=$1 prefix="$results/rowlock-$1" before after done0 done1 hz ticks tps mean
    if ((warmup > 0)); then
        pgbench_run "$scenario" "$warmup" "$results/rowlock-$scenario-warmup"
    fi
    ss_say "row-lock $scenario: ${duration}s, $clients clients"
    done0=$(rowlock_done "$scenario")
    "$bench/cpu.sh" snapshot --postgres-only --pg-data "$cluster/data" >"$prefix.cpu-before"
    pgbench_run "$scenario" "$duration" "$prefix"
    "$bench/cpu.sh" snapshot --postgres-only --pg-data "$cluster/data" >"$prefix.cpu-after"
    done1=$(rowlock_done "$scenario")
    before=$(awk '$1 == "postgres" { s += $6 } END { print s + 0 }' "$prefix.cpu-before")
    after=$(awk '$1 == "postgres" { s += $6 } END { print s + 0 }' "$prefix.cpu-after")
    hz=$(getconf CLK_TCK)
    ticks=$(cat "$prefix.ticks")
    tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$prefix.txt" | tail -n 1)
    mean=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$prefix.txt")
    awk -v s="$scenario" -v tps="$tps" -v mean="$mean" -v ops=$((done1 - done0)) -v secs="$duration" \
        -v pg=$((after - before)) -v bench="$ticks" -v hz="$hz" -v pct="$(pgbench_percentiles "$prefix")" '
        BEGIN { per = ops > 0 ? 1e6 / hz / ops : 0
                printf "RESULT side=rowlock scenario=%s ops=%d ops_per_s=%.0f tps=%.0f mean_ms=%s %s cpu_postgres_us=%.0f cpu_pgbench_us=%.0f cpu_total_us=%.0f\n",
                    s, ops, ops / secs, tps, mean, pct, pg * per, bench * per, (pg + bench) * per }' |
        tee -a "$results/results.txt"
}

# ---------------------------------------------------------------------------------------------
# shopstream's side

shopstream_up() {
    [[ -n "${API_URL:-}" ]] && curl -fs -o /dev/null --max-time 2 "$API_URL/health"
}

shopstream_start() {
    if [[ -z "${API_URL:-}" ]]; then
        eval "$("$root/scripts/stack.sh" env)"
    fi
    if shopstream_up; then
        ss_say "using the shopstream at $API_URL"
        return 0
    fi
    ss_say "starting scripts/run.sh (log $results/run.log)"
    "$root/scripts/run.sh" >"$results/run.log" 2>&1 &
    started_run_pid=$!
    ss_wait_for "scripts/run.sh's ingress" 600 shopstream_up || {
        ss_tail_log "$results/run.log" 30
        ss_die "shopstream did not come up"
    }
    ss_say "waiting ${settle}s for the consumer groups to settle"
    sleep "$settle"
}

shopstream_prepare() {
    local env_file
    env_file="$(ss_state_dir)/bench.env"
    if ! grep -q '^BENCH_CHARGE_USER_MIN=' "$env_file" 2>/dev/null; then
        "$bench/prepare.sh" 2>>"$results/shopstream-prepare.log"
    fi
    if ! grep -q '^BENCH_ORDER_USER_MIN=' "$env_file" 2>/dev/null; then
        "$bench/prepare_orders.sh" 2>>"$results/shopstream-prepare.log"
    fi
}

# Every scenario once, discarded: the broker (and the services) warm, whatever comes first.
shopstream_warm() {
    local scenario
    ((first_warmup > 0)) || return 0
    ss_say "warming up: every scenario for ${first_warmup}s, discarded"
    for scenario in "${scenario_list[@]}"; do
        "$bench/run.sh" "$scenario" "${first_warmup}s" "$connections" \
            >"$results/shopstream-$scenario-first-warmup.txt" 2>&1
    done
}

shopstream_scenario() {
    local scenario=$1 out="$results/shopstream-$1.txt" result cpu started
    if ((warmup > 0)); then
        "$bench/run.sh" "$scenario" "${warmup}s" "$connections" >"$results/shopstream-$scenario-warmup.txt" 2>&1
    fi
    started=$(date +%s)
    "$bench/cpu.sh" run --label "shopstream_$scenario" -- \
        "$bench/run.sh" "$scenario" "${duration}s" "$connections" >"$out" 2>&1 ||
        ss_die "shopstream $scenario failed: see $out"
    bench_prometheus_save "$results/shopstream-$scenario.prometheus.json" "$started" "$(date +%s)"
    result=$(grep '^RESULT ' "$out" | tail -n 1)
    cpu=$(grep '^CPU ' "$out" | tail -n 1)
    awk -v r="$result" -v c="$cpu" 'BEGIN {
        n = split(r " " c, kv, " "); ops = ""; secs = ""
        for (i = 1; i <= n; i++) { split(kv[i], p, "="); v[p[1]] = p[2] }
        ops = v["paid"] != "" ? v["paid"] : v["requests"]
        if (v["paid"] == "" && match(v["statuses"], /(^|,)200:[0-9]+/)) {
            s = substr(v["statuses"], RSTART, RLENGTH); sub(/^,/, "", s); ops = substr(s, 5) }
        line = sprintf("RESULT side=shopstream scenario=%s ops=%d ops_per_s=%.0f rps=%s p50_ms=%s p99_ms=%s statuses=%s busy_pct=%s",
            v["scenario"], ops, ops / v["seconds"], v["rps"], v["p50_ms"], v["p99_ms"], v["statuses"], v["busy_pct"])
        split("broker postgres workers ingress sink_mock redis_rank other total", g, " ")
        for (i = 1; i <= 8; i++) line = line " cpu_" g[i] "_us=" v[g[i] "_us"]
        print line }' | tee -a "$results/results.txt"
}

# Open loop at half the rate shopstream reached in the closed-loop run of the scenario.
openloop_scenario() {
    local scenario=$1 closed rate dir="$results/openloop-$1"
    closed=$(grep "^RESULT side=shopstream scenario=$scenario " "$results/results.txt" | tail -n 1)
    rate=$(($(field "$closed" ops_per_s) / 2))
    ((rate > 0)) || rate=1
    "$bench/openloop.sh" "$scenario" "$rate" "${duration}s" "$dir" >"$dir.txt" 2>&1 ||
        ss_die "openloop $scenario failed: see $dir.txt"
    "$bench/plot.sh" run "$dir" 2>>"$dir.txt"
    sed 's/^RESULT /RESULT side=openloop /' "$dir/result.txt" | tee -a "$results/results.txt"
}

# ---------------------------------------------------------------------------------------------
# the table

field() {
    sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" <<<"$1"
}

summary() {
    local scenario rl ss ratio
    printf '\n## Row-lock design (pgbench, %s clients) against shopstream (wrk, %s connections), %s s runs\n\n' \
        "$clients" "$connections" "$duration"
    echo "| flow | shopstream ops/s | row-lock ops/s | ratio | shopstream p50 / p99 ms | row-lock p50 / p99 ms | shopstream CPU us/op | row-lock CPU us/op |"
    echo "|---|---|---|---|---|---|---|---|"
    for scenario in "${scenario_list[@]}"; do
        rl=$(grep "^RESULT side=rowlock scenario=$scenario " "$results/results.txt" | tail -n 1 || true)
        ss=$(grep "^RESULT side=shopstream scenario=$scenario " "$results/results.txt" | tail -n 1 || true)
        ratio=-
        if [[ -n "$rl" && -n "$ss" ]] && (($(field "$rl" ops_per_s) > 0)); then
            ratio=$(awk -v a="$(field "$ss" ops_per_s)" -v b="$(field "$rl" ops_per_s)" 'BEGIN { printf "%.2f", a / b }')
        fi
        printf '| %s | %s | %s | %s | %s / %s | %s / %s | %s | %s |\n' "$scenario" \
            "$(field "$ss" ops_per_s)" "$(field "$rl" ops_per_s)" "$ratio" \
            "$(field "$ss" p50_ms)" "$(field "$ss" p99_ms)" "$(field "$rl" p50_ms)" "$(field "$rl" p99_ms)" \
            "$(field "$ss" cpu_total_us)" "$(field "$rl" cpu_total_us)"
    done
    ((shopstream)) || return 0
    printf '\n## Shopstream CPU per operation (us), every process but wrk\n\n'
    echo "| flow | broker | PostgreSQL | workers | ingress | sink + mock | Redis + rank | other | total | machine busy |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for scenario in "${scenario_list[@]}"; do
        ss=$(grep "^RESULT side=shopstream scenario=$scenario " "$results/results.txt" | tail -n 1 || true)
        [[ -n "$ss" ]] || continue
        printf '| %s |' "$scenario"
        for group in broker postgres workers ingress sink_mock redis_rank other total; do
            printf ' %s |' "$(field "$ss" "cpu_${group}_us")"
        done
        printf ' %s%% |\n' "$(field "$ss" busy_pct)"
    done
    ((openloop)) || return 0
    printf '\n## Shopstream at a fixed rate (half the rate above), vegeta, %s s\n\n' "$duration"
    echo "| flow | rate /s | throughput /s | p50 ms | p90 ms | p99 ms | max ms | 202s | statuses | plots |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for scenario in "${scenario_list[@]}"; do
        ss=$(grep "^RESULT side=openloop scenario=$scenario " "$results/results.txt" | tail -n 1 || true)
        [[ -n "$ss" ]] || continue
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | openloop-%s/*.png |\n' "$scenario" \
            "$(field "$ss" rate)" "$(field "$ss" throughput)" "$(field "$ss" p50_ms)" \
            "$(field "$ss" p90_ms)" "$(field "$ss" p99_ms)" "$(field "$ss" max_ms)" \
            "$(field "$ss" count_202)" "$(field "$ss" statuses)" "$scenario"
    done
}

# ---------------------------------------------------------------------------------------------

: >"$results/results.txt"
ss_say "results in $results"
cluster_start
cluster_seed
for scenario in "${scenario_list[@]}"; do
    rowlock_scenario "$scenario"
done
cluster_stop
if ((shopstream)); then
    shopstream_start
    shopstream_prepare
    shopstream_warm
    for scenario in "${scenario_list[@]}"; do
        shopstream_scenario "$scenario"
    done
    if ((openloop)); then
        for scenario in "${scenario_list[@]}"; do
            openloop_scenario "$scenario"
        done
    fi
fi
summary | tee "$results/summary.md"

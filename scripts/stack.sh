#!/usr/bin/env bash
#
# The local stack shopstream runs and tests against: a single-node Kafka 4.1.1 broker (KRaft, jars
# fetched from Maven Central with Maven into a reused cache), PostgreSQL 15 (its own cluster, run
# as the postgres account), Redis 7 and Prometheus (Debian's package, scraping the targets that
# scripts/run.sh and the tests write into <state>/prometheus/targets/), all on loopback with fixed
# non-default ports, plus the topics of schemas/topics.tsv and the migrations of schemas/sql.
#
# usage: scripts/stack.sh start    start what is not running, create topics, apply migrations
#        scripts/stack.sh stop     stop everything, wait, verify no process is left
#        scripts/stack.sh status   one line per component; exit 0 only if all run
#        scripts/stack.sh env      shell exports for the services and tests: eval "$(... env)"
#        scripts/stack.sh reset    stop, then delete the state folder (not the jar cache)
#        scripts/stack.sh logs     print where the logs are
#
# Environment: SS_STATE_DIR (default <repo>/.state), SS_CACHE_DIR (default
# ${XDG_CACHE_HOME:-$HOME/.cache}/shopstream), SS_KAFKA_PORT (19092), SS_KAFKA_CONTROLLER_PORT
# (kafka port + 1), SS_PG_PORT (15432), SS_REDIS_PORT (16379), SS_INGRESS_PORT (18080),
# SS_MOCK_PLATFORM_PORT (18090), SS_PROMETHEUS_PORT (19090), SS_KAFKA_HEAP (512m),
# SS_STACK_TIMEOUT_S (readiness, 90), SS_PG_STATEMENTS (1: PostgreSQL loads pg_stat_statements,
# for bench/statements.sh; read when PostgreSQL starts, so stop the stack before changing it).
set -euo pipefail

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

readonly KAFKA_VERSION=4.1.1
readonly PG_BIN=/usr/lib/postgresql/15/bin
readonly LOCK_WAIT_S=600
readonly STOP_WAIT_S=60

REPO="$(ss_repo_root)"
STATE="$(ss_state_dir)"
CACHE="$(ss_cache_dir)"
KAFKA_PORT="${SS_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${SS_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
PG_PORT="${SS_PG_PORT:-15432}"
REDIS_PORT="${SS_REDIS_PORT:-16379}"
INGRESS_PORT="${SS_INGRESS_PORT:-18080}"
MOCK_PLATFORM_PORT="${SS_MOCK_PLATFORM_PORT:-18090}"
PROMETHEUS_PORT="${SS_PROMETHEUS_PORT:-19090}"
KAFKA_HEAP="${SS_KAFKA_HEAP:-512m}"
READY_TIMEOUT_S="${SS_STACK_TIMEOUT_S:-90}"

KAFKA_HOME="$CACHE/kafka-$KAFKA_VERSION"
KAFKA_JARS="$KAFKA_HOME/libs"
KAFKA_DIR="$STATE/kafka"
KAFKA_PROPS="$KAFKA_DIR/server.properties"
LOGS="$STATE/logs"
PIDS="$STATE/pids"
REDIS_DIR="$STATE/redis"
REDIS_CONF="$REDIS_DIR/redis.conf"
REDIS_PIDFILE="$PIDS/redis.pid"
KAFKA_PIDFILE="$PIDS/kafka.pid"
PG_PIDFILE="$PIDS/postgres.pid"
PROMETHEUS_DIR="$STATE/prometheus"
PROMETHEUS_CONF="$PROMETHEUS_DIR/prometheus.yml"
PROMETHEUS_TARGETS="$PROMETHEUS_DIR/targets"
PROMETHEUS_PIDFILE="$PIDS/prometheus.pid"
STATE_MARKER="$STATE/.shopstream-state"

for port_var in KAFKA_PORT KAFKA_CONTROLLER_PORT PG_PORT REDIS_PORT INGRESS_PORT MOCK_PLATFORM_PORT PROMETHEUS_PORT; do
    [[ "${!port_var}" =~ ^[0-9]{1,5}$ ]] || ss_die "$port_var='${!port_var}' is not a port number"
done
[[ "$KAFKA_HEAP" =~ ^[0-9]+[kmgKMG]$ ]] || ss_die "SS_KAFKA_HEAP='$KAFKA_HEAP' is not a JVM size such as 512m"
[[ "$READY_TIMEOUT_S" =~ ^[0-9]+$ ]] || ss_die "SS_STACK_TIMEOUT_S='$READY_TIMEOUT_S' is not a number of seconds"

# ---------------------------------------------------------------------------------------------
# helpers

# A failure names the component and shows the end of its log.
fail() {
    local component="$1" log="$2"
    shift 2
    printf '[stack.sh] ERROR: %s: %s\n' "$component" "$*" >&2
    printf '[stack.sh] %s log: %s\n' "$component" "$log" >&2
    ss_tail_log "$log" 20
    exit 1
}

# A zombie (killed, not yet reaped by its parent) counts as dead.
pid_alive() {
    local stat=""
    [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
    read -r stat <"/proc/$1/stat" 2>/dev/null || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
}

pid_cmdline() {
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true
}

read_pidfile() {
    local f="$1" pid=""
    if [[ -r "$f" ]]; then
        read -r pid <"$f" || true
    fi
    [[ "$pid" =~ ^[0-9]+$ ]] && printf '%s\n' "$pid"
    return 0
}

# Who listens on a TCP port (for error messages).
port_owner() {
    ss -H -ltnp "sport = :$1" 2>/dev/null | head -n 3 || true
}

# Waits until <ready command...> succeeds, giving up early if the process died.
await_ready() {
    local component="$1" log="$2" pid="$3"
    shift 3
    local deadline=$((SECONDS + READY_TIMEOUT_S))
    while ! "$@" >/dev/null 2>&1; do
        if [[ -n "$pid" ]] && ! pid_alive "$pid"; then
            fail "$component" "$log" "the process (pid $pid) exited during start-up"
        fi
        if ((SECONDS >= deadline)); then
            fail "$component" "$log" "not ready after ${READY_TIMEOUT_S} s"
        fi
        sleep 0.25
    done
}

# Sends SIGTERM, waits, escalates to SIGKILL, then verifies the process is gone.
kill_and_wait() {
    local component="$1" pid="$2" deadline
    pid_alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_WAIT_S))
    while pid_alive "$pid" && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if pid_alive "$pid"; then
        ss_warn "$component (pid $pid) ignored SIGTERM for ${STOP_WAIT_S} s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while pid_alive "$pid" && ((SECONDS < deadline)); do
            sleep 0.2
        done
    fi
    ! pid_alive "$pid" || ss_die "$component (pid $pid) is still running"
}

ensure_state_dirs() {
    mkdir -p "$STATE" "$LOGS" "$PIDS" "$KAFKA_DIR" "$REDIS_DIR" "$PROMETHEUS_DIR/data" "$PROMETHEUS_TARGETS"
    # Whatever the umask, the postgres account must be able to traverse the folder.
    chmod go+x "$STATE"
    [[ -e "$STATE_MARKER" ]] || printf 'shopstream local stack state; scripts/stack.sh reset deletes it\n' >"$STATE_MARKER"
}

take_lock() {
    mkdir -p "$STATE"
    exec 9>"$STATE/stack.lock"
    if ! flock -n 9; then
        ss_say "another stack.sh holds $STATE/stack.lock: waiting (at most ${LOCK_WAIT_S} s)"
        flock -w "$LOCK_WAIT_S" 9 || ss_die "could not take $STATE/stack.lock"
    fi
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL location and account. PostgreSQL refuses to run as root: as root it runs as the
# postgres account, which must be able to reach its folder; if it cannot traverse the state
# folder (a clone under /root with mode 700), the cluster lives under /var/tmp instead.

if ((EUID == 0)); then
    as_pg() { (cd / && runuser -u postgres -- "$@"); }
else
    as_pg() { (cd / && "$@"); }
fi

# Sets PG_ROOT and the paths under it. The choice is recorded in <state>/pg_location by start so
# that status and stop find the cluster again; call it after the state folder exists.
pg_locate() {
    local recorded="$STATE/pg_location"
    PG_ROOT="$STATE/pg"
    if [[ -r "$recorded" ]]; then
        PG_ROOT="$(cat "$recorded")"
    elif ((EUID == 0)) && [[ -d "$STATE" ]] && ! runuser -u postgres -- test -x "$STATE" 2>/dev/null; then
        local hash
        hash="$(printf '%s' "$STATE" | sha256sum | cut -c1-10)"
        PG_ROOT="/var/tmp/shopstream-$hash/pg"
    fi
    PG_DATA="$PG_ROOT/data"
    PG_LOG="$PG_ROOT/postgres.log"
    PG_SOCKET_DIR="$PG_ROOT/run"
    if ((${#PG_SOCKET_DIR} > 90)); then
        PG_SOCKET_DIR="/tmp"
    fi
}

pg_postmaster_pid() {
    read_pidfile "$PG_DATA/postmaster.pid"
}

pg_running() {
    local pid
    pid="$(pg_postmaster_pid)"
    pid_alive "$pid" && [[ "$(pid_cmdline "$pid")" == *postgres*"$PG_DATA"* ]]
}

pg_psql_admin() {
    as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U postgres -d postgres "$@"
}

# ---------------------------------------------------------------------------------------------
# Kafka

kafka_pid() {
    local pid
    pid="$(read_pidfile "$KAFKA_PIDFILE")"
    if pid_alive "$pid" && [[ "$(pid_cmdline "$pid")" == *kafka.Kafka*"$KAFKA_PROPS"* ]]; then
        printf '%s\n' "$pid"
    fi
}

# The cache is complete when its marker and every jar the scripts name are there (a cache from
# before kafka-tools was added is fetched again).
kafka_jars_complete() {
    [[ -f "$KAFKA_HOME/.complete" && -f "$KAFKA_JARS/kafka-tools-$KAFKA_VERSION.jar" ]]
}

kafka_fetch_jars() {
    if kafka_jars_complete; then
        return 0
    fi
    command -v mvn >/dev/null || fail kafka "$LOGS/maven.log" "mvn not found: run scripts/install-deps.sh"
    mkdir -p "$CACHE"
    (
        exec 8>"$CACHE/kafka-$KAFKA_VERSION.lock"
        flock -w "$LOCK_WAIT_S" 8 || exit 1
        if kafka_jars_complete; then
            exit 0
        fi
        ss_say "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_HOME"
        tmp="$KAFKA_HOME.tmp.$$"
        rm -rf "$tmp"
        mvn -B -f "$REPO/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
            dependency:copy-dependencies -DoutputDirectory="$tmp/libs" >"$LOGS/maven.log" 2>&1 || exit 1
        [[ -f "$tmp/libs/kafka_2.13-$KAFKA_VERSION.jar" && -f "$tmp/libs/kafka-tools-$KAFKA_VERSION.jar" ]] || exit 1
        rm -rf "$KAFKA_HOME"
        mv "$tmp" "$KAFKA_HOME"
        touch "$KAFKA_HOME/.complete"
    ) 9>&- || fail kafka "$LOGS/maven.log" "could not fetch the Kafka jars with Maven"
}

kafka_render_config() {
    mkdir -p "$KAFKA_DIR/data"
    sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
        -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@LOG_DIR@|$KAFKA_DIR/data|g" \
        "$REPO/scripts/kafka/server.properties.in" >"$KAFKA_PROPS.tmp"
    mv "$KAFKA_PROPS.tmp" "$KAFKA_PROPS"
}

kafka_format() {
    if [[ -f "$KAFKA_DIR/data/meta.properties" ]]; then
        return 0
    fi
    local log="$LOGS/kafka-format.log" uuid
    if [[ ! -s "$KAFKA_DIR/cluster.id" ]]; then
        uuid="$(java -cp "$KAFKA_JARS/*" kafka.tools.StorageTool random-uuid 2>"$log")" ||
            fail kafka "$log" "StorageTool random-uuid failed"
        printf '%s\n' "$uuid" >"$KAFKA_DIR/cluster.id"
    fi
    uuid="$(cat "$KAFKA_DIR/cluster.id")"
    ss_say "formatting the KRaft log folder $KAFKA_DIR/data (cluster id $uuid)"
    java -Dlog4j2.configurationFile="$REPO/scripts/kafka/log4j2.yaml" -cp "$KAFKA_JARS/*" \
        kafka.tools.StorageTool format --ignore-formatted -t "$uuid" -c "$KAFKA_PROPS" >>"$log" 2>&1 ||
        fail kafka "$log" "StorageTool format failed"
}

kafka_metadata_ok() {
    if command -v kcat >/dev/null; then
        kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 5 -q 2>/dev/null | grep -q ' 1 brokers:'
    else
        ss_port_is_open "$KAFKA_PORT"
    fi
}

# Launches the JVM (if not running) without waiting: PostgreSQL and Redis start meanwhile.
kafka_launch() {
    local pid log="$LOGS/kafka.log"
    pid="$(kafka_pid)"
    kafka_render_config
    if [[ -n "$pid" ]]; then
        ss_say "kafka already running (pid $pid)"
    else
        if ss_port_is_open "$KAFKA_PORT" || ss_port_is_open "$KAFKA_CONTROLLER_PORT"; then
            fail kafka "$log" "port $KAFKA_PORT or $KAFKA_CONTROLLER_PORT is taken by another process: $(port_owner "$KAFKA_PORT") $(port_owner "$KAFKA_CONTROLLER_PORT")"
        fi
        command -v java >/dev/null || fail kafka "$log" "java not found: run scripts/install-deps.sh"
        kafka_fetch_jars
        kafka_format
        ss_say "starting kafka on 127.0.0.1:$KAFKA_PORT (heap $KAFKA_HEAP)"
        if [[ -f "$log" ]]; then
            mv -f "$log" "$log.1"
        fi
        # exec keeps $! the JVM's pid; setsid detaches it from our terminal; 9>&- so the JVM does
        # not inherit (and hold) the stack lock.
        (exec setsid java "-Xmx$KAFKA_HEAP" "-Xms$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
            -Djava.awt.headless=true -Dkafka.logs.dir="$LOGS" \
            -Dlog4j2.configurationFile="$REPO/scripts/kafka/log4j2.yaml" \
            -cp "$KAFKA_JARS/*" kafka.Kafka "$KAFKA_PROPS" </dev/null >"$log" 2>&1 9>&-) &
        pid=$!
        printf '%s\n' "$pid" >"$KAFKA_PIDFILE"
    fi
}

# Waits for a metadata answer, then creates the declared topics.
kafka_await() {
    local pid log="$LOGS/kafka.log"
    pid="$(read_pidfile "$KAFKA_PIDFILE")"
    await_ready kafka "$log" "$pid" kafka_metadata_ok
    ss_say "kafka ready; creating the topics of schemas/topics.tsv"
    java -cp "$KAFKA_JARS/*" "$REPO/scripts/kafka/CreateTopics.java" "127.0.0.1:$KAFKA_PORT" \
        "$REPO/schemas/topics.tsv" >"$LOGS/topics.log" 2>&1 ||
        fail kafka-topics "$LOGS/topics.log" "CreateTopics failed"
    sed 's/^/[stack.sh]   /' "$LOGS/topics.log" | grep -v '^\[stack.sh\]   SLF4J' >&2 || true
}

kafka_stop() {
    local pid
    pid="$(kafka_pid)"
    if [[ -z "$pid" ]]; then
        # No (valid) pidfile: look for a broker started on this state folder's config anyway.
        pid="$(pgrep -f -- "kafka.Kafka $KAFKA_PROPS" | head -n 1 || true)"
    fi
    if [[ -n "$pid" ]]; then
        ss_say "stopping kafka (pid $pid)"
        kill_and_wait kafka "$pid"
    fi
    rm -f "$KAFKA_PIDFILE"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

pg_write_config() {
    local conf="$PG_DATA/shopstream.conf"
    as_pg tee "$conf" >/dev/null <<EOF
# Written by scripts/stack.sh on every start; edit the script, not this file.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCKET_DIR'
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
# The outbox is inserted into and deleted from by every worker batch: vacuum it often, or each
# batch's DELETE walks the dead rows left since the last run (docs/performance.md, Orders).
autovacuum_naptime = 5s
EOF
    if [[ "${SS_PG_STATEMENTS:-0}" == 1 ]]; then
        printf "shared_preload_libraries = 'pg_stat_statements'\n" | as_pg tee -a "$conf" >/dev/null
    fi
    if ! as_pg grep -qxF "include 'shopstream.conf'" "$PG_DATA/postgresql.conf"; then
        printf "\ninclude 'shopstream.conf'\n" | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null
    fi
}

pg_init_cluster() {
    if as_pg test -f "$PG_DATA/PG_VERSION"; then
        return 0
    fi
    [[ -x "$PG_BIN/initdb" ]] || fail postgres "$PG_LOG" "$PG_BIN/initdb not found: run scripts/install-deps.sh"
    ss_say "creating the PostgreSQL cluster in $PG_DATA"
    mkdir -p "$PG_ROOT"
    if ((EUID == 0)); then
        chown postgres:postgres "$PG_ROOT"
        if [[ "$PG_ROOT" == /var/tmp/shopstream-* ]]; then
            chmod 755 "$(dirname "$PG_ROOT")"
        fi
    fi
    chmod 700 "$PG_ROOT"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >"$LOGS/initdb.log" 2>&1 ||
        fail postgres "$LOGS/initdb.log" "initdb failed"
}

pg_start() {
    printf '%s\n' "$PG_ROOT" >"$STATE/pg_location"
    if [[ "$PG_ROOT" != "$STATE/pg" ]]; then
        ss_say "the postgres account cannot reach $STATE: PostgreSQL cluster in $PG_ROOT"
    fi
    pg_init_cluster
    as_pg mkdir -p "$PG_SOCKET_DIR"
    pg_write_config
    ln -sfn "$PG_LOG" "$LOGS/postgres.log"
    if pg_running; then
        ss_say "postgres already running (pid $(pg_postmaster_pid))"
    else
        if ss_port_is_open "$PG_PORT"; then
            fail postgres "$PG_LOG" "port $PG_PORT is taken by another process: $(port_owner "$PG_PORT")"
        fi
        ss_say "starting postgres on 127.0.0.1:$PG_PORT"
        as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t "$READY_TIMEOUT_S" \
            >"$LOGS/pg_ctl.log" 2>&1 9>&- || {
            cat "$LOGS/pg_ctl.log" >&2
            fail postgres "$PG_LOG" "pg_ctl start failed"
        }
    fi
    await_ready postgres "$PG_LOG" "$(pg_postmaster_pid)" pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
    pg_postmaster_pid >"$PG_PIDFILE"
    pg_psql_admin -f - >/dev/null 2>"$LOGS/pg_setup.log" <<'EOF' || fail postgres "$LOGS/pg_setup.log" "could not create the shopstream role or database"
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'shopstream') THEN
        CREATE ROLE shopstream LOGIN PASSWORD 'shopstream';
    END IF;
END
$$;
ALTER ROLE shopstream LOGIN PASSWORD 'shopstream';
SELECT 'CREATE DATABASE shopstream OWNER shopstream ENCODING ''UTF8'' TEMPLATE template0'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'shopstream')
\gexec
EOF
    [[ "${SS_PG_STATEMENTS:-0}" == 1 ]] || return 0
    pg_psql_admin -d shopstream -f - >/dev/null 2>>"$LOGS/pg_setup.log" <<'EOF' ||
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
GRANT EXECUTE ON FUNCTION pg_stat_statements_reset(oid, oid, bigint) TO shopstream;
EOF
        fail postgres "$LOGS/pg_setup.log" "could not create the pg_stat_statements extension"
}

pg_stop() {
    local pid
    if ! pg_running; then
        rm -f "$PG_PIDFILE"
        return 0
    fi
    pid="$(pg_postmaster_pid)"
    ss_say "stopping postgres (pid $pid)"
    as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t "$STOP_WAIT_S" >"$LOGS/pg_ctl.log" 2>&1 ||
        ss_warn "pg_ctl stop failed (see $LOGS/pg_ctl.log): signalling pid $pid"
    kill_and_wait postgres "$pid"
    rm -f "$PG_PIDFILE"
}

# ---------------------------------------------------------------------------------------------
# Redis

redis_pid() {
    local pid
    pid="$(read_pidfile "$REDIS_PIDFILE")"
    if pid_alive "$pid" && [[ "$(pid_cmdline "$pid")" == *redis-server*":$REDIS_PORT"* ]]; then
        printf '%s\n' "$pid"
    fi
}

redis_ping() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

redis_start() {
    local pid log="$LOGS/redis.log"
    cat >"$REDIS_CONF" <<EOF
# Written by scripts/stack.sh on every start; edit the script, not this file.
bind 127.0.0.1
protected-mode yes
port $REDIS_PORT
daemonize yes
pidfile $REDIS_PIDFILE
logfile $log
dir $REDIS_DIR
appendonly yes
appendfsync everysec
appendfilename "appendonly.aof"
save ""
databases 16
EOF
    pid="$(redis_pid)"
    if [[ -n "$pid" ]]; then
        ss_say "redis already running (pid $pid)"
    else
        command -v redis-server >/dev/null || fail redis "$log" "redis-server not found: run scripts/install-deps.sh"
        if ss_port_is_open "$REDIS_PORT"; then
            fail redis "$log" "port $REDIS_PORT is taken by another process: $(port_owner "$REDIS_PORT")"
        fi
        ss_say "starting redis on 127.0.0.1:$REDIS_PORT"
        redis-server "$REDIS_CONF" </dev/null >>"$log" 2>&1 9>&- || fail redis "$log" "redis-server failed to start"
        local deadline=$((SECONDS + 10))
        while [[ -z "$(redis_pid)" ]] && ((SECONDS < deadline)); do
            sleep 0.1
        done
        pid="$(redis_pid)"
        [[ -n "$pid" ]] || fail redis "$log" "no pid in $REDIS_PIDFILE after start"
    fi
    await_ready redis "$log" "$pid" redis_ping
}

redis_stop() {
    local pid
    pid="$(redis_pid)"
    if [[ -n "$pid" ]]; then
        ss_say "stopping redis (pid $pid)"
        kill_and_wait redis "$pid"
    fi
    rm -f "$REDIS_PIDFILE"
}

# ---------------------------------------------------------------------------------------------
# Prometheus: Debian's binary with a config and data folder of its own under the state folder, on
# 127.0.0.1 only. Debian's package also installs a system service on port 9090; the stack never
# uses it (nor that port), so the two can run side by side.

prometheus_pid() {
    local pid
    pid="$(read_pidfile "$PROMETHEUS_PIDFILE")"
    if pid_alive "$pid" && [[ "$(pid_cmdline "$pid")" == *prometheus*"$PROMETHEUS_CONF"* ]]; then
        printf '%s\n' "$pid"
    fi
}

prometheus_ready() {
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"
}

prometheus_render_config() {
    sed -e "s|@TARGETS_DIR@|$PROMETHEUS_TARGETS|g" \
        -e "s|@PROMETHEUS_PORT@|$PROMETHEUS_PORT|g" \
        "$REPO/scripts/prometheus/prometheus.yml.in" >"$PROMETHEUS_CONF.tmp"
    mv "$PROMETHEUS_CONF.tmp" "$PROMETHEUS_CONF"
}

prometheus_start() {
    local pid log="$LOGS/prometheus.log"
    prometheus_render_config
    pid="$(prometheus_pid)"
    if [[ -n "$pid" ]]; then
        ss_say "prometheus already running (pid $pid)"
        # A running Prometheus re-reads its configuration on SIGHUP.
        kill -HUP "$pid" 2>/dev/null || true
    else
        command -v prometheus >/dev/null || fail prometheus "$log" "prometheus not found: run scripts/install-deps.sh"
        if ss_port_is_open "$PROMETHEUS_PORT"; then
            fail prometheus "$log" "port $PROMETHEUS_PORT is taken by another process: $(port_owner "$PROMETHEUS_PORT")"
        fi
        ss_say "starting prometheus on 127.0.0.1:$PROMETHEUS_PORT (targets in $PROMETHEUS_TARGETS)"
        if [[ -f "$log" ]]; then
            mv -f "$log" "$log.1"
        fi
        (exec setsid prometheus --config.file="$PROMETHEUS_CONF" \
            --storage.tsdb.path="$PROMETHEUS_DIR/data" --storage.tsdb.retention.time=7d \
            --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" </dev/null >"$log" 2>&1 9>&-) &
        pid=$!
        printf '%s\n' "$pid" >"$PROMETHEUS_PIDFILE"
    fi
    await_ready prometheus "$log" "$pid" prometheus_ready
}

prometheus_stop() {
    local pid
    pid="$(prometheus_pid)"
    if [[ -z "$pid" ]]; then
        pid="$(pgrep -f -- "prometheus --config.file=$PROMETHEUS_CONF" | head -n 1 || true)"
    fi
    if [[ -n "$pid" ]]; then
        ss_say "stopping prometheus (pid $pid)"
        kill_and_wait prometheus "$pid"
    fi
    rm -f "$PROMETHEUS_PIDFILE"
}

# ---------------------------------------------------------------------------------------------
# commands

pg_dsn() {
    printf 'postgresql://shopstream:shopstream@127.0.0.1:%s/shopstream\n' "$PG_PORT"
}

admin_token() {
    local f="$STATE/admin_token"
    if [[ ! -s "$f" ]]; then
        mkdir -p "$STATE"
        local tmp="$f.$$"
        (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$tmp")
        # ln fails if another process created the token first: then theirs is used.
        ln "$tmp" "$f" 2>/dev/null || true
        rm -f "$tmp"
    fi
    cat "$f"
}

# A listening port inside the ephemeral range can be taken at any moment by an outgoing
# connection's local port, which makes start-up fail at random.
warn_ephemeral_ports() {
    local low high port_var
    read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || return 0
    for port_var in KAFKA_PORT KAFKA_CONTROLLER_PORT PG_PORT REDIS_PORT INGRESS_PORT MOCK_PLATFORM_PORT PROMETHEUS_PORT; do
        if ((${!port_var} >= low && ${!port_var} <= high)); then
            ss_warn "$port_var=${!port_var} is in the ephemeral range $low-$high: choose a port below $low"
        fi
    done
}

cmd_start() {
    warn_ephemeral_ports
    take_lock
    ensure_state_dirs
    pg_locate
    admin_token >/dev/null
    kafka_launch
    redis_start
    prometheus_start
    pg_start
    kafka_await
    ss_say "applying schema migrations"
    "$REPO/scripts/migrate.sh" "$(pg_dsn)" "$REPO/schemas/sql" 2>"$LOGS/migrate.log" ||
        fail migrations "$LOGS/migrate.log" "scripts/migrate.sh failed"
    sed 's/^/  /' "$LOGS/migrate.log" >&2
    ss_say "stack ready (state in $STATE); eval \"\$(scripts/stack.sh env)\" to use it"
}

cmd_stop() {
    take_lock
    kafka_stop
    redis_stop
    prometheus_stop
    pg_stop
    local left=""
    [[ -z "$(kafka_pid)" ]] || left+=" kafka"
    [[ -z "$(redis_pid)" ]] || left+=" redis"
    [[ -z "$(prometheus_pid)" ]] || left+=" prometheus"
    ! pg_running || left+=" postgres"
    [[ -z "$left" ]] || ss_die "still running after stop:$left"
    ss_say "stack stopped"
}

# One status line: component, running (pid) or stopped, port and a note; 1 when stopped.
status_line() {
    local component="$1" pid="$2" port="$3" note="${4:-}"
    if [[ -n "$pid" ]]; then
        printf '%-10s running  pid %-8s port %s%s\n' "$component" "$pid" "$port" "$note"
    else
        printf '%-10s stopped  %-12s port %s%s\n' "$component" "" "$port" "$note"
        return 1
    fi
}

cmd_status() {
    local all=0 note="" pg_pid=""
    status_line kafka "$(kafka_pid)" "$KAFKA_PORT" " (controller $KAFKA_CONTROLLER_PORT)" || all=1
    if [[ "$PG_ROOT" != "$STATE/pg" ]]; then
        note=" (cluster in $PG_ROOT: postgres cannot reach $STATE)"
    fi
    if pg_running; then
        pg_pid="$(pg_postmaster_pid)"
    fi
    status_line postgres "$pg_pid" "$PG_PORT" "$note" || all=1
    status_line redis "$(redis_pid)" "$REDIS_PORT" || all=1
    status_line prometheus "$(prometheus_pid)" "$PROMETHEUS_PORT" " (targets in $PROMETHEUS_TARGETS)" || all=1
    return "$all"
}

cmd_env() {
    local kv
    for kv in \
        "API_URL=http://127.0.0.1:$INGRESS_PORT" \
        "KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT" \
        "PG_DSN=$(pg_dsn)" \
        "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" \
        "ADMIN_TOKEN=$(admin_token)" \
        "MOCK_PLATFORM_URL=http://127.0.0.1:$MOCK_PLATFORM_PORT" \
        "PLATFORM_URL=${PLATFORM_URL:-http://127.0.0.1:$MOCK_PLATFORM_PORT}" \
        "PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_PORT" \
        "SS_STATE_DIR=$STATE" \
        "SS_KAFKA_LIBS=$KAFKA_JARS" \
        "SS_KAFKA_PORT=$KAFKA_PORT" \
        "SS_PG_PORT=$PG_PORT" \
        "SS_REDIS_PORT=$REDIS_PORT" \
        "SS_INGRESS_PORT=$INGRESS_PORT" \
        "SS_MOCK_PLATFORM_PORT=$MOCK_PLATFORM_PORT" \
        "SS_PROMETHEUS_PORT=$PROMETHEUS_PORT"; do
        printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    done
}

cmd_reset() {
    cmd_stop
    [[ -d "$STATE" ]] || return 0
    if [[ ! -e "$STATE_MARKER" ]] && find "$STATE" -mindepth 1 -maxdepth 1 ! -name stack.lock | grep -q .; then
        ss_die "$STATE has no $(basename "$STATE_MARKER") marker: not deleting it"
    fi
    if [[ "$PG_ROOT" != "$STATE/pg" && "$PG_ROOT" == /var/tmp/shopstream-*/pg ]]; then
        ss_say "deleting $(dirname "$PG_ROOT")"
        rm -rf -- "$(dirname "$PG_ROOT")"
    fi
    ss_say "deleting $STATE (the jar cache $KAFKA_HOME stays)"
    rm -rf -- "$STATE"
}

cmd_logs() {
    printf 'kafka      %s\n' "$LOGS/kafka.log"
    printf 'topics     %s\n' "$LOGS/topics.log"
    printf 'postgres   %s\n' "$PG_LOG"
    printf 'redis      %s\n' "$LOGS/redis.log"
    printf 'prometheus %s\n' "$LOGS/prometheus.log"
    printf 'migrate    %s\n' "$LOGS/migrate.log"
}

pg_locate

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
reset) cmd_reset ;;
logs) cmd_logs ;;
*)
    sed -n '/^# usage:/,/^#$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac

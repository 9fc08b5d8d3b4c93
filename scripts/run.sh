#!/usr/bin/env bash
# One command to a running shopstream: installs what is missing, builds, starts the local
# stack (Kafka, PostgreSQL, Redis) and every service, seeds demo data, prints where to send
# requests, then stays in the foreground. Ctrl-C stops every service and the stack it started.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

jobs=${SS_BUILD_JOBS:-2}
# Processes per PostgreSQL worker role (user, stock, coupon): 2 by default, 1 to measure what
# the second one adds (docs/performance.md, "Scale-out").
workers_per_role=${SS_RUN_WORKERS_PER_ROLE:-2}
[[ "$workers_per_role" =~ ^[12]$ ]] || ss_die "SS_RUN_WORKERS_PER_ROLE='$workers_per_role' must be 1 or 2"
# Ingress processes: 1 by default; 2 starts a second one (instance 1) on the next port, for the
# ingress scale-out measurement (bench/openloop.sh's BENCH_API_URLS sends to both).
ingress_count=${SS_RUN_INGRESS:-1}
[[ "$ingress_count" =~ ^[12]$ ]] || ss_die "SS_RUN_INGRESS='$ingress_count' must be 1 or 2"
scripts/install-deps.sh
ss_say "building (build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j "$jobs"

scripts/stack.sh start
eval "$(scripts/stack.sh env)"
logs="$SS_STATE_DIR/logs"
mkdir -p "$logs"

pids=()
stop_all() {
    local status=$?
    trap - INT TERM EXIT
    ss_say "stopping services"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -f "$SS_STATE_DIR"/prometheus/targets/run-*.json
    scripts/stack.sh stop
    exit "$status"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_service NAME JOB METRICS_PORT BINARY [ENV=VALUE...]: runs build/BINARY in the background,
# logging to $logs/NAME.log, when that binary exists (services arrive issue by issue), and makes
# it a target of the stack's Prometheus (job JOB, GET /metrics on 127.0.0.1:METRICS_PORT).
# Workers serve /metrics on the port SS_METRICS_PORT gives them (the ports are listed in
# README.md, "Where an operator looks"); the ingress and the mock platform on their API port.
start_service() {
    local name=$1 job=$2 metrics_port=$3 binary=$4
    shift 4
    local path
    path=$(find build -type f -name "$binary" -perm -u+x | head -n 1)
    if [ -z "$path" ]; then
        return 0
    fi
    env "$@" "$path" >>"$logs/$name.log" 2>&1 &
    pids+=("$!")
    ss_prometheus_target "run-$name" "$job" "127.0.0.1:$metrics_port"
    ss_say "started $name (pid $!, log $logs/$name.log, metrics on port $metrics_port)"
}

# Each worker serves GET /health, /ready and /metrics on its SS_METRICS_PORT (the ports agreed
# for Prometheus: 1810x for the first instance of a kind, 1811x for the second).
# Targets of an earlier run.sh that did not get to clean up would be scraped (and down) forever.
rm -f "$SS_STATE_DIR"/prometheus/targets/run-*.json
start_service mock-platform mock-platform "$SS_MOCK_PLATFORM_PORT" ss-mock-platform
# The metrics port of worker n of a role: 1810<digit> for the first, 1811<digit> for the second.
worker_port() { echo $((18090 + 10 * $1 + $2)); }
worker_metrics_urls() {
    local n
    for n in $(seq 1 "$workers_per_role"); do printf ' http://127.0.0.1:%s/metrics' "$(worker_port "$n" "$1")"; done
}
for kind in user:1 stock:2 coupon:3; do
    role=${kind%:*} port_digit=${kind#*:}
    for n in $(seq 1 "$workers_per_role"); do
        port=$(worker_port "$n" "$port_digit")
        start_service "$role-worker-$n" "$role-worker" "$port" "ss-$role-worker" \
            "SS_CLIENT_ID=$role-worker-$n" "SS_METRICS_PORT=$port"
    done
done
start_service platform-sink platform-sink 18104 ss-platform-sink SS_METRICS_PORT=18104
start_service rank-worker rank-worker 18105 ss-rank-worker SS_METRICS_PORT=18105
start_service ingress ingress "$SS_INGRESS_PORT" ss-ingress SS_INGRESS_INSTANCE=0
api_urls=$API_URL
if ((ingress_count == 2)); then
    second_port=$((SS_INGRESS_PORT + 1))
    start_service ingress-2 ingress "$second_port" ss-ingress SS_INGRESS_INSTANCE=1 \
        "SS_INGRESS_PORT=$second_port"
    api_urls="$API_URL http://127.0.0.1:$second_port"
fi

for url in $api_urls; do
    ss_wait_for "ingress $url/health" 30 curl -fsS "$url/health"
done
if [ -x scripts/seed.sh ]; then
    scripts/seed.sh
fi

cat <<EOT

shopstream is running. Send requests to $api_urls (admin token: $ADMIN_TOKEN)
  curl -s $API_URL/health
  curl -s $API_URL/ready
Metrics (Prometheus text format; /health and /ready on the same ports):
  ingress        $(for url in $api_urls; do printf '%s/metrics ' "$url"; done)
  mock platform  http://127.0.0.1:18090/metrics
  user worker   $(worker_metrics_urls 1)
  stock worker  $(worker_metrics_urls 2)
  coupon worker $(worker_metrics_urls 3)
  platform sink  http://127.0.0.1:18104/metrics
  rank worker    http://127.0.0.1:18105/metrics
Prometheus: $PROMETHEUS_URL (every service's /metrics, scraped each second)
Logs: $logs/ (the ingress's access log: component=access lines)   Stop: Ctrl-C
EOT
if [ -f "$SS_STATE_DIR/demo.txt" ]; then
    cat "$SS_STATE_DIR/demo.txt"
fi

# Stay in the foreground; say once when a service exits (its log says why).
declare -A reported=()
while true; do
    for pid in "${pids[@]}"; do
        if [ -z "${reported[$pid]:-}" ] && ! kill -0 "$pid" 2>/dev/null; then
            reported[$pid]=1
            ss_warn "a service (pid $pid) exited; see the logs in $logs"
        fi
    done
    sleep 2
done

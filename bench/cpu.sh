#!/usr/bin/env bash
# CPU per request across every process of shopstream: utime + stime (and the cutime + cstime of
# children they reaped: PostgreSQL's exited backends, Redis's rewrite forks) from /proc/<pid>/stat
# before and after a run, grouped the way issue 9's table is, divided by the run's operations.
#
#   bench/cpu.sh run [--ops N] -- <command...>   snapshot, run the command (its output passes
#                                                through), snapshot, print the report; the
#                                                operations are --ops N or come from the
#                                                command's RESULT line (paid=N for orders, else
#                                                the count of 200s in statuses=)
#   bench/cpu.sh snapshot [--pg-data DIR] [--postgres-only] [--label L] > FILE
#   bench/cpu.sh report [--label L] BEFORE AFTER OPERATIONS
#   bench/cpu.sh --help
#
# e.g. bench/cpu.sh run -- bench/run.sh order_spread 15s 256
#
# Groups: broker (Kafka's JVM, from <state>/pids/kafka.pid), postgres (the postmaster of the
# stack's cluster, from <state>/pg_location, and every process under it), workers (ss-user-,
# ss-coupon-, ss-stock-worker), ingress (ss-ingress), sink_mock (ss-platform-sink,
# ss-mock-platform), redis_rank (redis-server from <state>/pids/redis.pid, ss-rank-worker),
# other (any other ss-* binary). Services are the processes whose executable lies in this tree's
# build folder (SS_BUILD_DIR, default <repo>/build); the load generator (wrk, vegeta) is never
# counted. --pg-data DIR samples another cluster's postmaster instead; --postgres-only samples
# only that cluster (bench/compare.sh uses both for the row-lock baseline).
#
# The report prints one table (CPU seconds, share of one core, microseconds per operation per
# group) and one machine-readable line:
#   CPU label=L ops=N seconds=S busy_pct=P broker_us=.. postgres_us=.. workers_us=..
#       ingress_us=.. sink_mock_us=.. redis_rank_us=.. other_us=.. total_us=..
# busy_pct is the whole machine's busy share over the run (/proc/stat, every process included).
# A process that exits during the run without a sampled parent loses its time: the report warns.
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench/.." && pwd)
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"
# shellcheck source=bench/lib.sh
source "$bench/lib.sh"

readonly GROUPS_IN_ORDER=(broker postgres workers ingress sink_mock redis_rank other)

usage() { ss_usage "${BASH_SOURCE[0]}" "$@"; }

# stat_fields PID: sets the array f to the fields of /proc/PID/stat after "pid (comm)" (f[0] is
# the state, f[1] the ppid, f[11] utime, f[12] stime, f[13] cutime, f[14] cstime, f[19] the
# start time) and comm to the name; fails when the process is gone. No fork: /proc is walked
# once per snapshot.
stat_fields() {
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    comm=${stat#*(}
    comm=${comm%)*}
    read -r -a f <<<"${stat##*) }"
}

# proc_line GROUP PID: "GROUP NAME PID PPID STARTTIME TICKS" (TICKS = utime + stime + cutime +
# cstime) of a live process; nothing when it is gone.
proc_line() {
    local comm f
    stat_fields "$2" || return 0
    printf '%s %s %s %s %s %s\n' "$1" "${comm// /_}" "$2" "${f[1]}" "${f[19]}" \
        $((f[11] + f[12] + f[13] + f[14]))
}

read_pid_file() {
    local pid=""
    [[ -r "$1" ]] && read -r pid <"$1"
    [[ "$pid" =~ ^[0-9]+$ ]] && printf '%s\n' "$pid"
    return 0
}

service_group() {
    case "$1" in
    ss-user-worker | ss-coupon-worker | ss-stock-worker) echo workers ;;
    ss-ingress) echo ingress ;;
    ss-platform-sink | ss-mock-platform) echo sink_mock ;;
    ss-rank-worker) echo redis_rank ;;
    *) echo other ;;
    esac
}

# One walk over /proc: the postmaster's children (backends, checkpointer, walwriter, ...) and,
# unless postgres_only, the ss-* processes whose executable is in the build folder BUILD.
sample_tree() {
    local postmaster=$1 build=$2 postgres_only=$3 dir pid comm f exe
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        stat_fields "$pid" || continue
        if [[ -n "$postmaster" && "${f[1]}" == "$postmaster" ]]; then
            proc_line postgres "$pid"
        elif ((!postgres_only)) && [[ "$comm" == ss-* ]]; then
            exe=$(readlink "$dir/exe" 2>/dev/null || true)
            exe=${exe% (deleted)}
            if [[ "$exe" == "$build"/* ]]; then
                proc_line "$(service_group "$(basename "$exe")")" "$pid"
            fi
        fi
    done
}

cmd_snapshot() {
    local pg_data="" postgres_only=0 label=run state pid postmaster
    while (($# > 0)); do
        case "$1" in
        --pg-data) pg_data=$2 && shift ;;
        --postgres-only) postgres_only=1 ;;
        --label) label=$2 && shift ;;
        *) usage ;;
        esac
        shift
    done
    state=$(ss_state_dir)
    if [[ -z "$pg_data" ]]; then
        pg_data="$(cat "$state/pg_location" 2>/dev/null || echo "$state/pg")/data"
    fi
    printf 'time - %s - - %s\n' "$label" "$(date +%s%N)"
    awk '$1 == "cpu" { busy = $2 + $3 + $4 + $7 + $8 + $9; print "machine - busy - -", busy
                       print "machine - all - -", busy + $5 + $6 }' /proc/stat
    postmaster=$(read_pid_file "$pg_data/postmaster.pid")
    if [[ -n "$postmaster" ]]; then
        proc_line postgres "$postmaster"
    else
        ss_warn "no postmaster.pid in $pg_data: PostgreSQL not sampled"
    fi
    sample_tree "$postmaster" "$(cd "${SS_BUILD_DIR:-$root/build}" 2>/dev/null && pwd -P || echo /nonexistent)" "$postgres_only"
    ((postgres_only)) && return 0
    pid=$(read_pid_file "$state/pids/kafka.pid")
    [[ -n "$pid" ]] && proc_line broker "$pid"
    pid=$(read_pid_file "$state/pids/redis.pid")
    [[ -n "$pid" ]] && proc_line redis_rank "$pid"
    return 0
}

cmd_report() {
    local label=""
    if [[ "${1:-}" == --label ]]; then
        label=$2
        shift 2
    fi
    (($# == 3)) || usage
    [[ "$3" =~ ^[0-9]+$ ]] || ss_die "operations must be a count, got '$3'"
    awk -v ops="$3" -v hz="$(getconf CLK_TCK)" -v label="$label" -v order="${GROUPS_IN_ORDER[*]}" '
        FNR == 1 { file++ }
        $1 == "time" { t[file] = $6; if (label == "") label = $3; next }
        $1 == "machine" { m[file, $3] = $6; next }
        { ticks[file, $1] += $6; key = $3 " " $5
          if (file == 1) { seen[key] = $2; parent[key] = $4; group[key] = $1 } else { alive[key] = 1 } }
        END {
            seconds = (t[2] - t[1]) / 1e9
            busy = (m[2, "all"] > m[1, "all"]) ? 100 * (m[2, "busy"] - m[1, "busy"]) / (m[2, "all"] - m[1, "all"]) : 0
            for (key in seen) if (!(key in alive) && group[key] != "postgres")
                printf "[cpu.sh] WARNING: %s (pid %s) exited during the run: its CPU is not counted\n", seen[key], key > "/dev/stderr"
            n = split(order, groups, " ")
            printf "| group | CPU s | share of a core | us per op (%d ops, %.1f s, machine %.0f%% busy) |\n", ops, seconds, busy
            print "|---|---|---|---|"
            line = sprintf("CPU label=%s ops=%d seconds=%.1f busy_pct=%.0f", label, ops, seconds, busy)
            for (i = 1; i <= n; i++) {
                g = groups[i]; s = (ticks[2, g] - ticks[1, g]) / hz; total += s
                us = (ops > 0) ? s * 1e6 / ops : 0
                share = (seconds > 0) ? 100 * s / seconds : 0
                printf "| %s | %.2f | %.0f%% | %.0f |\n", g, s, share, us
                line = line sprintf(" %s_us=%.0f", g, us)
            }
            us = (ops > 0) ? total * 1e6 / ops : 0
            share = (seconds > 0) ? 100 * total / seconds : 0
            printf "| total | %.2f | %.0f%% | %.0f |\n", total, share, us
            print line sprintf(" total_us=%.0f", us)
        }' "$1" "$2"
}

cmd_run() {
    local ops="" label="" status=0
    while (($# > 0)) && [[ "$1" != -- ]]; do
        case "$1" in
        --ops) ops=$2 && shift ;;
        --label) label=$2 && shift ;;
        *) usage ;;
        esac
        shift
    done
    [[ "${1:-}" == -- && $# -ge 2 ]] || usage
    shift
    label=${label:-$(basename "$1")${2:+ $2}}
    tmp=$(mktemp -d) # global: the EXIT trap runs after this function has returned
    trap 'rm -rf -- "$tmp"' EXIT
    cmd_snapshot --label "${label// /_}" >"$tmp/before"
    "$@" | tee "$tmp/output" || status=$?
    cmd_snapshot >"$tmp/after"
    ((status == 0)) || ss_die "the command failed (exit $status)"
    cmd_report --label "${label// /_}" "$tmp/before" "$tmp/after" "${ops:-$(bench_result_ops "$tmp/output")}"
}

case "${1:-}" in
run) shift && cmd_run "$@" ;;
snapshot) shift && cmd_snapshot "$@" ;;
report) shift && cmd_report "$@" ;;
-h | --help) usage 0 ;;
*) usage ;;
esac

#!/usr/bin/env bash
# PostgreSQL's time per operation by statement, from pg_stat_statements: resets the statistics,
# runs a command, and prints the statements that took the most execution time over the run.
#
#   bench/statements.sh run [--ops N] [--top N] -- <command...>
#
# e.g. bench/statements.sh run -- bench/run.sh charge 15s 256
#
# Needs a stack whose PostgreSQL loads pg_stat_statements: start it with SS_PG_STATEMENTS=1
# (scripts/stack.sh stop; SS_PG_STATEMENTS=1 scripts/run.sh). The operations are --ops N or come
# from the command's RESULT line (paid=N for orders, else the count of 200s), as in bench/cpu.sh.
# Prints one table, heaviest first (--top, default 25): calls, rows, execution ms, microseconds
# of execution per operation, rows per call, and the start of the statement; then a STATEMENTS
# line with the totals. Execution time is what the statements ran, not all of a backend's CPU
# (parsing, the protocol and the commit's WAL flush are outside it): bench/cpu.sh gives that.
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench/.." && pwd)
# shellcheck source=scripts/lib/common.sh
source "$root/scripts/lib/common.sh"
# shellcheck source=bench/lib.sh
source "$bench/lib.sh"

usage() { ss_usage "${BASH_SOURCE[0]}" "$@"; }

pg() { psql "$PG_DSN" -X -q -v ON_ERROR_STOP=1 -A -t "$@"; }

check_loaded() {
    [[ -n "${PG_DSN:-}" ]] || ss_die 'PG_DSN is not set: eval "$(scripts/stack.sh env)"'
    local restart="scripts/stack.sh stop, then SS_PG_STATEMENTS=1 scripts/run.sh"
    local present
    present=$(pg -c "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'") ||
        ss_die "PostgreSQL at $PG_DSN does not answer"
    ((present == 1)) || ss_die "the pg_stat_statements extension is not in the database: $restart"
    pg -c 'SELECT 1 FROM pg_stat_statements LIMIT 1' >/dev/null 2>&1 ||
        ss_die "PostgreSQL does not load pg_stat_statements (shared_preload_libraries): $restart"
}

report() {
    local ops=$1 top=$2
    ((ops > 0)) || ss_die "no operations to divide by: pass --ops N"
    printf '| calls | rows | exec ms | us per op (%d ops) | rows per call | statement |\n' "$ops"
    printf '|---|---|---|---|---|---|\n'
    pg -F '|' -v ops="$ops" -v top="$top" <<'EOF'
SELECT '', calls, rows, round(total_exec_time::numeric), round((total_exec_time * 1000 / :ops)::numeric, 1),
       round(rows::numeric / greatest(calls, 1), 1),
       left(regexp_replace(query, '\s+', ' ', 'g'), 90), ''
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query NOT LIKE '%pg_stat_statements%'
 ORDER BY total_exec_time DESC
 LIMIT :top
EOF
    pg -v ops="$ops" <<'EOF'
SELECT format('STATEMENTS ops=%s calls=%s exec_ms=%s exec_us_per_op=%s calls_per_op=%s', :ops,
              coalesce(sum(calls), 0), round(coalesce(sum(total_exec_time), 0)::numeric),
              round((coalesce(sum(total_exec_time), 0) * 1000 / :ops)::numeric, 1),
              round(coalesce(sum(calls), 0)::numeric / :ops, 3))
  FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query NOT LIKE '%pg_stat_statements%'
EOF
}

cmd_run() {
    local ops="" top=25 status=0
    while (($# > 0)) && [[ "$1" != -- ]]; do
        case "$1" in
        --ops) ops=$2 && shift ;;
        --top) top=$2 && shift ;;
        *) usage ;;
        esac
        shift
    done
    [[ "${1:-}" == -- && $# -ge 2 ]] || usage
    shift
    [[ -z "$ops" || "$ops" =~ ^[0-9]+$ ]] || ss_die "--ops takes a count, not '$ops'"
    [[ "$top" =~ ^[0-9]+$ ]] || ss_die "--top takes a count, not '$top'"
    check_loaded
    tmp=$(mktemp -d) # global: the EXIT trap runs after this function has returned
    trap 'rm -rf -- "$tmp"' EXIT
    pg -c 'SELECT pg_stat_statements_reset()' >/dev/null
    "$@" | tee "$tmp/output" || status=$?
    ((status == 0)) || ss_die "the command failed (exit $status)"
    report "${ops:-$(bench_result_ops "$tmp/output")}" "$top"
}

case "${1:-}" in
run) shift && cmd_run "$@" ;;
-h | --help) usage 0 ;;
*) usage ;;
esac

# shellcheck shell=bash
#
# Shared shell helpers for the scripts in scripts/ (stack.sh, migrate.sh, install-deps.sh and the
# lead's run.sh / test.sh). Source it; it defines functions only and changes no shell option:
#
#   ss_repo_root            prints the repository root (the parent of scripts/)
#   ss_state_dir            prints the state folder: ${SS_STATE_DIR:-<repo>/.state}
#   ss_cache_dir            prints the download cache: ${SS_CACHE_DIR:-$XDG_CACHE_HOME/shopstream}
#   ss_say <words...>       prints a progress line on stderr, prefixed with the script's name
#   ss_warn <words...>      same, marked as a warning
#   ss_die <words...>       prints an error line on stderr and exits 1
#   ss_usage <script> [status]
#                           prints the script's header comment (the lines after the shebang up
#                           to the first that is not a comment, without their "# ") and exits
#                           with status (default 2): the usage text of the bench scripts
#   ss_wait_for <what> <timeout_s> <command...>
#                           runs <command...> every 0.25 s until it succeeds (returns 0) or the
#                           timeout expires (prints "<what> not ready after <timeout_s> s",
#                           returns 1). The command's output is discarded.
#   ss_tail_log <file> [n]  prints the last n (default 20) lines of a log file on stderr
#   ss_port_is_open <port> [host]
#                           succeeds when a TCP connection to host (default 127.0.0.1) is accepted
#   ss_prometheus_target <file name> <job> <host:port>
#                           writes <state>/prometheus/targets/<file name>.json, a file_sd target
#                           the local stack's Prometheus scrapes (GET /metrics) within seconds;
#                           deleting the file stops the scraping

if [[ -n "${SS_COMMON_SH_LOADED:-}" ]]; then
    return 0
fi
SS_COMMON_SH_LOADED=1

ss_repo_root() {
    local here
    here="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
    printf '%s\n' "$here"
}

ss_state_dir() {
    printf '%s\n' "${SS_STATE_DIR:-$(ss_repo_root)/.state}"
}

ss_cache_dir() {
    printf '%s\n' "${SS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/shopstream}"
}

ss_say() {
    printf '[%s] %s\n' "$(basename "${0:-shopstream}")" "$*" >&2
}

ss_warn() {
    printf '[%s] WARNING: %s\n' "$(basename "${0:-shopstream}")" "$*" >&2
}

ss_die() {
    printf '[%s] ERROR: %s\n' "$(basename "${0:-shopstream}")" "$*" >&2
    exit 1
}

ss_usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$1"
    exit "${2:-2}"
}

ss_tail_log() {
    local file="$1" lines="${2:-20}"
    if [[ -r "$file" ]]; then
        printf -- '----- last %s lines of %s -----\n' "$lines" "$file" >&2
        tail -n "$lines" -- "$file" >&2 || true
        printf -- '----- end of %s -----\n' "$file" >&2
    else
        printf -- '(no log at %s)\n' "$file" >&2
    fi
}

ss_port_is_open() {
    local port="$1" host="${2:-127.0.0.1}"
    # A subshell so the descriptor is closed whatever happens; bash's /dev/tcp needs no tool.
    (exec 3<>"/dev/tcp/${host}/${port}") 2>/dev/null
}

ss_wait_for() {
    if (($# < 3)); then
        ss_die "usage: ss_wait_for <what> <timeout_s> <command...>"
    fi
    local what="$1" timeout_s="$2"
    shift 2
    local deadline=$((SECONDS + timeout_s))
    while true; do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        if ((SECONDS >= deadline)); then
            ss_warn "${what} not ready after ${timeout_s} s"
            return 1
        fi
        sleep 0.25
    done
}

ss_prometheus_target() {
    local name="$1" job="$2" address="$3" dir
    dir="$(ss_state_dir)/prometheus/targets"
    mkdir -p "$dir"
    # Written aside and renamed, so Prometheus never reads half a file.
    printf '[{"targets": ["%s"], "labels": {"job": "%s"}}]\n' "$address" "$job" >"$dir/.$name.json.tmp"
    mv -f "$dir/.$name.json.tmp" "$dir/$name.json"
}

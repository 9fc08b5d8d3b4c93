#!/usr/bin/env bash
#
# Proves the monitoring files hold together without running them: the Grafana dashboard is JSON
# Grafana can load (every panel queries the provisioned data source by its uid), every PromQL
# expression in it parses (promtool check rules on the expressions), every ss_* metric it
# queries is one the binaries expose (its name, or for a histogram's _bucket/_count/_sum its
# base name, appears in the C sources of lib/, producers/ or workers/), the compose file's
# Prometheus configuration and the local stack's (scripts/prometheus/prometheus.yml.in, rendered
# as scripts/stack.sh renders it) pass promtool check config, every host the compose Prometheus
# scrapes is a compose service listening there (SS_METRICS_PORT), and every file compose.yaml
# mounts from docker/ exists. promtool
# comes with Debian's prometheus package (scripts/install-deps.sh).
#
# usage: docker/check-monitoring.sh [dashboard.json] [prometheus.yml]
#        (defaults: docker/grafana/dashboards/shopstream.json, docker/prometheus/prometheus.yml)
set -euo pipefail

# shellcheck source=../scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"

root="$(ss_repo_root)"
dashboard="${1:-$root/docker/grafana/dashboards/shopstream.json}"
prometheus_config="${2:-$root/docker/prometheus/prometheus.yml}"
datasources="$root/docker/grafana/provisioning/datasources/prometheus.yaml"
work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT

command -v promtool >/dev/null || ss_die "promtool not found: run scripts/install-deps.sh"
command -v jq >/dev/null || ss_die "jq not found: run scripts/install-deps.sh"

ss_say "checking $dashboard"
jq -e . "$dashboard" >/dev/null || ss_die "$dashboard is not JSON"
uid="$(sed -n 's/^ *uid: *//p' "$datasources" | head -n 1)"
[[ -n "$uid" ]] || ss_die "no data source uid in $datasources"
# Every panel: a title, at least one query, each with an expression, on the provisioned source.
jq -e --arg uid "$uid" '
    (.panels | length > 0) and
    all(.panels[]; (.title | length > 0) and (.targets | length > 0) and
        .datasource.uid == $uid and
        all(.targets[]; (.expr | length > 0) and .datasource.uid == $uid))' "$dashboard" >/dev/null ||
    ss_die "$dashboard: a panel without a title or a query, or not on the data source $uid"

# Grafana's $__rate_interval is not PromQL: promtool parses the expressions with 1m in its place.
jq -r '.panels[].targets[].expr' "$dashboard" >"$work/expressions.txt"
{
    printf 'groups:\n  - name: dashboard\n    rules:\n'
    n=0
    while IFS= read -r expression; do
        n=$((n + 1))
        printf '      - record: dashboard_expression_%d\n        expr: %s\n' "$n" \
            "$(jq -Rn --arg e "${expression//\$__rate_interval/1m}" '$e')"
    done <"$work/expressions.txt"
} >"$work/rules.yml"
promtool check rules "$work/rules.yml" >"$work/promtool.txt" 2>&1 || {
    cat "$work/promtool.txt" >&2
    ss_die "$dashboard: a PromQL expression does not parse"
}

# The names the binaries expose are string literals in their sources.
unknown=()
mapfile -t metrics < <(grep -oE '\bss_[a-z0-9_]+' "$work/expressions.txt" | sort -u)
for metric in "${metrics[@]}"; do
    base="$(sed -E 's/_(bucket|count|sum)$//' <<<"$metric")"
    if ! grep -rqwF --include='*.c' --include='*.h' -e "$metric" -e "$base" \
        "$root/lib" "$root/producers" "$root/workers"; then
        unknown+=("$metric")
    fi
done
((${#unknown[@]} == 0)) || ss_die "$dashboard queries metrics no binary exposes: ${unknown[*]}"
ss_say "dashboard: $(jq '.panels | length' "$dashboard") panels, ${#metrics[@]} metrics, all exposed"

ss_say "checking $prometheus_config and the local stack's Prometheus configuration"
promtool check config "$prometheus_config" >"$work/promtool.txt" 2>&1 || {
    cat "$work/promtool.txt" >&2
    ss_die "$prometheus_config is not a valid Prometheus configuration"
}
mkdir -p "$work/targets"
sed -e "s|@TARGETS_DIR@|$work/targets|g" -e "s|@PROMETHEUS_PORT@|19090|g" \
    "$root/scripts/prometheus/prometheus.yml.in" >"$work/local.yml"
promtool check config "$work/local.yml" >"$work/promtool.txt" 2>&1 || {
    cat "$work/promtool.txt" >&2
    ss_die "scripts/prometheus/prometheus.yml.in is not a valid Prometheus configuration"
}

# What the compose Prometheus scrapes, one "host port static|dns" line per target.
awk '
    /- targets:/ {
        while (match($0, /"[a-z0-9.-]+:[0-9]+"/)) {
            split(substr($0, RSTART + 1, RLENGTH - 2), target, ":")
            print target[1], target[2], "static"
            $0 = substr($0, RSTART + RLENGTH)
        }
    }
    /- names:/ { match($0, /"[a-z0-9-]+"/); name = substr($0, RSTART + 1, RLENGTH - 2) }
    /^ *port:/ && name != "" { print name, $2, "dns"; name = "" }' "$prometheus_config" >"$work/scraped.txt"

# Each scraped host is a compose service; one that sets SS_METRICS_PORT, or is found through DNS
# (the workers' replicas), sets it to the port scraped.
mapfile -t services < <(sed -n '/^services:/,/^[a-z]/ s/^  \([a-z0-9-]*\):.*/\1/p' "$root/docker/compose.yaml")
problems=()
while read -r host port kind; do
    [[ "$host" != 127.0.0.1 ]] || continue
    if [[ " ${services[*]} " != *" $host "* ]]; then
        problems+=("$host is not a compose service")
        continue
    fi
    block="$(sed -n "/^  $host:\$/,/^  [a-z0-9-]*:\$/p" "$root/docker/compose.yaml")"
    if [[ "$kind" == dns || "$block" == *SS_METRICS_PORT:* ]] &&
        ! grep -qE "^ +SS_METRICS_PORT: \"?$port\"?\$" <<<"$block"; then
        problems+=("$host does not set SS_METRICS_PORT: $port")
    fi
done <"$work/scraped.txt"
((${#problems[@]} == 0)) || ss_die "$prometheus_config does not match docker/compose.yaml: $(
    IFS=';'
    printf '%s' "${problems[*]}"
)"

# Bind mounts of compose.yaml that come from docker/ itself (./...).
missing=()
while IFS= read -r source; do
    [[ -e "$root/docker/$source" ]] || missing+=("$source")
done < <(sed -nE 's/^ *- \.\/([^:]+):.*/\1/p' "$root/docker/compose.yaml")
((${#missing[@]} == 0)) || ss_die "docker/compose.yaml mounts files that do not exist: ${missing[*]}"
ss_say "monitoring files: ok"

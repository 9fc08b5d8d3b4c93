#!/usr/bin/env bash
#
# The monitoring files hold together: docker/check-monitoring.sh passes on the Grafana dashboard
# and both Prometheus configurations, and refuses broken copies in a temporary folder, so the
# check can fail: a dashboard that is not JSON, one that queries a metric no binary exposes, one
# with an expression that is not PromQL, a Prometheus configuration with an unknown key, and one
# scraping a host that is no compose service, and one scraping a worker on another port than its
# SS_METRICS_PORT.
#
# usage: tests/scripts/test_monitoring.sh [build-dir]     (ctest passes it; unused)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
check="$root/docker/check-monitoring.sh"
dashboard="$root/docker/grafana/dashboards/shopstream.json"
prometheus_config="$root/docker/prometheus/prometheus.yml"
work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT

fail() {
    printf 'test_monitoring: FAIL: %s\n' "$*" >&2
    exit 1
}

"$check" "$dashboard" "$prometheus_config" || fail "docker/check-monitoring.sh refuses the real files"

expect_refused() {
    local what="$1" reason="$2"
    shift 2
    if "$check" "$@" >"$work/out.txt" 2>&1; then
        cat "$work/out.txt" >&2
        fail "$what passed"
    fi
    grep -qF -- "$reason" "$work/out.txt" || {
        cat "$work/out.txt" >&2
        fail "$what was refused, but not for \"$reason\""
    }
    printf 'test_monitoring: refused as expected: %s\n' "$what"
}

head -c 200 "$dashboard" >"$work/truncated.json"
expect_refused "a truncated dashboard" "is not JSON" "$work/truncated.json" "$prometheus_config"

jq '.panels[0].targets[0].expr = "rate(ss_no_such_metric_total[5m])"' "$dashboard" >"$work/unknown.json"
expect_refused "a dashboard querying ss_no_such_metric_total" \
    "queries metrics no binary exposes: ss_no_such_metric_total" "$work/unknown.json" "$prometheus_config"

jq '.panels[0].targets[0].expr = "sum by (route (rate(ss_http_requests_total[5m]))"' "$dashboard" >"$work/unparsable.json"
expect_refused "a dashboard with an expression that does not parse" \
    "a PromQL expression does not parse" "$work/unparsable.json" "$prometheus_config"

sed 's/^  scrape_interval: 5s$/  scrape_intervall: 5s/' "$prometheus_config" >"$work/prometheus.yml"
cmp -s "$prometheus_config" "$work/prometheus.yml" && fail "sed did not break the Prometheus configuration"
expect_refused "a Prometheus configuration with scrape_intervall" \
    "is not a valid Prometheus configuration" "$dashboard" "$work/prometheus.yml"

sed 's/"mock-platform:18090"/"mock-platfrom:18090"/' "$prometheus_config" >"$work/stray.yml"
cmp -s "$prometheus_config" "$work/stray.yml" && fail "sed did not change the mock platform's target"
expect_refused "a Prometheus configuration scraping mock-platfrom" \
    "mock-platfrom is not a compose service" "$dashboard" "$work/stray.yml"

sed 's/^        port: 18101$/        port: 18109/' "$prometheus_config" >"$work/port.yml"
cmp -s "$prometheus_config" "$work/port.yml" && fail "sed did not change the user worker's port"
expect_refused "a Prometheus configuration scraping user-worker on 18109" \
    "user-worker does not set SS_METRICS_PORT: 18109" "$dashboard" "$work/port.yml"

printf 'test_monitoring: ok\n'

#!/usr/bin/env bash
#
# The browsable API page, as a person sees it: starts an ss-ingress of this build against the
# stack (its environment comes from scripts/stack.sh env, as for every integration test), waits
# for /ready, and opens GET /docs in Debian's headless Chromium with every host name but
# 127.0.0.1 made unresolvable, so the page can only work with what the ingress serves. Passes
# when the rendered DOM (after a virtual-time budget) names several endpoints, which only
# Redoc's rendering of /openapi.json can put there (the page's own HTML names none: checked
# too), and the screenshot was written. Then the check is shown to fail: an ingress whose
# script is missing (SS_DOCS_ASSET_PATH pointing nowhere) serves a page that renders no endpoint.
# First of all, the vendored bundle must match its SHA256SUMS. The screenshot is kept in the
# build folder (tests/docs-page/api-docs.png, 1280x4400: the overview, health and balance
# endpoints); docs/api-docs.png is one of these.
#
# usage: tests/scripts/test_docs_page.sh <build-dir>     (ctest passes it)
set -euo pipefail

build_dir="${1:-${SS_BUILD_DIR:?usage: $0 <build-dir>}}"
ingress="$build_dir/producers/ingress/ss-ingress"
out="$build_dir/tests/docs-page"
# The endpoints whose paths must appear in the rendered page.
readonly ENDPOINTS=(
    "/api/v1/users/{id}/balance/charge"
    "/api/v1/products/popular"
    "/api/v1/orders/{id}"
    "/api/v1/requests/{id}"
    "/api/v1/admin/coupons/{id}"
)

fail() {
    printf 'test_docs_page: FAIL: %s\n' "$*" >&2
    if [[ -r "$out/ingress.log" ]]; then
        tail -n 20 "$out/ingress.log" >&2
    fi
    exit 1
}

[[ -x "$ingress" ]] || fail "$ingress not built"
# The vendored bundle is the one scripts/vendor-redoc.sh fetched and checked.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
(cd "$root/docs/vendor/redoc" && sha256sum --quiet -c SHA256SUMS) ||
    fail "docs/vendor/redoc does not match its SHA256SUMS: re-run scripts/vendor-redoc.sh"
command -v chromium >/dev/null || fail "chromium not found: run scripts/install-deps.sh"
command -v curl >/dev/null || fail "curl not found: run scripts/install-deps.sh"
rm -rf "$out"
mkdir -p "$out"

# A free port: the first of a range that nothing listens on.
port=""
for candidate in $(seq 18390 18399); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
        port=$candidate
        break
    fi
done
[[ -n "$port" ]] || fail "no free port in 18390..18399"
base="http://127.0.0.1:$port"

ingress_pid=""
ingress_stop() {
    if [[ -n "$ingress_pid" ]]; then
        kill "$ingress_pid" 2>/dev/null || true
        wait "$ingress_pid" 2>/dev/null || true
        ingress_pid=""
    fi
}
trap ingress_stop EXIT

# ingress_start [VAR=value...]: an ingress on $port with the stack's environment, ready.
ingress_start() {
    env SS_INGRESS_PORT="$port" SS_INGRESS_INSTANCE=3 \
        ADMIN_TOKEN="${ADMIN_TOKEN:-docs-page-test-token-0123456789}" "$@" \
        "$ingress" >>"$out/ingress.log" 2>&1 &
    ingress_pid=$!
    for _ in $(seq 1 120); do
        if curl -fsS -o /dev/null "$base/ready" 2>/dev/null; then
            return 0
        fi
        kill -0 "$ingress_pid" 2>/dev/null || fail "ss-ingress exited"
        sleep 0.25
    done
    fail "ss-ingress not ready after 30 s at $base/ready"
}

# chromium_run <profile> <args...>: root needs --no-sandbox; no host but this one resolves. Each
# ingress gets a fresh profile: the script is cached for a day (Cache-Control), so a profile that
# saw it would render the page even from an ingress that cannot serve it.
chromium_run() {
    local profile="$out/profile-$1"
    shift
    timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$profile" \
        --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
        --window-size=1280,4400 --virtual-time-budget=20000 "$@" 2>>"$out/chromium.log"
}

# Renders GET /docs into $out/<name>.html and sets `missing` to the endpoints it does not show.
render() {
    chromium_run "$1" --dump-dom "$base/docs" >"$out/$1.html" ||
        fail "chromium --dump-dom failed (see $out/chromium.log)"
    missing=()
    for endpoint in "${ENDPOINTS[@]}"; do
        grep -qF "$endpoint" "$out/$1.html" || missing+=("$endpoint")
    done
}

ingress_start

# The raw page names no endpoint: whatever the browser shows comes from rendering.
curl -fsS "$base/docs" >"$out/page.html" || fail "GET /docs failed"
for endpoint in "${ENDPOINTS[@]}"; do
    if grep -qF "$endpoint" "$out/page.html"; then
        fail "the page's HTML already names $endpoint: the check below would prove nothing"
    fi
done
curl -fsS -o /dev/null "$base/docs/redoc.standalone.js" || fail "GET /docs/redoc.standalone.js failed"

render dom
((${#missing[@]} == 0)) || fail "the rendered page does not show: ${missing[*]} (DOM in $out/dom.html)"
chromium_run dom --screenshot="$out/api-docs.png" "$base/docs" >/dev/null ||
    fail "chromium --screenshot failed (see $out/chromium.log)"
[[ -s "$out/api-docs.png" ]] || fail "no screenshot at $out/api-docs.png"
printf 'test_docs_page: ok: %s endpoints rendered, screenshot %s\n' "${#ENDPOINTS[@]}" "$out/api-docs.png"

# The same check on a page whose script cannot be had must fail.
ingress_stop
ingress_start SS_DOCS_ASSET_PATH="$out/no-such-redoc.js"
render dom-without-script
((${#missing[@]} == ${#ENDPOINTS[@]})) ||
    fail "without its script the page still shows endpoints: the check proves nothing"
printf 'test_docs_page: ok: without its script the page renders none of them\n'

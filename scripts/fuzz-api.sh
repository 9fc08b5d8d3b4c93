#!/usr/bin/env bash
#
# Fuzzes the HTTP API against its own OpenAPI document: schemathesis (installed by
# scripts/install-deps.sh) reads GET /openapi.json from a running ingress and sends it generated
# requests, valid and invalid, with every check on (5xx, status codes, response schemas and
# headers, invalid data accepted, valid data refused, auth ignored, ...), once per seed of
# tests/fuzz/openapi/seeds.txt, with the settings of tests/fuzz/openapi/schemathesis.toml
# (a bounded number of cases, deterministic generation). Any finding fails it. The suite runs it
# as integration.test_openapi_fuzz against an ingress and workers of its own.
#
# usage: scripts/fuzz-api.sh [base-url]     base-url defaults to $API_URL (scripts/stack.sh env)
#
# Environment: ADMIN_TOKEN (required: the ingress's admin token, for the admin routes),
# SS_FUZZ_SEEDS (space-separated seeds instead of seeds.txt), SS_FUZZ_MAX_EXAMPLES (cases per
# operation and phase instead of the file's 25), SS_FUZZ_SEED_TIMEOUT_S (one seed's run is
# killed after this long, default 150), SS_FUZZ_DOCUMENT (a document file to use instead of the
# served one: the suite checks with it that a disagreement is found), SS_CACHE_DIR (where
# install-deps.sh put the virtualenv).
set -euo pipefail

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

readonly SCHEMATHESIS_VERSION=4.32.5
REPO="$(ss_repo_root)"
FUZZ_DIR="$REPO/tests/fuzz/openapi"
SCHEMATHESIS="$(ss_cache_dir)/schemathesis-$SCHEMATHESIS_VERSION/bin/schemathesis"
readonly REPO FUZZ_DIR SCHEMATHESIS

base_url="${1:-${API_URL:-}}"
base_url="${base_url%/}"
seed_timeout_s="${SS_FUZZ_SEED_TIMEOUT_S:-150}"

[[ -n "$base_url" ]] || ss_die "no base URL: give one, or eval \"\$(scripts/stack.sh env)\" for API_URL"
[[ -n "${ADMIN_TOKEN:-}" ]] || ss_die "ADMIN_TOKEN is not set (eval \"\$(scripts/stack.sh env)\")"
[[ "$seed_timeout_s" =~ ^[0-9]+$ ]] || ss_die "SS_FUZZ_SEED_TIMEOUT_S='$seed_timeout_s' is not a number of seconds"
[[ -x "$SCHEMATHESIS" ]] || ss_die "$SCHEMATHESIS not found: run scripts/install-deps.sh"
location="${SS_FUZZ_DOCUMENT:-$base_url/openapi.json}"
if [[ -n "${SS_FUZZ_DOCUMENT:-}" ]]; then
    [[ -r "$SS_FUZZ_DOCUMENT" ]] || ss_die "SS_FUZZ_DOCUMENT=$SS_FUZZ_DOCUMENT cannot be read"
    location="$(cd "$(dirname "$SS_FUZZ_DOCUMENT")" && pwd)/$(basename "$SS_FUZZ_DOCUMENT")"
fi

if [[ -n "${SS_FUZZ_SEEDS:-}" ]]; then
    read -r -a seeds <<<"$SS_FUZZ_SEEDS"
else
    mapfile -t seeds < <(grep -Ev '^[[:space:]]*(#|$)' "$FUZZ_DIR/seeds.txt")
fi
((${#seeds[@]} > 0)) || ss_die "no seeds to run"
extra=()
if [[ -n "${SS_FUZZ_MAX_EXAMPLES:-}" ]]; then
    extra+=(--max-examples "$SS_FUZZ_MAX_EXAMPLES")
fi

# schemathesis may write next to where it runs; keep that out of the source tree.
work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT
export SS_FUZZ_HOOKS="$FUZZ_DIR/hooks.py" ADMIN_TOKEN

failed=()
for seed in "${seeds[@]}"; do
    [[ "$seed" =~ ^[0-9]+$ ]] || ss_die "seed '$seed' is not a number"
    ss_say "seed $seed: schemathesis $SCHEMATHESIS_VERSION, $location against $base_url"
    status=0
    (cd "$work" && timeout --kill-after=5 "$seed_timeout_s" "$SCHEMATHESIS" \
        --config-file "$FUZZ_DIR/schemathesis.toml" run "$location" \
        --url "$base_url" --checks all --seed "$seed" --no-color "${extra[@]}") || status=$?
    if ((status == 124 || status == 137)); then
        ss_warn "seed $seed: not finished after ${seed_timeout_s} s"
    fi
    ((status == 0)) || failed+=("$seed")
done
if ((${#failed[@]} > 0)); then
    ss_die "findings with seed(s) ${failed[*]} of ${seeds[*]}: see the FAILURES above"
fi
ss_say "no finding with seed(s) ${seeds[*]}"

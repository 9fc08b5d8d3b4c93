#!/usr/bin/env bash
#
# docker/ provably parses: docker/check-compose.sh passes on docker/compose.yaml (the Compose
# specification's JSON schema, and every environment variable set for a shopstream program is
# one its --help lists), and fails on three broken copies of it in a temporary folder, so the
# check can fail: an unknown service key, a depends_on condition Compose does not know,
# and a variable no binary reads.
#
# usage: tests/scripts/test_compose.sh <build-dir>     (ctest passes it)
set -euo pipefail

build_dir="${1:?usage: $0 <build-dir>}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
check="$root/docker/check-compose.sh"
compose="$root/docker/compose.yaml"
work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT

fail() {
    printf 'test_compose: FAIL: %s\n' "$*" >&2
    exit 1
}

"$check" "$compose" "$build_dir" || fail "docker/compose.yaml does not pass docker/check-compose.sh"

# Each broken copy must be refused, and for the reason it was broken.
expect_refused() {
    local what="$1" file="$2" reason="$3"
    if "$check" "$file" "$build_dir" >"$work/out.txt" 2>&1; then
        cat "$work/out.txt" >&2
        fail "a compose file with $what passed"
    fi
    grep -qF -- "$reason" "$work/out.txt" || {
        cat "$work/out.txt" >&2
        fail "a compose file with $what was refused, but not for \"$reason\""
    }
    printf 'test_compose: refused as expected: %s\n' "$what"
}

# The copies are edited with sed on lines that must exist; a missing line fails the test.
broken() {
    local name="$1" pattern="$2" replacement="$3"
    grep -qE -- "$pattern" "$compose" || fail "docker/compose.yaml has no line matching $pattern"
    sed -E "0,/$pattern/s//$replacement/" "$compose" >"$work/$name.yaml"
    cmp -s "$compose" "$work/$name.yaml" && fail "sed did not change $name.yaml"
    return 0
}

broken unknown-key '^    restart: unless-stopped$' '    restrat: unless-stopped'
expect_refused "an unknown service key (restrat)" "$work/unknown-key.yaml" "does not conform"

broken bad-condition '^    condition: service_healthy$' '    condition: service_ready'
expect_refused "a depends_on condition outside the enum" "$work/bad-condition.yaml" "does not conform"

broken unread-variable '^      SS_INGRESS_PORT: 18080$' '      SS_INGRESS_PORT: 18080\n      SS_INGRESS_PROT: 18080'
expect_refused "SS_INGRESS_PROT on the ingress" "$work/unread-variable.yaml" \
    "ingress-0: sets SS_INGRESS_PROT, which ss-ingress does not read"

printf 'test_compose: ok\n'

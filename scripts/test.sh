#!/usr/bin/env bash
# The whole suite, as CI runs it: installs what is missing, builds (normal and sanitizer),
# checks formatting, starts the local stack if it is not running, runs the unit tests under the
# sanitizers and then every unit and integration test against the real Kafka, PostgreSQL and
# Redis. Stops the stack again if this script started it. The last lines are ctest's summary.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh

jobs=${SS_BUILD_JOBS:-2}
scripts/install-deps.sh

ss_say "checking formatting (clang-format)"
mapfile -t sources < <(git ls-files '*.c' '*.h')
if [ "${#sources[@]}" -gt 0 ]; then
    clang-format --dry-run --Werror "${sources[@]}"
fi

ss_say "building (build/) and the sanitizer build (build-asan/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j "$jobs"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSS_SANITIZE=ON >/dev/null
ninja -C build-asan -j "$jobs"

ss_say "static analysis (cppcheck)"
cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
    --suppress=missingIncludeSystem --suppress=ctuuninitvar -I lib/include lib/src producers workers

ss_say "unit tests under address and undefined-behaviour sanitizers"
ctest --test-dir build-asan -L unit --output-on-failure -j "$jobs"

started_stack=0
if ! scripts/stack.sh status >/dev/null 2>&1; then
    started_stack=1
fi
scripts/stack.sh start
if [ "$started_stack" = 1 ] && [ -z "${SS_KEEP_STACK:-}" ]; then
    trap 'scripts/stack.sh stop || true' EXIT
fi
eval "$(scripts/stack.sh env)"
export SS_BUILD_DIR="$root/build"

# An integration test that fails is run once more (--repeat until-pass:2): a failure that
# persists fails the suite, and the first failure's output stays in this log for diagnosis.
# They race real rebalances and process kills, so a rare timing loss should not hide the rest.
ss_say "unit and integration tests against the real stack"
ctest --test-dir build --output-on-failure --timeout 900 --repeat until-pass:2

#!/usr/bin/env bash
#
# Installs, with apt-get, every Debian 12 package shopstream needs to build, test and run the
# local stack: the C toolchain and -dev libraries, PostgreSQL 15, Redis, Java 17 and Maven (for
# the Kafka broker), kcat, wrk, clang-format, cppcheck, curl, jq. Idempotent and cheap when
# nothing is missing: one dpkg-query decides, and `apt-get update` runs only when something must
# be installed. Needs root (or sudo) only in that case.
#
# usage: scripts/install-deps.sh           install what is missing
#        scripts/install-deps.sh --check   exit 1 and list what is missing, install nothing
set -euo pipefail

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

readonly SS_PACKAGES=(
    build-essential cmake ninja-build pkg-config
    librdkafka-dev libpq-dev libhiredis-dev libavro-dev libcmocka-dev libmicrohttpd-dev
    libjansson-dev libcurl4-openssl-dev
    postgresql postgresql-contrib postgresql-client redis-server redis-tools kcat
    openjdk-17-jre-headless maven
    wrk clang-format cppcheck curl jq ca-certificates util-linux iproute2 procps
)

missing_packages() {
    local pkg status
    # One dpkg-query for all packages; an unknown package prints nothing on stdout.
    declare -A installed=()
    while IFS=$'\t' read -r pkg status; do
        if [[ "$status" == "install ok installed" ]]; then
            installed[${pkg%%:*}]=1
        fi
    done < <(dpkg-query -W -f='${Package}\t${Status}\n' "${SS_PACKAGES[@]}" 2>/dev/null || true)
    for pkg in "${SS_PACKAGES[@]}"; do
        [[ -n "${installed[$pkg]:-}" ]] || printf '%s\n' "$pkg"
    done
}

command -v dpkg-query >/dev/null || ss_die "dpkg-query not found: this script supports Debian 12 only"

mapfile -t missing < <(missing_packages)
if ((${#missing[@]} == 0)); then
    ss_say "all ${#SS_PACKAGES[@]} packages present"
    exit 0
fi
if [[ "${1:-}" == "--check" ]]; then
    ss_say "missing: ${missing[*]}"
    exit 1
fi

sudo=()
if ((EUID != 0)); then
    command -v sudo >/dev/null || ss_die "missing packages (${missing[*]}) and not root: run as root"
    sudo=(sudo)
fi

ss_say "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q || ss_die "apt-get update failed"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}" || ss_die "apt-get install failed"

# Debian's postgresql package creates and starts a default cluster on port 5432; the stack runs its
# own cluster on another port and does not need it, but leaves it alone.
mapfile -t still < <(missing_packages)
((${#still[@]} == 0)) || ss_die "still missing after apt-get install: ${still[*]}"
ss_say "all ${#SS_PACKAGES[@]} packages present"

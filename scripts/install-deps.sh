#!/usr/bin/env bash
#
# Installs, with apt-get, every Debian 12 package shopstream needs to build, test and run the
# local stack: the C toolchain and -dev libraries, PostgreSQL 15, Redis, Java 17 and Maven (for
# the Kafka broker), kcat, wrk, gnuplot (bench/plot.sh), clang-format, cppcheck, curl, jq,
# Chromium (the suite renders the ingress's GET /docs page headless), Prometheus (the local
# stack's metrics, with promtool for the config checks); then check-jsonschema from
# PyPI, pinned with everything it pulls in by docker/schema/requirements.txt, into its own
# virtualenv under the download cache ($(ss_cache_dir)/venv-check-jsonschema-<version>, which
# docker/check-compose.sh uses), and vegeta (bench/openloop.sh's open-loop load generator,
# pinned) with `go install` from the Go module proxy into <cache>/bin when it is not there.
# Idempotent and cheap when nothing is missing: one dpkg-query decides, `apt-get update` runs
# only when something must be installed, and pip and Go run only when their pinned tool is
# missing. Then the API fuzzer, schemathesis 4.32.5 from PyPI with every dependency pinned
# (tests/fuzz/openapi/requirements.txt), into a virtualenv under the cache folder:
# $(ss_cache_dir)/schemathesis-4.32.5 (scripts/fuzz-api.sh runs it from there), rebuilt only
# when its marker does not name the requirements file's current hash. Needs root (or sudo) only
# for apt-get.
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
    wrk gnuplot-nox clang-format cppcheck curl jq ca-certificates util-linux iproute2 procps
    chromium python3 python3-venv prometheus
)
readonly SS_CHECK_JSONSCHEMA_REQUIREMENTS="$(ss_repo_root)/docker/schema/requirements.txt"
SS_CHECK_JSONSCHEMA_VERSION="$(sed -n 's/^check-jsonschema==//p' "$SS_CHECK_JSONSCHEMA_REQUIREMENTS")"
readonly SS_CHECK_JSONSCHEMA_VERSION
readonly SS_CHECK_JSONSCHEMA_VENV="$(ss_cache_dir)/venv-check-jsonschema-$SS_CHECK_JSONSCHEMA_VERSION"
readonly SCHEMATHESIS_VERSION=4.32.5
readonly FUZZ_LOCK_WAIT_S=600
FUZZ_REQUIREMENTS="$(ss_repo_root)/tests/fuzz/openapi/requirements.txt"
FUZZ_VENV="$(ss_cache_dir)/schemathesis-$SCHEMATHESIS_VERSION"
readonly FUZZ_REQUIREMENTS FUZZ_VENV

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

# vegeta, pinned, built from the Go module proxy into the cache (not a Debian package: Debian 12
# ships none). bench/openloop.sh finds it at <cache>/bin/vegeta.
readonly VEGETA_MODULE=github.com/tsenart/vegeta/v12
readonly VEGETA_VERSION=v12.13.0
VEGETA_BIN="$(ss_cache_dir)/bin/vegeta"

vegeta_present() {
    [[ -x "$VEGETA_BIN" && -f "$VEGETA_BIN.version" && "$(cat "$VEGETA_BIN.version")" == "$VEGETA_VERSION" ]]
}

# go install with every Go path inside the cache folder (modules, build cache, binary), so that
# nothing lands in ~/go and deleting the cache removes it all; GOTOOLCHAIN=local: no toolchain
# download. The .version file records what was built (go install overwrites the binary).
vegeta_install() {
    local cache go_bin
    cache="$(ss_cache_dir)"
    go_bin="$(command -v go || true)"
    if [[ -z "$go_bin" && -x /usr/local/go/bin/go ]]; then
        go_bin=/usr/local/go/bin/go
    fi
    [[ -n "$go_bin" ]] || ss_die "vegeta $VEGETA_VERSION is missing and so is Go (https://go.dev/dl/): install Go, then run this again"
    ss_say "installing vegeta $VEGETA_VERSION with go install into $cache/bin"
    mkdir -p "$cache/bin" "$cache/go"
    GOBIN="$cache/bin" GOPATH="$cache/go" GOMODCACHE="$cache/go/pkg/mod" GOCACHE="$cache/go/build" \
        GOTOOLCHAIN=local GOFLAGS=-modcacherw "$go_bin" install "$VEGETA_MODULE@$VEGETA_VERSION" ||
        ss_die "go install $VEGETA_MODULE@$VEGETA_VERSION failed"
    printf '%s\n' "$VEGETA_VERSION" >"$VEGETA_BIN.version"
    vegeta_present || ss_die "no $VEGETA_BIN after go install"
}

check_jsonschema_present() {
    [[ "$("$SS_CHECK_JSONSCHEMA_VENV/bin/check-jsonschema" --version 2>/dev/null)" == *" $SS_CHECK_JSONSCHEMA_VERSION" ]]
}

# Debian's python3 (not whatever python3 comes first in PATH), so the venv outlives PATH changes.
check_jsonschema_install() {
    check_jsonschema_present && return 0
    ss_say "installing check-jsonschema $SS_CHECK_JSONSCHEMA_VERSION into $SS_CHECK_JSONSCHEMA_VENV"
    rm -rf -- "$SS_CHECK_JSONSCHEMA_VENV"
    mkdir -p "$(dirname "$SS_CHECK_JSONSCHEMA_VENV")"
    /usr/bin/python3 -m venv "$SS_CHECK_JSONSCHEMA_VENV" || ss_die "could not create $SS_CHECK_JSONSCHEMA_VENV"
    "$SS_CHECK_JSONSCHEMA_VENV/bin/pip" install --quiet --disable-pip-version-check \
        -r "$SS_CHECK_JSONSCHEMA_REQUIREMENTS" || ss_die "pip install of check-jsonschema failed"
    check_jsonschema_present || ss_die "check-jsonschema $SS_CHECK_JSONSCHEMA_VERSION missing after pip install"
}

# The hash the virtualenv's marker must hold: a changed pin rebuilds it.
fuzz_requirements_hash() {
    sha256sum "$FUZZ_REQUIREMENTS" | cut -d' ' -f1
}

fuzz_venv_current() {
    [[ -x "$FUZZ_VENV/bin/schemathesis" && -r "$FUZZ_VENV/.complete" ]] &&
        [[ "$(cat "$FUZZ_VENV/.complete")" == "$(fuzz_requirements_hash)" ]]
}

# A virtualenv cannot be moved (its scripts name its path), so it is built in place under a lock
# and marked complete last: an interrupted build has no marker and is rebuilt next time.
fuzz_venv_install() {
    mkdir -p "$(dirname "$FUZZ_VENV")"
    (
        exec 8>"$FUZZ_VENV.lock"
        flock -w "$FUZZ_LOCK_WAIT_S" 8 || ss_die "could not take $FUZZ_VENV.lock"
        fuzz_venv_current && exit 0
        ss_say "installing schemathesis $SCHEMATHESIS_VERSION from PyPI into $FUZZ_VENV"
        rm -rf -- "$FUZZ_VENV"
        /usr/bin/python3 -m venv "$FUZZ_VENV" || ss_die "python3 -m venv $FUZZ_VENV failed"
        "$FUZZ_VENV/bin/pip" install --quiet --disable-pip-version-check --no-input \
            --require-virtualenv --only-binary=:all: -r "$FUZZ_REQUIREMENTS" ||
            ss_die "pip install -r $FUZZ_REQUIREMENTS failed"
        "$FUZZ_VENV/bin/schemathesis" --version | grep -qF "$SCHEMATHESIS_VERSION" ||
            ss_die "$FUZZ_VENV/bin/schemathesis is not version $SCHEMATHESIS_VERSION"
        fuzz_requirements_hash >"$FUZZ_VENV/.complete"
    ) || exit 1
}

command -v dpkg-query >/dev/null || ss_die "dpkg-query not found: this script supports Debian 12 only"

mapfile -t missing < <(missing_packages)
if [[ "${1:-}" == "--check" ]]; then
    vegeta_present || missing+=("vegeta@$VEGETA_VERSION")
    check_jsonschema_present || missing+=("check-jsonschema==$SS_CHECK_JSONSCHEMA_VERSION (venv)")
    fuzz_venv_current || missing+=("schemathesis-$SCHEMATHESIS_VERSION (virtualenv)")
    if ((${#missing[@]} > 0)); then
        ss_say "missing: ${missing[*]}"
        exit 1
    fi
    ss_say "all ${#SS_PACKAGES[@]} packages, check-jsonschema, schemathesis and vegeta $VEGETA_VERSION present"
    exit 0
fi
if ((${#missing[@]} == 0)); then
    ss_say "all ${#SS_PACKAGES[@]} packages present"
    vegeta_present || vegeta_install
    check_jsonschema_install
    fuzz_venv_install
    exit 0
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
# own cluster on another port and does not need it, but leaves it alone. Debian's prometheus
# package likewise enables a system service on port 9090 (scraping only itself and a node
# exporter we do not install); the stack runs its own on 127.0.0.1:19090, so the service we just
# installed is stopped and disabled where systemd runs (elsewhere the package could not start it).
if [[ " ${missing[*]} " == *" prometheus "* && -d /run/systemd/system ]]; then
    ss_say "stopping and disabling Debian's prometheus.service (the stack runs its own)"
    "${sudo[@]}" systemctl disable --now prometheus.service ||
        ss_warn "could not disable prometheus.service: it keeps port 9090, which the stack does not use"
fi
mapfile -t still < <(missing_packages)
((${#still[@]} == 0)) || ss_die "still missing after apt-get install: ${still[*]}"
ss_say "all ${#SS_PACKAGES[@]} packages present"
vegeta_present || vegeta_install
check_jsonschema_install
fuzz_venv_install

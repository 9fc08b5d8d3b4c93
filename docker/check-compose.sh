#!/usr/bin/env bash
#
# Proves a compose file parses as Compose means it: validates it against the Compose
# specification's JSON schema (vendored in docker/schema/, see its README.md) with
# check-jsonschema, and checks that every environment variable it sets for a shopstream program is
# one that program reads (docker/schema/compose_env.py, from the built binaries' --help).
# check-jsonschema comes from the virtualenv scripts/install-deps.sh makes.
#
# usage: docker/check-compose.sh [compose.yaml] [build-dir]
#        (defaults: docker/compose.yaml and build/ of this repository)
set -euo pipefail

# shellcheck source=../scripts/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/common.sh"

root="$(ss_repo_root)"
compose="${1:-$root/docker/compose.yaml}"
build_dir="${2:-$root/build}"
version="$(sed -n 's/^check-jsonschema==//p' "$root/docker/schema/requirements.txt")"
venv="$(ss_cache_dir)/venv-check-jsonschema-$version"
schema_dir="$root/docker/schema"

[[ -x "$venv/bin/check-jsonschema" ]] ||
    ss_die "check-jsonschema not found in $venv: run scripts/install-deps.sh"
[[ -r "$compose" ]] || ss_die "no compose file at $compose"
(cd "$schema_dir" && sha256sum --quiet -c SHA256SUMS) ||
    ss_die "docker/schema/compose-spec.json is not the vendored file (SHA256SUMS)"

ss_say "validating $compose against the Compose specification's schema"
"$venv/bin/check-jsonschema" --schemafile "$schema_dir/compose-spec.json" "$compose" ||
    ss_die "$compose does not conform to the Compose specification"
ss_say "checking the environment of every shopstream service against its binary's --help"
"$venv/bin/python" "$schema_dir/compose_env.py" "$compose" "$build_dir" "$root" ||
    ss_die "$compose sets variables its programs do not read"
ss_say "$compose: ok"

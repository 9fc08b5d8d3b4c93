#!/usr/bin/env bash
#
# Vendors Redoc's standalone bundle into docs/vendor/redoc/, the page GET /docs of the ingress
# loads (docs/vendor/redoc/README.md says why it is committed rather than fetched at build time).
# Fetches the pinned version from the npm registry with `npm pack` and refuses a tarball whose
# sha512 is not the pinned one (the registry's dist.integrity of that version), then copies
# bundles/redoc.standalone.js and its licence files and writes SHA256SUMS, which the suite checks
# (tests/docs/check_docs_page.sh). Run it only to move to another version: change both pins.
#
# usage: scripts/vendor-redoc.sh
set -euo pipefail

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

readonly REDOC_VERSION=2.5.4
readonly REDOC_INTEGRITY=sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==

command -v npm >/dev/null || ss_die "npm not found (Debian: apt-get install npm)"
command -v openssl >/dev/null || ss_die "openssl not found"
target="$(ss_repo_root)/docs/vendor/redoc"
work="$(mktemp -d)"
trap 'rm -rf -- "$work"' EXIT

ss_say "fetching redoc@$REDOC_VERSION"
(cd "$work" && npm pack --silent "redoc@$REDOC_VERSION" >/dev/null) || ss_die "npm pack redoc@$REDOC_VERSION failed"
tarball="$work/redoc-$REDOC_VERSION.tgz"
[[ -f "$tarball" ]] || ss_die "npm pack did not write $tarball"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
[[ "$actual" == "$REDOC_INTEGRITY" ]] ||
    ss_die "redoc-$REDOC_VERSION.tgz has integrity $actual, expected $REDOC_INTEGRITY"
tar -xzf "$tarball" -C "$work" package/bundles/redoc.standalone.js \
    package/bundles/redoc.standalone.js.LICENSE.txt package/LICENSE package/package.json
version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$work/package/package.json")"
[[ "$version" == "$REDOC_VERSION" ]] || ss_die "the tarball says version $version, expected $REDOC_VERSION"

mkdir -p "$target"
cp "$work/package/bundles/redoc.standalone.js" "$target/redoc.standalone.js"
cp "$work/package/bundles/redoc.standalone.js.LICENSE.txt" "$target/redoc.standalone.js.LICENSE.txt"
cp "$work/package/LICENSE" "$target/LICENSE"
(cd "$target" && sha256sum redoc.standalone.js redoc.standalone.js.LICENSE.txt LICENSE >SHA256SUMS)
ss_say "redoc $REDOC_VERSION vendored into $target"

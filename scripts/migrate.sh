#!/usr/bin/env bash
#
# Applies the database schema migrations schemas/sql/NNN_*.sql, in order, to the database named
# by PG_DSN (or the first argument), each in its own transaction together with the row that
# records it in schema_migrations(version, applied_at). A migration already recorded is skipped,
# so running this twice is harmless. version is the file name without ".sql" (e.g. "001_init").
# Two files with the same NNN are refused.
#
# usage: scripts/migrate.sh [PG_DSN] [sql dir]      (defaults: $PG_DSN, <repo>/schemas/sql)
#        SS_MIGRATE_DRY_RUN=1 scripts/migrate.sh    lists the pending migrations only
#
# Used by scripts/stack.sh start and by docker/compose.yaml's init-db job.
set -euo pipefail

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

readonly SS_MIGRATIONS_MAX=999

dsn="${1:-${PG_DSN:-}}"
sql_dir="${2:-${SS_SQL_DIR:-$(ss_repo_root)/schemas/sql}}"
[[ -n "$dsn" ]] || ss_die "no database: pass a DSN or set PG_DSN"
[[ -d "$sql_dir" ]] || ss_die "no migrations folder at $sql_dir"
command -v psql >/dev/null || ss_die "psql not found (scripts/install-deps.sh installs it)"

psql_base=(psql "$dsn" -X -q -v ON_ERROR_STOP=1 --no-psqlrc)

"${psql_base[@]}" -c "CREATE TABLE IF NOT EXISTS schema_migrations (
        version    text        PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
    )" >/dev/null 2>&1 ||
    "${psql_base[@]}" -c "SELECT 1 FROM schema_migrations LIMIT 1" >/dev/null ||
    ss_die "cannot create or read schema_migrations in $dsn"

applied="$("${psql_base[@]}" -A -t -c "SELECT version FROM schema_migrations ORDER BY version")" ||
    ss_die "cannot read schema_migrations"

shopt -s nullglob
files=("$sql_dir"/[0-9][0-9][0-9]_*.sql)
shopt -u nullglob
((${#files[@]} <= SS_MIGRATIONS_MAX)) || ss_die "more than $SS_MIGRATIONS_MAX migrations"

# Refuse duplicate numbers before applying anything.
declare -A seen_numbers=()
for file in "${files[@]}"; do
    base="$(basename "$file" .sql)"
    number="${base%%_*}"
    if [[ -n "${seen_numbers[$number]:-}" ]]; then
        ss_die "two migrations numbered $number: ${seen_numbers[$number]} and $base"
    fi
    seen_numbers[$number]="$base"
done

count_applied=0
for file in "${files[@]}"; do
    base="$(basename "$file" .sql)"
    if grep -qxF -- "$base" <<<"$applied"; then
        continue
    fi
    if [[ "${SS_MIGRATE_DRY_RUN:-0}" == 1 ]]; then
        printf 'pending %s\n' "$base"
        continue
    fi
    ss_say "applying migration $base"
    # One transaction: the file and its schema_migrations row commit together or not at all. The
    # advisory lock serialises concurrent migrators; a loser then fails on the version's primary
    # key (or on the file's own CREATE) and rolls back instead of applying anything twice.
    "${psql_base[@]}" --single-transaction \
        -c "SELECT pg_advisory_xact_lock(72631)" \
        -f "$file" \
        -c "INSERT INTO schema_migrations (version) VALUES ('${base//\'/\'\'}')" >/dev/null ||
        ss_die "migration $base failed (see the psql error above); nothing of it was applied"
    count_applied=$((count_applied + 1))
done
ss_say "migrations: ${#files[@]} found, $count_applied applied now"

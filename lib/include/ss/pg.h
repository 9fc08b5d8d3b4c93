/*
 * PostgreSQL access over libpq: one connection wrapper (ss_pg_t) with named prepared statements
 * that survive a reconnect, text-parameter queries whose failures are classified into ss_err_t
 * by SQLSTATE, explicit transactions, pipeline mode (a whole batch transaction in one round
 * trip), a reusable builder for array parameters (`unnest($1::bigint[], $2::text[])`) and
 * validating result getters.
 *
 * An ss_pg_t is NOT thread-safe: one connection per thread (see ss/pool.h). Nothing here
 * prints; every failure is described in the caller's errstr, e.g.
 * `could not execute statement "charge_apply": 23505 duplicate key value violates ...`.
 *
 * Recovering from a lost connection: a failing call returns SS_ERR_RETRIABLE and
 * ss_pg_is_broken() turns true; the caller rolls back what it was doing (ss_pg_rollback is
 * harmless on a dead connection), calls ss_pg_reset(), which reconnects and prepares every
 * registered statement again, and retries the whole unit of work.
 */
#ifndef SS_PG_H
#define SS_PG_H

#include "ss/error.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds. A statement name follows PostgreSQL's identifier limit (NAMEDATALEN - 1). */
#define SS_PG_STATEMENTS_MAX 128
#define SS_PG_STATEMENT_NAME_MAX 63
#define SS_PG_PARAMS_MAX 1024
#define SS_PG_PIPELINE_QUERIES_MAX 256
/* How long a pipeline may wait for the socket to accept what it sends or deliver results. */
#define SS_PG_PIPELINE_IO_TIMEOUT_MS 60000

typedef struct ss_pg ss_pg_t;

/* ---- classification ---------------------------------------------------------------------- */

/*
 * Maps a five-character SQLSTATE to an error kind (pure function):
 *   class 08 (connection), 40001 serialization_failure, 40P01 deadlock, 55P03
 *   lock_not_available, 57P01/57P02/57P03 shutdown, class 53 (resources) -> SS_ERR_RETRIABLE;
 *   23505 unique_violation -> SS_ERR_CONFLICT;
 *   other class 23 (check, foreign key, not null, exclusion) and class 22 (data exception)
 *   -> SS_ERR_INVALID;
 *   anything else, including NULL or a malformed code -> SS_ERR_FATAL.
 * A failure without SQLSTATE on a connection that went bad is classified SS_ERR_RETRIABLE by
 * the functions below (they know the connection; this function does not).
 */
ss_err_t ss_pg_classify_sqlstate(const char *sqlstate);

/* ---- connection -------------------------------------------------------------------------- */

/*
 * Connects to `dsn` (a URI or key=value string) with the given application_name (may be NULL)
 * and connect timeout in seconds (1..3600). On SS_OK *out is a new connection the caller frees
 * with ss_pg_destroy(). Unreachable server: SS_ERR_RETRIABLE; bad arguments: SS_ERR_INVALID.
 */
ss_err_t ss_pg_connect(const char *dsn, const char *application_name, int connect_timeout_s,
                       ss_pg_t **out, char *errstr, size_t errstr_size);

/*
 * The same, with server settings for the session in libpq's `options` form, e.g.
 * "-c lock_timeout=5000 -c statement_timeout=30000" (NULL: none). They survive ss_pg_reset().
 */
ss_err_t ss_pg_connect_options(const char *dsn, const char *application_name, int connect_timeout_s,
                               const char *server_options, ss_pg_t **out, char *errstr,
                               size_t errstr_size);

/*
 * The same with the connect bounded in milliseconds (1..3600000) instead of libpq's whole
 * seconds (at least 2): the connect runs non-blocking and gives up, SS_ERR_RETRIABLE, when the
 * server has not completed it (TCP, authentication, startup) within connect_timeout_ms. Note
 * that ss_pg_reset() reconnects with libpq's blocking connect (connect_timeout rounded up).
 */
ss_err_t ss_pg_connect_ms(const char *dsn, const char *application_name, int connect_timeout_ms,
                          const char *server_options, ss_pg_t **out, char *errstr,
                          size_t errstr_size);

/* Closes the connection and frees everything. NULL is a no-op. */
void ss_pg_destroy(ss_pg_t *pg);

/*
 * Reconnects with the original parameters and prepares every registered statement again.
 * Safe to call on a healthy connection (it is then replaced). Any open transaction is lost.
 */
ss_err_t ss_pg_reset(ss_pg_t *pg, char *errstr, size_t errstr_size);

/* A round trip (`SELECT 1`). SS_ERR_RETRIABLE when the server cannot be reached. */
ss_err_t ss_pg_ping(ss_pg_t *pg, char *errstr, size_t errstr_size);

/* True when the connection is known to be unusable: call ss_pg_reset() before using it. */
bool ss_pg_is_broken(const ss_pg_t *pg);

/* True inside a transaction block (also an aborted one that still needs ss_pg_rollback). */
bool ss_pg_in_transaction(const ss_pg_t *pg);

/*
 * The SQLSTATE of the last failed call on this connection ("23505"), or "" when the last call
 * succeeded or its failure carried none (connection lost, client-side error). Never NULL;
 * valid until the next call on pg.
 */
const char *ss_pg_last_sqlstate(const ss_pg_t *pg);

/*
 * The underlying libpq connection, borrowed (never PQfinish it). For what this module does not
 * wrap (PQescapeIdentifier, PQbackendPID ...). The pointer changes after ss_pg_reset().
 */
PGconn *ss_pg_conn(ss_pg_t *pg);

/*
 * Bounds how long ss_pg_query() and ss_pg_exec() wait for the server's answer (0, the default:
 * as long as it takes). A server that hangs or a network that drops everything then costs the
 * caller at most timeout_ms: the call returns SS_ERR_TIMEOUT and the connection is broken (an
 * answer may still be on its way), so it must be reset or destroyed. Pair it with a server-side
 * statement_timeout a little shorter, so a merely slow query ends cleanly on the server first.
 * Prepare and pipeline calls are not bounded by it.
 */
void ss_pg_set_result_timeout(ss_pg_t *pg, int timeout_ms);

/* True when the last ss_pg_query() or ss_pg_exec() gave up waiting (SS_ERR_TIMEOUT). */
bool ss_pg_timed_out(const ss_pg_t *pg);

/* ---- statements -------------------------------------------------------------------------- */

/*
 * Registers `sql` under `name` (1..63 characters) with `param_count` parameters (0..1024,
 * types inferred by the server; cast in SQL: `$1::bigint[]`) and prepares it on the server.
 * Registering the same name with the same SQL again is a no-op, so pooled connections may
 * prepare on every checkout; the same name with other SQL is SS_ERR_INVALID. An SQL error
 * (syntax, unknown table) unregisters it and returns the classified error. A lost connection
 * keeps the registration (ss_pg_reset() prepares it) and returns SS_ERR_RETRIABLE.
 * Must not be called inside a pipeline.
 */
ss_err_t ss_pg_prepare(ss_pg_t *pg, const char *name, const char *sql, int param_count,
                       char *errstr, size_t errstr_size);

/*
 * Runs a parameterless command or script with the simple protocol (BEGIN, COMMIT, SET ...,
 * several statements separated by `;`). Results are discarded.
 */
ss_err_t ss_pg_exec(ss_pg_t *pg, const char *sql, char *errstr, size_t errstr_size);

/*
 * Runs the prepared statement `statement_name`, or, when statement_name is NULL, the one-off
 * `sql`, with `param_count` text parameters `values` (a NULL entry is SQL NULL; values may be
 * NULL when param_count is 0). For a prepared statement param_count must equal the count it
 * was registered with. Results are in text format.
 * On SS_OK and when result_out is not NULL, *result_out is the result (PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK), which the caller frees with PQclear(); on failure *result_out is NULL.
 */
ss_err_t ss_pg_query(ss_pg_t *pg, const char *statement_name, const char *sql, int param_count,
                     const char *const *values, PGresult **result_out, char *errstr,
                     size_t errstr_size);

/* ---- transactions ------------------------------------------------------------------------ */

ss_err_t ss_pg_begin(ss_pg_t *pg, char *errstr, size_t errstr_size);

/*
 * Commits the open transaction.
 * - A COMMIT that fails because the connection was lost has an UNKNOWN outcome (the server may
 *   have committed before the connection dropped): SS_ERR_RETRIABLE is returned and the caller
 *   must make its unit of work idempotent. Our batches are: they check the partition's epoch
 *   and stored offset first, so a replay of an already committed batch finds the offset moved
 *   and skips it.
 * - A serialization failure or deadlock at commit: SS_ERR_RETRIABLE (nothing was committed).
 * - A COMMIT of a transaction that had already failed (the server answers ROLLBACK):
 *   SS_ERR_FATAL, since the caller ignored an earlier error.
 */
ss_err_t ss_pg_commit(ss_pg_t *pg, char *errstr, size_t errstr_size);

/*
 * Rolls back the open transaction, if any. On a lost connection there is nothing left to roll
 * back (the server discards it): that is SS_OK, and the connection stays broken until
 * ss_pg_reset().
 */
ss_err_t ss_pg_rollback(ss_pg_t *pg, char *errstr, size_t errstr_size);

/* ---- pipeline mode ----------------------------------------------------------------------- */

/*
 * Pipeline mode sends several queries without waiting for each result, then one sync, then
 * reads every result in order: `BEGIN; 5 statements; COMMIT` becomes one round trip.
 *
 *   ss_pg_pipeline_begin(pg, ...);
 *   ss_pg_pipeline_query(pg, NULL, "BEGIN", 0, NULL, ...);
 *   ss_pg_pipeline_query(pg, "offset_update", NULL, 4, values, ...);
 *   ss_pg_pipeline_query(pg, NULL, "COMMIT", 0, NULL, ...);
 *   ss_pg_pipeline_end(pg, results, 3, ...);
 *
 * If one query fails the server skips the rest up to the sync; with an explicit BEGIN the
 * session is then left in an aborted transaction: call ss_pg_rollback() after a failed
 * pipeline (a no-op when there is nothing to roll back). Only parameterised queries are allowed
 * inside (no multi-statement strings); prepare statements before ss_pg_pipeline_begin().
 */
ss_err_t ss_pg_pipeline_begin(ss_pg_t *pg, char *errstr, size_t errstr_size);

/*
 * Queues one query (same arguments as ss_pg_query, at most SS_PG_PIPELINE_QUERIES_MAX per
 * pipeline). A failure here (bad arguments, connection lost while sending) is remembered and
 * nothing more is sent: ss_pg_pipeline_end() must still be called, and reports it. If queries
 * had already gone out, ss_pg_pipeline_end() drops the session instead of syncing (and
 * reconnects with ss_pg_reset()), so that none of them takes effect, not even without BEGIN;
 * session state such as temp tables is lost with it.
 */
ss_err_t ss_pg_pipeline_query(ss_pg_t *pg, const char *statement_name, const char *sql,
                              int param_count, const char *const *values, char *errstr,
                              size_t errstr_size);

/* How many queries are queued in the current pipeline. */
size_t ss_pg_pipeline_queued(const ss_pg_t *pg);

/*
 * Sends the sync, reads every result in order and leaves pipeline mode (always, also on
 * failure). `results_out` is NULL to discard the results, or an array of `count` entries where
 * count equals ss_pg_pipeline_queued(); on SS_OK entry i is the result of query i, each freed
 * by the caller with PQclear() (ss_pg_results_clear()). On failure every entry is NULL and the
 * first error is returned, classified, with the failing query's index and name in errstr, and
 * its SQLSTATE in ss_pg_last_sqlstate().
 */
ss_err_t ss_pg_pipeline_end(ss_pg_t *pg, PGresult **results_out, size_t count, char *errstr,
                            size_t errstr_size);

/* PQclear()s results[0..count) and sets each to NULL. NULL entries are skipped. */
void ss_pg_results_clear(PGresult **results, size_t count);

/* ---- array parameters -------------------------------------------------------------------- */

/*
 * Builds a one-dimensional array literal for a text parameter, e.g. `{1,2,"a\"b",NULL}`, for
 * bulk statements: `INSERT ... SELECT * FROM unnest($1::bigint[], $2::text[])`.
 * Text elements are always double-quoted with `"` and `\` escaped, so empty strings, spaces,
 * commas, braces and the word NULL survive; a NULL pointer becomes SQL NULL.
 *
 * The struct is caller-owned (stack or embedded); its fields are private. Keep one per column
 * for the life of the worker: ss_pg_array_reset() between batches keeps the buffer, so the
 * steady state allocates nothing. Free the buffer with ss_pg_array_free().
 * An append that fails (out of memory, a NUL-containing or oversized element) leaves the array
 * failed: ss_pg_array_text() returns NULL until the next reset, so a batch can never be sent
 * with an element silently missing.
 */
typedef struct ss_pg_array {
    char *buffer;    /* "{...}" NUL-terminated, or NULL before the first append */
    size_t length;   /* bytes used, excluding the NUL */
    size_t capacity; /* bytes allocated */
    size_t count;    /* elements appended since the last reset */
    bool failed;     /* an append failed since the last reset */
} ss_pg_array_t;

/* Largest literal a builder grows to (1 GiB, PostgreSQL's limit for one value). */
#define SS_PG_ARRAY_BYTES_MAX ((size_t)1 << 30)

/* Sets an empty array; allocates nothing. */
void ss_pg_array_init(ss_pg_array_t *array);

/* Empties the array, keeping its buffer, and clears the failed state. */
void ss_pg_array_reset(ss_pg_array_t *array);

/* Frees the buffer; the array is then as after ss_pg_array_init(). NULL is a no-op. */
void ss_pg_array_free(ss_pg_array_t *array);

ss_err_t ss_pg_array_append_int64(ss_pg_array_t *array, int64_t value, char *errstr,
                                  size_t errstr_size);

/* `text` NUL-terminated, or NULL for SQL NULL. */
ss_err_t ss_pg_array_append_text(ss_pg_array_t *array, const char *text, char *errstr,
                                 size_t errstr_size);

/* `length` bytes of `text` (may hold no NUL: SS_ERR_INVALID). */
ss_err_t ss_pg_array_append_text_n(ss_pg_array_t *array, const char *text, size_t length,
                                   char *errstr, size_t errstr_size);

/* Bytes for a bytea[] parameter, in hex form (`"\\x0a1b"`); data NULL is SQL NULL. */
ss_err_t ss_pg_array_append_bytea(ss_pg_array_t *array, const void *data, size_t size, char *errstr,
                                  size_t errstr_size);

ss_err_t ss_pg_array_append_null(ss_pg_array_t *array, char *errstr, size_t errstr_size);

/*
 * The literal, "{}" when empty, or NULL when an append failed since the last reset. Borrowed:
 * valid until the next append, reset or free.
 */
const char *ss_pg_array_text(const ss_pg_array_t *array);

/* Elements appended since the last reset. */
size_t ss_pg_array_count(const ss_pg_array_t *array);

/* ---- result getters ---------------------------------------------------------------------- */

/*
 * Read one field of a text-format result. A row or column out of range, SQL NULL, or text
 * that does not parse as the type is SS_ERR_INVALID (never an assertion: it is input).
 */
bool ss_pg_is_null(const PGresult *result, int row, int column);
ss_err_t ss_pg_get_int64(const PGresult *result, int row, int column, int64_t *out, char *errstr,
                         size_t errstr_size);
ss_err_t ss_pg_get_int32(const PGresult *result, int row, int column, int32_t *out, char *errstr,
                         size_t errstr_size);
/* PostgreSQL's text form of boolean: "t" or "f". */
ss_err_t ss_pg_get_bool(const PGresult *result, int row, int column, bool *out, char *errstr,
                        size_t errstr_size);
/* Finite numbers only (numeric, real, double precision). */
ss_err_t ss_pg_get_double(const PGresult *result, int row, int column, double *out, char *errstr,
                          size_t errstr_size);
/* *out is borrowed from the result: valid until PQclear(result). */
ss_err_t ss_pg_get_text(const PGresult *result, int row, int column, const char **out, char *errstr,
                        size_t errstr_size);

#endif

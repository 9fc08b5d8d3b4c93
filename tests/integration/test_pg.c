/*
 * Integration tests for lib/src/pg.c against the real PostgreSQL at $PG_DSN: connecting,
 * prepared statements surviving a terminated backend through ss_pg_reset, transactions,
 * SQLSTATE classification of real errors, pipeline mode (a whole transaction sent before any
 * result is read), bulk unnest inserts and a round trip of tricky strings and bytes through
 * array parameters. Temp tables, or tables with a per-run name that are dropped afterwards,
 * keep runs independent of each other and of the data the database holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/pg.h"
/* The worker framework's statements, run here as the workers run them. */
#include "../../lib/src/worker_sql.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ERRSTR_SIZE 512

static const char *pg_dsn(void)
{
    const char *dsn = getenv("PG_DSN");
    if (dsn == NULL || dsn[0] == '\0') {
        fail_msg("PG_DSN is not set: run eval \"$(scripts/stack.sh env)\" first");
    }
    return dsn;
}

static ss_pg_t *connect_or_fail(const char *application_name)
{
    ss_pg_t *pg = NULL;
    char errstr[ERRSTR_SIZE];
    ss_err_t err = ss_pg_connect(pg_dsn(), application_name, 10, &pg, errstr, sizeof(errstr));
    if (err != SS_OK) {
        fail_msg("connect: %s", errstr);
    }
    return pg;
}

static void exec_or_fail(ss_pg_t *pg, const char *sql)
{
    char errstr[ERRSTR_SIZE];
    if (ss_pg_exec(pg, sql, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("%s", errstr);
    }
}

/* The single bigint a query returns. */
static int64_t query_int64(ss_pg_t *pg, const char *statement_name, const char *sql,
                           int param_count, const char *const *values)
{
    char errstr[ERRSTR_SIZE];
    PGresult *result = NULL;
    int64_t value = 0;
    if (ss_pg_query(pg, statement_name, sql, param_count, values, &result, errstr,
                    sizeof(errstr)) != SS_OK) {
        fail_msg("%s", errstr);
    }
    if (ss_pg_get_int64(result, 0, 0, &value, errstr, sizeof(errstr)) != SS_OK) {
        PQclear(result);
        fail_msg("%s", errstr);
    }
    PQclear(result);
    return value;
}

/* Ends a backend and waits until it is gone (PostgreSQL 14+: timeout in ms). */
static void terminate_backend(ss_pg_t *killer, int pid)
{
    char pid_text[16];
    snprintf(pid_text, sizeof(pid_text), "%d", pid);
    const char *values[] = {pid_text};
    char errstr[ERRSTR_SIZE];
    PGresult *result = NULL;
    if (ss_pg_query(killer, NULL, "SELECT pg_terminate_backend($1::int, 10000)", 1, values, &result,
                    errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("%s", errstr);
    }
    bool terminated = false;
    assert_int_equal(ss_pg_get_bool(result, 0, 0, &terminated, errstr, sizeof(errstr)), SS_OK);
    assert_true(terminated);
    PQclear(result);
}

/* ---- connection -------------------------------------------------------------------------- */

static void test_connect_sets_application_name_and_ping_succeeds(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    assert_int_equal(ss_pg_ping(pg, errstr, sizeof(errstr)), SS_OK);
    assert_false(ss_pg_is_broken(pg));
    assert_false(ss_pg_in_transaction(pg));

    PGresult *result = NULL;
    const char *name = NULL;
    assert_int_equal(ss_pg_query(pg, NULL, "SELECT current_setting('application_name')", 0, NULL,
                                 &result, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_pg_get_text(result, 0, 0, &name, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(name, "ss-it-pg");
    PQclear(result);
    ss_pg_destroy(pg);
}

static void test_getters_read_real_result_types(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    PGresult *result = NULL;
    assert_int_equal(ss_pg_query(pg, NULL,
                                 "SELECT 9007199254740993::bigint, 7::int, true, 0.2500::numeric, "
                                 "'x''y'::text, NULL::bigint",
                                 0, NULL, &result, errstr, sizeof(errstr)),
                     SS_OK);
    int64_t big = 0;
    int32_t small = 0;
    bool flag = false;
    double rate = 0;
    const char *text = NULL;
    assert_int_equal(ss_pg_get_int64(result, 0, 0, &big, errstr, sizeof(errstr)), SS_OK);
    assert_true(big == INT64_C(9007199254740993));
    assert_int_equal(ss_pg_get_int32(result, 0, 1, &small, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(small, 7);
    assert_int_equal(ss_pg_get_bool(result, 0, 2, &flag, errstr, sizeof(errstr)), SS_OK);
    assert_true(flag);
    assert_int_equal(ss_pg_get_double(result, 0, 3, &rate, errstr, sizeof(errstr)), SS_OK);
    assert_true(rate == 0.25);
    assert_int_equal(ss_pg_get_text(result, 0, 4, &text, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(text, "x'y");
    assert_true(ss_pg_is_null(result, 0, 5));
    assert_int_equal(ss_pg_get_int64(result, 0, 5, &big, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_pg_get_int64(result, 0, 2, &big, errstr, sizeof(errstr)), SS_ERR_INVALID);
    PQclear(result);
    ss_pg_destroy(pg);
}

/* ---- prepared statements and reset ------------------------------------------------------- */

static void test_statement_is_prepared_again_after_own_backend_is_terminated(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    assert_int_equal(
        ss_pg_prepare(pg, "it_add", "SELECT $1::bigint + $2::bigint", 2, errstr, sizeof(errstr)),
        SS_OK);
    const char *values[] = {"40", "2"};
    assert_int_equal(query_int64(pg, "it_add", NULL, 2, values), 42);

    /* The backend ends itself while running this query. */
    ss_err_t err = ss_pg_query(pg, NULL, "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL,
                               NULL, errstr, sizeof(errstr));
    assert_int_equal(err, SS_ERR_RETRIABLE);
    assert_true(ss_pg_is_broken(pg));

    /* Until reset, every call fails fast as retriable. */
    assert_int_equal(ss_pg_query(pg, "it_add", NULL, 2, values, NULL, errstr, sizeof(errstr)),
                     SS_ERR_RETRIABLE);
    assert_int_equal(ss_pg_rollback(pg, errstr, sizeof(errstr)), SS_OK);

    assert_int_equal(ss_pg_reset(pg, errstr, sizeof(errstr)), SS_OK);
    assert_false(ss_pg_is_broken(pg));
    /* A new session knows no prepared statement unless reset prepared it. */
    assert_int_equal(query_int64(pg, "it_add", NULL, 2, values), 42);
    ss_pg_destroy(pg);
}

static void test_statement_is_prepared_again_after_another_session_kills_the_backend(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    ss_pg_t *killer = connect_or_fail("ss-it-pg-killer");
    assert_int_equal(
        ss_pg_prepare(pg, "it_mul", "SELECT $1::bigint * 3", 1, errstr, sizeof(errstr)), SS_OK);
    const char *values[] = {"14"};
    assert_int_equal(query_int64(pg, "it_mul", NULL, 1, values), 42);
    int old_pid = PQbackendPID(ss_pg_conn(pg));

    terminate_backend(killer, old_pid);
    assert_false(ss_pg_is_broken(pg)); /* it does not know yet */

    ss_err_t err = ss_pg_query(pg, "it_mul", NULL, 1, values, NULL, errstr, sizeof(errstr));
    assert_int_equal(err, SS_ERR_RETRIABLE);
    assert_non_null(strstr(errstr, "could not execute statement \"it_mul\""));
    assert_true(ss_pg_is_broken(pg));

    assert_int_equal(ss_pg_reset(pg, errstr, sizeof(errstr)), SS_OK);
    assert_int_not_equal(PQbackendPID(ss_pg_conn(pg)), old_pid);
    assert_int_equal(query_int64(pg, "it_mul", NULL, 1, values), 42);
    ss_pg_destroy(killer);
    ss_pg_destroy(pg);
}

static void test_prepare_checks_names_sql_and_parameter_count(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    assert_int_equal(ss_pg_prepare(pg, "it_one", "SELECT $1::int", 1, errstr, sizeof(errstr)),
                     SS_OK);
    /* Same name and sql again: a no-op, as a pooled connection does on every checkout. */
    assert_int_equal(ss_pg_prepare(pg, "it_one", "SELECT $1::int", 1, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_pg_prepare(pg, "it_one", "SELECT $1::bigint", 1, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    /* The declared count must match the sql, checked by the server. */
    assert_int_equal(
        ss_pg_prepare(pg, "it_two", "SELECT $1::int + $2::int", 1, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "has 2 parameters"));
    /* ... and the name is free again for a correct preparation. */
    assert_int_equal(
        ss_pg_prepare(pg, "it_two", "SELECT $1::int + $2::int", 2, errstr, sizeof(errstr)), SS_OK);
    /* Syntax errors are fatal and do not stay registered. */
    assert_int_equal(ss_pg_prepare(pg, "it_bad", "SELEC 1", 0, errstr, sizeof(errstr)),
                     SS_ERR_FATAL);
    assert_string_equal(ss_pg_last_sqlstate(pg), "42601");
    assert_int_equal(ss_pg_query(pg, "it_bad", NULL, 0, NULL, NULL, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "not prepared"));
    /* A wrong parameter count at execution is refused before sending. */
    const char *values[] = {"1", "2"};
    assert_int_equal(ss_pg_query(pg, "it_one", NULL, 2, values, NULL, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    /* The reset must not trip over the statements that failed. */
    assert_int_equal(ss_pg_reset(pg, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(query_int64(pg, "it_two", NULL, 2, values), 3);
    ss_pg_destroy(pg);
}

/* ---- transactions and classification ----------------------------------------------------- */

static void test_rolled_back_transaction_leaves_nothing(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    exec_or_fail(pg, "CREATE TEMP TABLE it_rollback (id bigint PRIMARY KEY)");
    assert_int_equal(ss_pg_begin(pg, errstr, sizeof(errstr)), SS_OK);
    assert_true(ss_pg_in_transaction(pg));
    exec_or_fail(pg, "INSERT INTO it_rollback VALUES (1), (2), (3)");
    assert_int_equal(query_int64(pg, NULL, "SELECT count(*) FROM it_rollback", 0, NULL), 3);
    assert_int_equal(ss_pg_rollback(pg, errstr, sizeof(errstr)), SS_OK);
    assert_false(ss_pg_in_transaction(pg));
    assert_int_equal(query_int64(pg, NULL, "SELECT count(*) FROM it_rollback", 0, NULL), 0);
    /* Rolling back with nothing open is harmless. */
    assert_int_equal(ss_pg_rollback(pg, errstr, sizeof(errstr)), SS_OK);

    assert_int_equal(ss_pg_begin(pg, errstr, sizeof(errstr)), SS_OK);
    exec_or_fail(pg, "INSERT INTO it_rollback VALUES (4)");
    assert_int_equal(ss_pg_commit(pg, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(query_int64(pg, NULL, "SELECT count(*) FROM it_rollback", 0, NULL), 1);
    ss_pg_destroy(pg);
}

static void test_unique_violation_is_a_conflict_with_its_sqlstate(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    exec_or_fail(pg, "CREATE TEMP TABLE it_unique (id bigint PRIMARY KEY, "
                     "amount bigint NOT NULL CHECK (amount >= 0))");
    assert_int_equal(ss_pg_prepare(pg, "it_unique_insert",
                                   "INSERT INTO it_unique VALUES ($1::bigint, $2::bigint)", 2,
                                   errstr, sizeof(errstr)),
                     SS_OK);
    const char *first[] = {"1", "10"};
    assert_int_equal(
        ss_pg_query(pg, "it_unique_insert", NULL, 2, first, NULL, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(ss_pg_last_sqlstate(pg), "");

    assert_int_equal(
        ss_pg_query(pg, "it_unique_insert", NULL, 2, first, NULL, errstr, sizeof(errstr)),
        SS_ERR_CONFLICT);
    assert_string_equal(ss_pg_last_sqlstate(pg), "23505");
    assert_non_null(strstr(errstr, "could not execute statement \"it_unique_insert\": 23505 "
                                   "duplicate key value violates"));
    assert_false(ss_pg_is_broken(pg));

    /* Other integrity and data errors are invalid input; unknown tables are fatal. */
    const char *negative[] = {"2", "-1"};
    assert_int_equal(
        ss_pg_query(pg, "it_unique_insert", NULL, 2, negative, NULL, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(ss_pg_last_sqlstate(pg), "23514");
    const char *null_amount[] = {"3", NULL};
    assert_int_equal(
        ss_pg_query(pg, "it_unique_insert", NULL, 2, null_amount, NULL, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(ss_pg_last_sqlstate(pg), "23502");
    const char *not_a_number[] = {"abc", "1"};
    assert_int_equal(
        ss_pg_query(pg, "it_unique_insert", NULL, 2, not_a_number, NULL, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_string_equal(ss_pg_last_sqlstate(pg), "22P02");
    assert_int_equal(ss_pg_exec(pg, "SELECT * FROM it_no_such_table", errstr, sizeof(errstr)),
                     SS_ERR_FATAL);
    assert_string_equal(ss_pg_last_sqlstate(pg), "42P01");
    ss_pg_destroy(pg);
}

static void test_commit_of_a_failed_transaction_is_refused(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    exec_or_fail(pg, "CREATE TEMP TABLE it_failed (id bigint PRIMARY KEY)");
    assert_int_equal(ss_pg_begin(pg, errstr, sizeof(errstr)), SS_OK);
    exec_or_fail(pg, "INSERT INTO it_failed VALUES (1)");
    assert_int_equal(ss_pg_exec(pg, "INSERT INTO it_failed VALUES (1)", errstr, sizeof(errstr)),
                     SS_ERR_CONFLICT);
    assert_int_equal(ss_pg_commit(pg, errstr, sizeof(errstr)), SS_ERR_FATAL);
    assert_non_null(strstr(errstr, "rolled back"));
    assert_false(ss_pg_in_transaction(pg));
    assert_int_equal(query_int64(pg, NULL, "SELECT count(*) FROM it_failed", 0, NULL), 0);
    ss_pg_destroy(pg);
}

static void test_commit_on_a_lost_connection_is_retriable_and_rollback_is_quiet(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    ss_pg_t *killer = connect_or_fail("ss-it-pg-killer");
    exec_or_fail(pg, "CREATE TEMP TABLE it_lost (id bigint)");
    assert_int_equal(ss_pg_begin(pg, errstr, sizeof(errstr)), SS_OK);
    exec_or_fail(pg, "INSERT INTO it_lost VALUES (1)");
    terminate_backend(killer, PQbackendPID(ss_pg_conn(pg)));

    assert_int_equal(ss_pg_commit(pg, errstr, sizeof(errstr)), SS_ERR_RETRIABLE);
    assert_non_null(strstr(errstr, "outcome unknown"));
    assert_true(ss_pg_is_broken(pg));
    assert_int_equal(ss_pg_rollback(pg, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_reset(pg, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_ping(pg, errstr, sizeof(errstr)), SS_OK);
    ss_pg_destroy(killer);
    ss_pg_destroy(pg);
}

/* ---- pipeline mode ----------------------------------------------------------------------- */

/* Counts lines of a PQtrace log: frontend Sync messages and backend messages before the first. */
static void count_trace(FILE *trace, int *syncs_out, int *backend_before_sync_out)
{
    char line[1024];
    *syncs_out = 0;
    *backend_before_sync_out = 0;
    rewind(trace);
    while (fgets(line, sizeof(line), trace) != NULL) {
        if (line[0] == 'F' && strstr(line, "\tSync") != NULL) {
            (*syncs_out)++;
        } else if (line[0] == 'B' && *syncs_out == 0) {
            (*backend_before_sync_out)++;
        }
    }
}

static void test_pipeline_sends_a_whole_transaction_before_reading_any_result(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    exec_or_fail(pg, "CREATE TEMP TABLE it_pipe (id bigint PRIMARY KEY, name text)");
    assert_int_equal(ss_pg_prepare(pg, "it_pipe_insert",
                                   "INSERT INTO it_pipe VALUES ($1::bigint, $2::text)", 2, errstr,
                                   sizeof(errstr)),
                     SS_OK);

    FILE *trace = tmpfile();
    assert_non_null(trace);
    PQtrace(ss_pg_conn(pg), trace);
    PQsetTraceFlags(ss_pg_conn(pg), PQTRACE_SUPPRESS_TIMESTAMPS);

    const char *one[] = {"1", "one"};
    const char *two[] = {"2", "two"};
    const char *three[] = {"3", NULL};
    assert_int_equal(ss_pg_pipeline_begin(pg, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_pipeline_query(pg, NULL, "BEGIN", 0, NULL, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(
        ss_pg_pipeline_query(pg, "it_pipe_insert", NULL, 2, one, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(
        ss_pg_pipeline_query(pg, "it_pipe_insert", NULL, 2, two, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_pipeline_query(pg, NULL,
                                          "INSERT INTO it_pipe VALUES ($1::bigint, $2::text) "
                                          "RETURNING id",
                                          2, three, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_pg_pipeline_query(pg, NULL, "COMMIT", 0, NULL, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_pg_pipeline_queued(pg), 5);

    PGresult *results[5];
    assert_int_equal(ss_pg_pipeline_end(pg, results, 5, errstr, sizeof(errstr)), SS_OK);
    PQuntrace(ss_pg_conn(pg));

    int syncs = 0;
    int backend_before_sync = 0;
    count_trace(trace, &syncs, &backend_before_sync);
    fclose(trace);
    assert_int_equal(syncs, 1);
    assert_int_equal(backend_before_sync, 0);

    assert_int_equal(PQresultStatus(results[0]), PGRES_COMMAND_OK);
    assert_string_equal(PQcmdStatus(results[0]), "BEGIN");
    assert_string_equal(PQcmdTuples(results[1]), "1");
    assert_string_equal(PQcmdTuples(results[2]), "1");
    assert_int_equal(PQresultStatus(results[3]), PGRES_TUPLES_OK);
    int64_t returned = 0;
    assert_int_equal(ss_pg_get_int64(results[3], 0, 0, &returned, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(returned, 3);
    assert_string_equal(PQcmdStatus(results[4]), "COMMIT");
    ss_pg_results_clear(results, 5);
    assert_null(results[0]);

    /* Committed, and the connection is usable normally again. */
    assert_false(ss_pg_in_transaction(pg));
    assert_int_equal(query_int64(pg, NULL, "SELECT count(*) FROM it_pipe", 0, NULL), 3);
    assert_int_equal(
        query_int64(pg, NULL, "SELECT count(*) FROM it_pipe WHERE name IS NULL", 0, NULL), 1);
    ss_pg_destroy(pg);
}

static void test_pipeline_failure_reports_the_first_error_and_commits_nothing(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    exec_or_fail(pg, "CREATE TEMP TABLE it_pipe_fail (id bigint PRIMARY KEY)");
    assert_int_equal(ss_pg_prepare(pg, "it_pipe_fail_insert",
                                   "INSERT INTO it_pipe_fail VALUES ($1::bigint)", 1, errstr,
                                   sizeof(errstr)),
                     SS_OK);
    const char *one[] = {"1"};
    const char *two[] = {"2"};
    assert_int_equal(ss_pg_pipeline_begin(pg, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_pipeline_query(pg, NULL, "BEGIN", 0, NULL, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(
        ss_pg_pipeline_query(pg, "it_pipe_fail_insert", NULL, 1, one, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(
        ss_pg_pipeline_query(pg, "it_pipe_fail_insert", NULL, 1, one, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(
        ss_pg_pipeline_query(pg, "it_pipe_fail_insert", NULL, 1, two, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(ss_pg_pipeline_query(pg, NULL, "COMMIT", 0, NULL, errstr, sizeof(errstr)),
                     SS_OK);
    PGresult *results[5] = {(PGresult *)1, (PGresult *)1, (PGresult *)1, (PGresult *)1,
                            (PGresult *)1};
    assert_int_equal(ss_pg_pipeline_end(pg, results, 5, errstr, sizeof(errstr)), SS_ERR_CONFLICT);
    for (int i = 0; i < 5; i++) {
        assert_null(results[i]);
    }
    assert_non_null(strstr(errstr, "pipeline query 2"));
    assert_non_null(strstr(errstr, "it_pipe_fail_insert"));
    assert_string_equal(ss_pg_last_sqlstate(pg), "23505");
    assert_false(ss_pg_is_broken(pg));

    /* The explicit transaction is left aborted: the caller rolls back. */
    assert_true(ss_pg_in_transaction(pg));
    assert_int_equal(ss_pg_rollback(pg, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(query_int64(pg, NULL, "SELECT count(*) FROM it_pipe_fail", 0, NULL), 0);

    /* The connection pipelines again normally. */
    assert_int_equal(ss_pg_pipeline_begin(pg, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(
        ss_pg_pipeline_query(pg, "it_pipe_fail_insert", NULL, 1, two, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(ss_pg_pipeline_end(pg, NULL, 0, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(query_int64(pg, NULL, "SELECT count(*) FROM it_pipe_fail", 0, NULL), 1);
    ss_pg_destroy(pg);
}

static void test_pipeline_queue_error_sends_nothing_more_and_commits_nothing(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char table[64];
    char sql[256];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    ss_pg_t *observer = connect_or_fail("ss-it-pg-observer");
    /* A real table, visible to the observer, with a per-run name. */
    snprintf(table, sizeof(table), "it_pipe_queue_%d_%ld", (int)getpid(), (long)time(NULL));
    snprintf(sql, sizeof(sql), "CREATE TABLE %s (id bigint)", table);
    exec_or_fail(pg, sql);

    snprintf(sql, sizeof(sql), "INSERT INTO %s VALUES (1)", table);
    assert_int_equal(ss_pg_pipeline_begin(pg, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_pipeline_query(pg, NULL, "BEGIN", 0, NULL, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_pg_pipeline_query(pg, NULL, sql, 0, NULL, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(
        ss_pg_pipeline_query(pg, "it_never_prepared", NULL, 0, NULL, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    /* The COMMIT must not go out after the failure. */
    assert_int_equal(ss_pg_pipeline_query(pg, NULL, "COMMIT", 0, NULL, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_pg_pipeline_end(pg, NULL, 0, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "it_never_prepared"));

    assert_int_equal(ss_pg_rollback(pg, errstr, sizeof(errstr)), SS_OK);
    if (ss_pg_is_broken(pg)) {
        assert_int_equal(ss_pg_reset(pg, errstr, sizeof(errstr)), SS_OK);
    }
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    assert_int_equal(query_int64(observer, NULL, sql, 0, NULL), 0);
    assert_int_equal(query_int64(pg, NULL, sql, 0, NULL), 0);

    snprintf(sql, sizeof(sql), "DROP TABLE %s", table);
    exec_or_fail(observer, sql);
    ss_pg_destroy(observer);
    ss_pg_destroy(pg);
}

static void test_pipeline_with_wrong_result_count_runs_nothing(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    exec_or_fail(pg, "CREATE TEMP TABLE it_pipe_count (id bigint)");
    assert_int_equal(ss_pg_pipeline_begin(pg, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_pg_pipeline_query(pg, NULL, "INSERT INTO it_pipe_count VALUES (1)", 0, NULL,
                                          errstr, sizeof(errstr)),
                     SS_OK);
    PGresult *results[2];
    assert_int_equal(ss_pg_pipeline_end(pg, results, 2, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "2 result slots for 1 queries"));
    /* The session was dropped rather than synced: the temp table went with it. */
    if (ss_pg_is_broken(pg)) {
        assert_int_equal(ss_pg_reset(pg, errstr, sizeof(errstr)), SS_OK);
    }
    assert_int_equal(ss_pg_exec(pg, "SELECT 1 FROM it_pipe_count", errstr, sizeof(errstr)),
                     SS_ERR_FATAL);
    assert_string_equal(ss_pg_last_sqlstate(pg), "42P01");
    ss_pg_destroy(pg);
}

static void test_large_pipeline_does_not_deadlock_on_full_socket_buffers(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    /* Each query returns ~256 KiB while we keep sending ~256 KiB parameters. */
    static char big[256 * 1024];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    const char *values[] = {big};
    enum { queries = 40 };
    assert_int_equal(ss_pg_pipeline_begin(pg, errstr, sizeof(errstr)), SS_OK);
    for (int i = 0; i < queries; i++) {
        assert_int_equal(
            ss_pg_pipeline_query(pg, NULL, "SELECT $1::text", 1, values, errstr, sizeof(errstr)),
            SS_OK);
    }
    PGresult *results[queries];
    assert_int_equal(ss_pg_pipeline_end(pg, results, queries, errstr, sizeof(errstr)), SS_OK);
    for (int i = 0; i < queries; i++) {
        assert_int_equal(PQgetlength(results[i], 0, 0), (int)sizeof(big) - 1);
    }
    ss_pg_results_clear(results, queries);
    ss_pg_destroy(pg);
}

/* ---- array parameters -------------------------------------------------------------------- */

static void test_bulk_unnest_insert_of_1000_rows(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    char name[64];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    exec_or_fail(pg, "CREATE TEMP TABLE it_bulk (id bigint PRIMARY KEY, name text, data bytea)");
    assert_int_equal(ss_pg_prepare(pg, "it_bulk_insert",
                                   "INSERT INTO it_bulk (id, name, data) SELECT * FROM "
                                   "unnest($1::bigint[], $2::text[], $3::bytea[])",
                                   3, errstr, sizeof(errstr)),
                     SS_OK);
    ss_pg_array_t ids;
    ss_pg_array_t names;
    ss_pg_array_t datas;
    ss_pg_array_init(&ids);
    ss_pg_array_init(&names);
    ss_pg_array_init(&datas);
    /* Two batches through the same builders, as a worker does. */
    for (int batch = 0; batch < 2; batch++) {
        ss_pg_array_reset(&ids);
        ss_pg_array_reset(&names);
        ss_pg_array_reset(&datas);
        for (int i = 0; i < 500; i++) {
            int64_t id = batch * 500 + i;
            unsigned char data[3] = {(unsigned char)(id & 0xff), 0, '\\'};
            snprintf(name, sizeof(name), "row \"%" PRId64 "\", {\\}", id);
            assert_int_equal(ss_pg_array_append_int64(&ids, id, errstr, sizeof(errstr)), SS_OK);
            assert_int_equal(ss_pg_array_append_text(&names, id % 100 == 0 ? NULL : name, errstr,
                                                     sizeof(errstr)),
                             SS_OK);
            assert_int_equal(
                ss_pg_array_append_bytea(&datas, data, sizeof(data), errstr, sizeof(errstr)),
                SS_OK);
        }
        const char *values[] = {ss_pg_array_text(&ids), ss_pg_array_text(&names),
                                ss_pg_array_text(&datas)};
        PGresult *result = NULL;
        assert_int_equal(
            ss_pg_query(pg, "it_bulk_insert", NULL, 3, values, &result, errstr, sizeof(errstr)),
            SS_OK);
        assert_string_equal(PQcmdTuples(result), "500");
        PQclear(result);
    }
    ss_pg_array_free(&ids);
    ss_pg_array_free(&names);
    ss_pg_array_free(&datas);

    assert_int_equal(query_int64(pg, NULL, "SELECT count(*) FROM it_bulk", 0, NULL), 1000);
    assert_int_equal(
        query_int64(pg, NULL, "SELECT count(*) FROM it_bulk WHERE name IS NULL", 0, NULL), 10);
    assert_int_equal(query_int64(pg, NULL,
                                 "SELECT count(*) FROM it_bulk WHERE name = "
                                 "format('row \"%s\", {\\}', id)",
                                 0, NULL),
                     990);
    assert_int_equal(query_int64(pg, NULL,
                                 "SELECT count(*) FROM it_bulk WHERE data = "
                                 "set_byte('\\x00005c'::bytea, 0, (id % 256)::int)",
                                 0, NULL),
                     1000);
    ss_pg_destroy(pg);
}

/*
 * Migration 014: a large outbox row's record arrays are stored compressed with lz4, not pglz
 * (a batch's CommandResults record can be tens of KiB; pglz cost 1.2% of the machine). The row
 * is of a source no worker owns, and is deleted again.
 */
static void test_a_large_outbox_row_is_compressed_with_lz4(void **state)
{
    (void)state;
    ss_pg_t *pg = connect_or_fail("test-pg-lz4");
    char source[64];
    snprintf(source, sizeof(source), "test-pg-lz4/%ld", (long)getpid());
    const char *values[] = {source};
    int64_t id = query_int64(
        pg, NULL,
        "INSERT INTO outbox (source, topic, partition, record_keys, record_values,"
        " record_headers) VALUES ($1, 'ss.test.lz4', 0, ARRAY[NULL::bytea],"
        " ARRAY[convert_to(repeat('outcome ', 20000), 'UTF8')], ARRAY[NULL::jsonb]) RETURNING id",
        1, values);
    assert_true(id > 0);
    assert_int_equal(query_int64(pg, NULL,
                                 "SELECT count(*) FROM outbox WHERE source = $1"
                                 " AND pg_column_compression(record_values) = 'lz4'",
                                 1, values),
                     1);
    exec_or_fail(pg, "DELETE FROM outbox WHERE source LIKE 'test-pg-lz4/%'");
    ss_pg_destroy(pg);
}

/*
 * The worker's outbox insert: records emitted interleaved for two destinations (a0 b0 a1 b1 a2)
 * are passed row after row (a0 a1 a2 b0 b1) with each row's slice; every row must hold exactly
 * its own records in emission order, headers (NULL or not) aligned, and the ids must rise in row
 * order (the worker maps its rows to the returned ids by position).
 */
static void test_the_outbox_insert_gives_each_row_its_own_slice(void **state)
{
    (void)state;
    ss_pg_t *pg = connect_or_fail("test-pg-outbox");
    char source[64], sources[160];
    snprintf(source, sizeof(source), "test-pg-outbox/%ld", (long)getpid());
    snprintf(sources, sizeof(sources), "{\"%s\",\"%s\"}", source, source);
    const char *values[] = {sources,
                            "{ss.test.a,ss.test.b}",
                            "{-1,3}",
                            "{1,4}",
                            "{3,5}",
                            "{a0,a1,a2,b0,b1}",
                            "{va0,va1,va2,vb0,vb1}",
                            "{NULL,\"{\\\"n\\\": 1}\",NULL,NULL,\"{\\\"n\\\": 4}\"}"};
    char errstr[ERRSTR_SIZE];
    PGresult *result = NULL;
    if (ss_pg_query(pg, NULL, SS_WORKER_SQL_OUTBOX_INSERT, 8, values, &result, errstr,
                    sizeof(errstr)) != SS_OK) {
        fail_msg("%s", errstr);
    }
    PQclear(result);
    const char *params[] = {source};
    assert_int_equal(
        query_int64(pg, NULL,
                    "SELECT count(*) FROM outbox WHERE source = $1 AND ((topic = 'ss.test.a'"
                    " AND partition = -1 AND record_keys = '{a0,a1,a2}'::bytea[]"
                    " AND record_values = '{va0,va1,va2}'::bytea[]"
                    " AND record_headers::text[] = ARRAY[NULL, '{\"n\": 1}', NULL])"
                    " OR (topic = 'ss.test.b' AND partition = 3"
                    " AND record_keys = '{b0,b1}'::bytea[] AND record_values = '{vb0,vb1}'::bytea[]"
                    " AND record_headers::text[] = ARRAY[NULL, '{\"n\": 4}']))",
                    1, params),
        2);
    assert_int_equal(query_int64(pg, NULL,
                                 "SELECT count(*) FROM outbox WHERE source = $1 AND topic ="
                                 " 'ss.test.a' AND id < (SELECT id FROM outbox"
                                 " WHERE source = $1 AND topic = 'ss.test.b')",
                                 1, params),
                     1);
    exec_or_fail(pg, "DELETE FROM outbox WHERE source LIKE 'test-pg-outbox/%'");
    ss_pg_destroy(pg);
}

static void test_tricky_strings_round_trip_through_unnest(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_pg_t *pg = connect_or_fail("ss-it-pg");
    static const char *const tricky[] = {
        "plain",   "",        "NULL", "null",  " ",         "  lead and trail  ",
        "a\"b",    "c\\d",    "\\\"", "\"",    "\\",        "a,b",
        "{x}",     "{",       "}",    "(1,2)", "tab\there", "new\nline\r\n",
        "héllo ☃", "'quote'", "$1",   "\\x41", "E'\\n'",    NULL,
        "end",
    };
    size_t count = sizeof(tricky) / sizeof(tricky[0]);
    ss_pg_array_t array;
    ss_pg_array_init(&array);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(ss_pg_array_append_text(&array, tricky[i], errstr, sizeof(errstr)), SS_OK);
    }
    const char *values[] = {ss_pg_array_text(&array)};
    PGresult *result = NULL;
    assert_int_equal(ss_pg_query(pg, NULL,
                                 "SELECT value FROM unnest($1::text[]) WITH ORDINALITY AS t(value, "
                                 "position) ORDER BY position",
                                 1, values, &result, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(PQntuples(result), (int)count);
    for (size_t i = 0; i < count; i++) {
        if (tricky[i] == NULL) {
            assert_true(ss_pg_is_null(result, (int)i, 0));
            continue;
        }
        const char *text = NULL;
        assert_int_equal(ss_pg_get_text(result, (int)i, 0, &text, errstr, sizeof(errstr)), SS_OK);
        if (strcmp(text, tricky[i]) != 0) {
            fail_msg("element %zu: sent \"%s\", got \"%s\"", i, tricky[i], text);
        }
    }
    PQclear(result);

    /* Every byte value survives a bytea[] round trip. */
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++) {
        bytes[i] = (unsigned char)i;
    }
    ss_pg_array_reset(&array);
    assert_int_equal(ss_pg_array_append_bytea(&array, bytes, sizeof(bytes), errstr, sizeof(errstr)),
                     SS_OK);
    values[0] = ss_pg_array_text(&array);
    assert_int_equal(ss_pg_query(pg, NULL,
                                 "SELECT length(b), encode(b, 'hex') FROM unnest($1::bytea[]) b", 1,
                                 values, &result, errstr, sizeof(errstr)),
                     SS_OK);
    int64_t length = 0;
    assert_int_equal(ss_pg_get_int64(result, 0, 0, &length, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(length, 256);
    const char *hex = NULL;
    assert_int_equal(ss_pg_get_text(result, 0, 1, &hex, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(strncmp(hex, "000102", 6), 0);
    assert_string_equal(hex + 506, "fdfeff");
    PQclear(result);
    ss_pg_array_free(&array);
    ss_pg_destroy(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_sets_application_name_and_ping_succeeds),
        cmocka_unit_test(test_a_large_outbox_row_is_compressed_with_lz4),
        cmocka_unit_test(test_the_outbox_insert_gives_each_row_its_own_slice),
        cmocka_unit_test(test_getters_read_real_result_types),
        cmocka_unit_test(test_statement_is_prepared_again_after_own_backend_is_terminated),
        cmocka_unit_test(test_statement_is_prepared_again_after_another_session_kills_the_backend),
        cmocka_unit_test(test_prepare_checks_names_sql_and_parameter_count),
        cmocka_unit_test(test_rolled_back_transaction_leaves_nothing),
        cmocka_unit_test(test_unique_violation_is_a_conflict_with_its_sqlstate),
        cmocka_unit_test(test_commit_of_a_failed_transaction_is_refused),
        cmocka_unit_test(test_commit_on_a_lost_connection_is_retriable_and_rollback_is_quiet),
        cmocka_unit_test(test_pipeline_sends_a_whole_transaction_before_reading_any_result),
        cmocka_unit_test(test_pipeline_failure_reports_the_first_error_and_commits_nothing),
        cmocka_unit_test(test_pipeline_queue_error_sends_nothing_more_and_commits_nothing),
        cmocka_unit_test(test_pipeline_with_wrong_result_count_runs_nothing),
        cmocka_unit_test(test_large_pipeline_does_not_deadlock_on_full_socket_buffers),
        cmocka_unit_test(test_bulk_unnest_insert_of_1000_rows),
        cmocka_unit_test(test_tricky_strings_round_trip_through_unnest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

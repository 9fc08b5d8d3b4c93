/*
 * PostgreSQL connection wrapper over libpq 15. It keeps the registry of prepared statements so
 * a reconnect can prepare them again, turns every failure into a classified ss_err_t with the
 * SQLSTATE and server message in errstr, and drives pipeline mode in non-blocking mode while
 * sending (reading whatever the server answers meanwhile, so neither side can block on a full
 * socket buffer) and in blocking mode while collecting. The array builder and the result
 * getters at the end are pure.
 */
#include "ss/pg.h"

#include "ss/assert.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How much of a one-off query's text an error message quotes. */
#define PG_SQL_QUOTE_MAX 48
/* Room for "statement \"<name>\"" or "query \"<sql>...\"" in messages. */
#define PG_LABEL_SIZE 96
#define PG_ERRSTR_SIZE 512
/* Results a single pipeline query may produce besides its terminating NULL. */
#define PG_PIPELINE_READS_PER_QUERY_MAX 2
#define PG_ARRAY_INITIAL_CAPACITY 256

typedef struct pg_statement {
    char *name;
    char *sql;
    int param_count;
} pg_statement_t;

struct ss_pg {
    PGconn *conn;
    bool broken;           /* set on a failure that leaves the protocol state unknown */
    int result_timeout_ms; /* 0: wait for results as long as it takes */
    bool timed_out;        /* the last query or exec gave up waiting (SS_ERR_TIMEOUT) */
    char last_sqlstate[6];
    pg_statement_t statements[SS_PG_STATEMENTS_MAX];
    size_t statement_count;

    bool pipeline_active;
    size_t pipeline_queued;
    ss_err_t pipeline_error; /* the first failure while queueing, reported by _end */
    char pipeline_errstr[PG_ERRSTR_SIZE];
    char pipeline_labels[SS_PG_PIPELINE_QUERIES_MAX][PG_LABEL_SIZE];
};

/* ---- classification ---------------------------------------------------------------------- */

static bool sqlstate_is_wellformed(const char *sqlstate)
{
    for (size_t i = 0; i < 5; i++) {
        char c = sqlstate[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) {
            return false;
        }
    }
    return sqlstate[5] == '\0';
}

ss_err_t ss_pg_classify_sqlstate(const char *sqlstate)
{
    if (sqlstate == NULL || !sqlstate_is_wellformed(sqlstate)) {
        return SS_ERR_FATAL;
    }
    if (strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "53", 2) == 0) {
        return SS_ERR_RETRIABLE;
    }
    static const char *const retriable[] = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03"};
    for (size_t i = 0; i < sizeof(retriable) / sizeof(retriable[0]); i++) {
        if (strcmp(sqlstate, retriable[i]) == 0) {
            return SS_ERR_RETRIABLE;
        }
    }
    if (strcmp(sqlstate, "23505") == 0) {
        return SS_ERR_CONFLICT;
    }
    if (strncmp(sqlstate, "23", 2) == 0 || strncmp(sqlstate, "22", 2) == 0) {
        return SS_ERR_INVALID;
    }
    return SS_ERR_FATAL;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static void pg_silent_notice_processor(void *arg, const char *message)
{
    /* The library never prints: notices such as "there is no transaction in progress". */
    (void)arg;
    (void)message;
}

/* Copies a libpq message without its trailing newline(s). */
static void pg_copy_message(char *dst, size_t dst_size, const char *message)
{
    if (message == NULL || message[0] == '\0') {
        message = "no message";
    }
    snprintf(dst, dst_size, "%s", message);
    size_t length = strlen(dst);
    while (length > 0 && (dst[length - 1] == '\n' || dst[length - 1] == '\r')) {
        dst[--length] = '\0';
    }
}

static void pg_label(char *dst, size_t dst_size, const char *statement_name, const char *sql)
{
    if (statement_name != NULL) {
        snprintf(dst, dst_size, "statement \"%s\"", statement_name);
        return;
    }
    if (sql == NULL) {
        snprintf(dst, dst_size, "query (none)");
        return;
    }
    size_t length = strlen(sql);
    snprintf(dst, dst_size, "query \"%.*s%s\"", PG_SQL_QUOTE_MAX, sql,
             length > PG_SQL_QUOTE_MAX ? "..." : "");
}

static bool pg_connection_bad(const ss_pg_t *pg)
{
    return pg->conn == NULL || PQstatus(pg->conn) != CONNECTION_OK;
}

/*
 * Classifies a failed call: a connection that went bad is always retriable (reset and retry);
 * otherwise the SQLSTATE decides, and a failure without one is fatal. Records the SQLSTATE and
 * writes "could not <action> <label>: <sqlstate> <message>".
 */
static ss_err_t pg_fail(ss_pg_t *pg, const PGresult *result, const char *action, const char *label,
                        char *errstr, size_t errstr_size)
{
    const char *sqlstate = NULL;
    const char *message = NULL;
    char text[PG_ERRSTR_SIZE];

    if (result != NULL) {
        sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
        message = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
        if (message == NULL) {
            message = PQresultErrorMessage(result);
        }
    }
    if (message == NULL || message[0] == '\0') {
        message = pg->conn != NULL ? PQerrorMessage(pg->conn) : "no connection";
    }
    pg_copy_message(text, sizeof(text), message);

    if (sqlstate != NULL && sqlstate_is_wellformed(sqlstate)) {
        memcpy(pg->last_sqlstate, sqlstate, sizeof(pg->last_sqlstate));
    } else {
        sqlstate = NULL;
        pg->last_sqlstate[0] = '\0';
    }

    ss_err_t err;
    if (pg->broken || pg_connection_bad(pg)) {
        pg->broken = true;
        err = SS_ERR_RETRIABLE;
    } else if (sqlstate != NULL) {
        err = ss_pg_classify_sqlstate(sqlstate);
    } else {
        err = SS_ERR_FATAL;
    }
    if (sqlstate != NULL) {
        return ss_err_set(err, errstr, errstr_size, "could not %s %s: %s %s", action, label,
                          sqlstate, text);
    }
    return ss_err_set(err, errstr, errstr_size, "could not %s %s: %s", action, label, text);
}

static ss_err_t pg_fail_broken(ss_pg_t *pg, const char *label, char *errstr, size_t errstr_size)
{
    pg->last_sqlstate[0] = '\0';
    return ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                      "could not execute %s: connection is broken, reset it", label);
}

static pg_statement_t *pg_statement_find(ss_pg_t *pg, const char *name)
{
    for (size_t i = 0; i < pg->statement_count; i++) {
        if (strcmp(pg->statements[i].name, name) == 0) {
            return &pg->statements[i];
        }
    }
    return NULL;
}

static void pg_statement_remove(ss_pg_t *pg, pg_statement_t *statement)
{
    size_t index = (size_t)(statement - pg->statements);
    SS_ASSERT(index < pg->statement_count);
    free(statement->name);
    free(statement->sql);
    pg->statement_count--;
    pg->statements[index] = pg->statements[pg->statement_count];
    memset(&pg->statements[pg->statement_count], 0, sizeof(pg->statements[0]));
}

/*
 * Checks the arguments of ss_pg_query and ss_pg_pipeline_query; on SS_OK *statement_out is the
 * registered statement or NULL for a one-off query.
 */
static ss_err_t pg_check_query(ss_pg_t *pg, const char *statement_name, const char *sql,
                               int param_count, const char *const *values,
                               pg_statement_t **statement_out, char *errstr, size_t errstr_size)
{
    *statement_out = NULL;
    if (statement_name == NULL && sql == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not execute query: neither statement name nor sql given");
    }
    if (param_count < 0 || param_count > SS_PG_PARAMS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not execute query: parameter count %d is outside 0..%d",
                          param_count, SS_PG_PARAMS_MAX);
    }
    if (param_count > 0 && values == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not execute query: %d parameters but no values", param_count);
    }
    if (statement_name != NULL) {
        pg_statement_t *statement = pg_statement_find(pg, statement_name);
        if (statement == NULL) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "could not execute statement \"%s\": it is not prepared",
                              statement_name);
        }
        if (statement->param_count != param_count) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "could not execute statement \"%s\": it takes %d parameters, "
                              "not %d",
                              statement_name, statement->param_count, param_count);
        }
        *statement_out = statement;
    }
    return SS_OK;
}

/* PQprepare on the server; the statement is already in the registry. */
static ss_err_t pg_prepare_on_server(ss_pg_t *pg, const pg_statement_t *statement, char *errstr,
                                     size_t errstr_size)
{
    char label[PG_LABEL_SIZE];
    pg_label(label, sizeof(label), statement->name, NULL);
    PGresult *result = PQprepare(pg->conn, statement->name, statement->sql, 0, NULL);
    if (result == NULL || PQresultStatus(result) != PGRES_COMMAND_OK) {
        ss_err_t err = pg_fail(pg, result, "prepare", label, errstr, errstr_size);
        PQclear(result);
        return err;
    }
    PQclear(result);
    return SS_OK;
}

/* The parameter count the server inferred for a prepared statement, or -1 on failure. */
static ss_err_t pg_describe_param_count(ss_pg_t *pg, const pg_statement_t *statement,
                                        int *count_out, char *errstr, size_t errstr_size)
{
    char label[PG_LABEL_SIZE];
    pg_label(label, sizeof(label), statement->name, NULL);
    PGresult *result = PQdescribePrepared(pg->conn, statement->name);
    if (result == NULL || PQresultStatus(result) != PGRES_COMMAND_OK) {
        ss_err_t err = pg_fail(pg, result, "describe", label, errstr, errstr_size);
        PQclear(result);
        return err;
    }
    *count_out = PQnparams(result);
    PQclear(result);
    return SS_OK;
}

static void pg_pipeline_forget(ss_pg_t *pg)
{
    pg->pipeline_active = false;
    pg->pipeline_queued = 0;
    pg->pipeline_error = SS_OK;
    pg->pipeline_errstr[0] = '\0';
}

/* ---- connection -------------------------------------------------------------------------- */

ss_err_t ss_pg_connect(const char *dsn, const char *application_name, int connect_timeout_s,
                       ss_pg_t **out, char *errstr, size_t errstr_size)
{
    return ss_pg_connect_options(dsn, application_name, connect_timeout_s, NULL, out, errstr,
                                 errstr_size);
}

static int64_t pg_now_ms(void);

/*
 * Drives a connection started with PQconnectStartParams to its end, waiting at most timeout_ms
 * in all (libpq's own connect_timeout counts whole seconds, at least 2). False on failure or
 * timeout, with the reason in message.
 */
static bool pg_connect_wait(PGconn *conn, int timeout_ms, char *message, size_t message_size)
{
    int64_t deadline_ms = pg_now_ms() + timeout_ms;
    PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
    while (polling != PGRES_POLLING_OK) {
        if (polling == PGRES_POLLING_FAILED) {
            pg_copy_message(message, message_size, PQerrorMessage(conn));
            return false;
        }
        int64_t left_ms = deadline_ms - pg_now_ms();
        struct pollfd pollfd = {.fd = PQsocket(conn),
                                .events = polling == PGRES_POLLING_READING ? POLLIN : POLLOUT};
        int rc = left_ms > 0 && pollfd.fd >= 0 ? poll(&pollfd, 1, (int)left_ms) : 0;
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc <= 0) {
            snprintf(message, message_size, "no answer within %d ms", timeout_ms);
            return false;
        }
        polling = PQconnectPoll(conn);
    }
    return true;
}

static ss_err_t pg_connect(const char *dsn, const char *application_name, int connect_timeout_ms,
                           const char *server_options, ss_pg_t **out, char *errstr,
                           size_t errstr_size);

ss_err_t ss_pg_connect_options(const char *dsn, const char *application_name, int connect_timeout_s,
                               const char *server_options, ss_pg_t **out, char *errstr,
                               size_t errstr_size)
{
    if (connect_timeout_s < 1 || connect_timeout_s > 3600) {
        if (out != NULL) {
            *out = NULL;
        }
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not connect to postgresql: connect timeout %d s is outside "
                          "1..3600",
                          connect_timeout_s);
    }
    return pg_connect(dsn, application_name, connect_timeout_s * 1000, server_options, out, errstr,
                      errstr_size);
}

ss_err_t ss_pg_connect_ms(const char *dsn, const char *application_name, int connect_timeout_ms,
                          const char *server_options, ss_pg_t **out, char *errstr,
                          size_t errstr_size)
{
    if (connect_timeout_ms < 1 || connect_timeout_ms > 3600000) {
        if (out != NULL) {
            *out = NULL;
        }
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not connect to postgresql: connect timeout %d ms is outside "
                          "1..3600000",
                          connect_timeout_ms);
    }
    return pg_connect(dsn, application_name, -connect_timeout_ms, server_options, out, errstr,
                      errstr_size);
}

/*
 * Connects. connect_timeout_ms > 0: libpq's blocking connect with connect_timeout in whole
 * seconds; < 0: a non-blocking connect bounded by -connect_timeout_ms milliseconds.
 */
static ss_err_t pg_connect(const char *dsn, const char *application_name, int connect_timeout_ms,
                           const char *server_options, ss_pg_t **out, char *errstr,
                           size_t errstr_size)
{
    ss_err_t err = SS_OK;
    ss_pg_t *pg = NULL;
    char *parse_error = NULL;
    PQconninfoOption *options = NULL;
    char timeout_text[16];
    char message[PG_ERRSTR_SIZE];

    if (out == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not connect to postgresql: out is NULL");
    }
    *out = NULL;
    if (dsn == NULL || dsn[0] == '\0') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not connect to postgresql: empty dsn");
    }
    bool bounded_ms = connect_timeout_ms < 0;
    int timeout_ms = bounded_ms ? -connect_timeout_ms : connect_timeout_ms;
    options = PQconninfoParse(dsn, &parse_error);
    if (options == NULL) {
        pg_copy_message(message, sizeof(message),
                        parse_error != NULL ? parse_error : "out of memory");
        err = ss_err_set(parse_error != NULL ? SS_ERR_INVALID : SS_ERR_NOMEM, errstr, errstr_size,
                         "could not connect to postgresql: invalid dsn: %s", message);
        goto cleanup;
    }

    pg = calloc(1, sizeof(*pg));
    if (pg == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size,
                         "could not connect to postgresql: no memory");
        goto cleanup;
    }

    /* dsn first: the keywords after it override what it says. */
    snprintf(timeout_text, sizeof(timeout_text), "%d", (timeout_ms + 999) / 1000);
    const char *keywords[] = {"dbname",
                              "connect_timeout",
                              "keepalives",
                              "keepalives_idle",
                              "keepalives_interval",
                              "keepalives_count",
                              "application_name",
                              "options",
                              NULL};
    /* A NULL value leaves that keyword to the dsn (libpq skips it). */
    const char *values[] = {
        dsn, timeout_text, "1", "30", "10", "3", application_name, server_options, NULL};
    pg->conn = bounded_ms ? PQconnectStartParams(keywords, values, 1)
                          : PQconnectdbParams(keywords, values, 1);
    if (pg->conn == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size,
                         "could not connect to postgresql: no memory");
        goto cleanup;
    }
    PQsetNoticeProcessor(pg->conn, pg_silent_notice_processor, NULL);
    bool connected =
        PQstatus(pg->conn) != CONNECTION_BAD &&
        (!bounded_ms || pg_connect_wait(pg->conn, timeout_ms, message, sizeof(message)));
    if (connected && PQstatus(pg->conn) != CONNECTION_OK) {
        connected = false;
    }
    if (!connected) {
        if (!bounded_ms || PQstatus(pg->conn) == CONNECTION_BAD) {
            pg_copy_message(message, sizeof(message), PQerrorMessage(pg->conn));
        }
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "could not connect to postgresql: %s", message);
        goto cleanup;
    }
    *out = pg;
    pg = NULL;

cleanup:
    ss_pg_destroy(pg);
    PQconninfoFree(options);
    PQfreemem(parse_error);
    return err;
}

void ss_pg_destroy(ss_pg_t *pg)
{
    if (pg == NULL) {
        return;
    }
    for (size_t i = 0; i < pg->statement_count; i++) {
        free(pg->statements[i].name);
        free(pg->statements[i].sql);
    }
    if (pg->conn != NULL) {
        PQfinish(pg->conn);
    }
    free(pg);
}

ss_err_t ss_pg_reset(ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    char message[PG_ERRSTR_SIZE];

    SS_ASSERT(pg != NULL);
    pg_pipeline_forget(pg);
    pg->last_sqlstate[0] = '\0';
    pg->broken = true;

    PQreset(pg->conn);
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        pg_copy_message(message, sizeof(message), PQerrorMessage(pg->conn));
        return ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                          "could not reconnect to postgresql: %s", message);
    }
    if (PQpipelineStatus(pg->conn) != PQ_PIPELINE_OFF && PQexitPipelineMode(pg->conn) != 1) {
        pg_copy_message(message, sizeof(message), PQerrorMessage(pg->conn));
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "could not leave pipeline mode after reconnecting: %s", message);
    }
    if (PQisnonblocking(pg->conn) && PQsetnonblocking(pg->conn, 0) != 0) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "could not make the connection blocking after reconnecting");
    }
    pg->broken = false;

    for (size_t i = 0; i < pg->statement_count; i++) {
        ss_err_t err = pg_prepare_on_server(pg, &pg->statements[i], errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
    }
    return SS_OK;
}

ss_err_t ss_pg_ping(ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    return ss_pg_query(pg, NULL, "SELECT 1", 0, NULL, NULL, errstr, errstr_size);
}

bool ss_pg_is_broken(const ss_pg_t *pg)
{
    SS_ASSERT(pg != NULL);
    return pg->broken || pg_connection_bad(pg);
}

bool ss_pg_in_transaction(const ss_pg_t *pg)
{
    SS_ASSERT(pg != NULL);
    PGTransactionStatusType status = PQtransactionStatus(pg->conn);
    return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE;
}

const char *ss_pg_last_sqlstate(const ss_pg_t *pg)
{
    SS_ASSERT(pg != NULL);
    return pg->last_sqlstate;
}

PGconn *ss_pg_conn(ss_pg_t *pg)
{
    SS_ASSERT(pg != NULL);
    return pg->conn;
}

bool ss_pg_timed_out(const ss_pg_t *pg)
{
    SS_ASSERT(pg != NULL);
    return pg->timed_out;
}

void ss_pg_set_result_timeout(ss_pg_t *pg, int timeout_ms)
{
    SS_ASSERT(pg != NULL);
    SS_ASSERT(timeout_ms >= 0);
    pg->result_timeout_ms = timeout_ms;
}

static int64_t pg_now_ms(void);

/*
 * Collects the answer to what was just sent, like PQexec does (the last result; an error wins
 * over the results after it), waiting at most result_timeout_ms in all. NULL when the wait
 * timed out (*timed_out) or the connection failed; the connection is then broken, since an
 * answer may still be on its way.
 */
static PGresult *pg_result_wait(ss_pg_t *pg, bool *timed_out)
{
    int64_t deadline_ms = pg_now_ms() + pg->result_timeout_ms;
    PGresult *kept = NULL;
    *timed_out = false;
    for (;;) {
        while (!PQisBusy(pg->conn)) {
            PGresult *next = PQgetResult(pg->conn);
            if (next == NULL) {
                return kept;
            }
            if (kept != NULL && PQresultStatus(kept) == PGRES_FATAL_ERROR) {
                PQclear(next);
            } else {
                PQclear(kept);
                kept = next;
            }
        }
        int64_t left_ms = deadline_ms - pg_now_ms();
        struct pollfd pollfd = {.fd = PQsocket(pg->conn), .events = POLLIN};
        int rc = left_ms > 0 && pollfd.fd >= 0 ? poll(&pollfd, 1, (int)left_ms) : -1;
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc == 0 || left_ms <= 0) {
            *timed_out = true;
        }
        if (rc <= 0 || PQconsumeInput(pg->conn) != 1) {
            PQclear(kept);
            pg->broken = true;
            return NULL;
        }
    }
}

/* The answer to a query (statement NULL: sql with params), bounded when a timeout is set. */
static PGresult *pg_run(ss_pg_t *pg, const pg_statement_t *statement, const char *sql,
                        int param_count, const char *const *values, bool *timed_out)
{
    *timed_out = false;
    if (pg->result_timeout_ms == 0) {
        if (statement != NULL) {
            return PQexecPrepared(pg->conn, statement->name, param_count, values, NULL, NULL, 0);
        }
        if (param_count < 0) {
            return PQexec(pg->conn, sql);
        }
        return PQexecParams(pg->conn, sql, param_count, NULL, values, NULL, NULL, 0);
    }
    int sent;
    if (statement != NULL) {
        sent = PQsendQueryPrepared(pg->conn, statement->name, param_count, values, NULL, NULL, 0);
    } else if (param_count < 0) {
        sent = PQsendQuery(pg->conn, sql);
    } else {
        sent = PQsendQueryParams(pg->conn, sql, param_count, NULL, values, NULL, NULL, 0);
    }
    return sent == 1 ? pg_result_wait(pg, timed_out) : NULL;
}

static ss_err_t pg_fail_timeout(ss_pg_t *pg, const char *label, char *errstr, size_t errstr_size)
{
    pg->last_sqlstate[0] = '\0';
    pg->timed_out = true;
    return ss_err_set(SS_ERR_TIMEOUT, errstr, errstr_size,
                      "could not execute %s: no answer from postgresql within %d ms", label,
                      pg->result_timeout_ms);
}

/* ---- statements -------------------------------------------------------------------------- */

ss_err_t ss_pg_prepare(ss_pg_t *pg, const char *name, const char *sql, int param_count,
                       char *errstr, size_t errstr_size)
{
    SS_ASSERT(pg != NULL);
    if (name == NULL || name[0] == '\0' || strlen(name) > SS_PG_STATEMENT_NAME_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not prepare statement: name must have 1..%d characters",
                          SS_PG_STATEMENT_NAME_MAX);
    }
    if (sql == NULL || sql[0] == '\0') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not prepare statement \"%s\": empty sql", name);
    }
    if (param_count < 0 || param_count > SS_PG_PARAMS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not prepare statement \"%s\": parameter count %d is outside "
                          "0..%d",
                          name, param_count, SS_PG_PARAMS_MAX);
    }
    if (pg->pipeline_active) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not prepare statement \"%s\": inside a pipeline", name);
    }

    pg_statement_t *existing = pg_statement_find(pg, name);
    if (existing != NULL) {
        if (strcmp(existing->sql, sql) == 0 && existing->param_count == param_count) {
            return SS_OK;
        }
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not prepare statement \"%s\": already prepared with other sql",
                          name);
    }
    if (pg->statement_count >= SS_PG_STATEMENTS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not prepare statement \"%s\": more than %d statements", name,
                          SS_PG_STATEMENTS_MAX);
    }

    pg_statement_t *statement = &pg->statements[pg->statement_count];
    statement->name = strdup(name);
    statement->sql = strdup(sql);
    statement->param_count = param_count;
    pg->statement_count++;
    if (statement->name == NULL || statement->sql == NULL) {
        pg_statement_remove(pg, statement);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size,
                          "could not prepare statement \"%s\": no memory", name);
    }

    if (ss_pg_is_broken(pg)) {
        /* Registered: ss_pg_reset() will prepare it. */
        return ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                          "could not prepare statement \"%s\": connection is broken, reset it",
                          name);
    }
    ss_err_t err = pg_prepare_on_server(pg, statement, errstr, errstr_size);
    if (err != SS_OK) {
        if (!ss_pg_is_broken(pg)) {
            pg_statement_remove(pg, statement);
        }
        return err;
    }

    int server_count = 0;
    err = pg_describe_param_count(pg, statement, &server_count, errstr, errstr_size);
    if (err == SS_OK && server_count != param_count) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "could not prepare statement \"%s\": the sql has %d parameters, not %d",
                         name, server_count, param_count);
        /* Drop the server's copy so that the name can be prepared again correctly. */
        char deallocate[SS_PG_STATEMENT_NAME_MAX + 32];
        char *quoted = PQescapeIdentifier(pg->conn, name, strlen(name));
        if (quoted != NULL) {
            snprintf(deallocate, sizeof(deallocate), "DEALLOCATE %s", quoted);
            PQfreemem(quoted);
            PQclear(PQexec(pg->conn, deallocate));
        }
    }
    if (err != SS_OK && !ss_pg_is_broken(pg)) {
        pg_statement_remove(pg, statement);
    }
    return err;
}

ss_err_t ss_pg_exec(ss_pg_t *pg, const char *sql, char *errstr, size_t errstr_size)
{
    char label[PG_LABEL_SIZE];

    SS_ASSERT(pg != NULL);
    if (sql == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "could not execute: sql is NULL");
    }
    pg_label(label, sizeof(label), NULL, sql);
    if (pg->pipeline_active) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not execute %s: inside a pipeline", label);
    }
    if (ss_pg_is_broken(pg)) {
        return pg_fail_broken(pg, label, errstr, errstr_size);
    }
    bool timed_out = false;
    pg->timed_out = false;
    PGresult *result = pg_run(pg, NULL, sql, -1, NULL, &timed_out);
    if (timed_out) {
        return pg_fail_timeout(pg, label, errstr, errstr_size);
    }
    ExecStatusType status = result != NULL ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
        ss_err_t err = pg_fail(pg, result, "execute", label, errstr, errstr_size);
        PQclear(result);
        return err;
    }
    PQclear(result);
    pg->last_sqlstate[0] = '\0';
    return SS_OK;
}

ss_err_t ss_pg_query(ss_pg_t *pg, const char *statement_name, const char *sql, int param_count,
                     const char *const *values, PGresult **result_out, char *errstr,
                     size_t errstr_size)
{
    char label[PG_LABEL_SIZE];
    pg_statement_t *statement = NULL;

    SS_ASSERT(pg != NULL);
    if (result_out != NULL) {
        *result_out = NULL;
    }
    ss_err_t err = pg_check_query(pg, statement_name, sql, param_count, values, &statement, errstr,
                                  errstr_size);
    if (err != SS_OK) {
        return err;
    }
    pg_label(label, sizeof(label), statement_name, sql);
    if (pg->pipeline_active) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not execute %s: inside a pipeline", label);
    }
    if (ss_pg_is_broken(pg)) {
        return pg_fail_broken(pg, label, errstr, errstr_size);
    }

    bool timed_out = false;
    pg->timed_out = false;
    PGresult *result = pg_run(pg, statement, sql, param_count, values, &timed_out);
    if (timed_out) {
        return pg_fail_timeout(pg, label, errstr, errstr_size);
    }
    ExecStatusType status = result != NULL ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        err = pg_fail(pg, result, "execute", label, errstr, errstr_size);
        PQclear(result);
        return err;
    }
    pg->last_sqlstate[0] = '\0';
    if (result_out != NULL) {
        *result_out = result;
    } else {
        PQclear(result);
    }
    return SS_OK;
}

/* ---- transactions ------------------------------------------------------------------------ */

ss_err_t ss_pg_begin(ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    return ss_pg_exec(pg, "BEGIN", errstr, errstr_size);
}

ss_err_t ss_pg_commit(ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    SS_ASSERT(pg != NULL);
    if (pg->pipeline_active) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not commit: inside a pipeline");
    }
    if (ss_pg_is_broken(pg)) {
        pg->last_sqlstate[0] = '\0';
        return ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                          "could not commit: connection is broken, the transaction is lost");
    }
    PGresult *result = PQexec(pg->conn, "COMMIT");
    if (result == NULL || PQresultStatus(result) != PGRES_COMMAND_OK) {
        bool lost = pg_connection_bad(pg);
        ss_err_t err = pg_fail(pg, result, "commit", lost ? "(outcome unknown)" : "transaction",
                               errstr, errstr_size);
        PQclear(result);
        return err;
    }
    /* COMMIT of an aborted transaction "succeeds" with the tag ROLLBACK. */
    bool rolled_back = strcmp(PQcmdStatus(result), "ROLLBACK") == 0;
    PQclear(result);
    pg->last_sqlstate[0] = '\0';
    if (rolled_back) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "could not commit: the transaction had failed and was rolled back");
    }
    return SS_OK;
}

ss_err_t ss_pg_rollback(ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    SS_ASSERT(pg != NULL);
    if (pg->pipeline_active) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not roll back: inside a pipeline");
    }
    if (ss_pg_is_broken(pg) || PQtransactionStatus(pg->conn) == PQTRANS_IDLE) {
        return SS_OK;
    }
    PGresult *result = PQexec(pg->conn, "ROLLBACK");
    if (result == NULL || PQresultStatus(result) != PGRES_COMMAND_OK) {
        if (pg_connection_bad(pg)) {
            /* The server discards the transaction with the connection. */
            pg->broken = true;
            PQclear(result);
            return SS_OK;
        }
        ss_err_t err = pg_fail(pg, result, "roll back", "transaction", errstr, errstr_size);
        PQclear(result);
        return err;
    }
    PQclear(result);
    pg->last_sqlstate[0] = '\0';
    return SS_OK;
}

/* ---- pipeline mode ----------------------------------------------------------------------- */

static int64_t pg_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/*
 * Sends everything libpq buffered (non-blocking connection). While the socket does not take
 * more, reads what the server sends, so that it never blocks on us. Bounded by
 * SS_PG_PIPELINE_IO_TIMEOUT_MS.
 */
static ss_err_t pg_pipeline_flush(ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    int64_t deadline_ms = pg_now_ms() + SS_PG_PIPELINE_IO_TIMEOUT_MS;
    for (;;) {
        int rc = PQflush(pg->conn);
        if (rc == 0) {
            return SS_OK;
        }
        if (rc < 0) {
            return pg_fail(pg, NULL, "send", "pipeline", errstr, errstr_size);
        }
        int64_t left_ms = deadline_ms - pg_now_ms();
        if (left_ms <= 0) {
            pg->broken = true;
            return ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                              "could not send pipeline: no progress for %d ms",
                              SS_PG_PIPELINE_IO_TIMEOUT_MS);
        }
        struct pollfd pollfd = {.fd = PQsocket(pg->conn), .events = POLLIN | POLLOUT};
        if (pollfd.fd < 0) {
            return pg_fail(pg, NULL, "send", "pipeline", errstr, errstr_size);
        }
        rc = poll(&pollfd, 1, (int)left_ms);
        if (rc < 0 && errno != EINTR) {
            pg->broken = true;
            return ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                              "could not send pipeline: poll failed: %s", strerror(errno));
        }
        if (rc > 0 && (pollfd.revents & (POLLIN | POLLERR | POLLHUP)) != 0 &&
            PQconsumeInput(pg->conn) != 1) {
            return pg_fail(pg, NULL, "send", "pipeline", errstr, errstr_size);
        }
    }
}

ss_err_t ss_pg_pipeline_begin(ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    SS_ASSERT(pg != NULL);
    if (pg->pipeline_active) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not begin pipeline: one is already active");
    }
    if (ss_pg_is_broken(pg)) {
        return pg_fail_broken(pg, "pipeline", errstr, errstr_size);
    }
    if (PQenterPipelineMode(pg->conn) != 1) {
        return pg_fail(pg, NULL, "begin", "pipeline", errstr, errstr_size);
    }
    if (PQsetnonblocking(pg->conn, 1) != 0) {
        ss_err_t err = pg_fail(pg, NULL, "begin", "pipeline", errstr, errstr_size);
        if (PQexitPipelineMode(pg->conn) != 1) {
            pg->broken = true;
        }
        return err;
    }
    pg_pipeline_forget(pg);
    pg->pipeline_active = true;
    pg->last_sqlstate[0] = '\0';
    return SS_OK;
}

ss_err_t ss_pg_pipeline_query(ss_pg_t *pg, const char *statement_name, const char *sql,
                              int param_count, const char *const *values, char *errstr,
                              size_t errstr_size)
{
    pg_statement_t *statement = NULL;

    SS_ASSERT(pg != NULL);
    if (!pg->pipeline_active) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not queue query: no pipeline is active");
    }
    if (pg->pipeline_error != SS_OK) {
        /* Nothing more is sent after a failure: a later COMMIT must never go out. */
        return ss_err_set(pg->pipeline_error, errstr, errstr_size, "%s", pg->pipeline_errstr);
    }

    ss_err_t err = pg_check_query(pg, statement_name, sql, param_count, values, &statement,
                                  pg->pipeline_errstr, sizeof(pg->pipeline_errstr));
    if (err == SS_OK && pg->pipeline_queued >= SS_PG_PIPELINE_QUERIES_MAX) {
        err = ss_err_set(SS_ERR_INVALID, pg->pipeline_errstr, sizeof(pg->pipeline_errstr),
                         "could not queue query: more than %d in one pipeline",
                         SS_PG_PIPELINE_QUERIES_MAX);
    }
    if (err == SS_OK) {
        char *label = pg->pipeline_labels[pg->pipeline_queued];
        pg_label(label, PG_LABEL_SIZE, statement_name, sql);
        int sent;
        if (statement != NULL) {
            sent = PQsendQueryPrepared(pg->conn, statement->name, param_count,
                                       (const char *const *)values, NULL, NULL, 0);
        } else {
            sent = PQsendQueryParams(pg->conn, sql, param_count, NULL, (const char *const *)values,
                                     NULL, NULL, 0);
        }
        if (sent != 1) {
            err =
                pg_fail(pg, NULL, "queue", label, pg->pipeline_errstr, sizeof(pg->pipeline_errstr));
        } else {
            pg->pipeline_queued++;
            err = pg_pipeline_flush(pg, pg->pipeline_errstr, sizeof(pg->pipeline_errstr));
        }
    }
    if (err != SS_OK) {
        pg->pipeline_error = err;
        return ss_err_set(err, errstr, errstr_size, "%s", pg->pipeline_errstr);
    }
    return SS_OK;
}

size_t ss_pg_pipeline_queued(const ss_pg_t *pg)
{
    SS_ASSERT(pg != NULL);
    return pg->pipeline_queued;
}

void ss_pg_results_clear(PGresult **results, size_t count)
{
    if (results == NULL) {
        return;
    }
    for (size_t i = 0; i < count; i++) {
        PQclear(results[i]);
        results[i] = NULL;
    }
}

/*
 * Reads the results of the queued queries and the sync, in blocking mode. Keeps the first
 * error; stores results into `results` (NULL: discard). Returns false when the sync was not
 * reached (connection lost or protocol state unknown).
 */
static bool pg_pipeline_collect(ss_pg_t *pg, PGresult **results, ss_err_t *err_out, char *errstr,
                                size_t errstr_size)
{
    size_t queued = pg->pipeline_queued;
    size_t index = 0;
    size_t reads_max = queued * (PG_PIPELINE_READS_PER_QUERY_MAX + 1) + 4;

    for (size_t reads = 0; reads < reads_max; reads++) {
        PGresult *result = PQgetResult(pg->conn);
        if (result == NULL) {
            /* The end of one query's results; or nothing more will come. */
            if (pg_connection_bad(pg)) {
                break;
            }
            continue;
        }
        ExecStatusType status = PQresultStatus(result);
        if (status == PGRES_PIPELINE_SYNC) {
            PQclear(result);
            if (index != queued && *err_out == SS_OK) {
                *err_out = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                                      "could not execute pipeline: %zu results for %zu queries",
                                      index, queued);
            }
            return true;
        }
        if (index >= queued) {
            PQclear(result);
            if (*err_out == SS_OK) {
                *err_out = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                                      "could not execute pipeline: more results than queries");
            }
            continue;
        }
        if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
            if (results != NULL) {
                results[index] = result;
            } else {
                PQclear(result);
            }
        } else if (status == PGRES_PIPELINE_ABORTED) {
            PQclear(result);
            if (*err_out == SS_OK) {
                *err_out = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                                      "could not execute pipeline query %zu (%s): aborted", index,
                                      pg->pipeline_labels[index]);
            }
        } else {
            if (*err_out == SS_OK) {
                char action[64];
                snprintf(action, sizeof(action), "execute pipeline query %zu", index);
                *err_out =
                    pg_fail(pg, result, action, pg->pipeline_labels[index], errstr, errstr_size);
            }
            PQclear(result);
        }
        index++;
    }
    return false;
}

ss_err_t ss_pg_pipeline_end(ss_pg_t *pg, PGresult **results_out, size_t count, char *errstr,
                            size_t errstr_size)
{
    ss_err_t err = SS_OK;
    PGresult *results[SS_PG_PIPELINE_QUERIES_MAX] = {0};
    size_t queued;

    SS_ASSERT(pg != NULL);
    if (results_out != NULL) {
        for (size_t i = 0; i < count; i++) {
            results_out[i] = NULL;
        }
    }
    if (!pg->pipeline_active) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not end pipeline: no pipeline is active");
    }
    queued = pg->pipeline_queued;

    if (pg->pipeline_error == SS_OK && results_out != NULL && count != queued) {
        /* Nothing may run: handled like a failure while queueing. */
        pg->pipeline_error =
            ss_err_set(SS_ERR_INVALID, pg->pipeline_errstr, sizeof(pg->pipeline_errstr),
                       "could not end pipeline: %zu result slots for %zu "
                       "queries",
                       count, queued);
    }
    if (pg->pipeline_error != SS_OK) {
        err = ss_err_set(pg->pipeline_error, errstr, errstr_size, "%s", pg->pipeline_errstr);
        if (queued > 0) {
            /*
             * Queries already went out and no sync will follow: drop the session so the server
             * discards them instead of running part of the batch.
             */
            char ignored[PG_ERRSTR_SIZE];
            ss_pg_reset(pg, ignored, sizeof(ignored));
        } else {
            if (PQsetnonblocking(pg->conn, 0) != 0 || PQexitPipelineMode(pg->conn) != 1) {
                pg->broken = true;
            }
            pg_pipeline_forget(pg);
        }
        return err;
    }

    if (PQpipelineSync(pg->conn) != 1) {
        err = pg_fail(pg, NULL, "sync", "pipeline", errstr, errstr_size);
    } else {
        err = pg_pipeline_flush(pg, errstr, errstr_size);
    }
    if (err == SS_OK && PQsetnonblocking(pg->conn, 0) != 0) {
        err = pg_fail(pg, NULL, "collect", "pipeline", errstr, errstr_size);
    }
    if (err == SS_OK) {
        bool synced = pg_pipeline_collect(pg, results, &err, errstr, errstr_size);
        if (!synced) {
            if (err == SS_OK) {
                err = pg_fail(pg, NULL, "collect", "pipeline", errstr, errstr_size);
            }
            pg->broken = true;
            err = SS_ERR_RETRIABLE;
        }
    }

    if (!pg->broken && !pg_connection_bad(pg)) {
        if (PQisnonblocking(pg->conn) && PQsetnonblocking(pg->conn, 0) != 0) {
            pg->broken = true;
        }
        if (PQexitPipelineMode(pg->conn) != 1) {
            pg->broken = true;
        }
    }
    if (pg->broken && err == SS_OK) {
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "could not end pipeline: connection state unknown");
    }
    pg_pipeline_forget(pg);

    if (err != SS_OK) {
        ss_pg_results_clear(results, queued);
        return err;
    }
    pg->last_sqlstate[0] = '\0';
    if (results_out != NULL) {
        memcpy(results_out, results, queued * sizeof(results[0]));
    } else {
        ss_pg_results_clear(results, queued);
    }
    return SS_OK;
}

/* ---- array parameters -------------------------------------------------------------------- */

void ss_pg_array_init(ss_pg_array_t *array)
{
    SS_ASSERT(array != NULL);
    memset(array, 0, sizeof(*array));
}

void ss_pg_array_reset(ss_pg_array_t *array)
{
    SS_ASSERT(array != NULL);
    array->count = 0;
    array->failed = false;
    array->length = 0;
    if (array->buffer != NULL) {
        memcpy(array->buffer, "{}", 3);
        array->length = 2;
    }
}

void ss_pg_array_free(ss_pg_array_t *array)
{
    if (array == NULL) {
        return;
    }
    free(array->buffer);
    ss_pg_array_init(array);
}

/*
 * Makes room for an element of at most `element_max` bytes plus its separator, the closing
 * brace and the NUL, growing the buffer geometrically. Marks the array failed on error.
 */
static ss_err_t pg_array_reserve(ss_pg_array_t *array, size_t element_max, char *errstr,
                                 size_t errstr_size)
{
    if (array->failed) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not append to array: an earlier append failed");
    }
    if (array->buffer == NULL) {
        array->buffer = malloc(PG_ARRAY_INITIAL_CAPACITY);
        if (array->buffer == NULL) {
            array->failed = true;
            return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size,
                              "could not append to array: no memory");
        }
        array->capacity = PG_ARRAY_INITIAL_CAPACITY;
        memcpy(array->buffer, "{}", 3);
        array->length = 2;
    }
    if (element_max > SS_PG_ARRAY_BYTES_MAX ||
        array->length + element_max + 3 > SS_PG_ARRAY_BYTES_MAX) {
        array->failed = true;
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not append to array: literal would exceed %zu bytes",
                          SS_PG_ARRAY_BYTES_MAX);
    }
    size_t needed = array->length + element_max + 3; /* ',' '}' NUL */
    if (needed <= array->capacity) {
        return SS_OK;
    }
    size_t capacity = array->capacity;
    while (capacity < needed) {
        capacity *= 2;
    }
    char *buffer = realloc(array->buffer, capacity);
    if (buffer == NULL) {
        array->failed = true;
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size,
                          "could not append to array: no memory for %zu bytes", capacity);
    }
    array->buffer = buffer;
    array->capacity = capacity;
    return SS_OK;
}

/* Opens an element: position at the closing brace, add the separator. Returns the cursor. */
static char *pg_array_open(ss_pg_array_t *array)
{
    char *cursor = array->buffer + array->length - 1; /* the '}' */
    if (array->count > 0) {
        *cursor++ = ',';
    }
    return cursor;
}

static void pg_array_close(ss_pg_array_t *array, char *cursor)
{
    *cursor++ = '}';
    *cursor = '\0';
    array->length = (size_t)(cursor - array->buffer);
    array->count++;
}

ss_err_t ss_pg_array_append_int64(ss_pg_array_t *array, int64_t value, char *errstr,
                                  size_t errstr_size)
{
    char digits[24];
    SS_ASSERT(array != NULL);
    int length = snprintf(digits, sizeof(digits), "%" PRId64, value);
    ss_err_t err = pg_array_reserve(array, (size_t)length, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    char *cursor = pg_array_open(array);
    memcpy(cursor, digits, (size_t)length);
    pg_array_close(array, cursor + length);
    return SS_OK;
}

ss_err_t ss_pg_array_append_null(ss_pg_array_t *array, char *errstr, size_t errstr_size)
{
    SS_ASSERT(array != NULL);
    ss_err_t err = pg_array_reserve(array, 4, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    char *cursor = pg_array_open(array);
    memcpy(cursor, "NULL", 4);
    pg_array_close(array, cursor + 4);
    return SS_OK;
}

ss_err_t ss_pg_array_append_text_n(ss_pg_array_t *array, const char *text, size_t length,
                                   char *errstr, size_t errstr_size)
{
    SS_ASSERT(array != NULL);
    if (text == NULL) {
        return ss_pg_array_append_null(array, errstr, errstr_size);
    }
    if (memchr(text, '\0', length) != NULL) {
        array->failed = true;
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not append to array: text contains a NUL byte");
    }
    if (length > SS_PG_ARRAY_BYTES_MAX) {
        array->failed = true;
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not append to array: text of %zu bytes is too long", length);
    }
    /* Worst case every byte is escaped, plus the quotes. */
    ss_err_t err = pg_array_reserve(array, 2 * length + 2, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    char *cursor = pg_array_open(array);
    *cursor++ = '"';
    for (size_t i = 0; i < length; i++) {
        if (text[i] == '"' || text[i] == '\\') {
            *cursor++ = '\\';
        }
        *cursor++ = text[i];
    }
    *cursor++ = '"';
    pg_array_close(array, cursor);
    return SS_OK;
}

ss_err_t ss_pg_array_append_text(ss_pg_array_t *array, const char *text, char *errstr,
                                 size_t errstr_size)
{
    if (text == NULL) {
        return ss_pg_array_append_null(array, errstr, errstr_size);
    }
    return ss_pg_array_append_text_n(array, text, strlen(text), errstr, errstr_size);
}

ss_err_t ss_pg_array_append_bytea(ss_pg_array_t *array, const void *data, size_t size, char *errstr,
                                  size_t errstr_size)
{
    static const char hex[] = "0123456789abcdef";
    SS_ASSERT(array != NULL);
    if (data == NULL) {
        return ss_pg_array_append_null(array, errstr, errstr_size);
    }
    if (size > SS_PG_ARRAY_BYTES_MAX / 2) {
        array->failed = true;
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not append to array: bytea of %zu bytes is too long", size);
    }
    /* "\\x" then two hex digits a byte, quoted: the element's text is \x..., its \ escaped. */
    ss_err_t err = pg_array_reserve(array, 2 * size + 5, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    const unsigned char *bytes = data;
    char *cursor = pg_array_open(array);
    memcpy(cursor, "\"\\\\x", 4);
    cursor += 4;
    for (size_t i = 0; i < size; i++) {
        *cursor++ = hex[bytes[i] >> 4];
        *cursor++ = hex[bytes[i] & 0x0f];
    }
    *cursor++ = '"';
    pg_array_close(array, cursor);
    return SS_OK;
}

const char *ss_pg_array_text(const ss_pg_array_t *array)
{
    SS_ASSERT(array != NULL);
    if (array->failed) {
        return NULL;
    }
    if (array->buffer == NULL) {
        return "{}";
    }
    return array->buffer;
}

size_t ss_pg_array_count(const ss_pg_array_t *array)
{
    SS_ASSERT(array != NULL);
    return array->count;
}

/* ---- result getters ---------------------------------------------------------------------- */

bool ss_pg_is_null(const PGresult *result, int row, int column)
{
    if (result == NULL || row < 0 || row >= PQntuples(result) || column < 0 ||
        column >= PQnfields(result)) {
        return true;
    }
    return PQgetisnull(result, row, column) != 0;
}

/* The field's text, or an SS_ERR_INVALID for a missing result, bad position or NULL. */
static ss_err_t pg_field(const PGresult *result, int row, int column, const char **text_out,
                         char *errstr, size_t errstr_size)
{
    *text_out = NULL;
    if (result == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "could not read field: no result");
    }
    if (row < 0 || row >= PQntuples(result) || column < 0 || column >= PQnfields(result)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not read field (%d, %d): the result has %d rows and %d columns",
                          row, column, PQntuples(result), PQnfields(result));
    }
    if (PQgetisnull(result, row, column)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not read field \"%s\" of row %d: it is null",
                          PQfname(result, column), row);
    }
    *text_out = PQgetvalue(result, row, column);
    return SS_OK;
}

ss_err_t ss_pg_get_int64(const PGresult *result, int row, int column, int64_t *out, char *errstr,
                         size_t errstr_size)
{
    const char *text;
    SS_ASSERT(out != NULL);
    ss_err_t err = pg_field(result, row, column, &text, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (text[0] == '\0' || end == NULL || *end != '\0' || errno != 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not read field \"%s\" of row %d: \"%.32s\" is not an integer",
                          PQfname(result, column), row, text);
    }
    *out = (int64_t)value;
    return SS_OK;
}

ss_err_t ss_pg_get_int32(const PGresult *result, int row, int column, int32_t *out, char *errstr,
                         size_t errstr_size)
{
    int64_t value;
    SS_ASSERT(out != NULL);
    ss_err_t err = ss_pg_get_int64(result, row, column, &value, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    if (value < INT32_MIN || value > INT32_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not read field \"%s\" of row %d: %" PRId64 " does not fit 32 bits",
                          PQfname(result, column), row, value);
    }
    *out = (int32_t)value;
    return SS_OK;
}

ss_err_t ss_pg_get_bool(const PGresult *result, int row, int column, bool *out, char *errstr,
                        size_t errstr_size)
{
    const char *text;
    SS_ASSERT(out != NULL);
    ss_err_t err = pg_field(result, row, column, &text, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    if (strcmp(text, "t") == 0) {
        *out = true;
        return SS_OK;
    }
    if (strcmp(text, "f") == 0) {
        *out = false;
        return SS_OK;
    }
    return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                      "could not read field \"%s\" of row %d: \"%.32s\" is not a boolean",
                      PQfname(result, column), row, text);
}

ss_err_t ss_pg_get_double(const PGresult *result, int row, int column, double *out, char *errstr,
                          size_t errstr_size)
{
    const char *text;
    SS_ASSERT(out != NULL);
    ss_err_t err = pg_field(result, row, column, &text, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    char *end = NULL;
    errno = 0;
    double value = strtod(text, &end);
    if (text[0] == '\0' || end == NULL || *end != '\0' || errno != 0 || !isfinite(value)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "could not read field \"%s\" of row %d: \"%.32s\" is not a finite "
                          "number",
                          PQfname(result, column), row, text);
    }
    *out = value;
    return SS_OK;
}

ss_err_t ss_pg_get_text(const PGresult *result, int row, int column, const char **out, char *errstr,
                        size_t errstr_size)
{
    SS_ASSERT(out != NULL);
    return pg_field(result, row, column, out, errstr, errstr_size);
}

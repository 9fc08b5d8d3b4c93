/*
 * The retention of stock_reservations (docs/architecture.md, "Retention"). A reservation row is
 * the stock worker's dedupe of ReserveStock and ReleaseStock per (order, product); it may go only
 * when nothing can deliver a command for its order any more, or when a command that still comes
 * cannot take stock. The second is what the horizon makes true: rows are pruned in order_id
 * order, and the transaction that deletes them raises stock_reservation_horizon past their
 * orders, so a batch that finds no row for an order below the horizon refuses to reserve
 * (reserve.c). Rows are old after SS_RESERVATION_RETENTION_S (30 d by default, beyond the 7 d
 * of the command topics and any saga deadline, so a legitimate first delivery is never that late).
 *
 * Any stock worker may prune any product's rows: the horizon row is locked (SKIP LOCKED: one
 * pruner at a time, the others skip), and the batches read it after their rows, never locking
 * it, so a batch either sees a pruned row or the horizon above it.
 */
#include "stock_worker.h"

#include "ss/log.h"
#include "ss/retention.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * The horizon, and the most it may rise to: the last order id the sequence gave out, so an
 * order still to come is never below it whatever ids a scan meets (tests invent large ones).
 */
#define SQL_HORIZON_LOCK                                                                           \
    "SELECT order_id_below, (SELECT last_value FROM orders_id_seq) FROM stock_reservation_horizon" \
    " WHERE id = 1 FOR UPDATE SKIP LOCKED"
#define SQL_SCAN                                                                                   \
    "SELECT order_id, created_at < now() - $2::bigint * interval '1 second'"                       \
    " FROM stock_reservations WHERE order_id >= $1::bigint ORDER BY order_id, product_id"          \
    " LIMIT $3::bigint"
#define SQL_HORIZON_RAISE                                                                          \
    "UPDATE stock_reservation_horizon SET order_id_below = $1::bigint, updated_at = now()"         \
    " WHERE id = 1"
#define SQL_DELETE                                                                                 \
    "DELETE FROM stock_reservations WHERE order_id >= $1::bigint AND order_id < $2::bigint"        \
    " AND created_at < now() - $3::bigint * interval '1 second'"

void ss_stock_retention_free(ss_stock_retention_t *retention)
{
    if (retention == NULL) {
        return;
    }
    free(retention->ids);
    free(retention->old);
    retention->ids = NULL;
    retention->old = NULL;
    retention->capacity = 0;
}

static ss_err_t buffers_reserve(ss_stock_retention_t *retention, size_t rows_max, char *errstr,
                                size_t errstr_size)
{
    if (retention->capacity >= rows_max) {
        return SS_OK;
    }
    ss_stock_retention_free(retention);
    retention->ids = calloc(rows_max, sizeof(*retention->ids));
    retention->old = calloc(rows_max, sizeof(*retention->old));
    if (retention->ids == NULL || retention->old == NULL) {
        ss_stock_retention_free(retention);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate the scan");
    }
    retention->capacity = rows_max;
    return SS_OK;
}

/* The next rows at or above horizon, in order_id order: their ids and whether each is old. */
static ss_err_t scan(ss_stock_retention_t *retention, ss_pg_t *pg, int64_t horizon,
                     long long rows_max, size_t *count, char *errstr, size_t errstr_size)
{
    char horizon_text[24], retention_text[24], rows_text[24];
    snprintf(horizon_text, sizeof(horizon_text), "%" PRId64, horizon);
    snprintf(retention_text, sizeof(retention_text), "%lld", retention->retention_s);
    snprintf(rows_text, sizeof(rows_text), "%lld", rows_max);
    const char *params[] = {horizon_text, retention_text, rows_text};
    PGresult *rows = NULL;
    ss_err_t err = ss_pg_query(pg, NULL, SQL_SCAN, 3, params, &rows, errstr, errstr_size);
    int row_count = err == SS_OK ? PQntuples(rows) : 0;
    *count = 0;
    for (int row = 0; row < row_count && (size_t)row < retention->capacity && err == SS_OK; row++) {
        err = ss_pg_get_int64(rows, row, 0, &retention->ids[row], errstr, errstr_size);
        retention->old[row] = PQgetvalue(rows, row, 1)[0] == 't';
        *count = (size_t)row + 1;
    }
    PQclear(rows);
    return err;
}

/* Raises the horizon from `from` to `to` and deletes the old rows in between. */
static ss_err_t prune(ss_stock_retention_t *retention, ss_pg_t *pg, int64_t from, int64_t to,
                      int64_t *deleted, char *errstr, size_t errstr_size)
{
    char from_text[24], to_text[24], retention_text[24];
    snprintf(from_text, sizeof(from_text), "%" PRId64, from);
    snprintf(to_text, sizeof(to_text), "%" PRId64, to);
    snprintf(retention_text, sizeof(retention_text), "%lld", retention->retention_s);
    const char *raise[] = {to_text};
    ss_err_t err = ss_pg_query(pg, NULL, SQL_HORIZON_RAISE, 1, raise, NULL, errstr, errstr_size);
    PGresult *result = NULL;
    const char *range[] = {from_text, to_text, retention_text};
    if (err == SS_OK) {
        err = ss_pg_query(pg, NULL, SQL_DELETE, 3, range, &result, errstr, errstr_size);
    }
    *deleted = err == SS_OK ? strtoll(PQcmdTuples(result), NULL, 10) : 0;
    PQclear(result);
    return err;
}

/* Inside the transaction: one step, or nothing when another worker holds the horizon. */
static ss_err_t step(ss_stock_retention_t *retention, ss_pg_t *pg, long long rows_max, bool *more,
                     char *errstr, size_t errstr_size)
{
    PGresult *locked = NULL;
    ss_err_t err = ss_pg_query(pg, NULL, SQL_HORIZON_LOCK, 0, NULL, &locked, errstr, errstr_size);
    int64_t horizon = 0, ceiling = 0;
    bool mine = err == SS_OK && PQntuples(locked) == 1;
    if (mine) {
        err = ss_pg_get_int64(locked, 0, 0, &horizon, errstr, errstr_size);
    }
    if (mine && err == SS_OK) {
        err = ss_pg_get_int64(locked, 0, 1, &ceiling, errstr, errstr_size);
    }
    PQclear(locked);
    size_t count = 0;
    if (mine && err == SS_OK) {
        err = scan(retention, pg, horizon, rows_max, &count, errstr, errstr_size);
    }
    if (!mine || err != SS_OK) {
        return err;
    }
    int64_t raised =
        ss_retention_horizon(horizon, retention->ids, retention->old, count, (size_t)rows_max);
    raised = raised > ceiling ? (ceiling > horizon ? ceiling : horizon) : raised;
    int64_t deleted = 0;
    if (raised > horizon) {
        err = prune(retention, pg, horizon, raised, &deleted, errstr, errstr_size);
    }
    if (err == SS_OK && deleted > 0) {
        SS_LOG_INFO(SS_STOCK_COMPONENT,
                    "retention pruned stock_reservations=%" PRId64 " horizon=%" PRId64, deleted,
                    raised);
    }
    /* A full scan that moved the horizon: more may wait. One that could not move it waits. */
    *more = err == SS_OK && raised > horizon && count == (size_t)rows_max;
    return err;
}

ss_err_t ss_stock_retention_run(ss_stock_retention_t *retention, ss_pg_t *pg, long long rows_max,
                                bool *more, char *errstr, size_t errstr_size)
{
    *more = false;
    ss_err_t err = buffers_reserve(retention, (size_t)rows_max, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_begin(pg, errstr, errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }
    err = step(retention, pg, rows_max, more, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_commit(pg, errstr, errstr_size);
    }
    if (err != SS_OK) {
        ss_pg_rollback(pg, NULL, 0);
        *more = false;
    }
    return err;
}

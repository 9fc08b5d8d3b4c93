/*
 * The order saga's deadline (docs/architecture.md "Saga deadline"). A ReserveStock or a stock
 * reply that is dead-lettered (schema skew during a rolling upgrade, a retention run out)
 * would leave its order PENDING forever, the money held and the coupon USED.
 *
 * On the framework's tick (ss_worker_handler_t.tick: the partition's own fenced transaction,
 * so the user worker stays the order's single writer) the partition's PENDING orders last
 * asked a re-ask interval ago or more are read, oldest ask first and at most
 * SS_USER_DEADLINE_ORDERS_MAX, and each gets ss_rules_order_deadline():
 *   REASK  ReserveStock again for every line still unanswered, with the same event id; the
 *          stock worker answers a repeat with the outcome it recorded (stock_reservations), so
 *          it never takes stock twice, and the answer drives the saga as usual (saga.c);
 *   FAIL   the order fails with UNAVAILABLE, compensated as a rejection is (refund, coupon
 *          back to UNUSED, OrderFailed, the deferred request answered), and every line not
 *          rejected is released, PENDING ones too: their stock may have been taken and the
 *          reply lost, and a release that reaches the stock worker first is remembered, so a
 *          late ReserveStock cannot take the stock. A reply that still comes changes nothing.
 * The checks come in as records of the internal type SS_USER_DEADLINE_RECORD, so the orders,
 * lines, accounts and coupons they need are loaded and written back exactly as for a batch's
 * stock replies. Everything is decided from what the tick's transaction reads: a tick that
 * committed without us knowing is seen by the next one, which then asks nothing twice.
 */
#include "user_worker.h"

#include "ss/api_error.h"
#include "ss/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define SQL_DEADLINE_SCAN                                                                          \
    "SELECT id, user_id, floor(extract(epoch FROM now() - created_at) * 1000)::bigint,"            \
    " floor(extract(epoch FROM now() - stock_asked_at) * 1000)::bigint, stock_reasks"              \
    " FROM orders WHERE status = 'PENDING' AND partition = $1"                                     \
    " AND stock_asked_at <= now() - $2::bigint * interval '1 millisecond'"                         \
    " ORDER BY stock_asked_at LIMIT $3"
#define SQL_DEADLINE_REASKED                                                                       \
    "UPDATE orders SET stock_reasks = stock_reasks + 1, stock_asked_at = now()"                    \
    " WHERE id = ANY($1::bigint[])"

void ss_user_deadline_init(ss_user_deadline_t *deadline)
{
    memset(deadline, 0, sizeof(*deadline));
    ss_pg_array_init(&deadline->reasked);
}

static void records_release(ss_user_deadline_t *deadline)
{
    for (size_t i = 0; i < deadline->record_count; i++) {
        json_decref(deadline->records[i].value);
        deadline->records[i].value = NULL;
    }
    deadline->record_count = 0;
}

void ss_user_deadline_free(ss_user_deadline_t *deadline)
{
    if (deadline == NULL) {
        return;
    }
    records_release(deadline);
    ss_pg_array_free(&deadline->reasked);
}

ss_err_t ss_user_deadline_prepare_statements(ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    ss_err_t err =
        ss_pg_prepare(pg, "user_deadline_scan", SQL_DEADLINE_SCAN, 3, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_prepare(pg, "user_deadline_reasked", SQL_DEADLINE_REASKED, 1, errstr,
                            errstr_size);
    }
    return err;
}

/* Row row of the scan as a check record: {order_id, user_id, age_ms, since_ask_ms, reasks}. */
static ss_err_t check_read(const PGresult *rows, int row, int32_t partition,
                           ss_worker_record_t *record, char *errstr, size_t errstr_size)
{
    int64_t values[5] = {0};
    ss_err_t err = SS_OK;
    for (int column = 0; column < 5 && err == SS_OK; column++) {
        err = ss_pg_get_int64(rows, row, column, &values[column], errstr, errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }
    json_t *value =
        json_pack("{s:I, s:I, s:I, s:I, s:I}", "order_id", (json_int_t)values[0], "user_id",
                  (json_int_t)values[1], "age_ms", (json_int_t)values[2], "since_ask_ms",
                  (json_int_t)values[3], "reasks", (json_int_t)values[4]);
    if (value == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build a deadline check");
    }
    *record = (ss_worker_record_t){.schema_name = SS_USER_DEADLINE_RECORD,
                                   .value = value,
                                   .key = "",
                                   .partition = partition,
                                   .offset = -1};
    return SS_OK;
}

ss_err_t ss_user_deadline_scan(ss_user_deadline_t *deadline, ss_pg_t *pg, int32_t partition,
                               char *errstr, size_t errstr_size)
{
    records_release(deadline);
    ss_pg_array_reset(&deadline->reasked);
    const ss_rules_saga_deadline_t *settings = &deadline->settings;
    /* An order past the deadline is due even when asked again within the interval. */
    int64_t due_ms = settings->reask_interval_ms < settings->deadline_ms
                         ? settings->reask_interval_ms
                         : settings->deadline_ms;
    char partition_text[16], due_text[24], limit_text[16];
    snprintf(partition_text, sizeof(partition_text), "%" PRId32, partition);
    snprintf(due_text, sizeof(due_text), "%" PRId64, due_ms);
    snprintf(limit_text, sizeof(limit_text), "%d", SS_USER_DEADLINE_ORDERS_MAX);
    const char *params[] = {partition_text, due_text, limit_text};
    PGresult *rows = NULL;
    ss_err_t err =
        ss_pg_query(pg, "user_deadline_scan", NULL, 3, params, &rows, errstr, errstr_size);
    int count = err == SS_OK ? PQntuples(rows) : 0;
    for (int row = 0; row < count && row < SS_USER_DEADLINE_ORDERS_MAX && err == SS_OK; row++) {
        err = check_read(rows, row, partition, &deadline->records[deadline->record_count], errstr,
                         errstr_size);
        if (err == SS_OK) {
            deadline->record_count++;
        }
    }
    PQclear(rows);
    return err;
}

static int64_t check_int(const ss_worker_record_t *record, const char *name)
{
    return json_integer_value(json_object_get(record->value, name));
}

/* ReserveStock again for every line of the order that has no answer yet. */
static ss_err_t order_reask(ss_user_deadline_t *deadline, ss_user_batch_t *batch,
                            ss_worker_batch_t *worker_batch, const ss_user_order_t *order,
                            int64_t reasks, char *errstr, size_t errstr_size)
{
    size_t asked = 0;
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < order->item_count && err == SS_OK; i++) {
        const ss_user_order_item_t *item = &batch->items[order->item_first + i];
        if (item->reservation == SS_ORDER_RESERVATION_PENDING) {
            err = ss_user_stock_command_emit(worker_batch, order, item, true, errstr, errstr_size);
            asked++;
        }
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&deadline->reasked, order->order_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        SS_LOG_INFO(SS_USER_COMPONENT,
                    "order asked again order_id=%" PRId64 " lines=%zu reask=%" PRId64
                    " partition=%" PRId32,
                    order->order_id, asked, reasks + 1, ss_worker_batch_partition(worker_batch));
    }
    return err;
}

ss_err_t ss_user_deadline_apply(ss_user_deadline_t *deadline, ss_user_batch_t *batch,
                                ss_worker_batch_t *worker_batch, const ss_worker_record_t *record,
                                char *errstr, size_t errstr_size)
{
    int64_t order_id = check_int(record, "order_id");
    ss_user_order_t *order = ss_user_order_find(batch, order_id);
    if (order == NULL || order->user_id != check_int(record, "user_id")) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "deadline check of order %" PRId64 ", which the load did not find",
                          order_id);
    }
    if (order->status != SS_ORDER_PENDING) {
        return SS_OK; /* decided by a reply earlier in this tick's view: nothing is owed */
    }
    int64_t age_ms = check_int(record, "age_ms");
    int64_t reasks = check_int(record, "reasks");
    switch (ss_rules_order_deadline(&deadline->settings, age_ms, check_int(record, "since_ask_ms"),
                                    reasks)) {
    case SS_ORDER_DEADLINE_WAIT:
        return SS_OK;
    case SS_ORDER_DEADLINE_REASK:
        return order_reask(deadline, batch, worker_batch, order, reasks, errstr, errstr_size);
    case SS_ORDER_DEADLINE_FAIL:
        break;
    }
    SS_LOG_WARN(SS_USER_COMPONENT,
                "order failed at the saga deadline order_id=%" PRId64 " age_ms=%" PRId64
                " reasks=%" PRId64 " partition=%" PRId32,
                order->order_id, age_ms, reasks, ss_worker_batch_partition(worker_batch));
    return ss_user_order_fail(batch, worker_batch, order,
                              ss_api_error_name(SS_API_ERROR_UNAVAILABLE), true, errstr,
                              errstr_size);
}

ss_err_t ss_user_deadline_finish(ss_user_deadline_t *deadline, ss_pg_t *pg, char *errstr,
                                 size_t errstr_size)
{
    ss_err_t err = SS_OK;
    if (ss_pg_array_count(&deadline->reasked) > 0) {
        const char *params[] = {ss_pg_array_text(&deadline->reasked)};
        err = ss_pg_query(pg, "user_deadline_reasked", NULL, 1, params, NULL, errstr, errstr_size);
    }
    records_release(deadline);
    ss_pg_array_reset(&deadline->reasked);
    return err;
}

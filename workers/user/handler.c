/*
 * The user worker's batch handler: load the accounts, orders, products and coupons the batch
 * touches, apply each record in partition order by its type (ChargeBalance, PlaceOrder, and the
 * stock worker's StockReserved / StockRejected), write the changes back; on the framework's
 * tick, the saga deadline's checks of the partition's stale PENDING orders go the same way
 * (deadline.c). A record type this worker does not know is poison: the framework isolates it
 * and sends it to the dead-letter topic.
 */
#include "user_worker.h"
#include "ss/topics.h"

#include <string.h>

static ss_err_t record_apply(ss_user_worker_t *user_worker, ss_worker_batch_t *worker_batch,
                             const ss_worker_record_t *record, size_t index, char *errstr,
                             size_t errstr_size)
{
    ss_user_batch_t *batch = &user_worker->batch;
    if (strcmp(record->schema_name, SS_SCHEMA_CHARGE_BALANCE) == 0) {
        return ss_user_charge_apply(batch, worker_batch, record, index, errstr, errstr_size);
    }
    if (strcmp(record->schema_name, SS_SCHEMA_PLACE_ORDER) == 0) {
        return ss_user_order_place_apply(batch, worker_batch, record, index, errstr, errstr_size);
    }
    if (strcmp(record->schema_name, SS_SCHEMA_STOCK_RESERVED) == 0) {
        return ss_user_stock_reply_apply(batch, worker_batch, record, index,
                                         SS_ORDER_STOCK_RESERVED, errstr, errstr_size);
    }
    if (strcmp(record->schema_name, SS_SCHEMA_STOCK_REJECTED) == 0) {
        return ss_user_stock_reply_apply(batch, worker_batch, record, index,
                                         SS_ORDER_STOCK_REJECTED, errstr, errstr_size);
    }
    if (strcmp(record->schema_name, SS_USER_DEADLINE_RECORD) == 0) {
        return ss_user_deadline_apply(&user_worker->deadline, batch, worker_batch, record, errstr,
                                      errstr_size);
    }
    return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                      "the user worker does not handle %s records", record->schema_name);
}

/* Loads what the records touch, applies them in order, writes the changes back. */
static ss_err_t records_apply(ss_user_worker_t *user_worker, ss_worker_batch_t *worker_batch,
                              ss_worker_record_t *records, size_t record_count, char *errstr,
                              size_t errstr_size)
{
    ss_user_batch_t *batch = &user_worker->batch;
    ss_pg_t *pg = ss_worker_batch_pg(worker_batch);
    /* A no-op once registered; after a reconnect ss_pg_reset() has prepared them again. */
    ss_err_t err = ss_user_prepare_statements(pg, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_user_accounts_load(batch, pg, records, record_count, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_user_orders_load(batch, pg, records, record_count, errstr, errstr_size);
    }
    for (size_t i = 0; i < record_count && err == SS_OK; i++) {
        if (!records[i].handled) {
            /* Its ids go on what it causes: ReserveStock, OrderPaid, answers. */
            ss_worker_batch_record_enter(worker_batch, &records[i]);
            err = record_apply(user_worker, worker_batch, &records[i], i, errstr, errstr_size);
        }
    }
    if (err == SS_OK) {
        err = ss_user_accounts_flush(batch, pg, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_user_orders_flush(batch, pg, errstr, errstr_size);
    }
    return err;
}

static ss_err_t apply_batch(void *opaque, ss_worker_batch_t *worker_batch,
                            ss_worker_record_t *records, size_t record_count, char *errstr,
                            size_t errstr_size)
{
    return records_apply(opaque, worker_batch, records, record_count, errstr, errstr_size);
}

/* The saga deadline of one partition: its stale PENDING orders as checks, applied as a batch. */
static ss_err_t tick(void *opaque, ss_worker_batch_t *worker_batch, char *errstr,
                     size_t errstr_size)
{
    ss_user_worker_t *user_worker = opaque;
    ss_user_deadline_t *deadline = &user_worker->deadline;
    ss_pg_t *pg = ss_worker_batch_pg(worker_batch);
    ss_err_t err = ss_user_prepare_statements(pg, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_user_pending_count(&user_worker->pending, pg,
                                    ss_worker_batch_partition(worker_batch), errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_user_deadline_scan(deadline, pg, ss_worker_batch_partition(worker_batch), errstr,
                                    errstr_size);
    }
    if (err != SS_OK || deadline->record_count == 0) {
        return err;
    }
    err = records_apply(user_worker, worker_batch, deadline->records, deadline->record_count,
                        errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_user_deadline_finish(deadline, pg, errstr, errstr_size);
    }
    return err;
}

static void partition_reset(void *opaque, int32_t partition)
{
    /* Nothing of the saga outlives a batch (see user_worker.h); only the pending counts do. */
    ss_user_worker_t *user_worker = opaque;
    ss_user_pending_forget(&user_worker->pending, partition);
}

void ss_user_worker_handler(ss_user_worker_t *user_worker, ss_worker_handler_t *handler_out)
{
    *handler_out =
        (ss_worker_handler_t){.name = SS_USER_COMPONENT,
                              .opaque = user_worker,
                              .apply_batch = apply_batch,
                              .partition_reset = partition_reset,
                              .tick = tick,
                              .tick_interval_ms = user_worker->deadline.scan_interval_ms};
}

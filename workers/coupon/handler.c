/*
 * The coupon worker's batch handler: load what the batch names, decide each record in
 * partition order by its type, write the changes back. A record type this worker does not
 * know is poison: the framework isolates it and sends it to the dead-letter topic.
 */
#include "coupon_worker.h"

#include "ss/clock.h"

#include <string.h>

static ss_err_t record_apply(ss_coupon_worker_t *coupon_worker, ss_worker_batch_t *worker_batch,
                             const ss_worker_record_t *record, size_t index, char *errstr,
                             size_t errstr_size)
{
    if (strcmp(record->schema_name, SS_COUPON_ISSUE_SCHEMA) == 0) {
        return ss_coupon_issue_apply(coupon_worker, worker_batch, record, index, errstr,
                                     errstr_size);
    }
    if (strcmp(record->schema_name, SS_COUPON_STATUS_SCHEMA) == 0) {
        return ss_coupon_status_apply(coupon_worker, worker_batch, record, index, errstr,
                                      errstr_size);
    }
    return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                      "the coupon worker does not handle %s records", record->schema_name);
}

static ss_err_t apply_batch(void *opaque, ss_worker_batch_t *worker_batch,
                            ss_worker_record_t *records, size_t record_count, char *errstr,
                            size_t errstr_size)
{
    ss_coupon_worker_t *coupon_worker = opaque;
    ss_coupon_batch_t *batch = &coupon_worker->batch;
    ss_pg_t *pg = ss_worker_batch_pg(worker_batch);
    /* One reading for the whole batch: expiry decisions and issued_at agree. */
    batch->now_ms = ss_clock_now_ms();
    /* A no-op once registered; after a reconnect ss_pg_reset() has prepared them again. */
    ss_err_t err = ss_coupon_prepare_statements(pg, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_coupon_batch_load(batch, pg, records, record_count, errstr, errstr_size);
    }
    for (size_t i = 0; i < record_count && err == SS_OK; i++) {
        if (!records[i].handled) {
            ss_worker_batch_record_enter(worker_batch, &records[i]);
            err = record_apply(coupon_worker, worker_batch, &records[i], i, errstr, errstr_size);
        }
    }
    if (err == SS_OK) {
        err = ss_coupon_batch_flush(coupon_worker, worker_batch, pg, errstr, errstr_size);
    }
    /* The coupon names borrowed from this result are no longer needed. */
    PQclear(batch->coupon_rows);
    batch->coupon_rows = NULL;
    batch->coupon_count = 0;
    return err;
}

static void partition_reset(void *opaque, int32_t partition)
{
    /* Nothing outlives a batch (see coupon_worker.h), so there is nothing to forget. */
    (void)opaque;
    (void)partition;
}

void ss_coupon_worker_handler(ss_coupon_worker_t *coupon_worker, ss_worker_handler_t *handler_out)
{
    *handler_out = (ss_worker_handler_t){.name = SS_COUPON_COMPONENT,
                                         .opaque = coupon_worker,
                                         .apply_batch = apply_batch,
                                         .partition_reset = partition_reset};
}

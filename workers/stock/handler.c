/*
 * The stock worker's batch handler: load the products and reservations the batch names, apply
 * each record in partition order by its type, write the changes back; after the commit, write
 * the stock overlay (overlay.c). A record type this worker does not know, or a record whose key
 * is not its product id, is poison: the framework isolates it and sends it to the dead-letter
 * topic.
 */
#include "stock_worker.h"
#include "ss/topics.h"

#include <stdio.h>
#include <string.h>

/*
 * One writer per product holds only while every record of a product travels under its id as
 * key: a record keyed otherwise sits on another partition, whose writer must not touch it.
 */
static ss_err_t key_check(const ss_worker_record_t *record, char *errstr, size_t errstr_size)
{
    json_t *product_id = json_object_get(record->value, "product_id");
    if (json_is_integer(product_id)) {
        char expected[SS_STOCK_ID_TEXT_MAX];
        snprintf(expected, sizeof(expected), "%lld", (long long)json_integer_value(product_id));
        if (strcmp(record->key, expected) == 0) {
            return SS_OK;
        }
    }
    return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                      "%s record key '%.32s' is not its product id", record->schema_name,
                      record->key);
}

static ss_err_t record_apply(ss_stock_batch_t *batch, ss_worker_batch_t *worker_batch,
                             const ss_worker_record_t *record, size_t index, char *errstr,
                             size_t errstr_size)
{
    bool reserve = strcmp(record->schema_name, SS_SCHEMA_RESERVE_STOCK) == 0;
    bool release = strcmp(record->schema_name, SS_SCHEMA_RELEASE_STOCK) == 0;
    bool adjust = strcmp(record->schema_name, SS_SCHEMA_ADJUST_PRODUCT) == 0;
    if (!reserve && !release && !adjust) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "the stock worker does not handle %s records", record->schema_name);
    }
    ss_err_t err = key_check(record, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    if (reserve) {
        return ss_stock_reserve_apply(batch, worker_batch, record, errstr, errstr_size);
    }
    if (release) {
        return ss_stock_release_apply(batch, record, errstr, errstr_size);
    }
    return ss_stock_adjust_apply(batch, worker_batch, record, index, errstr, errstr_size);
}

static ss_err_t apply_batch(void *opaque, ss_worker_batch_t *worker_batch,
                            ss_worker_record_t *records, size_t record_count, char *errstr,
                            size_t errstr_size)
{
    ss_stock_worker_t *stock_worker = opaque;
    ss_stock_batch_t *batch = &stock_worker->batch;
    ss_pg_t *pg = ss_worker_batch_pg(worker_batch);
    /* A no-op once registered; after a reconnect ss_pg_reset() has prepared them again. */
    ss_err_t err = ss_stock_prepare_statements(pg, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_stock_batch_load(batch, pg, records, record_count, errstr, errstr_size);
    }
    for (size_t i = 0; i < record_count && err == SS_OK; i++) {
        if (!records[i].handled) {
            ss_worker_batch_record_enter(worker_batch, &records[i]);
            err = record_apply(batch, worker_batch, &records[i], i, errstr, errstr_size);
        }
    }
    if (err == SS_OK) {
        err = ss_stock_batch_flush(batch, pg, errstr, errstr_size);
    }
    return err;
}

static void partition_reset(void *opaque, int32_t partition)
{
    /*
     * Nothing outlives a batch (see stock_worker.h) but its overlay writes, which a rolled-back
     * batch must not make; and a new owner rewrites what its predecessor may have missed.
     */
    ss_stock_worker_t *stock_worker = opaque;
    (void)partition;
    ss_stock_overlay_reset(&stock_worker->overlay, &stock_worker->batch);
}

static void after_commit(void *opaque)
{
    ss_stock_worker_t *stock_worker = opaque;
    ss_stock_overlay_after_commit(&stock_worker->overlay, &stock_worker->batch);
}

static ss_err_t retain(void *opaque, ss_pg_t *pg, long long rows_max, bool *more, char *errstr,
                       size_t errstr_size)
{
    ss_stock_worker_t *stock_worker = opaque;
    return ss_stock_retention_run(&stock_worker->retention, pg, rows_max, more, errstr,
                                  errstr_size);
}

void ss_stock_worker_handler(ss_stock_worker_t *stock_worker, ss_worker_handler_t *handler_out)
{
    *handler_out = (ss_worker_handler_t){.name = SS_STOCK_COMPONENT,
                                         .opaque = stock_worker,
                                         .apply_batch = apply_batch,
                                         .partition_reset = partition_reset,
                                         .after_commit = after_commit,
                                         .retain = retain};
}

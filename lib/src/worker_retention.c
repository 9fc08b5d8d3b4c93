/*
 * The retention job of the worker framework (docs/architecture.md, "Retention"): on its timer,
 * between poll rounds' batches, one bounded DELETE of expired idempotency_keys, one of expired
 * request_results (never one a remaining key may still point at), then the handler's own
 * tables. Every worker process runs it; SKIP LOCKED keeps them from waiting on one another,
 * and the rows are insert-only, so deleting them does not race with their writers.
 */
#include "worker_internal.h"
#include "worker_sql.h"

#include "ss/clock.h"
#include "ss/log.h"

#include <inttypes.h>

ss_err_t ss_worker_retention_run(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    const ss_worker_config_t *config = &worker->config;
    if (!ss_retention_due(&worker->retention_timer, ss_clock_monotonic_ms())) {
        return SS_OK;
    }
    int64_t keys = 0, results = 0;
    bool more = false;
    ss_err_t err =
        ss_retention_delete(worker->pg, SS_WORKER_SQL_KEYS_PRUNE, config->idempotency_retention_s,
                            config->retention_rows_max, &keys, errstr, errstr_size);
    if (err == SS_OK) {
        err =
            ss_retention_delete(worker->pg, SS_WORKER_SQL_RESULTS_PRUNE, config->result_retention_s,
                                config->retention_rows_max, &results, errstr, errstr_size);
    }
    if (err == SS_OK && worker->handler.retain != NULL) {
        err = worker->handler.retain(worker->handler.opaque, worker->pg, config->retention_rows_max,
                                     &more, errstr, errstr_size);
    }
    more = err == SS_OK &&
           (more || keys == config->retention_rows_max || results == config->retention_rows_max);
    ss_retention_ran(&worker->retention_timer, ss_clock_monotonic_ms(),
                     config->retention_interval_ms, more);
    if (keys > 0 || results > 0) {
        SS_LOG_INFO(worker->handler.name,
                    "retention pruned idempotency_keys=%" PRId64 " request_results=%" PRId64, keys,
                    results);
    }
    return err;
}

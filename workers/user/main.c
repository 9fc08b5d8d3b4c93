/*
 * ss-user-worker: consumes ss.cmd.user (key user id) and applies charges and the order saga
 * exactly once. Everything but the handler and the saga deadline's options is ss_worker_main's.
 */
#include "user_worker.h"

static ss_user_worker_t user_worker;

/* The saga deadline's settings (docs/architecture.md "Saga deadline"), checked together below. */
static long long reask_interval_ms, reasks_max, deadline_ms;

static const ss_config_option_t deadline_options[] = {
    {"--saga-reask-interval-ms", "SS_SAGA_REASK_INTERVAL_MS", SS_CONFIG_INT, "10000",
     SS_RULES_SAGA_REASK_INTERVAL_MIN_MS, SS_RULES_SAGA_DEADLINE_MAX_MS,
     "a PENDING order with no stock answer this long since the last ask is asked again",
     &reask_interval_ms},
    {"--saga-reasks-max", "SS_SAGA_REASKS_MAX", SS_CONFIG_INT, "3", 0, SS_RULES_SAGA_REASKS_MAX,
     "times the stock worker is asked again before a PENDING order fails", &reasks_max},
    {"--saga-deadline-ms", "SS_SAGA_DEADLINE_MS", SS_CONFIG_INT, "60000",
     SS_RULES_SAGA_REASK_INTERVAL_MIN_MS, SS_RULES_SAGA_DEADLINE_MAX_MS,
     "a PENDING order this old fails (refund, coupon back, stock released), re-asks or not;"
     " must exceed the re-ask interval",
     &deadline_ms},
    {"--saga-scan-interval-ms", "SS_SAGA_SCAN_INTERVAL_MS", SS_CONFIG_INT, "1000", 10, 60000,
     "how often each owned partition's PENDING orders are checked against the deadline",
     &user_worker.deadline.scan_interval_ms},
};

static ss_err_t user_start(void *opaque, const ss_worker_config_t *config,
                           ss_worker_handler_t *handler_out, char *errstr, size_t errstr_size)
{
    (void)config;
    ss_user_worker_t *worker = opaque;
    long long scan_interval_ms = worker->deadline.scan_interval_ms;
    ss_user_deadline_init(&worker->deadline);
    worker->deadline.scan_interval_ms = scan_interval_ms;
    worker->deadline.settings = (ss_rules_saga_deadline_t){.reask_interval_ms = reask_interval_ms,
                                                           .reasks_max = reasks_max,
                                                           .deadline_ms = deadline_ms};
    const char *problem = NULL;
    if (!ss_rules_saga_deadline_valid(&worker->deadline.settings, &problem)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s", problem);
    }
    ss_user_batch_init(&worker->batch);
    ss_user_pending_init(&worker->pending);
    ss_user_worker_handler(worker, handler_out);
    return SS_OK;
}

static void user_stop(void *opaque)
{
    ss_user_worker_t *worker = opaque;
    ss_user_batch_free(&worker->batch);
    ss_user_deadline_free(&worker->deadline);
}

int main(int argc, char **argv)
{
    const ss_worker_program_t program = {
        .name = "ss-user-worker",
        .topic = SS_TOPIC_CMD_USER,
        .summary = "applies balance charges and orders, keyed by user id",
        .extra_options = deadline_options,
        .extra_option_count = sizeof(deadline_options) / sizeof(deadline_options[0]),
        .start = user_start,
        .stop = user_stop,
        .opaque = &user_worker,
    };
    return ss_worker_main(argc, argv, &program);
}

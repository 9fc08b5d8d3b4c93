/*
 * ss-user-worker: consumes ss.cmd.user (key user id) and applies charges and the order saga
 * exactly once. Everything but the handler is ss_worker_main's.
 */
#include "user_worker.h"

static ss_user_worker_t user_worker;

static ss_err_t user_start(void *opaque, const ss_worker_config_t *config,
                           ss_worker_handler_t *handler_out, char *errstr, size_t errstr_size)
{
    (void)config;
    (void)errstr;
    (void)errstr_size;
    ss_user_worker_t *worker = opaque;
    ss_user_batch_init(&worker->batch);
    ss_user_worker_handler(worker, handler_out);
    return SS_OK;
}

static void user_stop(void *opaque)
{
    ss_user_worker_t *worker = opaque;
    ss_user_batch_free(&worker->batch);
}

int main(int argc, char **argv)
{
    const ss_worker_program_t program = {
        .name = "ss-user-worker",
        .topic = SS_TOPIC_CMD_USER,
        .summary = "applies balance charges and orders, keyed by user id",
        .start = user_start,
        .stop = user_stop,
        .opaque = &user_worker,
    };
    return ss_worker_main(argc, argv, &program);
}

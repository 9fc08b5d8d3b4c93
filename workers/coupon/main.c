/*
 * ss-coupon-worker: consumes ss.cmd.coupon (key coupon id): first-come issuance and status
 * changes, exactly once. Everything but the handler is ss_worker_main's.
 */
#include "coupon_worker.h"

static ss_coupon_worker_t coupon_worker;

static ss_err_t coupon_start(void *opaque, const ss_worker_config_t *config,
                             ss_worker_handler_t *handler_out, char *errstr, size_t errstr_size)
{
    (void)config;
    (void)errstr;
    (void)errstr_size;
    ss_coupon_worker_t *worker = opaque;
    ss_coupon_worker_init(worker);
    ss_coupon_worker_handler(worker, handler_out);
    return SS_OK;
}

static void coupon_stop(void *opaque)
{
    ss_coupon_worker_free(opaque);
}

int main(int argc, char **argv)
{
    const ss_worker_program_t program = {
        .name = "ss-coupon-worker",
        .topic = SS_TOPIC_CMD_COUPON,
        .summary = "issues coupons first come first served and changes their status, keyed by"
                   " coupon id",
        .start = coupon_start,
        .stop = coupon_stop,
        .opaque = &coupon_worker,
    };
    return ss_worker_main(argc, argv, &program);
}

/*
 * ss-coupon-worker: consumes ss.cmd.coupon (key coupon id) and issues coupons first come,
 * first served, and applies admin status changes, exactly once. main wires configuration,
 * signals and the framework loop.
 */
#include "coupon_worker.h"

#include "ss/signal.h"
#include "ss/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    ss_worker_config_t config = {0};
    ss_config_option_t options[SS_WORKER_CONFIG_OPTION_COUNT];
    ss_worker_config_options(options, &config, "ss-coupon-worker", "ss.cmd.coupon");
    char errstr[512];
    ss_err_t err =
        ss_config_load(options, SS_WORKER_CONFIG_OPTION_COUNT, argc, argv, errstr, sizeof(errstr));
    if (err == SS_ERR_HELP) {
        ss_config_usage(stdout, argv[0],
                        "issues coupons first come first served and changes their status, keyed"
                        " by coupon id",
                        options, SS_WORKER_CONFIG_OPTION_COUNT);
        return EXIT_SUCCESS;
    }
    if (err != SS_OK) {
        fprintf(stderr, "ss-coupon-worker: %s\n", errstr);
        return 2;
    }
    ss_signal_install(NULL, 0);
    ss_coupon_worker_t coupon_worker;
    ss_coupon_worker_init(&coupon_worker);
    ss_worker_handler_t handler;
    ss_coupon_worker_handler(&coupon_worker, &handler);
    ss_worker_t *worker = NULL;
    err = ss_worker_new(&config, &handler, &worker, errstr, sizeof(errstr));
    if (err == SS_OK) {
        SS_LOG_INFO(SS_COUPON_COMPONENT, "started group=%s topic=%s", config.group_id,
                    config.topic);
        err = ss_worker_run(worker, &ss_signal_stop_requested, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        SS_LOG_ERROR(SS_COUPON_COMPONENT, "stopped error=\"%s\"", errstr);
    } else {
        SS_LOG_INFO(SS_COUPON_COMPONENT, "stopped");
    }
    ss_worker_destroy(worker);
    ss_coupon_worker_free(&coupon_worker);
    ss_config_free(options, SS_WORKER_CONFIG_OPTION_COUNT);
    return err == SS_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

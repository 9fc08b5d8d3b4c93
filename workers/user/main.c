/*
 * ss-user-worker: consumes ss.cmd.user (key user id) and applies charges (and, with the order
 * saga, orders) exactly once. main wires configuration, signals and the framework loop.
 */
#include "user_worker.h"

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
    ss_worker_config_options(options, &config, "ss-user-worker", "ss.cmd.user");
    char errstr[512];
    ss_err_t err =
        ss_config_load(options, SS_WORKER_CONFIG_OPTION_COUNT, argc, argv, errstr, sizeof(errstr));
    if (err == SS_ERR_HELP) {
        ss_config_usage(stdout, argv[0], "applies balance charges and orders, keyed by user id",
                        options, SS_WORKER_CONFIG_OPTION_COUNT);
        return EXIT_SUCCESS;
    }
    if (err != SS_OK) {
        fprintf(stderr, "ss-user-worker: %s\n", errstr);
        return 2;
    }
    ss_signal_install(NULL, 0);
    ss_user_worker_t user_worker;
    ss_user_batch_init(&user_worker.batch);
    ss_worker_handler_t handler;
    ss_user_worker_handler(&user_worker, &handler);
    ss_worker_t *worker = NULL;
    err = ss_worker_new(&config, &handler, &worker, errstr, sizeof(errstr));
    if (err == SS_OK) {
        SS_LOG_INFO(SS_USER_COMPONENT, "started group=%s topic=%s", config.group_id, config.topic);
        err = ss_worker_run(worker, &ss_signal_stop_requested, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        SS_LOG_ERROR(SS_USER_COMPONENT, "stopped error=\"%s\"", errstr);
    } else {
        SS_LOG_INFO(SS_USER_COMPONENT, "stopped");
    }
    ss_worker_destroy(worker);
    ss_user_batch_free(&user_worker.batch);
    ss_config_free(options, SS_WORKER_CONFIG_OPTION_COUNT);
    return err == SS_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

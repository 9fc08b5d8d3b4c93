/*
 * ss-stock-worker: consumes ss.cmd.stock (key product id) and applies stock reservations,
 * releases and admin adjustments exactly once. main wires configuration, signals and the
 * framework loop.
 */
#include "stock_worker.h"

#include "ss/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int signal_number)
{
    (void)signal_number;
    stop_requested = 1;
}

static void signals_install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
}

int main(int argc, char **argv)
{
    ss_worker_config_t config = {0};
    ss_config_option_t options[SS_WORKER_CONFIG_OPTION_COUNT];
    ss_worker_config_options(options, &config, "ss-stock-worker", "ss.cmd.stock");
    char errstr[512];
    ss_err_t err =
        ss_config_load(options, SS_WORKER_CONFIG_OPTION_COUNT, argc, argv, errstr, sizeof(errstr));
    if (err == SS_ERR_HELP) {
        ss_config_usage(stdout, argv[0],
                        "reserves, releases and adjusts product stock, keyed by product id",
                        options, SS_WORKER_CONFIG_OPTION_COUNT);
        return EXIT_SUCCESS;
    }
    if (err != SS_OK) {
        fprintf(stderr, "ss-stock-worker: %s\n", errstr);
        return 2;
    }
    signals_install();
    ss_stock_worker_t stock_worker;
    ss_stock_batch_init(&stock_worker.batch);
    ss_worker_handler_t handler;
    ss_stock_worker_handler(&stock_worker, &handler);
    ss_worker_t *worker = NULL;
    err = ss_worker_new(&config, &handler, &worker, errstr, sizeof(errstr));
    if (err == SS_OK) {
        SS_LOG_INFO(SS_STOCK_COMPONENT, "started group=%s topic=%s", config.group_id, config.topic);
        err = ss_worker_run(worker, &stop_requested, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        SS_LOG_ERROR(SS_STOCK_COMPONENT, "stopped error=\"%s\"", errstr);
    } else {
        SS_LOG_INFO(SS_STOCK_COMPONENT, "stopped");
    }
    ss_worker_destroy(worker);
    ss_stock_batch_free(&stock_worker.batch);
    ss_config_free(options, SS_WORKER_CONFIG_OPTION_COUNT);
    return err == SS_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

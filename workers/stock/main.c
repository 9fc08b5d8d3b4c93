/*
 * ss-stock-worker: consumes ss.cmd.stock (key product id) and applies stock reservations,
 * releases and admin adjustments exactly once, and keeps the Redis stock overlay current.
 * main wires configuration, signals and the framework loop.
 */
#include "stock_worker.h"

#include "ss/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shared worker options, then the overlay's. */
#define MAIN_OPTION_COUNT (SS_WORKER_CONFIG_OPTION_COUNT + 2)
#define MAIN_DEFAULT_REDIS_URL "redis://127.0.0.1:16379/0"

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
    char *redis_url = NULL;
    long long redis_timeout_ms = 0;
    ss_config_option_t options[MAIN_OPTION_COUNT];
    ss_worker_config_options(options, &config, "ss-stock-worker", "ss.cmd.stock");
    options[SS_WORKER_CONFIG_OPTION_COUNT] = (ss_config_option_t){
        "--redis-url",
        "REDIS_URL",
        SS_CONFIG_STRING,
        MAIN_DEFAULT_REDIS_URL,
        1,
        1024,
        "Redis of the stock overlay, redis://[[user]:password@]host[:port][/db]",
        &redis_url};
    options[SS_WORKER_CONFIG_OPTION_COUNT + 1] = (ss_config_option_t){
        "--redis-timeout-ms",
        "SS_STOCK_REDIS_TIMEOUT_MS",
        SS_CONFIG_INT,
        "200",
        10,
        10000,
        "connect and command timeout of the overlay writes (a batch waits for them)",
        &redis_timeout_ms};
    char errstr[512];
    ss_err_t err = ss_config_load(options, MAIN_OPTION_COUNT, argc, argv, errstr, sizeof(errstr));
    if (err == SS_ERR_HELP) {
        ss_config_usage(stdout, argv[0],
                        "reserves, releases and adjusts product stock, keyed by product id",
                        options, MAIN_OPTION_COUNT);
        return EXIT_SUCCESS;
    }
    if (err != SS_OK) {
        fprintf(stderr, "ss-stock-worker: %s\n", errstr);
        return 2;
    }
    signals_install();
    ss_stock_worker_t stock_worker;
    ss_stock_batch_init(&stock_worker.batch);
    ss_stock_overlay_config_t overlay_config = {
        .redis_url = redis_url, .pg_dsn = config.pg_dsn, .timeout_ms = (int)redis_timeout_ms};
    ss_stock_overlay_init(&stock_worker.overlay, &overlay_config);
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
    ss_stock_overlay_free(&stock_worker.overlay);
    ss_stock_batch_free(&stock_worker.batch);
    ss_config_free(options, MAIN_OPTION_COUNT);
    return err == SS_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * ss-rank-worker: counts the lines of OrderPaid events into per-day Redis sorted sets exactly
 * once and runs the daily batch into product_rank. `--batch-date=YYYY-MM-DD` runs one day's batch
 * and exits; `--rebuild-redis` recomputes the window's sorted sets from PostgreSQL and exits.
 * main wires configuration, signals and the loop.
 */
#include "rank_worker.h"

#include "ss/signal.h"
#include "ss/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The one-shot jobs of the command line, in order; SS_OK when all succeeded. */
static ss_err_t jobs_run(ss_rank_worker_t *worker, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    if (worker->config.batch_date[0] != '\0') {
        err = ss_rank_worker_batch_date(worker, worker->config.batch_date, errstr, errstr_size);
    }
    if (err == SS_OK && worker->config.rebuild_redis) {
        err = ss_rank_worker_rebuild(worker, false, errstr, errstr_size);
    }
    return err;
}

/* The ops endpoints on --metrics-port, when one is set (*out stays NULL otherwise). */
static ss_err_t ops_start(const ss_rank_worker_config_t *config, ss_rank_worker_t *worker,
                          ss_ops_http_t **out, char *errstr, size_t errstr_size)
{
    if (config->metrics_port == 0) {
        return SS_OK;
    }
    const ss_ops_http_config_t ops = {.bind_address = config->metrics_host,
                                      .port = (uint16_t)config->metrics_port,
                                      .ready = ss_rank_worker_ready,
                                      .opaque = worker};
    ss_err_t err = ss_ops_http_start(&ops, out, errstr, errstr_size);
    if (err == SS_OK) {
        SS_LOG_INFO(SS_RANK_COMPONENT, "ops endpoints metrics=http://%s:%lld/metrics",
                    config->metrics_host, config->metrics_port);
    }
    return err;
}

int main(int argc, char **argv)
{
    ss_rank_worker_config_t config = {0};
    ss_config_option_t options[SS_RANK_WORKER_OPTION_COUNT];
    ss_rank_worker_options(options, &config);
    char errstr[512];
    ss_err_t err =
        ss_config_load(options, SS_RANK_WORKER_OPTION_COUNT, argc, argv, errstr, sizeof(errstr));
    if (err == SS_ERR_HELP) {
        ss_config_usage(
            stdout, argv[0],
            "counts the lines of OrderPaid events into per-day Redis sorted sets and runs the "
            "daily product_rank batch",
            options, SS_RANK_WORKER_OPTION_COUNT);
        return EXIT_SUCCESS;
    }
    if (err != SS_OK) {
        fprintf(stderr, "ss-rank-worker: %s\n", errstr);
        return 2;
    }
    ss_rank_worker_t *worker = NULL;
    ss_ops_http_t *ops = NULL;
    err = ss_rank_worker_new(&config, &worker, errstr, sizeof(errstr));
    if (err != SS_OK) {
        fprintf(stderr, "ss-rank-worker: %s\n", errstr);
        ss_config_free(options, SS_RANK_WORKER_OPTION_COUNT);
        return 2;
    }
    bool one_shot = config.batch_date[0] != '\0' || config.rebuild_redis;
    if (one_shot) {
        err = jobs_run(worker, errstr, sizeof(errstr));
    } else {
        ss_signal_install(NULL, 0);
        SS_LOG_INFO(SS_RANK_COMPONENT, "started group=%s topic=%s batch_at=%s", config.group_id,
                    config.topic, config.batch_at);
        err = ops_start(&config, worker, &ops, errstr, sizeof(errstr));
        if (err == SS_OK) {
            err = ss_rank_worker_run(worker, &ss_signal_stop_requested, errstr, sizeof(errstr));
        }
    }
    if (err != SS_OK) {
        SS_LOG_ERROR(SS_RANK_COMPONENT, "stopped error=\"%s\"", errstr);
    } else if (!one_shot) {
        SS_LOG_INFO(SS_RANK_COMPONENT, "stopped");
    }
    ss_ops_http_destroy(ops); /* its readiness callback reads the worker */
    ss_rank_worker_destroy(worker);
    ss_config_free(options, SS_RANK_WORKER_OPTION_COUNT);
    return err == SS_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

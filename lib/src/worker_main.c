/*
 * The main of every partitioned worker binary (see ss_worker_main in ss/worker.h): one place
 * for options, --help, signals, start-up and tear-down, so a worker's main.c names only what
 * differs: its topic, its handler and its own options.
 */
#include "worker_internal.h"

#include "ss/assert.h"

#include "ss/log.h"
#include "ss/signal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The ops endpoints on --metrics-port, when one is set (*out stays NULL otherwise). */
static ss_err_t ops_start(const ss_worker_program_t *program, const ss_worker_config_t *config,
                          ss_worker_t *worker, ss_ops_http_t **out, char *errstr,
                          size_t errstr_size)
{
    if (config->metrics_port == 0) {
        return SS_OK;
    }
    const ss_ops_http_config_t ops = {.bind_address = config->metrics_host,
                                      .port = (uint16_t)config->metrics_port,
                                      .ready = ss_worker_ready,
                                      .opaque = worker};
    ss_err_t err = ss_ops_http_start(&ops, out, errstr, errstr_size);
    if (err == SS_OK) {
        SS_LOG_INFO(program->name, "ops endpoints listening metrics=http://%s:%lld/metrics",
                    config->metrics_host, config->metrics_port);
    }
    return err;
}

static int program_run(const ss_worker_program_t *program, const ss_worker_config_t *config)
{
    char errstr[SS_WORKER_ERRSTR_SIZE];
    ss_worker_handler_t handler;
    ss_worker_t *worker = NULL;
    ss_ops_http_t *ops = NULL;
    ss_err_t err = ss_signal_install(errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = program->start(program->opaque, config, &handler, errstr, sizeof(errstr));
    }
    if (err == SS_OK) {
        err = ss_worker_new(config, &handler, &worker, errstr, sizeof(errstr));
    }
    if (err == SS_OK) {
        err = ops_start(program, config, worker, &ops, errstr, sizeof(errstr));
    }
    if (err == SS_OK) {
        SS_LOG_INFO(program->name, "started group=%s topic=%s", config->group_id, config->topic);
        err = ss_worker_run(worker, &ss_signal_stop_requested, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        SS_LOG_ERROR(program->name, "stopped error=\"%s\"", errstr);
    } else {
        SS_LOG_INFO(program->name, "stopped");
    }
    ss_ops_http_destroy(ops); /* its readiness callback reads the worker */
    ss_worker_destroy(worker);
    program->stop(program->opaque);
    return err == SS_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

int ss_worker_main(int argc, char **argv, const ss_worker_program_t *program)
{
    size_t count = SS_WORKER_CONFIG_OPTION_COUNT + program->extra_option_count;
    SS_ASSERT(count <= SS_CONFIG_OPTIONS_MAX);
    ss_config_option_t options[SS_CONFIG_OPTIONS_MAX];
    ss_worker_config_t config;
    memset(&config, 0, sizeof(config));
    ss_worker_config_options(options, &config, program->name, program->topic);
    if (program->extra_option_count > 0) {
        memcpy(options + SS_WORKER_CONFIG_OPTION_COUNT, program->extra_options,
               program->extra_option_count * sizeof(*options));
    }
    char errstr[SS_WORKER_ERRSTR_SIZE];
    ss_err_t err = ss_config_load(options, count, argc, argv, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = ss_worker_config_check(&config, errstr, sizeof(errstr));
    }
    int status = EXIT_SUCCESS;
    if (err == SS_ERR_HELP) {
        ss_config_usage(stdout, argv[0], program->summary, options, count);
    } else if (err != SS_OK) {
        fprintf(stderr, "%s: %s\n", program->name, errstr);
        status = 2;
    } else {
        status = program_run(program, &config);
    }
    ss_config_free(options, count);
    return status;
}

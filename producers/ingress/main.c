/*
 * ss-ingress: the HTTP front door. main only wires configuration, signals and the loop: it
 * builds the ingress context, starts the request_pending retention job (retention.h, its own
 * thread) and the HTTP server, serves producer deliveries until SIGTERM or SIGINT, then stops
 * the server gracefully (suspended requests get 503) and tears down. A fatal producer error ends
 * the process with a failure status after /ready has said why.
 */
#include "ingress.h"
#include "retention.h"

#include "ss/clock.h"
#include "ss/log.h"
#include "ss/signal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One loop turn waits this long for producer deliveries, then looks at the stop flag. */
#define MAIN_POLL_MS 100

/*
 * Serves producer deliveries until SIGTERM or SIGINT (SS_OK), or until the producer fails
 * fatally: then /ready explains it for fatal_drain_ms and SS_ERR_FATAL ends the process.
 */
static ss_err_t serve(ss_ingress_t *ingress, char *errstr, size_t errstr_size)
{
    const ss_ingress_config_t *config = ingress->config;
    int64_t started_ms = ss_clock_monotonic_ms();
    int64_t failed_ms = 0;
    while (!ss_signal_stop_requested) {
        ss_kafka_producer_poll(ingress->producer, MAIN_POLL_MS);
        int64_t now_ms = ss_clock_monotonic_ms();
        if (config->fault_producer_fatal_after_ms > 0 && failed_ms == 0 &&
            now_ms - started_ms >= config->fault_producer_fatal_after_ms) {
            ss_kafka_producer_fail_fatally(ingress->producer, "fault injected by configuration");
        }
        if (failed_ms == 0 &&
            ss_kafka_producer_check(ingress->producer, errstr, errstr_size) != SS_OK) {
            ss_ingress_producer_failed(ingress, errstr);
            SS_LOG_ERROR(SS_INGRESS_COMPONENT, "stopping on a fatal producer error error=\"%s\"",
                         errstr);
            failed_ms = now_ms;
        }
        if (failed_ms > 0 && now_ms - failed_ms >= config->fatal_drain_ms) {
            return SS_ERR_FATAL;
        }
    }
    return SS_OK;
}

int main(int argc, char **argv)
{
    ss_ingress_config_t config = {0};
    ss_config_option_t options[SS_INGRESS_CONFIG_OPTION_COUNT];
    ss_ingress_config_options(options, &config);
    char errstr[512];
    ss_err_t err =
        ss_config_load(options, SS_INGRESS_CONFIG_OPTION_COUNT, argc, argv, errstr, sizeof(errstr));
    if (err == SS_ERR_HELP) {
        ss_config_usage(stdout, argv[0], "the HTTP ingress: validates requests, publishes commands",
                        options, SS_INGRESS_CONFIG_OPTION_COUNT);
        return EXIT_SUCCESS;
    }
    if (err != SS_OK) {
        fprintf(stderr, "ss-ingress: %s\n", errstr);
        return 2;
    }
    ss_log_level_t level = SS_LOG_LEVEL_INFO;
    if (ss_log_level_parse(config.log_level, &level, errstr, sizeof(errstr)) != SS_OK) {
        fprintf(stderr, "ss-ingress: SS_LOG_LEVEL: %s\n", errstr);
        ss_config_free(options, SS_INGRESS_CONFIG_OPTION_COUNT);
        return 2;
    }
    ss_log_level_set(level);
    if (ss_signal_install(NULL, 0) != 0) {
        fprintf(stderr, "ss-ingress: could not install signal handlers\n");
        ss_config_free(options, SS_INGRESS_CONFIG_OPTION_COUNT);
        return EXIT_FAILURE;
    }

    ss_ingress_t *ingress = NULL;
    ss_http_server_t *server = NULL;
    ss_ingress_retention_t retention = {0};
    err = ss_ingress_create(&config, &ingress, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = ss_ingress_retention_start(&retention, ingress, errstr, sizeof(errstr));
    }
    if (err == SS_OK) {
        err = ss_ingress_server_start(ingress, &server, errstr, sizeof(errstr));
    }
    if (err == SS_OK) {
        SS_LOG_INFO(SS_INGRESS_COMPONENT, "listening host=%s port=%u threads=%lld instance=%lld",
                    config.host, (unsigned)ss_http_server_port(server), config.threads,
                    config.instance);
        err = serve(ingress, errstr, sizeof(errstr));
        SS_LOG_INFO(SS_INGRESS_COMPONENT, "stopping");
        ss_ingress_commands_drain(ingress->commands);
        ss_http_server_stop(server);
    } else {
        SS_LOG_ERROR(SS_INGRESS_COMPONENT, "could not start error=\"%s\"", errstr);
    }
    ss_http_server_destroy(server);
    ss_ingress_retention_stop(&retention);
    ss_ingress_destroy(ingress);
    ss_config_free(options, SS_INGRESS_CONFIG_OPTION_COUNT);
    if (err == SS_OK) {
        SS_LOG_INFO(SS_INGRESS_COMPONENT, "stopped");
    }
    return err == SS_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * ss-platform-sink: delivers every paid order to the external data platform. main only wires
 * configuration (`--help` lists it), signals (SIGTERM/SIGINT set a flag; SIGPIPE is ignored)
 * and the loop in sink.c.
 */
#include "platform_sink.h"

#include "ss/signal.h"
#include "ss/log.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    ss_sink_config_t config = {0};
    ss_config_option_t options[SS_SINK_CONFIG_OPTION_COUNT];
    ss_sink_config_options(options, &config);
    char errstr[512];
    ss_err_t err =
        ss_config_load(options, SS_SINK_CONFIG_OPTION_COUNT, argc, argv, errstr, sizeof(errstr));
    if (err == SS_ERR_HELP) {
        ss_config_usage(stdout, argv[0],
                        "posts every paid order (ss.events.order) to the external data platform",
                        options, SS_SINK_CONFIG_OPTION_COUNT);
        return EXIT_SUCCESS;
    }
    if (err == SS_OK) {
        err = ss_sink_config_validate(&config, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        fprintf(stderr, "ss-platform-sink: %s\n", errstr);
        ss_config_free(options, SS_SINK_CONFIG_OPTION_COUNT);
        return 2;
    }
    ss_log_level_t level = SS_LOG_LEVEL_INFO;
    (void)ss_log_level_parse(config.log_level, &level, errstr, sizeof(errstr)); /* validated */
    ss_log_level_set(level);
    if (ss_signal_install(NULL, 0) != 0) {
        fprintf(stderr, "ss-platform-sink: could not install signal handlers\n");
        ss_config_free(options, SS_SINK_CONFIG_OPTION_COUNT);
        return EXIT_FAILURE;
    }
    CURLcode code = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (code != CURLE_OK) {
        fprintf(stderr, "ss-platform-sink: could not initialise libcurl: %s\n",
                curl_easy_strerror(code));
        ss_config_free(options, SS_SINK_CONFIG_OPTION_COUNT);
        return EXIT_FAILURE;
    }

    ss_sink_t *sink = NULL;
    ss_ops_http_t *ops = NULL;
    err = ss_sink_new(&config, &ss_signal_stop_requested, &sink, errstr, sizeof(errstr));
    if (err == SS_OK && config.metrics_port > 0) {
        const ss_ops_http_config_t ops_config = {.bind_address = config.metrics_host,
                                                 .port = (uint16_t)config.metrics_port,
                                                 .ready = ss_sink_ready,
                                                 .opaque = sink};
        err = ss_ops_http_start(&ops_config, &ops, errstr, sizeof(errstr));
    }
    if (ops != NULL) {
        SS_LOG_INFO(SS_SINK_COMPONENT, "ops endpoints metrics=http://%s:%lld/metrics",
                    config.metrics_host, config.metrics_port);
    }
    if (err == SS_OK) {
        err = ss_sink_run(sink, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        SS_LOG_ERROR(SS_SINK_COMPONENT, "stopped error=\"%s\"", errstr);
    } else {
        SS_LOG_INFO(SS_SINK_COMPONENT, "stopped");
    }
    ss_ops_http_destroy(ops); /* its readiness callback reads the sink */
    ss_sink_destroy(sink);
    curl_global_cleanup();
    ss_config_free(options, SS_SINK_CONFIG_OPTION_COUNT);
    return err == SS_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * ss-mock-platform: a test double of the external data platform (see mock_platform.h). main
 * only wires configuration (`--help`), signals (SIGTERM/SIGINT set a flag; SIGPIPE is ignored),
 * the HTTP server and an idle loop; everything else is ss_mock_platform_core.
 */
#include "mock_platform.h"

#include "ss/signal.h"
#include "ss/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often the idle loop looks at the stop flag. */
#define MAIN_IDLE_MS 100

int main(int argc, char **argv)
{
    ss_mock_platform_config_t config = {0};
    ss_config_option_t options[SS_MOCK_PLATFORM_CONFIG_OPTION_COUNT];
    ss_mock_platform_config_options(options, &config);
    char errstr[512];
    ss_err_t err = ss_config_load(options, SS_MOCK_PLATFORM_CONFIG_OPTION_COUNT, argc, argv, errstr,
                                  sizeof(errstr));
    if (err == SS_ERR_HELP) {
        ss_config_usage(stdout, argv[0],
                        "a test double of the external data platform: stores orders by "
                        "Idempotency-Key, fails or stalls on request",
                        options, SS_MOCK_PLATFORM_CONFIG_OPTION_COUNT);
        return EXIT_SUCCESS;
    }
    ss_log_level_t level = SS_LOG_LEVEL_INFO;
    if (err == SS_OK) {
        err = ss_log_level_parse(config.log_level, &level, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        fprintf(stderr, "ss-mock-platform: %s\n", errstr);
        ss_config_free(options, SS_MOCK_PLATFORM_CONFIG_OPTION_COUNT);
        return 2;
    }
    ss_log_level_set(level);
    if (ss_signal_install(NULL, 0) != 0) {
        fprintf(stderr, "ss-mock-platform: could not install signal handlers\n");
        ss_config_free(options, SS_MOCK_PLATFORM_CONFIG_OPTION_COUNT);
        return EXIT_FAILURE;
    }

    ss_mock_platform_t *mock = NULL;
    ss_http_server_t *server = NULL;
    err = ss_mock_platform_new((size_t)config.orders_max, &mock, errstr, sizeof(errstr));
    if (err == SS_OK) {
        const ss_http_server_config_t server_config = {
            .bind_address = config.host,
            .port = (uint16_t)config.port,
            .threads = (unsigned)config.threads,
            .routes = ss_mock_platform_routes,
            .routes_count = ss_mock_platform_routes_count,
            .context = mock,
            .metrics = ss_metrics_process(),
        };
        err = ss_http_server_start(&server_config, &server, errstr, sizeof(errstr));
    }
    if (err == SS_OK) {
        SS_LOG_INFO(SS_MOCK_PLATFORM_COMPONENT, "listening host=%s port=%u", config.host,
                    (unsigned)ss_http_server_port(server));
        while (!ss_signal_stop_requested) {
            struct timespec pause = {.tv_sec = 0, .tv_nsec = MAIN_IDLE_MS * 1000000L};
            nanosleep(&pause, NULL);
        }
        SS_LOG_INFO(SS_MOCK_PLATFORM_COMPONENT, "stopping");
        ss_http_server_stop(server);
    } else {
        SS_LOG_ERROR(SS_MOCK_PLATFORM_COMPONENT, "could not start error=\"%s\"", errstr);
    }
    ss_mock_platform_destroy(mock);
    ss_http_server_destroy(server);
    ss_config_free(options, SS_MOCK_PLATFORM_CONFIG_OPTION_COUNT);
    return err == SS_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

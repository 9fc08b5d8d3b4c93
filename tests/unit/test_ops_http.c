/*
 * Unit tests of ss/ops_http.h and of what an ss/http.h server observes of its requests (no
 * stack needed, servers on loopback with a free port): the /ready body for passing and failing
 * checks; the ops server's /health, /ready (503 with Retry-After and the reason) and /metrics
 * (the text format, counting its own requests); request counts by route pattern and status,
 * the latency histogram, the in-flight gauge back to 0; the access log written for exactly the
 * configured share of requests, one key=value line each.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_prom.h"

#include "ss/log.h"
#include "ss/ops_http.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A request's counts land when its connection's completion runs, just after the answer. */
#define SETTLE_POLLS_MAX 200
#define SETTLE_POLL_MS 10

static void sleep_ms(long ms)
{
    struct timespec pause = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
    nanosleep(&pause, NULL);
}

static char *render(ss_metrics_t *metrics)
{
    char *text = NULL;
    size_t length = 0;
    assert_int_equal(ss_metrics_render(metrics, &text, &length, NULL, 0), SS_OK);
    return text;
}

/* Waits until name{labels} in metrics reaches want; returns the last value seen. */
static double value_settled(ss_metrics_t *metrics, const char *name, const char *labels,
                            double want)
{
    double value = 0;
    for (int poll = 0; poll < SETTLE_POLLS_MAX; poll++) {
        char *text = render(metrics);
        bool found = false;
        value = ss_test_prom_value(text, name, labels, &found);
        free(text);
        if (value >= want) {
            break;
        }
        sleep_ms(SETTLE_POLL_MS);
    }
    return value;
}

static void test_ready_body_is_200_when_every_check_passes(void **state)
{
    (void)state;
    ss_ops_check_t checks[] = {{.name = "postgres", .ok = true}, {.name = "kafka", .ok = true}};
    int status = 0;
    char *body = ss_ops_http_ready_body(checks, 2, &status);
    assert_int_equal(status, 200);
    assert_string_equal(body, "{\"code\":200,\"message\":\"OK\",\"data\":{\"postgres\":\"UP\","
                              "\"kafka\":\"UP\"}}");
    free(body);
}

static void test_ready_body_is_503_naming_each_failed_check_and_why(void **state)
{
    (void)state;
    ss_ops_check_t checks[] = {{.name = "postgres", .ok = true},
                               {.name = "kafka", .ok = true},
                               {.name = "partitions", .ok = true}};
    ss_ops_check_fail(&checks[0], "could not connect\nto 127.0.0.1");
    ss_ops_check_fail(&checks[2], "%d of %d assigned partitions not claimed yet", 2, 4);
    int status = 0;
    char *body = ss_ops_http_ready_body(checks, 3, &status);
    assert_int_equal(status, 503);
    json_t *json = json_loads(body, 0, NULL);
    assert_non_null(json);
    assert_string_equal(json_string_value(json_object_get(json, "error")), "UNAVAILABLE");
    assert_string_equal(json_string_value(json_object_get(json, "message")),
                        "not ready: postgres: could not connect to 127.0.0.1; partitions: 2 of 4 "
                        "assigned partitions not claimed yet");
    json_t *data = json_object_get(json, "data");
    assert_string_equal(json_string_value(json_object_get(data, "postgres")), "DOWN");
    assert_string_equal(json_string_value(json_object_get(data, "kafka")), "UP");
    json_decref(json);
    free(body);
}

static size_t down_checks(void *opaque, ss_ops_check_t *checks, size_t checks_max)
{
    (void)opaque;
    assert_true(checks_max >= 1);
    checks[0] = (ss_ops_check_t){.name = "redis", .ok = true};
    ss_ops_check_fail(&checks[0], "connection refused");
    return 1;
}

static void test_ops_server_serves_health_ready_and_metrics(void **state)
{
    (void)state;
    const ss_ops_http_config_t config = {.port = 0, .ready = down_checks};
    ss_ops_http_t *ops = NULL;
    char errstr[256];
    assert_int_equal(ss_ops_http_start(&config, &ops, errstr, sizeof(errstr)), SS_OK);
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)ss_ops_http_port(ops));
    ss_test_http_t *http = ss_test_http_new(base, "");
    ss_test_http_reply_t reply = {0};

    ss_test_http_get(http, &reply, "/health");
    ss_test_http_expect(&reply, 200, NULL);
    ss_test_http_reply_free(&reply);
    ss_test_http_get(http, &reply, "/ready");
    json_t *data = ss_test_http_expect(&reply, 503, "UNAVAILABLE");
    assert_string_equal(json_string_value(json_object_get(data, "redis")), "DOWN");
    assert_string_equal(reply.retry_after, "5");
    assert_non_null(strstr(reply.body, "not ready: redis: connection refused"));
    ss_test_http_reply_free(&reply);

    assert_true(value_settled(ss_metrics_process(), "ss_http_requests_total",
                              "route=\"/ready\",method=\"GET\",status=\"503\"", 1) >= 1);
    ss_test_http_get(http, &reply, "/metrics");
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, SS_METRICS_CONTENT_TYPE);
    if (ss_test_prom_check(reply.body, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("%s", errstr);
    }
    bool found = false;
    assert_true(ss_test_prom_value(reply.body, "ss_http_requests_total",
                                   "route=\"/health\",status=\"200\"", &found) >= 1);
    ss_test_http_reply_free(&reply);
    ss_test_http_destroy(http);
    ss_ops_http_destroy(ops);
}

static void thing_get(ss_http_request_t *req, void *context)
{
    (void)context;
    (void)ss_http_respond_json(req, 200, "{}");
}

/* Lines of the file at path that contain needle. */
static int lines_with(const char *path, const char *needle)
{
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    char line[1024];
    int count = 0;
    while (fgets(line, sizeof(line), file) != NULL) {
        count += strstr(line, needle) != NULL;
    }
    fclose(file);
    return count;
}

static void test_server_counts_requests_by_route_and_logs_the_sampled_share(void **state)
{
    (void)state;
    ss_metrics_t *metrics = NULL;
    assert_int_equal(ss_metrics_create(&metrics, NULL, 0), SS_OK);
    static const ss_http_route_t routes[] = {{SS_HTTP_METHOD_GET, "/things/{id}", thing_get}};
    const ss_http_server_config_t config = {.threads = 2,
                                            .routes = routes,
                                            .routes_count = 1,
                                            .metrics = metrics,
                                            .access_log_permille = 500};
    char log_path[] = "/tmp/ss-test-access-XXXXXX";
    int log_fd = mkstemp(log_path);
    assert_true(log_fd >= 0);
    ss_log_fd_set(log_fd);
    ss_http_server_t *server = NULL;
    char errstr[256];
    assert_int_equal(ss_http_server_start(&config, &server, errstr, sizeof(errstr)), SS_OK);
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)ss_http_server_port(server));
    ss_test_http_t *http = ss_test_http_new(base, "");
    ss_test_http_reply_t reply = {0};
    for (int i = 0; i < 10; i++) {
        ss_test_http_get(http, &reply, "/things/%d", i);
        assert_int_equal(reply.status, 200);
        ss_test_http_reply_free(&reply);
    }
    for (int i = 0; i < 2; i++) {
        ss_test_http_get(http, &reply, "/nowhere/%d", i);
        assert_int_equal(reply.status, 404);
        ss_test_http_reply_free(&reply);
    }
    assert_true(value_settled(metrics, "ss_http_requests_total", "route=\"other\"", 2) == 2);
    ss_test_http_destroy(http);
    ss_http_server_destroy(server);
    ss_log_fd_set(2);

    char *text = render(metrics);
    bool found = false;
    assert_true(ss_test_prom_value(text, "ss_http_requests_total",
                                   "route=\"/things/{id}\",method=\"GET\",status=\"200\"",
                                   &found) == 10);
    assert_true(ss_test_prom_value(text, "ss_http_requests_total",
                                   "route=\"other\",method=\"GET\",status=\"404\"", &found) == 2);
    assert_true(ss_test_prom_value(text, "ss_http_request_duration_seconds_count",
                                   "route=\"/things/{id}\"", &found) == 10);
    assert_true(ss_test_prom_value(text, "ss_http_requests_in_flight", "", &found) == 0);
    assert_true(ss_test_prom_value(text, "ss_http_requests_suspended", "", &found) == 0);
    free(text);
    ss_metrics_destroy(metrics);

    assert_int_equal(lines_with(log_path, "component=access"), 6);
    assert_int_equal(lines_with(log_path, "method=GET route=/things/{id} status=200 duration_ms="),
                     5);
    /* Every answer has an X-Request-Id (generated when the client sent none): it is logged. */
    assert_int_equal(lines_with(log_path, "request_id=-"), 0);
    assert_int_equal(lines_with(log_path, " request_id="), 6);
    close(log_fd);
    unlink(log_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_body_is_200_when_every_check_passes),
        cmocka_unit_test(test_ready_body_is_503_naming_each_failed_check_and_why),
        cmocka_unit_test(test_ops_server_serves_health_ready_and_metrics),
        cmocka_unit_test(test_server_counts_requests_by_route_and_logs_the_sampled_share),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

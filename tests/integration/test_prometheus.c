/*
 * The local stack's Prometheus (scripts/stack.sh start) scrapes what a targets file names: this
 * test starts an ss-ingress and a user worker with a metrics port, writes them into
 * <state>/prometheus/targets/ (as scripts/run.sh does for its services), waits until Prometheus
 * reports both targets up, sends a few charges, and then asks Prometheus's HTTP API
 * (/api/v1/query) until it sees the ingress's request counter and latency histogram and the
 * worker's batch-size histogram move by at least those requests. Every wait is bounded.
 *
 * The targets carry a test_run label unique to this run, so series left in Prometheus's data by
 * earlier runs on the same ports never count; the targets file of a run killed before its
 * teardown (its pid gone) is removed by the next.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INGRESS_PORT 18196
#define WORKER_METRICS_PORT 18197
#define CHARGES 5
/* Prometheus scrapes every second and re-reads targets files within a few: generous bounds. */
#define TARGETS_UP_TIMEOUT_MS 60000
#define COUNTER_TIMEOUT_MS 60000
#define POLL_MS 250
#define QUERY_MAX 400

static ss_test_services_t services;
static ss_test_http_t *prometheus;
static char targets_path[1024];
static char test_run[64];

/* "test_run" values are label values: keep to characters PromQL strings need no escape for. */
static void test_run_init(void)
{
    snprintf(test_run, sizeof(test_run), "prom-%s", ss_test_run_id());
}

/* Files of earlier runs that were killed before their teardown: their targets are gone. */
static void targets_remove_stale(const char *directory)
{
    DIR *folder = opendir(directory);
    if (folder == NULL) {
        return;
    }
    struct dirent *entry;
    while ((entry = readdir(folder)) != NULL) {
        int pid = 0;
        char end = '\0';
        if (sscanf(entry->d_name, "test-prometheus-%d.jso%c", &pid, &end) == 2 && end == 'n' &&
            pid > 0 && kill(pid, 0) != 0 && errno == ESRCH) {
            char path[1100];
            int length = snprintf(path, sizeof(path), "%s/%s", directory, entry->d_name);
            if (length > 0 && (size_t)length < sizeof(path)) {
                unlink(path);
            }
        }
    }
    closedir(folder);
}

static void targets_write(void)
{
    const char *state_dir = ss_test_env("SS_STATE_DIR", NULL);
    if (state_dir == NULL) {
        fail_msg("SS_STATE_DIR is not set (eval \"$(scripts/stack.sh env)\")");
    }
    char directory[512];
    int length = snprintf(directory, sizeof(directory), "%s/prometheus/targets", state_dir);
    assert_true(length > 0 && (size_t)length < sizeof(directory));
    targets_remove_stale(directory);
    char ingress[64];
    char worker[64];
    snprintf(ingress, sizeof(ingress), "127.0.0.1:%d", services.port);
    snprintf(worker, sizeof(worker), "127.0.0.1:%d", WORKER_METRICS_PORT);
    json_t *groups =
        json_pack("[{s:[s],s:{s:s,s:s}},{s:[s],s:{s:s,s:s}}]", "targets", ingress, "labels", "job",
                  "ss-test-ingress", "test_run", test_run, "targets", worker, "labels", "job",
                  "ss-test-user-worker", "test_run", test_run);
    assert_non_null(groups);

    char temporary[1100];
    snprintf(targets_path, sizeof(targets_path), "%s/test-prometheus-%d.json", directory,
             (int)getpid());
    snprintf(temporary, sizeof(temporary), "%s.tmp", targets_path);
    if (json_dump_file(groups, temporary, JSON_INDENT(2)) != 0) {
        fail_msg("could not write %s (is the stack's Prometheus set up?)", temporary);
    }
    json_decref(groups);
    /* Renamed into place: Prometheus watches the folder and must never read half a file. */
    assert_int_equal(rename(temporary, targets_path), 0);
}

static int setup(void **state)
{
    test_run_init();
    const char *url = ss_test_env("PROMETHEUS_URL", "http://127.0.0.1:19090");
    prometheus = ss_test_http_new(url, NULL);
    ss_test_http_reply_t reply = {0};
    ss_test_http_get(prometheus, &reply, "/-/ready");
    if (reply.status != 200) {
        fail_msg("the stack's Prometheus at %s is not ready (%ld)", url, reply.status);
    }
    ss_test_http_reply_free(&reply);

    static char metrics_port_entry[64];
    snprintf(metrics_port_entry, sizeof(metrics_port_entry), "SS_METRICS_PORT=%d",
             WORKER_METRICS_PORT);
    static const char *worker_environment[] = {metrics_port_entry, NULL};
    ss_test_services_config_t config = {
        .instance = 1, .port = INGRESS_PORT, .worker_environment = worker_environment};
    config.workers[SS_TEST_SERVICE_USER] = 1;
    ss_test_services_start(&services, &config);
    targets_write();
    *state = &services;
    return 0;
}

static int teardown(void **state)
{
    if (targets_path[0] != '\0') {
        unlink(targets_path);
    }
    ss_test_http_destroy(prometheus);
    prometheus = NULL;
    return ss_test_services_teardown(state);
}

/*
 * The value of an instant query that yields one series (a sum), or -1 when it yields none (not
 * scraped yet). Fails the test when Prometheus refuses the query.
 */
static double query_value(const char *format, ...) __attribute__((format(printf, 1, 2)));
static double query_value(const char *format, ...)
{
    char query[QUERY_MAX];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(query, sizeof(query), format, arguments);
    va_end(arguments);
    assert_true(length > 0 && (size_t)length < sizeof(query));

    char *escaped = curl_easy_escape(NULL, query, 0);
    assert_non_null(escaped);
    ss_test_http_reply_t reply = {0};
    ss_test_http_get(prometheus, &reply, "/api/v1/query?query=%s", escaped);
    curl_free(escaped);
    if (reply.status != 200) {
        fail_msg("query %s: %ld %s", query, reply.status, reply.body != NULL ? reply.body : "");
    }
    json_t *result = json_object_get(json_object_get(reply.json, "data"), "result");
    if (!json_is_array(result)) {
        fail_msg("query %s: no data.result in %s", query, reply.body);
    }
    double value = -1;
    if (json_array_size(result) > 0) {
        /* "value": [<unix time>, "<number as text>"] */
        json_t *sample = json_array_get(json_object_get(json_array_get(result, 0), "value"), 1);
        assert_true(json_is_string(sample));
        value = strtod(json_string_value(sample), NULL);
    }
    ss_test_http_reply_free(&reply);
    return value;
}

/* Polls query_value(query) until it is at least minimum; returns the last value. */
static double query_wait_at_least(const char *query, double minimum, int timeout_ms)
{
    double value = -1;
    for (int waited_ms = 0; waited_ms <= timeout_ms; waited_ms += POLL_MS) {
        value = query_value("%s", query);
        if (value >= minimum) {
            return value;
        }
        usleep(POLL_MS * 1000);
    }
    fail_msg("after %d ms Prometheus still answers %g to %s (wanted at least %g)", timeout_ms,
             value, query, minimum);
    return value;
}

static void test_both_targets_are_scraped_and_up(void **state)
{
    (void)state;
    char query[QUERY_MAX];
    /* Discovered from the targets file and scraped at least once... */
    snprintf(query, sizeof(query), "count(up{test_run=\"%s\"})", test_run);
    query_wait_at_least(query, 2, TARGETS_UP_TIMEOUT_MS);
    /* ...and both answered GET /metrics with the text format. */
    snprintf(query, sizeof(query), "sum(up{test_run=\"%s\"})", test_run);
    query_wait_at_least(query, 2, TARGETS_UP_TIMEOUT_MS);
    /* Every process says it is up and which version it is. */
    snprintf(query, sizeof(query), "count(ss_up{test_run=\"%s\"} == 1)", test_run);
    query_wait_at_least(query, 2, TARGETS_UP_TIMEOUT_MS);
    snprintf(query, sizeof(query), "count(ss_build_info{test_run=\"%s\"})", test_run);
    query_wait_at_least(query, 2, TARGETS_UP_TIMEOUT_MS);
}

static void test_counters_move_after_requests(void **state)
{
    (void)state;
    char requests[QUERY_MAX];
    char durations[QUERY_MAX];
    char records[QUERY_MAX];
    /* POST only: Prometheus's own scrapes of /metrics are GETs and move the counter too. */
    snprintf(requests, sizeof(requests),
             "sum(ss_http_requests_total{test_run=\"%s\",method=\"POST\",status=\"200\"})",
             test_run);
    snprintf(durations, sizeof(durations),
             "sum(ss_http_request_duration_seconds_count{test_run=\"%s\",route=~\".*charge\"})",
             test_run);
    snprintf(records, sizeof(records), "sum(ss_worker_batch_records_sum{test_run=\"%s\"})",
             test_run);
    /* The probe charge of ss_test_services_start() has been counted once these are scraped. */
    double requests_before = query_wait_at_least(requests, 1, COUNTER_TIMEOUT_MS);
    double durations_before = query_wait_at_least(durations, 1, COUNTER_TIMEOUT_MS);
    double records_before = query_wait_at_least(records, 1, COUNTER_TIMEOUT_MS);

    int64_t user_id = ss_test_http_user_create(services.http, test_run);
    for (int i = 0; i < CHARGES; i++) {
        ss_test_http_request_t request;
        ss_test_http_request_init(&request, "POST", "{\"amount\":10}",
                                  "/api/v1/users/%" PRId64 "/balance/charge", user_id);
        ss_test_http_reply_t reply = {0};
        ss_test_services_send(&services, &request, &reply);
        ss_test_http_expect(&reply, 200, NULL);
        ss_test_http_reply_free(&reply);
    }

    /* At least CHARGES more: the admin call that created the user is a POST as well. */
    query_wait_at_least(requests, requests_before + CHARGES, COUNTER_TIMEOUT_MS);
    query_wait_at_least(durations, durations_before + CHARGES, COUNTER_TIMEOUT_MS);
    /* Each charge is one record in some batch of the worker. */
    query_wait_at_least(records, records_before + CHARGES, COUNTER_TIMEOUT_MS);

    /* And the latency quantile the dashboard plots is computable from the scraped buckets. */
    char quantile[QUERY_MAX];
    snprintf(quantile, sizeof(quantile),
             "histogram_quantile(0.99, sum by (le) "
             "(ss_http_request_duration_seconds_bucket{test_run=\"%s\"}))",
             test_run);
    query_wait_at_least(quantile, 0, COUNTER_TIMEOUT_MS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_targets_are_scraped_and_up),
        cmocka_unit_test(test_counters_move_after_requests),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

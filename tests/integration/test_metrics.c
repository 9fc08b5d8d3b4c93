/*
 * Integration test of the metrics and the ops endpoints against the real stack: an ingress and
 * a user worker whose PostgreSQL goes through the fault proxy (tests/support/ss_test_pg_proxy.h)
 * and whose ops endpoints are on SS_METRICS_PORT. The worker's /ready turns 200 once its
 * partitions are claimed; N charges and N balance reads move ss_http_requests_total of the
 * balance routes by N, the ingress's produced and the worker's consumed records of ss.cmd.user
 * by at least N, and the worker's batch histogram and commit count; both expositions pass the
 * text format's grammar line by line; with PostgreSQL refusing connections the worker's /ready
 * answers 503 naming postgres (its /health stays 200), and 200 again once it is back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_pg_proxy.h"
#include "ss_test_prom.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHARGES 5
/* How long /ready may take to turn (claims, a refused PostgreSQL), polled every 100 ms. */
#define READY_POLLS_MAX 600
#define READY_POLL_MS 100
/* Counters land when a connection completes, just after the answer: polled every 50 ms. */
#define SETTLE_POLLS_MAX 100
#define SETTLE_POLL_MS 50

static ss_test_services_t services;
static ss_test_pg_proxy_t *proxy;
static ss_test_http_t *worker_http;
static int64_t user_id;

static void sleep_ms(long ms)
{
    struct timespec pause = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&pause, NULL);
}

/* A loopback port nobody listens on right now. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
    socklen_t length = sizeof(address);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &length), 0);
    close(fd);
    return ntohs(address.sin_port);
}

static int setup(void **state)
{
    proxy = ss_test_pg_proxy_start(atoi(ss_test_env("SS_PG_PORT", "15432")));
    static char dsn[256], port[64];
    snprintf(dsn, sizeof(dsn),
             "PG_DSN=postgresql://shopstream:shopstream@127.0.0.1:%d/shopstream?sslmode=disable",
             ss_test_pg_proxy_port(proxy));
    int metrics_port = free_port();
    snprintf(port, sizeof(port), "SS_METRICS_PORT=%d", metrics_port);
    static const char *worker_environment[] = {dsn, port, NULL};
    ss_test_services_config_t config = {.instance = 3, .port = 18196};
    config.workers[SS_TEST_SERVICE_USER] = 1;
    config.worker_environment = worker_environment;
    ss_test_services_start(&services, &config);
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", metrics_port);
    worker_http = ss_test_http_new(base, "");
    user_id = ss_test_http_user_create(services.http, "metrics");
    *state = &services;
    return 0;
}

static int teardown(void **state)
{
    ss_test_http_destroy(worker_http);
    int rc = ss_test_services_teardown(state);
    ss_test_pg_proxy_stop(proxy);
    return rc;
}

/* Polls the worker's /ready until it answers status; fails the test after READY_POLLS_MAX. */
static void worker_ready_wait(long status, ss_test_http_reply_t *reply)
{
    for (int poll = 0; poll < READY_POLLS_MAX; poll++) {
        ss_test_http_reply_free(reply);
        ss_test_http_request_t request;
        ss_test_http_request_init(&request, "GET", NULL, "/ready");
        if (ss_test_http_try(worker_http, &request, reply) && reply->status == status) {
            return;
        }
        sleep_ms(READY_POLL_MS);
    }
    fail_msg("worker /ready did not answer %ld: last %ld %s", status, reply->status,
             reply->body != NULL ? reply->body : "");
}

/* GET /metrics of http, checked against the text format; the caller frees the text. */
static char *scrape(ss_test_http_t *http)
{
    ss_test_http_reply_t reply = {0};
    ss_test_http_get(http, &reply, "/metrics");
    assert_int_equal(reply.status, 200);
    assert_string_equal(reply.content_type, "text/plain; version=0.0.4; charset=utf-8");
    char errstr[512];
    if (ss_test_prom_check(reply.body, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("%s", errstr);
    }
    char *text = strdup(reply.body);
    ss_test_http_reply_free(&reply);
    return text;
}

static double value(const char *text, const char *name, const char *labels)
{
    bool found = false;
    return ss_test_prom_value(text, name, labels, &found);
}

/* Scrapes until name{labels} reaches want (a request's count lands just after its answer). */
static double value_settled(ss_test_http_t *http, const char *name, const char *labels, double want)
{
    double seen = 0;
    for (int poll = 0; poll < SETTLE_POLLS_MAX; poll++) {
        char *text = scrape(http);
        seen = value(text, name, labels);
        free(text);
        if (seen >= want) {
            break;
        }
        sleep_ms(SETTLE_POLL_MS);
    }
    return seen;
}

static void test_the_worker_is_ready_once_its_partitions_are_claimed(void **state)
{
    (void)state;
    ss_test_http_reply_t reply = {0};
    worker_ready_wait(200, &reply);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_string_equal(json_string_value(json_object_get(data, "postgres")), "UP");
    assert_string_equal(json_string_value(json_object_get(data, "kafka")), "UP");
    assert_string_equal(json_string_value(json_object_get(data, "partitions")), "UP");
    ss_test_http_reply_free(&reply);
    ss_test_http_get(worker_http, &reply, "/health");
    ss_test_http_expect(&reply, 200, NULL);
    ss_test_http_reply_free(&reply);
}

static void test_charges_and_reads_move_the_ingress_and_worker_counters(void **state)
{
    (void)state;
    static const char balance_get[] =
        "route=\"/api/v1/users/{id}/balance\",method=\"GET\",status=\"200\"";
    static const char charge_route[] = "route=\"/api/v1/users/{id}/balance/charge\"";
    static const char user_topic[] = "topic=\"ss.cmd.user\"";
    char *ingress_before = scrape(services.http);
    char *worker_before = scrape(worker_http);
    ss_test_http_reply_t reply = {0};
    for (int i = 0; i < CHARGES; i++) {
        ss_test_http_post(services.http, &reply, "{\"amount\":1000}",
                          "/api/v1/users/%lld/balance/charge", (long long)user_id);
        ss_test_http_settle(services.http, &reply, SS_TEST_SERVICES_SETTLE_MS);
        ss_test_http_expect(&reply, 200, NULL);
        ss_test_http_reply_free(&reply);
        ss_test_http_get(services.http, &reply, "/api/v1/users/%lld/balance", (long long)user_id);
        ss_test_http_expect(&reply, 200, NULL);
        ss_test_http_reply_free(&reply);
    }
    double reads = value(ingress_before, "ss_http_requests_total", balance_get) + CHARGES;
    assert_true(value_settled(services.http, "ss_http_requests_total", balance_get, reads) ==
                reads);
    char *ingress_after = scrape(services.http);
    assert_true(value(ingress_after, "ss_http_requests_total", charge_route) -
                    value(ingress_before, "ss_http_requests_total", charge_route) ==
                CHARGES);
    assert_true(value(ingress_after, "ss_http_request_duration_seconds_count",
                      "route=\"/api/v1/users/{id}/balance\"") >= CHARGES);
    assert_true(value(ingress_after, "ss_kafka_produced_records_total", user_topic) -
                    value(ingress_before, "ss_kafka_produced_records_total", user_topic) >=
                CHARGES);
    assert_true(value(ingress_after, "ss_http_requests_in_flight", "") >= 1); /* the scrape */

    double consumed = value(worker_before, "ss_kafka_consumed_records_total", user_topic);
    assert_true(value_settled(worker_http, "ss_kafka_consumed_records_total", user_topic,
                              consumed + CHARGES) >= consumed + CHARGES);
    char *worker_after = scrape(worker_http);
    assert_true(value(worker_after, "ss_worker_batch_records_count", "") > 0);
    assert_true(value(worker_after, "ss_worker_batch_records_sum", "") >= CHARGES);
    assert_true(value(worker_after, "ss_worker_transactions_total", "outcome=\"commit\"") -
                    value(worker_before, "ss_worker_transactions_total", "outcome=\"commit\"") >=
                1);
    /* The answers went out through the outbox to the ingress's partition of ss.results, in
     * CommandResults records (one per batch, so possibly fewer than the charges). */
    double results =
        value(worker_after, "ss_kafka_produced_records_total", "topic=\"ss.results\"") -
        value(worker_before, "ss_kafka_produced_records_total", "topic=\"ss.results\"");
    assert_true(results >= 1);
    assert_non_null(strstr(worker_after, "\nss_outbox_rows "));
    assert_non_null(strstr(worker_after, "ss_saga_orders_pending{age=\"ge_60s\"} "));
    assert_non_null(strstr(worker_after, "ss_consumer_lag_records{topic=\"ss.cmd.user\","));
    free(ingress_before);
    free(worker_before);
    free(ingress_after);
    free(worker_after);
}

static void test_ready_is_503_naming_postgres_while_it_is_unreachable(void **state)
{
    (void)state;
    ss_test_http_reply_t reply = {0};
    ss_test_pg_proxy_set_mode(proxy, SS_TEST_PG_PROXY_REFUSE);
    ss_test_pg_proxy_wait(proxy);
    worker_ready_wait(503, &reply);
    json_t *data = ss_test_http_expect(&reply, 503, "UNAVAILABLE");
    assert_string_equal(json_string_value(json_object_get(data, "postgres")), "DOWN");
    assert_non_null(
        strstr(json_string_value(json_object_get(reply.json, "message")), "not ready: postgres: "));
    assert_string_equal(reply.retry_after, "5");
    ss_test_http_reply_free(&reply);
    ss_test_http_get(worker_http, &reply, "/health");
    ss_test_http_expect(&reply, 200, NULL);
    ss_test_http_reply_free(&reply);

    ss_test_pg_proxy_set_mode(proxy, SS_TEST_PG_PROXY_RELAY);
    ss_test_pg_proxy_wait(proxy);
    worker_ready_wait(200, &reply);
    ss_test_http_reply_free(&reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_worker_is_ready_once_its_partitions_are_claimed),
        cmocka_unit_test(test_charges_and_reads_move_the_ingress_and_worker_counters),
        cmocka_unit_test(test_ready_is_503_naming_postgres_while_it_is_unreachable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * The ingress with its PostgreSQL down (issue 10, point 7), against the real stack. The ingress
 * of this test reaches PostgreSQL through the fault proxy (tests/support/ss_test_pg_proxy.h),
 * with SS_INGRESS_PG_TIMEOUT_MS=500 and two HTTP threads, so that a thread blocked on
 * PostgreSQL shows at once in what the other requests on it wait.
 *
 * With PostgreSQL black-holed (it hangs), and again with it refusing connections:
 *   - reads (balance, coupons, an order, a request's status) and async commands answer 503
 *     UNAVAILABLE with Retry-After, each within a bounded time, also 40 at once;
 *   - a synchronous command is refused with 503 before it is sent, or (sent before the ingress
 *     knew) is not answered with an error;
 *   - /health keeps answering 200 quickly the whole time, and /ready answers 503 naming
 *     postgres, quickly.
 * Without the fix, a read against the black hole blocks its HTTP thread for good, and /health
 * queued behind it never answers.
 *
 * A synchronous command handed to Kafka while PostgreSQL was up, whose pending row cannot be
 * written at its deadline because PostgreSQL then hangs, is not answered with an error (it may
 * still apply: an error would invite a retry that applies twice) and not with a 202 whose
 * status cannot be asked (issue 10, point 6: 202 only once its pending row exists): it waits,
 * and once PostgreSQL is back it gets its 202, whose Location says PENDING. /ready and the
 * reads recover too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_pg_proxy.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include "ss/clock.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PG_TIMEOUT_MS 500
/* Long enough that a batch of requests runs inside one refusal period (no probe meanwhile). */
#define PG_RETRY_MS 4000
/* What one answer may take with PostgreSQL down: a timeout and a half, plus slack for a busy
 * two-core machine. */
#define ANSWER_MS_MAX 2000
#define HEALTH_MS_MAX 1500
#define BATCH_REQUESTS 40
#define RECOVERY_MS_MAX 15000

static ss_test_services_t services;
static ss_test_pg_proxy_t *proxy;
static int64_t user_id;

static int setup(void **state)
{
    proxy = ss_test_pg_proxy_start(atoi(ss_test_env("SS_PG_PORT", "15432")));
    static char dsn[256];
    snprintf(dsn, sizeof(dsn),
             "PG_DSN=postgresql://shopstream:shopstream@127.0.0.1:%d/shopstream?sslmode=disable",
             ss_test_pg_proxy_port(proxy));
    static char timeout[64], retry[64];
    snprintf(timeout, sizeof(timeout), "SS_INGRESS_PG_TIMEOUT_MS=%d", PG_TIMEOUT_MS);
    snprintf(retry, sizeof(retry), "SS_INGRESS_PG_RETRY_MS=%d", PG_RETRY_MS);
    static const char *environment[] = {dsn, timeout, retry, "SS_INGRESS_THREADS=2", NULL};
    ss_test_services_config_t config = {
        .instance = 2, .port = 18194, .ingress_environment = environment};
    ss_test_services_start(&services, &config);
    user_id = ss_test_http_user_create(services.http, "pg-down");
    *state = &services;
    return 0;
}

static int teardown(void **state)
{
    int rc = ss_test_services_teardown(state);
    ss_test_pg_proxy_stop(proxy);
    return rc;
}

/* ---- /health watched from a thread of its own -------------------------------------------- */

typedef struct health_watch {
    pthread_t thread;
    atomic_bool stop;
    int64_t worst_ms;
    int answers;
    int not_ok; /* answers other than 200 */
} health_watch_t;

static void *health_watch_run(void *opaque)
{
    health_watch_t *watch = opaque;
    ss_test_http_t *http = ss_test_http_new(services.base_url, NULL);
    while (!atomic_load(&watch->stop)) {
        /* A new connection each time: it may land on either HTTP thread. */
        ss_test_http_reset_connection(http);
        ss_test_http_reply_t reply = {0};
        int64_t start_ms = ss_clock_monotonic_ms();
        ss_test_http_get(http, &reply, "/health");
        int64_t took_ms = ss_clock_monotonic_ms() - start_ms;
        watch->worst_ms = took_ms > watch->worst_ms ? took_ms : watch->worst_ms;
        watch->answers++;
        watch->not_ok += reply.status != 200;
        ss_test_http_reply_free(&reply);
        usleep(20 * 1000);
    }
    ss_test_http_destroy(http);
    return NULL;
}

static void health_watch_start(health_watch_t *watch)
{
    memset(watch, 0, sizeof(*watch));
    assert_int_equal(pthread_create(&watch->thread, NULL, health_watch_run, watch), 0);
}

static void health_watch_finish(health_watch_t *watch)
{
    atomic_store(&watch->stop, true);
    pthread_join(watch->thread, NULL);
    print_message("/health answers=%d worst_ms=%" PRId64 "\n", watch->answers, watch->worst_ms);
    assert_true(watch->answers > 0);
    assert_int_equal(watch->not_ok, 0);
    assert_true(watch->worst_ms < HEALTH_MS_MAX);
}

/* ---- requests ---------------------------------------------------------------------------- */

/* The i-th request of a mix of reads and commands (sync and async) about user_id. */
static void mixed_request(ss_test_http_request_t *request, size_t i)
{
    switch (i % 6) {
    case 0:
        ss_test_http_request_init(request, "GET", NULL, "/api/v1/users/%" PRId64 "/balance",
                                  user_id);
        break;
    case 1:
        ss_test_http_request_init(request, "GET", NULL, "/api/v1/users/%" PRId64 "/coupons",
                                  user_id);
        break;
    case 2:
        ss_test_http_request_init(request, "GET", NULL, "/api/v1/orders/1");
        break;
    case 3:
        ss_test_http_request_init(request, "GET", NULL, "/api/v1/requests/2-1-1");
        break;
    case 4:
        ss_test_http_request_init(request, "POST", "{\"amount\":1}",
                                  "/api/v1/users/%" PRId64 "/balance/charge", user_id);
        request->headers[0] = "Prefer: respond-async";
        break;
    default:
        ss_test_http_request_init(request, "POST", "{\"amount\":1}",
                                  "/api/v1/users/%" PRId64 "/balance/charge", user_id);
        break;
    }
}

static bool is_sync_command(size_t i)
{
    return i % 6 == 5;
}

/* 503 UNAVAILABLE with Retry-After; a sync command may also be 202 (it was sent). */
static void expect_unavailable(const ss_test_http_reply_t *reply, bool may_be_accepted)
{
    if (may_be_accepted && reply->status == 202) {
        assert_true(strstr(reply->location, "/api/v1/requests/") != NULL);
        return;
    }
    ss_test_http_expect(reply, 503, "UNAVAILABLE");
    assert_true(reply->retry_after[0] != '\0');
}

/* One request alone, timed. */
static void expect_fast_unavailable(size_t kind)
{
    ss_test_http_request_t request;
    mixed_request(&request, kind);
    ss_test_http_reply_t reply = {0};
    int64_t start_ms = ss_clock_monotonic_ms();
    ss_test_http_send(services.http, &request, &reply);
    int64_t took_ms = ss_clock_monotonic_ms() - start_ms;
    print_message("%s %s: %ld in %" PRId64 " ms\n", request.method, request.path, reply.status,
                  took_ms);
    expect_unavailable(&reply, is_sync_command(kind));
    assert_true(took_ms < ANSWER_MS_MAX);
    ss_test_http_reply_free(&reply);
}

static void expect_ready_names_postgres(void)
{
    ss_test_http_reply_t reply = {0};
    int64_t start_ms = ss_clock_monotonic_ms();
    ss_test_http_get(services.http, &reply, "/ready");
    int64_t took_ms = ss_clock_monotonic_ms() - start_ms;
    json_t *data = ss_test_http_expect(&reply, 503, "UNAVAILABLE");
    assert_non_null(data);
    assert_string_equal(ss_test_json_string(data, "postgres"), "DOWN");
    assert_true(took_ms < ANSWER_MS_MAX);
    ss_test_http_reply_free(&reply);
}

/* With the proxy in mode: everything above, /health watched throughout. */
static void check_down(ss_test_pg_proxy_mode_t mode)
{
    ss_test_pg_proxy_set_mode(proxy, mode);
    ss_test_pg_proxy_wait(proxy);
    health_watch_t watch;
    health_watch_start(&watch);

    /* The first read finds out (a timeout, or a refused connect); it too is bounded. */
    expect_fast_unavailable(0);
    for (size_t kind = 0; kind < 6; kind++) {
        expect_fast_unavailable(kind);
    }

    /* Many at once: nobody waits behind a blocked thread. */
    static ss_test_http_request_t requests[BATCH_REQUESTS];
    static ss_test_http_reply_t replies[BATCH_REQUESTS];
    for (size_t i = 0; i < BATCH_REQUESTS; i++) {
        mixed_request(&requests[i], i);
    }
    ss_test_http_many_config_t config = {.in_flight_max = BATCH_REQUESTS};
    ss_test_http_many_stats_t stats = {0};
    ss_test_http_send_many(services.http, requests, BATCH_REQUESTS, &config, replies, &stats);
    print_message("%d requests at once answered in %" PRId64 " ms\n", BATCH_REQUESTS,
                  stats.elapsed_ms);
    for (size_t i = 0; i < BATCH_REQUESTS; i++) {
        expect_unavailable(&replies[i], is_sync_command(i));
        ss_test_http_reply_free(&replies[i]);
    }
    assert_true(stats.elapsed_ms < ANSWER_MS_MAX);

    expect_ready_names_postgres();
    health_watch_finish(&watch);
}

/* Back to RELAY: /ready and a read answer 200 again (after at most one refusal period). */
static void check_recovers(void)
{
    ss_test_pg_proxy_set_mode(proxy, SS_TEST_PG_PROXY_RELAY);
    ss_test_pg_proxy_wait(proxy);
    int64_t until_ms = ss_clock_monotonic_ms() + RECOVERY_MS_MAX;
    long status = 0;
    while (status != 200 && ss_clock_monotonic_ms() < until_ms) {
        ss_test_http_reply_t reply = {0};
        ss_test_http_get(services.http, &reply, "/api/v1/users/%" PRId64 "/balance", user_id);
        status = reply.status;
        ss_test_http_reply_free(&reply);
        if (status != 200) {
            usleep(200 * 1000);
        }
    }
    assert_int_equal(status, 200);
    ss_test_http_reply_t ready = {0};
    ss_test_http_get(services.http, &ready, "/ready");
    ss_test_http_expect(&ready, 200, NULL);
    ss_test_http_reply_free(&ready);
}

static void test_postgresql_hanging_gets_fast_503s_and_health_stays_up(void **state)
{
    (void)state;
    check_down(SS_TEST_PG_PROXY_BLACK_HOLE);
    check_recovers();
}

static void test_postgresql_refusing_gets_fast_503s_and_health_stays_up(void **state)
{
    (void)state;
    check_down(SS_TEST_PG_PROXY_REFUSE);
    check_recovers();
}

typedef struct charge_call {
    pthread_t thread;
    ss_test_http_reply_t reply;
    atomic_bool done;
} charge_call_t;

static void *charge_run(void *opaque)
{
    charge_call_t *call = opaque;
    ss_test_http_t *http = ss_test_http_new(services.base_url, NULL);
    ss_test_http_post(http, &call->reply, "{\"amount\":1}",
                      "/api/v1/users/%" PRId64 "/balance/charge", user_id);
    ss_test_http_destroy(http);
    atomic_store(&call->done, true);
    return NULL;
}

static void test_a_sent_command_waits_for_its_pending_row_while_postgresql_hangs(void **state)
{
    (void)state;
    check_recovers(); /* the ingress knows PostgreSQL to be up: the charge is sent */
    /* No user worker runs: nothing answers it before its deadline (3 s). */
    charge_call_t call = {0};
    assert_int_equal(pthread_create(&call.thread, NULL, charge_run, &call), 0);
    usleep(1000 * 1000);
    ss_test_pg_proxy_set_mode(proxy, SS_TEST_PG_PROXY_BLACK_HOLE);
    ss_test_pg_proxy_wait(proxy);
    usleep(5000 * 1000); /* well past its deadline */
    assert_false(atomic_load(&call.done));
    check_recovers();
    pthread_join(call.thread, NULL);
    json_t *data = ss_test_http_expect(&call.reply, 202, NULL);
    assert_non_null(data);
    assert_non_null(strstr(call.reply.location, ss_test_json_string(data, "requestId")));
    ss_test_http_reply_t status = {0};
    ss_test_http_get(services.http, &status, "%s", call.reply.location);
    json_t *pending = ss_test_http_expect(&status, 200, NULL);
    assert_string_equal(ss_test_json_string(pending, "status"), "PENDING");
    ss_test_http_reply_free(&status);
    ss_test_http_reply_free(&call.reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postgresql_hanging_gets_fast_503s_and_health_stays_up),
        cmocka_unit_test(test_postgresql_refusing_gets_fast_503s_and_health_stays_up),
        cmocka_unit_test(test_a_sent_command_waits_for_its_pending_row_while_postgresql_hangs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * A worker killed with SIGKILL in the middle of a stream of charges over HTTP, against the real
 * stack: an ss-ingress of this test (instance 1) and two user workers. While 1,200 charges to
 * 16 users flow (100 in flight), one worker is killed -9 and restarted after a quarter of the
 * answers, the other after half. Every request must end 200 (a 202 is followed to DONE), and
 * every accepted charge must be applied exactly once: per user, history rows = accepted
 * requests, balance = their sum, no request id twice in the history.
 *
 * After the stream, one more charge per user goes through each user's partition: partitions
 * are applied in order, so anything replayed from before the kill would already show.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USERS 16
#define CHARGES 1200
#define IN_FLIGHT 100
#define WORKERS 2

static ss_test_services_t services;

static int setup(void **state)
{
    ss_test_services_config_t config = {.instance = 1, .port = 18187};
    config.workers[SS_TEST_SERVICE_USER] = WORKERS;
    ss_test_services_start(&services, &config);
    *state = &services;
    return 0;
}

static int64_t scalar_id(const char *sql, int64_t id)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, id);
    const char *params[] = {text};
    return ss_test_pg_scalar(services.pg, sql, 1, params);
}

typedef struct fault_plan {
    size_t kills_done;
    size_t kill_at[WORKERS]; /* kill worker i when this many answers are in */
} fault_plan_t;

/* Runs inside the stream: kill -9 a worker at its point and start it again at once. */
static void on_progress(void *opaque, size_t completed)
{
    fault_plan_t *plan = opaque;
    if (plan->kills_done < WORKERS && completed == plan->kill_at[plan->kills_done]) {
        int index = (int)plan->kills_done;
        print_message("kill -9 user worker %d after %zu answers\n", index, completed);
        ss_test_services_worker_stop(&services, SS_TEST_SERVICE_USER, index, SIGKILL);
        ss_test_services_worker_start(&services, SS_TEST_SERVICE_USER, index);
        plan->kills_done++;
    }
}

static void test_kill_9_of_a_worker_mid_stream_applies_every_accepted_charge_once(void **state)
{
    (void)state;
    int64_t user_ids[USERS];
    for (size_t u = 0; u < USERS; u++) {
        char nickname[100];
        snprintf(nickname, sizeof(nickname), "fault-%zu-%s", u, ss_test_run_id());
        user_ids[u] = ss_test_http_user_create(services.http, nickname);
    }
    /* At most 75 charges of at most 100 per user: never near the limit, so all must pass. */
    static ss_test_http_request_t requests[CHARGES];
    static ss_test_http_reply_t replies[CHARGES];
    static int64_t amounts[CHARGES];
    for (size_t i = 0; i < CHARGES; i++) {
        amounts[i] = (int64_t)(i % 100) + 1;
        char body[64];
        snprintf(body, sizeof(body), "{\"amount\":%" PRId64 "}", amounts[i]);
        ss_test_http_request_init(&requests[i], "POST", body,
                                  "/api/v1/users/%" PRId64 "/balance/charge", user_ids[i % USERS]);
    }
    fault_plan_t plan = {.kill_at = {CHARGES / 4, CHARGES / 2}};
    ss_test_http_many_config_t config = {
        .in_flight_max = IN_FLIGHT, .on_progress = on_progress, .opaque = &plan};
    ss_test_http_many_stats_t stats;
    ss_test_http_send_many(services.http, requests, CHARGES, &config, replies, &stats);
    assert_int_equal(plan.kills_done, WORKERS);

    int64_t expected_sum[USERS] = {0};
    int64_t expected_count[USERS] = {0};
    size_t late = 0;
    for (size_t i = 0; i < CHARGES; i++) {
        late += replies[i].status == 202;
        ss_test_http_settle(services.http, &replies[i], SS_TEST_SERVICES_SETTLE_MS);
        json_t *data = ss_test_http_expect(&replies[i], 200, NULL);
        assert_int_equal(ss_test_json_int(data, "userId"), user_ids[i % USERS]);
        expected_sum[i % USERS] += amounts[i];
        expected_count[i % USERS]++;
        ss_test_http_reply_free(&replies[i]);
    }
    print_message("1200 charges through two kills: all accepted, %zu answered 202 first;"
                  " %" PRId64 " ms\n",
                  late, stats.elapsed_ms);

    /* The barrier: a last charge per user, after everything else in its partition. */
    for (size_t u = 0; u < USERS; u++) {
        ss_test_http_request_t request;
        ss_test_http_request_init(&request, "POST", "{\"amount\":1}",
                                  "/api/v1/users/%" PRId64 "/balance/charge", user_ids[u]);
        ss_test_http_reply_t reply;
        ss_test_services_send(&services, &request, &reply);
        assert_int_equal(ss_test_json_int(ss_test_http_expect(&reply, 200, NULL), "amount"),
                         expected_sum[u] + 1);
        ss_test_http_reply_free(&reply);
        expected_sum[u] += 1;
        expected_count[u] += 1;
    }

    for (size_t u = 0; u < USERS; u++) {
        int64_t user_id = user_ids[u];
        assert_int_equal(scalar_id("SELECT balance FROM users WHERE id = $1", user_id),
                         expected_sum[u]);
        assert_int_equal(
            scalar_id("SELECT count(*) FROM balance_history WHERE user_id = $1", user_id),
            expected_count[u]);
        assert_int_equal(
            scalar_id("SELECT coalesce(sum(amount), 0) FROM balance_history WHERE user_id = $1",
                      user_id),
            expected_sum[u]);
        assert_int_equal(scalar_id("SELECT count(*) - count(DISTINCT request_id)"
                                   " FROM balance_history WHERE user_id = $1",
                                   user_id),
                         0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_9_of_a_worker_mid_stream_applies_every_accepted_charge_once),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}

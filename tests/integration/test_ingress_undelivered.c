/*
 * A command that certainly never reached Kafka (issue 10, point 6), against the real stack: the
 * broker is stopped, so librdkafka keeps the ingress's records queued until its message timeout
 * (3 s here) and then reports them NOT_PERSISTED. They can never apply, so:
 *   - a client still waiting is answered 503 with Retry-After (safe to retry);
 *   - a client already answered 202 (Prefer: respond-async) finds its request DONE with a 503
 *     "not applied" result in GET /requests/{id}, instead of PENDING forever.
 * After the broker is back, the same charges retried with the same Idempotency-Keys apply once
 * each: the balance and the history show only the retries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define AMOUNT_SYNC 1000
#define AMOUNT_ASYNC 300
#define READY_WAIT_S 120

static ss_test_services_t services;

static int setup(void **state)
{
    /* A deadline past the message timeout: the waiting client learns of the failure itself. */
    static const char *const environment[] = {"SS_PRODUCER_MESSAGE_TIMEOUT_MS=3000", NULL};
    ss_test_services_config_t config = {.instance = 2,
                                        .port = 18186,
                                        .request_deadline_ms = 10000,
                                        .ingress_environment = environment};
    config.workers[SS_TEST_SERVICE_USER] = 1;
    ss_test_services_start(&services, &config);
    *state = &services;
    return 0;
}

static void charge_init(ss_test_http_request_t *request, int64_t user, int64_t amount,
                        const char *key_header, bool async)
{
    ss_test_http_request_init(request, "POST", NULL, "/api/v1/users/%" PRId64 "/balance/charge",
                              user);
    snprintf(request->body_text, sizeof(request->body_text), "{\"amount\":%" PRId64 "}", amount);
    request->headers[0] = key_header;
    request->headers[1] = async ? "Prefer: respond-async" : NULL;
}

static void ready_wait(void)
{
    for (int i = 0; i < READY_WAIT_S * 4; i++) {
        ss_test_http_reply_t reply = {0};
        ss_test_http_get(services.http, &reply, "/ready");
        long status = reply.status;
        ss_test_http_reply_free(&reply);
        if (status == 200) {
            return;
        }
        usleep(250 * 1000);
    }
    fail_msg("the ingress did not become ready after the broker came back");
}

static int64_t user_scalar(const char *sql, int64_t user)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, user);
    const char *params[] = {text};
    return ss_test_pg_scalar(services.pg, sql, 1, params);
}

static void test_a_command_never_delivered_is_answered_as_not_applied(void **state)
{
    (void)state;
    char nickname[96], sync_key[128], async_key[128];
    snprintf(nickname, sizeof(nickname), "undelivered-%s", ss_test_run_id());
    int64_t user = ss_test_http_user_create(services.http, nickname);
    snprintf(sync_key, sizeof(sync_key), "Idempotency-Key: undelivered-sync-%s", ss_test_run_id());
    snprintf(async_key, sizeof(async_key), "Idempotency-Key: undelivered-async-%s",
             ss_test_run_id());
    ss_test_broker_stop();

    /* Told 202 at once (its pending row exists), then DONE with "not applied". */
    ss_test_http_request_t request;
    ss_test_http_reply_t accepted = {0};
    charge_init(&request, user, AMOUNT_ASYNC, async_key, true);
    ss_test_http_send(services.http, &request, &accepted);
    ss_test_http_expect(&accepted, 202, NULL);
    ss_test_http_settle(services.http, &accepted, 30000);
    assert_true(accepted.settled);
    ss_test_http_expect(&accepted, 503, "UNAVAILABLE");
    assert_non_null(strstr(accepted.body, "not applied"));

    /* Still waiting when the delivery fails: 503 with Retry-After, well before the deadline. */
    ss_test_http_reply_t refused = {0};
    charge_init(&request, user, AMOUNT_SYNC, sync_key, false);
    ss_test_http_send(services.http, &request, &refused);
    ss_test_http_expect(&refused, 503, "UNAVAILABLE");
    assert_string_not_equal(refused.retry_after, "");

    ss_test_broker_start();
    ready_wait();
    /* The same keys again: neither was applied, so each applies now, once. */
    ss_test_http_reply_t retried = {0};
    charge_init(&request, user, AMOUNT_SYNC, sync_key, false);
    ss_test_services_send(&services, &request, &retried);
    ss_test_http_expect(&retried, 200, NULL);
    ss_test_http_reply_t retried_async = {0};
    charge_init(&request, user, AMOUNT_ASYNC, async_key, true);
    ss_test_services_send(&services, &request, &retried_async);
    ss_test_http_expect(&retried_async, 200, NULL);
    assert_int_equal(user_scalar("SELECT balance FROM users WHERE id = $1", user),
                     AMOUNT_SYNC + AMOUNT_ASYNC);
    assert_int_equal(user_scalar("SELECT count(*) FROM balance_history WHERE user_id = $1", user),
                     2);
    ss_test_http_reply_free(&accepted);
    ss_test_http_reply_free(&refused);
    ss_test_http_reply_free(&retried);
    ss_test_http_reply_free(&retried_async);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_command_never_delivered_is_answered_as_not_applied),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}

/*
 * GET /api/v1/users/{id}/balance and POST /api/v1/users/{id}/balance/charge over HTTP, against
 * the real stack: an ss-ingress of this test (instance 1) and two user workers. Covers the
 * success path with its history rows, the limit of 10,000,000 (exactly reached, then refused),
 * every INVALID_REQUEST shape of the body and of the path, USER_NOT_FOUND, and Idempotency-Key
 * retries (the first outcome comes back, nothing is applied twice, another body is refused;
 * also through other spellings of the path, and from 100 clients at once), and keys that are
 * not UTF-8.
 * A 202 (a rebalance slower than the deadline) is followed to its final result.
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
#include <stdlib.h>
#include <string.h>

#define BALANCE_LIMIT INT64_C(10000000)

static ss_test_services_t services;

static int setup(void **state)
{
    ss_test_services_config_t config = {.instance = 1, .port = 18181};
    config.workers[SS_TEST_SERVICE_USER] = 2;
    ss_test_services_start(&services, &config);
    *state = &services;
    return 0;
}

static int64_t user_new(const char *what)
{
    char nickname[100];
    snprintf(nickname, sizeof(nickname), "%s-%s", what, ss_test_run_id());
    return ss_test_http_user_create(services.http, nickname);
}

/* A scalar about one user ($1). */
static int64_t user_scalar(const char *sql, int64_t user_id)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, user_id);
    const char *params[] = {id};
    return ss_test_pg_scalar(services.pg, sql, 1, params);
}

/* POST to path with body and optional Idempotency-Key, settled to the final outcome. */
static void charge_at(const char *path, const char *body, const char *idempotency_key,
                      ss_test_http_reply_t *reply)
{
    char header[400];
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, "POST", body, "%s", path);
    if (idempotency_key != NULL) {
        snprintf(header, sizeof(header), "Idempotency-Key: %s", idempotency_key);
        request.headers[0] = header;
    }
    ss_test_services_send(&services, &request, reply);
}

/* POST charge with body and optional Idempotency-Key, settled to the final outcome. */
static void charge(int64_t user_id, const char *body, const char *idempotency_key,
                   ss_test_http_reply_t *reply)
{
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/users/%" PRId64 "/balance/charge", user_id);
    charge_at(path, body, idempotency_key, reply);
}

/* Charges amount and expects 200 with the new balance; returns it. */
static int64_t charge_ok(int64_t user_id, int64_t amount)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"amount\":%" PRId64 "}", amount);
    ss_test_http_reply_t reply;
    charge(user_id, body, NULL, &reply);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_int_equal(ss_test_json_int(data, "userId"), user_id);
    int64_t balance = ss_test_json_int(data, "amount");
    ss_test_http_reply_free(&reply);
    return balance;
}

static void charge_refused(int64_t user_id, int64_t amount, long status, const char *error)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"amount\":%" PRId64 "}", amount);
    ss_test_http_reply_t reply;
    charge(user_id, body, NULL, &reply);
    ss_test_http_expect(&reply, status, error);
    ss_test_http_reply_free(&reply);
}

static int64_t balance_get(int64_t user_id)
{
    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/users/%" PRId64 "/balance", user_id);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_int_equal(ss_test_json_int(data, "userId"), user_id);
    int64_t amount = ss_test_json_int(data, "amount");
    ss_test_http_reply_free(&reply);
    return amount;
}

static void test_balance_of_a_user_never_charged_is_zero(void **state)
{
    (void)state;
    int64_t user_id = user_new("never-charged");
    assert_int_equal(balance_get(user_id), 0);
}

static void test_charges_add_up_and_each_writes_one_charge_history_row(void **state)
{
    (void)state;
    int64_t user_id = user_new("charges");
    assert_int_equal(charge_ok(user_id, 1000), 1000);
    assert_int_equal(charge_ok(user_id, 234), 1234);
    assert_int_equal(balance_get(user_id), 1234);
    assert_int_equal(user_scalar("SELECT balance FROM users WHERE id = $1", user_id), 1234);
    assert_int_equal(user_scalar("SELECT count(*) FROM balance_history WHERE user_id = $1"
                                 " AND type = 'CHARGE'",
                                 user_id),
                     2);
    assert_int_equal(
        user_scalar("SELECT count(*) FROM balance_history WHERE user_id = $1", user_id), 2);
    assert_int_equal(
        user_scalar("SELECT sum(amount) FROM balance_history WHERE user_id = $1", user_id), 1234);
    assert_int_equal(user_scalar("SELECT count(*) FROM balance_history WHERE user_id = $1"
                                 " AND balance_after IN (1000, 1234)",
                                 user_id),
                     2);
}

static void test_charge_up_to_the_limit_is_accepted_and_past_it_refused(void **state)
{
    (void)state;
    int64_t user_id = user_new("limit");
    assert_int_equal(charge_ok(user_id, BALANCE_LIMIT - 10), BALANCE_LIMIT - 10);
    charge_refused(user_id, 11, 409, "BALANCE_LIMIT_EXCEEDED");
    assert_int_equal(charge_ok(user_id, 10), BALANCE_LIMIT);
    charge_refused(user_id, 1, 409, "BALANCE_LIMIT_EXCEEDED");
    assert_int_equal(balance_get(user_id), BALANCE_LIMIT);
    assert_int_equal(
        user_scalar("SELECT count(*) FROM balance_history WHERE user_id = $1", user_id), 2);
}

static void test_the_largest_single_charge_is_accepted_and_one_more_is_invalid(void **state)
{
    (void)state;
    int64_t user_id = user_new("largest");
    charge_refused(user_id, BALANCE_LIMIT + 1, 400, "INVALID_REQUEST");
    assert_int_equal(charge_ok(user_id, BALANCE_LIMIT), BALANCE_LIMIT);
}

static void test_charge_with_a_bad_body_is_invalid_and_changes_nothing(void **state)
{
    (void)state;
    int64_t user_id = user_new("bad-body");
    static const char *const bodies[] = {
        "{\"amount\":0}",
        "{\"amount\":-1}",
        "{\"amount\":10000001}",
        "{\"amount\":\"100\"}",
        "{\"amount\":1.5}",
        "{\"amount\":null}",
        "{\"amount\":true}",
        "{}",
        "{\"amount\":100",
        "[100]",
        "100",
        "not json",
        "{\"amount\":[1]}",
        "{\"amount\":{}}",
        "{\"amount\":99999999999999999999}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        ss_test_http_reply_t reply;
        charge(user_id, bodies[i], NULL, &reply);
        if (reply.status != 400) {
            print_message("body %s\n", bodies[i]);
        }
        ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
        ss_test_http_reply_free(&reply);
    }
    /* No body at all. */
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, "POST", NULL, "/api/v1/users/%" PRId64 "/balance/charge",
                              user_id);
    ss_test_http_reply_t reply;
    ss_test_http_send(services.http, &request, &reply);
    ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);

    assert_int_equal(balance_get(user_id), 0);
    assert_int_equal(
        user_scalar("SELECT count(*) FROM balance_history WHERE user_id = $1", user_id), 0);
}

static void test_unknown_user_is_user_not_found_for_balance_and_charge(void **state)
{
    (void)state;
    int64_t unknown =
        ss_test_pg_scalar(services.pg, "SELECT coalesce(max(id), 0) + 1000000 FROM users", 0, NULL);
    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/users/%" PRId64 "/balance", unknown);
    ss_test_http_expect(&reply, 404, "USER_NOT_FOUND");
    ss_test_http_reply_free(&reply);
    charge_refused(unknown, 100, 404, "USER_NOT_FOUND");
    assert_int_equal(
        user_scalar("SELECT count(*) FROM balance_history WHERE user_id = $1", unknown), 0);
}

static void test_bad_user_id_in_the_path_is_invalid(void **state)
{
    (void)state;
    static const char *const ids[] = {"abc", "0", "-3", "1.5", "99999999999999999999", "1x", "%20"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        ss_test_http_reply_t reply;
        ss_test_http_get(services.http, &reply, "/api/v1/users/%s/balance", ids[i]);
        ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
        ss_test_http_reply_free(&reply);
        ss_test_http_post(services.http, &reply, "{\"amount\":10}",
                          "/api/v1/users/%s/balance/charge", ids[i]);
        ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
        ss_test_http_reply_free(&reply);
    }
}

static void test_retried_idempotency_key_returns_the_first_outcome_and_applies_once(void **state)
{
    (void)state;
    int64_t user_id = user_new("idempotent");
    char key[128];
    snprintf(key, sizeof(key), "balance-%s", ss_test_run_id());

    ss_test_http_reply_t first, retry, other;
    charge(user_id, "{\"amount\":500}", key, &first);
    assert_int_equal(ss_test_json_int(ss_test_http_expect(&first, 200, NULL), "amount"), 500);
    /* A charge in between: a retry must not answer with the balance of now. */
    assert_int_equal(charge_ok(user_id, 300), 800);
    charge(user_id, "{\"amount\":500}", key, &retry);
    json_t *retry_data = ss_test_http_expect(&retry, 200, NULL);
    assert_int_equal(ss_test_json_int(retry_data, "amount"), 500);
    assert_int_equal(ss_test_json_int(retry_data, "userId"), user_id);
    assert_true(json_equal(first.json, retry.json));

    charge(user_id, "{\"amount\":501}", key, &other);
    ss_test_http_expect(&other, 409, "IDEMPOTENCY_KEY_REUSED");

    assert_int_equal(balance_get(user_id), 800);
    assert_int_equal(
        user_scalar("SELECT count(*) FROM balance_history WHERE user_id = $1", user_id), 2);
    ss_test_http_reply_free(&first);
    ss_test_http_reply_free(&retry);
    ss_test_http_reply_free(&other);
}

static void test_idempotency_key_of_255_characters_is_kept_and_256_is_invalid(void **state)
{
    (void)state;
    int64_t user_id = user_new("long-key");
    char key[257];
    int prefix = snprintf(key, sizeof(key), "%s-", ss_test_run_id());
    memset(key + prefix, 'k', sizeof(key) - 1 - (size_t)prefix);
    key[256] = '\0';
    ss_test_http_reply_t reply;
    charge(user_id, "{\"amount\":7}", key, &reply);
    ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);

    key[255] = '\0';
    charge(user_id, "{\"amount\":7}", key, &reply);
    ss_test_http_expect(&reply, 200, NULL);
    ss_test_http_reply_free(&reply);
    charge(user_id, "{\"amount\":7}", key, &reply);
    ss_test_http_expect(&reply, 200, NULL);
    ss_test_http_reply_free(&reply);
    assert_int_equal(balance_get(user_id), 7);
}

/* The key's scope is the resource, not the spelling of its path (issue 10, point 1). */
static void test_a_retry_through_another_spelling_of_the_path_gets_the_first_answer(void **state)
{
    (void)state;
    int64_t user_id = user_new("path-spelling");
    char key[128], path[128];
    snprintf(key, sizeof(key), "spelling-%s", ss_test_run_id());
    /* The same resource spelled with leading zeros and a trailing slash. */
    const char *const zeros[] = {"", "0", "", "00"};
    const char *const slashes[] = {"", "", "/", "/"};
    for (size_t i = 0; i < sizeof(zeros) / sizeof(zeros[0]); i++) {
        snprintf(path, sizeof(path), "/api/v1/users/%s%" PRId64 "/balance/charge%s", zeros[i],
                 user_id, slashes[i]);
        ss_test_http_reply_t reply;
        charge_at(path, "{\"amount\":1000}", key, &reply);
        json_t *data = ss_test_http_expect(&reply, 200, NULL);
        assert_int_equal(ss_test_json_int(data, "amount"), 1000);
        ss_test_http_reply_free(&reply);
    }
    assert_int_equal(balance_get(user_id), 1000);
    assert_int_equal(
        user_scalar("SELECT count(*) FROM balance_history WHERE user_id = $1", user_id), 1);
}

/* A key that is not UTF-8 (Latin-1 "caf\xe9") is refused, not dropped (issue 10, point 3). */
static void test_an_idempotency_key_that_is_not_utf8_is_refused_naming_the_header(void **state)
{
    (void)state;
    int64_t user_id = user_new("latin1-key");
    ss_test_http_reply_t reply;
    for (int attempt = 0; attempt < 2; attempt++) {
        charge(user_id, "{\"amount\":5}", "caf\xe9", &reply);
        ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
        const char *message = json_string_value(json_object_get(reply.json, "message"));
        assert_non_null(message);
        assert_non_null(strstr(message, "Idempotency-Key"));
        ss_test_http_reply_free(&reply);
    }
    assert_int_equal(balance_get(user_id), 0);
}

#define SAME_KEY_CLIENTS 100

/*
 * 100 clients send the same charge with the same key at once (issue 10, point 4): one effect,
 * and every client gets the same answer, the first one's.
 */
static void
test_concurrent_requests_with_one_key_apply_once_and_all_get_the_same_answer(void **state)
{
    (void)state;
    int64_t user_id = user_new("same-key-race");
    static ss_test_http_request_t requests[SAME_KEY_CLIENTS];
    static ss_test_http_reply_t replies[SAME_KEY_CLIENTS];
    char header[160];
    snprintf(header, sizeof(header), "Idempotency-Key: race-%s", ss_test_run_id());
    for (int i = 0; i < SAME_KEY_CLIENTS; i++) {
        ss_test_http_request_init(&requests[i], "POST", "{\"amount\":700}",
                                  "/api/v1/users/%" PRId64 "/balance/charge", user_id);
        requests[i].headers[0] = header;
    }
    ss_test_http_many_config_t config = {.in_flight_max = SAME_KEY_CLIENTS};
    ss_test_http_send_many(services.http, requests, SAME_KEY_CLIENTS, &config, replies, NULL);
    for (int i = 0; i < SAME_KEY_CLIENTS; i++) {
        ss_test_http_settle(services.http, &replies[i], SS_TEST_SERVICES_SETTLE_MS);
        json_t *data = ss_test_http_expect(&replies[i], 200, NULL);
        assert_int_equal(ss_test_json_int(data, "amount"), 700);
        assert_true(json_equal(replies[0].json, replies[i].json));
    }
    for (int i = 0; i < SAME_KEY_CLIENTS; i++) {
        ss_test_http_reply_free(&replies[i]);
    }
    assert_int_equal(balance_get(user_id), 700);
    assert_int_equal(
        user_scalar("SELECT count(*) FROM balance_history WHERE user_id = $1", user_id), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_balance_of_a_user_never_charged_is_zero),
        cmocka_unit_test(test_charges_add_up_and_each_writes_one_charge_history_row),
        cmocka_unit_test(test_charge_up_to_the_limit_is_accepted_and_past_it_refused),
        cmocka_unit_test(test_the_largest_single_charge_is_accepted_and_one_more_is_invalid),
        cmocka_unit_test(test_charge_with_a_bad_body_is_invalid_and_changes_nothing),
        cmocka_unit_test(test_unknown_user_is_user_not_found_for_balance_and_charge),
        cmocka_unit_test(test_bad_user_id_in_the_path_is_invalid),
        cmocka_unit_test(test_retried_idempotency_key_returns_the_first_outcome_and_applies_once),
        cmocka_unit_test(test_idempotency_key_of_255_characters_is_kept_and_256_is_invalid),
        cmocka_unit_test(test_a_retry_through_another_spelling_of_the_path_gets_the_first_answer),
        cmocka_unit_test(test_an_idempotency_key_that_is_not_utf8_is_refused_naming_the_header),
        cmocka_unit_test(
            test_concurrent_requests_with_one_key_apply_once_and_all_get_the_same_answer),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}

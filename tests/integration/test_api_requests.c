/*
 * What the HTTP layer answers by itself, and the asynchronous path of mutations, against the
 * real stack (an ss-ingress of this test, instance 2, with a pending ring of 16 and a deadline of
 * 5 s, and two user workers):
 * - `Prefer: respond-async` gives 202 with data.requestId and a Location to
 *   GET /api/v1/requests/{id}, which says PENDING (result null) until the worker has stored the
 *   outcome and DONE with the final envelope afterwards;
 * - a mutation that cannot finish within the deadline answers 202, never a guess;
 * - with every pending slot taken, a new mutation is 503 UNAVAILABLE with Retry-After, and is
 *   never applied;
 * - REQUEST_NOT_FOUND, 400 on an over-long request id, 404 NOT_FOUND on an unknown route,
 *   405 with an Allow header, 413 PAYLOAD_TOO_LARGE over 64 KiB (declared or chunked).
 *
 * To hold a mutation back deterministically, the test locks the user's row in PostgreSQL
 * (SELECT ... FOR UPDATE in an open transaction): the worker's batch then cannot write the
 * balance nor its result until the test rolls back.
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
#include <unistd.h>

#define PENDING_MAX 16
#define FLOOD_COUNT (PENDING_MAX + 8)
#define BODY_LIMIT 65536
#define PENDING_CHECKS 3
#define PENDING_CHECK_PAUSE_US 200000

static ss_test_services_t services;

static int setup(void **state)
{
    /* A small ring, so that 503 is reachable; the ingress refuses fewer than 16. */
    static const char *const ingress_environment[] = {"SS_INGRESS_PENDING_MAX=16", NULL};
    ss_test_services_config_t config = {
        .instance = 2,
        .port = 18185,
        /* Long enough that the 24 requests of the flood are all in before the first 202. */
        .request_deadline_ms = 5000,
        .ingress_environment = ingress_environment};
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

static int64_t user_scalar(ss_pg_t *connection, const char *sql, int64_t user_id)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, user_id);
    const char *params[] = {id};
    return ss_test_pg_scalar(connection, sql, 1, params);
}

/* Opens a transaction on a connection of its own that holds the user's row. */
static ss_pg_t *user_row_lock(int64_t user_id)
{
    ss_pg_t *locker = ss_test_pg_connect();
    ss_test_pg_exec(locker, "BEGIN", 0, NULL);
    assert_int_equal(user_scalar(locker,
                                 "SELECT count(*) FROM (SELECT id FROM users"
                                 " WHERE id = $1 FOR UPDATE) AS locked",
                                 user_id),
                     1);
    return locker;
}

static void user_row_unlock(ss_pg_t *locker)
{
    ss_test_pg_exec(locker, "ROLLBACK", 0, NULL);
    ss_pg_destroy(locker);
}

/* GET the request's status; expects 200 and returns "PENDING" or "DONE" (static text). */
static const char *request_status(const char *request_id, ss_test_http_reply_t *reply)
{
    ss_test_http_get(services.http, reply, "/api/v1/requests/%s", request_id);
    json_t *data = ss_test_http_expect(reply, 200, NULL);
    assert_string_equal(ss_test_json_string(data, "requestId"), request_id);
    const char *status = ss_test_json_string(data, "status");
    if (strcmp(status, "PENDING") == 0) {
        assert_true(json_is_null(json_object_get(data, "result")));
        return "PENDING";
    }
    assert_string_equal(status, "DONE");
    return "DONE";
}

static void charge_request(ss_test_http_request_t *request, int64_t user_id, int64_t amount)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"amount\":%" PRId64 "}", amount);
    ss_test_http_request_init(request, "POST", body, "/api/v1/users/%" PRId64 "/balance/charge",
                              user_id);
}

/* Checks a raw 202 and copies its request id out. */
static void accepted_check(const ss_test_http_reply_t *reply, char *request_id, size_t size)
{
    json_t *data = ss_test_http_expect(reply, 202, NULL);
    const char *id = ss_test_json_string(data, "requestId");
    assert_true(id[0] != '\0' && strlen(id) < size);
    char location[300];
    snprintf(location, sizeof(location), "/api/v1/requests/%s", id);
    assert_string_equal(reply->location, location);
    snprintf(request_id, size, "%s", id);
}

static void test_prefer_respond_async_answers_202_and_the_location_turns_done(void **state)
{
    (void)state;
    int64_t user_id = user_new("async");
    ss_test_http_request_t request;
    charge_request(&request, user_id, 100);
    request.headers[0] = "Prefer: respond-async";
    ss_test_http_reply_t reply;
    ss_test_http_send(services.http, &request, &reply);
    char request_id[200];
    accepted_check(&reply, request_id, sizeof(request_id));

    ss_test_http_settle(services.http, &reply, SS_TEST_SERVICES_SETTLE_MS);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_int_equal(ss_test_json_int(data, "userId"), user_id);
    assert_int_equal(ss_test_json_int(data, "amount"), 100);
    ss_test_http_reply_free(&reply);

    /* DONE stays DONE, with the same result, and the charge happened once. */
    assert_string_equal(request_status(request_id, &reply), "DONE");
    json_t *result = json_object_get(json_object_get(reply.json, "data"), "result");
    assert_int_equal(ss_test_json_int(json_object_get(result, "data"), "amount"), 100);
    ss_test_http_reply_free(&reply);
    assert_int_equal(user_scalar(services.pg, "SELECT balance FROM users WHERE id = $1", user_id),
                     100);
    assert_int_equal(user_scalar(services.pg,
                                 "SELECT count(*) FROM balance_history WHERE user_id = $1",
                                 user_id),
                     1);
}

static void test_async_request_is_pending_while_held_back_then_done(void **state)
{
    (void)state;
    int64_t user_id = user_new("pending");
    ss_pg_t *locker = user_row_lock(user_id);
    ss_test_http_request_t request;
    charge_request(&request, user_id, 250);
    request.headers[0] = "Prefer: respond-async";
    ss_test_http_reply_t reply;
    ss_test_http_send(services.http, &request, &reply);
    char request_id[200];
    accepted_check(&reply, request_id, sizeof(request_id));

    ss_test_http_reply_t status;
    for (int check = 0; check < PENDING_CHECKS; check++) {
        assert_string_equal(request_status(request_id, &status), "PENDING");
        ss_test_http_reply_free(&status);
        usleep(PENDING_CHECK_PAUSE_US);
    }
    assert_int_equal(user_scalar(services.pg, "SELECT balance FROM users WHERE id = $1", user_id),
                     0);
    user_row_unlock(locker);

    ss_test_http_settle(services.http, &reply, SS_TEST_SERVICES_SETTLE_MS);
    assert_int_equal(ss_test_json_int(ss_test_http_expect(&reply, 200, NULL), "amount"), 250);
    ss_test_http_reply_free(&reply);
    assert_int_equal(user_scalar(services.pg, "SELECT balance FROM users WHERE id = $1", user_id),
                     250);
}

static void test_mutation_not_done_by_the_deadline_answers_202_then_its_outcome(void **state)
{
    (void)state;
    int64_t user_id = user_new("deadline");
    ss_pg_t *locker = user_row_lock(user_id);
    ss_test_http_request_t request;
    charge_request(&request, user_id, 40);
    ss_test_http_reply_t reply;
    ss_test_http_send(services.http, &request, &reply);
    char request_id[200];
    accepted_check(&reply, request_id, sizeof(request_id));
    ss_test_http_reply_t status;
    assert_string_equal(request_status(request_id, &status), "PENDING");
    ss_test_http_reply_free(&status);
    user_row_unlock(locker);

    ss_test_http_settle(services.http, &reply, SS_TEST_SERVICES_SETTLE_MS);
    assert_int_equal(ss_test_json_int(ss_test_http_expect(&reply, 200, NULL), "amount"), 40);
    ss_test_http_reply_free(&reply);
    assert_int_equal(user_scalar(services.pg,
                                 "SELECT count(*) FROM balance_history WHERE user_id = $1",
                                 user_id),
                     1);
}

static void test_full_pending_ring_is_503_with_retry_after_and_nothing_applied(void **state)
{
    (void)state;
    int64_t user_id = user_new("flood");
    ss_pg_t *locker = user_row_lock(user_id);
    ss_test_http_request_t requests[FLOOD_COUNT];
    ss_test_http_reply_t replies[FLOOD_COUNT];
    for (size_t i = 0; i < FLOOD_COUNT; i++) {
        charge_request(&requests[i], user_id, 1000);
    }
    ss_test_http_many_config_t config = {.in_flight_max = FLOOD_COUNT};
    ss_test_http_send_many(services.http, requests, FLOOD_COUNT, &config, replies, NULL);
    user_row_unlock(locker);

    size_t unavailable = 0, accepted = 0;
    for (size_t i = 0; i < FLOOD_COUNT; i++) {
        if (replies[i].status == 503) {
            ss_test_http_expect(&replies[i], 503, "UNAVAILABLE");
            assert_string_not_equal(replies[i].retry_after, "");
            unavailable++;
        } else {
            ss_test_http_settle(services.http, &replies[i], SS_TEST_SERVICES_SETTLE_MS);
            ss_test_http_expect(&replies[i], 200, NULL);
            accepted++;
        }
        ss_test_http_reply_free(&replies[i]);
    }
    /* The ring held every slot while the row was locked: exactly 16 got in. */
    assert_int_equal(accepted, PENDING_MAX);
    assert_int_equal(unavailable, FLOOD_COUNT - PENDING_MAX);
    assert_int_equal(user_scalar(services.pg, "SELECT balance FROM users WHERE id = $1", user_id),
                     PENDING_MAX * 1000);
    assert_int_equal(user_scalar(services.pg,
                                 "SELECT count(*) FROM balance_history WHERE user_id = $1",
                                 user_id),
                     PENDING_MAX);
}

static void test_unknown_request_is_request_not_found_and_an_overlong_id_invalid(void **state)
{
    (void)state;
    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/requests/2-1-999999999");
    ss_test_http_expect(&reply, 404, "REQUEST_NOT_FOUND");
    ss_test_http_reply_free(&reply);
    ss_test_http_get(services.http, &reply, "/api/v1/requests/no-such-request-%s",
                     ss_test_run_id());
    ss_test_http_expect(&reply, 404, "REQUEST_NOT_FOUND");
    ss_test_http_reply_free(&reply);

    char long_id[130];
    memset(long_id, 'r', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    ss_test_http_get(services.http, &reply, "/api/v1/requests/%s", long_id);
    ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
}

static void test_unknown_route_is_not_found(void **state)
{
    (void)state;
    static const char *const paths[] = {"/api/v1/nothing", "/api/v1/users/1/nothing",
                                        "/api/v2/products", "/api/v1/users/1/balance/charge/x",
                                        "/"};
    ss_test_http_reply_t reply;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        ss_test_http_get(services.http, &reply, "%s", paths[i]);
        ss_test_http_expect(&reply, 404, "NOT_FOUND");
        ss_test_http_reply_free(&reply);
    }
    ss_test_http_post(services.http, &reply, "{}", "/api/v1/nothing");
    ss_test_http_expect(&reply, 404, "NOT_FOUND");
    ss_test_http_reply_free(&reply);
}

/* method on path answers 405 with an Allow header naming allowed. */
static void method_not_allowed(const char *method, const char *path, const char *allowed)
{
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, method, NULL, "%s", path);
    ss_test_http_reply_t reply;
    ss_test_http_send(services.http, &request, &reply);
    ss_test_http_expect(&reply, 405, "METHOD_NOT_ALLOWED");
    if (strstr(reply.allow, allowed) == NULL) {
        fail_msg("%s %s: Allow is \"%s\", expected it to name %s", method, path, reply.allow,
                 allowed);
    }
    ss_test_http_reply_free(&reply);
}

static void test_wrong_method_is_405_with_an_allow_header(void **state)
{
    (void)state;
    method_not_allowed("DELETE", "/api/v1/users/1/balance", "GET");
    method_not_allowed("POST", "/api/v1/users/1/balance", "GET");
    method_not_allowed("GET", "/api/v1/users/1/balance/charge", "POST");
    method_not_allowed("PUT", "/api/v1/users/1/balance/charge", "POST");
    method_not_allowed("POST", "/api/v1/products", "GET");
    method_not_allowed("DELETE", "/api/v1/users/1/coupons", "POST");
    method_not_allowed("POST", "/api/v1/requests/1-2-3", "GET");
    method_not_allowed("GET", "/api/v1/admin/products/1", "PATCH");
}

/*
 * {"amount":1   ...   } of exactly length bytes, padded with JSON whitespace (an unknown field
 * would be refused with 400 before the size matters).
 */
static char *padded_charge(size_t length)
{
    static const char head[] = "{\"amount\":1";
    static const char tail[] = "}";
    assert_true(length > sizeof(head) + sizeof(tail));
    char *body = malloc(length + 1);
    assert_non_null(body);
    memcpy(body, head, sizeof(head) - 1);
    memset(body + sizeof(head) - 1, ' ', length - (sizeof(head) - 1) - (sizeof(tail) - 1));
    memcpy(body + length - (sizeof(tail) - 1), tail, sizeof(tail));
    assert_int_equal(strlen(body), length);
    return body;
}

static void test_body_over_64_kib_is_payload_too_large_and_64_kib_is_served(void **state)
{
    (void)state;
    int64_t user_id = user_new("large");
    ss_test_http_request_t request;
    ss_test_http_reply_t reply;

    char *large = padded_charge(65 * 1024);
    ss_test_http_request_init(&request, "POST", large, "/api/v1/users/%" PRId64 "/balance/charge",
                              user_id);
    ss_test_http_send(services.http, &request, &reply);
    ss_test_http_expect(&reply, 413, "PAYLOAD_TOO_LARGE");
    ss_test_http_reply_free(&reply);

    /* Without Content-Length, the limit is found while the body streams in. */
    ss_test_http_reset_connection(services.http);
    request.headers[0] = "Transfer-Encoding: chunked";
    ss_test_http_send(services.http, &request, &reply);
    ss_test_http_expect(&reply, 413, "PAYLOAD_TOO_LARGE");
    ss_test_http_reply_free(&reply);
    free(large);
    ss_test_http_reset_connection(services.http);

    char *limit = padded_charge(BODY_LIMIT);
    ss_test_http_request_init(&request, "POST", limit, "/api/v1/users/%" PRId64 "/balance/charge",
                              user_id);
    ss_test_services_send(&services, &request, &reply);
    assert_int_equal(ss_test_json_int(ss_test_http_expect(&reply, 200, NULL), "amount"), 1);
    ss_test_http_reply_free(&reply);
    free(limit);
    assert_int_equal(user_scalar(services.pg, "SELECT balance FROM users WHERE id = $1", user_id),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefer_respond_async_answers_202_and_the_location_turns_done),
        cmocka_unit_test(test_async_request_is_pending_while_held_back_then_done),
        cmocka_unit_test(test_mutation_not_done_by_the_deadline_answers_202_then_its_outcome),
        cmocka_unit_test(test_full_pending_ring_is_503_with_retry_after_and_nothing_applied),
        cmocka_unit_test(test_unknown_request_is_request_not_found_and_an_overlong_id_invalid),
        cmocka_unit_test(test_unknown_route_is_not_found),
        cmocka_unit_test(test_wrong_method_is_405_with_an_allow_header),
        cmocka_unit_test(test_body_over_64_kib_is_payload_too_large_and_64_kib_is_served),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}

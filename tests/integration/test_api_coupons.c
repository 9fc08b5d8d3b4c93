/*
 * POST /api/v1/users/{id}/coupons (first-come issuance) and GET /api/v1/users/{id}/coupons
 * (the usable ones) over HTTP, against the real stack: an ss-ingress of this test (instance 2)
 * and two coupon workers. Covers the issued answer and its listing, every refusal
 * (COUPON_ALREADY_ISSUED, COUPON_SOLD_OUT, COUPON_NOT_ISSUABLE before publishing and after
 * cancelling, COUPON_EXPIRED, COUPON_NOT_FOUND, USER_NOT_FOUND, INVALID_REQUEST), that a used
 * or expired coupon leaves the usable list, and an Idempotency-Key retry of an issuance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include "ss/clock.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAR_FUTURE "2099-12-31T23:59:59Z"

static ss_test_services_t services;

static int setup(void **state)
{
    ss_test_services_config_t config = {.instance = 2, .port = 18182};
    config.workers[SS_TEST_SERVICE_COUPON] = 2;
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

/* A coupon named "<what>-<run id>" (the name is written to name_out when given). */
static int64_t coupon_new(const char *what, const char *rate, int64_t quantity,
                          const char *expired_at, const char *status, char *name_out,
                          size_t name_size)
{
    char name[100];
    snprintf(name, sizeof(name), "%s-%s", what, ss_test_run_id());
    if (name_out != NULL) {
        snprintf(name_out, name_size, "%s", name);
    }
    return ss_test_http_coupon_create(services.http, name, rate, quantity, expired_at, status);
}

static int64_t scalar_of(const char *sql, int64_t id)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, id);
    const char *params[] = {text};
    return ss_test_pg_scalar(services.pg, sql, 1, params);
}

/* POST /users/{user}/coupons with body (and key), settled. */
static void issue_body(int64_t user_id, const char *body, const char *idempotency_key,
                       ss_test_http_reply_t *reply)
{
    char header[300];
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, "POST", body, "/api/v1/users/%" PRId64 "/coupons", user_id);
    if (idempotency_key != NULL) {
        snprintf(header, sizeof(header), "Idempotency-Key: %s", idempotency_key);
        request.headers[0] = header;
    }
    ss_test_services_send(&services, &request, reply);
}

static void issue(int64_t user_id, int64_t coupon_id, ss_test_http_reply_t *reply)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"couponId\":%" PRId64 "}", coupon_id);
    issue_body(user_id, body, NULL, reply);
}

/* Issues and expects 200; returns the userCouponId. */
static int64_t issue_ok(int64_t user_id, int64_t coupon_id)
{
    ss_test_http_reply_t reply;
    issue(user_id, coupon_id, &reply);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_int_equal(ss_test_json_int(data, "couponId"), coupon_id);
    int64_t user_coupon_id = ss_test_json_int(data, "userCouponId");
    assert_true(user_coupon_id > 0);
    int64_t issued_ms = 0;
    char errstr[128];
    assert_int_equal(ss_clock_parse_iso8601(ss_test_json_string(data, "issuedAt"), &issued_ms,
                                            errstr, sizeof(errstr)),
                     SS_OK);
    ss_test_http_reply_free(&reply);
    return user_coupon_id;
}

static void issue_refused(int64_t user_id, int64_t coupon_id, long status, const char *error)
{
    ss_test_http_reply_t reply;
    issue(user_id, coupon_id, &reply);
    ss_test_http_expect(&reply, status, error);
    ss_test_http_reply_free(&reply);
}

/* GET the usable coupons; returns the array (the reply keeps it alive). */
static json_t *usable(int64_t user_id, ss_test_http_reply_t *reply)
{
    ss_test_http_get(services.http, reply, "/api/v1/users/%" PRId64 "/coupons", user_id);
    json_t *coupons = json_object_get(ss_test_http_expect(reply, 200, NULL), "coupons");
    assert_true(json_is_array(coupons));
    return coupons;
}

/* PATCH /admin/coupons/{id} {"status":...}, settled; expects 200 and returns nothing. */
static void coupon_status_set(int64_t coupon_id, const char *status)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, "PATCH", body, "/api/v1/admin/coupons/%" PRId64, coupon_id);
    request.headers[0] = ss_test_http_admin_header(services.http);
    ss_test_http_reply_t reply;
    ss_test_services_send(&services, &request, &reply);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_int_equal(ss_test_json_int(data, "id"), coupon_id);
    assert_string_equal(ss_test_json_string(data, "status"), status);
    ss_test_http_reply_free(&reply);
}

static void test_issued_coupon_is_answered_and_listed_as_usable(void **state)
{
    (void)state;
    int64_t user_id = user_new("coupon-owner");
    char name[100];
    int64_t coupon_id = coupon_new("fifteen", "0.15", 10, FAR_FUTURE, NULL, name, sizeof(name));
    int64_t user_coupon_id = issue_ok(user_id, coupon_id);

    ss_test_http_reply_t reply;
    json_t *coupons = usable(user_id, &reply);
    assert_int_equal(json_array_size(coupons), 1);
    json_t *coupon = json_array_get(coupons, 0);
    assert_int_equal(ss_test_json_int(coupon, "id"), coupon_id);
    assert_int_equal(ss_test_json_int(coupon, "userCouponId"), user_coupon_id);
    assert_string_equal(ss_test_json_string(coupon, "name"), name);
    json_t *rate = json_object_get(coupon, "discountRate");
    assert_true(json_is_number(rate));
    assert_true(fabs(json_number_value(rate) - 0.15) < 1e-9);
    assert_string_equal(ss_test_json_string(coupon, "expiredAt"), FAR_FUTURE);
    ss_test_http_reply_free(&reply);

    assert_int_equal(scalar_of("SELECT issued_count FROM coupons WHERE id = $1", coupon_id), 1);
    assert_int_equal(scalar_of("SELECT count(*) FROM user_coupons WHERE coupon_id = $1"
                               " AND status = 'UNUSED'",
                               coupon_id),
                     1);
}

static void test_second_issuance_to_the_same_user_is_already_issued(void **state)
{
    (void)state;
    int64_t user_id = user_new("twice");
    int64_t coupon_id = coupon_new("twice", "0.1", 10, FAR_FUTURE, NULL, NULL, 0);
    issue_ok(user_id, coupon_id);
    issue_refused(user_id, coupon_id, 409, "COUPON_ALREADY_ISSUED");
    assert_int_equal(scalar_of("SELECT issued_count FROM coupons WHERE id = $1", coupon_id), 1);
    ss_test_http_reply_t reply;
    assert_int_equal(json_array_size(usable(user_id, &reply)), 1);
    ss_test_http_reply_free(&reply);
}

static void test_coupon_runs_out_at_its_quantity_with_coupon_sold_out(void **state)
{
    (void)state;
    int64_t coupon_id = coupon_new("two-only", "0.5", 2, FAR_FUTURE, NULL, NULL, 0);
    int64_t first = user_new("sold-1"), second = user_new("sold-2"), third = user_new("sold-3");
    int64_t first_issue = issue_ok(first, coupon_id);
    int64_t second_issue = issue_ok(second, coupon_id);
    assert_int_not_equal(first_issue, second_issue);
    issue_refused(third, coupon_id, 409, "COUPON_SOLD_OUT");
    /* A holder asking again is told it has one, not that they ran out. */
    issue_refused(first, coupon_id, 409, "COUPON_ALREADY_ISSUED");
    assert_int_equal(scalar_of("SELECT issued_count FROM coupons WHERE id = $1", coupon_id), 2);
    assert_int_equal(scalar_of("SELECT count(*) FROM user_coupons WHERE coupon_id = $1", coupon_id),
                     2);

    int64_t none = coupon_new("zero", "0.5", 0, FAR_FUTURE, NULL, NULL, 0);
    issue_refused(third, none, 409, "COUPON_SOLD_OUT");
}

static void test_coupon_is_issuable_only_while_publishable(void **state)
{
    (void)state;
    int64_t coupon_id = coupon_new("registered", "0.2", 5, FAR_FUTURE, "REGISTERED", NULL, 0);
    int64_t early = user_new("early"), late = user_new("late");
    issue_refused(early, coupon_id, 409, "COUPON_NOT_ISSUABLE");
    coupon_status_set(coupon_id, "PUBLISHABLE");
    issue_ok(early, coupon_id);
    coupon_status_set(coupon_id, "CANCELED");
    issue_refused(late, coupon_id, 409, "COUPON_NOT_ISSUABLE");
    assert_int_equal(scalar_of("SELECT issued_count FROM coupons WHERE id = $1", coupon_id), 1);
}

static void test_expired_coupon_is_refused_with_coupon_expired(void **state)
{
    (void)state;
    int64_t coupon_id = coupon_new("expired", "0.3", 5, "2020-01-01T00:00:00Z", NULL, NULL, 0);
    int64_t user_id = user_new("too-late");
    issue_refused(user_id, coupon_id, 409, "COUPON_EXPIRED");
    assert_int_equal(scalar_of("SELECT issued_count FROM coupons WHERE id = $1", coupon_id), 0);
}

static void test_unknown_coupon_or_user_is_not_found(void **state)
{
    (void)state;
    int64_t user_id = user_new("unknown-coupon");
    int64_t unknown_coupon = ss_test_pg_scalar(
        services.pg, "SELECT coalesce(max(id), 0) + 1000000 FROM coupons", 0, NULL);
    issue_refused(user_id, unknown_coupon, 404, "COUPON_NOT_FOUND");

    int64_t coupon_id = coupon_new("unknown-user", "0.1", 5, FAR_FUTURE, NULL, NULL, 0);
    int64_t unknown_user =
        ss_test_pg_scalar(services.pg, "SELECT coalesce(max(id), 0) + 1000000 FROM users", 0, NULL);
    issue_refused(unknown_user, coupon_id, 404, "USER_NOT_FOUND");
    /* No foreign key refuses a missing user's row (migration 015): the coupon worker must. */
    assert_int_equal(
        scalar_of("SELECT count(*) FROM user_coupons WHERE user_id = $1", unknown_user), 0);
    assert_int_equal(scalar_of("SELECT issued_count FROM coupons WHERE id = $1", coupon_id), 0);

    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/users/%" PRId64 "/coupons", unknown_user);
    ss_test_http_expect(&reply, 404, "USER_NOT_FOUND");
    ss_test_http_reply_free(&reply);
}

static void test_issuance_with_a_bad_body_or_path_is_invalid(void **state)
{
    (void)state;
    int64_t user_id = user_new("bad-issue");
    static const char *const bodies[] = {
        "{}",
        "{\"couponId\":0}",
        "{\"couponId\":-4}",
        "{\"couponId\":\"7\"}",
        "{\"couponId\":1.5}",
        "{\"couponId\":null}",
        "{\"couponId\":7",
        "[7]",
        "",
    };
    ss_test_http_reply_t reply;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        issue_body(user_id, bodies[i], NULL, &reply);
        ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
        ss_test_http_reply_free(&reply);
    }
    ss_test_http_post(services.http, &reply, "{\"couponId\":1}", "/api/v1/users/abc/coupons");
    ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
    ss_test_http_get(services.http, &reply, "/api/v1/users/0/coupons");
    ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
    assert_int_equal(scalar_of("SELECT count(*) FROM user_coupons WHERE user_id = $1", user_id), 0);
}

static void test_usable_coupons_leave_out_used_and_expired_ones(void **state)
{
    (void)state;
    int64_t user_id = user_new("usable");
    ss_test_http_reply_t reply;
    assert_int_equal(json_array_size(usable(user_id, &reply)), 0);
    ss_test_http_reply_free(&reply);

    int64_t kept = coupon_new("kept", "0.1", 5, FAR_FUTURE, NULL, NULL, 0);
    int64_t used = coupon_new("used", "0.2", 5, FAR_FUTURE, NULL, NULL, 0);
    int64_t expiring = coupon_new("expiring", "0.3", 5, FAR_FUTURE, NULL, NULL, 0);
    int64_t kept_issue = issue_ok(user_id, kept);
    int64_t used_issue = issue_ok(user_id, used);
    issue_ok(user_id, expiring);
    assert_int_equal(json_array_size(usable(user_id, &reply)), 3);
    ss_test_http_reply_free(&reply);

    /* Orders are not part of this API yet: use the coupon and expire the other in place. */
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, used_issue);
    const char *used_params[] = {text};
    ss_test_pg_exec(services.pg,
                    "UPDATE user_coupons SET status = 'USED', used_at = now() WHERE id = $1", 1,
                    used_params);
    snprintf(text, sizeof(text), "%" PRId64, expiring);
    const char *expiring_params[] = {text};
    ss_test_pg_exec(services.pg,
                    "UPDATE coupons SET expired_at = now() - interval '1 second' WHERE id = $1", 1,
                    expiring_params);

    json_t *coupons = usable(user_id, &reply);
    assert_int_equal(json_array_size(coupons), 1);
    assert_int_equal(ss_test_json_int(json_array_get(coupons, 0), "id"), kept);
    assert_int_equal(ss_test_json_int(json_array_get(coupons, 0), "userCouponId"), kept_issue);
    ss_test_http_reply_free(&reply);
}

static void test_retried_idempotency_key_returns_the_first_issuance(void **state)
{
    (void)state;
    int64_t user_id = user_new("idem-coupon");
    int64_t coupon_id = coupon_new("idem", "0.1", 5, FAR_FUTURE, NULL, NULL, 0);
    int64_t other_coupon = coupon_new("idem-other", "0.1", 5, FAR_FUTURE, NULL, NULL, 0);
    char key[128], body[64], other_body[64];
    snprintf(key, sizeof(key), "coupon-%s", ss_test_run_id());
    snprintf(body, sizeof(body), "{\"couponId\":%" PRId64 "}", coupon_id);
    snprintf(other_body, sizeof(other_body), "{\"couponId\":%" PRId64 "}", other_coupon);

    ss_test_http_reply_t first, retry, other;
    issue_body(user_id, body, key, &first);
    ss_test_http_expect(&first, 200, NULL);
    issue_body(user_id, body, key, &retry);
    ss_test_http_expect(&retry, 200, NULL);
    assert_true(json_equal(first.json, retry.json));
    issue_body(user_id, other_body, key, &other);
    ss_test_http_expect(&other, 409, "IDEMPOTENCY_KEY_REUSED");

    assert_int_equal(scalar_of("SELECT issued_count FROM coupons WHERE id = $1", coupon_id), 1);
    assert_int_equal(scalar_of("SELECT issued_count FROM coupons WHERE id = $1", other_coupon), 0);
    assert_int_equal(scalar_of("SELECT count(*) FROM user_coupons WHERE user_id = $1", user_id), 1);
    ss_test_http_reply_free(&first);
    ss_test_http_reply_free(&retry);
    ss_test_http_reply_free(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_issued_coupon_is_answered_and_listed_as_usable),
        cmocka_unit_test(test_second_issuance_to_the_same_user_is_already_issued),
        cmocka_unit_test(test_coupon_runs_out_at_its_quantity_with_coupon_sold_out),
        cmocka_unit_test(test_coupon_is_issuable_only_while_publishable),
        cmocka_unit_test(test_expired_coupon_is_refused_with_coupon_expired),
        cmocka_unit_test(test_unknown_coupon_or_user_is_not_found),
        cmocka_unit_test(test_issuance_with_a_bad_body_or_path_is_invalid),
        cmocka_unit_test(test_usable_coupons_leave_out_used_and_expired_ones),
        cmocka_unit_test(test_retried_idempotency_key_returns_the_first_issuance),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}

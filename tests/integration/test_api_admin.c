/*
 * The admin endpoints over HTTP, against the real stack (an ss-ingress of this test,
 * instance 1, and two stock and two coupon workers for the PATCHes): 401 without a bearer
 * token and 403 with a wrong one on every endpoint, with nothing created; users, products and
 * coupons created with their fields and defaults (read back from PostgreSQL); every
 * INVALID_REQUEST of their bodies; PATCH of a coupon's status answered with the coupon, and
 * COUPON_NOT_FOUND / PRODUCT_NOT_FOUND for unknown ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAR_FUTURE "2099-12-31T23:59:59Z"
#define ENDPOINTS 5

static ss_test_services_t services;

static int setup(void **state)
{
    ss_test_services_config_t config = {.instance = 1, .port = 18184};
    config.workers[SS_TEST_SERVICE_STOCK] = 2;
    config.workers[SS_TEST_SERVICE_COUPON] = 2;
    ss_test_services_start(&services, &config);
    *state = &services;
    return 0;
}

/* A scalar of sql with one text parameter. */
static int64_t scalar_text(const char *sql, const char *param)
{
    const char *params[] = {param};
    return ss_test_pg_scalar(services.pg, sql, 1, params);
}

static int64_t scalar_id(const char *sql, int64_t id)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, id);
    return scalar_text(sql, text);
}

/* The text of the first column of the first row of sql ($1 = id), copied into out. */
static void text_of(const char *sql, int64_t id, char *out, size_t out_size)
{
    char text[24], errstr[256];
    snprintf(text, sizeof(text), "%" PRId64, id);
    const char *params[] = {text};
    PGresult *rows = NULL;
    if (ss_pg_query(services.pg, NULL, sql, 1, params, &rows, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("query failed: %s: %s", sql, errstr);
    }
    assert_int_equal(PQntuples(rows), 1);
    snprintf(out, out_size, "%s", PQgetvalue(rows, 0, 0));
    PQclear(rows);
}

/* method path body, with the given Authorization header line (NULL: none), settled. */
static void admin_call(const char *method, const char *path, const char *body,
                       const char *authorization, ss_test_http_reply_t *reply)
{
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, method, body, "%s", path);
    request.headers[0] = authorization;
    ss_test_services_send(&services, &request, reply);
}

static void admin_expect(const char *method, const char *path, const char *body, long status,
                         const char *error)
{
    ss_test_http_reply_t reply;
    admin_call(method, path, body, ss_test_http_admin_header(services.http), &reply);
    if (reply.status != status) {
        print_message("%s %s %s\n", method, path, body != NULL ? body : "");
    }
    ss_test_http_expect(&reply, status, error);
    ss_test_http_reply_free(&reply);
}

/* As admin_expect, with 400 INVALID_REQUEST whose message holds message. */
static void admin_expect_invalid(const char *method, const char *path, const char *body,
                                 const char *message)
{
    ss_test_http_reply_t reply;
    admin_call(method, path, body, ss_test_http_admin_header(services.http), &reply);
    if (reply.status != 400 || reply.body == NULL || strstr(reply.body, message) == NULL) {
        print_message("%s %s %s -> %ld %s\n", method, path, body, reply.status,
                      reply.body != NULL ? reply.body : "");
    }
    ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
    assert_non_null(reply.body);
    assert_non_null(strstr(reply.body, message));
    ss_test_http_reply_free(&reply);
}

typedef struct endpoint {
    const char *method;
    const char *path;
    char body[300];
} endpoint_t;

/* Every admin endpoint with a valid body whose names carry marker. */
static void endpoints_fill(endpoint_t *endpoints, const char *marker)
{
    endpoints[0] = (endpoint_t){"POST", "/api/v1/admin/users", ""};
    snprintf(endpoints[0].body, sizeof(endpoints[0].body), "{\"nickname\":\"%s\"}", marker);
    endpoints[1] = (endpoint_t){"POST", "/api/v1/admin/products", ""};
    snprintf(endpoints[1].body, sizeof(endpoints[1].body),
             "{\"name\":\"%s\",\"price\":100,\"stock\":1}", marker);
    endpoints[2] = (endpoint_t){"PATCH", "/api/v1/admin/products/1", "{\"stockDelta\":1}"};
    endpoints[3] = (endpoint_t){"POST", "/api/v1/admin/coupons", ""};
    snprintf(endpoints[3].body, sizeof(endpoints[3].body),
             "{\"name\":\"%s\",\"discountRate\":0.1,\"quantity\":1,\"expiredAt\":\"%s\"}", marker,
             FAR_FUTURE);
    endpoints[4] = (endpoint_t){"PATCH", "/api/v1/admin/coupons/1", "{\"status\":\"CANCELED\"}"};
}

static void nothing_created_with(const char *marker)
{
    assert_int_equal(scalar_text("SELECT count(*) FROM users WHERE nickname = $1", marker), 0);
    assert_int_equal(scalar_text("SELECT count(*) FROM products WHERE name = $1", marker), 0);
    assert_int_equal(scalar_text("SELECT count(*) FROM coupons WHERE name = $1", marker), 0);
}

static void test_admin_endpoints_without_a_bearer_token_are_unauthorized(void **state)
{
    (void)state;
    char marker[100];
    snprintf(marker, sizeof(marker), "unauthorized-%s", ss_test_run_id());
    endpoint_t endpoints[ENDPOINTS];
    endpoints_fill(endpoints, marker);
    static const char *const headers[] = {
        NULL, "Authorization: Basic YWRtaW46YWRtaW4=", "Authorization: Token abc"};
    for (size_t e = 0; e < ENDPOINTS; e++) {
        for (size_t h = 0; h < sizeof(headers) / sizeof(headers[0]); h++) {
            ss_test_http_reply_t reply;
            admin_call(endpoints[e].method, endpoints[e].path, endpoints[e].body, headers[h],
                       &reply);
            ss_test_http_expect(&reply, 401, "UNAUTHORIZED");
            ss_test_http_reply_free(&reply);
        }
    }
    nothing_created_with(marker);
}

static void test_admin_endpoints_with_a_wrong_token_are_forbidden(void **state)
{
    (void)state;
    char marker[100];
    snprintf(marker, sizeof(marker), "forbidden-%s", ss_test_run_id());
    endpoint_t endpoints[ENDPOINTS];
    endpoints_fill(endpoints, marker);
    const char *token = services.admin_token;
    size_t token_length = strlen(token);
    char shorter[200], longer[200], changed[200];
    snprintf(shorter, sizeof(shorter), "Authorization: Bearer %.*s", (int)(token_length - 1),
             token);
    snprintf(longer, sizeof(longer), "Authorization: Bearer %sx", token);
    snprintf(changed, sizeof(changed), "Authorization: Bearer %s", token);
    char *last = changed + strlen(changed) - 1;
    *last = *last == 'A' ? 'B' : 'A';
    const char *const headers[] = {shorter, longer, changed,
                                   "Authorization: Bearer not-the-admin-token-at-all"};
    for (size_t e = 0; e < ENDPOINTS; e++) {
        for (size_t h = 0; h < sizeof(headers) / sizeof(headers[0]); h++) {
            ss_test_http_reply_t reply;
            admin_call(endpoints[e].method, endpoints[e].path, endpoints[e].body, headers[h],
                       &reply);
            ss_test_http_expect(&reply, 403, "FORBIDDEN");
            ss_test_http_reply_free(&reply);
        }
    }
    nothing_created_with(marker);
}

static void test_created_user_has_its_nickname_and_a_zero_balance(void **state)
{
    (void)state;
    char nickname[100];
    snprintf(nickname, sizeof(nickname), "admin-user-%s", ss_test_run_id());
    int64_t user_id = ss_test_http_user_create(services.http, nickname);
    char stored[128];
    text_of("SELECT nickname FROM users WHERE id = $1", user_id, stored, sizeof(stored));
    assert_string_equal(stored, nickname);
    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/users/%" PRId64 "/balance", user_id);
    assert_int_equal(ss_test_json_int(ss_test_http_expect(&reply, 200, NULL), "amount"), 0);
    ss_test_http_reply_free(&reply);
}

static void test_user_with_a_bad_nickname_is_invalid(void **state)
{
    (void)state;
    char too_long[160];
    char name[102];
    memset(name, 'n', 101);
    name[101] = '\0';
    snprintf(too_long, sizeof(too_long), "{\"nickname\":\"%s\"}", name);
    const char *const bodies[] = {"{}",
                                  "{\"nickname\":\"\"}",
                                  too_long,
                                  "{\"nickname\":123}",
                                  "{\"nickname\":null}",
                                  "{\"nickname\":",
                                  "[]"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        admin_expect("POST", "/api/v1/admin/users", bodies[i], 400, "INVALID_REQUEST");
    }
}

static void test_created_product_has_its_fields_and_defaults_to_selling(void **state)
{
    (void)state;
    char name[100], stored[128];
    snprintf(name, sizeof(name), "admin-product-%s", ss_test_run_id());
    int64_t selling = ss_test_http_product_create(services.http, name, 4321, 17, NULL);
    text_of("SELECT name FROM products WHERE id = $1", selling, stored, sizeof(stored));
    assert_string_equal(stored, name);
    assert_int_equal(scalar_id("SELECT price FROM products WHERE id = $1", selling), 4321);
    assert_int_equal(scalar_id("SELECT stock FROM products WHERE id = $1", selling), 17);
    text_of("SELECT sell_status FROM products WHERE id = $1", selling, stored, sizeof(stored));
    assert_string_equal(stored, "SELLING");

    int64_t held = ss_test_http_product_create(services.http, name, 0, 0, "HOLD");
    text_of("SELECT sell_status FROM products WHERE id = $1", held, stored, sizeof(stored));
    assert_string_equal(stored, "HOLD");
    int64_t stopped = ss_test_http_product_create(services.http, name, 1, 1, "STOP_SELLING");
    text_of("SELECT sell_status FROM products WHERE id = $1", stopped, stored, sizeof(stored));
    assert_string_equal(stored, "STOP_SELLING");
}

static void test_product_with_bad_fields_is_invalid(void **state)
{
    (void)state;
    const char *const bodies[] = {
        "{\"price\":1,\"stock\":1}",
        "{\"name\":\"\",\"price\":1,\"stock\":1}",
        "{\"name\":\"p\",\"stock\":1}",
        "{\"name\":\"p\",\"price\":-1,\"stock\":1}",
        "{\"name\":\"p\",\"price\":\"10\",\"stock\":1}",
        "{\"name\":\"p\",\"price\":1.5,\"stock\":1}",
        "{\"name\":\"p\",\"price\":1}",
        "{\"name\":\"p\",\"price\":1,\"stock\":-1}",
        "{\"name\":\"p\",\"price\":1,\"stock\":1,\"sellStatus\":\"SOLD\"}",
        "{\"name\":\"p\",\"price\":1,\"stock\":1,\"sellStatus\":1}",
        "{\"name\":7,\"price\":1,\"stock\":1}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        admin_expect("POST", "/api/v1/admin/products", bodies[i], 400, "INVALID_REQUEST");
    }
}

static void test_product_patch_with_a_bad_body_or_path_is_invalid(void **state)
{
    (void)state;
    char name[100], path[96];
    snprintf(name, sizeof(name), "admin-patch-%s", ss_test_run_id());
    int64_t product_id = ss_test_http_product_create(services.http, name, 10, 10, NULL);
    snprintf(path, sizeof(path), "/api/v1/admin/products/%" PRId64, product_id);
    const char *const bodies[] = {"{}",
                                  "{\"stockDelta\":\"1\"}",
                                  "{\"stockDelta\":1.5}",
                                  "{\"sellStatus\":\"GONE\"}",
                                  "{\"sellStatus\":2}",
                                  "[1]",
                                  "{\"stockDelta\":"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        admin_expect("PATCH", path, bodies[i], 400, "INVALID_REQUEST");
    }
    admin_expect("PATCH", "/api/v1/admin/products/abc", "{\"stockDelta\":1}", 400,
                 "INVALID_REQUEST");
    admin_expect("PATCH", "/api/v1/admin/products/0", "{\"stockDelta\":1}", 400, "INVALID_REQUEST");
    assert_int_equal(scalar_id("SELECT stock FROM products WHERE id = $1", product_id), 10);
}

/*
 * What the fuzzer found the document did not say (issue 10, point 13): null for an optional
 * field was taken for the default, an unknown field was ignored (a misspelt one silently), and
 * a \u0000 was refused as "malformed JSON" naming a jansson flag. Each is a 400 naming the field.
 */
static void test_null_unknown_fields_and_nul_are_refused_naming_the_field(void **state)
{
    (void)state;
    char path[96];
    int64_t product_id = ss_test_http_product_create(services.http, "null-checks", 1, 1, NULL);
    snprintf(path, sizeof(path), "/api/v1/admin/products/%" PRId64, product_id);
    admin_expect_invalid("POST", "/api/v1/admin/products",
                         "{\"name\":\"p\",\"price\":1,\"stock\":1,\"sellStatus\":null}",
                         "sellStatus must be one of HOLD, SELLING, STOP_SELLING, got null");
    admin_expect_invalid("POST", "/api/v1/admin/coupons",
                         "{\"name\":\"c\",\"discountRate\":0.1,\"quantity\":1,"
                         "\"expiredAt\":\"2099-01-01T00:00:00Z\",\"status\":null}",
                         "status must be one of REGISTERED, PUBLISHABLE, CANCELED, got null");
    admin_expect_invalid("PATCH", path, "{\"stockDelta\":null}", "stockDelta must be an integer");
    admin_expect_invalid("PATCH", path, "{\"sellStatus\":\"HOLD\",\"stockdelta\":5}",
                         "stockdelta is not a known field");
    admin_expect_invalid("POST", "/api/v1/admin/users", "{\"nickname\":\"a\",\"nickName\":\"b\"}",
                         "nickName is not a known field");
    admin_expect_invalid("POST", "/api/v1/admin/users", "{\"nickname\":\"a\\u0000b\"}",
                         "nickname must not contain NUL characters");
    admin_expect_invalid("POST", "/api/v1/admin/products",
                         "{\"name\":\"\\u0000\",\"price\":1,\"stock\":1}",
                         "name must not contain NUL characters");
    admin_expect_invalid("PATCH", "/api/v1/admin/coupons/1", "{\"status\":\"CANCELED\",\"x\":1}",
                         "x is not a known field");
    /* Nothing of the refused PATCHes reached the product. */
    assert_int_equal(scalar_id("SELECT stock FROM products WHERE id = $1", product_id), 1);
}

static void test_created_coupon_has_its_fields_and_defaults_to_publishable(void **state)
{
    (void)state;
    char name[100], stored[128];
    snprintf(name, sizeof(name), "admin-coupon-%s", ss_test_run_id());
    int64_t coupon_id =
        ss_test_http_coupon_create(services.http, name, "0.25", 7, "2031-05-06T07:08:09Z", NULL);
    text_of("SELECT name FROM coupons WHERE id = $1", coupon_id, stored, sizeof(stored));
    assert_string_equal(stored, name);
    text_of("SELECT discount_rate::text FROM coupons WHERE id = $1", coupon_id, stored,
            sizeof(stored));
    assert_string_equal(stored, "0.2500");
    assert_int_equal(scalar_id("SELECT quantity FROM coupons WHERE id = $1", coupon_id), 7);
    assert_int_equal(scalar_id("SELECT issued_count FROM coupons WHERE id = $1", coupon_id), 0);
    text_of("SELECT status FROM coupons WHERE id = $1", coupon_id, stored, sizeof(stored));
    assert_string_equal(stored, "PUBLISHABLE");
    text_of("SELECT to_char(expired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
            " FROM coupons WHERE id = $1",
            coupon_id, stored, sizeof(stored));
    assert_string_equal(stored, "2031-05-06T07:08:09Z");

    int64_t whole =
        ss_test_http_coupon_create(services.http, name, "1", 1, FAR_FUTURE, "REGISTERED");
    text_of("SELECT discount_rate::text FROM coupons WHERE id = $1", whole, stored, sizeof(stored));
    assert_string_equal(stored, "1.0000");
    text_of("SELECT status FROM coupons WHERE id = $1", whole, stored, sizeof(stored));
    assert_string_equal(stored, "REGISTERED");
}

static void test_coupon_with_bad_fields_is_invalid(void **state)
{
    (void)state;
    const char *const bodies[] = {
        "{\"discountRate\":0.1,\"quantity\":1,\"expiredAt\":\"" FAR_FUTURE "\"}",
        "{\"name\":\"c\",\"discountRate\":0,\"quantity\":1,\"expiredAt\":\"" FAR_FUTURE "\"}",
        "{\"name\":\"c\",\"discountRate\":1.5,\"quantity\":1,\"expiredAt\":\"" FAR_FUTURE "\"}",
        "{\"name\":\"c\",\"discountRate\":-0.1,\"quantity\":1,\"expiredAt\":\"" FAR_FUTURE "\"}",
        "{\"name\":\"c\",\"discountRate\":\"0.1\",\"quantity\":1,\"expiredAt\":\"" FAR_FUTURE "\"}",
        "{\"name\":\"c\",\"quantity\":1,\"expiredAt\":\"" FAR_FUTURE "\"}",
        "{\"name\":\"c\",\"discountRate\":0.1,\"quantity\":-1,\"expiredAt\":\"" FAR_FUTURE "\"}",
        "{\"name\":\"c\",\"discountRate\":0.1,\"quantity\":\"5\",\"expiredAt\":\"" FAR_FUTURE "\"}",
        "{\"name\":\"c\",\"discountRate\":0.1,\"quantity\":1,\"expiredAt\":\"tomorrow\"}",
        "{\"name\":\"c\",\"discountRate\":0.1,\"quantity\":1,\"expiredAt\":\"2030-13-01T00:00:"
        "00Z\"}",
        "{\"name\":\"c\",\"discountRate\":0.1,\"quantity\":1,\"expiredAt\":1893456000}",
        "{\"name\":\"c\",\"discountRate\":0.1,\"quantity\":1}",
        "{\"name\":\"c\",\"discountRate\":0.1,\"quantity\":1,\"expiredAt\":\"" FAR_FUTURE
        "\",\"status\":\"ACTIVE\"}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        admin_expect("POST", "/api/v1/admin/coupons", bodies[i], 400, "INVALID_REQUEST");
    }
}

static void test_coupon_status_patch_answers_the_coupon_and_refuses_bad_input(void **state)
{
    (void)state;
    char name[100], path[96], stored[64];
    snprintf(name, sizeof(name), "admin-status-%s", ss_test_run_id());
    int64_t coupon_id = ss_test_http_coupon_create(services.http, name, "0.3", 4, FAR_FUTURE, NULL);
    snprintf(path, sizeof(path), "/api/v1/admin/coupons/%" PRId64, coupon_id);

    ss_test_http_reply_t reply;
    admin_call("PATCH", path, "{\"status\":\"CANCELED\"}", ss_test_http_admin_header(services.http),
               &reply);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_int_equal(ss_test_json_int(data, "id"), coupon_id);
    assert_string_equal(ss_test_json_string(data, "name"), name);
    assert_string_equal(ss_test_json_string(data, "status"), "CANCELED");
    assert_int_equal(ss_test_json_int(data, "quantity"), 4);
    assert_int_equal(ss_test_json_int(data, "issuedCount"), 0);
    assert_string_equal(ss_test_json_string(data, "expiredAt"), FAR_FUTURE);
    assert_true(fabs(json_number_value(json_object_get(data, "discountRate")) - 0.3) < 1e-9);
    ss_test_http_reply_free(&reply);
    text_of("SELECT status FROM coupons WHERE id = $1", coupon_id, stored, sizeof(stored));
    assert_string_equal(stored, "CANCELED");

    admin_expect("PATCH", path, "{}", 400, "INVALID_REQUEST");
    admin_expect("PATCH", path, "{\"status\":\"ACTIVE\"}", 400, "INVALID_REQUEST");
    admin_expect("PATCH", path, "{\"status\":3}", 400, "INVALID_REQUEST");
    admin_expect("PATCH", "/api/v1/admin/coupons/abc", "{\"status\":\"CANCELED\"}", 400,
                 "INVALID_REQUEST");
    int64_t unknown = ss_test_pg_scalar(
        services.pg, "SELECT coalesce(max(id), 0) + 1000000 FROM coupons", 0, NULL);
    snprintf(path, sizeof(path), "/api/v1/admin/coupons/%" PRId64, unknown);
    admin_expect("PATCH", path, "{\"status\":\"CANCELED\"}", 404, "COUPON_NOT_FOUND");
    int64_t unknown_product = ss_test_pg_scalar(
        services.pg, "SELECT coalesce(max(id), 0) + 1000000 FROM products", 0, NULL);
    snprintf(path, sizeof(path), "/api/v1/admin/products/%" PRId64, unknown_product);
    admin_expect("PATCH", path, "{\"sellStatus\":\"HOLD\"}", 404, "PRODUCT_NOT_FOUND");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admin_endpoints_without_a_bearer_token_are_unauthorized),
        cmocka_unit_test(test_admin_endpoints_with_a_wrong_token_are_forbidden),
        cmocka_unit_test(test_created_user_has_its_nickname_and_a_zero_balance),
        cmocka_unit_test(test_user_with_a_bad_nickname_is_invalid),
        cmocka_unit_test(test_created_product_has_its_fields_and_defaults_to_selling),
        cmocka_unit_test(test_product_with_bad_fields_is_invalid),
        cmocka_unit_test(test_product_patch_with_a_bad_body_or_path_is_invalid),
        cmocka_unit_test(test_null_unknown_fields_and_nul_are_refused_naming_the_field),
        cmocka_unit_test(test_created_coupon_has_its_fields_and_defaults_to_publishable),
        cmocka_unit_test(test_coupon_with_bad_fields_is_invalid),
        cmocka_unit_test(test_coupon_status_patch_answers_the_coupon_and_refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}

/*
 * Unit tests of the ingress's request validation (producers/ingress, library ss_ingress_core):
 * every endpoint that takes a body refuses a field its OpenAPI schema does not list, null for a
 * field that is not nullable, and a NUL in a text, with 400 INVALID_REQUEST naming the field;
 * and the products cursor is exactly the document's ^[0-9]{1,18}$. These are the disagreements
 * schemathesis found between docs/openapi.json and the server (issue 10, point 13).
 *
 * Requests are made with ss_http_request_create() and dispatched to the ingress's own route
 * table without a socket. The ingress is created against addresses where nothing listens
 * (ss_ingress_create() contacts no server): each request here is refused before any I/O, so an
 * answer other than 400 would be a 503 and fail the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ingress.h"

#include "ss/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_ADMIN_TOKEN "unit-admin-token-0123456789"

typedef struct fixture {
    ss_ingress_config_t config;
    ss_config_option_t options[SS_INGRESS_CONFIG_OPTION_COUNT];
    ss_ingress_t *ingress;
    ss_http_router_t *router;
} fixture_t;

static int setup(void **state)
{
    ss_log_level_set(SS_LOG_LEVEL_OFF);
    fixture_t *fixture = calloc(1, sizeof(*fixture));
    assert_non_null(fixture);
    ss_ingress_config_options(fixture->options, &fixture->config);
    char *argv[] = {"test",
                    "--admin-token=" TEST_ADMIN_TOKEN,
                    "--kafka-bootstrap=127.0.0.1:9",
                    "--pg-dsn=postgresql://nobody@127.0.0.1:9/nothing",
                    "--redis-url=redis://127.0.0.1:9/0",
                    NULL};
    char errstr[512];
    assert_int_equal(ss_config_load(fixture->options, SS_INGRESS_CONFIG_OPTION_COUNT, 5, argv,
                                    errstr, sizeof(errstr)),
                     SS_OK);
    if (ss_ingress_create(&fixture->config, &fixture->ingress, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("ss_ingress_create: %s", errstr);
    }
    ss_http_route_t routes[SS_HTTP_ROUTES_MAX];
    size_t count = ss_ingress_routes(routes, SS_HTTP_ROUTES_MAX);
    assert_int_equal(ss_http_router_create(routes, count, fixture->ingress, &fixture->router,
                                           errstr, sizeof(errstr)),
                     SS_OK);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *fixture = *state;
    ss_http_router_destroy(fixture->router);
    ss_ingress_destroy(fixture->ingress);
    ss_config_free(fixture->options, SS_INGRESS_CONFIG_OPTION_COUNT);
    free(fixture);
    return 0;
}

/* Dispatches method target body (as admin) and expects 400 INVALID_REQUEST holding message. */
static void expect_invalid(const fixture_t *fixture, const char *method, const char *target,
                           const char *body, size_t body_length, const char *message)
{
    ss_http_header_t headers[] = {{"Authorization", "Bearer " TEST_ADMIN_TOKEN}};
    ss_http_request_t *req = NULL;
    char errstr[256];
    assert_int_equal(ss_http_request_create(method, target, headers, 1, body, body_length, &req,
                                            errstr, sizeof(errstr)),
                     SS_OK);
    ss_http_router_dispatch(fixture->router, req);
    const char *answer = ss_http_request_response_body(req);
    if (ss_http_request_response_status(req) != 400 ||
        strstr(answer, "\"INVALID_REQUEST\"") == NULL || strstr(answer, message) == NULL) {
        fail_msg("%s %s %s: got %d %s, wanted 400 with '%s'", method, target, body,
                 ss_http_request_response_status(req), answer, message);
    }
    ss_http_request_finish(req);
}

static void expect_body_invalid(const fixture_t *fixture, const char *method, const char *target,
                                const char *body, const char *message)
{
    expect_invalid(fixture, method, target, body, strlen(body), message);
}

/* One unknown field on every endpoint with a body: each lists its own fields. */
static void test_every_body_refuses_a_field_its_schema_does_not_list(void **state)
{
    const fixture_t *fixture = *state;
    static const struct {
        const char *method, *target, *body;
    } cases[] = {
        {"POST", "/api/v1/users/1/balance/charge", "{\"amount\":1,\"zz\":1}"},
        {"POST", "/api/v1/users/1/coupons", "{\"couponId\":1,\"zz\":1}"},
        {"POST", "/api/v1/orders",
         "{\"userId\":1,\"products\":[{\"id\":1,\"quantity\":1}],\"zz\":1}"},
        {"POST", "/api/v1/admin/users", "{\"nickname\":\"n\",\"zz\":1}"},
        {"POST", "/api/v1/admin/products", "{\"name\":\"p\",\"price\":1,\"stock\":1,\"zz\":1}"},
        {"PATCH", "/api/v1/admin/products/1", "{\"stockDelta\":1,\"zz\":1}"},
        {"POST", "/api/v1/admin/coupons",
         "{\"name\":\"c\",\"discountRate\":0.1,\"quantity\":1,\"expiredAt\":\"2099-01-01T00:00:"
         "00Z\","
         "\"zz\":1}"},
        {"PATCH", "/api/v1/admin/coupons/1", "{\"status\":\"CANCELED\",\"zz\":1}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expect_body_invalid(fixture, cases[i].method, cases[i].target, cases[i].body,
                            "zz is not a known field");
    }
    expect_body_invalid(fixture, "POST", "/api/v1/orders",
                        "{\"userId\":1,\"products\":[{\"id\":1,\"quantity\":1,\"price\":5}]}",
                        "products[0].price is not a known field");
}

/* null is no default: only couponId of an order is nullable in the document. */
static void test_null_for_a_field_that_is_not_nullable_is_refused(void **state)
{
    const fixture_t *fixture = *state;
    expect_body_invalid(fixture, "POST", "/api/v1/admin/products",
                        "{\"name\":\"p\",\"price\":1,\"stock\":1,\"sellStatus\":null}",
                        "sellStatus must be one of HOLD, SELLING, STOP_SELLING, got null");
    expect_body_invalid(fixture, "POST", "/api/v1/admin/coupons",
                        "{\"name\":\"c\",\"discountRate\":0.1,\"quantity\":1,"
                        "\"expiredAt\":\"2099-01-01T00:00:00Z\",\"status\":null}",
                        "status must be one of REGISTERED, PUBLISHABLE, CANCELED, got null");
    expect_body_invalid(fixture, "PATCH", "/api/v1/admin/products/1",
                        "{\"sellStatus\":null,\"stockDelta\":1}", "sellStatus must be one of");
    expect_body_invalid(fixture, "POST", "/api/v1/users/1/balance/charge", "{\"amount\":null}",
                        "amount must be an integer between 1 and 10000000, got null");
    expect_body_invalid(fixture, "POST", "/api/v1/orders",
                        "{\"userId\":1,\"couponId\":null,\"products\":null}",
                        "products must be an array");
}

static void test_a_nul_in_a_text_is_refused_naming_the_field(void **state)
{
    const fixture_t *fixture = *state;
    expect_body_invalid(fixture, "POST", "/api/v1/admin/users", "{\"nickname\":\"a\\u0000\"}",
                        "nickname must not contain NUL characters");
    expect_body_invalid(fixture, "POST", "/api/v1/admin/coupons",
                        "{\"name\":\"c\",\"discountRate\":0.1,\"quantity\":1,"
                        "\"expiredAt\":\"2099-01-01T00:00:00\\u0000Z\"}",
                        "expiredAt must not contain NUL characters");
    /* A key cannot be a field's name with a NUL in it: jansson refuses it while parsing. */
    expect_body_invalid(fixture, "POST", "/api/v1/admin/users", "{\"nickname\\u0000\":\"a\"}",
                        "NUL byte in object key");
}

static void test_cursor_is_one_to_eighteen_digits(void **state)
{
    const fixture_t *fixture = *state;
    static const char *const targets[] = {
        "/api/v1/products?cursor=",
        "/api/v1/products?cursor=-1",
        "/api/v1/products?cursor=1000000000000000000",
        "/api/v1/products?cursor=9223372036854775807",
        "/api/v1/products?cursor=%2B5",
    };
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        expect_invalid(fixture, "GET", targets[i], NULL, 0,
                       "query parameter cursor must be 1 to 18 decimal digits");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_body_refuses_a_field_its_schema_does_not_list),
        cmocka_unit_test(test_null_for_a_field_that_is_not_nullable_is_refused),
        cmocka_unit_test(test_a_nul_in_a_text_is_refused_naming_the_field),
        cmocka_unit_test(test_cursor_is_one_to_eighteen_digits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

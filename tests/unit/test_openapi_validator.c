/*
 * Unit tests of the OpenAPI response validator (tests/support/ss_test_openapi.h): every schema
 * keyword it claims to check accepts a conforming value AND rejects a wrong one, response
 * lookup by status falls back to "4XX" and "default", and the project's own docs/openapi.json
 * loads, lists its operations and judges real envelopes (right and wrong) as the contract says.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_openapi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROJECT_DOCUMENT SS_SOURCE_DIR "/docs/openapi.json"

/* A small document exercising each keyword; schemas are reached through $ref like the real one. */
static const char mini_document[] =
    "{\"openapi\":\"3.0.3\",\"info\":{\"title\":\"t\",\"version\":\"1\"},"
    "\"paths\":{"
    " \"/things/{id}\":{"
    "  \"get\":{\"responses\":{"
    "   \"200\":{\"description\":\"ok\",\"content\":{\"application/json\":"
    "            {\"schema\":{\"$ref\":\"#/components/schemas/Thing\"}}}},"
    "   \"202\":{\"$ref\":\"#/components/responses/Accepted\"},"
    "   \"204\":{\"description\":\"no body\"},"
    "   \"4XX\":{\"description\":\"client error\",\"content\":{\"application/json\":"
    "            {\"schema\":{\"$ref\":\"#/components/schemas/Error\"}}}},"
    "   \"default\":{\"description\":\"other\",\"content\":{\"application/json\":"
    "            {\"schema\":{\"type\":\"object\",\"required\":[\"fallback\"]}}}}}},"
    "  \"delete\":{\"responses\":{\"200\":{\"description\":\"ok\"}}}},"
    " \"/loop\":{\"get\":{\"responses\":{\"200\":{\"description\":\"x\",\"content\":"
    "   {\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Loop\"}}}}}}},"
    " \"/dangling\":{\"get\":{\"responses\":{\"200\":{\"description\":\"x\",\"content\":"
    "   {\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/Nope\"}}}}}}}"
    "},"
    "\"components\":{"
    " \"responses\":{\"Accepted\":{\"description\":\"later\","
    "   \"headers\":{\"Location\":{\"schema\":{\"type\":\"string\"}}},"
    "   \"content\":{\"application/json\":{\"schema\":{\"type\":\"object\"}}}}},"
    " \"schemas\":{"
    "  \"Loop\":{\"$ref\":\"#/components/schemas/Loop\"},"
    "  \"Error\":{\"type\":\"object\",\"required\":[\"error\"],"
    "           \"properties\":{\"error\":{\"type\":\"string\"}}},"
    "  "
    "\"Thing\":{\"type\":\"object\",\"required\":[\"id\",\"kind\"],\"additionalProperties\":false,"
    "   \"properties\":{"
    "    \"id\":{\"type\":\"integer\",\"minimum\":1},"
    "    \"kind\":{\"type\":\"string\",\"enum\":[\"A\",\"B\"]},"
    "    \"weight\":{\"type\":\"number\",\"minimum\":0,\"exclusiveMinimum\":true,\"maximum\":1},"
    "    \"name\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":3},"
    "    \"note\":{\"type\":\"string\",\"nullable\":true},"
    "    \"tags\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":3,"
    "              \"items\":{\"type\":\"string\"}},"
    "    \"cursor\":{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]},"
    "    \"size\":{\"type\":[\"integer\",\"null\"]},"
    "    \"either\":{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\",\"maximum\":10}]},"
    "    \"any\":{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"number\",\"maximum\":10}]},"
    "    \"notText\":{\"not\":{\"type\":\"string\"}},"
    "    \"both\":{\"allOf\":[{\"$ref\":\"#/components/schemas/Error\"},"
    "              {\"type\":\"object\",\"properties\":{\"error\":{\"enum\":[\"E1\"]}}}]},"
    "    \"extra\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}"
    "   }}}}}";

static int mini_setup(void **state)
{
    char errstr[256];
    ss_test_openapi_t *openapi = NULL;
    assert_int_equal(ss_test_openapi_parse(mini_document, &openapi, errstr, sizeof(errstr)), SS_OK);
    *state = openapi;
    return 0;
}

static int mini_teardown(void **state)
{
    ss_test_openapi_destroy(*state);
    return 0;
}

/* Checks a Thing body through GET /things/{id} 200; returns the verdict and the message. */
static ss_err_t thing_check(void **state, const char *body, char *errstr, size_t errstr_size)
{
    errstr[0] = '\0';
    return ss_test_openapi_check_response(*state, "GET", "/things/{id}", 200, body, strlen(body),
                                          errstr, errstr_size);
}

static void assert_thing_ok(void **state, const char *body)
{
    char errstr[512];
    ss_err_t err = thing_check(state, body, errstr, sizeof(errstr));
    if (err != SS_OK) {
        fail_msg("expected %s to conform, got: %s", body, errstr);
    }
}

/* Asserts the body is rejected and the message contains expected. */
static void assert_thing_rejected(void **state, const char *body, const char *expected)
{
    char errstr[512];
    ss_err_t err = thing_check(state, body, errstr, sizeof(errstr));
    if (err != SS_ERR_INVALID) {
        fail_msg("expected %s to be rejected, got %d", body, (int)err);
    }
    if (strstr(errstr, expected) == NULL) {
        fail_msg("the message \"%s\" does not mention \"%s\"", errstr, expected);
    }
}

static void test_conforming_body_is_accepted(void **state)
{
    assert_thing_ok(state, "{\"id\":1,\"kind\":\"A\"}");
    assert_thing_ok(state, "{\"id\":7,\"kind\":\"B\",\"weight\":0.5,\"name\":\"abc\",\"note\":"
                           "\"n\",\"tags\":[\"x\"],\"cursor\":\"c\",\"size\":3,\"either\":1.5,"
                           "\"any\":3,\"notText\":4,\"both\":{\"error\":\"E1\"},"
                           "\"extra\":{\"a\":1}}");
}

static void test_integer_given_a_string_is_rejected_with_its_path(void **state)
{
    assert_thing_rejected(state, "{\"id\":\"1\",\"kind\":\"A\"}",
                          "$.id: expected integer, got string");
}

static void test_real_number_is_not_an_integer(void **state)
{
    assert_thing_rejected(state, "{\"id\":1.0,\"kind\":\"A\"}",
                          "$.id: expected integer, got number");
    /* an integer is a number, though */
    assert_thing_ok(state, "{\"id\":1,\"kind\":\"A\",\"weight\":1}");
}

static void test_missing_required_property_is_rejected(void **state)
{
    assert_thing_rejected(state, "{\"id\":1}", "$: kind is required");
}

static void test_undocumented_property_is_rejected(void **state)
{
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"colour\":\"red\"}",
                          "colour is not a documented property");
    /* additionalProperties as a schema checks each extra value */
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"extra\":{\"a\":\"x\"}}",
                          "$.extra.a: expected integer");
}

static void test_value_outside_the_enum_is_rejected(void **state)
{
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"C\"}",
                          "$.kind: \"C\" is not one of the enum values");
}

static void test_wrong_type_on_the_top_level_is_rejected(void **state)
{
    assert_thing_rejected(state, "[1,2]", "$: expected object, got array");
    assert_thing_rejected(state, "null", "$: expected object, got null");
}

static void test_null_is_accepted_only_where_the_schema_allows_it(void **state)
{
    assert_thing_ok(state, "{\"id\":1,\"kind\":\"A\",\"note\":null,\"cursor\":null,\"size\":null}");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"name\":null}",
                          "$.name: expected string, got null");
    assert_thing_rejected(state, "{\"id\":null,\"kind\":\"A\"}",
                          "$.id: expected integer, got null");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"cursor\":5}",
                          "$.cursor: matches 0 of the 2 oneOf alternatives");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"size\":\"3\"}",
                          "$.size: expected integer or null, got string");
}

static void test_every_array_item_is_checked(void **state)
{
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"tags\":[\"a\",\"b\",3]}",
                          "$.tags[2]: expected string, got integer");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"tags\":[]}", "fewer than 1");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}",
                          "more than 3");
}

static void test_string_lengths_count_code_points(void **state)
{
    /* "é" is two bytes but one character: "éé" has length 2 */
    assert_thing_ok(state, "{\"id\":1,\"kind\":\"A\",\"name\":\"\xc3\xa9\xc3\xa9\"}");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"name\":\"\xc3\xa9\"}",
                          "shorter than 2");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"name\":\"abcd\"}", "longer than 3");
}

static void test_numeric_bounds_and_exclusive_minimum(void **state)
{
    assert_thing_rejected(state, "{\"id\":0,\"kind\":\"A\"}", "$.id: is below the minimum 1");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"weight\":0}", "(exclusive)");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"weight\":1.5}",
                          "is above the maximum 1");
    assert_thing_ok(state, "{\"id\":1,\"kind\":\"A\",\"weight\":0.0001}");
}

static void test_one_of_needs_exactly_one_match(void **state)
{
    /* 1.5 matches only the number branch; 3 matches both branches: not exactly one */
    assert_thing_ok(state, "{\"id\":1,\"kind\":\"A\",\"either\":1.5}");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"either\":3}",
                          "$.either: matches 2 of the 2 oneOf alternatives");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"either\":\"x\"}",
                          "matches 0 of the 2 oneOf alternatives; the first failure: $.either");
}

static void test_any_of_needs_one_match_and_not_needs_none(void **state)
{
    assert_thing_ok(state, "{\"id\":1,\"kind\":\"A\",\"any\":3}");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"any\":10.5}",
                          "matches 0 of the 2 anyOf alternatives");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"notText\":\"s\"}",
                          "$.notText: matches the schema under \"not\"");
}

static void test_all_of_applies_every_schema(void **state)
{
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"both\":{}}", "error is required");
    assert_thing_rejected(state, "{\"id\":1,\"kind\":\"A\",\"both\":{\"error\":\"E2\"}}",
                          "$.both.error: \"E2\" is not one of the enum values");
}

static void test_status_falls_back_to_its_range_then_default(void **state)
{
    char errstr[256];
    const char error_body[] = "{\"error\":\"X\"}";
    assert_int_equal(ss_test_openapi_check_response(*state, "GET", "/things/{id}", 404, error_body,
                                                    strlen(error_body), errstr, sizeof(errstr)),
                     SS_OK);
    const char wrong_error[] = "{\"message\":\"X\"}";
    assert_int_equal(ss_test_openapi_check_response(*state, "get", "/things/{id}", 409, wrong_error,
                                                    strlen(wrong_error), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "error is required"));
    const char fallback[] = "{\"fallback\":1}";
    assert_int_equal(ss_test_openapi_check_response(*state, "GET", "/things/{id}", 500, fallback,
                                                    strlen(fallback), errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_test_openapi_check_response(*state, "GET", "/things/{id}", 503, error_body,
                                                    strlen(error_body), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
}

static void test_undocumented_operation_or_status_is_not_found(void **state)
{
    char errstr[256];
    const char body[] = "{}";
    assert_int_equal(ss_test_openapi_check_response(*state, "GET", "/nothing", 200, body, 2, errstr,
                                                    sizeof(errstr)),
                     SS_ERR_NOT_FOUND);
    assert_non_null(strstr(errstr, "no path /nothing"));
    assert_int_equal(ss_test_openapi_check_response(*state, "POST", "/things/{id}", 200, body, 2,
                                                    errstr, sizeof(errstr)),
                     SS_ERR_NOT_FOUND);
    assert_int_equal(ss_test_openapi_check_response(*state, "DELETE", "/things/{id}", 500, body, 2,
                                                    errstr, sizeof(errstr)),
                     SS_ERR_NOT_FOUND);
}

static void test_body_that_is_not_json_is_rejected(void **state)
{
    assert_thing_rejected(state, "{\"id\":1,", "is not JSON");
}

static void test_response_without_content_wants_an_empty_body(void **state)
{
    char errstr[256];
    assert_int_equal(ss_test_openapi_check_response(*state, "GET", "/things/{id}", 204, "", 0,
                                                    errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_test_openapi_check_response(*state, "GET", "/things/{id}", 204, "{}", 2,
                                                    errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
}

static void test_referenced_response_and_its_headers_are_found(void **state)
{
    char errstr[256];
    assert_int_equal(ss_test_openapi_check_response(*state, "GET", "/things/{id}", 202, "{}", 2,
                                                    errstr, sizeof(errstr)),
                     SS_OK);
    const char *names[4];
    assert_int_equal(ss_test_openapi_response_headers(*state, "GET", "/things/{id}", 202, names, 4),
                     1);
    assert_string_equal(names[0], "Location");
    assert_int_equal(ss_test_openapi_response_headers(*state, "GET", "/things/{id}", 200, names, 4),
                     0);
}

static void test_ref_cycle_and_dangling_ref_end_with_an_error(void **state)
{
    char errstr[256];
    assert_int_equal(ss_test_openapi_check_response(*state, "GET", "/loop", 200, "{}", 2, errstr,
                                                    sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "a $ref cycle?"));
    assert_int_equal(ss_test_openapi_check_response(*state, "GET", "/dangling", 200, "{}", 2,
                                                    errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "#/components/schemas/Nope"));
}

static void test_operations_are_listed_in_document_order(void **state)
{
    assert_int_equal(ss_test_openapi_operation_count(*state), 4);
    const char *method, *path;
    assert_int_equal(ss_test_openapi_operation(*state, 0, &method, &path), SS_OK);
    assert_string_equal(method, "GET");
    assert_string_equal(path, "/things/{id}");
    assert_int_equal(ss_test_openapi_operation(*state, 1, &method, &path), SS_OK);
    assert_string_equal(method, "DELETE");
    assert_int_equal(ss_test_openapi_operation(*state, 4, &method, &path), SS_ERR_NOT_FOUND);
}

static void test_document_without_paths_is_refused(void **state)
{
    (void)state;
    char errstr[256];
    ss_test_openapi_t *openapi = NULL;
    assert_int_equal(
        ss_test_openapi_parse("{\"openapi\":\"3.0.3\"}", &openapi, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_null(openapi);
    assert_int_equal(ss_test_openapi_parse("[]", &openapi, errstr, sizeof(errstr)), SS_ERR_INVALID);
    assert_int_equal(ss_test_openapi_parse("{\"paths\":", &openapi, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(
        ss_test_openapi_load("/nonexistent/openapi.json", &openapi, errstr, sizeof(errstr)),
        SS_ERR_NOT_FOUND);
}

/* ---- the project's document ------------------------------------------------------------------ */

static int project_setup(void **state)
{
    char errstr[256];
    ss_test_openapi_t *openapi = NULL;
    if (ss_test_openapi_load(PROJECT_DOCUMENT, &openapi, errstr, sizeof(errstr)) != SS_OK) {
        fprintf(stderr, "%s\n", errstr);
        return -1;
    }
    *state = openapi;
    return 0;
}

static ss_err_t project_check(void **state, const char *method, const char *path, int status,
                              const char *body, char *errstr, size_t errstr_size)
{
    errstr[0] = '\0';
    return ss_test_openapi_check_response(*state, method, path, status, body, strlen(body), errstr,
                                          errstr_size);
}

static void assert_project_ok(void **state, const char *method, const char *path, int status,
                              const char *body)
{
    char errstr[512];
    if (project_check(state, method, path, status, body, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("%s %s %d %s: %s", method, path, status, body, errstr);
    }
}

static void assert_project_rejected(void **state, const char *method, const char *path, int status,
                                    const char *body, const char *expected)
{
    char errstr[512];
    if (project_check(state, method, path, status, body, errstr, sizeof(errstr)) !=
        SS_ERR_INVALID) {
        fail_msg("expected %s %s %d %s to be rejected", method, path, status, body);
    }
    if (strstr(errstr, expected) == NULL) {
        fail_msg("the message \"%s\" does not mention \"%s\"", errstr, expected);
    }
}

static void test_project_document_lists_every_operation(void **state)
{
    static const char *const expected[][2] = {
        {"GET", "/health"},
        {"GET", "/ready"},
        {"GET", "/metrics"},
        {"GET", "/openapi.json"},
        {"GET", "/docs"},
        {"GET", "/docs/redoc.standalone.js"},
        {"GET", "/api/v1/users/{id}/balance"},
        {"POST", "/api/v1/users/{id}/balance/charge"},
        {"GET", "/api/v1/products"},
        {"GET", "/api/v1/products/popular"},
        {"GET", "/api/v1/users/{id}/coupons"},
        {"POST", "/api/v1/users/{id}/coupons"},
        {"POST", "/api/v1/orders"},
        {"GET", "/api/v1/orders/{id}"},
        {"GET", "/api/v1/requests/{id}"},
        {"POST", "/api/v1/admin/users"},
        {"POST", "/api/v1/admin/products"},
        {"PATCH", "/api/v1/admin/products/{id}"},
        {"POST", "/api/v1/admin/coupons"},
        {"PATCH", "/api/v1/admin/coupons/{id}"},
    };
    const size_t expected_count = sizeof(expected) / sizeof(expected[0]);
    assert_int_equal(ss_test_openapi_operation_count(*state), expected_count);
    for (size_t i = 0; i < expected_count; i++) {
        const json_t *response = NULL;
        char errstr[256];
        if (ss_test_openapi_response(*state, expected[i][0], expected[i][1], 200, &response, errstr,
                                     sizeof(errstr)) != SS_OK) {
            fail_msg("%s", errstr);
        }
    }
}

static void test_project_balance_envelope_is_checked(void **state)
{
    const char *path = "/api/v1/users/{id}/balance";
    assert_project_ok(state, "GET", path, 200,
                      "{\"code\":200,\"message\":\"OK\",\"data\":{\"userId\":7,\"amount\":0}}");
    assert_project_rejected(state, "GET", path, 200,
                            "{\"code\":200,\"message\":\"OK\",\"data\":{\"userId\":7,"
                            "\"amount\":\"0\"}}",
                            "$.data.amount: expected integer, got string");
    assert_project_rejected(state, "GET", path, 200,
                            "{\"code\":200,\"message\":\"OK\",\"data\":{\"userId\":7}}",
                            "$.data: amount is required");
    assert_project_rejected(state, "GET", path, 200,
                            "{\"code\":200,\"message\":\"OK\",\"data\":{\"userId\":7,\"amount\":"
                            "10000001}}",
                            "above the maximum");
    assert_project_rejected(state, "GET", path, 200, "{\"userId\":7,\"amount\":0}",
                            "code is required");
}

static void test_project_error_codes_are_per_endpoint(void **state)
{
    const char *charge = "/api/v1/users/{id}/balance/charge";
    assert_project_ok(state, "POST", charge, 409,
                      "{\"code\":409,\"message\":\"over the limit\","
                      "\"error\":\"BALANCE_LIMIT_EXCEEDED\"}");
    assert_project_rejected(state, "POST", charge, 409,
                            "{\"code\":409,\"message\":\"m\",\"error\":\"COUPON_SOLD_OUT\"}",
                            "$.error: \"COUPON_SOLD_OUT\" is not one of the enum values");
    /* the code must equal the HTTP status */
    assert_project_rejected(state, "POST", charge, 409,
                            "{\"code\":400,\"message\":\"m\",\"error\":\"BALANCE_LIMIT_EXCEEDED\"}",
                            "$.code: 400 is not one of the enum values");
    assert_project_ok(state, "POST", "/api/v1/orders", 409,
                      "{\"code\":409,\"message\":\"m\",\"error\":\"INSUFFICIENT_STOCK\","
                      "\"data\":{\"orderId\":12}}");
    assert_project_rejected(state, "POST", "/api/v1/orders", 409,
                            "{\"code\":409,\"message\":\"m\",\"error\":\"INSUFFICIENT_STOCK\","
                            "\"data\":{\"orderId\":\"12\"}}",
                            "$.data.orderId: expected integer");
    assert_project_ok(state, "GET", "/api/v1/products", 503,
                      "{\"code\":503,\"message\":\"busy\",\"error\":\"UNAVAILABLE\"}");
}

static void test_project_accepted_and_nullable_fields(void **state)
{
    assert_project_ok(state, "POST", "/api/v1/orders", 202,
                      "{\"code\":202,\"message\":\"Accepted\",\"data\":{\"requestId\":\"0-1-2\"}}");
    assert_project_rejected(state, "POST", "/api/v1/orders", 202,
                            "{\"code\":202,\"message\":\"Accepted\",\"data\":{}}",
                            "requestId is required");
    const char *request = "/api/v1/requests/{id}";
    assert_project_ok(state, "GET", request, 200,
                      "{\"code\":200,\"message\":\"OK\",\"data\":{\"requestId\":\"r\","
                      "\"status\":\"PENDING\",\"result\":null}}");
    assert_project_ok(state, "GET", request, 200,
                      "{\"code\":200,\"message\":\"OK\",\"data\":{\"requestId\":\"r\","
                      "\"status\":\"DONE\",\"result\":{\"code\":409,\"message\":\"m\","
                      "\"error\":\"COUPON_SOLD_OUT\"}}}");
    assert_project_rejected(state, "GET", request, 200,
                            "{\"code\":200,\"message\":\"OK\",\"data\":{\"requestId\":\"r\","
                            "\"status\":\"LATER\",\"result\":null}}",
                            "$.data.status");
    assert_project_ok(state, "GET", "/api/v1/products", 200,
                      "{\"code\":200,\"message\":\"OK\",\"data\":{\"products\":[{\"id\":1,"
                      "\"name\":\"n\",\"price\":100,\"stock\":0}],\"nextCursor\":null}}");
    assert_project_rejected(state, "GET", "/api/v1/products", 200,
                            "{\"code\":200,\"message\":\"OK\",\"data\":{\"products\":[{\"id\":1,"
                            "\"name\":\"n\",\"price\":100,\"stock\":-1}],\"nextCursor\":null}}",
                            "$.data.products[0].stock: is below the minimum 0");
    const char *names[4];
    assert_int_equal(
        ss_test_openapi_response_headers(*state, "POST", "/api/v1/orders", 202, names, 4), 2);
    assert_string_equal(names[0], "Location");
    assert_string_equal(names[1], "X-Request-Id");
    assert_int_equal(ss_test_openapi_response_headers(*state, "GET", "/ready", 503, names, 4), 2);
    assert_string_equal(names[0], "Retry-After");
    assert_string_equal(names[1], "X-Request-Id");
    /* Every answer documents the id, errors too. */
    assert_int_equal(
        ss_test_openapi_response_headers(*state, "GET", "/api/v1/orders/{id}", 404, names, 4), 1);
    assert_string_equal(names[0], "X-Request-Id");
}

int main(void)
{
    const struct CMUnitTest mini[] = {
        cmocka_unit_test(test_conforming_body_is_accepted),
        cmocka_unit_test(test_integer_given_a_string_is_rejected_with_its_path),
        cmocka_unit_test(test_real_number_is_not_an_integer),
        cmocka_unit_test(test_missing_required_property_is_rejected),
        cmocka_unit_test(test_undocumented_property_is_rejected),
        cmocka_unit_test(test_value_outside_the_enum_is_rejected),
        cmocka_unit_test(test_wrong_type_on_the_top_level_is_rejected),
        cmocka_unit_test(test_null_is_accepted_only_where_the_schema_allows_it),
        cmocka_unit_test(test_every_array_item_is_checked),
        cmocka_unit_test(test_string_lengths_count_code_points),
        cmocka_unit_test(test_numeric_bounds_and_exclusive_minimum),
        cmocka_unit_test(test_one_of_needs_exactly_one_match),
        cmocka_unit_test(test_any_of_needs_one_match_and_not_needs_none),
        cmocka_unit_test(test_all_of_applies_every_schema),
        cmocka_unit_test(test_status_falls_back_to_its_range_then_default),
        cmocka_unit_test(test_undocumented_operation_or_status_is_not_found),
        cmocka_unit_test(test_body_that_is_not_json_is_rejected),
        cmocka_unit_test(test_response_without_content_wants_an_empty_body),
        cmocka_unit_test(test_referenced_response_and_its_headers_are_found),
        cmocka_unit_test(test_ref_cycle_and_dangling_ref_end_with_an_error),
        cmocka_unit_test(test_operations_are_listed_in_document_order),
        cmocka_unit_test(test_document_without_paths_is_refused),
    };
    const struct CMUnitTest project[] = {
        cmocka_unit_test(test_project_document_lists_every_operation),
        cmocka_unit_test(test_project_balance_envelope_is_checked),
        cmocka_unit_test(test_project_error_codes_are_per_endpoint),
        cmocka_unit_test(test_project_accepted_and_nullable_fields),
    };
    int failed = cmocka_run_group_tests_name("mini document", mini, mini_setup, mini_teardown);
    failed +=
        cmocka_run_group_tests_name("docs/openapi.json", project, project_setup, mini_teardown);
    return failed;
}

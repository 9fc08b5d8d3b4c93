/*
 * Unit tests for lib/src/api_error.c: every code of API.md has the status API.md gives it, the
 * table has no gap, and names map back to codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/api_error.h"

#include <string.h>

typedef struct expected_code {
    const char *name;
    int status;
} expected_code_t;

/* Transcribed from ../shared/API.md's Envelope table, plus this project's three additions. */
static const expected_code_t expected_codes[] = {
    {"INVALID_REQUEST", 400},
    {"UNAUTHORIZED", 401},
    {"FORBIDDEN", 403},
    {"USER_NOT_FOUND", 404},
    {"PRODUCT_NOT_FOUND", 404},
    {"COUPON_NOT_FOUND", 404},
    {"ORDER_NOT_FOUND", 404},
    {"REQUEST_NOT_FOUND", 404},
    {"BALANCE_LIMIT_EXCEEDED", 409},
    {"INSUFFICIENT_BALANCE", 409},
    {"INSUFFICIENT_STOCK", 409},
    {"PRODUCT_NOT_SELLING", 409},
    {"COUPON_SOLD_OUT", 409},
    {"COUPON_ALREADY_ISSUED", 409},
    {"COUPON_NOT_ISSUABLE", 409},
    {"COUPON_EXPIRED", 409},
    {"COUPON_NOT_USABLE", 409},
    {"IDEMPOTENCY_KEY_REUSED", 409},
    {"PAYLOAD_TOO_LARGE", 413},
    {"UNAVAILABLE", 503},
    {"NOT_FOUND", 404},
    {"METHOD_NOT_ALLOWED", 405},
    {"INTERNAL", 500},
};

static void test_every_api_md_code_has_its_status(void **state)
{
    (void)state;
    const size_t count = sizeof(expected_codes) / sizeof(expected_codes[0]);
    assert_int_equal(count, SS_API_ERROR_COUNT);
    for (size_t i = 0; i < count; i++) {
        ss_api_error_t error = SS_API_ERROR_COUNT;
        char errstr[128] = "";
        if (ss_api_error_from_name(expected_codes[i].name, &error, errstr, sizeof(errstr)) !=
            SS_OK) {
            fail_msg("%s is missing: %s", expected_codes[i].name, errstr);
        }
        assert_string_equal(ss_api_error_name(error), expected_codes[i].name);
        assert_int_equal(ss_api_error_status(error), expected_codes[i].status);
        assert_int_equal(ss_api_error_status_by_name(expected_codes[i].name),
                         expected_codes[i].status);
    }
}

static void test_table_has_no_gap_and_unique_names(void **state)
{
    (void)state;
    for (int i = 0; i < SS_API_ERROR_COUNT; i++) {
        const ss_api_error_t error = (ss_api_error_t)i;
        assert_non_null(ss_api_error_name(error));
        assert_non_null(ss_api_error_message(error));
        assert_true(strlen(ss_api_error_message(error)) > 0);
        assert_true(ss_api_error_status(error) >= 400 && ss_api_error_status(error) <= 599);
        ss_api_error_t back = SS_API_ERROR_COUNT;
        assert_int_equal(ss_api_error_from_name(ss_api_error_name(error), &back, NULL, 0), SS_OK);
        assert_int_equal(back, error);
        for (int j = 0; j < i; j++) {
            assert_string_not_equal(ss_api_error_name((ss_api_error_t)j), ss_api_error_name(error));
        }
    }
}

static void test_status_by_name_is_409_for_coupon_sold_out(void **state)
{
    (void)state;
    assert_int_equal(ss_api_error_status_by_name("COUPON_SOLD_OUT"), 409);
    assert_int_equal(ss_api_error_status(SS_API_ERROR_COUPON_SOLD_OUT), 409);
    assert_string_equal(ss_api_error_message(SS_API_ERROR_COUPON_SOLD_OUT),
                        "the coupon has run out");
}

static void test_unknown_name_is_not_found_and_status_500(void **state)
{
    (void)state;
    char errstr[128] = "";
    ss_api_error_t error = SS_API_ERROR_COUPON_EXPIRED;
    assert_int_equal(ss_api_error_from_name("coupon_sold_out", &error, errstr, sizeof(errstr)),
                     SS_ERR_NOT_FOUND);
    assert_string_equal(errstr, "unknown API error code 'coupon_sold_out'");
    assert_int_equal(error, SS_API_ERROR_COUPON_EXPIRED);
    assert_int_equal(ss_api_error_from_name(NULL, &error, errstr, sizeof(errstr)),
                     SS_ERR_NOT_FOUND);
    assert_int_equal(ss_api_error_status_by_name("NO_SUCH_CODE"), 500);
    assert_int_equal(ss_api_error_status_by_name(""), 500);
    assert_int_equal(ss_api_error_status_by_name(NULL), 500);
}

static void test_value_outside_the_enum_reads_as_internal_error(void **state)
{
    (void)state;
    assert_string_equal(ss_api_error_name(SS_API_ERROR_COUNT), "INTERNAL");
    assert_int_equal(ss_api_error_status((ss_api_error_t)-1), 500);
    assert_string_equal(ss_api_error_message((ss_api_error_t)1000), "internal error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_api_md_code_has_its_status),
        cmocka_unit_test(test_table_has_no_gap_and_unique_names),
        cmocka_unit_test(test_status_by_name_is_409_for_coupon_sold_out),
        cmocka_unit_test(test_unknown_name_is_not_found_and_status_500),
        cmocka_unit_test(test_value_outside_the_enum_reads_as_internal_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

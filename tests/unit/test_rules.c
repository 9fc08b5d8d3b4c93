/* Unit tests for lib/src/rules.c: charges, coupon issuance, discounts, stock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/rules.h"

static void test_charge_within_limit_adds_the_amount(void **state)
{
    (void)state;
    int64_t after = 0;
    ss_api_error_t refusal;
    assert_true(ss_rules_charge(1000, 500, &after, &refusal));
    assert_int_equal(after, 1500);
}

static void test_charge_reaching_the_limit_exactly_is_accepted(void **state)
{
    (void)state;
    int64_t after = 0;
    ss_api_error_t refusal;
    assert_true(ss_rules_charge(9999999, 1, &after, &refusal));
    assert_int_equal(after, SS_RULES_BALANCE_MAX);
    assert_true(ss_rules_charge(0, SS_RULES_CHARGE_MAX, &after, &refusal));
}

static void test_charge_over_limit_is_refused(void **state)
{
    (void)state;
    int64_t after = -1;
    ss_api_error_t refusal = SS_API_ERROR_COUNT;
    assert_false(ss_rules_charge(SS_RULES_BALANCE_MAX, 1, &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_BALANCE_LIMIT_EXCEEDED);
    assert_int_equal(after, -1);
    assert_false(ss_rules_charge(5000000, 5000001, &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_BALANCE_LIMIT_EXCEEDED);
}

static void test_charge_amount_out_of_range_is_invalid(void **state)
{
    (void)state;
    int64_t after;
    ss_api_error_t refusal = SS_API_ERROR_COUNT;
    assert_false(ss_rules_charge(0, 0, &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_INVALID_REQUEST);
    assert_false(ss_rules_charge(0, -5, &after, &refusal));
    assert_false(ss_rules_charge(0, SS_RULES_CHARGE_MAX + 1, &after, &refusal));
    assert_false(ss_rules_charge(0, INT64_MAX, &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_INVALID_REQUEST);
}

static ss_rules_coupon_t coupon(ss_coupon_status_t status, int64_t quantity, int64_t issued)
{
    return (ss_rules_coupon_t){
        .status = status, .quantity = quantity, .issued_count = issued, .expired_at_ms = 2000};
}

static void test_publishable_coupon_with_quantity_left_is_issued(void **state)
{
    (void)state;
    ss_rules_coupon_t c = coupon(SS_COUPON_PUBLISHABLE, 10, 9);
    ss_api_error_t refusal;
    assert_true(ss_rules_coupon_issue(&c, 1000, false, &refusal));
}

static void test_coupon_not_publishable_is_not_issuable(void **state)
{
    (void)state;
    ss_api_error_t refusal;
    ss_rules_coupon_t registered = coupon(SS_COUPON_REGISTERED, 10, 0);
    assert_false(ss_rules_coupon_issue(&registered, 1000, false, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_COUPON_NOT_ISSUABLE);
    ss_rules_coupon_t canceled = coupon(SS_COUPON_CANCELED, 10, 0);
    assert_false(ss_rules_coupon_issue(&canceled, 1000, false, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_COUPON_NOT_ISSUABLE);
}

static void test_coupon_at_or_past_expiry_is_expired(void **state)
{
    (void)state;
    ss_api_error_t refusal;
    ss_rules_coupon_t c = coupon(SS_COUPON_PUBLISHABLE, 10, 0);
    assert_false(ss_rules_coupon_issue(&c, 2000, false, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_COUPON_EXPIRED);
    assert_true(ss_rules_coupon_issue(&c, 1999, false, &refusal));
}

static void test_second_issue_to_a_user_is_already_issued_even_when_sold_out(void **state)
{
    (void)state;
    ss_api_error_t refusal;
    ss_rules_coupon_t c = coupon(SS_COUPON_PUBLISHABLE, 1, 1);
    assert_false(ss_rules_coupon_issue(&c, 1000, true, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_COUPON_ALREADY_ISSUED);
}

static void test_coupon_without_quantity_left_is_sold_out(void **state)
{
    (void)state;
    ss_api_error_t refusal;
    ss_rules_coupon_t c = coupon(SS_COUPON_PUBLISHABLE, 100, 100);
    assert_false(ss_rules_coupon_issue(&c, 1000, false, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_COUPON_SOLD_OUT);
    ss_rules_coupon_t none = coupon(SS_COUPON_PUBLISHABLE, 0, 0);
    assert_false(ss_rules_coupon_issue(&none, 1000, false, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_COUPON_SOLD_OUT);
}

static void test_coupon_status_names_round_trip(void **state)
{
    (void)state;
    ss_coupon_status_t status;
    assert_true(ss_rules_coupon_status_parse("CANCELED", &status));
    assert_int_equal(status, SS_COUPON_CANCELED);
    assert_string_equal(ss_rules_coupon_status_name(SS_COUPON_PUBLISHABLE), "PUBLISHABLE");
    assert_false(ss_rules_coupon_status_parse("publishable", &status));
    assert_false(ss_rules_coupon_status_parse(NULL, &status));
}

static void test_discount_is_floored(void **state)
{
    (void)state;
    assert_int_equal(ss_rules_discount(10000, 1000), 1000);   /* 10% */
    assert_int_equal(ss_rules_discount(999, 1000), 99);       /* 99.9 -> 99 */
    assert_int_equal(ss_rules_discount(3, 3333), 0);          /* 0.9999 -> 0 */
    assert_int_equal(ss_rules_discount(12345, 10000), 12345); /* 100% */
    assert_int_equal(ss_rules_discount(0, 5000), 0);
}

static void test_discount_of_huge_total_does_not_overflow(void **state)
{
    (void)state;
    int64_t total = INT64_MAX - 7;
    assert_int_equal(ss_rules_discount(total, 10000), total);
    assert_int_equal(ss_rules_discount(total, 5000), total / 2);
}

static void test_product_status_names_round_trip(void **state)
{
    (void)state;
    ss_product_status_t status = SS_PRODUCT_HOLD;
    assert_true(ss_rules_product_status_parse("STOP_SELLING", &status));
    assert_int_equal(status, SS_PRODUCT_STOP_SELLING);
    assert_string_equal(ss_rules_product_status_name(SS_PRODUCT_SELLING), "SELLING");
    assert_string_equal(ss_rules_product_status_name(SS_PRODUCT_HOLD), "HOLD");
    assert_false(ss_rules_product_status_parse("selling", &status));
    assert_false(ss_rules_product_status_parse("PAUSED", &status));
    assert_false(ss_rules_product_status_parse(NULL, &status));
    assert_int_equal(status, SS_PRODUCT_STOP_SELLING);
}

static void test_reserve_within_stock_takes_the_quantity(void **state)
{
    (void)state;
    int64_t after = -1;
    ss_api_error_t refusal;
    assert_true(ss_rules_stock_reserve(SS_PRODUCT_SELLING, 10, 3, &after, &refusal));
    assert_int_equal(after, 7);
    assert_true(ss_rules_stock_reserve(SS_PRODUCT_SELLING, 5, 5, &after, &refusal));
    assert_int_equal(after, 0);
}

static void test_reserve_over_stock_is_insufficient_stock(void **state)
{
    (void)state;
    int64_t after = -1;
    ss_api_error_t refusal = SS_API_ERROR_COUNT;
    assert_false(ss_rules_stock_reserve(SS_PRODUCT_SELLING, 4, 5, &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_INSUFFICIENT_STOCK);
    assert_false(ss_rules_stock_reserve(SS_PRODUCT_SELLING, 0, 1, &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_INSUFFICIENT_STOCK);
    assert_int_equal(after, -1);
}

static void test_reserve_of_a_product_not_selling_is_refused_before_stock(void **state)
{
    (void)state;
    int64_t after = -1;
    ss_api_error_t refusal = SS_API_ERROR_COUNT;
    assert_false(ss_rules_stock_reserve(SS_PRODUCT_HOLD, 100, 1, &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_PRODUCT_NOT_SELLING);
    assert_false(ss_rules_stock_reserve(SS_PRODUCT_STOP_SELLING, 0, 1, &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_PRODUCT_NOT_SELLING);
    assert_int_equal(after, -1);
}

static void test_reserve_quantity_out_of_range_is_invalid(void **state)
{
    (void)state;
    int64_t after = -1;
    ss_api_error_t refusal = SS_API_ERROR_COUNT;
    assert_false(ss_rules_stock_reserve(SS_PRODUCT_SELLING, 5000, 0, &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_INVALID_REQUEST);
    assert_false(ss_rules_stock_reserve(SS_PRODUCT_SELLING, 5000, -1, &after, &refusal));
    assert_false(ss_rules_stock_reserve(SS_PRODUCT_HOLD, 5000, SS_RULES_STOCK_QUANTITY_MAX + 1,
                                        &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_INVALID_REQUEST);
    assert_true(ss_rules_stock_reserve(SS_PRODUCT_SELLING, 5000, SS_RULES_STOCK_QUANTITY_MAX,
                                       &after, &refusal));
    assert_int_equal(after, 4000);
}

static void test_adjust_adds_and_removes_stock(void **state)
{
    (void)state;
    int64_t after = -1;
    ss_api_error_t refusal;
    assert_true(ss_rules_stock_adjust(10, 5, &after, &refusal));
    assert_int_equal(after, 15);
    assert_true(ss_rules_stock_adjust(10, -10, &after, &refusal));
    assert_int_equal(after, 0);
    assert_true(ss_rules_stock_adjust(10, 0, &after, &refusal));
    assert_int_equal(after, 10);
}

static void test_adjust_below_zero_is_insufficient_stock(void **state)
{
    (void)state;
    int64_t after = -1;
    ss_api_error_t refusal = SS_API_ERROR_COUNT;
    assert_false(ss_rules_stock_adjust(10, -11, &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_INSUFFICIENT_STOCK);
    assert_false(ss_rules_stock_adjust(0, INT64_MIN, &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_INSUFFICIENT_STOCK);
    assert_int_equal(after, -1);
}

static void test_adjust_past_int64_max_is_invalid(void **state)
{
    (void)state;
    int64_t after = -1;
    ss_api_error_t refusal = SS_API_ERROR_COUNT;
    assert_false(ss_rules_stock_adjust(1, INT64_MAX, &after, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_INVALID_REQUEST);
    assert_true(ss_rules_stock_adjust(0, INT64_MAX, &after, &refusal));
    assert_int_equal(after, INT64_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_charge_within_limit_adds_the_amount),
        cmocka_unit_test(test_charge_reaching_the_limit_exactly_is_accepted),
        cmocka_unit_test(test_charge_over_limit_is_refused),
        cmocka_unit_test(test_charge_amount_out_of_range_is_invalid),
        cmocka_unit_test(test_publishable_coupon_with_quantity_left_is_issued),
        cmocka_unit_test(test_coupon_not_publishable_is_not_issuable),
        cmocka_unit_test(test_coupon_at_or_past_expiry_is_expired),
        cmocka_unit_test(test_second_issue_to_a_user_is_already_issued_even_when_sold_out),
        cmocka_unit_test(test_coupon_without_quantity_left_is_sold_out),
        cmocka_unit_test(test_coupon_status_names_round_trip),
        cmocka_unit_test(test_discount_is_floored),
        cmocka_unit_test(test_discount_of_huge_total_does_not_overflow),
        cmocka_unit_test(test_product_status_names_round_trip),
        cmocka_unit_test(test_reserve_within_stock_takes_the_quantity),
        cmocka_unit_test(test_reserve_over_stock_is_insufficient_stock),
        cmocka_unit_test(test_reserve_of_a_product_not_selling_is_refused_before_stock),
        cmocka_unit_test(test_reserve_quantity_out_of_range_is_invalid),
        cmocka_unit_test(test_adjust_adds_and_removes_stock),
        cmocka_unit_test(test_adjust_below_zero_is_insufficient_stock),
        cmocka_unit_test(test_adjust_past_int64_max_is_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

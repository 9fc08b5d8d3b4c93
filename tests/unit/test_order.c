/*
 * Unit tests for the order rules of lib/src/rules.c: line validation, pricing and discount, the
 * PlaceOrder decision with its order of checks, and the saga's state machine (every pair of
 * order status and line reservation against both stock replies), and the saga's deadline
 * (when an unanswered order is asked again and when it fails).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/rules.h"

#include <string.h>

#define FAR_FUTURE_MS INT64_C(4102444800000) /* 2100-01-01 */
#define NOW_MS INT64_C(1767225600000)        /* 2026-01-01 */

/* ---- names ------------------------------------------------------------------------------- */

static void test_order_status_names_round_trip(void **state)
{
    (void)state;
    const ss_order_status_t all[] = {SS_ORDER_PENDING, SS_ORDER_PAID, SS_ORDER_FAILED};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        ss_order_status_t parsed = SS_ORDER_FAILED + 1;
        assert_true(ss_rules_order_status_parse(ss_rules_order_status_name(all[i]), &parsed));
        assert_int_equal(parsed, all[i]);
    }
    assert_string_equal(ss_rules_order_status_name(SS_ORDER_PAID), "PAID");
    ss_order_status_t untouched = SS_ORDER_PAID;
    assert_false(ss_rules_order_status_parse("paid", &untouched));
    assert_false(ss_rules_order_status_parse("", &untouched));
    assert_false(ss_rules_order_status_parse(NULL, &untouched));
    assert_int_equal(untouched, SS_ORDER_PAID);
}

static void test_reservation_names_round_trip(void **state)
{
    (void)state;
    const char *const names[] = {"PENDING", "RESERVED", "REJECTED", "RELEASED"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        ss_order_reservation_t parsed = SS_ORDER_RESERVATION_RELEASED + 1;
        assert_true(ss_rules_order_reservation_parse(names[i], &parsed));
        assert_int_equal(parsed, (ss_order_reservation_t)i);
        assert_string_equal(ss_rules_order_reservation_name(parsed), names[i]);
    }
    ss_order_reservation_t untouched = SS_ORDER_RESERVATION_PENDING;
    assert_false(ss_rules_order_reservation_parse("RESERVE", &untouched));
    assert_false(ss_rules_order_reservation_parse(NULL, &untouched));
    assert_int_equal(untouched, SS_ORDER_RESERVATION_PENDING);
}

/* ---- lines ------------------------------------------------------------------------------- */

static void test_valid_lines_pass(void **state)
{
    (void)state;
    const ss_rules_order_line_t lines[] = {{1, 1}, {2, 1000}, {INT64_MAX, 7}};
    size_t index = 99;
    assert_int_equal(ss_rules_order_lines_check(lines, 3, &index), SS_RULES_ORDER_LINES_OK);
    assert_int_equal(index, 0);
}

static void test_no_line_or_more_than_fifty_lines_is_refused(void **state)
{
    (void)state;
    ss_rules_order_line_t lines[SS_RULES_ORDER_LINES_MAX + 1];
    for (size_t i = 0; i < SS_RULES_ORDER_LINES_MAX + 1; i++) {
        lines[i] = (ss_rules_order_line_t){.product_id = (int64_t)i + 1, .quantity = 1};
    }
    size_t index = 99;
    assert_int_equal(ss_rules_order_lines_check(lines, 0, &index), SS_RULES_ORDER_LINES_COUNT);
    assert_int_equal(index, 0);
    assert_int_equal(ss_rules_order_lines_check(lines, SS_RULES_ORDER_LINES_MAX + 1, &index),
                     SS_RULES_ORDER_LINES_COUNT);
    assert_int_equal(ss_rules_order_lines_check(lines, SS_RULES_ORDER_LINES_MAX, &index),
                     SS_RULES_ORDER_LINES_OK);
}

static void test_product_id_below_one_is_refused_with_its_line(void **state)
{
    (void)state;
    const ss_rules_order_line_t lines[] = {{1, 1}, {0, 1}};
    size_t index = 99;
    assert_int_equal(ss_rules_order_lines_check(lines, 2, &index), SS_RULES_ORDER_LINE_PRODUCT_ID);
    assert_int_equal(index, 1);
    const ss_rules_order_line_t negative[] = {{-5, 1}};
    assert_int_equal(ss_rules_order_lines_check(negative, 1, &index),
                     SS_RULES_ORDER_LINE_PRODUCT_ID);
    assert_int_equal(index, 0);
}

static void test_quantity_outside_one_to_thousand_is_refused_with_its_line(void **state)
{
    (void)state;
    size_t index = 99;
    const ss_rules_order_line_t zero[] = {{1, 1}, {2, 1}, {3, 0}};
    assert_int_equal(ss_rules_order_lines_check(zero, 3, &index), SS_RULES_ORDER_LINE_QUANTITY);
    assert_int_equal(index, 2);
    const ss_rules_order_line_t over[] = {{1, 1001}};
    assert_int_equal(ss_rules_order_lines_check(over, 1, &index), SS_RULES_ORDER_LINE_QUANTITY);
    assert_int_equal(index, 0);
    const ss_rules_order_line_t negative[] = {{1, -1}};
    assert_int_equal(ss_rules_order_lines_check(negative, 1, &index), SS_RULES_ORDER_LINE_QUANTITY);
}

static void test_a_product_named_twice_is_refused_at_the_second_line(void **state)
{
    (void)state;
    const ss_rules_order_line_t lines[] = {{4, 1}, {5, 2}, {6, 3}, {5, 4}};
    size_t index = 99;
    assert_int_equal(ss_rules_order_lines_check(lines, 4, &index), SS_RULES_ORDER_LINE_DUPLICATE);
    assert_int_equal(index, 3);
}

static void test_line_problems_are_reported_in_line_order(void **state)
{
    (void)state;
    /* Line 1 repeats line 0's product, line 2 has a bad quantity: line 1 is reported. */
    const ss_rules_order_line_t lines[] = {{4, 1}, {4, 1}, {6, 0}};
    size_t index = 99;
    assert_int_equal(ss_rules_order_lines_check(lines, 3, &index), SS_RULES_ORDER_LINE_DUPLICATE);
    assert_int_equal(index, 1);
    /* Within one line the product id is checked before the quantity. */
    const ss_rules_order_line_t both[] = {{0, 0}};
    assert_int_equal(ss_rules_order_lines_check(both, 1, &index), SS_RULES_ORDER_LINE_PRODUCT_ID);
}

/* ---- pricing ----------------------------------------------------------------------------- */

static void test_total_is_the_sum_of_price_times_quantity(void **state)
{
    (void)state;
    const ss_rules_order_line_t lines[] = {{1, 3}, {2, 1}, {3, 1000}};
    const int64_t prices[] = {1500, 0, 7};
    ss_rules_order_amounts_t amounts;
    assert_true(ss_rules_order_price(lines, prices, 3, 0, &amounts));
    assert_int_equal(amounts.total, 4500 + 0 + 7000);
    assert_int_equal(amounts.discount, 0);
    assert_int_equal(amounts.paid, 11500);
}

static void test_discount_is_floored_and_paid_is_the_rest(void **state)
{
    (void)state;
    const ss_rules_order_line_t lines[] = {{1, 1}};
    const int64_t prices[] = {999};
    ss_rules_order_amounts_t amounts;
    /* 999 x 0.1234 = 123.2766 -> 123 */
    assert_true(ss_rules_order_price(lines, prices, 1, 1234, &amounts));
    assert_int_equal(amounts.total, 999);
    assert_int_equal(amounts.discount, 123);
    assert_int_equal(amounts.paid, 876);
    /* 100 x 0.29 is exactly 29, which binary floating point would floor to 28. */
    const int64_t hundred[] = {100};
    assert_true(ss_rules_order_price(lines, hundred, 1, 2900, &amounts));
    assert_int_equal(amounts.discount, 29);
    assert_int_equal(amounts.paid, 71);
}

static void test_full_discount_leaves_nothing_to_pay(void **state)
{
    (void)state;
    const ss_rules_order_line_t lines[] = {{1, 2}, {2, 5}};
    const int64_t prices[] = {12345, 3};
    ss_rules_order_amounts_t amounts;
    assert_true(ss_rules_order_price(lines, prices, 2, SS_RULES_RATE_SCALE, &amounts));
    assert_int_equal(amounts.total, 24705);
    assert_int_equal(amounts.discount, 24705);
    assert_int_equal(amounts.paid, 0);
}

static void test_total_above_the_maximum_is_refused_without_overflow(void **state)
{
    (void)state;
    const ss_rules_order_line_t lines[] = {{1, 1000}, {2, 1000}};
    const int64_t exact[] = {SS_RULES_ORDER_TOTAL_MAX / 2000, SS_RULES_ORDER_TOTAL_MAX / 2000};
    ss_rules_order_amounts_t amounts;
    assert_true(ss_rules_order_price(lines, exact, 2, 0, &amounts));
    assert_int_equal(amounts.total, SS_RULES_ORDER_TOTAL_MAX);
    const int64_t one_more[] = {SS_RULES_ORDER_TOTAL_MAX / 2000,
                                SS_RULES_ORDER_TOTAL_MAX / 2000 + 1};
    assert_false(ss_rules_order_price(lines, one_more, 2, 0, &amounts));
    assert_int_equal(amounts.total, 0);
    assert_int_equal(amounts.paid, 0);
    /* A price whose product with the quantity would wrap int64 is refused, not wrapped. */
    const int64_t huge[] = {1, INT64_MAX / 10};
    assert_false(ss_rules_order_price(lines, huge, 2, 5000, &amounts));
}

/* ---- PlaceOrder -------------------------------------------------------------------------- */

typedef struct place_fixture {
    ss_rules_order_line_t lines[3];
    ss_rules_order_product_t products[3];
    ss_rules_order_coupon_t coupon;
    ss_rules_order_place_t place;
} place_fixture_t;

/* A buyer with 100000 won ordering 2 x 10000 + 1 x 5000 with a usable 10% coupon. */
static void place_fixture_init(place_fixture_t *fixture)
{
    memset(fixture, 0, sizeof(*fixture));
    fixture->lines[0] = (ss_rules_order_line_t){.product_id = 11, .quantity = 2};
    fixture->lines[1] = (ss_rules_order_line_t){.product_id = 12, .quantity = 1};
    for (size_t i = 0; i < 2; i++) {
        fixture->products[i] = (ss_rules_order_product_t){
            .found = true, .status = SS_PRODUCT_SELLING, .unit_price = i == 0 ? 10000 : 5000};
    }
    fixture->coupon = (ss_rules_order_coupon_t){.found = true,
                                                .issued = true,
                                                .used = false,
                                                .expired_at_ms = FAR_FUTURE_MS,
                                                .rate_units = 1000};
    fixture->place = (ss_rules_order_place_t){.user_found = true,
                                              .balance = 100000,
                                              .lines = fixture->lines,
                                              .products = fixture->products,
                                              .line_count = 2,
                                              .coupon = &fixture->coupon,
                                              .now_ms = NOW_MS};
}

static ss_api_error_t place_refusal(const place_fixture_t *fixture)
{
    ss_rules_order_amounts_t amounts = {.total = -1, .discount = -1, .paid = -1};
    ss_api_error_t refusal = SS_API_ERROR_COUNT;
    assert_false(ss_rules_order_place(&fixture->place, &amounts, &refusal));
    /* A refused order pays nothing. */
    assert_int_equal(amounts.discount, 0);
    assert_int_equal(amounts.paid, 0);
    return refusal;
}

static void test_order_with_coupon_is_priced_and_accepted(void **state)
{
    (void)state;
    place_fixture_t fixture;
    place_fixture_init(&fixture);
    ss_rules_order_amounts_t amounts;
    ss_api_error_t refusal = SS_API_ERROR_COUNT;
    assert_true(ss_rules_order_place(&fixture.place, &amounts, &refusal));
    assert_int_equal(amounts.total, 25000);
    assert_int_equal(amounts.discount, 2500);
    assert_int_equal(amounts.paid, 22500);
    assert_int_equal(refusal, SS_API_ERROR_COUNT);
}

static void test_order_without_coupon_pays_the_total(void **state)
{
    (void)state;
    place_fixture_t fixture;
    place_fixture_init(&fixture);
    fixture.place.coupon = NULL;
    ss_rules_order_amounts_t amounts;
    ss_api_error_t refusal;
    assert_true(ss_rules_order_place(&fixture.place, &amounts, &refusal));
    assert_int_equal(amounts.total, 25000);
    assert_int_equal(amounts.discount, 0);
    assert_int_equal(amounts.paid, 25000);
}

static void test_unknown_user_is_refused_before_anything_else(void **state)
{
    (void)state;
    place_fixture_t fixture;
    place_fixture_init(&fixture);
    fixture.place.user_found = false;
    fixture.products[0].found = false;
    fixture.coupon.found = false;
    fixture.place.balance = 0;
    assert_int_equal(place_refusal(&fixture), SS_API_ERROR_USER_NOT_FOUND);
}

static void test_unknown_product_is_product_not_found(void **state)
{
    (void)state;
    place_fixture_t fixture;
    place_fixture_init(&fixture);
    fixture.products[1].found = false;
    ss_rules_order_amounts_t amounts;
    ss_api_error_t refusal;
    assert_false(ss_rules_order_place(&fixture.place, &amounts, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_PRODUCT_NOT_FOUND);
    /* The refused order records the lines it could price. */
    assert_int_equal(amounts.total, 20000);
}

static void test_products_are_checked_line_by_line(void **state)
{
    (void)state;
    place_fixture_t fixture;
    place_fixture_init(&fixture);
    fixture.products[0].status = SS_PRODUCT_STOP_SELLING;
    fixture.products[1].found = false;
    assert_int_equal(place_refusal(&fixture), SS_API_ERROR_PRODUCT_NOT_SELLING);
    fixture.products[0] = (ss_rules_order_product_t){.found = false};
    fixture.products[1] =
        (ss_rules_order_product_t){.found = true, .status = SS_PRODUCT_HOLD, .unit_price = 1};
    assert_int_equal(place_refusal(&fixture), SS_API_ERROR_PRODUCT_NOT_FOUND);
}

static void test_product_on_hold_or_stopped_is_not_selling(void **state)
{
    (void)state;
    place_fixture_t fixture;
    place_fixture_init(&fixture);
    fixture.products[1].status = SS_PRODUCT_HOLD;
    assert_int_equal(place_refusal(&fixture), SS_API_ERROR_PRODUCT_NOT_SELLING);
    fixture.products[1].status = SS_PRODUCT_STOP_SELLING;
    assert_int_equal(place_refusal(&fixture), SS_API_ERROR_PRODUCT_NOT_SELLING);
}

static void test_total_over_the_maximum_is_invalid_before_the_coupon(void **state)
{
    (void)state;
    place_fixture_t fixture;
    place_fixture_init(&fixture);
    fixture.products[0].unit_price = SS_RULES_ORDER_TOTAL_MAX;
    fixture.coupon.found = false;
    ss_rules_order_amounts_t amounts;
    ss_api_error_t refusal;
    assert_false(ss_rules_order_place(&fixture.place, &amounts, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_INVALID_REQUEST);
    assert_int_equal(amounts.total, 0);
}

static void test_coupon_that_does_not_exist_is_coupon_not_found(void **state)
{
    (void)state;
    place_fixture_t fixture;
    place_fixture_init(&fixture);
    fixture.coupon = (ss_rules_order_coupon_t){.found = false};
    assert_int_equal(place_refusal(&fixture), SS_API_ERROR_COUPON_NOT_FOUND);
}

static void test_coupon_not_issued_or_used_is_not_usable(void **state)
{
    (void)state;
    place_fixture_t fixture;
    place_fixture_init(&fixture);
    fixture.coupon.issued = false;
    fixture.coupon.expired_at_ms = 0; /* usability is checked before expiry */
    assert_int_equal(place_refusal(&fixture), SS_API_ERROR_COUPON_NOT_USABLE);
    place_fixture_init(&fixture);
    fixture.coupon.used = true;
    assert_int_equal(place_refusal(&fixture), SS_API_ERROR_COUPON_NOT_USABLE);
}

static void test_coupon_at_or_after_its_expiry_is_expired(void **state)
{
    (void)state;
    place_fixture_t fixture;
    place_fixture_init(&fixture);
    fixture.coupon.expired_at_ms = NOW_MS;
    fixture.place.balance = 0; /* the coupon is checked before the balance */
    assert_int_equal(place_refusal(&fixture), SS_API_ERROR_COUPON_EXPIRED);
    fixture.coupon.expired_at_ms = NOW_MS + 1;
    assert_int_equal(place_refusal(&fixture), SS_API_ERROR_INSUFFICIENT_BALANCE);
}

static void test_balance_below_the_amount_to_pay_is_insufficient(void **state)
{
    (void)state;
    place_fixture_t fixture;
    place_fixture_init(&fixture);
    fixture.place.balance = 22499;
    ss_rules_order_amounts_t amounts;
    ss_api_error_t refusal;
    assert_false(ss_rules_order_place(&fixture.place, &amounts, &refusal));
    assert_int_equal(refusal, SS_API_ERROR_INSUFFICIENT_BALANCE);
    assert_int_equal(amounts.total, 25000);
    fixture.place.balance = 22500; /* exactly the discounted amount is enough */
    assert_true(ss_rules_order_place(&fixture.place, &amounts, &refusal));
    assert_int_equal(amounts.paid, 22500);
}

static void test_free_order_needs_no_balance(void **state)
{
    (void)state;
    place_fixture_t fixture;
    place_fixture_init(&fixture);
    fixture.coupon.rate_units = SS_RULES_RATE_SCALE;
    fixture.place.balance = 0;
    ss_rules_order_amounts_t amounts;
    ss_api_error_t refusal;
    assert_true(ss_rules_order_place(&fixture.place, &amounts, &refusal));
    assert_int_equal(amounts.paid, 0);
    assert_int_equal(amounts.discount, 25000);
}

/* ---- the saga's state machine ------------------------------------------------------------ */

typedef struct transition {
    ss_order_status_t status;
    ss_order_reservation_t reservation;
    ss_order_stock_reply_t reply;
    size_t others_unreserved;
    ss_order_status_t status_after;
    ss_order_reservation_t reservation_after;
    ss_order_effect_t effect;
} transition_t;

#define P SS_ORDER_PENDING
#define PAID SS_ORDER_PAID
#define F SS_ORDER_FAILED
#define R_PENDING SS_ORDER_RESERVATION_PENDING
#define R_RESERVED SS_ORDER_RESERVATION_RESERVED
#define R_REJECTED SS_ORDER_RESERVATION_REJECTED
#define R_RELEASED SS_ORDER_RESERVATION_RELEASED
#define OK SS_ORDER_STOCK_RESERVED
#define NO SS_ORDER_STOCK_REJECTED

/* Every (status, reservation, reply), with the "others" count where it matters. */
static const transition_t transitions[] = {
    /* a PENDING order waiting for this line */
    {P, R_PENDING, OK, 0, PAID, R_RESERVED, SS_ORDER_EFFECT_PAY},
    {P, R_PENDING, OK, 1, P, R_RESERVED, SS_ORDER_EFFECT_RECORD},
    {P, R_PENDING, OK, 49, P, R_RESERVED, SS_ORDER_EFFECT_RECORD},
    {P, R_PENDING, NO, 0, F, R_REJECTED, SS_ORDER_EFFECT_FAIL},
    {P, R_PENDING, NO, 3, F, R_REJECTED, SS_ORDER_EFFECT_FAIL},
    /* a PENDING order whose line was answered already: repeats */
    {P, R_RESERVED, OK, 1, P, R_RESERVED, SS_ORDER_EFFECT_NONE},
    {P, R_RESERVED, NO, 1, P, R_RESERVED, SS_ORDER_EFFECT_NONE},
    {P, R_REJECTED, OK, 0, P, R_REJECTED, SS_ORDER_EFFECT_NONE},
    {P, R_REJECTED, NO, 0, P, R_REJECTED, SS_ORDER_EFFECT_NONE},
    {P, R_RELEASED, OK, 0, P, R_RELEASED, SS_ORDER_EFFECT_NONE},
    {P, R_RELEASED, NO, 0, P, R_RELEASED, SS_ORDER_EFFECT_NONE},
    /* a PAID order: every line is RESERVED, so any reply is a repeat */
    {PAID, R_PENDING, OK, 0, PAID, R_PENDING, SS_ORDER_EFFECT_NONE},
    {PAID, R_PENDING, NO, 0, PAID, R_PENDING, SS_ORDER_EFFECT_NONE},
    {PAID, R_RESERVED, OK, 0, PAID, R_RESERVED, SS_ORDER_EFFECT_NONE},
    {PAID, R_RESERVED, NO, 0, PAID, R_RESERVED, SS_ORDER_EFFECT_NONE},
    {PAID, R_REJECTED, OK, 0, PAID, R_REJECTED, SS_ORDER_EFFECT_NONE},
    {PAID, R_REJECTED, NO, 0, PAID, R_REJECTED, SS_ORDER_EFFECT_NONE},
    {PAID, R_RELEASED, OK, 0, PAID, R_RELEASED, SS_ORDER_EFFECT_NONE},
    {PAID, R_RELEASED, NO, 0, PAID, R_RELEASED, SS_ORDER_EFFECT_NONE},
    /* a FAILED order: a late reservation goes back, a late rejection is recorded */
    {F, R_PENDING, OK, 0, F, R_RELEASED, SS_ORDER_EFFECT_RELEASE},
    {F, R_PENDING, OK, 2, F, R_RELEASED, SS_ORDER_EFFECT_RELEASE},
    {F, R_PENDING, NO, 0, F, R_REJECTED, SS_ORDER_EFFECT_RECORD},
    {F, R_RESERVED, OK, 0, F, R_RESERVED, SS_ORDER_EFFECT_NONE},
    {F, R_RESERVED, NO, 0, F, R_RESERVED, SS_ORDER_EFFECT_NONE},
    {F, R_REJECTED, OK, 0, F, R_REJECTED, SS_ORDER_EFFECT_NONE},
    {F, R_REJECTED, NO, 0, F, R_REJECTED, SS_ORDER_EFFECT_NONE},
    {F, R_RELEASED, OK, 0, F, R_RELEASED, SS_ORDER_EFFECT_NONE},
    {F, R_RELEASED, NO, 0, F, R_RELEASED, SS_ORDER_EFFECT_NONE},
};

static void test_every_stock_reply_transition(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]); i++) {
        const transition_t *t = &transitions[i];
        ss_rules_order_step_t step =
            ss_rules_order_stock_reply(t->status, t->reservation, t->reply, t->others_unreserved);
        if (step.status != t->status_after || step.reservation != t->reservation_after ||
            step.effect != t->effect) {
            fail_msg("transition %zu (%s, %s, %s, others %zu): got (%s, %s, effect %d)", i,
                     ss_rules_order_status_name(t->status),
                     ss_rules_order_reservation_name(t->reservation),
                     t->reply == OK ? "RESERVED" : "REJECTED", t->others_unreserved,
                     ss_rules_order_status_name(step.status),
                     ss_rules_order_reservation_name(step.reservation), (int)step.effect);
        }
    }
}

static void test_a_two_line_order_is_paid_by_its_second_reservation(void **state)
{
    (void)state;
    /* Walk the machine the way the worker does, counting the other lines not yet reserved. */
    ss_order_status_t status = SS_ORDER_PENDING;
    ss_order_reservation_t lines[2] = {R_PENDING, R_PENDING};
    ss_rules_order_step_t step = ss_rules_order_stock_reply(status, lines[1], OK, 1);
    status = step.status;
    lines[1] = step.reservation;
    assert_int_equal(step.effect, SS_ORDER_EFFECT_RECORD);
    step = ss_rules_order_stock_reply(status, lines[0], OK, 0);
    assert_int_equal(step.effect, SS_ORDER_EFFECT_PAY);
    assert_int_equal(step.status, SS_ORDER_PAID);
    /* The stock worker repeating its answer changes nothing. */
    step = ss_rules_order_stock_reply(step.status, step.reservation, OK, 0);
    assert_int_equal(step.effect, SS_ORDER_EFFECT_NONE);
}

static void test_failure_releases_only_reserved_lines(void **state)
{
    (void)state;
    bool release = false;
    assert_int_equal(ss_rules_order_line_on_failure(R_RESERVED, &release), R_RELEASED);
    assert_true(release);
    assert_int_equal(ss_rules_order_line_on_failure(R_PENDING, &release), R_PENDING);
    assert_false(release);
    assert_int_equal(ss_rules_order_line_on_failure(R_REJECTED, &release), R_REJECTED);
    assert_false(release);
    assert_int_equal(ss_rules_order_line_on_failure(R_RELEASED, &release), R_RELEASED);
    assert_false(release);
}

/* ---- the saga's deadline ----------------------------------------------------------------- */

static const ss_rules_saga_deadline_t DEADLINE = {
    .reask_interval_ms = 1000, .reasks_max = 2, .deadline_ms = 10000};

static void test_saga_deadline_settings_are_validated(void **state)
{
    (void)state;
    const char *problem = NULL;
    assert_true(ss_rules_saga_deadline_valid(&DEADLINE, &problem));
    assert_null(problem);
    ss_rules_saga_deadline_t settings = DEADLINE;
    settings.reask_interval_ms = 99;
    assert_false(ss_rules_saga_deadline_valid(&settings, &problem));
    assert_non_null(strstr(problem, "re-ask interval"));
    settings = DEADLINE;
    settings.reasks_max = -1;
    assert_false(ss_rules_saga_deadline_valid(&settings, &problem));
    settings.reasks_max = SS_RULES_SAGA_REASKS_MAX + 1;
    assert_false(ss_rules_saga_deadline_valid(&settings, &problem));
    assert_non_null(strstr(problem, "re-asks"));
    settings = DEADLINE;
    settings.deadline_ms = SS_RULES_SAGA_DEADLINE_MAX_MS + 1;
    assert_false(ss_rules_saga_deadline_valid(&settings, &problem));
    assert_non_null(strstr(problem, "deadline"));
    /* A deadline within one interval leaves no room for a re-ask... */
    settings = DEADLINE;
    settings.deadline_ms = settings.reask_interval_ms;
    assert_false(ss_rules_saga_deadline_valid(&settings, &problem));
    assert_non_null(strstr(problem, "longer than the re-ask interval"));
    /* ...which is fine when none is wanted. */
    settings.reasks_max = 0;
    assert_true(ss_rules_saga_deadline_valid(&settings, &problem));
}

static void test_deadline_waits_while_an_interval_has_not_passed(void **state)
{
    (void)state;
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, 0, 0, 0), SS_ORDER_DEADLINE_WAIT);
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, 999, 999, 0), SS_ORDER_DEADLINE_WAIT);
    /* Asked again recently: the interval counts from the last ask, not from the order. */
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, 5000, 10, 1), SS_ORDER_DEADLINE_WAIT);
    /* Even with no re-ask left, the last one gets its full interval. */
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, 5000, 999, 2), SS_ORDER_DEADLINE_WAIT);
}

static void test_deadline_asks_again_after_each_interval_until_the_reasks_are_used(void **state)
{
    (void)state;
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, 1000, 1000, 0), SS_ORDER_DEADLINE_REASK);
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, 2000, 1000, 1), SS_ORDER_DEADLINE_REASK);
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, 3000, 1000, 2), SS_ORDER_DEADLINE_FAIL);
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, 3000, 5000, 7), SS_ORDER_DEADLINE_FAIL);
}

static void test_deadline_fails_at_the_total_deadline_with_reasks_left(void **state)
{
    (void)state;
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, 9999, 0, 0), SS_ORDER_DEADLINE_WAIT);
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, 10000, 0, 0), SS_ORDER_DEADLINE_FAIL);
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, 20000, 1500, 1), SS_ORDER_DEADLINE_FAIL);
}

static void test_deadline_counts_negative_times_as_zero(void **state)
{
    (void)state;
    /* A clock stepped back must not fail or re-ask an order early. */
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, -50000, -50000, 0), SS_ORDER_DEADLINE_WAIT);
    assert_int_equal(ss_rules_order_deadline(&DEADLINE, 1500, -1, 0), SS_ORDER_DEADLINE_WAIT);
}

static void test_deadline_without_reasks_fails_after_one_interval(void **state)
{
    (void)state;
    ss_rules_saga_deadline_t settings = DEADLINE;
    settings.reasks_max = 0;
    assert_int_equal(ss_rules_order_deadline(&settings, 999, 999, 0), SS_ORDER_DEADLINE_WAIT);
    assert_int_equal(ss_rules_order_deadline(&settings, 1000, 1000, 0), SS_ORDER_DEADLINE_FAIL);
}

static void test_deadline_failure_releases_pending_and_reserved_lines(void **state)
{
    (void)state;
    bool release = false;
    assert_int_equal(ss_rules_order_line_on_deadline(R_PENDING, &release), R_RELEASED);
    assert_true(release);
    assert_int_equal(ss_rules_order_line_on_deadline(R_RESERVED, &release), R_RELEASED);
    assert_true(release);
    assert_int_equal(ss_rules_order_line_on_deadline(R_REJECTED, &release), R_REJECTED);
    assert_false(release);
    assert_int_equal(ss_rules_order_line_on_deadline(R_RELEASED, &release), R_RELEASED);
    assert_false(release);
    /* A late reply to a line released at the deadline changes nothing: the release was sent. */
    ss_rules_order_step_t step =
        ss_rules_order_stock_reply(SS_ORDER_FAILED, R_RELEASED, SS_ORDER_STOCK_RESERVED, 0);
    assert_int_equal(step.effect, SS_ORDER_EFFECT_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_status_names_round_trip),
        cmocka_unit_test(test_reservation_names_round_trip),
        cmocka_unit_test(test_valid_lines_pass),
        cmocka_unit_test(test_no_line_or_more_than_fifty_lines_is_refused),
        cmocka_unit_test(test_product_id_below_one_is_refused_with_its_line),
        cmocka_unit_test(test_quantity_outside_one_to_thousand_is_refused_with_its_line),
        cmocka_unit_test(test_a_product_named_twice_is_refused_at_the_second_line),
        cmocka_unit_test(test_line_problems_are_reported_in_line_order),
        cmocka_unit_test(test_total_is_the_sum_of_price_times_quantity),
        cmocka_unit_test(test_discount_is_floored_and_paid_is_the_rest),
        cmocka_unit_test(test_full_discount_leaves_nothing_to_pay),
        cmocka_unit_test(test_total_above_the_maximum_is_refused_without_overflow),
        cmocka_unit_test(test_order_with_coupon_is_priced_and_accepted),
        cmocka_unit_test(test_order_without_coupon_pays_the_total),
        cmocka_unit_test(test_unknown_user_is_refused_before_anything_else),
        cmocka_unit_test(test_unknown_product_is_product_not_found),
        cmocka_unit_test(test_products_are_checked_line_by_line),
        cmocka_unit_test(test_product_on_hold_or_stopped_is_not_selling),
        cmocka_unit_test(test_total_over_the_maximum_is_invalid_before_the_coupon),
        cmocka_unit_test(test_coupon_that_does_not_exist_is_coupon_not_found),
        cmocka_unit_test(test_coupon_not_issued_or_used_is_not_usable),
        cmocka_unit_test(test_coupon_at_or_after_its_expiry_is_expired),
        cmocka_unit_test(test_balance_below_the_amount_to_pay_is_insufficient),
        cmocka_unit_test(test_free_order_needs_no_balance),
        cmocka_unit_test(test_every_stock_reply_transition),
        cmocka_unit_test(test_a_two_line_order_is_paid_by_its_second_reservation),
        cmocka_unit_test(test_failure_releases_only_reserved_lines),
        cmocka_unit_test(test_saga_deadline_settings_are_validated),
        cmocka_unit_test(test_deadline_waits_while_an_interval_has_not_passed),
        cmocka_unit_test(test_deadline_asks_again_after_each_interval_until_the_reasks_are_used),
        cmocka_unit_test(test_deadline_fails_at_the_total_deadline_with_reasks_left),
        cmocka_unit_test(test_deadline_counts_negative_times_as_zero),
        cmocka_unit_test(test_deadline_without_reasks_fails_after_one_interval),
        cmocka_unit_test(test_deadline_failure_releases_pending_and_reserved_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

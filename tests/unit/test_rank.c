/*
 * The pure half of ss/rank.h: key names and event ids, the popular window and key expiry, the
 * daily batch schedule, the top-N merge, the sales of a decoded OrderPaid and the chunking of
 * sales into script calls.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/clock.h"
#include "ss/rank.h"

#include <string.h>

#define ERRSTR_SIZE 256

static int64_t day_of(const char *date)
{
    int64_t day = 0;
    char errstr[ERRSTR_SIZE];
    assert_int_equal(ss_clock_parse_day(date, &day, errstr, sizeof(errstr)), SS_OK);
    return day;
}

static int64_t ms_of(const char *iso8601)
{
    int64_t ms = 0;
    char errstr[ERRSTR_SIZE];
    assert_int_equal(ss_clock_parse_iso8601(iso8601, &ms, errstr, sizeof(errstr)), SS_OK);
    return ms;
}

/* ---- names ------------------------------------------------------------------------------- */

static void test_day_keys_name_the_utc_date(void **state)
{
    (void)state;
    char key[SS_RANK_KEY_SIZE], errstr[ERRSTR_SIZE];
    assert_int_equal(
        ss_rank_sell_key(day_of("2026-11-24"), key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(key, "ss:rank:sell:2026-11-24");
    assert_int_equal(
        ss_rank_seen_key(day_of("2024-02-29"), key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(key, "ss:rank:seen:2024-02-29");
    assert_int_equal(ss_rank_sell_key(0, key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(key, "ss:rank:sell:1970-01-01");
}

static void test_day_key_outside_the_years_or_short_buffer_is_refused(void **state)
{
    (void)state;
    char key[SS_RANK_KEY_SIZE], errstr[ERRSTR_SIZE];
    assert_int_equal(ss_rank_sell_key(-1, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(key, "");
    assert_int_equal(
        ss_rank_seen_key(day_of("9999-12-31") + 1, key, sizeof(key), errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_int_equal(ss_rank_sell_key(0, key, SS_RANK_KEY_SIZE - 1, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
}

static void test_offset_key_names_the_partition(void **state)
{
    (void)state;
    char key[SS_RANK_KEY_SIZE], errstr[ERRSTR_SIZE];
    assert_int_equal(ss_rank_offset_key(3, key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(key, "ss:rank:order-offset:3");
    assert_int_equal(ss_rank_offset_key(INT32_MAX, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_OK);
    assert_string_equal(key, "ss:rank:order-offset:2147483647");
    assert_int_equal(ss_rank_offset_key(-1, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
}

static void test_event_id_is_the_user_workers_format(void **state)
{
    (void)state;
    char id[SS_RANK_EVENT_ID_SIZE], errstr[ERRSTR_SIZE];
    assert_int_equal(ss_rank_event_id(41, 1, id, sizeof(id), errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(id, "order-41-sold-1");
    assert_int_equal(ss_rank_event_id(INT64_MAX, INT64_MAX, id, sizeof(id), errstr, sizeof(errstr)),
                     SS_OK);
    assert_string_equal(id, "order-9223372036854775807-sold-9223372036854775807");
    assert_int_equal(ss_rank_event_id(0, 1, id, sizeof(id), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_rank_event_id(1, -5, id, sizeof(id), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
}

/* ---- window and expiry ------------------------------------------------------------------- */

static void test_window_is_today_and_the_two_days_before(void **state)
{
    (void)state;
    assert_int_equal(ss_rank_window_first_day(day_of("2026-03-01")), day_of("2026-02-27"));
}

static void test_day_keys_expire_eight_days_after_the_day_starts(void **state)
{
    (void)state;
    int64_t day = day_of("2026-11-24");
    assert_int_equal(ss_rank_expire_at_s(day), ms_of("2026-12-02T00:00:00Z") / 1000);
    assert_false(ss_rank_day_expired(day, ms_of("2026-12-01T23:59:59.999Z")));
    assert_true(ss_rank_day_expired(day, ms_of("2026-12-02T00:00:00Z")));
}

/* ---- schedule ---------------------------------------------------------------------------- */

static void test_time_of_day_parses_hh_mm(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    int minute = -1;
    assert_int_equal(ss_rank_time_of_day_parse("00:10", &minute, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(minute, 10);
    assert_int_equal(ss_rank_time_of_day_parse("23:59", &minute, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(minute, 23 * 60 + 59);
    assert_int_equal(ss_rank_time_of_day_parse("00:00", &minute, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(minute, 0);
}

static void test_time_of_day_out_of_range_or_malformed_is_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"24:00", "00:60", "7:00",   "07:0",  "0710",
                                      "07-10", "",      "07:10 ", "a7:10", "07:1x"};
    char errstr[ERRSTR_SIZE];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int minute = -1;
        assert_int_equal(ss_rank_time_of_day_parse(bad[i], &minute, errstr, sizeof(errstr)),
                         SS_ERR_INVALID);
        assert_int_equal(minute, -1);
    }
    int minute = -1;
    assert_int_equal(ss_rank_time_of_day_parse(NULL, &minute, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
}

static void test_next_batch_is_today_before_the_time_and_tomorrow_from_it(void **state)
{
    (void)state;
    int at = 10; /* 00:10 */
    assert_int_equal(ss_rank_batch_next_ms(ms_of("2026-11-24T00:09:59.999Z"), at),
                     ms_of("2026-11-24T00:10:00Z"));
    assert_int_equal(ss_rank_batch_next_ms(ms_of("2026-11-24T00:10:00Z"), at),
                     ms_of("2026-11-25T00:10:00Z"));
    assert_int_equal(ss_rank_batch_next_ms(ms_of("2026-12-31T23:59:00Z"), at),
                     ms_of("2027-01-01T00:10:00Z"));
    assert_int_equal(ss_rank_batch_next_ms(ms_of("2026-11-24T12:00:00Z"), 0),
                     ms_of("2026-11-25T00:00:00Z"));
}

static void test_due_day_is_yesterday_once_the_time_has_come(void **state)
{
    (void)state;
    int at = 10;
    assert_int_equal(ss_rank_batch_due_day(ms_of("2026-11-24T00:09:59Z"), at),
                     day_of("2026-11-22"));
    assert_int_equal(ss_rank_batch_due_day(ms_of("2026-11-24T00:10:00Z"), at),
                     day_of("2026-11-23"));
    assert_int_equal(ss_rank_batch_due_day(ms_of("2026-11-24T23:59:59Z"), at),
                     day_of("2026-11-23"));
    assert_int_equal(ss_rank_batch_due_day(ms_of("2026-11-24T00:00:00Z"), 0), day_of("2026-11-23"));
}

/* ---- top-N ------------------------------------------------------------------------------- */

static void test_top_sums_days_and_orders_by_score_then_id(void **state)
{
    (void)state;
    /* Three days' sets, concatenated in no particular order. */
    ss_rank_score_t scores[] = {
        {7, 5}, {3, 10}, {9, 1}, /* day 1 */
        {3, 2}, {8, 12}, {1, 4}, /* day 2 */
        {7, 7}, {2, 12}, {6, 3}, /* day 3 */
    };
    ss_rank_score_t top[SS_RANK_POPULAR_MAX];
    size_t n = ss_rank_top(scores, sizeof(scores) / sizeof(scores[0]), top, SS_RANK_POPULAR_MAX);
    assert_int_equal(n, 5);
    /* 7: 12, 3: 12, 8: 12, 2: 12 tie on score, so by id; then 1: 4. */
    const int64_t expected_ids[] = {2, 3, 7, 8, 1};
    const int64_t expected_scores[] = {12, 12, 12, 12, 4};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(top[i].product_id, expected_ids[i]);
        assert_int_equal(top[i].score, expected_scores[i]);
    }
}

static void test_top_with_fewer_products_than_places_returns_them_all(void **state)
{
    (void)state;
    ss_rank_score_t scores[] = {{4, 1}, {4, 1}, {5, 3}};
    ss_rank_score_t top[SS_RANK_POPULAR_MAX];
    assert_int_equal(ss_rank_top(scores, 3, top, SS_RANK_POPULAR_MAX), 2);
    assert_int_equal(top[0].product_id, 5);
    assert_int_equal(top[1].product_id, 4);
    assert_int_equal(top[1].score, 2);
    assert_int_equal(ss_rank_top(scores, 0, top, SS_RANK_POPULAR_MAX), 0);
    assert_int_equal(ss_rank_top(scores, 3, top, 0), 0);
}

static void test_top_keeps_the_best_when_a_better_one_comes_last(void **state)
{
    (void)state;
    ss_rank_score_t scores[8];
    for (int i = 0; i < 8; i++) {
        scores[i] = (ss_rank_score_t){.product_id = i + 1, .score = i + 1};
    }
    ss_rank_score_t top[3];
    assert_int_equal(ss_rank_top(scores, 8, top, 3), 3);
    assert_int_equal(top[0].product_id, 8);
    assert_int_equal(top[1].product_id, 7);
    assert_int_equal(top[2].product_id, 6);
}

static void test_top_sum_saturates_instead_of_overflowing(void **state)
{
    (void)state;
    ss_rank_score_t scores[] = {{1, INT64_MAX}, {1, 5}, {2, 1}};
    ss_rank_score_t top[2];
    assert_int_equal(ss_rank_top(scores, 3, top, 2), 2);
    assert_int_equal(top[0].product_id, 1);
    assert_true(top[0].score == INT64_MAX);
}

/* ---- OrderPaid ------------------------------------------------------------------------- */

/* An OrderPaid of order 41 with the lines [product, quantity, ...] (count pairs), as decoded. */
static json_t *order_paid(json_int_t paid_at, const json_int_t *lines, size_t count)
{
    json_t *array = json_array();
    for (size_t i = 0; i < count; i++) {
        json_array_append_new(array,
                              json_pack("{s:I, s:I, s:I}", "product_id", lines[2 * i], "quantity",
                                        lines[2 * i + 1], "unit_price", (json_int_t)1000));
    }
    return json_pack("{s:s, s:I, s:I, s:n, s:I, s:I, s:I, s:o, s:I}", "event_id", "order-41-paid",
                     "order_id", (json_int_t)41, "user_id", (json_int_t)9, "coupon_id",
                     "total_price", (json_int_t)1000, "discount_price", (json_int_t)0,
                     "paid_amount", (json_int_t)1000, "lines", array, "paid_at", paid_at);
}

static void test_order_paid_counts_each_line_for_the_utc_day_of_paid_at(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_rank_sale_t sales[3];
    ss_rank_event_id_t ids[3];
    size_t count = 99;
    const json_int_t lines[] = {7, 3, 8, 1000};
    json_t *late = order_paid(ms_of("2026-11-23T23:59:59.999Z"), lines, 2);
    assert_int_equal(
        ss_rank_sales_from_order_paid(late, sales, ids, 3, &count, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(count, 2);
    assert_string_equal(sales[0].event_id, "order-41-sold-7");
    assert_ptr_equal(sales[0].event_id, ids[0]);
    assert_int_equal(sales[0].product_id, 7);
    assert_int_equal(sales[0].quantity, 3);
    assert_int_equal(sales[0].day, day_of("2026-11-23"));
    assert_string_equal(sales[1].event_id, "order-41-sold-8");
    assert_int_equal(sales[1].quantity, 1000);
    assert_int_equal(sales[1].day, day_of("2026-11-23"));
    json_t *midnight = order_paid(ms_of("2026-11-24T00:00:00Z"), lines, 1);
    assert_int_equal(
        ss_rank_sales_from_order_paid(midnight, sales, ids, 3, &count, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(count, 1);
    assert_int_equal(sales[0].day, day_of("2026-11-24"));
    json_decref(late);
    json_decref(midnight);
}

/* record with field (of the record, or of its first line when line) replaced by value. */
static json_t *order_paid_with(const char *field, bool line, json_t *value)
{
    const json_int_t lines[] = {7, 1};
    json_t *record = order_paid(0, lines, 1);
    json_t *target = line ? json_array_get(json_object_get(record, "lines"), 0) : record;
    json_object_set_new(target, field, value);
    return record;
}

static void test_invalid_order_paid_is_refused_naming_the_field(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_rank_sale_t sales[2];
    ss_rank_event_id_t ids[2];
    const json_int_t three[] = {1, 1, 2, 1, 3, 1};
    struct {
        json_t *record;
        const char *field;
    } cases[] = {
        {order_paid_with("quantity", true, json_integer(0)), "quantity"},
        {order_paid_with("quantity", true, json_integer(1001)), "quantity"},
        {order_paid_with("product_id", true, json_integer(0)), "product_id"},
        {order_paid_with("product_id", true, json_string("7")), "product_id"},
        {order_paid_with("order_id", false, json_integer(0)), "order_id"},
        {order_paid_with("paid_at", false, json_integer(-1)), "paid_at"},
        {order_paid_with("lines", false, json_array()), "lines"},
        {order_paid_with("lines", false, json_string("x")), "lines"},
        {order_paid(0, three, 3), "lines"}, /* more lines than the capacity of 2 */
        {json_string("not a record"), "record"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t count = 99;
        assert_int_equal(ss_rank_sales_from_order_paid(cases[i].record, sales, ids, 2, &count,
                                                       errstr, sizeof(errstr)),
                         SS_ERR_INVALID);
        assert_non_null(strstr(errstr, cases[i].field));
        assert_int_equal(count, 0);
        json_decref(cases[i].record);
    }
}

/* ---- chunks ------------------------------------------------------------------------------ */

static void test_chunk_takes_at_most_the_sales_one_script_may_hold(void **state)
{
    (void)state;
    static ss_rank_sale_t sales[SS_RANK_APPLY_SALES_MAX + 100];
    for (size_t i = 0; i < sizeof(sales) / sizeof(sales[0]); i++) {
        sales[i] = (ss_rank_sale_t){.event_id = "e", .product_id = 1, .quantity = 1, .day = 5};
    }
    assert_int_equal(ss_rank_sales_chunk(sales, 0), 0);
    assert_int_equal(ss_rank_sales_chunk(sales, 7), 7);
    assert_int_equal(ss_rank_sales_chunk(sales, sizeof(sales) / sizeof(sales[0])),
                     SS_RANK_APPLY_SALES_MAX);
}

static void test_chunk_stops_before_one_day_too_many(void **state)
{
    (void)state;
    ss_rank_sale_t sales[2 * SS_RANK_APPLY_DAYS_MAX + 4];
    for (size_t i = 0; i < sizeof(sales) / sizeof(sales[0]); i++) {
        /* Days 0, 1, 0, 2, ... : a repeated day does not count twice. */
        int64_t day = i % 2 == 0 ? 0 : (int64_t)(i / 2 + 1);
        sales[i] = (ss_rank_sale_t){.event_id = "e", .product_id = 1, .quantity = 1, .day = day};
    }
    /* Day 0 and days 1..DAYS_MAX - 1 fit; the first sale of day DAYS_MAX does not. */
    size_t taken = ss_rank_sales_chunk(sales, sizeof(sales) / sizeof(sales[0]));
    assert_int_equal(taken, 2 * (SS_RANK_APPLY_DAYS_MAX - 1) + 1);
    assert_int_equal(sales[taken].day, SS_RANK_APPLY_DAYS_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_day_keys_name_the_utc_date),
        cmocka_unit_test(test_day_key_outside_the_years_or_short_buffer_is_refused),
        cmocka_unit_test(test_offset_key_names_the_partition),
        cmocka_unit_test(test_event_id_is_the_user_workers_format),
        cmocka_unit_test(test_window_is_today_and_the_two_days_before),
        cmocka_unit_test(test_day_keys_expire_eight_days_after_the_day_starts),
        cmocka_unit_test(test_time_of_day_parses_hh_mm),
        cmocka_unit_test(test_time_of_day_out_of_range_or_malformed_is_refused),
        cmocka_unit_test(test_next_batch_is_today_before_the_time_and_tomorrow_from_it),
        cmocka_unit_test(test_due_day_is_yesterday_once_the_time_has_come),
        cmocka_unit_test(test_top_sums_days_and_orders_by_score_then_id),
        cmocka_unit_test(test_top_with_fewer_products_than_places_returns_them_all),
        cmocka_unit_test(test_top_keeps_the_best_when_a_better_one_comes_last),
        cmocka_unit_test(test_top_sum_saturates_instead_of_overflowing),
        cmocka_unit_test(test_order_paid_counts_each_line_for_the_utc_day_of_paid_at),
        cmocka_unit_test(test_invalid_order_paid_is_refused_naming_the_field),
        cmocka_unit_test(test_chunk_takes_at_most_the_sales_one_script_may_hold),
        cmocka_unit_test(test_chunk_stops_before_one_day_too_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

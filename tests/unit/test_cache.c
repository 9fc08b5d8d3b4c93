/*
 * Unit tests for the pure parts of lib/src/cache.c: key names, the overlay value
 * "<version>:<stock>" (formatting and strict parsing) and the page skeleton (round trips, names
 * that JSON must escape, refused encodings). The scripts run against a real Redis in
 * tests/integration/test_cache.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss/cache.h"
#include "ss/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_stock_key_names_the_product(void **state)
{
    (void)state;
    char key[SS_CACHE_KEY_SIZE];
    char errstr[128];
    assert_int_equal(ss_cache_stock_key(42, key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(key, "ss:stock:42");
    assert_int_equal(ss_cache_stock_key(INT64_MAX, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_OK);
    assert_string_equal(key, "ss:stock:9223372036854775807");
}

static void test_stock_key_refuses_ids_below_one_and_small_buffers(void **state)
{
    (void)state;
    char key[SS_CACHE_KEY_SIZE];
    char errstr[128];
    assert_int_equal(ss_cache_stock_key(0, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_cache_stock_key(-5, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_cache_stock_key(1, key, 8, errstr, sizeof(errstr)), SS_ERR_INVALID);
}

static void test_popular_key_is_the_utc_date(void **state)
{
    (void)state;
    char key[SS_CACHE_KEY_SIZE];
    char errstr[128];
    int64_t day = 0;
    assert_int_equal(ss_clock_parse_day("2026-02-28", &day, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_cache_popular_key(day, key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(key, "ss:popular:2026-02-28");
    assert_int_equal(ss_cache_popular_key(-1, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_cache_popular_key(3000000, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
}

static void test_page_key_carries_version_cursor_and_limit(void **state)
{
    (void)state;
    char key[SS_CACHE_KEY_SIZE];
    char errstr[128];
    assert_int_equal(ss_cache_page_key("17", 40, 20, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_OK);
    assert_string_equal(key, "ss:products:page:17:40:20");
    assert_int_equal(ss_cache_page_key("1x", 0, 20, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_cache_page_key("", 0, 20, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_cache_page_key("1", -1, 20, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_cache_page_key("1", 0, 0, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_int_equal(ss_cache_page_key("1", 0, 101, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
}

static void test_stock_value_round_trips(void **state)
{
    (void)state;
    char value[SS_CACHE_VALUE_SIZE];
    char errstr[128];
    assert_int_equal(
        ss_cache_stock_value_format(INT64_MAX, 0, value, sizeof(value), errstr, sizeof(errstr)),
        SS_OK);
    assert_string_equal(value, "9223372036854775807:0");
    int64_t version = -1, stock = -1;
    assert_int_equal(ss_cache_stock_value_parse(value, strlen(value), &version, &stock), SS_OK);
    assert_true(version == INT64_MAX);
    assert_int_equal(stock, 0);
    assert_int_equal(
        ss_cache_stock_value_format(-1, 5, value, sizeof(value), errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_int_equal(
        ss_cache_stock_value_format(1, -5, value, sizeof(value), errstr, sizeof(errstr)),
        SS_ERR_INVALID);
}

static void test_stock_value_parse_reads_only_the_given_length(void **state)
{
    (void)state;
    int64_t version = 0, stock = 0;
    const char text[] = "12:345trailing";
    assert_int_equal(ss_cache_stock_value_parse(text, 6, &version, &stock), SS_OK);
    assert_int_equal(version, 12);
    assert_int_equal(stock, 345);
}

static void test_stock_value_parse_refuses_anything_else(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "",     ":",     "1:",    ":1",
        "1",    "a:1",   "1:b",   "-1:5",
        "1:-5", "1:2:3", " 1:2",  "1:2 ",
        "+1:2", "1::2",  "1.0:2", "99999999999999999999:1", /* overflows int64 */
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        int64_t version = 77, stock = 88;
        if (ss_cache_stock_value_parse(refused[i], strlen(refused[i]), &version, &stock) !=
            SS_ERR_INVALID) {
            fail_msg("'%s' was accepted", refused[i]);
        }
        assert_int_equal(version, 77);
        assert_int_equal(stock, 88);
    }
    int64_t version = 0, stock = 0;
    assert_int_equal(ss_cache_stock_value_parse(NULL, 0, &version, &stock), SS_ERR_INVALID);
}

static void test_page_skeleton_round_trips_names_json_must_escape(void **state)
{
    (void)state;
    const ss_cache_page_item_t items[] = {
        {.product_id = 3, .name = "plain", .price = 0},
        {.product_id = 17, .name = "quote \" backslash \\ newline \n tab \t", .price = 1500},
        {.product_id = 9007199254740993, .name = "\xea\xb0\x80\xeb\x82\x98 unicode", .price = 42},
    };
    char *value = ss_cache_page_encode(items, 3);
    assert_non_null(value);
    assert_true(strncmp(value, "3 17 9007199254740993\n", 22) == 0);
    ss_cache_page_item_t decoded[SS_CACHE_PAGE_ITEMS_MAX];
    size_t count = 0;
    json_t *json = NULL;
    char errstr[256];
    assert_int_equal(ss_cache_page_decode(value, strlen(value), decoded, SS_CACHE_PAGE_ITEMS_MAX,
                                          &count, &json, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_true(decoded[i].product_id == items[i].product_id);
        assert_string_equal(decoded[i].name, items[i].name);
        assert_int_equal(decoded[i].price, items[i].price);
    }
    json_decref(json);
    free(value);
}

static void test_page_skeleton_of_a_full_page_round_trips(void **state)
{
    (void)state;
    ss_cache_page_item_t items[SS_CACHE_PAGE_ITEMS_MAX];
    for (size_t i = 0; i < SS_CACHE_PAGE_ITEMS_MAX; i++) {
        items[i] = (ss_cache_page_item_t){
            .product_id = INT64_MAX - (int64_t)i, .name = "n", .price = (int64_t)i};
    }
    char *value = ss_cache_page_encode(items, SS_CACHE_PAGE_ITEMS_MAX);
    assert_non_null(value);
    ss_cache_page_item_t decoded[SS_CACHE_PAGE_ITEMS_MAX];
    size_t count = 0;
    json_t *json = NULL;
    char errstr[256];
    assert_int_equal(ss_cache_page_decode(value, strlen(value), decoded, SS_CACHE_PAGE_ITEMS_MAX,
                                          &count, &json, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(count, SS_CACHE_PAGE_ITEMS_MAX);
    assert_true(decoded[99].product_id == INT64_MAX - 99);
    json_decref(json);
    /* One slot short: refused rather than truncated. */
    assert_int_equal(ss_cache_page_decode(value, strlen(value), decoded,
                                          SS_CACHE_PAGE_ITEMS_MAX - 1, &count, &json, errstr,
                                          sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_null(json);
    free(value);
}

static void test_page_encode_refuses_invalid_items(void **state)
{
    (void)state;
    ss_cache_page_item_t item = {.product_id = 1, .name = "ok", .price = 1};
    assert_null(ss_cache_page_encode(&item, 0));
    assert_null(ss_cache_page_encode(NULL, 1));
    item.product_id = 0;
    assert_null(ss_cache_page_encode(&item, 1));
    item = (ss_cache_page_item_t){.product_id = 1, .name = "ok", .price = -1};
    assert_null(ss_cache_page_encode(&item, 1));
    item = (ss_cache_page_item_t){.product_id = 1, .name = NULL, .price = 1};
    assert_null(ss_cache_page_encode(&item, 1));
    item = (ss_cache_page_item_t){.product_id = 1, .name = "\xff not utf-8", .price = 1};
    assert_null(ss_cache_page_encode(&item, 1));
}

static void test_page_decode_refuses_malformed_values(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "",
        "1 2",                             /* no newline */
        "\n[]",                            /* no ids */
        "1 2\n[[1,\"a\",1]]",              /* fewer items than ids */
        "1\n[[2,\"a\",1]]",                /* ids disagree */
        "1\n[[1,\"a\",-1]]",               /* negative price */
        "1\n[[1,2,1]]",                    /* name not a string */
        "1\n[[1,\"a\"]]",                  /* item too short */
        "1\n{\"a\":1}",                    /* not an array */
        "1 \n[[1,\"a\",1]]",               /* trailing separator */
        "1  2\n[[1,\"a\",1],[2,\"b\",1]]", /* empty id */
        "0\n[[0,\"a\",1]]",                /* id below one */
        "1\n[[1,\"a\",1]] trailing",       /* garbage after the JSON */
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        ss_cache_page_item_t items[SS_CACHE_PAGE_ITEMS_MAX];
        size_t count = 99;
        json_t *json = NULL;
        char errstr[256];
        if (ss_cache_page_decode(refused[i], strlen(refused[i]), items, SS_CACHE_PAGE_ITEMS_MAX,
                                 &count, &json, errstr, sizeof(errstr)) != SS_ERR_INVALID) {
            fail_msg("'%s' was accepted", refused[i]);
        }
        assert_null(json);
        assert_int_equal(count, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stock_key_names_the_product),
        cmocka_unit_test(test_stock_key_refuses_ids_below_one_and_small_buffers),
        cmocka_unit_test(test_popular_key_is_the_utc_date),
        cmocka_unit_test(test_page_key_carries_version_cursor_and_limit),
        cmocka_unit_test(test_stock_value_round_trips),
        cmocka_unit_test(test_stock_value_parse_reads_only_the_given_length),
        cmocka_unit_test(test_stock_value_parse_refuses_anything_else),
        cmocka_unit_test(test_page_skeleton_round_trips_names_json_must_escape),
        cmocka_unit_test(test_page_skeleton_of_a_full_page_round_trips),
        cmocka_unit_test(test_page_encode_refuses_invalid_items),
        cmocka_unit_test(test_page_decode_refuses_malformed_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * GET /api/v1/products/popular against the real PostgreSQL and a Redis of the test's own (so
 * that it can lose its data and be killed without touching anyone else's), through an
 * ss-ingress of this test (instance 2).
 *
 * The test writes PAID orders straight into PostgreSQL, with quantities far above what other
 * runs sell, so that its products are the top 5 whatever else happens meanwhile, and checks the
 * endpoint against a direct SQL aggregation: with a Redis that has no ranking yet (the missing
 * days are rebuilt from PostgreSQL, never answered empty), after live sales counted the way the
 * rank worker counts them (ss_rank_sales_apply) once the 2 s answer is gone, ties broken by the
 * smaller product id, sales older than the window left out, with Redis killed (aggregated by
 * PostgreSQL) and with Redis back but empty (rebuilt again). Its orders are deleted at the end.
 * Last, a ranking written straight into Redis whose winner is in no day's top 64 checks that
 * reading the days from the top down (the threshold algorithm) goes deep enough.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_private_redis.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include "ss/cache.h"
#include "ss/clock.h"
#include "ss/rank.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRODUCTS 7
#define LINE_QUANTITY 1000
#define OUTAGE_READS 10
/* Waiting for the ingress to use Redis again after its rest: every 300 ms, at most this often. */
#define RECOVERY_POLLS_MAX 50
#define RECOVERY_POLL_US 300000
/* Sales applied per ss_rank_sales_apply() call. */
#define APPLY_CHUNK SS_RANK_APPLY_SALES_MAX
#define ORDERS_READ_MAX 2000

static ss_test_private_redis_t private_redis;
static ss_test_services_t services;
static int64_t user_id;
static int64_t products[PRODUCTS];
static char marker[96]; /* orders.request_id of every order this test writes */

/* Orders of product_id: count orders of one line of LINE_QUANTITY units, paid days_ago days ago. */
static void paid_orders_insert(int64_t product_id, int count, int days_ago)
{
    char user[24], product[24], count_text[16], days[16], quantity[16];
    snprintf(user, sizeof(user), "%" PRId64, user_id);
    snprintf(product, sizeof(product), "%" PRId64, product_id);
    snprintf(count_text, sizeof(count_text), "%d", count);
    snprintf(days, sizeof(days), "%d", days_ago);
    snprintf(quantity, sizeof(quantity), "%d", LINE_QUANTITY);
    const char *params[] = {user, marker, count_text, product, days, quantity};
    ss_test_pg_exec(services.pg,
                    "WITH o AS (INSERT INTO orders (id, user_id, status, total_price, paid_amount,"
                    " request_id, paid_at) SELECT nextval('orders_id_seq'), $1::bigint, 'PAID',"
                    " 0, 0, $2, now() - $5::int * interval '1 day'"
                    " FROM generate_series(1, $3::int) RETURNING id)"
                    " INSERT INTO order_items (order_id, product_id, quantity, unit_price,"
                    " reservation) SELECT id, $4::bigint, $6::int, 0, 'RESERVED' FROM o",
                    6, params);
}

static int setup(void **state)
{
    (void)state;
    ss_test_private_redis_start(&private_redis);
    const char *environment[] = {private_redis.env, NULL};
    ss_test_services_config_t config = {
        .instance = 2, .port = 18193, .ingress_environment = environment};
    ss_test_services_start(&services, &config);
    snprintf(marker, sizeof(marker), "test_popular-%s", ss_test_run_id());
    user_id = ss_test_user_create(services.pg, marker);
    for (int i = 0; i < PRODUCTS; i++) {
        char name[128], price[16];
        snprintf(name, sizeof(name), "popular-%d-%s", i, ss_test_run_id());
        snprintf(price, sizeof(price), "%d", 100 * (i + 1));
        const char *params[] = {name, price};
        products[i] = ss_test_pg_scalar(services.pg,
                                        "INSERT INTO products (name, price, stock) VALUES ($1,"
                                        " $2::bigint, 0) RETURNING id",
                                        2, params);
    }
    /*
     * Units in the window: p0 500k, p1 and p2 400k each (a tie: p1 has the smaller id), p3 300k,
     * p4 200k, p5 100k (sixth: left out). p6 sold 900k four days ago, outside the window.
     */
    paid_orders_insert(products[0], 200, 0);
    paid_orders_insert(products[0], 200, 1);
    paid_orders_insert(products[0], 100, 2);
    paid_orders_insert(products[2], 400, 1);
    paid_orders_insert(products[1], 150, 0);
    paid_orders_insert(products[1], 250, 2);
    paid_orders_insert(products[3], 300, 0);
    paid_orders_insert(products[4], 200, 2);
    paid_orders_insert(products[5], 100, 1);
    paid_orders_insert(products[6], 900, 4);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *params[] = {marker};
    ss_test_pg_exec(services.pg,
                    "DELETE FROM order_items WHERE order_id IN (SELECT id FROM orders WHERE"
                    " request_id = $1)",
                    1, params);
    ss_test_pg_exec(services.pg, "DELETE FROM orders WHERE request_id = $1", 1, params);
    ss_test_services_stop(&services);
    ss_test_private_redis_stop(&private_redis, SIGTERM);
    return 0;
}

/* ---- the two answers ------------------------------------------------------------------------ */

typedef struct ranked {
    int64_t id;
    char name[128];
    int64_t price;
    int64_t sale_count;
} ranked_t;

/* The top 5 straight from the rows, written independently of the endpoint's SQL. */
static size_t sql_top(ranked_t *top)
{
    PGresult *rows = NULL;
    char errstr[512];
    if (ss_pg_query(services.pg, NULL,
                    "SELECT p.id, p.name, p.price, sum(oi.quantity)::bigint AS units"
                    " FROM order_items oi JOIN orders o ON o.id = oi.order_id"
                    " JOIN products p ON p.id = oi.product_id"
                    " WHERE o.status = 'PAID' AND o.paid_at >= date_trunc('day', now() AT TIME"
                    " ZONE 'UTC') AT TIME ZONE 'UTC' - interval '2 days'"
                    " GROUP BY p.id, p.name, p.price ORDER BY units DESC, p.id LIMIT 5",
                    0, NULL, &rows, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("top 5 by sql: %s", errstr);
    }
    size_t count = (size_t)PQntuples(rows);
    for (size_t i = 0; i < count; i++) {
        top[i].id = strtoll(PQgetvalue(rows, (int)i, 0), NULL, 10);
        snprintf(top[i].name, sizeof(top[i].name), "%s", PQgetvalue(rows, (int)i, 1));
        top[i].price = strtoll(PQgetvalue(rows, (int)i, 2), NULL, 10);
        top[i].sale_count = strtoll(PQgetvalue(rows, (int)i, 3), NULL, 10);
    }
    PQclear(rows);
    return count;
}

/* GET /products/popular, checked against sql_top(); returns the answer's length. */
static size_t popular_agrees_with_sql(void)
{
    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/products/popular");
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    json_t *answer = json_object_get(data, "products");
    assert_true(json_is_array(answer));
    ranked_t expected[5];
    size_t count = sql_top(expected);
    assert_int_equal(json_array_size(answer), count);
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get(answer, i);
        assert_int_equal(json_object_size(item), 4);
        assert_int_equal(ss_test_json_int(item, "id"), expected[i].id);
        assert_string_equal(ss_test_json_string(item, "name"), expected[i].name);
        assert_int_equal(ss_test_json_int(item, "price"), expected[i].price);
        assert_int_equal(ss_test_json_int(item, "saleCount"), expected[i].sale_count);
    }
    ss_test_http_reply_free(&reply);
    return count;
}

/* The ids of the endpoint's answer, in order. */
static void popular_ids(int64_t *ids, size_t *count)
{
    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/products/popular");
    json_t *answer = json_object_get(ss_test_http_expect(&reply, 200, NULL), "products");
    *count = json_array_size(answer);
    for (size_t i = 0; i < *count; i++) {
        ids[i] = ss_test_json_int(json_array_get(answer, i), "id");
    }
    ss_test_http_reply_free(&reply);
}

/* How many of the window's day keys the private Redis holds. */
static int day_keys_present(void)
{
    ss_redis_t *redis = ss_test_private_redis_connect(&private_redis);
    int64_t today = ss_clock_day_from_ms(ss_clock_now_ms());
    int present = 0;
    for (int64_t day = ss_rank_window_first_day(today); day <= today; day++) {
        char key[SS_RANK_KEY_SIZE], errstr[256];
        assert_int_equal(ss_rank_sell_key(day, key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
        const char *argv[] = {"EXISTS", key};
        redisReply *reply = NULL;
        assert_int_equal(
            ss_redis_command_argv(redis, 2, argv, NULL, &reply, errstr, sizeof(errstr)), SS_OK);
        present += reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
        freeReplyObject(reply);
    }
    ss_redis_destroy(redis);
    return present;
}

/* Drops the cached answer, so the next request computes it (instead of waiting 2 s). */
static void cached_answer_drop(void)
{
    ss_redis_t *redis = ss_test_private_redis_connect(&private_redis);
    char key[SS_CACHE_KEY_SIZE], errstr[256];
    assert_int_equal(ss_cache_popular_key(ss_clock_day_from_ms(ss_clock_now_ms()), key, sizeof(key),
                                          errstr, sizeof(errstr)),
                     SS_OK);
    const char *argv[] = {"DEL", key};
    assert_int_equal(ss_redis_command_argv(redis, 2, argv, NULL, NULL, errstr, sizeof(errstr)),
                     SS_OK);
    ss_redis_destroy(redis);
}

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_a_redis_without_ranking_is_rebuilt_and_agrees_with_sql(void **state)
{
    (void)state;
    assert_int_equal(day_keys_present(), 0);
    assert_int_equal(popular_agrees_with_sql(), 5);
    assert_int_equal(day_keys_present(), SS_RANK_WINDOW_DAYS);
    int64_t ids[5];
    size_t count = 0;
    popular_ids(ids, &count);
    assert_int_equal(count, 5);
    assert_int_equal(ids[0], products[0]);
    assert_int_equal(ids[4], products[4]);
}

static void test_equal_sales_are_ordered_by_the_smaller_product_id(void **state)
{
    (void)state;
    int64_t ids[5];
    size_t count = 0;
    popular_ids(ids, &count);
    assert_int_equal(count, 5);
    assert_true(products[1] < products[2]);
    assert_int_equal(ids[1], products[1]);
    assert_int_equal(ids[2], products[2]);
}

static void test_live_sales_show_once_the_cached_answer_is_gone(void **state)
{
    (void)state;
    /* p5 sells 350k more today: 450k, second place. */
    paid_orders_insert(products[5], 350, 0);
    char product[24];
    snprintf(product, sizeof(product), "%" PRId64, products[5]);
    const char *params[] = {marker, product};
    PGresult *rows = NULL;
    char errstr[512];
    assert_int_equal(ss_pg_query(services.pg, NULL,
                                 "SELECT o.id, floor(extract(epoch FROM o.paid_at) * 1000)::bigint"
                                 " FROM orders o JOIN order_items oi ON oi.order_id = o.id"
                                 " WHERE o.request_id = $1 AND oi.product_id = $2::bigint"
                                 " AND o.paid_at > now() - interval '1 hour' ORDER BY o.id",
                                 2, params, &rows, errstr, sizeof(errstr)),
                     SS_OK);
    size_t count = (size_t)PQntuples(rows);
    assert_int_equal(count, 350);
    static char event_ids[ORDERS_READ_MAX][SS_RANK_EVENT_ID_SIZE];
    static ss_rank_sale_t sales[ORDERS_READ_MAX];
    for (size_t i = 0; i < count; i++) {
        int64_t order_id = strtoll(PQgetvalue(rows, (int)i, 0), NULL, 10);
        int64_t paid_ms = strtoll(PQgetvalue(rows, (int)i, 1), NULL, 10);
        assert_int_equal(ss_rank_event_id(order_id, products[5], event_ids[i], sizeof(event_ids[i]),
                                          errstr, sizeof(errstr)),
                         SS_OK);
        sales[i] = (ss_rank_sale_t){.event_id = event_ids[i],
                                    .product_id = products[5],
                                    .quantity = LINE_QUANTITY,
                                    .day = ss_clock_day_from_ms(paid_ms)};
    }
    PQclear(rows);
    ss_redis_t *redis = ss_test_private_redis_connect(&private_redis);
    for (size_t done = 0; done < count; done += APPLY_CHUNK) {
        size_t chunk = count - done < APPLY_CHUNK ? count - done : APPLY_CHUNK;
        size_t counted = 0;
        assert_int_equal(ss_rank_sales_apply(redis, sales + done, chunk, NULL, ss_clock_now_ms(),
                                             &counted, errstr, sizeof(errstr)),
                         SS_OK);
        assert_int_equal(counted, chunk);
    }
    ss_redis_destroy(redis);

    cached_answer_drop();
    assert_int_equal(popular_agrees_with_sql(), 5);
    int64_t ids[5];
    popular_ids(ids, &count);
    assert_int_equal(ids[1], products[5]);
}

static void test_sales_before_the_window_are_left_out(void **state)
{
    (void)state;
    int64_t ids[5];
    size_t count = 0;
    popular_ids(ids, &count);
    for (size_t i = 0; i < count; i++) {
        assert_true(ids[i] != products[6]);
    }
}

static void test_redis_stopped_popular_answers_from_postgresql(void **state)
{
    (void)state;
    ss_test_private_redis_stop(&private_redis, SIGKILL);
    for (int i = 0; i < OUTAGE_READS; i++) {
        assert_int_equal(popular_agrees_with_sql(), 5);
    }
}

static void test_redis_back_but_empty_is_rebuilt_never_answered_empty(void **state)
{
    (void)state;
    ss_test_private_redis_start(&private_redis);
    assert_int_equal(day_keys_present(), 0);
    /* Until the ingress's rest after the failure ends, PostgreSQL answers; then Redis, rebuilt. */
    for (int poll = 0; poll < RECOVERY_POLLS_MAX && day_keys_present() == 0; poll++) {
        assert_int_equal(popular_agrees_with_sql(), 5);
        usleep(RECOVERY_POLL_US);
    }
    assert_int_equal(popular_agrees_with_sql(), 5);
    assert_int_equal(day_keys_present(), SS_RANK_WINDOW_DAYS);
}

/* ---- reading from the top down ------------------------------------------------------------ */

#define DEEP_PER_DAY 100

static void zadd(ss_redis_t *redis, const char *key, int64_t score, int64_t product_id)
{
    char score_text[24], member[24], errstr[256];
    snprintf(score_text, sizeof(score_text), "%" PRId64, score);
    snprintf(member, sizeof(member), "%" PRId64, product_id);
    const char *argv[] = {"ZADD", key, score_text, member};
    assert_int_equal(ss_redis_command_argv(redis, 4, argv, NULL, NULL, errstr, sizeof(errstr)),
                     SS_OK);
}

static void test_a_winner_in_no_days_top_is_still_found(void **state)
{
    (void)state;
    /* 100 products of 10 units on each day, and one of 9 units on every day (27 in all). */
    static int64_t ids[SS_RANK_WINDOW_DAYS * DEEP_PER_DAY + 1];
    size_t count = sizeof(ids) / sizeof(ids[0]);
    for (size_t i = 0; i < count; i++) {
        char name[128];
        snprintf(name, sizeof(name), "popular-deep-%zu-%s", i, ss_test_run_id());
        const char *params[] = {name};
        ids[i] = ss_test_pg_scalar(services.pg,
                                   "INSERT INTO products (name, price, stock) VALUES ($1, 7, 0)"
                                   " RETURNING id",
                                   1, params);
    }
    int64_t winner = ids[count - 1];
    ss_redis_t *redis = ss_test_private_redis_connect(&private_redis);
    char errstr[256];
    const char *flush[] = {"FLUSHDB"};
    assert_int_equal(ss_redis_command_argv(redis, 1, flush, NULL, NULL, errstr, sizeof(errstr)),
                     SS_OK);
    int64_t today = ss_clock_day_from_ms(ss_clock_now_ms());
    for (int d = 0; d < SS_RANK_WINDOW_DAYS; d++) {
        char key[SS_RANK_KEY_SIZE];
        assert_int_equal(ss_rank_sell_key(ss_rank_window_first_day(today) + d, key, sizeof(key),
                                          errstr, sizeof(errstr)),
                         SS_OK);
        for (size_t i = 0; i < DEEP_PER_DAY; i++) {
            zadd(redis, key, 10, ids[(size_t)d * DEEP_PER_DAY + i]);
        }
        zadd(redis, key, 9, winner);
    }
    ss_redis_destroy(redis);

    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/products/popular");
    json_t *answer = json_object_get(ss_test_http_expect(&reply, 200, NULL), "products");
    assert_int_equal(json_array_size(answer), 5);
    assert_int_equal(ss_test_json_int(json_array_get(answer, 0), "id"), winner);
    assert_int_equal(ss_test_json_int(json_array_get(answer, 0), "saleCount"), 27);
    /* Then the smallest ids among the 300 products of 10. */
    for (size_t i = 1; i < 5; i++) {
        assert_int_equal(ss_test_json_int(json_array_get(answer, i), "id"), ids[i - 1]);
        assert_int_equal(ss_test_json_int(json_array_get(answer, i), "saleCount"), 10);
    }
    ss_test_http_reply_free(&reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_redis_without_ranking_is_rebuilt_and_agrees_with_sql),
        cmocka_unit_test(test_equal_sales_are_ordered_by_the_smaller_product_id),
        cmocka_unit_test(test_live_sales_show_once_the_cached_answer_is_gone),
        cmocka_unit_test(test_sales_before_the_window_are_left_out),
        cmocka_unit_test(test_redis_stopped_popular_answers_from_postgresql),
        cmocka_unit_test(test_redis_back_but_empty_is_rebuilt_never_answered_empty),
        cmocka_unit_test(test_a_winner_in_no_days_top_is_still_found),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * The product list's Redis cache against the real stack (docs/reports/caching.md): an
 * ss-ingress of this test (instance 1) with a user worker and a stock worker, the stack's Redis
 * for the normal path, and a Redis of the test's own for the outage.
 *
 * Covers the overlay's compare-and-set (an older version never replaces a newer one), the page
 * lookup script (skeleton and overlay entries in one call, a catalogue bump hiding the
 * skeleton), a product's stock read right after each of several paid orders reflecting that
 * order although the page and the entry were cached before it, a product put on HOLD leaving
 * a cached page at once and coming back with SELLING, a new product showing at once, and with
 * Redis killed (and restarted empty) the list still answering what PostgreSQL holds.
 *
 * Other runs share the database and the stack's Redis, so the test only checks its own products
 * and keys, and starts each page walk just before its first product.
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

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE_LIMIT 5
#define PAGE_PRODUCTS (PAGE_LIMIT + 1) /* one more than a page: the page has a next one */
#define PRODUCT_PRICE 100
#define PRODUCT_STOCK 1000
#define ORDER_ROUNDS 6
#define USER_BALANCE 1000000
/* Waiting for the ingress to use a restarted Redis again: every 100 ms, at most this often. */
#define RECOVERY_POLLS_MAX 100
#define RECOVERY_POLL_US 100000
#define OUTAGE_READS 20

static ss_test_services_t services;
static ss_redis_t *redis;

static int setup(void **state)
{
    (void)state;
    ss_test_services_config_t config = {.instance = 1, .port = 18191, .request_deadline_ms = 30000};
    config.workers[SS_TEST_SERVICE_USER] = 1;
    config.workers[SS_TEST_SERVICE_STOCK] = 1;
    ss_test_services_start(&services, &config);
    char errstr[256];
    if (ss_redis_connect(ss_test_redis_url(), 2000, &redis, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("could not connect to the stack's redis: %s", errstr);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ss_redis_destroy(redis);
    ss_test_services_stop(&services);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------- */

/* Product ids no real product will have, for the script tests. */
static int64_t fake_id(int64_t offset)
{
    return INT64_C(8000000000000000000) + (ss_clock_now_ms() % INT64_C(1000000000)) * 1000 + offset;
}

/* GET key on conn: the value, or "" when absent. */
static void redis_get(ss_redis_t *conn, const char *key, char *out, size_t out_size)
{
    const char *argv[] = {"GET", key};
    redisReply *reply = NULL;
    char errstr[256];
    if (ss_redis_command_argv(conn, 2, argv, NULL, &reply, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("GET %s: %s", key, errstr);
    }
    out[0] = '\0';
    if (reply->type == REDIS_REPLY_STRING) {
        snprintf(out, out_size, "%.*s", (int)reply->len, reply->str);
    }
    freeReplyObject(reply);
}

static void redis_del(ss_redis_t *conn, const char *key)
{
    const char *argv[] = {"DEL", key};
    char errstr[256];
    if (ss_redis_command_argv(conn, 2, argv, NULL, NULL, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("DEL %s: %s", key, errstr);
    }
}

/* The overlay entry of product_id on conn; false when there is none. */
static bool overlay_entry(ss_redis_t *conn, int64_t product_id, int64_t *version, int64_t *stock)
{
    char key[SS_CACHE_KEY_SIZE], value[SS_CACHE_VALUE_SIZE + 16], errstr[128];
    assert_int_equal(ss_cache_stock_key(product_id, key, sizeof(key), errstr, sizeof(errstr)),
                     SS_OK);
    redis_get(conn, key, value, sizeof(value));
    if (value[0] == '\0') {
        return false;
    }
    assert_int_equal(ss_cache_stock_value_parse(value, strlen(value), version, stock), SS_OK);
    return true;
}

static void overlay_write(ss_redis_t *conn, int64_t product_id, int64_t version, int64_t stock,
                          size_t expected_replaced)
{
    ss_cache_stock_t entry = {.product_id = product_id, .version = version, .stock = stock};
    size_t replaced = 99;
    char errstr[256];
    if (ss_cache_stock_write(conn, &entry, 1, &replaced, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("overlay write: %s", errstr);
    }
    assert_int_equal(replaced, expected_replaced);
}

static int64_t pg_scalar_id(const char *sql, int64_t id)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, id);
    const char *params[] = {text};
    return ss_test_pg_scalar(services.pg, sql, 1, params);
}

/* Admin-created SELLING products, consecutive as far as other runs let them be. */
static void products_create(int64_t *ids, size_t count, const char *what)
{
    char name[128];
    for (size_t i = 0; i < count; i++) {
        snprintf(name, sizeof(name), "%s-%zu-%s", what, i, ss_test_run_id());
        ids[i] =
            ss_test_http_product_create(services.http, name, PRODUCT_PRICE, PRODUCT_STOCK, NULL);
    }
}

/* GET /products?cursor&limit through http; the data object is the reply's. */
static json_t *page_get(ss_test_http_t *http, ss_test_http_reply_t *reply, int64_t cursor)
{
    ss_test_http_get(http, reply, "/api/v1/products?cursor=%" PRId64 "&limit=%d", cursor,
                     PAGE_LIMIT);
    json_t *data = ss_test_http_expect(reply, 200, NULL);
    assert_true(json_is_array(json_object_get(data, "products")));
    return data;
}

/* The item of product_id in a page's data, or NULL. */
static json_t *page_item(json_t *data, int64_t product_id)
{
    json_t *products = json_object_get(data, "products");
    for (size_t i = 0; i < json_array_size(products); i++) {
        json_t *item = json_array_get(products, i);
        if (ss_test_json_int(item, "id") == product_id) {
            return item;
        }
    }
    return NULL;
}

/* The stock the page starting after cursor shows for product_id (-1: not listed). */
static int64_t listed_stock(ss_test_http_t *http, int64_t cursor, int64_t product_id)
{
    ss_test_http_reply_t reply;
    json_t *item = page_item(page_get(http, &reply, cursor), product_id);
    int64_t stock = item != NULL ? ss_test_json_int(item, "stock") : -1;
    ss_test_http_reply_free(&reply);
    return stock;
}

/* Checks that each product of ids listed on the page after cursor shows PostgreSQL's row. */
static void page_matches_postgres(ss_test_http_t *http, int64_t cursor, const int64_t *ids,
                                  size_t count)
{
    ss_test_http_reply_t reply;
    json_t *data = page_get(http, &reply, cursor);
    size_t listed = 0;
    for (size_t i = 0; i < count; i++) {
        json_t *item = page_item(data, ids[i]);
        if (item == NULL) {
            continue;
        }
        listed++;
        assert_int_equal(ss_test_json_int(item, "stock"),
                         pg_scalar_id("SELECT stock FROM products WHERE id = $1", ids[i]));
        assert_int_equal(ss_test_json_int(item, "price"),
                         pg_scalar_id("SELECT price FROM products WHERE id = $1", ids[i]));
    }
    assert_true(listed >= 1); /* the first product follows the cursor: always listed */
    ss_test_http_reply_free(&reply);
}

static void charge(int64_t user_id, int64_t amount)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"amount\":%" PRId64 "}", amount);
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, "POST", body, "/api/v1/users/%" PRId64 "/balance/charge",
                              user_id);
    ss_test_http_reply_t reply;
    ss_test_services_send(&services, &request, &reply);
    ss_test_http_expect(&reply, 200, NULL);
    ss_test_http_reply_free(&reply);
}

static void order_paid(int64_t user_id, int64_t product_id, int64_t quantity)
{
    char body[256];
    snprintf(body, sizeof(body),
             "{\"userId\":%" PRId64 ",\"products\":[{\"id\":%" PRId64 ",\"quantity\":%" PRId64
             "}]}",
             user_id, product_id, quantity);
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, "POST", body, "/api/v1/orders");
    ss_test_http_reply_t reply;
    ss_test_services_send(&services, &request, &reply);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_string_equal(ss_test_json_string(data, "status"), "PAID");
    ss_test_http_reply_free(&reply);
}

static void product_patch(int64_t product_id, const char *body)
{
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, "PATCH", body, "/api/v1/admin/products/%" PRId64,
                              product_id);
    request.headers[0] = ss_test_http_admin_header(services.http);
    ss_test_http_reply_t reply;
    ss_test_services_send(&services, &request, &reply);
    ss_test_http_expect(&reply, 200, NULL);
    ss_test_http_reply_free(&reply);
}

/* ---- the scripts ----------------------------------------------------------------------------- */

static void test_overlay_never_goes_back_to_an_older_version(void **state)
{
    (void)state;
    int64_t id = fake_id(1);
    overlay_write(redis, id, 5, 10, 1);
    overlay_write(redis, id, 3, 99, 0); /* a slow reader's fill, or a fenced worker */
    int64_t version = 0, stock = 0;
    assert_true(overlay_entry(redis, id, &version, &stock));
    assert_int_equal(version, 5);
    assert_int_equal(stock, 10);
    overlay_write(redis, id, 5, 10, 1); /* the same version again renews the entry */
    overlay_write(redis, id, 6, 7, 1);
    assert_true(overlay_entry(redis, id, &version, &stock));
    assert_int_equal(version, 6);
    assert_int_equal(stock, 7);

    char key[SS_CACHE_KEY_SIZE], errstr[256];
    assert_int_equal(ss_cache_stock_key(id, key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
    const char *argv[] = {"PTTL", key};
    redisReply *reply = NULL;
    assert_int_equal(ss_redis_command_argv(redis, 2, argv, NULL, &reply, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
    assert_true(reply->integer > 0 && reply->integer <= SS_CACHE_STOCK_TTL_MS);
    freeReplyObject(reply);
    redis_del(redis, key);
}

static void test_overlay_writes_more_entries_than_one_script_call_takes(void **state)
{
    (void)state;
    enum { entries_count = 2 * SS_CACHE_STOCK_WRITE_CHUNK + 7 };
    static ss_cache_stock_t entries[entries_count];
    int64_t first = fake_id(1000);
    for (size_t i = 0; i < entries_count; i++) {
        entries[i] =
            (ss_cache_stock_t){.product_id = first + (int64_t)i, .version = 1, .stock = (int64_t)i};
    }
    size_t replaced = 0;
    char errstr[256];
    assert_int_equal(
        ss_cache_stock_write(redis, entries, entries_count, &replaced, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(replaced, entries_count);
    int64_t version = 0, stock = 0;
    assert_true(overlay_entry(redis, first + entries_count - 1, &version, &stock));
    assert_int_equal(stock, entries_count - 1);
    for (size_t i = 0; i < entries_count; i++) {
        char key[SS_CACHE_KEY_SIZE];
        assert_int_equal(
            ss_cache_stock_key(entries[i].product_id, key, sizeof(key), errstr, sizeof(errstr)),
            SS_OK);
        redis_del(redis, key);
    }
}

static void test_page_lookup_reads_skeleton_and_overlay_in_one_call(void **state)
{
    (void)state;
    /* A cursor no client asks for, so this skeleton is the test's alone. */
    int64_t cursor = fake_id(2000);
    ss_cache_page_item_t items[3];
    for (int64_t i = 0; i < 3; i++) {
        items[i] = (ss_cache_page_item_t){
            .product_id = cursor + 1 + i, .name = "lookup test", .price = 10 * (i + 1)};
    }
    ss_cache_page_lookup_t lookup;
    char errstr[256];
    assert_int_equal(ss_cache_page_lookup(redis, cursor, 3, &lookup, errstr, sizeof(errstr)),
                     SS_OK);
    assert_false(lookup.hit);
    char version[SS_CACHE_VERSION_SIZE];
    snprintf(version, sizeof(version), "%s", lookup.version);
    ss_cache_page_lookup_clear(&lookup);
    assert_int_equal(
        ss_cache_page_store(redis, version, cursor, 3, items, 3, errstr, sizeof(errstr)), SS_OK);
    overlay_write(redis, items[0].product_id, 1, 11, 1);
    overlay_write(redis, items[2].product_id, 1, 33, 1);

    assert_int_equal(ss_cache_page_lookup(redis, cursor, 3, &lookup, errstr, sizeof(errstr)),
                     SS_OK);
    if (strcmp(lookup.version, version) == 0) { /* unless another run bumped the version */
        assert_true(lookup.hit);
        assert_int_equal(lookup.count, 3);
        assert_string_equal(lookup.items[1].name, "lookup test");
        assert_int_equal(lookup.items[2].price, 30);
        assert_true(lookup.stock_found[0] && !lookup.stock_found[1] && lookup.stock_found[2]);
        assert_int_equal(lookup.stock[0], 11);
        assert_int_equal(lookup.stock[2], 33);
    }
    ss_cache_page_lookup_clear(&lookup);

    /* A catalogue change: the skeleton is no longer read. */
    assert_int_equal(ss_cache_catalog_bump(redis, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_cache_page_lookup(redis, cursor, 3, &lookup, errstr, sizeof(errstr)),
                     SS_OK);
    assert_false(lookup.hit);
    assert_string_not_equal(lookup.version, version);
    ss_cache_page_lookup_clear(&lookup);

    char key[SS_CACHE_KEY_SIZE];
    assert_int_equal(
        ss_cache_page_key(version, cursor, 3, key, sizeof(key), errstr, sizeof(errstr)), SS_OK);
    redis_del(redis, key);
}

/* ---- through the ingress ------------------------------------------------------------------- */

static void test_stock_read_right_after_each_paid_order_reflects_it(void **state)
{
    (void)state;
    int64_t ids[PAGE_PRODUCTS];
    products_create(ids, PAGE_PRODUCTS, "cache-order");
    int64_t cursor = ids[0] - 1;
    char nickname[96];
    snprintf(nickname, sizeof(nickname), "cache-buyer-%s", ss_test_run_id());
    int64_t user_id = ss_test_http_user_create(services.http, nickname);
    charge(user_id, USER_BALANCE);

    /* Twice: the first read fills the skeleton and the overlay, the second is served by them. */
    assert_int_equal(listed_stock(services.http, cursor, ids[0]), PRODUCT_STOCK);
    assert_int_equal(listed_stock(services.http, cursor, ids[0]), PRODUCT_STOCK);
    int64_t version = 0, stock = 0;
    assert_true(overlay_entry(redis, ids[0], &version, &stock));
    assert_int_equal(stock, PRODUCT_STOCK);

    int64_t expected = PRODUCT_STOCK;
    for (int64_t round = 1; round <= ORDER_ROUNDS; round++) {
        /* The entry the next read finds is there before the order: stale unless rewritten. */
        int64_t before_version = 0, before_stock = 0;
        assert_true(overlay_entry(redis, ids[0], &before_version, &before_stock));
        assert_int_equal(before_stock, expected);
        order_paid(user_id, ids[0], round);
        expected -= round;
        assert_int_equal(listed_stock(services.http, cursor, ids[0]), expected);
        int64_t after_version = 0, after_stock = 0;
        assert_true(overlay_entry(redis, ids[0], &after_version, &after_stock));
        assert_true(after_version > before_version);
        assert_int_equal(after_stock, expected);
    }
    assert_int_equal(pg_scalar_id("SELECT stock FROM products WHERE id = $1", ids[0]), expected);
}

static void test_a_product_put_on_hold_leaves_a_cached_page_at_once(void **state)
{
    (void)state;
    int64_t ids[PAGE_PRODUCTS];
    products_create(ids, PAGE_PRODUCTS, "cache-hold");
    int64_t cursor = ids[0] - 1;
    assert_int_equal(listed_stock(services.http, cursor, ids[1]), PRODUCT_STOCK);
    assert_int_equal(listed_stock(services.http, cursor, ids[1]), PRODUCT_STOCK);

    product_patch(ids[1], "{\"sellStatus\":\"HOLD\"}");
    assert_int_equal(listed_stock(services.http, cursor, ids[1]), -1);
    product_patch(ids[1], "{\"sellStatus\":\"SELLING\",\"stockDelta\":-7}");
    assert_int_equal(listed_stock(services.http, cursor, ids[1]), PRODUCT_STOCK - 7);
}

static void test_a_new_product_shows_at_once(void **state)
{
    (void)state;
    int64_t ids[1];
    products_create(ids, 1, "cache-new");
    assert_int_equal(listed_stock(services.http, ids[0] - 1, ids[0]), PRODUCT_STOCK);
    int64_t more[1];
    products_create(more, 1, "cache-new-2");
    /* The page after ids[0] - 1 was the last one, hence not cached: the newcomer is on it. */
    ss_test_http_reply_t reply;
    json_t *data = page_get(services.http, &reply, ids[0] - 1);
    if (json_array_size(json_object_get(data, "products")) < PAGE_LIMIT) {
        assert_non_null(page_item(data, more[0]));
    }
    ss_test_http_reply_free(&reply);
}

static void test_redis_stopped_the_product_list_still_answers_from_postgresql(void **state)
{
    (void)state;
    static ss_test_private_redis_t private_redis;
    ss_test_private_redis_start(&private_redis);
    const char *environment[] = {private_redis.env, NULL};
    static ss_test_services_t outage;
    ss_test_services_config_t config = {
        .instance = 3, .port = 18192, .ingress_environment = environment};
    ss_test_services_start(&outage, &config);

    int64_t ids[PAGE_PRODUCTS];
    products_create(ids, PAGE_PRODUCTS, "cache-outage");
    int64_t cursor = ids[0] - 1;
    page_matches_postgres(outage.http, cursor, ids, PAGE_PRODUCTS);
    page_matches_postgres(outage.http, cursor, ids, PAGE_PRODUCTS);
    ss_redis_t *private_connection = ss_test_private_redis_connect(&private_redis);
    int64_t version = 0, stock = 0;
    assert_true(overlay_entry(private_connection, ids[0], &version, &stock)); /* in use */
    ss_redis_destroy(private_connection);

    ss_test_private_redis_stop(&private_redis, SIGKILL);
    for (int i = 0; i < OUTAGE_READS; i++) {
        page_matches_postgres(outage.http, cursor, ids, PAGE_PRODUCTS);
    }

    /* Back, and empty: the list fills it again from PostgreSQL. */
    ss_test_private_redis_start(&private_redis);
    private_connection = ss_test_private_redis_connect(&private_redis);
    bool refilled = false;
    for (int poll = 0; poll < RECOVERY_POLLS_MAX && !refilled; poll++) {
        page_matches_postgres(outage.http, cursor, ids, PAGE_PRODUCTS);
        refilled = overlay_entry(private_connection, ids[0], &version, &stock);
        if (!refilled) {
            usleep(RECOVERY_POLL_US);
        }
    }
    assert_true(refilled);
    assert_int_equal(stock, PRODUCT_STOCK);
    ss_redis_destroy(private_connection);
    ss_test_services_stop(&outage);
    ss_test_private_redis_stop(&private_redis, SIGTERM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlay_never_goes_back_to_an_older_version),
        cmocka_unit_test(test_overlay_writes_more_entries_than_one_script_call_takes),
        cmocka_unit_test(test_page_lookup_reads_skeleton_and_overlay_in_one_call),
        cmocka_unit_test(test_stock_read_right_after_each_paid_order_reflects_it),
        cmocka_unit_test(test_a_product_put_on_hold_leaves_a_cached_page_at_once),
        cmocka_unit_test(test_a_new_product_shows_at_once),
        cmocka_unit_test(test_redis_stopped_the_product_list_still_answers_from_postgresql),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

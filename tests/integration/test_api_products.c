/*
 * GET /api/v1/products over HTTP, against the real stack (an ss-ingress of this test,
 * instance 3, and two stock workers for the admin changes): cursor pagination over SELLING
 * products only (HOLD and STOP_SELLING ones never appear), ordered by id, every product once,
 * nextCursor null on the last page, the default and the bounds of limit and cursor, and stock
 * and sell status changed through PATCH /api/v1/admin/products/{id} showing in the list.
 *
 * The database keeps the products of earlier runs, so each walk starts just before this test's
 * first product (cursor = its id - 1) and only this test's products are checked by name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGES_MAX 1000
#define LISTED_MAX 4000
#define PAGING_PRODUCTS 10
#define DEFAULT_LIMIT 20

static ss_test_services_t services;

static int setup(void **state)
{
    ss_test_services_config_t config = {.instance = 3, .port = 18183};
    config.workers[SS_TEST_SERVICE_STOCK] = 2;
    ss_test_services_start(&services, &config);
    *state = &services;
    return 0;
}

typedef struct product {
    int64_t id;
    char name[100];
    int64_t price;
    int64_t stock;
    const char *sell_status; /* NULL: the default, SELLING */
} product_t;

static void product_new(product_t *product, const char *what, int64_t price, int64_t stock,
                        const char *sell_status)
{
    snprintf(product->name, sizeof(product->name), "%s-%s", what, ss_test_run_id());
    product->price = price;
    product->stock = stock;
    product->sell_status = sell_status;
    product->id =
        ss_test_http_product_create(services.http, product->name, price, stock, sell_status);
}

/* GET /products with a query; checks the page's shape and returns the reply's data. */
static json_t *page_get(ss_test_http_reply_t *reply, const char *query)
{
    ss_test_http_get(services.http, reply, "/api/v1/products%s", query);
    json_t *data = ss_test_http_expect(reply, 200, NULL);
    assert_true(json_is_array(json_object_get(data, "products")));
    json_t *next = json_object_get(data, "nextCursor");
    assert_true(json_is_null(next) || json_is_string(next));
    return data;
}

/* PATCH /admin/products/{id} with body, settled. */
static void product_patch(int64_t product_id, const char *body, ss_test_http_reply_t *reply)
{
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, "PATCH", body, "/api/v1/admin/products/%" PRId64,
                              product_id);
    request.headers[0] = ss_test_http_admin_header(services.http);
    ss_test_services_send(&services, &request, reply);
}

/* The listed product with this id on the page starting right before it, or NULL. */
static json_t *listed(int64_t product_id, ss_test_http_reply_t *reply)
{
    char query[80];
    snprintf(query, sizeof(query), "?limit=1&cursor=%" PRId64, product_id - 1);
    json_t *products = json_object_get(page_get(reply, query), "products");
    json_t *first = json_array_get(products, 0);
    if (first != NULL && ss_test_json_int(first, "id") == product_id) {
        return first;
    }
    return NULL;
}

static void test_pages_list_selling_products_by_id_each_once_and_end_with_null(void **state)
{
    (void)state;
    static const char *const statuses[PAGING_PRODUCTS] = {
        "SELLING", "HOLD", NULL, "STOP_SELLING", "SELLING", NULL, "HOLD", NULL, NULL, "SELLING"};
    product_t products[PAGING_PRODUCTS];
    for (size_t i = 0; i < PAGING_PRODUCTS; i++) {
        char what[32];
        snprintf(what, sizeof(what), "paging-%zu", i);
        product_new(&products[i], what, 1000 + (int64_t)i, 10 * (int64_t)i, statuses[i]);
    }

    static int64_t seen[LISTED_MAX];
    size_t seen_count = 0;
    char query[96];
    snprintf(query, sizeof(query), "?limit=3&cursor=%" PRId64, products[0].id - 1);
    bool last_page = false;
    for (int page = 0; page < PAGES_MAX && !last_page; page++) {
        ss_test_http_reply_t reply;
        json_t *data = page_get(&reply, query);
        json_t *items = json_object_get(data, "products");
        json_t *next = json_object_get(data, "nextCursor");
        assert_true(json_array_size(items) <= 3);
        for (size_t i = 0; i < json_array_size(items); i++) {
            json_t *item = json_array_get(items, i);
            int64_t id = ss_test_json_int(item, "id");
            ss_test_json_string(item, "name");
            ss_test_json_int(item, "price");
            assert_true(ss_test_json_int(item, "stock") >= 0);
            assert_true(seen_count == 0 || id > seen[seen_count - 1]);
            assert_true(seen_count < LISTED_MAX);
            seen[seen_count++] = id;
        }
        if (json_is_null(next)) {
            last_page = true;
        } else {
            /* A page that says "more" is full, and its cursor is its last id. */
            assert_int_equal(json_array_size(items), 3);
            char expected[24];
            snprintf(expected, sizeof(expected), "%" PRId64, seen[seen_count - 1]);
            assert_string_equal(json_string_value(next), expected);
            snprintf(query, sizeof(query), "?limit=3&cursor=%s", json_string_value(next));
        }
        ss_test_http_reply_free(&reply);
    }
    assert_true(last_page);

    for (size_t p = 0; p < PAGING_PRODUCTS; p++) {
        size_t times = 0;
        for (size_t s = 0; s < seen_count; s++) {
            times += seen[s] == products[p].id;
        }
        bool selling =
            products[p].sell_status == NULL || strcmp(products[p].sell_status, "SELLING") == 0;
        if (times != (selling ? 1u : 0u)) {
            fail_msg("product %" PRId64 " (%s) listed %zu times", products[p].id,
                     selling ? "SELLING" : products[p].sell_status, times);
        }
        if (selling) {
            ss_test_http_reply_t reply;
            json_t *item = listed(products[p].id, &reply);
            assert_non_null(item);
            assert_string_equal(ss_test_json_string(item, "name"), products[p].name);
            assert_int_equal(ss_test_json_int(item, "price"), products[p].price);
            assert_int_equal(ss_test_json_int(item, "stock"), products[p].stock);
            ss_test_http_reply_free(&reply);
        }
    }
}

static void test_default_page_holds_20_and_limit_is_honoured(void **state)
{
    (void)state;
    product_t first;
    product_new(&first, "default-0", 500, 5, NULL);
    for (int i = 1; i <= DEFAULT_LIMIT; i++) {
        char what[32];
        snprintf(what, sizeof(what), "default-%d", i);
        product_t product;
        product_new(&product, what, 500, 5, NULL);
    }
    char query[96];
    ss_test_http_reply_t reply;
    snprintf(query, sizeof(query), "?cursor=%" PRId64, first.id - 1);
    json_t *data = page_get(&reply, query);
    assert_int_equal(json_array_size(json_object_get(data, "products")), DEFAULT_LIMIT);
    assert_int_equal(ss_test_json_int(json_array_get(json_object_get(data, "products"), 0), "id"),
                     first.id);
    assert_true(json_is_string(json_object_get(data, "nextCursor")));
    ss_test_http_reply_free(&reply);

    snprintf(query, sizeof(query), "?limit=1&cursor=%" PRId64, first.id - 1);
    data = page_get(&reply, query);
    assert_int_equal(json_array_size(json_object_get(data, "products")), 1);
    ss_test_http_reply_free(&reply);

    snprintf(query, sizeof(query), "?limit=100&cursor=%" PRId64, first.id - 1);
    data = page_get(&reply, query);
    assert_true(json_array_size(json_object_get(data, "products")) >= DEFAULT_LIMIT + 1);
    ss_test_http_reply_free(&reply);
}

static void test_page_after_the_last_id_is_empty_with_a_null_cursor(void **state)
{
    (void)state;
    ss_test_http_reply_t reply;
    /* The largest cursor the document allows (^[0-9]{1,18}$), leading zeros and all. */
    json_t *data = page_get(&reply, "?cursor=999999999999999999");
    assert_int_equal(json_array_size(json_object_get(data, "products")), 0);
    assert_true(json_is_null(json_object_get(data, "nextCursor")));
    ss_test_http_reply_free(&reply);
    data = page_get(&reply, "?limit=1&cursor=000000000000000000");
    assert_int_equal(json_array_size(json_object_get(data, "products")), 1);
    ss_test_http_reply_free(&reply);
    data = page_get(&reply, "?cursor=999999999999999999");
    assert_int_equal(json_array_size(json_object_get(data, "products")), 0);
    assert_true(json_is_null(json_object_get(data, "nextCursor")));
    ss_test_http_reply_free(&reply);
}

static void test_bad_limit_or_cursor_is_invalid(void **state)
{
    (void)state;
    static const char *const queries[] = {
        "?limit=0",     "?limit=101",  "?limit=-1",    "?limit=abc",
        "?limit=1.5",   "?cursor=abc", "?cursor=-1",   "?cursor=99999999999999999999",
        "?limit=%zz",   "?cursor=",    "?cursor=%2B1", "?cursor=1000000000000000000",
        "?cursor=1%20",
    };
    for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
        ss_test_http_reply_t reply;
        ss_test_http_get(services.http, &reply, "/api/v1/products%s", queries[i]);
        if (reply.status != 400) {
            print_message("query %s\n", queries[i]);
        }
        ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
        ss_test_http_reply_free(&reply);
    }
}

static void test_admin_stock_and_status_changes_show_in_the_list(void **state)
{
    (void)state;
    product_t product;
    product_new(&product, "adjusted", 1200, 10, NULL);
    ss_test_http_reply_t reply;

    product_patch(product.id, "{\"stockDelta\":5}", &reply);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_int_equal(ss_test_json_int(data, "id"), product.id);
    assert_string_equal(ss_test_json_string(data, "name"), product.name);
    assert_int_equal(ss_test_json_int(data, "price"), 1200);
    assert_int_equal(ss_test_json_int(data, "stock"), 15);
    assert_string_equal(ss_test_json_string(data, "sellStatus"), "SELLING");
    ss_test_http_reply_free(&reply);
    json_t *item = listed(product.id, &reply);
    assert_non_null(item);
    assert_int_equal(ss_test_json_int(item, "stock"), 15);
    ss_test_http_reply_free(&reply);

    product_patch(product.id, "{\"stockDelta\":-15}", &reply);
    assert_int_equal(ss_test_json_int(ss_test_http_expect(&reply, 200, NULL), "stock"), 0);
    ss_test_http_reply_free(&reply);
    product_patch(product.id, "{\"stockDelta\":-1}", &reply);
    ss_test_http_expect(&reply, 409, "INSUFFICIENT_STOCK");
    ss_test_http_reply_free(&reply);
    item = listed(product.id, &reply);
    assert_non_null(item); /* sold out is still SELLING: listed with stock 0 */
    assert_int_equal(ss_test_json_int(item, "stock"), 0);
    ss_test_http_reply_free(&reply);

    product_patch(product.id, "{\"sellStatus\":\"HOLD\"}", &reply);
    assert_string_equal(ss_test_json_string(ss_test_http_expect(&reply, 200, NULL), "sellStatus"),
                        "HOLD");
    ss_test_http_reply_free(&reply);
    assert_null(listed(product.id, &reply));
    ss_test_http_reply_free(&reply);

    product_patch(product.id, "{\"sellStatus\":\"SELLING\",\"stockDelta\":3}", &reply);
    data = ss_test_http_expect(&reply, 200, NULL);
    assert_int_equal(ss_test_json_int(data, "stock"), 3);
    assert_string_equal(ss_test_json_string(data, "sellStatus"), "SELLING");
    ss_test_http_reply_free(&reply);
    item = listed(product.id, &reply);
    assert_non_null(item);
    assert_int_equal(ss_test_json_int(item, "stock"), 3);
    ss_test_http_reply_free(&reply);

    product_patch(product.id, "{\"sellStatus\":\"STOP_SELLING\"}", &reply);
    ss_test_http_expect(&reply, 200, NULL);
    ss_test_http_reply_free(&reply);
    assert_null(listed(product.id, &reply));
    ss_test_http_reply_free(&reply);
}

static void test_patch_of_an_unknown_product_is_product_not_found(void **state)
{
    (void)state;
    int64_t unknown = ss_test_pg_scalar(
        services.pg, "SELECT coalesce(max(id), 0) + 1000000 FROM products", 0, NULL);
    ss_test_http_reply_t reply;
    product_patch(unknown, "{\"stockDelta\":1}", &reply);
    ss_test_http_expect(&reply, 404, "PRODUCT_NOT_FOUND");
    ss_test_http_reply_free(&reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_list_selling_products_by_id_each_once_and_end_with_null),
        cmocka_unit_test(test_default_page_holds_20_and_limit_is_honoured),
        cmocka_unit_test(test_page_after_the_last_id_is_empty_with_a_null_cursor),
        cmocka_unit_test(test_bad_limit_or_cursor_is_invalid),
        cmocka_unit_test(test_admin_stock_and_status_changes_show_in_the_list),
        cmocka_unit_test(test_patch_of_an_unknown_product_is_product_not_found),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}

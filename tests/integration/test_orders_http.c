/*
 * POST /api/v1/orders and GET /api/v1/orders/{id} over HTTP, against the real stack: an
 * ss-ingress of this test (instance 2), two user workers, two stock workers and a coupon
 * worker. Users, products and coupons are made through the admin API, balances through charges
 * and coupon issues through POST /users/{id}/coupons, so every step goes the production way.
 *
 * Covers paid single- and multi-line orders (balance, stock, coupon, history and lines as
 * expected), every refusal (unknown user, unknown or not-SELLING product, coupon not found, not
 * usable or expired, insufficient balance, insufficient stock on one line of several with
 * everything given back), the ingress's validation, Idempotency-Key retries, 200 buyers racing
 * for 50 units, and kill -9 of a stock worker and a user worker in the middle of a stream of
 * orders. A 202 (a rebalance slower than the deadline) is followed to its final result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 90000
#define RACE_BUYERS 200
#define RACE_STOCK 50
#define RACE_CHARGE 10000
#define RACE_PRICE 1000
#define IN_FLIGHT 200
#define FAULT_BUYERS 40
#define FAULT_ORDERS 400
#define FAULT_STOCK 150
#define FAULT_CHARGE 1000000
#define IDS_MAX 400

static ss_test_services_t services;

static int setup(void **state)
{
    ss_test_services_config_t config = {.instance = 2, .port = 18188, .request_deadline_ms = 30000};
    config.workers[SS_TEST_SERVICE_USER] = 2;
    config.workers[SS_TEST_SERVICE_STOCK] = 2;
    config.workers[SS_TEST_SERVICE_COUPON] = 1;
    ss_test_services_start(&services, &config);
    *state = &services;
    return 0;
}

/* ---- fixtures ---------------------------------------------------------------------------- */

static int64_t scalar_id(const char *sql, int64_t id)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, id);
    const char *params[] = {text};
    return ss_test_pg_scalar(services.pg, sql, 1, params);
}

static int64_t wait_id(const char *sql, int64_t id, int64_t expected)
{
    char text[24];
    snprintf(text, sizeof(text), "%" PRId64, id);
    const char *params[] = {text};
    return ss_test_wait_scalar(services.pg, sql, 1, params, expected, WAIT_MS);
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

static int64_t user_new(const char *what, int64_t balance)
{
    char nickname[100];
    snprintf(nickname, sizeof(nickname), "%s-%s", what, ss_test_run_id());
    int64_t user_id = ss_test_http_user_create(services.http, nickname);
    if (balance > 0) {
        charge(user_id, balance);
    }
    return user_id;
}

static int64_t product_new(int64_t price, int64_t stock, const char *sell_status)
{
    return ss_test_http_product_create(services.http, "order test", price, stock, sell_status);
}

static int64_t balance_of(int64_t user_id)
{
    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/users/%" PRId64 "/balance", user_id);
    int64_t amount = ss_test_json_int(ss_test_http_expect(&reply, 200, NULL), "amount");
    ss_test_http_reply_free(&reply);
    return amount;
}

static int64_t stock_of(int64_t product_id)
{
    return scalar_id("SELECT stock FROM products WHERE id = $1", product_id);
}

/* A coupon of the given rate, issued to user_id through the API; returns the coupon id. */
static int64_t coupon_issued(int64_t user_id, const char *rate)
{
    int64_t coupon_id = ss_test_http_coupon_create(services.http, "order test", rate, 10,
                                                   "2099-12-31T23:59:59Z", NULL);
    char body[64];
    snprintf(body, sizeof(body), "{\"couponId\":%" PRId64 "}", coupon_id);
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, "POST", body, "/api/v1/users/%" PRId64 "/coupons", user_id);
    ss_test_http_reply_t reply;
    ss_test_services_send(&services, &request, &reply);
    ss_test_http_expect(&reply, 200, NULL);
    ss_test_http_reply_free(&reply);
    return coupon_id;
}

/* How many usable coupons GET /users/{id}/coupons lists. */
static size_t usable_coupons(int64_t user_id)
{
    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/users/%" PRId64 "/coupons", user_id);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    size_t count = json_array_size(json_object_get(data, "coupons"));
    ss_test_http_reply_free(&reply);
    return count;
}

/* ---- orders ------------------------------------------------------------------------------ */

typedef struct line {
    int64_t product_id;
    int64_t quantity;
} line_t;

/* The JSON body of an order; coupon_id 0 leaves couponId out. */
static void order_body(char *body, size_t size, int64_t user_id, int64_t coupon_id,
                       const line_t *lines, size_t line_count)
{
    size_t used = (size_t)snprintf(body, size, "{\"userId\":%" PRId64, user_id);
    if (coupon_id != 0) {
        used += (size_t)snprintf(body + used, size - used, ",\"couponId\":%" PRId64, coupon_id);
    }
    used += (size_t)snprintf(body + used, size - used, ",\"products\":[");
    for (size_t i = 0; i < line_count; i++) {
        used += (size_t)snprintf(body + used, size - used,
                                 "%s{\"id\":%" PRId64 ",\"quantity\":%" PRId64 "}",
                                 i > 0 ? "," : "", lines[i].product_id, lines[i].quantity);
    }
    snprintf(body + used, size - used, "]}");
    assert_true(used + 2 < size);
}

/* POSTs body (with an optional Idempotency-Key), settled to its final outcome. */
static void order_post_body(const char *body, const char *idempotency_key,
                            ss_test_http_reply_t *reply)
{
    char header[300];
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, "POST", body, "/api/v1/orders");
    if (idempotency_key != NULL) {
        snprintf(header, sizeof(header), "Idempotency-Key: %s", idempotency_key);
        request.headers[0] = header;
    }
    ss_test_services_send(&services, &request, reply);
}

static void order_post(int64_t user_id, int64_t coupon_id, const line_t *lines, size_t count,
                       ss_test_http_reply_t *reply)
{
    char body[4096];
    order_body(body, sizeof(body), user_id, coupon_id, lines, count);
    order_post_body(body, NULL, reply);
}

/* Places an order that must be paid; checks the answer's amounts and returns the order id. */
static int64_t order_paid(int64_t user_id, int64_t coupon_id, const line_t *lines, size_t count,
                          int64_t total, int64_t discount)
{
    ss_test_http_reply_t reply;
    order_post(user_id, coupon_id, lines, count, &reply);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    int64_t order_id = ss_test_json_int(data, "orderId");
    assert_string_equal(ss_test_json_string(data, "status"), "PAID");
    assert_int_equal(ss_test_json_int(data, "totalPrice"), total);
    assert_int_equal(ss_test_json_int(data, "discountPrice"), discount);
    assert_int_equal(ss_test_json_int(data, "paidAmount"), total - discount);
    assert_int_equal(json_object_size(data), 5);
    ss_test_http_reply_free(&reply);
    return order_id;
}

/* Places an order that must be refused; returns data.orderId (0 when the answer has none). */
static int64_t order_refused(int64_t user_id, int64_t coupon_id, const line_t *lines, size_t count,
                             long status, const char *error)
{
    ss_test_http_reply_t reply;
    order_post(user_id, coupon_id, lines, count, &reply);
    json_t *data = ss_test_http_expect(&reply, status, error);
    int64_t order_id = data != NULL ? ss_test_json_int(data, "orderId") : 0;
    ss_test_http_reply_free(&reply);
    return order_id;
}

/* GET /orders/{id}; checks the status and failure reason (NULL: none) and returns the JSON. */
static json_t *order_get(int64_t order_id, const char *status, const char *failure_reason)
{
    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/orders/%" PRId64, order_id);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_int_equal(ss_test_json_int(data, "orderId"), order_id);
    assert_string_equal(ss_test_json_string(data, "status"), status);
    json_t *reason = json_object_get(data, "failureReason");
    if (failure_reason == NULL) {
        assert_true(json_is_null(reason));
    } else {
        assert_string_equal(json_string_value(reason), failure_reason);
    }
    json_t *copy = json_deep_copy(data);
    ss_test_http_reply_free(&reply);
    return copy;
}

/* ---- paid orders ------------------------------------------------------------------------- */

static void test_single_line_order_is_paid_and_reads_back(void **state)
{
    (void)state;
    int64_t user_id = user_new("order-single", 100000);
    int64_t product_id = product_new(1500, 10, NULL);
    const line_t lines[] = {{product_id, 3}};
    int64_t order_id = order_paid(user_id, 0, lines, 1, 4500, 0);

    assert_int_equal(balance_of(user_id), 95500);
    assert_int_equal(stock_of(product_id), 7);
    char user_text[24], order_text[24];
    snprintf(user_text, sizeof(user_text), "%" PRId64, user_id);
    snprintf(order_text, sizeof(order_text), "%" PRId64, order_id);
    const char *params[] = {user_text, order_text};
    assert_int_equal(ss_test_pg_scalar(services.pg,
                                       "SELECT count(*) FROM balance_history WHERE user_id = $1"
                                       " AND type = 'USE' AND amount = 4500 AND order_id = $2",
                                       2, params),
                     1);
    json_t *order = order_get(order_id, "PAID", NULL);
    assert_int_equal(ss_test_json_int(order, "userId"), user_id);
    assert_int_equal(ss_test_json_int(order, "totalPrice"), 4500);
    assert_int_equal(ss_test_json_int(order, "discountPrice"), 0);
    assert_int_equal(ss_test_json_int(order, "paidAmount"), 4500);
    json_t *items = json_object_get(order, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *item = json_array_get(items, 0);
    assert_int_equal(ss_test_json_int(item, "productId"), product_id);
    assert_int_equal(ss_test_json_int(item, "quantity"), 3);
    assert_int_equal(ss_test_json_int(item, "unitPrice"), 1500);
    json_decref(order);
}

/* couponId is the one nullable field of the API (the document says so): null is no coupon. */
static void test_order_with_a_null_coupon_is_paid_without_one(void **state)
{
    (void)state;
    int64_t user_id = user_new("order-null-coupon", 10000);
    int64_t product_id = product_new(700, 5, NULL);
    char body[256];
    snprintf(body, sizeof(body),
             "{\"userId\":%" PRId64 ",\"couponId\":null,\"products\":[{\"id\":%" PRId64
             ",\"quantity\":2}]}",
             user_id, product_id);
    ss_test_http_reply_t reply;
    order_post_body(body, NULL, &reply);
    json_t *data = ss_test_http_expect(&reply, 200, NULL);
    assert_string_equal(ss_test_json_string(data, "status"), "PAID");
    assert_int_equal(ss_test_json_int(data, "discountPrice"), 0);
    assert_int_equal(ss_test_json_int(data, "paidAmount"), 1400);
    ss_test_http_reply_free(&reply);
    assert_int_equal(balance_of(user_id), 8600);
}

static void test_multi_line_order_with_coupon_is_paid_at_the_discounted_total(void **state)
{
    (void)state;
    int64_t user_id = user_new("order-multi", 1000000);
    const int64_t prices[] = {10000, 2500, 999};
    int64_t products[3];
    for (size_t i = 0; i < 3; i++) {
        products[i] = product_new(prices[i], 100, "SELLING");
    }
    int64_t coupon_id = coupon_issued(user_id, "0.1234");
    assert_int_equal(usable_coupons(user_id), 1);
    const line_t lines[] = {{products[0], 2}, {products[1], 4}, {products[2], 1}};
    /* total 20000 + 10000 + 999 = 30999; discount floor(30999 x 0.1234) = 3825 */
    int64_t order_id = order_paid(user_id, coupon_id, lines, 3, 30999, 3825);

    assert_int_equal(balance_of(user_id), 1000000 - 27174);
    assert_int_equal(stock_of(products[0]), 98);
    assert_int_equal(stock_of(products[1]), 96);
    assert_int_equal(stock_of(products[2]), 99);
    assert_int_equal(usable_coupons(user_id), 0);
    assert_int_equal(scalar_id("SELECT count(*) FROM user_coupons uc JOIN orders o ON"
                               " o.user_coupon_id = uc.id WHERE o.id = $1 AND uc.status = 'USED'"
                               " AND uc.used_at IS NOT NULL",
                               order_id),
                     1);
    json_t *order = order_get(order_id, "PAID", NULL);
    json_t *items = json_object_get(order, "items");
    assert_int_equal(json_array_size(items), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *item = json_array_get(items, i);
        size_t line = 0;
        while (line < 3 && products[line] != ss_test_json_int(item, "productId")) {
            line++;
        }
        assert_true(line < 3);
        assert_int_equal(ss_test_json_int(item, "quantity"), lines[line].quantity);
        assert_int_equal(ss_test_json_int(item, "unitPrice"), prices[line]);
    }
    json_decref(order);
}

/* ---- refusals ---------------------------------------------------------------------------- */

static void test_unknown_user_is_refused_without_an_order(void **state)
{
    (void)state;
    int64_t product_id = product_new(100, 10, NULL);
    const line_t lines[] = {{product_id, 1}};
    assert_int_equal(order_refused(INT64_C(900000000001), 0, lines, 1, 404, "USER_NOT_FOUND"), 0);
    assert_int_equal(stock_of(product_id), 10);
}

static void test_unknown_or_not_selling_product_leaves_a_failed_order(void **state)
{
    (void)state;
    int64_t user_id = user_new("order-products", 50000);
    int64_t selling = product_new(100, 10, NULL);
    int64_t stopped = product_new(100, 10, "STOP_SELLING");
    const line_t unknown[] = {{selling, 1}, {INT64_C(900000000002), 1}};
    int64_t order_id = order_refused(user_id, 0, unknown, 2, 404, "PRODUCT_NOT_FOUND");
    assert_true(order_id > 0);
    json_decref(order_get(order_id, "FAILED", "PRODUCT_NOT_FOUND"));
    const line_t not_selling[] = {{selling, 2}, {stopped, 1}};
    order_id = order_refused(user_id, 0, not_selling, 2, 409, "PRODUCT_NOT_SELLING");
    json_t *order = order_get(order_id, "FAILED", "PRODUCT_NOT_SELLING");
    assert_int_equal(json_array_size(json_object_get(order, "items")), 2);
    assert_int_equal(ss_test_json_int(order, "paidAmount"), 0);
    json_decref(order);
    assert_int_equal(balance_of(user_id), 50000);
    assert_int_equal(stock_of(selling), 10);
    assert_int_equal(stock_of(stopped), 10);
}

static void test_coupon_not_found_not_usable_or_expired_is_refused(void **state)
{
    (void)state;
    int64_t user_id = user_new("order-coupons", 50000);
    int64_t other_user = user_new("order-coupons-other", 0);
    int64_t product_id = product_new(1000, 10, NULL);
    const line_t lines[] = {{product_id, 1}};
    int64_t order_id =
        order_refused(user_id, INT64_C(900000000003), lines, 1, 404, "COUPON_NOT_FOUND");
    json_decref(order_get(order_id, "FAILED", "COUPON_NOT_FOUND"));

    int64_t not_mine = coupon_issued(other_user, "0.5");
    order_id = order_refused(user_id, not_mine, lines, 1, 409, "COUPON_NOT_USABLE");
    json_decref(order_get(order_id, "FAILED", "COUPON_NOT_USABLE"));

    int64_t once = coupon_issued(user_id, "0.5");
    order_paid(user_id, once, lines, 1, 1000, 500);
    order_id = order_refused(user_id, once, lines, 1, 409, "COUPON_NOT_USABLE");
    json_decref(order_get(order_id, "FAILED", "COUPON_NOT_USABLE"));

    /* Issued while valid, then its expiry passes (moved by hand: no waiting on the clock). */
    int64_t expiring = coupon_issued(user_id, "0.5");
    scalar_id("UPDATE coupons SET expired_at = now() - interval '1 minute' WHERE id = $1"
              " RETURNING id",
              expiring);
    order_id = order_refused(user_id, expiring, lines, 1, 409, "COUPON_EXPIRED");
    json_decref(order_get(order_id, "FAILED", "COUPON_EXPIRED"));

    assert_int_equal(balance_of(user_id), 50000 - 500);
    assert_int_equal(stock_of(product_id), 9);
}

static void test_balance_below_the_amount_is_insufficient_balance(void **state)
{
    (void)state;
    int64_t user_id = user_new("order-poor", 2999);
    int64_t product_id = product_new(1000, 10, NULL);
    const line_t lines[] = {{product_id, 3}};
    int64_t order_id = order_refused(user_id, 0, lines, 1, 409, "INSUFFICIENT_BALANCE");
    json_decref(order_get(order_id, "FAILED", "INSUFFICIENT_BALANCE"));
    assert_int_equal(balance_of(user_id), 2999);
    assert_int_equal(stock_of(product_id), 10);
    assert_int_equal(
        scalar_id("SELECT count(*) FROM balance_history WHERE user_id = $1 AND type <> 'CHARGE'",
                  user_id),
        0);
}

static void test_insufficient_stock_on_one_line_leaves_no_trace_but_the_failed_order(void **state)
{
    (void)state;
    int64_t user_id = user_new("order-scarce", 500000);
    int64_t plenty_a = product_new(1000, 10, NULL);
    int64_t scarce = product_new(2000, 1, NULL);
    int64_t plenty_b = product_new(3000, 10, NULL);
    int64_t coupon_id = coupon_issued(user_id, "0.5");
    const line_t lines[] = {{plenty_a, 2}, {scarce, 5}, {plenty_b, 1}};
    int64_t order_id = order_refused(user_id, coupon_id, lines, 3, 409, "INSUFFICIENT_STOCK");
    assert_true(order_id > 0);
    json_t *order = order_get(order_id, "FAILED", "INSUFFICIENT_STOCK");
    assert_int_equal(json_array_size(json_object_get(order, "items")), 3);
    json_decref(order);

    assert_int_equal(balance_of(user_id), 500000);
    char user_text[24], order_text[24];
    snprintf(user_text, sizeof(user_text), "%" PRId64, user_id);
    snprintf(order_text, sizeof(order_text), "%" PRId64, order_id);
    const char *params[] = {user_text, order_text};
    /* total 15000, half off: 7500 used, then refunded */
    assert_int_equal(ss_test_pg_scalar(services.pg,
                                       "SELECT count(*) FROM balance_history WHERE user_id = $1"
                                       " AND order_id = $2 AND amount = 7500 AND type IN"
                                       " ('USE', 'REFUND')",
                                       2, params),
                     2);
    assert_int_equal(usable_coupons(user_id), 1);
    /* The reserved lines come back once the stock worker applies the releases. */
    assert_int_equal(wait_id("SELECT stock FROM products WHERE id = $1", plenty_a, 10), 10);
    assert_int_equal(wait_id("SELECT stock FROM products WHERE id = $1", plenty_b, 10), 10);
    assert_int_equal(stock_of(scarce), 1);
    assert_int_equal(wait_id("SELECT count(*) FROM stock_reservations WHERE order_id = $1 AND"
                             " status = 'RESERVED'",
                             order_id, 0),
                     0);
}

/* ---- validation -------------------------------------------------------------------------- */

static void refused_as_invalid(const char *body, const char *message_part)
{
    ss_test_http_reply_t reply;
    order_post_body(body, NULL, &reply);
    ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
    const char *message = ss_test_json_string(reply.json, "message");
    if (strstr(message, message_part) == NULL) {
        fail_msg("message \"%s\" does not name \"%s\"", message, message_part);
    }
    ss_test_http_reply_free(&reply);
}

static void test_malformed_orders_are_refused_naming_the_field(void **state)
{
    (void)state;
    refused_as_invalid("{\"products\":[{\"id\":1,\"quantity\":1}]}", "userId");
    refused_as_invalid("{\"userId\":0,\"products\":[{\"id\":1,\"quantity\":1}]}", "userId");
    refused_as_invalid("{\"userId\":1,\"couponId\":0,\"products\":[{\"id\":1,\"quantity\":1}]}",
                       "couponId");
    refused_as_invalid("{\"userId\":1,\"couponId\":\"7\",\"products\":[{\"id\":1,\"quantity\":1}]}",
                       "couponId");
    refused_as_invalid("{\"userId\":1}", "products");
    refused_as_invalid("{\"userId\":1,\"products\":[]}", "products");
    refused_as_invalid("{\"userId\":1,\"products\":[{\"id\":1,\"quantity\":1},7]}", "products[1]");
    refused_as_invalid("{\"userId\":1,\"products\":[{\"id\":1,\"quantity\":1},{\"id\":0,"
                       "\"quantity\":1}]}",
                       "products[1].id");
    refused_as_invalid("{\"userId\":1,\"products\":[{\"id\":1,\"quantity\":0}]}",
                       "products[0].quantity");
    refused_as_invalid("{\"userId\":1,\"products\":[{\"id\":1,\"quantity\":1001}]}",
                       "products[0].quantity");
    refused_as_invalid("{\"userId\":1,\"products\":[{\"id\":1,\"quantity\":1.5}]}",
                       "products[0].quantity");
    refused_as_invalid("{\"userId\":1,\"products\":[{\"id\":5,\"quantity\":1},{\"id\":6,"
                       "\"quantity\":1},{\"id\":5,\"quantity\":2}]}",
                       "products[2].id");
    char body[4096];
    line_t lines[51];
    for (size_t i = 0; i < 51; i++) {
        lines[i] = (line_t){.product_id = (int64_t)i + 1, .quantity = 1};
    }
    order_body(body, sizeof(body), 1, 0, lines, 51);
    refused_as_invalid(body, "products");
    refused_as_invalid("[1]", "object");
    /* Only the documented fields: a misspelt couponId must not place an order without it. */
    refused_as_invalid("{\"userId\":1,\"couponID\":3,\"products\":[{\"id\":1,\"quantity\":1}]}",
                       "couponID is not a known field");
    refused_as_invalid("{\"userId\":1,\"products\":[{\"id\":1,\"quantity\":1,\"qty\":2}]}",
                       "products[0].qty is not a known field");
    refused_as_invalid("{\"userId\":null,\"products\":[{\"id\":1,\"quantity\":1}]}",
                       "userId must be an integer");
    refused_as_invalid("{\"userId\":1,\"products\":[{\"id\":1,\"quantity\":null}]}",
                       "products[0].quantity must be an integer");

    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/orders/abc");
    ss_test_http_expect(&reply, 400, "INVALID_REQUEST");
    ss_test_http_reply_free(&reply);
    ss_test_http_get(services.http, &reply, "/api/v1/orders/%" PRId64, INT64_C(900000000004));
    ss_test_http_expect(&reply, 404, "ORDER_NOT_FOUND");
    ss_test_http_reply_free(&reply);
}

/* ---- idempotency ------------------------------------------------------------------------- */

static void test_idempotency_key_retry_returns_the_first_outcome_and_pays_once(void **state)
{
    (void)state;
    int64_t user_id = user_new("order-idempotent", 100000);
    int64_t product_id = product_new(7000, 10, NULL);
    char key[128], body[256], other_body[256];
    snprintf(key, sizeof(key), "order-%s", ss_test_run_id());
    const line_t lines[] = {{product_id, 1}};
    const line_t other_lines[] = {{product_id, 2}};
    order_body(body, sizeof(body), user_id, 0, lines, 1);
    order_body(other_body, sizeof(other_body), user_id, 0, other_lines, 1);

    ss_test_http_reply_t first, retry, other;
    order_post_body(body, key, &first);
    json_t *data = ss_test_http_expect(&first, 200, NULL);
    int64_t order_id = ss_test_json_int(data, "orderId");
    order_post_body(body, key, &retry);
    assert_int_equal(ss_test_json_int(ss_test_http_expect(&retry, 200, NULL), "orderId"), order_id);
    assert_true(json_equal(first.json, retry.json));
    order_post_body(other_body, key, &other);
    ss_test_http_expect(&other, 409, "IDEMPOTENCY_KEY_REUSED");
    ss_test_http_reply_free(&first);
    ss_test_http_reply_free(&retry);
    ss_test_http_reply_free(&other);

    assert_int_equal(balance_of(user_id), 93000);
    assert_int_equal(stock_of(product_id), 9);
    assert_int_equal(scalar_id("SELECT count(*) FROM orders WHERE user_id = $1", user_id), 1);
}

/* Keys are scoped by user: two users sending the same key both get their order (issue 10, 2). */
static void test_two_users_with_the_same_idempotency_key_each_get_their_own_order(void **state)
{
    (void)state;
    int64_t product_id = product_new(1000, 10, NULL);
    char key[128], body[256];
    snprintf(key, sizeof(key), "cart-1-%s", ss_test_run_id());
    const line_t lines[] = {{product_id, 1}};
    int64_t users[2], orders[2];
    for (int i = 0; i < 2; i++) {
        users[i] = user_new(i == 0 ? "same-key-a" : "same-key-b", 5000);
        order_body(body, sizeof(body), users[i], 0, lines, 1);
        ss_test_http_reply_t reply;
        order_post_body(body, key, &reply);
        json_t *data = ss_test_http_expect(&reply, 200, NULL);
        assert_string_equal(ss_test_json_string(data, "status"), "PAID");
        orders[i] = ss_test_json_int(data, "orderId");
        ss_test_http_reply_free(&reply);
        /* The retry of each user still gets that user's first answer. */
        order_post_body(body, key, &reply);
        data = ss_test_http_expect(&reply, 200, NULL);
        assert_int_equal(ss_test_json_int(data, "orderId"), orders[i]);
        ss_test_http_reply_free(&reply);
    }
    assert_int_not_equal(orders[0], orders[1]);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(balance_of(users[i]), 4000);
    }
    assert_int_equal(stock_of(product_id), 8);
}

/* ---- many buyers ------------------------------------------------------------------------- */

/* Users of one test as a bigint[] literal for "= ANY($1)". */
typedef struct user_set {
    int64_t ids[IDS_MAX];
    size_t count;
    char literal[IDS_MAX * 24 + 3];
} user_set_t;

static void user_set_add(user_set_t *set, int64_t user_id)
{
    assert_true(set->count < IDS_MAX);
    set->ids[set->count++] = user_id;
    size_t used = 1;
    set->literal[0] = '{';
    for (size_t i = 0; i < set->count; i++) {
        used += (size_t)snprintf(set->literal + used, sizeof(set->literal) - used, "%s%" PRId64,
                                 i > 0 ? "," : "", set->ids[i]);
    }
    snprintf(set->literal + used, sizeof(set->literal) - used, "}");
}

static int64_t set_scalar(const user_set_t *set, const char *sql)
{
    const char *params[] = {set->literal};
    return ss_test_pg_scalar(services.pg, sql, 1, params);
}

/* Creates count users and charges each amount, all charges in flight together. */
static void buyers_create(user_set_t *set, size_t count, int64_t amount, const char *what)
{
    static ss_test_http_request_t requests[IDS_MAX];
    static ss_test_http_reply_t replies[IDS_MAX];
    memset(set, 0, sizeof(*set));
    for (size_t i = 0; i < count; i++) {
        char nickname[100];
        snprintf(nickname, sizeof(nickname), "%s-%zu-%s", what, i, ss_test_run_id());
        user_set_add(set, ss_test_http_user_create(services.http, nickname));
        char body[64];
        snprintf(body, sizeof(body), "{\"amount\":%" PRId64 "}", amount);
        ss_test_http_request_init(&requests[i], "POST", body,
                                  "/api/v1/users/%" PRId64 "/balance/charge", set->ids[i]);
    }
    ss_test_http_many_config_t config = {.in_flight_max = IN_FLIGHT};
    ss_test_http_send_many(services.http, requests, count, &config, replies, NULL);
    for (size_t i = 0; i < count; i++) {
        ss_test_http_settle(services.http, &replies[i], SS_TEST_SERVICES_SETTLE_MS);
        ss_test_http_expect(&replies[i], 200, NULL);
        ss_test_http_reply_free(&replies[i]);
    }
}

static void test_two_hundred_buyers_race_for_fifty_units(void **state)
{
    (void)state;
    static user_set_t buyers;
    buyers_create(&buyers, RACE_BUYERS, RACE_CHARGE, "race");
    int64_t product_id = product_new(RACE_PRICE, RACE_STOCK, NULL);
    static ss_test_http_request_t requests[RACE_BUYERS];
    static ss_test_http_reply_t replies[RACE_BUYERS];
    const line_t lines[] = {{product_id, 1}};
    for (size_t i = 0; i < RACE_BUYERS; i++) {
        char body[256];
        order_body(body, sizeof(body), buyers.ids[i], 0, lines, 1);
        ss_test_http_request_init(&requests[i], "POST", body, "/api/v1/orders");
    }
    ss_test_http_many_config_t config = {.in_flight_max = IN_FLIGHT};
    ss_test_http_send_many(services.http, requests, RACE_BUYERS, &config, replies, NULL);
    size_t paid = 0, refused = 0;
    for (size_t i = 0; i < RACE_BUYERS; i++) {
        ss_test_http_settle(services.http, &replies[i], SS_TEST_SERVICES_SETTLE_MS);
        if (replies[i].status == 200) {
            ss_test_http_expect(&replies[i], 200, NULL);
            paid++;
        } else {
            ss_test_http_expect(&replies[i], 409, "INSUFFICIENT_STOCK");
            refused++;
        }
        ss_test_http_reply_free(&replies[i]);
    }
    assert_int_equal(paid, RACE_STOCK);
    assert_int_equal(refused, RACE_BUYERS - RACE_STOCK);
    assert_int_equal(stock_of(product_id), 0);
    assert_int_equal(set_scalar(&buyers, "SELECT count(*) FROM orders WHERE user_id ="
                                         " ANY($1::bigint[]) AND status = 'PAID'"),
                     RACE_STOCK);
    assert_int_equal(set_scalar(&buyers, "SELECT count(*) FROM orders WHERE user_id ="
                                         " ANY($1::bigint[]) AND status = 'FAILED'"),
                     RACE_BUYERS - RACE_STOCK);
    /* Money is conserved: balances plus what was paid is what was charged. */
    assert_int_equal(set_scalar(&buyers, "SELECT sum(balance) + (SELECT coalesce(sum("
                                         "paid_amount), 0) FROM orders WHERE user_id ="
                                         " ANY($1::bigint[]) AND status = 'PAID') FROM users"
                                         " WHERE id = ANY($1::bigint[])"),
                     (int64_t)RACE_BUYERS * RACE_CHARGE);
    /* Every refused buyer has the whole charge back. */
    assert_int_equal(set_scalar(&buyers, "SELECT count(*) FROM users u WHERE u.id ="
                                         " ANY($1::bigint[]) AND u.balance <> 10000 - coalesce(("
                                         "SELECT sum(paid_amount) FROM orders o WHERE o.user_id ="
                                         " u.id AND o.status = 'PAID'), 0)"),
                     0);
}

/* ---- faults ------------------------------------------------------------------------------ */

/* Kills a stock worker, then a user worker, at two points of the stream, and restarts each. */
static void faults_inject(void *opaque, size_t completed)
{
    (void)opaque;
    if (completed == FAULT_ORDERS / 4) {
        ss_test_services_worker_stop(&services, SS_TEST_SERVICE_STOCK, 0, SIGKILL);
        ss_test_services_worker_start(&services, SS_TEST_SERVICE_STOCK, 0);
    }
    if (completed == FAULT_ORDERS / 2) {
        ss_test_services_worker_stop(&services, SS_TEST_SERVICE_USER, 0, SIGKILL);
        ss_test_services_worker_start(&services, SS_TEST_SERVICE_USER, 0);
    }
}

static void test_kill_9_of_workers_mid_stream_leaves_nothing_pending_or_paid_twice(void **state)
{
    (void)state;
    static user_set_t buyers;
    buyers_create(&buyers, FAULT_BUYERS, FAULT_CHARGE, "faults");
    int64_t products[2] = {product_new(100, FAULT_STOCK, NULL),
                           product_new(250, FAULT_STOCK, NULL)};
    static ss_test_http_request_t requests[FAULT_ORDERS];
    static ss_test_http_reply_t replies[FAULT_ORDERS];
    for (size_t i = 0; i < FAULT_ORDERS; i++) {
        const line_t lines[] = {{products[0], 1 + (int64_t)(i % 2)}, {products[1], 1}};
        char body[256];
        order_body(body, sizeof(body), buyers.ids[i % FAULT_BUYERS], 0, lines, 2);
        ss_test_http_request_init(&requests[i], "POST", body, "/api/v1/orders");
    }
    ss_test_http_many_config_t config = {.in_flight_max = 50, .on_progress = faults_inject};
    ss_test_http_send_many(services.http, requests, FAULT_ORDERS, &config, replies, NULL);
    size_t paid = 0;
    for (size_t i = 0; i < FAULT_ORDERS; i++) {
        ss_test_http_settle(services.http, &replies[i], SS_TEST_SERVICES_SETTLE_MS);
        if (replies[i].status == 200) {
            paid++;
        } else {
            ss_test_http_expect(&replies[i], 409, "INSUFFICIENT_STOCK");
        }
        ss_test_http_reply_free(&replies[i]);
    }
    const char *params[] = {buyers.literal};
    assert_int_equal(ss_test_wait_scalar(services.pg,
                                         "SELECT count(*) FROM orders WHERE user_id ="
                                         " ANY($1::bigint[]) AND status = 'PENDING'",
                                         1, params, 0, WAIT_MS),
                     0);
    assert_int_equal(set_scalar(&buyers, "SELECT count(*) FROM orders WHERE user_id ="
                                         " ANY($1::bigint[])"),
                     FAULT_ORDERS);
    assert_int_equal(set_scalar(&buyers, "SELECT count(*) FROM orders WHERE user_id ="
                                         " ANY($1::bigint[]) AND status = 'PAID'"),
                     (int64_t)paid);
    /* No double debit: each balance is its charge minus what its PAID orders cost. */
    assert_int_equal(set_scalar(&buyers, "SELECT count(*) FROM users u WHERE u.id ="
                                         " ANY($1::bigint[]) AND u.balance <> 1000000 -"
                                         " coalesce((SELECT sum(paid_amount) FROM orders o WHERE"
                                         " o.user_id = u.id AND o.status = 'PAID'), 0)"),
                     0);
    assert_int_equal(set_scalar(&buyers, "SELECT count(*) FROM balance_history WHERE user_id ="
                                         " ANY($1::bigint[]) AND type = 'USE'"),
                     FAULT_ORDERS);
    assert_int_equal(set_scalar(&buyers, "SELECT count(*) FROM balance_history WHERE user_id ="
                                         " ANY($1::bigint[]) AND type = 'REFUND'"),
                     FAULT_ORDERS - (int64_t)paid);
    /* Stock conserved: what is left plus what PAID orders took is what there was. */
    for (size_t p = 0; p < 2; p++) {
        assert_int_equal(wait_id("SELECT p.stock + coalesce((SELECT sum(i.quantity) FROM"
                                 " order_items i JOIN orders o ON o.id = i.order_id WHERE"
                                 " i.product_id = p.id AND o.status = 'PAID'), 0)"
                                 " FROM products p WHERE p.id = $1",
                                 products[p], FAULT_STOCK),
                         FAULT_STOCK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_line_order_is_paid_and_reads_back),
        cmocka_unit_test(test_order_with_a_null_coupon_is_paid_without_one),
        cmocka_unit_test(test_multi_line_order_with_coupon_is_paid_at_the_discounted_total),
        cmocka_unit_test(test_unknown_user_is_refused_without_an_order),
        cmocka_unit_test(test_unknown_or_not_selling_product_leaves_a_failed_order),
        cmocka_unit_test(test_coupon_not_found_not_usable_or_expired_is_refused),
        cmocka_unit_test(test_balance_below_the_amount_is_insufficient_balance),
        cmocka_unit_test(test_insufficient_stock_on_one_line_leaves_no_trace_but_the_failed_order),
        cmocka_unit_test(test_malformed_orders_are_refused_naming_the_field),
        cmocka_unit_test(test_idempotency_key_retry_returns_the_first_outcome_and_pays_once),
        cmocka_unit_test(test_two_users_with_the_same_idempotency_key_each_get_their_own_order),
        cmocka_unit_test(test_two_hundred_buyers_race_for_fifty_units),
        cmocka_unit_test(test_kill_9_of_workers_mid_stream_leaves_nothing_pending_or_paid_twice),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}

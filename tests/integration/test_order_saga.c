/*
 * The order saga at the Kafka level, without the ingress: two user workers and two stock
 * workers run against the real broker and database; PlaceOrder commands are produced to
 * ss.cmd.user keyed by the buyer, and the outcome is read back from PostgreSQL (the stored
 * command result, orders, lines, balances, history, coupons and stock). Users, products and
 * coupons are created directly in PostgreSQL, fresh for every test, before any command names
 * them.
 *
 * Covers paid single- and multi-line orders with a coupon, every refusal of the user worker,
 * a stock rejection on one line of several (everything given back), Idempotency-Key retries,
 * the limit counting what pending orders hold, 200 buyers racing for 50 units, and kill -9 of
 * both kinds of worker in the middle of a stream of orders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_stack.h"

#include "ss/clock.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 90000
#define WORKERS 2
#define PARAMS_MAX 4
#define USER_SET_MAX 200

static pid_t user_pids[WORKERS];
static pid_t stock_pids[WORKERS];

static void user_workers_start(void)
{
    static const char *const environment[] = {"SS_LOG_LEVEL=warn", NULL};
    for (size_t i = 0; i < WORKERS; i++) {
        user_pids[i] = ss_test_process_start("workers/user/ss-user-worker", environment);
    }
}

static void stock_workers_start(void)
{
    static const char *const environment[] = {"SS_LOG_LEVEL=warn", NULL};
    for (size_t i = 0; i < WORKERS; i++) {
        stock_pids[i] = ss_test_process_start("workers/stock/ss-stock-worker", environment);
    }
}

static void workers_stop(pid_t *pids, int signal_number)
{
    for (size_t i = 0; i < WORKERS; i++) {
        if (pids[i] > 0) {
            ss_test_process_stop(pids[i], signal_number);
            pids[i] = 0;
        }
    }
}

static int setup(void **state)
{
    (void)state;
    user_workers_start();
    stock_workers_start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    workers_stop(user_pids, SIGTERM);
    workers_stop(stock_pids, SIGTERM);
    return 0;
}

/* ---- PostgreSQL helpers ------------------------------------------------------------------ */

/* Runs sql with count int64 parameters and returns its scalar. */
static int64_t scalar(ss_pg_t *pg, const char *sql, int count, ...)
{
    char texts[PARAMS_MAX][32];
    const char *params[PARAMS_MAX];
    va_list args;
    va_start(args, count);
    for (int i = 0; i < count && i < PARAMS_MAX; i++) {
        snprintf(texts[i], sizeof(texts[i]), "%" PRId64, va_arg(args, int64_t));
        params[i] = texts[i];
    }
    va_end(args);
    return ss_test_pg_scalar(pg, sql, count, params);
}

/* Polls sql with one int64 parameter until it gives expected (bounded); returns the last value. */
static int64_t wait_scalar(ss_pg_t *pg, const char *sql, int64_t param, int64_t expected)
{
    char text[32];
    snprintf(text, sizeof(text), "%" PRId64, param);
    const char *params[] = {text};
    return ss_test_wait_scalar(pg, sql, 1, params, expected, WAIT_MS);
}

/* Users of one test, as a bigint[] literal for "= ANY($1)". */
typedef struct user_set {
    int64_t ids[USER_SET_MAX];
    size_t count;
    char literal[USER_SET_MAX * 24 + 3];
} user_set_t;

static void user_set_add(user_set_t *set, int64_t user_id)
{
    assert_true(set->count < USER_SET_MAX);
    set->ids[set->count++] = user_id;
    size_t used = 1;
    set->literal[0] = '{';
    for (size_t i = 0; i < set->count; i++) {
        used += (size_t)snprintf(set->literal + used, sizeof(set->literal) - used, "%s%" PRId64,
                                 i > 0 ? "," : "", set->ids[i]);
    }
    snprintf(set->literal + used, sizeof(set->literal) - used, "}");
}

static int64_t user_with_balance(ss_pg_t *pg, int64_t balance)
{
    int64_t user_id = ss_test_user_create(pg, "order saga");
    scalar(pg, "UPDATE users SET balance = $2 WHERE id = $1 RETURNING balance", 2, user_id,
           balance);
    return user_id;
}

static int64_t balance_of(ss_pg_t *pg, int64_t user_id)
{
    return scalar(pg, "SELECT balance FROM users WHERE id = $1", 1, user_id);
}

static int64_t held_of(ss_pg_t *pg, int64_t user_id)
{
    return scalar(pg, "SELECT held FROM users WHERE id = $1", 1, user_id);
}

static int64_t product_create(ss_pg_t *pg, int64_t price, int64_t stock, const char *status)
{
    char price_text[32], stock_text[32];
    snprintf(price_text, sizeof(price_text), "%" PRId64, price);
    snprintf(stock_text, sizeof(stock_text), "%" PRId64, stock);
    const char *params[] = {price_text, stock_text, status};
    return ss_test_pg_scalar(pg,
                             "INSERT INTO products (name, price, stock, sell_status)"
                             " VALUES ('saga test', $1, $2, $3) RETURNING id",
                             3, params);
}

static int64_t stock_of(ss_pg_t *pg, int64_t product_id)
{
    return scalar(pg, "SELECT stock FROM products WHERE id = $1", 1, product_id);
}

/* A coupon of rate_units/10000 that expires expires_in_s seconds from now (negative: past). */
static int64_t coupon_create(ss_pg_t *pg, int64_t rate_units, int64_t expires_in_s)
{
    return scalar(pg,
                  "INSERT INTO coupons (name, discount_rate, quantity, issued_count, expired_at)"
                  " VALUES ('saga test', $1 / 10000.0, 100, 1, now() + $2 * interval '1 second')"
                  " RETURNING id",
                  2, rate_units, expires_in_s);
}

static int64_t coupon_issue(ss_pg_t *pg, int64_t user_id, int64_t coupon_id)
{
    return scalar(pg, "INSERT INTO user_coupons (user_id, coupon_id) VALUES ($1, $2) RETURNING id",
                  2, user_id, coupon_id);
}

static int64_t coupon_used(ss_pg_t *pg, int64_t user_coupon_id)
{
    return scalar(pg,
                  "SELECT count(*) FROM user_coupons WHERE id = $1 AND status = 'USED'"
                  " AND used_at IS NOT NULL",
                  1, user_coupon_id);
}

/* ---- commands and results ---------------------------------------------------------------- */

typedef struct line {
    int64_t product_id;
    int64_t quantity;
} line_t;

/* Produces a PlaceOrder keyed by the buyer; coupon_id 0 means none. */
static void order_send(const char *request_id, int64_t user_id, int64_t coupon_id,
                       const line_t *lines, size_t line_count, const char *idempotency_key)
{
    json_t *array = json_array();
    for (size_t i = 0; i < line_count; i++) {
        json_array_append_new(array,
                              json_pack("{s:I, s:I}", "product_id", (json_int_t)lines[i].product_id,
                                        "quantity", (json_int_t)lines[i].quantity));
    }
    json_t *record = json_pack("{s:s, s:i, s:I, s:o, s:o, s:I}", "request_id", request_id,
                               "reply_partition", -1, "user_id", (json_int_t)user_id, "coupon_id",
                               coupon_id != 0 ? json_integer(coupon_id) : json_null(), "lines",
                               array, "requested_at", (json_int_t)ss_clock_now_ms());
    assert_non_null(record);
    if (idempotency_key != NULL) {
        json_object_set_new(record, "idempotency",
                            json_pack("{s:s, s:s, s:s}", "key", idempotency_key, "scope",
                                      "POST /api/v1/orders", "body_hash", "hash-of-the-body"));
    }
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, user_id);
    ss_test_produce("ss.cmd.user", key, "PlaceOrder", record);
    json_decref(record);
}

static void request_id_make(char *out, size_t size, const char *name, int number)
{
    snprintf(out, size, "test-%s-%s-%d", ss_test_run_id(), name, number);
}

/* Waits for the command's stored result and returns its HTTP status. */
static int64_t result_wait(ss_pg_t *pg, const char *request_id)
{
    const char *params[] = {request_id};
    int64_t found = ss_test_wait_scalar(
        pg, "SELECT count(*) FROM request_results WHERE request_id = $1", 1, params, 1, WAIT_MS);
    assert_int_equal(found, 1);
    return ss_test_pg_scalar(pg, "SELECT http_status FROM request_results WHERE request_id = $1", 1,
                             params);
}

/* Whether the stored result's envelope has "error": error_code (NULL: "status": "PAID"). */
static bool result_says(ss_pg_t *pg, const char *request_id, const char *error_code)
{
    const char *params[] = {request_id, error_code != NULL ? error_code : "PAID"};
    return ss_test_pg_scalar(pg,
                             error_code != NULL
                                 ? "SELECT count(*) FROM request_results WHERE request_id = $1"
                                   " AND body::json->>'error' = $2"
                                 : "SELECT count(*) FROM request_results WHERE request_id = $1"
                                   " AND body::json->'data'->>'status' = $2",
                             2, params) == 1;
}

/* The order the request created, 0 when none. */
static int64_t order_of(ss_pg_t *pg, const char *request_id)
{
    const char *params[] = {request_id};
    return ss_test_pg_scalar(pg, "SELECT coalesce(max(id), 0) FROM orders WHERE request_id = $1", 1,
                             params);
}

/* The answer's data.orderId, 0 when absent. */
static int64_t result_order_id(ss_pg_t *pg, const char *request_id)
{
    const char *params[] = {request_id};
    return ss_test_pg_scalar(pg,
                             "SELECT coalesce((body::json->'data'->>'orderId')::bigint, 0)"
                             " FROM request_results WHERE request_id = $1",
                             1, params);
}

static int64_t order_is(ss_pg_t *pg, int64_t order_id, const char *status)
{
    char id[32];
    snprintf(id, sizeof(id), "%" PRId64, order_id);
    const char *params[] = {id, status};
    return ss_test_pg_scalar(pg, "SELECT count(*) FROM orders WHERE id = $1 AND status = $2", 2,
                             params);
}

static int64_t history_count(ss_pg_t *pg, int64_t user_id, const char *type)
{
    char id[32];
    snprintf(id, sizeof(id), "%" PRId64, user_id);
    const char *params[] = {id, type};
    return ss_test_pg_scalar(
        pg, "SELECT count(*) FROM balance_history WHERE user_id = $1 AND type = $2", 2, params);
}

/* ---- paid orders ------------------------------------------------------------------------- */

static void test_single_line_order_is_paid_with_balance_and_stock_taken(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = user_with_balance(pg, 100000);
    int64_t product_id = product_create(pg, 1500, 10, "SELLING");
    char request_id[128];
    request_id_make(request_id, sizeof(request_id), "single", 1);
    const line_t lines[] = {{product_id, 3}};
    order_send(request_id, user_id, 0, lines, 1, NULL);

    assert_int_equal(result_wait(pg, request_id), 200);
    assert_true(result_says(pg, request_id, NULL));
    int64_t order_id = order_of(pg, request_id);
    assert_true(order_id > 0);
    assert_int_equal(result_order_id(pg, request_id), order_id);
    assert_int_equal(order_is(pg, order_id, "PAID"), 1);
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM orders WHERE id = $1 AND total_price = 4500"
                            " AND discount_price = 0 AND paid_amount = 4500 AND paid_at IS NOT"
                            " NULL AND failure_reason IS NULL",
                            1, order_id),
                     1);
    assert_int_equal(balance_of(pg, user_id), 95500);
    assert_int_equal(stock_of(pg, product_id), 7);
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM balance_history WHERE user_id = $1"
                            " AND type = 'USE' AND amount = 4500 AND balance_after = 95500"
                            " AND order_id = $2",
                            2, user_id, order_id),
                     1);
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM order_items WHERE order_id = $1 AND"
                            " product_id = $2 AND quantity = 3 AND unit_price = 1500 AND"
                            " reservation = 'RESERVED'",
                            2, order_id, product_id),
                     1);
    ss_pg_destroy(pg);
}

static void test_multi_line_order_with_coupon_pays_the_discounted_total(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = user_with_balance(pg, 1000000);
    int64_t products[3];
    const int64_t prices[] = {10000, 2500, 999};
    for (size_t i = 0; i < 3; i++) {
        products[i] = product_create(pg, prices[i], 100, "SELLING");
    }
    int64_t coupon_id = coupon_create(pg, 1234, 3600);
    int64_t user_coupon_id = coupon_issue(pg, user_id, coupon_id);
    char request_id[128];
    request_id_make(request_id, sizeof(request_id), "multi", 1);
    const line_t lines[] = {{products[0], 2}, {products[1], 4}, {products[2], 1}};
    order_send(request_id, user_id, coupon_id, lines, 3, NULL);

    /* total 20000 + 10000 + 999 = 30999; discount floor(30999 x 0.1234) = 3825 */
    assert_int_equal(result_wait(pg, request_id), 200);
    const char *params[] = {request_id};
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM request_results WHERE request_id = $1"
                                       " AND (body::json->'data'->>'totalPrice')::bigint = 30999"
                                       " AND (body::json->'data'->>'discountPrice')::bigint = 3825"
                                       " AND (body::json->'data'->>'paidAmount')::bigint = 27174",
                                       1, params),
                     1);
    int64_t order_id = order_of(pg, request_id);
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM orders WHERE id = $1 AND status = 'PAID' AND"
                            " coupon_id = $2 AND user_coupon_id = $3 AND paid_amount = 27174",
                            3, order_id, coupon_id, user_coupon_id),
                     1);
    assert_int_equal(balance_of(pg, user_id), 1000000 - 27174);
    assert_int_equal(coupon_used(pg, user_coupon_id), 1);
    assert_int_equal(stock_of(pg, products[0]), 98);
    assert_int_equal(stock_of(pg, products[1]), 96);
    assert_int_equal(stock_of(pg, products[2]), 99);
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM order_items WHERE order_id = $1 AND"
                            " reservation = 'RESERVED'",
                            1, order_id),
                     3);
    ss_pg_destroy(pg);
}

/* ---- refusals ---------------------------------------------------------------------------- */

/*
 * Sends an order that must be refused with status and error, and checks that it left only a
 * FAILED order with that reason (and its lines), and no money or stock moved.
 */
static void refusal_check(ss_pg_t *pg, const char *name, int64_t user_id, int64_t coupon_id,
                          const line_t *lines, size_t line_count, int64_t status, const char *error)
{
    char request_id[128];
    request_id_make(request_id, sizeof(request_id), name, 1);
    int64_t balance = balance_of(pg, user_id);
    order_send(request_id, user_id, coupon_id, lines, line_count, NULL);
    assert_int_equal(result_wait(pg, request_id), status);
    assert_true(result_says(pg, request_id, error));
    int64_t order_id = order_of(pg, request_id);
    assert_true(order_id > 0);
    assert_int_equal(result_order_id(pg, request_id), order_id);
    char id[32];
    snprintf(id, sizeof(id), "%" PRId64, order_id);
    const char *params[] = {id, error};
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM orders WHERE id = $1 AND status ="
                                       " 'FAILED' AND failure_reason = $2 AND paid_amount = 0",
                                       2, params),
                     1);
    assert_int_equal(
        scalar(pg, "SELECT count(*) FROM order_items WHERE order_id = $1", 1, order_id),
        (int64_t)line_count);
    assert_int_equal(balance_of(pg, user_id), balance);
    assert_int_equal(history_count(pg, user_id, "USE"), 0);
}

static void test_order_of_an_unknown_user_is_user_not_found_without_an_order(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t product_id = product_create(pg, 100, 10, "SELLING");
    char request_id[128];
    request_id_make(request_id, sizeof(request_id), "nouser", 1);
    const line_t lines[] = {{product_id, 1}};
    order_send(request_id, INT64_C(900000000001), 0, lines, 1, NULL);
    assert_int_equal(result_wait(pg, request_id), 404);
    assert_true(result_says(pg, request_id, "USER_NOT_FOUND"));
    assert_int_equal(order_of(pg, request_id), 0);
    ss_pg_destroy(pg);
}

static void test_unknown_or_not_selling_product_fails_the_order(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = user_with_balance(pg, 100000);
    int64_t selling = product_create(pg, 100, 10, "SELLING");
    int64_t stopped = product_create(pg, 100, 10, "STOP_SELLING");
    int64_t held = product_create(pg, 100, 10, "HOLD");
    const line_t unknown[] = {{selling, 1}, {INT64_C(900000000002), 1}};
    refusal_check(pg, "unknown-product", user_id, 0, unknown, 2, 404, "PRODUCT_NOT_FOUND");
    const line_t not_selling[] = {{selling, 1}, {stopped, 1}};
    refusal_check(pg, "stopped", user_id, 0, not_selling, 2, 409, "PRODUCT_NOT_SELLING");
    const line_t on_hold[] = {{held, 1}};
    refusal_check(pg, "hold", user_id, 0, on_hold, 1, 409, "PRODUCT_NOT_SELLING");
    assert_int_equal(stock_of(pg, selling), 10);
    ss_pg_destroy(pg);
}

static void test_unusable_coupons_fail_the_order(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = user_with_balance(pg, 100000);
    int64_t other_user = user_with_balance(pg, 0);
    int64_t product_id = product_create(pg, 1000, 10, "SELLING");
    const line_t lines[] = {{product_id, 1}};
    refusal_check(pg, "no-coupon", user_id, INT64_C(900000000003), lines, 1, 404,
                  "COUPON_NOT_FOUND");
    int64_t not_mine = coupon_create(pg, 1000, 3600);
    coupon_issue(pg, other_user, not_mine);
    refusal_check(pg, "not-mine", user_id, not_mine, lines, 1, 409, "COUPON_NOT_USABLE");
    int64_t used = coupon_create(pg, 1000, 3600);
    int64_t used_issue = coupon_issue(pg, user_id, used);
    scalar(pg,
           "UPDATE user_coupons SET status = 'USED', used_at = now() WHERE id = $1"
           " RETURNING id",
           1, used_issue);
    refusal_check(pg, "used", user_id, used, lines, 1, 409, "COUPON_NOT_USABLE");
    int64_t expired = coupon_create(pg, 1000, -60);
    int64_t expired_issue = coupon_issue(pg, user_id, expired);
    refusal_check(pg, "expired", user_id, expired, lines, 1, 409, "COUPON_EXPIRED");
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM user_coupons WHERE id = $1 AND status ="
                            " 'UNUSED'",
                            1, expired_issue),
                     1);
    assert_int_equal(stock_of(pg, product_id), 10);
    ss_pg_destroy(pg);
}

static void test_balance_below_the_amount_is_insufficient_balance(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = user_with_balance(pg, 2999);
    int64_t product_id = product_create(pg, 1000, 10, "SELLING");
    const line_t lines[] = {{product_id, 3}};
    refusal_check(pg, "poor", user_id, 0, lines, 1, 409, "INSUFFICIENT_BALANCE");
    assert_int_equal(stock_of(pg, product_id), 10);
    ss_pg_destroy(pg);
}

/* ---- a stock rejection ------------------------------------------------------------------- */

static void test_insufficient_stock_on_one_line_gives_everything_back(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = user_with_balance(pg, 500000);
    int64_t plenty_a = product_create(pg, 1000, 10, "SELLING");
    int64_t scarce = product_create(pg, 2000, 1, "SELLING");
    int64_t plenty_b = product_create(pg, 3000, 10, "SELLING");
    int64_t coupon_id = coupon_create(pg, 5000, 3600);
    int64_t user_coupon_id = coupon_issue(pg, user_id, coupon_id);
    char request_id[128];
    request_id_make(request_id, sizeof(request_id), "scarce", 1);
    const line_t lines[] = {{plenty_a, 2}, {scarce, 5}, {plenty_b, 1}};
    order_send(request_id, user_id, coupon_id, lines, 3, NULL);

    assert_int_equal(result_wait(pg, request_id), 409);
    assert_true(result_says(pg, request_id, "INSUFFICIENT_STOCK"));
    int64_t order_id = order_of(pg, request_id);
    assert_int_equal(result_order_id(pg, request_id), order_id);
    assert_int_equal(order_is(pg, order_id, "FAILED"), 1);
    /* total 2000 + 10000 + 3000 = 15000, half off: 7500 debited, then refunded */
    assert_int_equal(balance_of(pg, user_id), 500000);
    assert_int_equal(held_of(pg, user_id), 0);
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM balance_history WHERE user_id = $1 AND"
                            " order_id = $2 AND amount = 7500 AND type IN ('USE', 'REFUND')",
                            2, user_id, order_id),
                     2);
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM user_coupons WHERE id = $1 AND status ="
                            " 'UNUSED' AND used_at IS NULL",
                            1, user_coupon_id),
                     1);
    /* The other lines' stock comes back once their reservations are released. */
    assert_int_equal(wait_scalar(pg, "SELECT stock FROM products WHERE id = $1", plenty_a, 10), 10);
    assert_int_equal(wait_scalar(pg, "SELECT stock FROM products WHERE id = $1", plenty_b, 10), 10);
    assert_int_equal(stock_of(pg, scarce), 1);
    assert_int_equal(wait_scalar(pg,
                                 "SELECT count(*) FROM order_items WHERE order_id = $1"
                                 " AND reservation = 'RELEASED'",
                                 order_id, 2),
                     2);
    assert_int_equal(scalar(pg,
                            "SELECT count(*) FROM order_items WHERE order_id = $1 AND"
                            " product_id = $2 AND reservation = 'REJECTED'",
                            2, order_id, scarce),
                     1);
    ss_pg_destroy(pg);
}

/* ---- idempotency and the limit ----------------------------------------------------------- */

static void test_idempotency_key_retry_does_not_pay_twice(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = user_with_balance(pg, 100000);
    int64_t product_id = product_create(pg, 7000, 10, "SELLING");
    char key[128], first[128], retry[128];
    snprintf(key, sizeof(key), "order-key-%s", ss_test_run_id());
    request_id_make(first, sizeof(first), "idem", 1);
    request_id_make(retry, sizeof(retry), "idem", 2);
    const line_t lines[] = {{product_id, 1}};
    order_send(first, user_id, 0, lines, 1, key);
    assert_int_equal(result_wait(pg, first), 200);
    order_send(retry, user_id, 0, lines, 1, key);
    assert_int_equal(result_wait(pg, retry), 200);
    const char *params[] = {first, retry};
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(DISTINCT body) FROM request_results"
                                       " WHERE request_id IN ($1, $2)",
                                       2, params),
                     1);
    assert_int_equal(balance_of(pg, user_id), 93000);
    assert_int_equal(stock_of(pg, product_id), 9);
    assert_int_equal(scalar(pg, "SELECT count(*) FROM orders WHERE user_id = $1", 1, user_id), 1);
    ss_pg_destroy(pg);
}

static void charge_send(const char *request_id, int64_t user_id, int64_t amount)
{
    json_t *record = json_pack("{s:s, s:i, s:I, s:I, s:I}", "request_id", request_id,
                               "reply_partition", -1, "user_id", (json_int_t)user_id, "amount",
                               (json_int_t)amount, "requested_at", (json_int_t)ss_clock_now_ms());
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, user_id);
    ss_test_produce("ss.cmd.user", key, "ChargeBalance", record);
    json_decref(record);
}

static void test_charge_counts_what_a_pending_order_holds_against_the_limit(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t user_id = user_with_balance(pg, 10000000);
    int64_t product_id = product_create(pg, 4000000, 5, "SELLING");
    /* Without stock workers the order stays PENDING, holding what it debited. */
    workers_stop(stock_pids, SIGTERM);
    char order_request[128], charge_over[128], charge_within[128];
    request_id_make(order_request, sizeof(order_request), "held", 1);
    request_id_make(charge_over, sizeof(charge_over), "held-charge", 1);
    request_id_make(charge_within, sizeof(charge_within), "held-charge", 2);
    const line_t lines[] = {{product_id, 1}};
    order_send(order_request, user_id, 0, lines, 1, NULL);
    charge_send(charge_over, user_id, 1);
    assert_int_equal(result_wait(pg, charge_over), 409);
    assert_true(result_says(pg, charge_over, "BALANCE_LIMIT_EXCEEDED"));
    /*
     * The charge follows the order in the partition, and the stock reply can only come after
     * a stock worker runs again (unless a stock worker of another build shares the group).
     */
    assert_int_equal(balance_of(pg, user_id), 6000000);
    assert_int_equal(held_of(pg, user_id), 4000000);
    stock_workers_start();
    assert_int_equal(result_wait(pg, order_request), 200);
    assert_int_equal(held_of(pg, user_id), 0);
    /* Paid: what was held is spent, and the limit has room again. */
    charge_send(charge_within, user_id, 4000000);
    assert_int_equal(result_wait(pg, charge_within), 200);
    assert_int_equal(balance_of(pg, user_id), 10000000);
    ss_pg_destroy(pg);
}

/* ---- concurrency and crashes ------------------------------------------------------------- */

#define RACE_BUYERS 200
#define RACE_STOCK 50
#define RACE_BALANCE 10000
#define RACE_PRICE 1000

static void test_two_hundred_buyers_race_for_fifty_units(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t product_id = product_create(pg, RACE_PRICE, RACE_STOCK, "SELLING");
    static user_set_t buyers;
    memset(&buyers, 0, sizeof(buyers));
    for (int i = 0; i < RACE_BUYERS; i++) {
        user_set_add(&buyers, user_with_balance(pg, RACE_BALANCE));
    }
    char request_id[128];
    const line_t lines[] = {{product_id, 1}};
    for (int i = 0; i < RACE_BUYERS; i++) {
        request_id_make(request_id, sizeof(request_id), "race", i);
        order_send(request_id, buyers.ids[i], 0, lines, 1, NULL);
    }
    const char *users[] = {buyers.literal};
    assert_int_equal(ss_test_wait_scalar(pg,
                                         "SELECT count(*) FROM orders WHERE user_id ="
                                         " ANY($1::bigint[]) AND status <> 'PENDING'",
                                         1, users, RACE_BUYERS, WAIT_MS),
                     RACE_BUYERS);
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM orders WHERE user_id ="
                                       " ANY($1::bigint[]) AND status = 'PAID'",
                                       1, users),
                     RACE_STOCK);
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM orders WHERE user_id ="
                                       " ANY($1::bigint[]) AND status = 'FAILED' AND"
                                       " failure_reason = 'INSUFFICIENT_STOCK'",
                                       1, users),
                     RACE_BUYERS - RACE_STOCK);
    assert_int_equal(stock_of(pg, product_id), 0);
    /* Money is conserved: what the buyers hold plus what was paid is what they had. */
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT sum(balance) + (SELECT coalesce(sum(paid_amount), 0)"
                                       " FROM orders WHERE user_id = ANY($1::bigint[]) AND"
                                       " status = 'PAID') FROM users WHERE id = ANY($1::bigint[])",
                                       1, users),
                     (int64_t)RACE_BUYERS * RACE_BALANCE);
    /* Each failed buyer was refunded in full: its balance is untouched. */
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM users u WHERE u.id ="
                                       " ANY($1::bigint[]) AND u.balance <> 10000 -"
                                       " coalesce((SELECT sum(paid_amount) FROM orders o"
                                       " WHERE o.user_id = u.id AND o.status = 'PAID'), 0)",
                                       1, users),
                     0);
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM balance_history WHERE user_id ="
                                       " ANY($1::bigint[]) AND type = 'REFUND'",
                                       1, users),
                     RACE_BUYERS - RACE_STOCK);
    ss_pg_destroy(pg);
}

#define CRASH_ORDERS 300
#define CRASH_BUYERS 30
#define CRASH_STOCK 120
#define CRASH_BALANCE 1000000

static void test_kill_9_of_both_workers_mid_stream_leaves_nothing_pending(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t products[2] = {product_create(pg, 100, CRASH_STOCK, "SELLING"),
                           product_create(pg, 250, CRASH_STOCK, "SELLING")};
    static user_set_t buyers;
    memset(&buyers, 0, sizeof(buyers));
    for (int i = 0; i < CRASH_BUYERS; i++) {
        user_set_add(&buyers, user_with_balance(pg, CRASH_BALANCE));
    }
    char request_id[128];
    for (int i = 0; i < CRASH_ORDERS; i++) {
        request_id_make(request_id, sizeof(request_id), "crash", i);
        const line_t lines[] = {{products[0], 1 + i % 2}, {products[1], 1}};
        order_send(request_id, buyers.ids[i % CRASH_BUYERS], 0, lines, 2, NULL);
        if (i == CRASH_ORDERS / 3) {
            workers_stop(stock_pids, SIGKILL);
            stock_workers_start();
        }
        if (i == CRASH_ORDERS / 2) {
            workers_stop(user_pids, SIGKILL);
            user_workers_start();
        }
    }
    const char *users[] = {buyers.literal};
    assert_int_equal(ss_test_wait_scalar(pg,
                                         "SELECT count(*) FROM orders WHERE user_id ="
                                         " ANY($1::bigint[]) AND status <> 'PENDING'",
                                         1, users, CRASH_ORDERS, WAIT_MS),
                     CRASH_ORDERS);
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM orders WHERE user_id ="
                                       " ANY($1::bigint[])",
                                       1, users),
                     CRASH_ORDERS);
    /* No double debit: each balance is the start minus what its PAID orders cost. */
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM users u WHERE u.id ="
                                       " ANY($1::bigint[]) AND u.balance <> 1000000 -"
                                       " coalesce((SELECT sum(paid_amount) FROM orders o"
                                       " WHERE o.user_id = u.id AND o.status = 'PAID'), 0)",
                                       1, users),
                     0);
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM balance_history WHERE user_id ="
                                       " ANY($1::bigint[]) AND type = 'USE'",
                                       1, users),
                     CRASH_ORDERS);
    assert_int_equal(ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM balance_history WHERE user_id ="
                                       " ANY($1::bigint[]) AND type = 'REFUND'",
                                       1, users),
                     ss_test_pg_scalar(pg,
                                       "SELECT count(*) FROM orders WHERE user_id ="
                                       " ANY($1::bigint[]) AND status = 'FAILED'",
                                       1, users));
    /* Stock conserved: what is left plus what PAID orders took is what there was. */
    for (size_t p = 0; p < 2; p++) {
        assert_int_equal(wait_scalar(pg,
                                     "SELECT p.stock + coalesce((SELECT sum(i.quantity) FROM"
                                     " order_items i JOIN orders o ON o.id = i.order_id WHERE"
                                     " i.product_id = p.id AND o.status = 'PAID'), 0)"
                                     " FROM products p WHERE p.id = $1",
                                     products[p], CRASH_STOCK),
                         CRASH_STOCK);
        assert_true(stock_of(pg, products[p]) >= 0);
    }
    ss_pg_destroy(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_line_order_is_paid_with_balance_and_stock_taken),
        cmocka_unit_test(test_multi_line_order_with_coupon_pays_the_discounted_total),
        cmocka_unit_test(test_order_of_an_unknown_user_is_user_not_found_without_an_order),
        cmocka_unit_test(test_unknown_or_not_selling_product_fails_the_order),
        cmocka_unit_test(test_unusable_coupons_fail_the_order),
        cmocka_unit_test(test_balance_below_the_amount_is_insufficient_balance),
        cmocka_unit_test(test_insufficient_stock_on_one_line_gives_everything_back),
        cmocka_unit_test(test_idempotency_key_retry_does_not_pay_twice),
        cmocka_unit_test(test_charge_counts_what_a_pending_order_holds_against_the_limit),
        cmocka_unit_test(test_two_hundred_buyers_race_for_fifty_units),
        cmocka_unit_test(test_kill_9_of_both_workers_mid_stream_leaves_nothing_pending),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

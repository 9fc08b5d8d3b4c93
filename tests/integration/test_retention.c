/*
 * Retention of the dedupe and result tables (docs/architecture.md, "Retention"; issue 10,
 * point 14) through the real stack: an ss-ingress of this test (instance 3), a user worker and
 * a stock worker, every one of them running its retention job every 200 ms with the default
 * retentions (24 h keys, 7 d results and pending rows, 30 d reservations). Rows are made old by
 * moving their created_at back, the way time would:
 * - keys, results and pending rows past their retention are pruned, newer ones kept, and a
 *   pending row whose result exists goes at once (GET /requests/{id} still says DONE);
 * - a charge retried with its Idempotency-Key inside the window gets the first answer after
 *   pruning ran, and once its key is past the window the same key is a new request;
 * - an order's stock reservation past its retention is pruned below the horizon, and a
 *   ReserveStock re-sent for that order afterwards is refused: the stock is taken once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_http.h"
#include "ss_test_services.h"
#include "ss_test_stack.h"

#include "ss/topics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define PRUNE_WAIT_MS 30000

static ss_test_services_t services;

static int setup(void **state)
{
    static const char *const environment[] = {"SS_RETENTION_INTERVAL_MS=200", NULL};
    ss_test_services_config_t config = {.instance = 3,
                                        .port = 18194,
                                        .request_deadline_ms = 30000,
                                        .ingress_environment = environment,
                                        .worker_environment = environment};
    config.workers[SS_TEST_SERVICE_USER] = 1;
    config.workers[SS_TEST_SERVICE_STOCK] = 1;
    ss_test_services_start(&services, &config);
    *state = &services;
    return 0;
}

static int64_t count_where(const char *sql, const char *value)
{
    const char *params[] = {value};
    return ss_test_pg_scalar(services.pg, sql, 1, params);
}

/* Waits until sql (one text parameter) counts `expected`; fails the test otherwise. */
static void wait_count(const char *sql, const char *value, int64_t expected)
{
    const char *params[] = {value};
    assert_int_equal(ss_test_wait_scalar(services.pg, sql, 1, params, expected, PRUNE_WAIT_MS),
                     expected);
}

/* A name unique to this run and the given role. */
static void name_make(char *out, size_t size, const char *role)
{
    snprintf(out, size, "retention-%s-%s", role, ss_test_run_id());
}

static void result_insert(const char *request_id, const char *age_sql)
{
    const char *params[] = {request_id, age_sql};
    ss_test_pg_exec(services.pg,
                    "INSERT INTO request_results (request_id, http_status, body, created_at)"
                    " VALUES ($1, 200, '{\"code\":200,\"message\":\"OK\"}',"
                    " now() - $2::interval)",
                    2, params);
}

/* Inserts a key created age_sql ago (its request id is the key), with its result if asked. */
static void key_insert(const char *key, const char *age_sql, bool result)
{
    const char *params[] = {key, age_sql};
    ss_test_pg_exec(services.pg,
                    "INSERT INTO idempotency_keys (scope, key, body_hash, request_id, created_at)"
                    " VALUES ('POST /retention-test', $1, 'hash', $1, now() - $2::interval)",
                    2, params);
    if (result) {
        result_insert(key, age_sql);
    }
}

static void pending_insert(const char *request_id, const char *age_sql)
{
    const char *params[] = {request_id, age_sql};
    ss_test_pg_exec(services.pg,
                    "INSERT INTO request_pending (request_id, created_at)"
                    " VALUES ($1, now() - $2::interval)",
                    2, params);
}

static void request_expect(const char *request_id, long status, const char *request_status)
{
    ss_test_http_reply_t reply;
    ss_test_http_get(services.http, &reply, "/api/v1/requests/%s", request_id);
    json_t *data = ss_test_http_expect(&reply, status, status == 404 ? "REQUEST_NOT_FOUND" : NULL);
    if (request_status != NULL) {
        assert_string_equal(ss_test_json_string(data, "status"), request_status);
    }
    ss_test_http_reply_free(&reply);
}

static void test_rows_past_their_retention_are_pruned_and_newer_ones_kept(void **state)
{
    (void)state;
    char old_key[128], young_key[128], old_result[128], young_result[128];
    char old_pending[128], waiting[128], answered[128];
    name_make(old_key, sizeof(old_key), "old-key");
    name_make(young_key, sizeof(young_key), "young-key");
    name_make(old_result, sizeof(old_result), "old-result");
    name_make(young_result, sizeof(young_result), "young-result");
    name_make(old_pending, sizeof(old_pending), "old-pending");
    name_make(waiting, sizeof(waiting), "waiting");
    name_make(answered, sizeof(answered), "answered");
    key_insert(old_key, "25 hours", false);
    key_insert(young_key, "23 hours", true);
    result_insert(old_result, "8 days");
    result_insert(young_result, "6 days");
    pending_insert(old_pending, "8 days");
    pending_insert(waiting, "1 hour");
    pending_insert(answered, "1 hour");
    result_insert(answered, "1 minute");

    wait_count("SELECT count(*) FROM idempotency_keys WHERE key = $1", old_key, 0);
    wait_count("SELECT count(*) FROM request_results WHERE request_id = $1", old_result, 0);
    wait_count("SELECT count(*) FROM request_pending WHERE request_id = $1", old_pending, 0);
    wait_count("SELECT count(*) FROM request_pending WHERE request_id = $1", answered, 0);
    assert_int_equal(count_where("SELECT count(*) FROM idempotency_keys WHERE key = $1", young_key),
                     1);
    assert_int_equal(
        count_where("SELECT count(*) FROM request_results WHERE request_id = $1", young_key), 1);
    assert_int_equal(
        count_where("SELECT count(*) FROM request_results WHERE request_id = $1", young_result), 1);
    assert_int_equal(
        count_where("SELECT count(*) FROM request_pending WHERE request_id = $1", waiting), 1);
    request_expect(waiting, 200, "PENDING");
    request_expect(answered, 200, "DONE");
    request_expect(young_result, 200, "DONE");
    request_expect(old_pending, 404, NULL);
    request_expect(old_result, 404, NULL);
}

static int64_t charge_with_key(int64_t user_id, const char *key, int64_t amount)
{
    char body[64], header[200];
    snprintf(body, sizeof(body), "{\"amount\":%" PRId64 "}", amount);
    snprintf(header, sizeof(header), "Idempotency-Key: %s", key);
    ss_test_http_request_t request;
    ss_test_http_request_init(&request, "POST", body, "/api/v1/users/%" PRId64 "/balance/charge",
                              user_id);
    request.headers[0] = header;
    ss_test_http_reply_t reply;
    ss_test_services_send(&services, &request, &reply);
    int64_t balance = ss_test_json_int(ss_test_http_expect(&reply, 200, NULL), "amount");
    ss_test_http_reply_free(&reply);
    return balance;
}

/* Makes the key (and its first result) as old as age_sql, then waits for a pruning run. */
static void key_age(const char *key, const char *age_sql)
{
    const char *params[] = {key, age_sql};
    ss_test_pg_exec(services.pg,
                    "WITH k AS (UPDATE idempotency_keys SET created_at = now() - $2::interval"
                    " WHERE key = $1 RETURNING request_id)"
                    " UPDATE request_results r SET created_at = now() - $2::interval FROM k"
                    " WHERE r.request_id = k.request_id",
                    2, params);
    char sentinel[128];
    name_make(sentinel, sizeof(sentinel), age_sql);
    key_insert(sentinel, "25 hours", false);
    wait_count("SELECT count(*) FROM idempotency_keys WHERE key = $1", sentinel, 0);
}

static void test_a_retry_inside_the_window_gets_the_first_answer_after_pruning(void **state)
{
    (void)state;
    char nickname[128], key[128];
    name_make(nickname, sizeof(nickname), "retry");
    name_make(key, sizeof(key), "charge-key");
    int64_t user_id = ss_test_http_user_create(services.http, nickname);
    assert_int_equal(charge_with_key(user_id, key, 1000), 1000);

    key_age(key, "23 hours");
    assert_int_equal(charge_with_key(user_id, key, 1000), 1000);
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, user_id);
    assert_int_equal(count_where("SELECT balance FROM users WHERE id = $1", id), 1000);

    /* Past the window the key is forgotten: the same key is a new request (documented). */
    key_age(key, "25 hours");
    assert_int_equal(charge_with_key(user_id, key, 1000), 2000);
}

static int64_t order_place(int64_t user_id, int64_t product_id, int64_t quantity)
{
    char body[200];
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
    int64_t order_id = ss_test_json_int(data, "orderId");
    ss_test_http_reply_free(&reply);
    return order_id;
}

/* ReserveStock for the order's line, as the user worker's outbox would re-send it. */
static void reserve_resend(int64_t order_id, int64_t user_id, int64_t product_id, int64_t quantity)
{
    char event_id[128], key[24];
    snprintf(event_id, sizeof(event_id), "order-%" PRId64 "-reserve-%" PRId64, order_id,
             product_id);
    snprintf(key, sizeof(key), "%" PRId64, product_id);
    json_t *record = json_pack("{s:s, s:I, s:I, s:I, s:I}", "event_id", event_id, "order_id",
                               (json_int_t)order_id, "user_id", (json_int_t)user_id, "product_id",
                               (json_int_t)product_id, "quantity", (json_int_t)quantity);
    ss_test_produce(SS_TOPIC_CMD_STOCK, key, "ReserveStock", record);
    json_decref(record);
}

/* An admin stock change on the product's partition: answered after everything sent before. */
static int64_t stock_adjust(int64_t product_id, int64_t delta)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"stockDelta\":%" PRId64 "}", delta);
    ss_test_http_reply_t reply;
    ss_test_http_admin(services.http, &reply, "PATCH", body, "/api/v1/admin/products/%" PRId64,
                       product_id);
    ss_test_http_settle(services.http, &reply, SS_TEST_SERVICES_SETTLE_MS);
    int64_t stock = ss_test_json_int(ss_test_http_expect(&reply, 200, NULL), "stock");
    ss_test_http_reply_free(&reply);
    return stock;
}

static void test_a_resent_reserve_for_a_pruned_order_takes_no_stock(void **state)
{
    (void)state;
    char nickname[128], product_name[128];
    name_make(nickname, sizeof(nickname), "buyer");
    name_make(product_name, sizeof(product_name), "product");
    int64_t user_id = ss_test_http_user_create(services.http, nickname);
    int64_t product_id = ss_test_http_product_create(services.http, product_name, 100, 10, NULL);
    char key[128];
    name_make(key, sizeof(key), "topup");
    charge_with_key(user_id, key, 10000);
    int64_t pruned_order = order_place(user_id, product_id, 2);
    int64_t kept_order = order_place(user_id, product_id, 1);

    /* Every reservation up to the first order is a month old: the horizon may pass it. */
    char pruned_text[24], kept_text[24];
    snprintf(pruned_text, sizeof(pruned_text), "%" PRId64, pruned_order);
    snprintf(kept_text, sizeof(kept_text), "%" PRId64, kept_order);
    const char *up_to[] = {pruned_text};
    ss_test_pg_exec(services.pg,
                    "UPDATE stock_reservations SET created_at = now() - interval '31 days'"
                    " WHERE order_id <= $1",
                    1, up_to);
    wait_count("SELECT count(*) FROM stock_reservations WHERE order_id = $1", pruned_text, 0);
    assert_int_equal(count_where("SELECT count(*) FROM stock_reservation_horizon"
                                 " WHERE order_id_below > $1",
                                 pruned_text),
                     1);
    assert_int_equal(
        count_where("SELECT count(*) FROM stock_reservations WHERE order_id = $1", kept_text), 1);

    reserve_resend(pruned_order, user_id, product_id, 2);
    reserve_resend(kept_order, user_id, product_id, 1);
    /* 10 - 2 - 1, then the marker's +1: neither re-send took stock. */
    assert_int_equal(stock_adjust(product_id, 1), 8);
    assert_int_equal(
        count_where("SELECT count(*) FROM stock_reservations WHERE order_id = $1", pruned_text), 0);
    assert_int_equal(
        count_where("SELECT count(*) FROM orders WHERE id = $1 AND status = 'PAID'", pruned_text),
        1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_past_their_retention_are_pruned_and_newer_ones_kept),
        cmocka_unit_test(test_a_retry_inside_the_window_gets_the_first_answer_after_pruning),
        cmocka_unit_test(test_a_resent_reserve_for_a_pruned_order_takes_no_stock),
    };
    return cmocka_run_group_tests(tests, setup, ss_test_services_teardown);
}

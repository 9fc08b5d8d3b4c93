/*
 * The pure parts of the data-platform sink (workers/sink): the order body the platform gets,
 * what an answer means, the backoff, the URL and the configuration checks; and the HTTP client
 * against an in-process server on loopback (headers sent, statuses, timeouts, a refused
 * connection, a stop during a POST).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "platform_sink.h"

#include "ss/avro.h"
#include "ss/http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define ERRSTR_SIZE 512

/* ---- order body ------------------------------------------------------------------------------ */

static json_t *order_paid_json(void)
{
    json_t *record = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:[{s:I, s:i, s:I}, {s:I, s:i, s:I}], s:I}",
        "event_id", "order-42-paid", "order_id", (json_int_t)42, "user_id", (json_int_t)7,
        "coupon_id", (json_int_t)5, "total_price", (json_int_t)3500, "discount_price",
        (json_int_t)350, "paid_amount", (json_int_t)3150, "lines", "product_id", (json_int_t)11,
        "quantity", 2, "unit_price", (json_int_t)1000, "product_id", (json_int_t)12, "quantity", 1,
        "unit_price", (json_int_t)1500, "paid_at", (json_int_t)1767225599123LL);
    assert_non_null(record);
    return record;
}

static void test_order_body_has_the_documented_fields_in_camel_case(void **state)
{
    (void)state;
    json_t *record = order_paid_json();
    char errstr[ERRSTR_SIZE];
    char *body = NULL;
    int64_t order_id = 0;
    assert_int_equal(ss_sink_order_body(record, &order_id, &body, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(order_id, 42);
    assert_string_equal(body, "{\"orderId\":42,\"userId\":7,\"couponId\":5,\"totalPrice\":3500,"
                              "\"discountPrice\":350,\"paidAmount\":3150,"
                              "\"paidAt\":\"2025-12-31T23:59:59.123Z\",\"lines\":["
                              "{\"productId\":11,\"quantity\":2,\"unitPrice\":1000},"
                              "{\"productId\":12,\"quantity\":1,\"unitPrice\":1500}]}");
    free(body);
    json_decref(record);
}

static void test_order_without_coupon_has_a_null_coupon_id(void **state)
{
    (void)state;
    json_t *record = order_paid_json();
    json_object_set_new(record, "coupon_id", json_null());
    char errstr[ERRSTR_SIZE];
    char *body = NULL;
    int64_t order_id = 0;
    assert_int_equal(ss_sink_order_body(record, &order_id, &body, errstr, sizeof(errstr)), SS_OK);
    assert_non_null(strstr(body, "\"couponId\":null"));
    free(body);
    json_decref(record);
}

static void test_order_body_comes_out_of_a_real_avro_round_trip(void **state)
{
    (void)state;
    char errstr[ERRSTR_SIZE];
    ss_avro_registry_t *registry = NULL;
    assert_int_equal(ss_avro_registry_load(NULL, &registry, errstr, sizeof(errstr)), SS_OK);
    json_t *record = order_paid_json();
    json_object_set_new(record, "coupon_id", json_null());
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    assert_int_equal(ss_avro_encode(registry, "OrderPaid", record, &buffer, errstr, sizeof(errstr)),
                     SS_OK);
    json_t *decoded = NULL;
    const char *name = NULL;
    assert_int_equal(ss_avro_decode(registry, buffer.data, buffer.length, &name, &decoded, errstr,
                                    sizeof(errstr)),
                     SS_OK);
    assert_string_equal(name, "OrderPaid");
    char *body = NULL;
    int64_t order_id = 0;
    assert_int_equal(ss_sink_order_body(decoded, &order_id, &body, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(order_id, 42);
    assert_non_null(strstr(body, "\"couponId\":null"));
    assert_non_null(strstr(body, "\"paidAt\":\"2025-12-31T23:59:59.123Z\""));
    free(body);
    json_decref(decoded);
    json_decref(record);
    ss_avro_buffer_free(&buffer);
    ss_avro_registry_destroy(registry);
}

/* The largest order the sink takes: every number at its maximum, 1000 lines. */
static void test_order_body_of_the_longest_order_fits_and_parses(void **state)
{
    (void)state;
    json_t *record = order_paid_json();
    json_t *lines = json_array();
    for (int i = 0; i < 1000; i++) {
        json_array_append_new(lines,
                              json_pack("{s:I, s:i, s:I}", "product_id", (json_int_t)INT64_MAX,
                                        "quantity", 1000000, "unit_price", (json_int_t)INT64_MAX));
    }
    json_object_set_new(record, "lines", lines);
    json_object_set_new(record, "order_id", json_integer(INT64_MAX));
    json_object_set_new(record, "user_id", json_integer(INT64_MAX));
    json_object_set_new(record, "coupon_id", json_integer(INT64_MAX));
    json_object_set_new(record, "total_price", json_integer(INT64_MAX));
    json_object_set_new(record, "discount_price", json_integer(INT64_MAX));
    json_object_set_new(record, "paid_amount", json_integer(INT64_MAX));
    char errstr[ERRSTR_SIZE];
    char *body = NULL;
    int64_t order_id = 0;
    assert_int_equal(ss_sink_order_body(record, &order_id, &body, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(order_id, INT64_MAX);
    json_error_t error;
    json_t *parsed = json_loads(body, 0, &error);
    assert_non_null(parsed);
    assert_int_equal(json_array_size(json_object_get(parsed, "lines")), 1000);
    assert_int_equal(json_integer_value(json_object_get(parsed, "paidAmount")), INT64_MAX);
    json_decref(parsed);
    free(body);
    json_decref(record);
}

/* Expects ss_sink_order_body to refuse record with a message containing needle. */
static void expect_refused(json_t *record, const char *needle)
{
    char errstr[ERRSTR_SIZE];
    char *body = (char *)"untouched";
    int64_t order_id = -1;
    assert_int_equal(ss_sink_order_body(record, &order_id, &body, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_null(body);
    assert_int_equal(order_id, 0);
    if (strstr(errstr, needle) == NULL) {
        fail_msg("errstr '%s' does not mention '%s'", errstr, needle);
    }
    json_decref(record);
}

static void test_order_body_refuses_a_record_it_cannot_trust(void **state)
{
    (void)state;
    json_t *record = order_paid_json();
    json_object_del(record, "user_id");
    expect_refused(record, "user_id is required");

    record = order_paid_json();
    json_object_set_new(record, "order_id", json_integer(0));
    expect_refused(record, "order_id");

    record = order_paid_json();
    json_object_set_new(record, "total_price", json_string("3500"));
    expect_refused(record, "total_price");

    record = order_paid_json();
    json_object_set_new(record, "paid_at", json_integer(-1));
    expect_refused(record, "paid_at");

    record = order_paid_json();
    json_object_set_new(record, "lines", json_array());
    expect_refused(record, "lines");

    record = order_paid_json();
    json_integer_set(
        json_object_get(json_array_get(json_object_get(record, "lines"), 1), "quantity"), 0);
    expect_refused(record, "lines[1].quantity");

    expect_refused(json_array(), "not an object");
}

static void test_idempotency_key_is_order_dash_id(void **state)
{
    (void)state;
    char key[SS_SINK_IDEMPOTENCY_KEY_SIZE];
    ss_sink_idempotency_key(42, key, sizeof(key));
    assert_string_equal(key, "order-42");
    ss_sink_idempotency_key(INT64_MAX, key, sizeof(key));
    assert_string_equal(key, "order-9223372036854775807");
}

/* ---- outcome and backoff ----------------------------------------------------------------------
 */

static void test_2xx_and_409_are_delivered(void **state)
{
    (void)state;
    const long statuses[] = {200, 201, 202, 204, 299, 409};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        assert_int_equal(ss_sink_classify(true, statuses[i]), SS_SINK_DELIVERED);
    }
}

static void test_no_answer_5xx_408_and_429_are_retried(void **state)
{
    (void)state;
    assert_int_equal(ss_sink_classify(false, 0), SS_SINK_RETRY);
    assert_int_equal(ss_sink_classify(false, 200), SS_SINK_RETRY); /* status ignored */
    const long statuses[] = {500, 502, 503, 504, 599, 408, 429, 100, 301, 304};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        assert_int_equal(ss_sink_classify(true, statuses[i]), SS_SINK_RETRY);
    }
}

static void test_other_4xx_are_permanent(void **state)
{
    (void)state;
    const long statuses[] = {400, 401, 403, 404, 405, 410, 413, 422, 499};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        assert_int_equal(ss_sink_classify(true, statuses[i]), SS_SINK_PERMANENT);
    }
    assert_string_equal(ss_sink_outcome_name(SS_SINK_PERMANENT), "permanent");
}

static void test_backoff_ceiling_doubles_from_the_base_up_to_the_max(void **state)
{
    (void)state;
    /* random == ceiling gives the ceiling itself; ceiling + 1 wraps to 0. */
    assert_int_equal(ss_sink_backoff_ms(1, 100, 10000, 100), 100);
    assert_int_equal(ss_sink_backoff_ms(1, 100, 10000, 101), 0);
    assert_int_equal(ss_sink_backoff_ms(2, 100, 10000, 200), 200);
    assert_int_equal(ss_sink_backoff_ms(3, 100, 10000, 400), 400);
    assert_int_equal(ss_sink_backoff_ms(8, 100, 10000, 10000), 10000);
    assert_int_equal(ss_sink_backoff_ms(8, 100, 10000, 10001), 0);
    /* No overflow however many attempts. */
    assert_int_equal(ss_sink_backoff_ms(1000, 100, 10000, 10000), 10000);
    assert_int_equal(ss_sink_backoff_ms(UINT32_MAX, 600000, 600000, 600000), 600000);
}

static void test_backoff_is_full_jitter_within_the_ceiling(void **state)
{
    (void)state;
    uint64_t random_state = 12345;
    bool below_half = false, above_half = false;
    for (int i = 0; i < 1000; i++) {
        int64_t wait = ss_sink_backoff_ms(4, 100, 10000, ss_sink_random_next(&random_state));
        assert_true(wait >= 0 && wait <= 800);
        below_half = below_half || wait < 400;
        above_half = above_half || wait > 400;
    }
    assert_true(below_half && above_half);
    assert_int_not_equal(random_state, 0);
}

static void test_excerpt_is_safe_for_a_log_line_and_bounded(void **state)
{
    (void)state;
    char out[16];
    const char text[] = "{\"a\":\"b\\\"}\n\x01\xc3\xa9";
    ss_sink_excerpt(text, sizeof(text) - 1, out, sizeof(out));
    assert_string_equal(out, "{'a':'b/'}  ??");
    const char longer[] = "0123456789abcdefghij";
    ss_sink_excerpt(longer, sizeof(longer) - 1, out, sizeof(out));
    assert_string_equal(out, "0123456789abcde");
}

/* ---- URL and configuration ---------------------------------------------------------------------
 */

static void expect_url(const char *given, const char *expected)
{
    char out[SS_SINK_URL_SIZE], errstr[ERRSTR_SIZE];
    assert_int_equal(ss_sink_url_resolve(given, out, sizeof(out), errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(out, expected);
}

static void test_url_without_a_path_gets_the_orders_path(void **state)
{
    (void)state;
    expect_url("http://127.0.0.1:18090", "http://127.0.0.1:18090/orders");
    expect_url("http://127.0.0.1:18090/", "http://127.0.0.1:18090/orders");
    expect_url("https://platform.example.com/v2/ingest/orders",
               "https://platform.example.com/v2/ingest/orders");
    expect_url("http://127.0.0.1:18090/orders", "http://127.0.0.1:18090/orders");
}

static void test_batch_url_appends_batch_to_the_orders_path(void **state)
{
    (void)state;
    const char *const cases[][2] = {
        {"http://127.0.0.1:18090/orders", "http://127.0.0.1:18090/orders/batch"},
        {"https://p.example.com/v2/orders/", "https://p.example.com/v2/orders/batch"},
        {"https://p.example.com/ingest?tenant=7", "https://p.example.com/ingest/batch?tenant=7"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[SS_SINK_URL_SIZE], errstr[ERRSTR_SIZE];
        assert_int_equal(ss_sink_batch_url(cases[i][0], out, sizeof(out), errstr, sizeof(errstr)),
                         SS_OK);
        assert_string_equal(out, cases[i][1]);
    }
}

/* ---- batches ----------------------------------------------------------------------------------
 */

/* Three items for orders 1..3, the second with a request id and a traceparent. */
static void items_make(ss_sink_item_t *items)
{
    for (int i = 0; i < 3; i++) {
        items[i] = (ss_sink_item_t){.order_id = i + 1, .record = (size_t)i};
        ss_sink_idempotency_key(i + 1, items[i].key, sizeof(items[i].key));
        char order[32];
        snprintf(order, sizeof(order), "{\"orderId\":%d}", i + 1);
        items[i].order = strdup(order);
        assert_non_null(items[i].order);
    }
    snprintf(items[1].trace.request_id, sizeof(items[1].trace.request_id), "req-2");
    snprintf(items[1].trace.traceparent, sizeof(items[1].trace.traceparent),
             "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
}

static void items_free(ss_sink_item_t *items)
{
    for (int i = 0; i < 3; i++) {
        free(items[i].order);
    }
}

static void test_batch_body_lists_the_items_not_done_with_their_keys(void **state)
{
    (void)state;
    ss_sink_item_t items[3];
    items_make(items);
    items[0].done = true;
    char *body = NULL, errstr[ERRSTR_SIZE];
    assert_int_equal(ss_sink_batch_body(items, 3, &body, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(
        body, "{\"orders\":[{\"idempotencyKey\":\"order-2\",\"requestId\":\"req-2\","
              "\"traceparent\":\"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\","
              "\"order\":{\"orderId\":2}},{\"idempotencyKey\":\"order-3\",\"requestId\":null,"
              "\"traceparent\":null,\"order\":{\"orderId\":3}}]}");
    free(body);
    items_free(items);
}

static void test_batch_body_of_real_order_bodies_is_json_holding_each_order(void **state)
{
    (void)state;
    ss_sink_item_t items[3];
    items_make(items);
    json_t *record = order_paid_json();
    char errstr[ERRSTR_SIZE];
    int64_t order_id = 0;
    for (int i = 0; i < 3; i++) {
        free(items[i].order);
        assert_int_equal(
            ss_sink_order_body(record, &order_id, &items[i].order, errstr, sizeof(errstr)), SS_OK);
    }
    char *body = NULL;
    assert_int_equal(ss_sink_batch_body(items, 3, &body, errstr, sizeof(errstr)), SS_OK);
    json_error_t error;
    json_t *parsed = json_loads(body, 0, &error);
    assert_non_null(parsed);
    json_t *orders = json_object_get(parsed, "orders");
    assert_int_equal(json_array_size(orders), 3);
    json_t *expected = json_loads(items[0].order, 0, &error);
    for (size_t i = 0; i < 3; i++) {
        assert_true(json_equal(json_object_get(json_array_get(orders, i), "order"), expected));
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(orders, 1), "requestId")),
                        "req-2");
    json_decref(expected);
    json_decref(parsed);
    json_decref(record);
    free(body);
    items_free(items);
}

static void test_batch_results_give_each_item_its_own_outcome(void **state)
{
    (void)state;
    ss_sink_item_t items[3];
    items_make(items);
    items[1].done = true;
    const char answer[] =
        "{\"results\":[{\"idempotencyKey\":\"order-1\",\"status\":201},"
        "{\"idempotencyKey\":\"order-3\",\"status\":422,\"error\":\"bad\\\"x\"}]}";
    char errstr[ERRSTR_SIZE];
    assert_int_equal(
        ss_sink_batch_results(answer, strlen(answer), items, 3, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(items[0].outcome, SS_SINK_DELIVERED);
    assert_int_equal(items[0].status, 201);
    assert_int_equal(items[2].outcome, SS_SINK_PERMANENT);
    assert_int_equal(items[2].status, 422);
    assert_string_equal(items[2].detail, "bad'x");
    assert_int_equal(items[1].status, 0); /* done before: not in the batch, untouched */
    items_free(items);
}

static void test_batch_results_that_do_not_match_are_refused_whole(void **state)
{
    (void)state;
    const char *const bad[] = {
        "{\"results\":[{\"idempotencyKey\":\"order-1\",\"status\":201}]}",
        "{\"results\":[{\"idempotencyKey\":\"order-1\",\"status\":201},"
        "{\"idempotencyKey\":\"order-2\",\"status\":201},"
        "{\"idempotencyKey\":\"order-4\",\"status\":201}]}",
        "{\"results\":[{\"idempotencyKey\":\"order-2\",\"status\":201},"
        "{\"idempotencyKey\":\"order-1\",\"status\":201},"
        "{\"idempotencyKey\":\"order-3\",\"status\":201}]}",
        "{\"results\":[{\"idempotencyKey\":\"order-1\",\"status\":201},"
        "{\"idempotencyKey\":\"order-2\",\"status\":\"ok\"},"
        "{\"idempotencyKey\":\"order-3\",\"status\":201}]}",
        "{\"results\":[{\"idempotencyKey\":\"order-1\",\"status\":201},"
        "{\"idempotencyKey\":\"order-2\",\"status\":7},"
        "{\"idempotencyKey\":\"order-3\",\"status\":201}]}",
        "{\"said\":\"so\"}",
        "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ss_sink_item_t items[3];
        items_make(items);
        char errstr[ERRSTR_SIZE];
        assert_int_equal(
            ss_sink_batch_results(bad[i], strlen(bad[i]), items, 3, errstr, sizeof(errstr)),
            SS_ERR_INVALID);
        for (int k = 0; k < 3; k++) {
            assert_int_equal(items[k].status, 0); /* nothing taken from a partial read */
        }
        items_free(items);
    }
}

static void test_url_that_is_not_http_is_refused(void **state)
{
    (void)state;
    const char *const bad[] = {"ftp://example.com/orders", "127.0.0.1:18090/orders", "not a url",
                               "http://"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[SS_SINK_URL_SIZE], errstr[ERRSTR_SIZE];
        assert_int_equal(ss_sink_url_resolve(bad[i], out, sizeof(out), errstr, sizeof(errstr)),
                         SS_ERR_INVALID);
        assert_string_equal(out, "");
    }
    char small[16], errstr[ERRSTR_SIZE];
    assert_int_equal(ss_sink_url_resolve("http://127.0.0.1:18090/orders", small, sizeof(small),
                                         errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
}

/* Loads the sink's table from argv alone (the environment may hold the stack's values). */
static ss_err_t config_load(ss_config_option_t *options, ss_sink_config_t *config, int argc,
                            char **argv, char *errstr, size_t errstr_size)
{
    const char *const names[] = {"KAFKA_BOOTSTRAP",
                                 "SS_GROUP_ID",
                                 "SS_CLIENT_ID",
                                 "PLATFORM_URL",
                                 "PLATFORM_TOKEN",
                                 "SS_PLATFORM_TIMEOUT_MS",
                                 "SS_PLATFORM_CONNECT_TIMEOUT_MS",
                                 "SS_PLATFORM_ATTEMPTS_MAX",
                                 "SS_PLATFORM_BACKOFF_BASE_MS",
                                 "SS_PLATFORM_BACKOFF_MAX_MS",
                                 "SS_SCHEMA_DIR",
                                 "SS_LOG_LEVEL"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        unsetenv(names[i]);
    }
    memset(config, 0, sizeof(*config));
    ss_sink_config_options(options, config);
    return ss_config_load(options, SS_SINK_CONFIG_OPTION_COUNT, argc, argv, errstr, errstr_size);
}

static void test_config_defaults_are_valid(void **state)
{
    (void)state;
    ss_sink_config_t config;
    ss_config_option_t options[SS_SINK_CONFIG_OPTION_COUNT];
    char errstr[ERRSTR_SIZE];
    char *argv[] = {(char *)"ss-platform-sink"};
    assert_int_equal(config_load(options, &config, 1, argv, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_sink_config_validate(&config, errstr, sizeof(errstr)), SS_OK);
    assert_string_equal(config.platform_url, "http://127.0.0.1:18090/orders");
    assert_string_equal(config.group_id, "ss-platform-sink");
    assert_int_equal(config.attempts_max, 20);
    assert_int_equal(config.backoff_base_ms, 100);
    assert_int_equal(config.backoff_max_ms, 10000);
    ss_config_free(options, SS_SINK_CONFIG_OPTION_COUNT);
}

static void expect_config_refused(const char *flag, const char *needle)
{
    ss_sink_config_t config;
    ss_config_option_t options[SS_SINK_CONFIG_OPTION_COUNT];
    char errstr[ERRSTR_SIZE];
    char *argv[] = {(char *)"ss-platform-sink", (char *)flag};
    assert_int_equal(config_load(options, &config, 2, argv, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_sink_config_validate(&config, errstr, sizeof(errstr)), SS_ERR_INVALID);
    if (strstr(errstr, needle) == NULL) {
        fail_msg("errstr '%s' does not mention '%s'", errstr, needle);
    }
    ss_config_free(options, SS_SINK_CONFIG_OPTION_COUNT);
}

static void test_config_that_cannot_work_is_refused(void **state)
{
    (void)state;
    expect_config_refused("--connect-timeout-ms=6000", "SS_PLATFORM_CONNECT_TIMEOUT_MS");
    expect_config_refused("--backoff-base-ms=20000", "SS_PLATFORM_BACKOFF_BASE_MS");
    expect_config_refused("--log-level=loud", "SS_LOG_LEVEL");
    expect_config_refused("--platform-url=ftp://example.com/x", "PLATFORM_URL");
}

/* ---- the client against an in-process server ------------------------------------------------- */

typedef struct platform_fixture {
    ss_http_server_t *server;
    char url[128];
    int status;                   /* what POST /orders answers */
    bool hold;                    /* suspend and never answer (until the server stops) */
    ss_http_request_t *held;      /* the held request's reference */
    char key_seen[64];            /* the Idempotency-Key of the last request */
    char content_type_seen[64];   /* its Content-Type */
    char authorization_seen[128]; /* its Authorization */
    char body_seen[256];
} platform_fixture_t;

static void orders_handler(ss_http_request_t *req, void *context)
{
    platform_fixture_t *fixture = context;
    const char *key = ss_http_request_header(req, "Idempotency-Key");
    const char *type = ss_http_request_header(req, "Content-Type");
    const char *authorization = ss_http_request_header(req, "Authorization");
    snprintf(fixture->key_seen, sizeof(fixture->key_seen), "%s", key ? key : "");
    snprintf(fixture->content_type_seen, sizeof(fixture->content_type_seen), "%s",
             type ? type : "");
    snprintf(fixture->authorization_seen, sizeof(fixture->authorization_seen), "%s",
             authorization ? authorization : "");
    size_t length = 0;
    snprintf(fixture->body_seen, sizeof(fixture->body_seen), "%s",
             ss_http_request_body(req, &length));
    if (fixture->hold) {
        ss_http_request_suspend(req);
        fixture->held = req;
        return;
    }
    (void)ss_http_respond_json(req, fixture->status, "{\"said\":\"so\"}");
}

/* The batch endpoint of the fixture: answers 200 with a body longer than an excerpt. */
#define BIG_ANSWER_BYTES 5000
static void batch_handler(ss_http_request_t *req, void *context)
{
    platform_fixture_t *fixture = context;
    const char *key = ss_http_request_header(req, "Idempotency-Key");
    snprintf(fixture->key_seen, sizeof(fixture->key_seen), "%s", key ? key : "");
    size_t length = 0;
    snprintf(fixture->body_seen, sizeof(fixture->body_seen), "%s",
             ss_http_request_body(req, &length));
    static char answer[BIG_ANSWER_BYTES + 1];
    memset(answer, 'a', BIG_ANSWER_BYTES);
    answer[0] = '"';
    answer[BIG_ANSWER_BYTES - 1] = '"';
    (void)ss_http_respond_json(req, 200, answer);
}

static const ss_http_route_t platform_routes[] = {
    {SS_HTTP_METHOD_POST, "/orders", orders_handler},
    {SS_HTTP_METHOD_POST, "/orders/batch", batch_handler},
};

static int platform_setup(void **state)
{
    platform_fixture_t *fixture = calloc(1, sizeof(*fixture));
    assert_non_null(fixture);
    char errstr[ERRSTR_SIZE];
    ss_http_server_config_t config = {
        .port = 0, .threads = 1, .routes = platform_routes, .routes_count = 2, .context = fixture};
    assert_int_equal(ss_http_server_start(&config, &fixture->server, errstr, sizeof(errstr)),
                     SS_OK);
    snprintf(fixture->url, sizeof(fixture->url), "http://127.0.0.1:%u/orders",
             (unsigned)ss_http_server_port(fixture->server));
    fixture->status = 201;
    *state = fixture;
    return 0;
}

static int platform_teardown(void **state)
{
    platform_fixture_t *fixture = *state;
    ss_http_server_stop(fixture->server);
    ss_http_request_release(fixture->held);
    ss_http_server_destroy(fixture->server);
    free(fixture);
    return 0;
}

static void test_client_posts_json_with_the_idempotency_key(void **state)
{
    platform_fixture_t *fixture = *state;
    char errstr[ERRSTR_SIZE];
    ss_sink_client_t *client = NULL;
    assert_int_equal(ss_sink_client_new(fixture->url, "s3cret", 1000, 2000, NULL, &client, errstr,
                                        sizeof(errstr)),
                     SS_OK);
    ss_sink_response_t response;
    const char body[] = "{\"orderId\":42}";
    assert_int_equal(ss_sink_client_post(client, "order-42", NULL, body, strlen(body), &response,
                                         errstr, sizeof(errstr)),
                     SS_OK);
    assert_true(response.answered);
    assert_int_equal(response.status, 201);
    assert_string_equal(response.excerpt, "{'said':'so'}");
    assert_string_equal(fixture->key_seen, "order-42");
    assert_string_equal(fixture->content_type_seen, "application/json");
    assert_string_equal(fixture->authorization_seen, "Bearer s3cret");
    assert_string_equal(fixture->body_seen, body);

    /* The handle is reused: a second POST carries its own key and sees the new status. */
    fixture->status = 503;
    assert_int_equal(ss_sink_client_post(client, "order-43", NULL, body, strlen(body), &response,
                                         errstr, sizeof(errstr)),
                     SS_OK);
    assert_true(response.answered);
    assert_int_equal(response.status, 503);
    assert_string_equal(fixture->key_seen, "order-43");
    ss_sink_client_destroy(client);
}

static void test_client_posts_a_batch_without_a_key_and_keeps_the_whole_answer(void **state)
{
    platform_fixture_t *fixture = *state;
    char errstr[ERRSTR_SIZE], batch_url[SS_SINK_URL_SIZE];
    ss_sink_client_t *client = NULL;
    assert_int_equal(
        ss_sink_client_new(fixture->url, "", 1000, 2000, NULL, &client, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(
        ss_sink_batch_url(fixture->url, batch_url, sizeof(batch_url), errstr, sizeof(errstr)),
        SS_OK);
    ss_sink_response_t response;
    const char body[] = "{\"orders\":[]}";
    assert_int_equal(ss_sink_client_post_batch(client, batch_url, body, strlen(body), &response,
                                               errstr, sizeof(errstr)),
                     SS_OK);
    assert_true(response.answered);
    assert_int_equal(response.status, 200);
    assert_string_equal(fixture->key_seen, "");
    assert_string_equal(fixture->body_seen, body);
    /* Longer than an excerpt: the answer is kept whole, the excerpt is its start. */
    assert_int_equal(response.body_length, BIG_ANSWER_BYTES);
    assert_int_equal(strlen(response.body), BIG_ANSWER_BYTES);
    assert_int_equal(strlen(response.excerpt), SS_SINK_EXCERPT_SIZE - 1);
    /* The orders endpoint is still the one ss_sink_client_post goes to. */
    assert_int_equal(
        ss_sink_client_post(client, "order-9", NULL, "{}", 2, &response, errstr, sizeof(errstr)),
        SS_OK);
    assert_int_equal(response.status, 201);
    assert_string_equal(fixture->key_seen, "order-9");
    ss_sink_client_destroy(client);
}

static void test_client_reports_a_platform_slower_than_the_timeout_as_no_answer(void **state)
{
    platform_fixture_t *fixture = *state;
    fixture->hold = true;
    char errstr[ERRSTR_SIZE];
    ss_sink_client_t *client = NULL;
    assert_int_equal(
        ss_sink_client_new(fixture->url, NULL, 100, 300, NULL, &client, errstr, sizeof(errstr)),
        SS_OK);
    ss_sink_response_t response;
    assert_int_equal(
        ss_sink_client_post(client, "order-1", NULL, "{}", 2, &response, errstr, sizeof(errstr)),
        SS_OK);
    assert_false(response.answered);
    assert_true(strlen(response.error) > 0);
    assert_string_equal(fixture->authorization_seen, ""); /* no token, no header */
    ss_sink_client_destroy(client);
}

static void test_client_abandons_a_post_once_stop_is_set(void **state)
{
    platform_fixture_t *fixture = *state;
    fixture->hold = true;
    volatile sig_atomic_t stop = 1;
    char errstr[ERRSTR_SIZE];
    ss_sink_client_t *client = NULL;
    /* A timeout far beyond the test's patience: only the stop flag ends this POST. */
    assert_int_equal(ss_sink_client_new(fixture->url, NULL, 100000, 300000, &stop, &client, errstr,
                                        sizeof(errstr)),
                     SS_OK);
    ss_sink_response_t response;
    assert_int_equal(
        ss_sink_client_post(client, "order-1", NULL, "{}", 2, &response, errstr, sizeof(errstr)),
        SS_OK);
    assert_false(response.answered);
    ss_sink_client_destroy(client);
}

static void test_client_reports_a_refused_connection_as_no_answer(void **state)
{
    platform_fixture_t *fixture = *state;
    char url[128];
    snprintf(url, sizeof(url), "%s", fixture->url);
    /* Stop the server: its port now refuses connections. */
    ss_http_server_stop(fixture->server);
    char errstr[ERRSTR_SIZE];
    ss_sink_client_t *client = NULL;
    assert_int_equal(
        ss_sink_client_new(url, NULL, 1000, 2000, NULL, &client, errstr, sizeof(errstr)), SS_OK);
    ss_sink_response_t response;
    assert_int_equal(
        ss_sink_client_post(client, "order-1", NULL, "{}", 2, &response, errstr, sizeof(errstr)),
        SS_OK);
    assert_false(response.answered);
    assert_int_equal(ss_sink_classify(response.answered, response.status), SS_SINK_RETRY);
    ss_sink_client_destroy(client);
}

int main(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_body_has_the_documented_fields_in_camel_case),
        cmocka_unit_test(test_order_without_coupon_has_a_null_coupon_id),
        cmocka_unit_test(test_order_body_comes_out_of_a_real_avro_round_trip),
        cmocka_unit_test(test_order_body_of_the_longest_order_fits_and_parses),
        cmocka_unit_test(test_order_body_refuses_a_record_it_cannot_trust),
        cmocka_unit_test(test_idempotency_key_is_order_dash_id),
        cmocka_unit_test(test_2xx_and_409_are_delivered),
        cmocka_unit_test(test_no_answer_5xx_408_and_429_are_retried),
        cmocka_unit_test(test_other_4xx_are_permanent),
        cmocka_unit_test(test_backoff_ceiling_doubles_from_the_base_up_to_the_max),
        cmocka_unit_test(test_backoff_is_full_jitter_within_the_ceiling),
        cmocka_unit_test(test_excerpt_is_safe_for_a_log_line_and_bounded),
        cmocka_unit_test(test_url_without_a_path_gets_the_orders_path),
        cmocka_unit_test(test_url_that_is_not_http_is_refused),
        cmocka_unit_test(test_batch_url_appends_batch_to_the_orders_path),
        cmocka_unit_test(test_batch_body_lists_the_items_not_done_with_their_keys),
        cmocka_unit_test(test_batch_body_of_real_order_bodies_is_json_holding_each_order),
        cmocka_unit_test(test_batch_results_give_each_item_its_own_outcome),
        cmocka_unit_test(test_batch_results_that_do_not_match_are_refused_whole),
        cmocka_unit_test(test_config_defaults_are_valid),
        cmocka_unit_test(test_config_that_cannot_work_is_refused),
        cmocka_unit_test_setup_teardown(
            test_client_posts_a_batch_without_a_key_and_keeps_the_whole_answer, platform_setup,
            platform_teardown),
        cmocka_unit_test_setup_teardown(test_client_posts_json_with_the_idempotency_key,
                                        platform_setup, platform_teardown),
        cmocka_unit_test_setup_teardown(
            test_client_reports_a_platform_slower_than_the_timeout_as_no_answer, platform_setup,
            platform_teardown),
        cmocka_unit_test_setup_teardown(test_client_abandons_a_post_once_stop_is_set,
                                        platform_setup, platform_teardown),
        cmocka_unit_test_setup_teardown(test_client_reports_a_refused_connection_as_no_answer,
                                        platform_setup, platform_teardown),
    };
    int failures = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failures;
}

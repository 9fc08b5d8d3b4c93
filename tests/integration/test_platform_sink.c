/*
 * The data-platform sink against the real broker and the mock platform: OrderPaid records are
 * produced to ss.events.order and what reached the platform is read back from the mock's
 * GET /received. Covers exactly-once from the platform's point of view (unique == produced),
 * a failing, a stalled and a dead platform, permanent refusals and undecodable records parked
 * in ss.dlq, the bound on attempts, and kill -9 of the sink in mid-stream; batches (one order
 * refused inside a batch is parked alone, the rest delivered once) and the fallback to one POST
 * per order for a platform without the batch endpoint.
 *
 * The mock listens on its own port (not the stack's 18090) and the sink uses its own consumer
 * group, so a developer's running copies are not disturbed. Before the first test the group is
 * moved to the end of ss.events.order, so a run reads only what it produces itself: the paid
 * orders a benchmark leaves on the topic (hundreds of thousands) would otherwise all reach this
 * run's mock first, and its GET /received of them took longer than the tests wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_stack.h"

#include "ss/clock.h"
#include "ss/kafka.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 60000
#define POLL_PAUSE_US 100000
#define MOCK_PORT "18091"
#define MOCK_URL "http://127.0.0.1:" MOCK_PORT
#define RESPONSE_BYTES_MAX (64 * 1024 * 1024)
#define ORDERS_MAX 256
#define DLQ_POLL_MS 500

static pid_t mock_pid;
static pid_t sink_pid;
static int64_t next_order_id;

/* ---- processes ------------------------------------------------------------------------------ */

static const char *const mock_environment[] = {"SS_MOCK_PLATFORM_PORT=" MOCK_PORT,
                                               "SS_MOCK_PLATFORM_HOST=127.0.0.1",
                                               "SS_LOG_LEVEL=info", NULL};

/* The sink's consumer group in these tests (not the stack's ss-platform-sink). */
#define SINK_GROUP "ss-platform-sink-test"
#define EVENTS_TOPIC "ss.events.order"

/* PLATFORM_URL without a path: the sink appends /orders, as for `scripts/stack.sh env`. */
#define SINK_ENVIRONMENT_COMMON                                                                    \
    "PLATFORM_URL=" MOCK_URL, "SS_GROUP_ID=" SINK_GROUP, "SS_CLIENT_ID=ss-platform-sink-test",     \
        "SS_PLATFORM_TIMEOUT_MS=1000", "SS_PLATFORM_CONNECT_TIMEOUT_MS=500",                       \
        "SS_PLATFORM_BACKOFF_BASE_MS=50", "SS_PLATFORM_BACKOFF_MAX_MS=400", "SS_LOG_LEVEL=info"

static const char *const sink_environment[] = {SINK_ENVIRONMENT_COMMON,
                                               "SS_PLATFORM_ATTEMPTS_MAX=1000", NULL};
static const char *const sink_environment_few_attempts[] = {SINK_ENVIRONMENT_COMMON,
                                                            "SS_PLATFORM_ATTEMPTS_MAX=3", NULL};

/* ---- HTTP to the mock ------------------------------------------------------------------------ */

typedef struct response_buffer {
    char *data;
    size_t length;
} response_buffer_t;

static size_t on_data(char *data, size_t size, size_t count, void *opaque)
{
    response_buffer_t *buffer = opaque;
    size_t length = size * count;
    if (buffer->length + length > RESPONSE_BYTES_MAX) {
        return 0;
    }
    char *grown = realloc(buffer->data, buffer->length + length + 1);
    if (grown == NULL) {
        return 0;
    }
    memcpy(grown + buffer->length, data, length);
    buffer->data = grown;
    buffer->length += length;
    buffer->data[buffer->length] = '\0';
    return length;
}

/* One request to the mock; returns the status (0 when it did not answer) and the body. */
static long mock_request(const char *method, const char *path, const char *body, char **body_out)
{
    response_buffer_t buffer = {0};
    char url[256];
    snprintf(url, sizeof(url), "%s%s", MOCK_URL, path);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    assert_non_null(headers);
    CURLcode code = curl_easy_setopt(curl, CURLOPT_URL, url);
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
    if (code == CURLE_OK && body != NULL) {
        code = curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    }
    if (code == CURLE_OK) {
        code = curl_easy_setopt(curl, CURLOPT_WRITEDATA, &buffer);
    }
    assert_int_equal(code, CURLE_OK);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK) {
        assert_int_equal(curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status), CURLE_OK);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (body_out != NULL) {
        *body_out = buffer.data;
    } else {
        free(buffer.data);
    }
    return status;
}

static void mock_control(const char *control)
{
    assert_int_equal(mock_request("POST", "/control", control, NULL), 200);
}

static void mock_start(void)
{
    mock_pid = ss_test_process_start("producers/mock_platform/ss-mock-platform", mock_environment);
    long status = mock_request("GET", "/health", NULL, NULL);
    for (int waited = 0; status != 200 && waited < WAIT_MS; waited += POLL_PAUSE_US / 1000) {
        usleep(POLL_PAUSE_US);
        status = mock_request("GET", "/health", NULL, NULL);
    }
    assert_int_equal(status, 200);
}

static int setup_with(const char *const *environment)
{
    mock_start();
    sink_pid = ss_test_process_start("workers/sink/ss-platform-sink", environment);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    return setup_with(sink_environment);
}

static int setup_few_attempts(void **state)
{
    (void)state;
    return setup_with(sink_environment_few_attempts);
}

static int teardown(void **state)
{
    (void)state;
    ss_test_process_stop(sink_pid, SIGTERM);
    ss_test_process_stop(mock_pid, SIGTERM);
    sink_pid = 0;
    mock_pid = 0;
    return 0;
}

/* ---- orders ---------------------------------------------------------------------------------- */

static int64_t order_id_new(void)
{
    if (next_order_id == 0) {
        /* Unique per run: milliseconds since the epoch, times a thousand orders per test run. */
        next_order_id = ss_clock_now_ms() * 1000;
    }
    return ++next_order_id;
}

static json_t *order_paid_record(int64_t order_id, int64_t coupon_id)
{
    char event_id[64];
    snprintf(event_id, sizeof(event_id), "order-%" PRId64 "-paid", order_id);
    json_t *record = json_pack(
        "{s:s, s:I, s:I, s:o, s:I, s:I, s:I, s:[{s:I, s:i, s:I}, {s:I, s:i, s:I}], s:I}",
        "event_id", event_id, "order_id", (json_int_t)order_id, "user_id", (json_int_t)7,
        "coupon_id", coupon_id > 0 ? json_integer((json_int_t)coupon_id) : json_null(),
        "total_price", (json_int_t)3500, "discount_price", (json_int_t)(coupon_id > 0 ? 350 : 0),
        "paid_amount", (json_int_t)(coupon_id > 0 ? 3150 : 3500), "lines", "product_id",
        (json_int_t)11, "quantity", 2, "unit_price", (json_int_t)1000, "product_id", (json_int_t)12,
        "quantity", 1, "unit_price", (json_int_t)1500, "paid_at", (json_int_t)1767225599123LL);
    assert_non_null(record);
    return record;
}

static void order_key(int64_t order_id, char *out, size_t out_size)
{
    snprintf(out, out_size, "%" PRId64, order_id);
}

/* Produces an OrderPaid keyed by order id, as the user worker's outbox does. */
static int64_t order_paid_produce(int64_t coupon_id)
{
    int64_t order_id = order_id_new();
    json_t *record = order_paid_record(order_id, coupon_id);
    char key[32];
    order_key(order_id, key, sizeof(key));
    ss_test_produce(EVENTS_TOPIC, key, "OrderPaid", record);
    json_decref(record);
    return order_id;
}

static int64_t order_failed_produce(void)
{
    int64_t order_id = order_id_new();
    json_t *record = json_pack("{s:s, s:I, s:I, s:s, s:I}", "event_id", "order-x-failed",
                               "order_id", (json_int_t)order_id, "user_id", (json_int_t)7, "reason",
                               "INSUFFICIENT_STOCK", "failed_at", (json_int_t)ss_clock_now_ms());
    assert_non_null(record);
    char key[32];
    order_key(order_id, key, sizeof(key));
    ss_test_produce(EVENTS_TOPIC, key, "OrderFailed", record);
    json_decref(record);
    return order_id;
}

/* Produces raw bytes (not Avro) with key to topic. */
static void raw_produce(const char *topic, const char *key, const void *value, size_t length)
{
    ss_kafka_producer_t *producer = NULL;
    char errstr[512];
    ss_kafka_producer_config_t config = {.bootstrap = ss_test_kafka_bootstrap(),
                                         .client_id = "ss-test-raw"};
    assert_int_equal(ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(ss_kafka_producer_send(producer, topic, SS_KAFKA_PARTITION_BY_KEY, key,
                                            strlen(key), value, length, NULL, 0, NULL, errstr,
                                            sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_kafka_producer_flush(producer, 10000, errstr, sizeof(errstr)), SS_OK);
    ss_kafka_producer_destroy(producer);
}

/* ---- what the platform received ------------------------------------------------------------- */

typedef struct tally {
    size_t stored;          /* our keys with a stored body */
    size_t listed;          /* entries of our keys in the list (a key listed twice counts 2) */
    long long deliveries;   /* over our keys */
    long long attempts_min; /* over our keys; 0 when one was never seen */
} tally_t;

static json_t *received_fetch(void)
{
    char *body = NULL;
    long status = mock_request("GET", "/received", NULL, &body);
    assert_int_equal(status, 200);
    json_error_t error;
    json_t *received = json_loads(body, 0, &error);
    free(body);
    assert_non_null(received);
    return received;
}

/* The entry of order_id in a /received answer, or NULL. */
static json_t *received_entry(json_t *received, int64_t order_id)
{
    char key[48];
    snprintf(key, sizeof(key), "order-%" PRId64, order_id);
    json_t *orders = json_object_get(received, "orders");
    size_t index;
    json_t *entry;
    json_array_foreach(orders, index, entry)
    {
        if (strcmp(json_string_value(json_object_get(entry, "key")), key) == 0) {
            return entry;
        }
    }
    return NULL;
}

static tally_t tally_orders(const int64_t *order_ids, size_t count)
{
    tally_t tally = {0, 0, 0, -1};
    json_t *received = received_fetch();
    json_t *orders = json_object_get(received, "orders");
    for (size_t i = 0; i < count; i++) {
        char key[48];
        snprintf(key, sizeof(key), "order-%" PRId64, order_ids[i]);
        long long attempts = 0;
        size_t index;
        json_t *entry;
        json_array_foreach(orders, index, entry)
        {
            if (strcmp(json_string_value(json_object_get(entry, "key")), key) != 0) {
                continue;
            }
            tally.listed++;
            if (!json_is_null(json_object_get(entry, "body"))) {
                tally.stored++;
            }
            tally.deliveries += json_integer_value(json_object_get(entry, "deliveries"));
            attempts += json_integer_value(json_object_get(entry, "attempts"));
        }
        if (tally.attempts_min < 0 || attempts < tally.attempts_min) {
            tally.attempts_min = attempts;
        }
    }
    json_decref(received);
    return tally;
}

/* Waits (bounded) until `stored` of the orders reached the platform; returns the last tally. */
static tally_t wait_stored(const int64_t *order_ids, size_t count, size_t stored)
{
    tally_t tally = tally_orders(order_ids, count);
    for (int waited = 0; tally.stored != stored && waited < WAIT_MS;
         waited += POLL_PAUSE_US / 1000) {
        usleep(POLL_PAUSE_US);
        tally = tally_orders(order_ids, count);
    }
    return tally;
}

/* The mock's own counters, over every key (other teams' orders on the topic included). */
typedef struct counters {
    long long unique;
    long long total;
    long long attempts;
} counters_t;

static counters_t counters_fetch(void)
{
    json_t *received = received_fetch();
    counters_t counters = {json_integer_value(json_object_get(received, "unique")),
                           json_integer_value(json_object_get(received, "total")),
                           json_integer_value(json_object_get(received, "attempts"))};
    json_decref(received);
    return counters;
}

/* Waits (bounded) until the platform has seen attempts POSTs in all, from anyone. */
static counters_t wait_platform_attempts(long long attempts)
{
    counters_t counters = counters_fetch();
    for (int waited = 0; counters.attempts < attempts && waited < WAIT_MS;
         waited += POLL_PAUSE_US / 1000) {
        usleep(POLL_PAUSE_US);
        counters = counters_fetch();
    }
    return counters;
}

/* ---- the dead-letter topic ------------------------------------------------------------------- */

/* A reader of ss.dlq from its current end, so only what this test parks is seen. */
static ss_kafka_consumer_t *dlq_open(void)
{
    ss_kafka_consumer_t *consumer = NULL;
    char errstr[512];
    ss_kafka_consumer_config_t config = {.bootstrap = ss_test_kafka_bootstrap(),
                                         .client_id = "ss-test-dlq"};
    assert_int_equal(ss_kafka_consumer_new_assigned(&config, "ss.dlq", 0, SS_KAFKA_OFFSET_END,
                                                    &consumer, errstr, sizeof(errstr)),
                     SS_OK);
    /* One poll starts the fetch, which resolves "the end" before anything is produced. */
    ss_kafka_message_t *messages[16];
    size_t count = 0;
    assert_int_equal(ss_kafka_consumer_poll_batch(consumer, messages, 16, DLQ_POLL_MS, &count,
                                                  errstr, sizeof(errstr)),
                     SS_OK);
    ss_kafka_messages_release(messages, count);
    return consumer;
}

/* Reads ss.dlq until a record with key arrives (bounded); copies its headers out. */
static bool dlq_wait(ss_kafka_consumer_t *consumer, const char *key, char *reason,
                     size_t reason_size, char *source, size_t source_size)
{
    char errstr[512];
    bool found = false;
    for (int waited = 0; !found && waited < WAIT_MS; waited += DLQ_POLL_MS) {
        ss_kafka_message_t *messages[16];
        size_t count = 0;
        ss_err_t err = ss_kafka_consumer_poll_batch(consumer, messages, 16, DLQ_POLL_MS, &count,
                                                    errstr, sizeof(errstr));
        assert_true(err == SS_OK || err == SS_ERR_RETRIABLE);
        for (size_t i = 0; i < count && !found; i++) {
            const ss_kafka_message_t *message = messages[i];
            if (message->key == NULL || message->key_length != strlen(key) ||
                memcmp(message->key, key, message->key_length) != 0) {
                continue;
            }
            const void *value = NULL;
            size_t length = 0;
            assert_int_equal(ss_kafka_message_header(message, "ss-dlq-reason", &value, &length),
                             SS_OK);
            snprintf(reason, reason_size, "%.*s", (int)length, (const char *)value);
            assert_int_equal(ss_kafka_message_header(message, "ss-dlq-source", &value, &length),
                             SS_OK);
            snprintf(source, source_size, "%.*s", (int)length, (const char *)value);
            found = true;
        }
        ss_kafka_messages_release(messages, count);
    }
    return found;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_every_paid_order_arrives_once_with_the_documented_body(void **state)
{
    (void)state;
    int64_t paid[30], failed[5];
    for (size_t i = 0; i < 30; i++) {
        paid[i] = order_paid_produce(i % 2 == 0 ? 5 : 0);
        if (i % 6 == 0) {
            failed[i / 6] = order_failed_produce();
        }
    }
    tally_t tally = wait_stored(paid, 30, 30);
    assert_int_equal(tally.stored, 30);
    assert_int_equal(tally.listed, 30);
    assert_int_equal(tally_orders(failed, 5).listed, 0);

    json_t *received = received_fetch();
    json_t *with_coupon = json_object_get(received_entry(received, paid[0]), "body");
    json_t *expected = json_pack(
        "{s:I, s:i, s:i, s:i, s:i, s:i, s:s, s:[{s:i, s:i, s:i}, {s:i, s:i, s:i}]}", "orderId",
        (json_int_t)paid[0], "userId", 7, "couponId", 5, "totalPrice", 3500, "discountPrice", 350,
        "paidAmount", 3150, "paidAt", "2025-12-31T23:59:59.123Z", "lines", "productId", 11,
        "quantity", 2, "unitPrice", 1000, "productId", 12, "quantity", 1, "unitPrice", 1500);
    assert_true(json_equal(with_coupon, expected));
    json_t *without_coupon = json_object_get(received_entry(received, paid[1]), "body");
    assert_true(json_is_null(json_object_get(without_coupon, "couponId")));
    assert_int_equal(json_integer_value(json_object_get(without_coupon, "paidAmount")), 3500);
    json_decref(expected);
    json_decref(received);
}

static void test_a_failing_platform_gets_every_order_once_it_recovers(void **state)
{
    (void)state;
    mock_control("{\"mode\":\"fail\",\"status\":503}");
    int64_t orders[10];
    for (size_t i = 0; i < 10; i++) {
        orders[i] = order_paid_produce(0);
    }
    /*
     * The sink holds back the partition of the first order it meets (ours, or another team's
     * that was on the topic first), retrying it; wait until the platform refused a few POSTs.
     */
    assert_true(wait_platform_attempts(3).attempts >= 3);
    assert_int_equal(tally_orders(orders, 10).stored, 0);
    mock_control("{\"mode\":\"ok\"}");
    tally_t tally = wait_stored(orders, 10, 10);
    assert_int_equal(tally.stored, 10);
    assert_int_equal(tally.listed, 10);
    /* The counters show the retries: more POSTs than accepted ones, each order stored once. */
    counters_t counters = counters_fetch();
    assert_true(counters.attempts >= counters.total + 3);
    assert_true(tally.deliveries >= 10);
}

static void test_a_platform_that_was_down_gets_every_order_after_its_restart(void **state)
{
    (void)state;
    int64_t before[5], during[10];
    for (size_t i = 0; i < 5; i++) {
        before[i] = order_paid_produce(0);
    }
    assert_int_equal(wait_stored(before, 5, 5).stored, 5);
    ss_test_process_stop(mock_pid, SIGKILL);
    for (size_t i = 0; i < 10; i++) {
        during[i] = order_paid_produce(0);
    }
    sleep(3); /* the platform stays down a while; the sink keeps retrying */
    mock_start();
    /* The restarted mock remembers nothing: count what arrived after the restart. */
    tally_t tally = wait_stored(during, 10, 10);
    assert_int_equal(tally.stored, 10);
    assert_int_equal(tally.listed, 10);
}

static void test_a_platform_slower_than_the_timeout_sees_retries_but_stores_once(void **state)
{
    (void)state;
    /* Each answer comes 1.5 s late; the sink gives up on a POST after 1 s and tries again. */
    mock_control("{\"mode\":\"stall\",\"stallMs\":1500}");
    int64_t orders[3];
    for (size_t i = 0; i < 3; i++) {
        orders[i] = order_paid_produce(0);
    }
    assert_true(wait_platform_attempts(2).attempts >= 2);
    mock_control("{\"mode\":\"ok\"}");
    tally_t tally = wait_stored(orders, 3, 3);
    assert_int_equal(tally.stored, 3);
    assert_int_equal(tally.listed, 3);
    /*
     * The POST the sink gave up on was still stored when its answer finally went out, so the
     * retry arrived as a duplicate: more deliveries than stored orders, and nothing twice.
     */
    counters_t counters = counters_fetch();
    /* (A batch's stalled answer may land after its retry was stored: wait for it, bounded.) */
    for (int waited = 0; counters.total <= counters.unique && waited < WAIT_MS;
         waited += POLL_PAUSE_US / 1000) {
        usleep(POLL_PAUSE_US);
        counters = counters_fetch();
    }
    assert_true(counters.total > counters.unique);
}

static void test_a_permanently_refused_order_is_parked_in_the_dead_letter_topic(void **state)
{
    (void)state;
    ss_kafka_consumer_t *dlq = dlq_open();
    mock_control("{\"mode\":\"fail\",\"status\":400}");
    int64_t refused = order_paid_produce(0);
    char key[32], reason[512], source[320];
    order_key(refused, key, sizeof(key));
    assert_true(dlq_wait(dlq, key, reason, sizeof(reason), source, sizeof(source)));
    assert_non_null(strstr(reason, "status 400"));
    assert_int_equal(strncmp(source, "ss.events.order/", strlen("ss.events.order/")), 0);
    /* Refused for good: sent once, never retried. */
    assert_int_equal(tally_orders(&refused, 1).attempts_min, 1);

    mock_control("{\"mode\":\"ok\"}");
    int64_t after = order_paid_produce(0);
    assert_int_equal(wait_stored(&after, 1, 1).stored, 1);
    assert_int_equal(tally_orders(&refused, 1).stored, 0);
    ss_kafka_consumer_destroy(dlq);
}

static void test_an_undecodable_record_is_parked_and_its_partition_moves_on(void **state)
{
    (void)state;
    ss_kafka_consumer_t *dlq = dlq_open();
    int64_t order_id = order_id_new();
    char key[32], reason[512], source[320];
    order_key(order_id, key, sizeof(key));
    /* Garbage first, then a valid order with the same key: the same partition, in that order. */
    raw_produce(EVENTS_TOPIC, key, "not avro", strlen("not avro"));
    json_t *record = order_paid_record(order_id, 0);
    ss_test_produce(EVENTS_TOPIC, key, "OrderPaid", record);
    json_decref(record);

    assert_true(dlq_wait(dlq, key, reason, sizeof(reason), source, sizeof(source)));
    assert_non_null(strstr(reason, "could not decode"));
    assert_int_equal(wait_stored(&order_id, 1, 1).stored, 1);
    ss_kafka_consumer_destroy(dlq);
}

static void test_an_order_that_keeps_failing_is_parked_after_the_last_attempt(void **state)
{
    (void)state;
    ss_kafka_consumer_t *dlq = dlq_open();
    mock_control("{\"mode\":\"fail\",\"status\":503}");
    int64_t order_id = order_paid_produce(0);
    char key[32], reason[512], source[320];
    order_key(order_id, key, sizeof(key));
    assert_true(dlq_wait(dlq, key, reason, sizeof(reason), source, sizeof(source)));
    assert_non_null(strstr(reason, "after 3 attempts"));
    assert_non_null(strstr(reason, "status 503"));
    assert_int_equal(tally_orders(&order_id, 1).attempts_min, 3);
    mock_control("{\"mode\":\"ok\"}");
    ss_kafka_consumer_destroy(dlq);
}

/* Stops the sink, so what is produced next waits on the topic and comes in one poll. */
static void sink_pause(void)
{
    ss_test_process_stop(sink_pid, SIGTERM);
    sink_pid = 0;
}

static void sink_resume(void)
{
    sink_pid = ss_test_process_start("workers/sink/ss-platform-sink", sink_environment);
}

/* The sink at debug level: one "delivered" line per order, batched or not. */
static void sink_resume_debug(void)
{
    static const char *const debug_environment[] = {
        SINK_ENVIRONMENT_COMMON, "SS_PLATFORM_ATTEMPTS_MAX=1000", "SS_LOG_LEVEL=debug", NULL};
    sink_pid = ss_test_process_start("workers/sink/ss-platform-sink", debug_environment);
}

#define BATCHED 40

static void test_a_batch_delivers_each_order_and_parks_only_the_refused_one(void **state)
{
    (void)state;
    ss_kafka_consumer_t *dlq = dlq_open();
    sink_pause();
    int64_t orders[BATCHED];
    for (size_t i = 0; i < BATCHED; i++) {
        orders[i] = order_paid_produce(0);
    }
    char key[32], control[128], reason[512], source[320];
    int64_t refused = orders[BATCHED / 2];
    order_key(refused, key, sizeof(key));
    snprintf(control, sizeof(control), "{\"mode\":\"ok\",\"refuse\":[\"order-%s\"]}", key);
    mock_control(control);
    json_t *before = received_fetch();
    long long batches_before = json_integer_value(json_object_get(before, "batches"));
    json_decref(before);
    long log_from = ss_test_log_size("ss-platform-sink");
    sink_resume_debug();

    assert_true(dlq_wait(dlq, key, reason, sizeof(reason), source, sizeof(source)));
    assert_non_null(strstr(reason, "status 422"));
    int64_t others[BATCHED - 1];
    for (size_t i = 0, k = 0; i < BATCHED; i++) {
        if (orders[i] != refused) {
            others[k++] = orders[i];
        }
    }
    tally_t tally = wait_stored(others, BATCHED - 1, BATCHED - 1);
    assert_int_equal(tally.stored, BATCHED - 1);
    assert_int_equal(tally.deliveries, BATCHED - 1); /* each once: no batch was sent twice */
    /* Refused for good inside a batch: sent once, never retried, never stored. */
    tally_t refused_tally = tally_orders(&refused, 1);
    assert_int_equal(refused_tally.attempts_min, 1);
    assert_int_equal(refused_tally.stored, 0);
    json_t *received = received_fetch();
    /* Forty orders over the topic's partitions: some partition had several, sent as a batch. */
    assert_true(json_integer_value(json_object_get(received, "batches")) > batches_before);
    json_decref(received);
    /* Every order delivered in a batch still gets its own log line (with its request's ids). */
    for (size_t i = 0; i < BATCHED - 1; i++) {
        char line[96];
        snprintf(line, sizeof(line), "delivered order_id=%" PRId64 " ", others[i]);
        assert_true(ss_test_log_contains("ss-platform-sink", log_from, line));
    }
    assert_true(ss_test_log_contains("ss-platform-sink", log_from, "batch=true"));
    mock_control("{\"mode\":\"ok\"}");
    ss_kafka_consumer_destroy(dlq);
}

static void test_a_platform_without_the_batch_endpoint_gets_each_order_alone(void **state)
{
    (void)state;
    sink_pause();
    mock_control("{\"mode\":\"ok\",\"batch\":false}");
    int64_t orders[BATCHED];
    for (size_t i = 0; i < BATCHED; i++) {
        orders[i] = order_paid_produce(0);
    }
    sink_resume();
    tally_t tally = wait_stored(orders, BATCHED, BATCHED);
    assert_int_equal(tally.stored, BATCHED);
    assert_int_equal(tally.deliveries, BATCHED);
    assert_int_equal(tally.attempts_min, 1); /* a 404 batch counts nobody's attempt */
    mock_control("{\"mode\":\"ok\"}");
}

static void test_a_sink_killed_mid_stream_delivers_every_order_after_restart(void **state)
{
    (void)state;
    /* A slow platform keeps the sink busy, so the kill lands while orders are in flight. */
    mock_control("{\"mode\":\"stall\",\"stallMs\":20}");
    static int64_t orders[200];
    for (size_t i = 0; i < 200; i++) {
        orders[i] = order_paid_produce(0);
    }
    tally_t tally = tally_orders(orders, 200);
    for (int waited = 0; tally.stored < 40 && waited < WAIT_MS; waited += 20) {
        usleep(20000);
        tally = tally_orders(orders, 200);
    }
    assert_true(tally.stored >= 40);
    ss_test_process_stop(sink_pid, SIGKILL);
    mock_control("{\"mode\":\"ok\"}");
    sink_pid = ss_test_process_start("workers/sink/ss-platform-sink", sink_environment);

    tally = wait_stored(orders, 200, 200);
    assert_int_equal(tally.stored, 200);
    assert_int_equal(tally.listed, 200);
    /* Whatever the restart sent twice was absorbed by the key: each order is stored once. */
    assert_true(tally.deliveries >= 200);
}

static void test_a_stopped_sink_resumes_after_what_it_delivered(void **state)
{
    (void)state;
    int64_t delivered[5];
    for (size_t i = 0; i < 5; i++) {
        delivered[i] = order_paid_produce(0);
    }
    assert_int_equal(wait_stored(delivered, 5, 5).stored, 5);
    /* SIGTERM: the sink commits what it delivered and leaves the group. */
    ss_test_process_stop(sink_pid, SIGTERM);
    assert_int_equal(mock_request("DELETE", "/received", NULL, NULL), 200);
    sink_pid = ss_test_process_start("workers/sink/ss-platform-sink", sink_environment);
    /* One later order in every partition: each is read only after what came before it. */
    int32_t partitions = 0;
    char errstr[512];
    assert_int_equal(ss_kafka_topic_partition_count(ss_test_kafka_bootstrap(), "ss.events.order",
                                                    &partitions, 10000, errstr, sizeof(errstr)),
                     SS_OK);
    assert_true(partitions > 0 && partitions <= 64);
    int64_t later[64];
    bool covered[64] = {false};
    size_t later_count = 0;
    for (int tries = 0; tries < 1000 && later_count < (size_t)partitions; tries++) {
        int64_t order_id = order_id_new();
        char key[32];
        order_key(order_id, key, sizeof(key));
        int32_t partition = ss_kafka_partition_for_key(key, strlen(key), partitions);
        if (covered[partition]) {
            continue;
        }
        covered[partition] = true;
        json_t *record = order_paid_record(order_id, 0);
        ss_test_produce(EVENTS_TOPIC, key, "OrderPaid", record);
        json_decref(record);
        later[later_count++] = order_id;
    }
    assert_int_equal(later_count, partitions);
    assert_int_equal(wait_stored(later, later_count, later_count).stored, later_count);
    /* Every partition's committed offset was past the delivered orders: none came again. */
    assert_int_equal(tally_orders(delivered, 5).listed, 0);
}

/* Commits the log end of every partition of the events topic for the sink's group. */
static bool sink_group_to_log_end(void)
{
    char errstr[512];
    int32_t partitions = 0;
    ss_kafka_consumer_config_t config = {.bootstrap = ss_test_kafka_bootstrap(),
                                         .group_id = SINK_GROUP,
                                         .client_id = "ss-test-sink-group"};
    ss_kafka_consumer_t *consumer = NULL;
    ss_err_t err = ss_kafka_topic_partition_count(ss_test_kafka_bootstrap(), EVENTS_TOPIC,
                                                  &partitions, 10000, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = ss_kafka_consumer_new_assigned(&config, EVENTS_TOPIC, 0, SS_KAFKA_OFFSET_END,
                                             &consumer, errstr, sizeof(errstr));
    }
    for (int32_t p = 0; p < partitions && err == SS_OK; p++) {
        int64_t low = 0, high = 0;
        err = ss_kafka_consumer_watermarks(consumer, EVENTS_TOPIC, p, 10000, &low, &high, errstr,
                                           sizeof(errstr));
        if (err == SS_OK) {
            err = ss_kafka_consumer_commit(consumer, EVENTS_TOPIC, p, high, errstr, sizeof(errstr));
        }
    }
    ss_kafka_consumer_destroy(consumer);
    if (err != SS_OK) {
        fprintf(stderr, "could not move group %s to the end of %s: %s\n", SINK_GROUP, EVENTS_TOPIC,
                errstr);
    }
    return err == SS_OK;
}

int main(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        return 1;
    }
    if (!sink_group_to_log_end()) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_paid_order_arrives_once_with_the_documented_body,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_failing_platform_gets_every_order_once_it_recovers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_platform_that_was_down_gets_every_order_after_its_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_platform_slower_than_the_timeout_sees_retries_but_stores_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_permanently_refused_order_is_parked_in_the_dead_letter_topic, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_an_undecodable_record_is_parked_and_its_partition_moves_on, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_an_order_that_keeps_failing_is_parked_after_the_last_attempt, setup_few_attempts,
            teardown),
        cmocka_unit_test_setup_teardown(test_a_stopped_sink_resumes_after_what_it_delivered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_batch_delivers_each_order_and_parks_only_the_refused_one, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_platform_without_the_batch_endpoint_gets_each_order_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_sink_killed_mid_stream_delivers_every_order_after_restart, setup, teardown),
    };
    int failures = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failures;
}

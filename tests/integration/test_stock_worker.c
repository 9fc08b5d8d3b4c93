/*
 * The stock worker against the real broker and database, with two worker instances and
 * without the ingress or the user worker: products are created directly in PostgreSQL,
 * ReserveStock, ReleaseStock and AdjustProduct are produced to ss.cmd.stock keyed by product
 * id, effects are read back from PostgreSQL and the replies by reading the test user's
 * partition of ss.cmd.user from its end offset at the start of each test. Every test uses its
 * own user id, so the replies it reads are the ones its own orders caused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ss_test_stack.h"

#include "ss/clock.h"
#include "ss/kafka.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 60000
#define POLL_MS 200
#define REPLIES_MAX 1024
#define POLL_RECORDS_MAX 256
#define REPLY_TOPIC "ss.cmd.user"
#define COMMAND_TOPIC "ss.cmd.stock"

static pid_t worker_pids[2];

static void workers_start(void)
{
    static const char *const environment[] = {"SS_LOG_LEVEL=warn", NULL};
    for (size_t i = 0; i < 2; i++) {
        worker_pids[i] = ss_test_process_start("workers/stock/ss-stock-worker", environment);
    }
}

static int setup(void **state)
{
    (void)state;
    workers_start();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        ss_test_process_stop(worker_pids[i], SIGTERM);
    }
    return 0;
}

/* Ids no other test run uses: orders from the clock, users and missing products far away. */
static int64_t id_next(void)
{
    static int64_t next;
    if (next == 0) {
        next = ss_clock_now_ms() * 1000;
    }
    return next++;
}

static int64_t user_id_next(void)
{
    return INT64_C(800000000000000000) + id_next() % INT64_C(100000000000000000);
}

static int64_t product_create(ss_pg_t *pg, int64_t stock, const char *sell_status)
{
    char stock_text[32];
    snprintf(stock_text, sizeof(stock_text), "%" PRId64, stock);
    const char *params[] = {stock_text, sell_status};
    return ss_test_pg_scalar(pg,
                             "INSERT INTO products (name, price, stock, sell_status)"
                             " VALUES ('stock test', 1500, $1, $2) RETURNING id",
                             2, params);
}

static int64_t product_scalar(ss_pg_t *pg, const char *sql, int64_t product_id)
{
    char id[32];
    snprintf(id, sizeof(id), "%" PRId64, product_id);
    const char *params[] = {id};
    return ss_test_pg_scalar(pg, sql, 1, params);
}

static int64_t stock_of(ss_pg_t *pg, int64_t product_id)
{
    return product_scalar(pg, "SELECT stock FROM products WHERE id = $1", product_id);
}

/* The reservation row's status as 1 RESERVED, 2 REJECTED, 3 RELEASED, 0 no row. */
static int64_t reservation_state(ss_pg_t *pg, int64_t order_id, int64_t product_id)
{
    char order[32], product[32];
    snprintf(order, sizeof(order), "%" PRId64, order_id);
    snprintf(product, sizeof(product), "%" PRId64, product_id);
    const char *params[] = {order, product};
    return ss_test_pg_scalar(pg,
                             "SELECT coalesce(max(CASE status WHEN 'RESERVED' THEN 1"
                             " WHEN 'REJECTED' THEN 2 WHEN 'RELEASED' THEN 3 END), 0)"
                             " FROM stock_reservations WHERE order_id = $1 AND product_id = $2",
                             2, params);
}

/* ---- producing commands ------------------------------------------------------------------ */

static ss_kafka_producer_t *producer_get(void)
{
    static ss_kafka_producer_t *producer;
    if (producer == NULL) {
        char errstr[512];
        ss_kafka_producer_config_t config = {
            .bootstrap = ss_test_kafka_bootstrap(), .client_id = "ss-test-stock", .linger_ms = 5};
        if (ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)) != SS_OK) {
            fail_msg("could not create a producer: %s", errstr);
        }
    }
    return producer;
}

/* Queues a command keyed by key; commands_flush() waits for every queued one. */
static void command_queue(const char *key, const char *schema_name, json_t *record)
{
    char errstr[512];
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    if (record == NULL || ss_avro_encode(ss_test_registry(), schema_name, record, &buffer, errstr,
                                         sizeof(errstr)) != SS_OK) {
        fail_msg("could not encode %s: %s", schema_name, record == NULL ? "no record" : errstr);
    }
    if (ss_kafka_producer_send(producer_get(), COMMAND_TOPIC, SS_KAFKA_PARTITION_BY_KEY, key,
                               strlen(key), buffer.data, buffer.length, NULL, 0, NULL, errstr,
                               sizeof(errstr)) != SS_OK) {
        fail_msg("could not produce %s: %s", schema_name, errstr);
    }
    ss_avro_buffer_free(&buffer);
    json_decref(record);
}

static void commands_flush(void)
{
    char errstr[512];
    if (ss_kafka_producer_flush(producer_get(), 30000, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("could not flush the producer: %s", errstr);
    }
}

/* ReserveStock or ReleaseStock keyed by key (normally the product id). */
static void stock_command_queue_keyed(const char *schema_name, const char *key, int64_t order_id,
                                      int64_t user_id, int64_t product_id, int64_t quantity)
{
    char event_id[128];
    snprintf(event_id, sizeof(event_id), "order-%" PRId64 "-%s-%" PRId64, order_id,
             strcmp(schema_name, "ReserveStock") == 0 ? "reserve" : "release", product_id);
    command_queue(key, schema_name,
                  json_pack("{s:s, s:I, s:I, s:I, s:I}", "event_id", event_id, "order_id",
                            (json_int_t)order_id, "user_id", (json_int_t)user_id, "product_id",
                            (json_int_t)product_id, "quantity", (json_int_t)quantity));
}

static void stock_command_send(const char *schema_name, int64_t order_id, int64_t user_id,
                               int64_t product_id, int64_t quantity)
{
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, product_id);
    stock_command_queue_keyed(schema_name, key, order_id, user_id, product_id, quantity);
    commands_flush();
}

/* AdjustProduct; stock_delta NULL and sell_status NULL leave them unchanged. */
static void adjust_send(const char *request_id, int64_t product_id, const int64_t *stock_delta,
                        const char *sell_status)
{
    json_t *record = json_pack("{s:s, s:i, s:I}", "request_id", request_id, "reply_partition", -1,
                               "product_id", (json_int_t)product_id);
    if (record != NULL) {
        json_object_set_new(record, "stock_delta",
                            stock_delta != NULL ? json_integer(*stock_delta) : json_null());
        json_object_set_new(record, "sell_status",
                            sell_status != NULL ? json_string(sell_status) : json_null());
    }
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, product_id);
    command_queue(key, "AdjustProduct", record);
    commands_flush();
}

/* ---- reading replies ---------------------------------------------------------------------- */

typedef struct reply {
    bool reserved; /* StockReserved; otherwise StockRejected */
    char event_id[128];
    int64_t order_id;
    int64_t product_id;
    int64_t quantity;
    char reason[64]; /* StockRejected only */
} reply_t;

typedef struct reply_reader {
    ss_kafka_consumer_t *consumer;
    int64_t user_id;
    reply_t replies[REPLIES_MAX];
    size_t count;
} reply_reader_t;

/* The next offset of topic/partition now: a reader starting there sees what comes after. */
static int64_t end_offset(const char *topic, int32_t partition)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", ss_test_kafka_bootstrap(), errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        fail_msg("could not configure a watermark query: %s", errstr);
    }
    rd_kafka_t *handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (handle == NULL) {
        rd_kafka_conf_destroy(conf);
        fail_msg("could not create a kafka handle: %s", errstr);
    }
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t code =
        rd_kafka_query_watermark_offsets(handle, topic, partition, &low, &high, 10000);
    rd_kafka_destroy(handle);
    if (code != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fail_msg("could not read the end offset of %s/%d: %s", topic, (int)partition,
                 rd_kafka_err2str(code));
    }
    return high;
}

/* A reader of the replies to user_id, from the end of that user's partition of ss.cmd.user. */
static reply_reader_t *reply_reader_open(int64_t user_id)
{
    char errstr[512], key[32];
    snprintf(key, sizeof(key), "%" PRId64, user_id);
    int32_t partition_count = 0;
    if (ss_kafka_topic_partition_count(ss_test_kafka_bootstrap(), REPLY_TOPIC, &partition_count,
                                       10000, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("could not count the partitions of %s: %s", REPLY_TOPIC, errstr);
    }
    int32_t partition = ss_kafka_partition_for_key(key, strlen(key), partition_count);
    reply_reader_t *reader = calloc(1, sizeof(*reader));
    assert_non_null(reader);
    reader->user_id = user_id;
    ss_kafka_consumer_config_t config = {.bootstrap = ss_test_kafka_bootstrap(),
                                         .client_id = "ss-test-stock-replies"};
    if (ss_kafka_consumer_new_assigned(&config, REPLY_TOPIC, partition,
                                       end_offset(REPLY_TOPIC, partition), &reader->consumer,
                                       errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("could not read %s/%d: %s", REPLY_TOPIC, (int)partition, errstr);
    }
    return reader;
}

static void reply_reader_close(reply_reader_t *reader)
{
    ss_kafka_consumer_destroy(reader->consumer);
    free(reader);
}

/* Keeps the message when it is a stock reply to the reader's user. */
static void reply_take(reply_reader_t *reader, const ss_kafka_message_t *message)
{
    const char *schema_name = NULL;
    json_t *value = NULL;
    char errstr[512];
    if (message->value == NULL ||
        ss_avro_decode(ss_test_registry(), message->value, message->value_length, &schema_name,
                       &value, errstr, sizeof(errstr)) != SS_OK) {
        return; /* not ours to judge: another test's poison record */
    }
    bool reserved = strcmp(schema_name, "StockReserved") == 0;
    bool rejected = strcmp(schema_name, "StockRejected") == 0;
    if ((reserved || rejected) &&
        json_integer_value(json_object_get(value, "user_id")) == reader->user_id) {
        assert_true(reader->count < REPLIES_MAX);
        reply_t *reply = &reader->replies[reader->count++];
        memset(reply, 0, sizeof(*reply));
        reply->reserved = reserved;
        snprintf(reply->event_id, sizeof(reply->event_id), "%s",
                 json_string_value(json_object_get(value, "event_id")));
        reply->order_id = json_integer_value(json_object_get(value, "order_id"));
        reply->product_id = json_integer_value(json_object_get(value, "product_id"));
        reply->quantity = json_integer_value(json_object_get(value, "quantity"));
        if (rejected) {
            snprintf(reply->reason, sizeof(reply->reason), "%s",
                     json_string_value(json_object_get(value, "reason")));
        }
    }
    json_decref(value);
}

/* Reads until at least expected replies are in hand (or WAIT_MS passes); returns the count. */
static size_t replies_wait(reply_reader_t *reader, size_t expected)
{
    ss_kafka_message_t *messages[POLL_RECORDS_MAX];
    char errstr[512];
    for (int waited = 0; reader->count < expected && waited < WAIT_MS; waited += POLL_MS) {
        size_t count = 0;
        ss_err_t err = ss_kafka_consumer_poll_batch(reader->consumer, messages, POLL_RECORDS_MAX,
                                                    POLL_MS, &count, errstr, sizeof(errstr));
        if (err != SS_OK && err != SS_ERR_RETRIABLE) {
            fail_msg("could not read replies: %s", errstr);
        }
        for (size_t i = 0; i < count; i++) {
            reply_take(reader, messages[i]);
        }
        ss_kafka_messages_release(messages, count);
    }
    return reader->count;
}

/* The replies (reserved or not) to order_id so far. */
static size_t replies_for(const reply_reader_t *reader, int64_t order_id)
{
    size_t found = 0;
    for (size_t i = 0; i < reader->count; i++) {
        found += reader->replies[i].order_id == order_id;
    }
    return found;
}

static int64_t wait_result_status(ss_pg_t *pg, const char *request_id)
{
    const char *params[] = {request_id};
    ss_test_wait_scalar(pg, "SELECT count(*) FROM request_results WHERE request_id = $1", 1, params,
                        1, WAIT_MS);
    return ss_test_pg_scalar(
        pg, "SELECT coalesce(max(http_status), 0) FROM request_results WHERE request_id = $1", 1,
        params);
}

static int64_t result_body_matches(ss_pg_t *pg, const char *request_id, const char *pattern)
{
    const char *params[] = {request_id, pattern};
    return ss_test_pg_scalar(pg,
                             "SELECT count(*) FROM request_results WHERE request_id = $1"
                             " AND body LIKE $2",
                             2, params);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_reserve_within_stock_is_reserved_and_a_duplicate_gets_the_same_reply(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t product_id = product_create(pg, 10, "SELLING");
    int64_t user_id = user_id_next(), order_id = id_next();
    reply_reader_t *reader = reply_reader_open(user_id);

    stock_command_send("ReserveStock", order_id, user_id, product_id, 3);
    assert_int_equal(replies_wait(reader, 1), 1);
    const reply_t *first = &reader->replies[0];
    assert_true(first->reserved);
    assert_int_equal(first->order_id, order_id);
    assert_int_equal(first->product_id, product_id);
    assert_int_equal(first->quantity, 3);
    char event_id[128];
    snprintf(event_id, sizeof(event_id), "order-%" PRId64 "-reserved-%" PRId64, order_id,
             product_id);
    assert_string_equal(first->event_id, event_id);
    assert_int_equal(stock_of(pg, product_id), 7);
    assert_int_equal(reservation_state(pg, order_id, product_id), 1);

    stock_command_send("ReserveStock", order_id, user_id, product_id, 3);
    assert_int_equal(replies_wait(reader, 2), 2);
    assert_memory_equal(&reader->replies[1], &reader->replies[0], sizeof(reply_t));
    assert_int_equal(stock_of(pg, product_id), 7);
    assert_int_equal(product_scalar(pg,
                                    "SELECT count(*) FROM stock_reservations"
                                    " WHERE product_id = $1",
                                    product_id),
                     1);
    reply_reader_close(reader);
    ss_pg_destroy(pg);
}

static void test_reserve_over_stock_is_rejected_and_its_replay_gives_the_same_reason(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t product_id = product_create(pg, 2, "SELLING");
    int64_t user_id = user_id_next(), order_id = id_next();
    reply_reader_t *reader = reply_reader_open(user_id);

    stock_command_send("ReserveStock", order_id, user_id, product_id, 3);
    assert_int_equal(replies_wait(reader, 1), 1);
    assert_false(reader->replies[0].reserved);
    assert_string_equal(reader->replies[0].reason, "INSUFFICIENT_STOCK");
    assert_int_equal(reader->replies[0].quantity, 3);
    assert_int_equal(stock_of(pg, product_id), 2);
    assert_int_equal(reservation_state(pg, order_id, product_id), 2);

    /* Stock that arrives later must not turn the recorded refusal into a reservation. */
    int64_t delta = 10;
    char request_id[128];
    snprintf(request_id, sizeof(request_id), "test-%s-refill-%" PRId64, ss_test_run_id(),
             product_id);
    adjust_send(request_id, product_id, &delta, NULL);
    stock_command_send("ReserveStock", order_id, user_id, product_id, 3);
    assert_int_equal(replies_wait(reader, 2), 2);
    assert_memory_equal(&reader->replies[1], &reader->replies[0], sizeof(reply_t));
    assert_int_equal(stock_of(pg, product_id), 12);
    reply_reader_close(reader);
    ss_pg_destroy(pg);
}

static void test_reserve_of_a_product_not_selling_is_product_not_selling(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t held = product_create(pg, 10, "HOLD");
    int64_t stopped = product_create(pg, 10, "STOP_SELLING");
    int64_t user_id = user_id_next();
    int64_t held_order = id_next(), stopped_order = id_next();
    reply_reader_t *reader = reply_reader_open(user_id);

    stock_command_send("ReserveStock", held_order, user_id, held, 1);
    stock_command_send("ReserveStock", stopped_order, user_id, stopped, 1);
    assert_int_equal(replies_wait(reader, 2), 2);
    for (size_t i = 0; i < 2; i++) {
        assert_false(reader->replies[i].reserved);
        assert_string_equal(reader->replies[i].reason, "PRODUCT_NOT_SELLING");
    }
    assert_int_equal(stock_of(pg, held), 10);
    assert_int_equal(stock_of(pg, stopped), 10);
    reply_reader_close(reader);
    ss_pg_destroy(pg);
}

static void test_reserve_of_an_unknown_product_is_product_not_found(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t product_id = INT64_C(900000000000000000) + id_next() % INT64_C(1000000000);
    int64_t user_id = user_id_next(), order_id = id_next();
    reply_reader_t *reader = reply_reader_open(user_id);

    stock_command_send("ReserveStock", order_id, user_id, product_id, 1);
    assert_int_equal(replies_wait(reader, 1), 1);
    assert_false(reader->replies[0].reserved);
    assert_string_equal(reader->replies[0].reason, "PRODUCT_NOT_FOUND");
    assert_int_equal(reader->replies[0].order_id, order_id);
    assert_int_equal(reservation_state(pg, order_id, product_id), 2);
    reply_reader_close(reader);
    ss_pg_destroy(pg);
}

static void test_release_after_reserve_restores_the_stock_exactly_once(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t product_id = product_create(pg, 10, "SELLING");
    int64_t user_id = user_id_next(), order_id = id_next(), barrier_order = id_next();
    reply_reader_t *reader = reply_reader_open(user_id);

    stock_command_send("ReserveStock", order_id, user_id, product_id, 4);
    assert_int_equal(replies_wait(reader, 1), 1);
    assert_true(reader->replies[0].reserved);
    assert_int_equal(stock_of(pg, product_id), 6);

    stock_command_send("ReleaseStock", order_id, user_id, product_id, 4);
    stock_command_send("ReleaseStock", order_id, user_id, product_id, 4);
    /* The product's partition is ordered: once this reply is out, both releases are applied. */
    stock_command_send("ReserveStock", barrier_order, user_id, product_id, 1);
    assert_int_equal(replies_wait(reader, 2), 2);
    assert_int_equal(reader->replies[1].order_id, barrier_order);
    assert_true(reader->replies[1].reserved);
    assert_int_equal(stock_of(pg, product_id), 9);
    assert_int_equal(reservation_state(pg, order_id, product_id), 3);

    /* A re-sent reserve of the released order is refused and takes nothing. */
    stock_command_send("ReserveStock", order_id, user_id, product_id, 4);
    assert_int_equal(replies_wait(reader, 3), 3);
    assert_false(reader->replies[2].reserved);
    assert_int_equal(reader->replies[2].order_id, order_id);
    assert_int_equal(stock_of(pg, product_id), 9);
    reply_reader_close(reader);
    ss_pg_destroy(pg);
}

static void test_release_before_any_reserve_makes_a_later_reserve_rejected(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t product_id = product_create(pg, 10, "SELLING");
    int64_t user_id = user_id_next(), order_id = id_next();
    reply_reader_t *reader = reply_reader_open(user_id);

    stock_command_send("ReleaseStock", order_id, user_id, product_id, 5);
    stock_command_send("ReserveStock", order_id, user_id, product_id, 5);
    assert_int_equal(replies_wait(reader, 1), 1);
    assert_false(reader->replies[0].reserved);
    assert_int_equal(stock_of(pg, product_id), 10);
    assert_int_equal(reservation_state(pg, order_id, product_id), 3);
    assert_int_equal(product_scalar(pg,
                                    "SELECT max(quantity) FROM stock_reservations"
                                    " WHERE product_id = $1",
                                    product_id),
                     0);
    reply_reader_close(reader);
    ss_pg_destroy(pg);
}

static void test_two_hundred_orders_for_fifty_units_reserve_the_first_fifty(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t product_id = product_create(pg, 50, "SELLING");
    int64_t user_id = user_id_next();
    reply_reader_t *reader = reply_reader_open(user_id);
    int64_t orders[200];
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, product_id);
    for (size_t i = 0; i < 200; i++) {
        orders[i] = id_next();
        stock_command_queue_keyed("ReserveStock", key, orders[i], user_id, product_id, 1);
    }
    commands_flush();

    assert_int_equal(replies_wait(reader, 200), 200);
    size_t reserved = 0;
    for (size_t i = 0; i < 200; i++) {
        /* One partition, arrival order: the first fifty orders sent are the ones served. */
        assert_int_equal(reader->replies[i].order_id, orders[i]);
        assert_int_equal(reader->replies[i].reserved, i < 50);
        if (!reader->replies[i].reserved) {
            assert_string_equal(reader->replies[i].reason, "INSUFFICIENT_STOCK");
        }
        reserved += reader->replies[i].reserved;
    }
    assert_int_equal(reserved, 50);
    assert_int_equal(stock_of(pg, product_id), 0);
    assert_int_equal(product_scalar(pg,
                                    "SELECT count(*) FROM stock_reservations"
                                    " WHERE product_id = $1 AND status = 'RESERVED'",
                                    product_id),
                     50);
    assert_int_equal(product_scalar(pg,
                                    "SELECT count(*) FROM stock_reservations"
                                    " WHERE product_id = $1 AND status = 'REJECTED'",
                                    product_id),
                     150);
    reply_reader_close(reader);
    ss_pg_destroy(pg);
}

static void test_adjust_product_changes_stock_and_status_and_refuses_what_it_must(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t product_id = product_create(pg, 10, "SELLING");
    char add[128], remove[128], stop[128], bogus[128], missing[128];
    snprintf(add, sizeof(add), "test-%s-adjust-add-%" PRId64, ss_test_run_id(), product_id);
    snprintf(remove, sizeof(remove), "test-%s-adjust-remove-%" PRId64, ss_test_run_id(),
             product_id);
    snprintf(stop, sizeof(stop), "test-%s-adjust-stop-%" PRId64, ss_test_run_id(), product_id);
    snprintf(bogus, sizeof(bogus), "test-%s-adjust-bogus-%" PRId64, ss_test_run_id(), product_id);
    snprintf(missing, sizeof(missing), "test-%s-adjust-missing-%" PRId64, ss_test_run_id(),
             product_id);
    int64_t plus_five = 5, minus_twenty = -20;

    adjust_send(add, product_id, &plus_five, NULL);
    assert_int_equal(wait_result_status(pg, add), 200);
    assert_int_equal(stock_of(pg, product_id), 15);
    assert_int_equal(result_body_matches(pg, add, "%\"stock\":15%\"sellStatus\":\"SELLING\"%"), 1);
    assert_int_equal(result_body_matches(pg, add, "%\"name\":\"stock test\"%\"price\":1500%"), 1);

    adjust_send(remove, product_id, &minus_twenty, NULL);
    assert_int_equal(wait_result_status(pg, remove), 409);
    assert_int_equal(result_body_matches(pg, remove, "%INSUFFICIENT_STOCK%"), 1);
    assert_int_equal(stock_of(pg, product_id), 15);

    adjust_send(stop, product_id, NULL, "STOP_SELLING");
    assert_int_equal(wait_result_status(pg, stop), 200);
    assert_int_equal(product_scalar(pg,
                                    "SELECT count(*) FROM products WHERE id = $1"
                                    " AND sell_status = 'STOP_SELLING' AND stock = 15",
                                    product_id),
                     1);

    adjust_send(bogus, product_id, &plus_five, "PAUSED");
    assert_int_equal(wait_result_status(pg, bogus), 400);
    assert_int_equal(result_body_matches(pg, bogus, "%INVALID_REQUEST%"), 1);
    assert_int_equal(stock_of(pg, product_id), 15);

    adjust_send(missing, INT64_C(900000000000000000) + id_next() % INT64_C(1000000000), &plus_five,
                NULL);
    assert_int_equal(wait_result_status(pg, missing), 404);
    assert_int_equal(result_body_matches(pg, missing, "%PRODUCT_NOT_FOUND%"), 1);

    /* The admin change is ordered with the product's reservations. */
    int64_t user_id = user_id_next(), order_id = id_next();
    reply_reader_t *reader = reply_reader_open(user_id);
    stock_command_send("ReserveStock", order_id, user_id, product_id, 1);
    assert_int_equal(replies_wait(reader, 1), 1);
    assert_string_equal(reader->replies[0].reason, "PRODUCT_NOT_SELLING");
    reply_reader_close(reader);
    ss_pg_destroy(pg);
}

static void test_poison_and_misrouted_records_go_aside_and_the_partition_moves_on(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t product_id = product_create(pg, 10, "SELLING");
    int64_t other_product = product_create(pg, 10, "SELLING");
    int64_t user_id = user_id_next(), misrouted_order = id_next(), order_id = id_next();
    reply_reader_t *reader = reply_reader_open(user_id);
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, product_id);

    command_queue(key, "CommandResult",
                  json_pack("{s:s, s:s, s:i, s:s, s:I}", "event_id", "x", "request_id", "y",
                            "http_status", 200, "body", "not a stock command", "completed_at",
                            (json_int_t)0));
    /* Keyed by one product, naming another: its writer is elsewhere, so it must not apply. */
    stock_command_queue_keyed("ReserveStock", key, misrouted_order, user_id, other_product, 1);
    stock_command_queue_keyed("ReserveStock", key, order_id, user_id, product_id, 1);
    commands_flush();

    assert_int_equal(replies_wait(reader, 1), 1);
    assert_int_equal(reader->replies[0].order_id, order_id);
    assert_true(reader->replies[0].reserved);
    assert_int_equal(replies_for(reader, misrouted_order), 0);
    assert_int_equal(stock_of(pg, product_id), 9);
    assert_int_equal(stock_of(pg, other_product), 10);
    assert_int_equal(reservation_state(pg, misrouted_order, other_product), 0);
    reply_reader_close(reader);
    ss_pg_destroy(pg);
}

static void test_kill_9_in_mid_stream_takes_every_reservation_exactly_once(void **state)
{
    (void)state;
    ss_pg_t *pg = ss_test_pg_connect();
    int64_t product_id = product_create(pg, 1000, "SELLING");
    int64_t user_id = user_id_next();
    char key[32];
    snprintf(key, sizeof(key), "%" PRId64, product_id);
    for (int i = 1; i <= 300; i++) {
        stock_command_queue_keyed("ReserveStock", key, id_next(), user_id, product_id, 2);
        if (i % 10 == 0) {
            commands_flush(); /* small batches, so the kill lands between or inside them */
        }
        if (i == 150) {
            /* Once some batches have committed, kill both workers with the rest in flight. */
            ss_test_wait_scalar(pg,
                                "SELECT (count(*) >= 50)::int FROM stock_reservations"
                                " WHERE product_id = $1",
                                1, (const char *const[]){key}, 1, WAIT_MS);
            ss_test_process_stop(worker_pids[0], SIGKILL);
            ss_test_process_stop(worker_pids[1], SIGKILL);
            workers_start();
        }
    }
    commands_flush();
    assert_int_equal(ss_test_wait_scalar(pg,
                                         "SELECT count(*) FROM stock_reservations r"
                                         " WHERE r.product_id = $1",
                                         1, (const char *const[]){key}, 300, WAIT_MS),
                     300);
    sleep(1); /* anything taken twice would show up by now */
    assert_int_equal(stock_of(pg, product_id), 400);
    assert_int_equal(product_scalar(pg,
                                    "SELECT count(*) FROM stock_reservations"
                                    " WHERE product_id = $1 AND status = 'RESERVED'",
                                    product_id),
                     300);
    ss_pg_destroy(pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reserve_within_stock_is_reserved_and_a_duplicate_gets_the_same_reply),
        cmocka_unit_test(test_reserve_over_stock_is_rejected_and_its_replay_gives_the_same_reason),
        cmocka_unit_test(test_reserve_of_a_product_not_selling_is_product_not_selling),
        cmocka_unit_test(test_reserve_of_an_unknown_product_is_product_not_found),
        cmocka_unit_test(test_release_after_reserve_restores_the_stock_exactly_once),
        cmocka_unit_test(test_release_before_any_reserve_makes_a_later_reserve_rejected),
        cmocka_unit_test(test_two_hundred_orders_for_fifty_units_reserve_the_first_fifty),
        cmocka_unit_test(test_adjust_product_changes_stock_and_status_and_refuses_what_it_must),
        cmocka_unit_test(test_poison_and_misrouted_records_go_aside_and_the_partition_moves_on),
        cmocka_unit_test(test_kill_9_in_mid_stream_takes_every_reservation_exactly_once),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

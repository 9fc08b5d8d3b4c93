/*
 * Unit tests for lib/kafka: the murmur2 partitioner against Java Kafka's own test vectors and
 * against librdkafka's partitioner, and the producer, consumer and admin helpers against
 * librdkafka's in-process mock cluster (allowed here only; the real broker is exercised by
 * tests/integration/test_kafka.c). No test depends on wall-clock timing: waits are bounded
 * loops that end as soon as the expected records have arrived.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "ss/kafka.h"
#include "ss/log.h"
#include "ss_test_mock_kafka.h"

/* Polls of at most SS_TEST_POLL_MS each before a wait gives up. */
#define SS_TEST_POLLS_MAX 120
#define SS_TEST_POLL_MS 250
#define SS_TEST_FLUSH_MS 10000
#define SS_TEST_RECORDS_MAX 256
#define SS_TEST_BATCH_MAX 64

/* ---------------------------------------------------------------------------------------- */
/* murmur2                                                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct murmur2_vector {
    const char *key;
    int32_t hash;
} murmur2_vector_t;

/* org.apache.kafka.common.utils.UtilsTest#testMurmur2. */
static const murmur2_vector_t java_vectors[] = {
    {"21", -973932308},
    {"foobar", -790332482},
    {"a-little-bit-long-string", -985981536},
    {"a-little-bit-longer-string", -1486304829},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
    {"abc", 479470107},
};

static void test_murmur2_matches_java_kafka_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(java_vectors) / sizeof(java_vectors[0]); i++) {
        const char *key = java_vectors[i].key;
        assert_int_equal(ss_kafka_murmur2(key, strlen(key)), java_vectors[i].hash);
    }
}

static void test_partition_for_key_is_positive_hash_modulo_count(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(java_vectors) / sizeof(java_vectors[0]); i++) {
        const char *key = java_vectors[i].key;
        const uint32_t positive = (uint32_t)java_vectors[i].hash & 0x7fffffffU;
        assert_int_equal(ss_kafka_partition_for_key(key, strlen(key), 8), (int32_t)(positive % 8));
        assert_int_equal(ss_kafka_partition_for_key(key, strlen(key), 1), 0);
    }
    /* "21" hashes negative: abs() would give another partition than toPositive(). */
    assert_int_equal(ss_kafka_partition_for_key("21", 2, 7), (int32_t)(1173551340U % 7));
}

static void test_partition_for_key_refuses_a_non_positive_count(void **state)
{
    (void)state;
    assert_int_equal(ss_kafka_partition_for_key("1", 1, 0), -1);
    assert_int_equal(ss_kafka_partition_for_key("1", 1, -3), -1);
}

static void test_partition_for_key_agrees_with_librdkafka_for_ids(void **state)
{
    (void)state;
    char key[32];
    for (int id = 0; id < 5000; id++) {
        const int length = snprintf(key, sizeof(key), "%d", id * 7919 + 1);
        const int32_t ours = ss_kafka_partition_for_key(key, (size_t)length, 8);
        const int32_t theirs =
            rd_kafka_msg_partitioner_murmur2(NULL, key, (size_t)length, 8, NULL, NULL);
        assert_int_equal(ours, theirs);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Producing to the mock cluster (ss_test_mock_kafka.h is the fixture)                       */
/* ---------------------------------------------------------------------------------------- */

/* What the delivery callback saw. */
typedef struct deliveries {
    size_t count;
    size_t failed;
    ss_err_t last_error;
    ss_kafka_persistence_t last_persistence;
    char last_error_text[256];
    int32_t partition[SS_TEST_RECORDS_MAX];
    int64_t offset[SS_TEST_RECORDS_MAX];
    void *message_opaque[SS_TEST_RECORDS_MAX];
} deliveries_t;

static void record_delivery(void *opaque, void *message_opaque, const ss_kafka_delivery_t *delivery)
{
    deliveries_t *deliveries = opaque;
    deliveries->last_persistence = delivery->persistence;
    if (delivery->result != SS_OK) {
        deliveries->failed++;
        deliveries->last_error = delivery->result;
        snprintf(deliveries->last_error_text, sizeof(deliveries->last_error_text), "%s",
                 delivery->error_text != NULL ? delivery->error_text : "");
        return;
    }
    if (deliveries->count < SS_TEST_RECORDS_MAX) {
        deliveries->partition[deliveries->count] = delivery->partition;
        deliveries->offset[deliveries->count] = delivery->offset;
        deliveries->message_opaque[deliveries->count] = message_opaque;
    }
    deliveries->count++;
}

static ss_kafka_producer_t *producer_for(const char *bootstrap, deliveries_t *deliveries)
{
    char errstr[256] = "";
    ss_kafka_producer_t *producer = NULL;
    const ss_kafka_producer_config_t config = {
        .bootstrap = bootstrap,
        .client_id = "test-kafka-producer",
        .linger_ms = 1,
        .on_delivery = record_delivery,
        .opaque = deliveries,
    };
    assert_int_equal(ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)), SS_OK);
    assert_non_null(producer);
    return producer;
}

/* Sends count records numbered from first to topic/partition and waits for their acks. */
static void send_numbered(ss_kafka_producer_t *producer, const char *topic, int32_t partition,
                          int first, int count)
{
    char errstr[256] = "";
    char value[32];
    for (int i = first; i < first + count; i++) {
        const int length = snprintf(value, sizeof(value), "value-%d", i);
        assert_int_equal(ss_kafka_producer_send(producer, topic, partition, NULL, 0, value,
                                                (size_t)length, NULL, 0, NULL, errstr,
                                                sizeof(errstr)),
                         SS_OK);
    }
    assert_int_equal(ss_kafka_producer_flush(producer, SS_TEST_FLUSH_MS, errstr, sizeof(errstr)),
                     SS_OK);
}

static void produce_numbered(const char *bootstrap, const char *topic, int32_t partition, int count)
{
    deliveries_t deliveries = {0};
    ss_kafka_producer_t *producer = producer_for(bootstrap, &deliveries);
    send_numbered(producer, topic, partition, 0, count);
    assert_int_equal(deliveries.count, (size_t)count);
    ss_kafka_producer_destroy(producer);
}

/* ---------------------------------------------------------------------------------------- */
/* Producer                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static void test_producer_delivery_callback_reports_partition_and_offset(void **state)
{
    ss_test_mock_t *mock = *state;
    deliveries_t deliveries = {0};
    char errstr[256] = "";
    int tokens[3] = {0, 1, 2};
    ss_test_mock_topic(mock, "unit.delivery", 4);

    ss_kafka_producer_t *producer = producer_for(mock->bootstrap, &deliveries);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ss_kafka_producer_send(producer, "unit.delivery", 2, "k", 1, "v", 1, NULL,
                                                0, &tokens[i], errstr, sizeof(errstr)),
                         SS_OK);
    }
    assert_int_equal(ss_kafka_producer_flush(producer, SS_TEST_FLUSH_MS, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_kafka_producer_outstanding(producer), 0);
    assert_int_equal(deliveries.count, 3);
    assert_int_equal(deliveries.failed, 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(deliveries.partition[i], 2);
        assert_int_equal(deliveries.offset[i], i);
        assert_ptr_equal(deliveries.message_opaque[i], &tokens[i]);
    }
    ss_kafka_producer_destroy(producer);
}

static void test_keyed_records_land_on_the_murmur2_partition(void **state)
{
    ss_test_mock_t *mock = *state;
    deliveries_t deliveries = {0};
    char errstr[256] = "";
    char key[32];
    int lengths[40];
    ss_test_mock_topic(mock, "unit.keyed", 8);

    ss_kafka_producer_t *producer = producer_for(mock->bootstrap, &deliveries);
    for (int i = 0; i < 40; i++) {
        lengths[i] = snprintf(key, sizeof(key), "%d", 1000 + i);
        assert_int_equal(ss_kafka_producer_send(producer, "unit.keyed", SS_KAFKA_PARTITION_BY_KEY,
                                                key, (size_t)lengths[i], "v", 1, NULL, 0,
                                                (void *)(intptr_t)i, errstr, sizeof(errstr)),
                         SS_OK);
    }
    assert_int_equal(ss_kafka_producer_flush(producer, SS_TEST_FLUSH_MS, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(deliveries.count, 40);
    for (size_t i = 0; i < deliveries.count; i++) {
        const int index = (int)(intptr_t)deliveries.message_opaque[i];
        snprintf(key, sizeof(key), "%d", 1000 + index);
        assert_int_equal(deliveries.partition[i],
                         ss_kafka_partition_for_key(key, (size_t)lengths[index], 8));
    }
    ss_kafka_producer_destroy(producer);
}

static void test_flush_times_out_while_the_broker_is_unreachable(void **state)
{
    (void)state;
    deliveries_t deliveries = {0};
    char errstr[256] = "";
    /* Port 9 (discard) on loopback: nothing listens, so the record cannot leave. */
    ss_kafka_producer_t *producer = producer_for("127.0.0.1:9", &deliveries);
    assert_int_equal(ss_kafka_producer_send(producer, "unit.nowhere", 0, NULL, 0, "v", 1, NULL, 0,
                                            NULL, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_kafka_producer_flush(producer, 200, errstr, sizeof(errstr)),
                     SS_ERR_TIMEOUT);
    assert_non_null(strstr(errstr, "1 records outstanding"));
    assert_int_equal(ss_kafka_producer_outstanding(producer), 1);
    assert_int_equal(ss_kafka_producer_ping(producer, 200, errstr, sizeof(errstr)) != SS_OK, true);
    /* destroy purges the record and still reports it as failed, and as certainly not in the log
     * (what lets the ingress tell a client its command was never applied). */
    ss_kafka_producer_destroy(producer);
    assert_int_equal(deliveries.count, 0);
    assert_int_equal(deliveries.failed, 1);
    assert_int_equal(deliveries.last_persistence, SS_KAFKA_NOT_PERSISTED);
}

static void test_producer_config_errors_are_clear(void **state)
{
    (void)state;
    char errstr[256] = "";
    ss_kafka_producer_t *producer = NULL;

    ss_kafka_producer_config_t config = {0};
    assert_int_equal(ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "kafka producer config has no bootstrap servers");
    assert_null(producer);

    const ss_kafka_property_t bad[] = {{"no.such.property", "1"}};
    config.bootstrap = "127.0.0.1:9";
    config.properties = bad;
    config.property_count = 1;
    assert_int_equal(ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "invalid kafka property no.such.property=1"));

    config.property_count = 0;
    config.linger_ms = -5;
    assert_int_equal(ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "linger_ms -5 out of range"));
    assert_null(producer);
}

static void test_producer_guarantees_cannot_be_overridden(void **state)
{
    (void)state;
    char errstr[256] = "";
    ss_kafka_producer_t *producer = NULL;
    /*
     * Extra properties are applied before the guarantees. Were it the other way round, acks=1
     * would stay and rd_kafka_new() would refuse it next to enable.idempotence=true.
     */
    const ss_kafka_property_t weaker[] = {{"acks", "1"}, {"compression.type", "zstd"}};
    const ss_kafka_producer_config_t config = {
        .bootstrap = "127.0.0.1:9",
        .properties = weaker,
        .property_count = 2,
    };
    assert_int_equal(ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)), SS_OK);
    ss_kafka_producer_destroy(producer);
}

static void test_send_refuses_too_many_headers(void **state)
{
    (void)state;
    char errstr[256] = "";
    ss_kafka_header_t headers[SS_KAFKA_HEADERS_MAX + 1];
    for (size_t i = 0; i < SS_KAFKA_HEADERS_MAX + 1; i++) {
        headers[i] = (ss_kafka_header_t){.name = "h", .value = "v", .value_length = 1};
    }
    deliveries_t deliveries = {0};
    ss_kafka_producer_t *producer = producer_for("127.0.0.1:9", &deliveries);
    assert_int_equal(ss_kafka_producer_send(producer, "t", 0, NULL, 0, "v", 1, headers,
                                            SS_KAFKA_HEADERS_MAX + 1, NULL, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "headers"));
    assert_int_equal(ss_kafka_producer_send(producer, "", 0, NULL, 0, "v", 1, NULL, 0, NULL, errstr,
                                            sizeof(errstr)),
                     SS_ERR_INVALID);
    ss_kafka_producer_destroy(producer);
}

/*
 * librdkafka 2.0.2 freed the headers twice when the partition does not exist
 * (confluentinc/librdkafka#4627): a worker answering a reply_partition past ss.results crashed.
 * Now the send fails with INVALID (the record can never go there as it is: the outbox parks it).
 */
static void test_send_with_headers_to_a_missing_partition_fails_cleanly(void **state)
{
    ss_test_mock_t *mock = *state;
    deliveries_t deliveries = {0};
    char errstr[256] = "";
    ss_test_mock_topic(mock, "unit.missing_partition", 2);
    const ss_kafka_header_t headers[] = {
        {.name = "ss-request-id", .value = "1-2-3", .value_length = 5},
        {.name = "traceparent", .value = "00-ab", .value_length = 5}};
    ss_kafka_producer_t *producer = producer_for(mock->bootstrap, &deliveries);
    /* A first record makes the topic's partitions known to the producer. */
    assert_int_equal(ss_kafka_producer_send(producer, "unit.missing_partition", 1, "k", 1, "v", 1,
                                            headers, 2, NULL, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_kafka_producer_flush(producer, SS_TEST_FLUSH_MS, errstr, sizeof(errstr)),
                     SS_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ss_kafka_producer_send(producer, "unit.missing_partition", 5, "k", 1, "v",
                                                1, headers, 2, NULL, errstr, sizeof(errstr)),
                         SS_ERR_INVALID);
        assert_non_null(strstr(errstr, "partition 5"));
    }
    assert_int_equal(deliveries.count, 1);
    assert_int_equal(deliveries.failed, 0);
    ss_kafka_producer_destroy(producer);
}

static void test_destroy_of_null_producer_and_consumer_is_a_no_op(void **state)
{
    (void)state;
    ss_kafka_producer_destroy(NULL);
    ss_kafka_consumer_destroy(NULL);
    ss_kafka_message_release(NULL);
}

/* ---------------------------------------------------------------------------------------- */
/* Consumer                                                                                   */
/* ---------------------------------------------------------------------------------------- */

typedef struct hooks {
    int64_t start_offset; /* what on_assign sets for every partition */
    bool fail;
    size_t assigned_calls;
    size_t assigned_partitions;
    size_t revoked_calls;
    size_t revoked_partitions;
} hooks_t;

static ss_err_t hooks_on_assign(void *opaque, ss_kafka_partition_t *partitions, size_t count,
                                char *errstr, size_t errstr_size)
{
    hooks_t *hooks = opaque;
    hooks->assigned_calls++;
    hooks->assigned_partitions += count;
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(partitions[i].offset, SS_KAFKA_OFFSET_COMMITTED);
        partitions[i].offset = hooks->start_offset;
    }
    if (hooks->fail) {
        return ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                          "could not read partition_state: connection refused");
    }
    return SS_OK;
}

static void hooks_on_revoke(void *opaque, const ss_kafka_partition_t *partitions, size_t count)
{
    hooks_t *hooks = opaque;
    (void)partitions;
    hooks->revoked_calls++;
    hooks->revoked_partitions += count;
}

/*
 * Polls until `want` records are in hand (appended to offsets[]) or the bound is reached.
 * Returns how many arrived.
 */
static size_t consume_offsets(ss_kafka_consumer_t *consumer, int64_t *offsets, size_t want)
{
    ss_kafka_message_t *batch[SS_TEST_BATCH_MAX];
    char errstr[256] = "";
    size_t got = 0;
    for (int poll = 0; poll < SS_TEST_POLLS_MAX && got < want; poll++) {
        size_t count = 0;
        const ss_err_t err = ss_kafka_consumer_poll_batch(
            consumer, batch, SS_TEST_BATCH_MAX, SS_TEST_POLL_MS, &count, errstr, sizeof(errstr));
        assert_int_equal(err, SS_OK);
        for (size_t i = 0; i < count && got < want; i++) {
            offsets[got++] = batch[i]->offset;
        }
        ss_kafka_messages_release(batch, count);
    }
    return got;
}

static void test_on_assign_offset_is_where_consumption_starts(void **state)
{
    ss_test_mock_t *mock = *state;
    int64_t offsets[16];
    hooks_t hooks = {.start_offset = 4};
    ss_test_mock_topic(mock, "unit.resume", 1);
    produce_numbered(mock->bootstrap, "unit.resume", 0, 10);

    ss_kafka_consumer_t *consumer =
        ss_test_mock_consumer(mock, "g.resume", "unit.resume", "test-kafka-consumer",
                              hooks_on_assign, hooks_on_revoke, &hooks);
    assert_int_equal(consume_offsets(consumer, offsets, 6), 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(offsets[i], 4 + i);
    }
    assert_int_equal(hooks.assigned_calls, 1);
    assert_true(ss_kafka_consumer_owns(consumer, "unit.resume", 0));
    assert_false(ss_kafka_consumer_owns(consumer, "unit.resume", 1));

    char errstr[256] = "";
    assert_int_equal(ss_kafka_consumer_close(consumer, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(hooks.revoked_calls, 1);
    assert_int_equal(hooks.revoked_partitions, 1);
    assert_false(ss_kafka_consumer_owns(consumer, "unit.resume", 0));
    ss_kafka_consumer_destroy(consumer);
}

static void test_failed_on_assign_makes_every_poll_fatal_with_the_hook_message(void **state)
{
    ss_test_mock_t *mock = *state;
    char errstr[256] = "";
    ss_kafka_message_t *batch[SS_TEST_BATCH_MAX];
    size_t count = 0;
    ss_err_t err = SS_OK;
    hooks_t hooks = {.start_offset = 0, .fail = true};
    ss_test_mock_topic(mock, "unit.hookfail", 2);
    produce_numbered(mock->bootstrap, "unit.hookfail", 0, 3);

    ss_kafka_consumer_t *consumer =
        ss_test_mock_consumer(mock, "g.hookfail", "unit.hookfail", "test-kafka-consumer",
                              hooks_on_assign, hooks_on_revoke, &hooks);
    for (int poll = 0; poll < SS_TEST_POLLS_MAX && err == SS_OK; poll++) {
        err = ss_kafka_consumer_poll_batch(consumer, batch, SS_TEST_BATCH_MAX, SS_TEST_POLL_MS,
                                           &count, errstr, sizeof(errstr));
        assert_int_equal(count, 0);
    }
    assert_int_equal(err, SS_ERR_FATAL);
    assert_non_null(strstr(errstr, "could not read partition_state: connection refused"));
    assert_false(ss_kafka_consumer_owns(consumer, "unit.hookfail", 0));

    /* And it stays that way: nothing is ever consumed from an offset nobody chose. */
    errstr[0] = '\0';
    assert_int_equal(ss_kafka_consumer_poll_batch(consumer, batch, SS_TEST_BATCH_MAX, 0, &count,
                                                  errstr, sizeof(errstr)),
                     SS_ERR_FATAL);
    assert_int_equal(count, 0);
    assert_non_null(strstr(errstr, "connection refused"));
    ss_kafka_consumer_destroy(consumer);
}

static void test_headers_key_and_value_round_trip(void **state)
{
    ss_test_mock_t *mock = *state;
    char errstr[256] = "";
    deliveries_t deliveries = {0};
    ss_kafka_message_t *batch[SS_TEST_BATCH_MAX];
    size_t count = 0;
    const unsigned char binary[] = {0xc3, 0x01, 0x00, 0xff};
    const ss_kafka_header_t headers[] = {
        {.name = "ss-dlq-reason", .value = "bad fingerprint", .value_length = 15},
        {.name = "ss-binary", .value = binary, .value_length = sizeof(binary)},
        {.name = "ss-null", .value = NULL, .value_length = 0},
    };
    ss_test_mock_topic(mock, "unit.headers", 1);
    ss_kafka_producer_t *producer = producer_for(mock->bootstrap, &deliveries);
    assert_int_equal(ss_kafka_producer_send(producer, "unit.headers", 0, "42", 2, binary,
                                            sizeof(binary), headers, 3, NULL, errstr,
                                            sizeof(errstr)),
                     SS_OK);
    assert_int_equal(ss_kafka_producer_flush(producer, SS_TEST_FLUSH_MS, errstr, sizeof(errstr)),
                     SS_OK);
    ss_kafka_producer_destroy(producer);

    ss_kafka_consumer_t *consumer = NULL;
    const ss_kafka_consumer_config_t config = {.bootstrap = mock->bootstrap};
    assert_int_equal(ss_kafka_consumer_new_assigned(&config, "unit.headers", 0,
                                                    SS_KAFKA_OFFSET_BEGINNING, &consumer, errstr,
                                                    sizeof(errstr)),
                     SS_OK);
    for (int poll = 0; poll < SS_TEST_POLLS_MAX && count == 0; poll++) {
        assert_int_equal(ss_kafka_consumer_poll_batch(consumer, batch, 1, SS_TEST_POLL_MS, &count,
                                                      errstr, sizeof(errstr)),
                         SS_OK);
    }
    assert_int_equal(count, 1);
    ss_kafka_message_t *message = batch[0];
    assert_string_equal(message->topic, "unit.headers");
    assert_int_equal(message->key_length, 2);
    assert_memory_equal(message->key, "42", 2);
    assert_int_equal(message->value_length, sizeof(binary));
    assert_memory_equal(message->value, binary, sizeof(binary));
    assert_true(message->timestamp_ms > 0);

    const void *value = NULL;
    size_t length = 0;
    assert_int_equal(ss_kafka_message_header(message, "ss-dlq-reason", &value, &length), SS_OK);
    assert_int_equal(length, 15);
    assert_memory_equal(value, "bad fingerprint", 15);
    assert_int_equal(ss_kafka_message_header(message, "ss-binary", &value, &length), SS_OK);
    assert_int_equal(length, sizeof(binary));
    assert_memory_equal(value, binary, sizeof(binary));
    assert_int_equal(ss_kafka_message_header(message, "ss-null", &value, &length), SS_OK);
    assert_null(value);
    assert_int_equal(length, 0);
    assert_int_equal(ss_kafka_message_header(message, "ss-absent", &value, &length),
                     SS_ERR_NOT_FOUND);

    ss_kafka_message_release(message);
    ss_kafka_consumer_destroy(consumer);
}

static void test_assigned_consumer_reads_only_its_partition(void **state)
{
    ss_test_mock_t *mock = *state;
    char errstr[256] = "";
    ss_kafka_message_t *batch[SS_TEST_BATCH_MAX];
    ss_test_mock_topic(mock, "unit.results", 4);
    for (int32_t partition = 0; partition < 4; partition++) {
        produce_numbered(mock->bootstrap, "unit.results", partition, 5);
    }

    ss_kafka_consumer_t *consumer = NULL;
    const ss_kafka_consumer_config_t config = {.bootstrap = mock->bootstrap};
    assert_int_equal(ss_kafka_consumer_new_assigned(&config, "unit.results", 2,
                                                    SS_KAFKA_OFFSET_BEGINNING, &consumer, errstr,
                                                    sizeof(errstr)),
                     SS_OK);
    assert_true(ss_kafka_consumer_owns(consumer, "unit.results", 2));
    size_t total = 0;
    for (int poll = 0; poll < SS_TEST_POLLS_MAX && total < 5; poll++) {
        size_t count = 0;
        assert_int_equal(ss_kafka_consumer_poll_batch(consumer, batch, SS_TEST_BATCH_MAX,
                                                      SS_TEST_POLL_MS, &count, errstr,
                                                      sizeof(errstr)),
                         SS_OK);
        for (size_t i = 0; i < count; i++) {
            assert_int_equal(batch[i]->partition, 2);
            assert_int_equal(batch[i]->offset, (int64_t)(total + i));
        }
        total += count;
        ss_kafka_messages_release(batch, count);
    }
    assert_int_equal(total, 5);
    /* Nothing more: the other partitions' 15 records never show up. */
    size_t count = 0;
    assert_int_equal(ss_kafka_consumer_poll_batch(consumer, batch, SS_TEST_BATCH_MAX, 300, &count,
                                                  errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(count, 0);
    ss_kafka_consumer_destroy(consumer);
}

static void test_seek_rewinds_and_makes_held_records_stale(void **state)
{
    ss_test_mock_t *mock = *state;
    char errstr[256] = "";
    ss_kafka_message_t *batch[SS_TEST_BATCH_MAX];
    size_t count = 0;
    ss_test_mock_topic(mock, "unit.seek", 1);
    produce_numbered(mock->bootstrap, "unit.seek", 0, 8);

    ss_kafka_consumer_t *consumer = NULL;
    const ss_kafka_consumer_config_t config = {.bootstrap = mock->bootstrap};
    assert_int_equal(ss_kafka_consumer_new_assigned(&config, "unit.seek", 0, 0, &consumer, errstr,
                                                    sizeof(errstr)),
                     SS_OK);
    for (int poll = 0; poll < SS_TEST_POLLS_MAX && count < 8; poll++) {
        size_t more = 0;
        assert_int_equal(ss_kafka_consumer_poll_batch(consumer, batch + count, 8 - count,
                                                      SS_TEST_POLL_MS, &more, errstr,
                                                      sizeof(errstr)),
                         SS_OK);
        count += more;
    }
    assert_int_equal(count, 8);
    assert_true(ss_kafka_consumer_is_current(consumer, batch[7]));

    /* The batch "rolled back": rewind to offset 3. */
    assert_int_equal(ss_kafka_consumer_seek(consumer, "unit.seek", 0, 3, errstr, sizeof(errstr)),
                     SS_OK);
    assert_false(ss_kafka_consumer_is_current(consumer, batch[0]));
    ss_kafka_messages_release(batch, count);

    int64_t offsets[5];
    assert_int_equal(consume_offsets(consumer, offsets, 5), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(offsets[i], 3 + i);
    }
    assert_int_equal(ss_kafka_consumer_seek(consumer, "unit.seek", 1, 0, errstr, sizeof(errstr)),
                     SS_ERR_NOT_FOUND);
    ss_kafka_consumer_destroy(consumer);
}

static void test_seek_right_after_assignment_is_honoured(void **state)
{
    ss_test_mock_t *mock = *state;
    char errstr[256] = "";
    int64_t offsets[2];
    ss_test_mock_topic(mock, "unit.seekearly", 1);
    produce_numbered(mock->bootstrap, "unit.seekearly", 0, 8);

    ss_kafka_consumer_t *consumer = NULL;
    const ss_kafka_consumer_config_t config = {.bootstrap = mock->bootstrap};
    assert_int_equal(ss_kafka_consumer_new_assigned(&config, "unit.seekearly", 0,
                                                    SS_KAFKA_OFFSET_END, &consumer, errstr,
                                                    sizeof(errstr)),
                     SS_OK);
    assert_int_equal(
        ss_kafka_consumer_seek(consumer, "unit.seekearly", 0, 6, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(consume_offsets(consumer, offsets, 2), 2);
    assert_int_equal(offsets[0], 6);
    assert_int_equal(offsets[1], 7);
    ss_kafka_consumer_destroy(consumer);
}

/*
 * A consumer assigned at the end reads every record produced once it is made, also from a slow
 * broker. Left symbolic, the end was resolved at the partition's first fetch, round trips
 * later, after the records sent meanwhile: they were skipped (the ingress lost its first
 * answers so after a broker start). The broker's 300 ms per answer makes that order certain.
 */
static void test_assigned_at_the_end_reads_what_is_produced_after_it(void **state)
{
    ss_test_mock_t *mock = *state;
    deliveries_t deliveries = {0};
    char errstr[256] = "";
    int64_t offsets[3];
    ss_test_mock_topic(mock, "unit.end", 1);
    ss_kafka_producer_t *producer = producer_for(mock->bootstrap, &deliveries);
    send_numbered(producer, "unit.end", 0, 0, 5);

    assert_int_equal(rd_kafka_mock_broker_set_rtt(mock->cluster, 1, 300),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    ss_kafka_consumer_t *consumer = NULL;
    const ss_kafka_consumer_config_t config = {.bootstrap = mock->bootstrap};
    assert_int_equal(ss_kafka_consumer_new_assigned(&config, "unit.end", 0, SS_KAFKA_OFFSET_END,
                                                    &consumer, errstr, sizeof(errstr)),
                     SS_OK);
    send_numbered(producer, "unit.end", 0, 5, 3);
    assert_int_equal(rd_kafka_mock_broker_set_rtt(mock->cluster, 1, 0), RD_KAFKA_RESP_ERR_NO_ERROR);

    assert_int_equal(consume_offsets(consumer, offsets, 3), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(offsets[i], 5 + i);
    }
    ss_kafka_consumer_destroy(consumer);
    ss_kafka_producer_destroy(producer);
}

static void test_committed_offset_is_where_a_hookless_member_starts(void **state)
{
    ss_test_mock_t *mock = *state;
    char errstr[256] = "";
    int64_t offsets[1];
    ss_test_mock_topic(mock, "unit.commit", 1);
    produce_numbered(mock->bootstrap, "unit.commit", 0, 6);

    ss_kafka_consumer_t *consumer = NULL;
    const ss_kafka_consumer_config_t config = {.bootstrap = mock->bootstrap,
                                               .group_id = "g.commit"};
    assert_int_equal(ss_kafka_consumer_new_assigned(&config, "unit.commit", 0, 0, &consumer, errstr,
                                                    sizeof(errstr)),
                     SS_OK);
    assert_int_equal(
        ss_kafka_consumer_commit(consumer, "unit.commit", 0, 5, errstr, sizeof(errstr)), SS_OK);
    ss_kafka_consumer_destroy(consumer);

    const char *topics[] = {"unit.commit"};
    const ss_kafka_consumer_config_t member = {
        .bootstrap = mock->bootstrap,
        .group_id = "g.commit",
        .topics = topics,
        .topic_count = 1,
    };
    assert_int_equal(ss_kafka_consumer_new(&member, &consumer, errstr, sizeof(errstr)), SS_OK);
    assert_int_equal(consume_offsets(consumer, offsets, 1), 1);
    assert_int_equal(offsets[0], 5);
    ss_kafka_consumer_destroy(consumer);
}

static void test_consumer_config_errors_are_clear(void **state)
{
    (void)state;
    char errstr[256] = "";
    ss_kafka_consumer_t *consumer = NULL;
    const char *topics[] = {"t"};

    ss_kafka_consumer_config_t config = {
        .bootstrap = "127.0.0.1:9", .topics = topics, .topic_count = 1};
    assert_int_equal(ss_kafka_consumer_new(&config, &consumer, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_string_equal(errstr, "kafka consumer config has no group id");

    config.group_id = "g";
    config.topic_count = 0;
    assert_int_equal(ss_kafka_consumer_new(&config, &consumer, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "needs 1..32 topics, got 0"));

    config.topic_count = 1;
    config.batch_linger_ms = -1;
    assert_int_equal(ss_kafka_consumer_new(&config, &consumer, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "batch_linger_ms -1 out of range"));

    config.batch_linger_ms = 0;
    config.fetch_min_bytes = -5;
    assert_int_equal(ss_kafka_consumer_new(&config, &consumer, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "fetch.min.bytes=-5"));

    config.fetch_min_bytes = 65536;
    config.fetch_wait_max_ms = 400000;
    assert_int_equal(ss_kafka_consumer_new(&config, &consumer, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "fetch.wait.max.ms=400000"));

    config.fetch_wait_max_ms = 5;
    assert_int_equal(ss_kafka_consumer_new(&config, &consumer, errstr, sizeof(errstr)), SS_OK);
    ss_kafka_consumer_destroy(consumer);
    consumer = NULL;

    const ss_kafka_property_t bad[] = {{"isolation.level", "sometimes"}};
    config.properties = bad;
    config.property_count = 1;
    assert_int_equal(ss_kafka_consumer_new(&config, &consumer, errstr, sizeof(errstr)),
                     SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "invalid kafka property isolation.level=sometimes"));

    config.property_count = 0;
    assert_int_equal(
        ss_kafka_consumer_new_assigned(&config, "t", 0, -7, &consumer, errstr, sizeof(errstr)),
        SS_ERR_INVALID);
    assert_non_null(strstr(errstr, "invalid start offset -7"));
    assert_null(consumer);
}

/* ---------------------------------------------------------------------------------------- */
/* Admin                                                                                      */
/* ---------------------------------------------------------------------------------------- */

static void test_partition_count_reads_topic_metadata(void **state)
{
    ss_test_mock_t *mock = *state;
    char errstr[256] = "";
    int32_t count = 0;
    ss_test_mock_topic(mock, "unit.count", 6);
    assert_int_equal(ss_kafka_topic_partition_count(mock->bootstrap, "unit.count", &count,
                                                    SS_TEST_FLUSH_MS, errstr, sizeof(errstr)),
                     SS_OK);
    assert_int_equal(count, 6);
    /* A missing topic is NOT_FOUND only on a real broker: the mock creates any topic asked for. */
}

static void test_ping_answers_for_a_live_cluster_only(void **state)
{
    ss_test_mock_t *mock = *state;
    char errstr[256] = "";
    assert_int_equal(ss_kafka_ping(mock->bootstrap, SS_TEST_FLUSH_MS, errstr, sizeof(errstr)),
                     SS_OK);
    const ss_err_t err = ss_kafka_ping("127.0.0.1:9", 300, errstr, sizeof(errstr));
    assert_true(err == SS_ERR_TIMEOUT || err == SS_ERR_RETRIABLE);
    assert_non_null(strstr(errstr, "kafka at 127.0.0.1:9 is not reachable"));
}

int main(void)
{
    /* librdkafka's complaints about the unreachable test address are expected noise. */
    ss_log_level_set(SS_LOG_LEVEL_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_murmur2_matches_java_kafka_vectors),
        cmocka_unit_test(test_partition_for_key_is_positive_hash_modulo_count),
        cmocka_unit_test(test_partition_for_key_refuses_a_non_positive_count),
        cmocka_unit_test(test_partition_for_key_agrees_with_librdkafka_for_ids),
        cmocka_unit_test(test_producer_delivery_callback_reports_partition_and_offset),
        cmocka_unit_test(test_keyed_records_land_on_the_murmur2_partition),
        cmocka_unit_test(test_flush_times_out_while_the_broker_is_unreachable),
        cmocka_unit_test(test_producer_config_errors_are_clear),
        cmocka_unit_test(test_producer_guarantees_cannot_be_overridden),
        cmocka_unit_test(test_send_refuses_too_many_headers),
        cmocka_unit_test(test_send_with_headers_to_a_missing_partition_fails_cleanly),
        cmocka_unit_test(test_destroy_of_null_producer_and_consumer_is_a_no_op),
        cmocka_unit_test(test_on_assign_offset_is_where_consumption_starts),
        cmocka_unit_test(test_failed_on_assign_makes_every_poll_fatal_with_the_hook_message),
        cmocka_unit_test(test_headers_key_and_value_round_trip),
        cmocka_unit_test(test_assigned_consumer_reads_only_its_partition),
        cmocka_unit_test(test_seek_rewinds_and_makes_held_records_stale),
        cmocka_unit_test(test_seek_right_after_assignment_is_honoured),
        cmocka_unit_test(test_assigned_at_the_end_reads_what_is_produced_after_it),
        cmocka_unit_test(test_committed_offset_is_where_a_hookless_member_starts),
        cmocka_unit_test(test_consumer_config_errors_are_clear),
        cmocka_unit_test(test_partition_count_reads_topic_metadata),
        cmocka_unit_test(test_ping_answers_for_a_live_cluster_only),
    };
    return cmocka_run_group_tests(tests, ss_test_mock_setup, ss_test_mock_teardown);
}

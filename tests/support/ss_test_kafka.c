/*
 * Kafka helpers for integration tests (ss_test_kafka.h), on the project's own ss/kafka.h.
 */
#include "ss_test_kafka.h"

#include "ss_test_stack.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include "ss/avro.h"
#include "ss/clock.h"
#include "ss/topics.h"

#include <stdio.h>
#include <string.h>

#define READ_BATCH_MAX 500

typedef struct delivery {
    bool done;
    ss_err_t result;
} delivery_t;

static void on_delivery(void *opaque, void *message_opaque, const ss_kafka_delivery_t *report)
{
    (void)opaque;
    delivery_t *delivery = message_opaque;
    delivery->done = true;
    delivery->result = report->result;
}

void ss_test_produce_raw(const char *topic, const char *key, const void *value, size_t length)
{
    ss_test_produce_raw_headers(topic, key, value, length, NULL, 0);
}

void ss_test_produce_raw_headers(const char *topic, const char *key, const void *value,
                                 size_t length, const ss_kafka_header_t *headers,
                                 size_t header_count)
{
    static ss_kafka_producer_t *producer;
    char errstr[512];
    if (producer == NULL) {
        static const ss_kafka_property_t properties[] = {{"message.max.bytes", "2000000"}};
        ss_kafka_producer_config_t config = {.bootstrap = ss_test_kafka_bootstrap(),
                                             .client_id = "ss-test-raw",
                                             .on_delivery = on_delivery,
                                             .properties = properties,
                                             .property_count = 1};
        if (ss_kafka_producer_new(&config, &producer, errstr, sizeof(errstr)) != SS_OK) {
            fail_msg("could not create a raw producer: %s", errstr);
        }
    }
    delivery_t delivery = {false, SS_OK};
    if (ss_kafka_producer_send(producer, topic, SS_KAFKA_PARTITION_BY_KEY, key, strlen(key), value,
                               length, headers, header_count, &delivery, errstr,
                               sizeof(errstr)) != SS_OK) {
        fail_msg("could not produce %zu bytes to %s: %s", length, topic, errstr);
    }
    if (ss_kafka_producer_flush(producer, 30000, errstr, sizeof(errstr)) != SS_OK ||
        !delivery.done || delivery.result != SS_OK) {
        fail_msg("raw record of %zu bytes to %s not delivered: %s", length, topic,
                 delivery.done ? ss_err_name(delivery.result) : errstr);
    }
}

size_t ss_test_topic_read(const char *topic, int32_t partition, ss_test_record_fn keep,
                          void *opaque, size_t wanted, int settle_ms, int timeout_ms)
{
    char errstr[512];
    ss_kafka_consumer_config_t config = {.bootstrap = ss_test_kafka_bootstrap(),
                                         .group_id = "ss-test-reader",
                                         .client_id = "ss-test-reader"};
    ss_kafka_consumer_t *consumer = NULL;
    if (ss_kafka_consumer_new_assigned(&config, topic, partition, SS_KAFKA_OFFSET_BEGINNING,
                                       &consumer, errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("could not read %s/%d: %s", topic, partition, errstr);
    }
    ss_kafka_message_t *messages[READ_BATCH_MAX];
    size_t kept = 0;
    int64_t deadline = ss_clock_monotonic_ms() + timeout_ms;
    int64_t settled_at = -1;
    while (ss_clock_monotonic_ms() < deadline &&
           (settled_at < 0 || ss_clock_monotonic_ms() < settled_at)) {
        size_t count = 0;
        if (ss_kafka_consumer_poll_batch(consumer, messages, READ_BATCH_MAX, 100, &count, errstr,
                                         sizeof(errstr)) != SS_OK) {
            continue;
        }
        for (size_t i = 0; i < count; i++) {
            kept += keep(opaque, messages[i]) ? 1 : 0;
        }
        ss_kafka_messages_release(messages, count);
        if (kept >= wanted && settled_at < 0) {
            settled_at = ss_clock_monotonic_ms() + settle_ms;
        }
    }
    ss_kafka_consumer_destroy(consumer);
    return kept;
}

void ss_test_header(const ss_kafka_message_t *message, const char *name, char *out, size_t out_size)
{
    const void *value = NULL;
    size_t length = 0;
    out[0] = '\0';
    if (ss_kafka_message_header(message, name, &value, &length) == SS_OK && value != NULL) {
        snprintf(out, out_size, "%.*s", (int)length, (const char *)value);
    }
}

int64_t ss_test_group_committed(const char *group, const char *topic, int32_t partition)
{
    char errstr[512];
    ss_kafka_consumer_config_t config = {
        .bootstrap = ss_test_kafka_bootstrap(), .group_id = group, .client_id = "ss-test-offsets"};
    ss_kafka_consumer_t *consumer = NULL;
    if (ss_kafka_consumer_new_assigned(&config, topic, partition, SS_KAFKA_OFFSET_END, &consumer,
                                       errstr, sizeof(errstr)) != SS_OK) {
        fail_msg("could not ask for %s's offsets: %s", group, errstr);
    }
    int64_t offset = -1;
    ss_err_t err = ss_kafka_consumer_committed(consumer, topic, partition, 10000, &offset, errstr,
                                               sizeof(errstr));
    ss_kafka_consumer_destroy(consumer);
    if (err != SS_OK) {
        fail_msg("could not read %s's offset of %s/%d: %s", group, topic, partition, errstr);
    }
    return offset;
}

json_t *ss_test_outcomes(const ss_kafka_message_t *message)
{
    const char *schema_name = NULL;
    json_t *value = NULL;
    char errstr[256];
    if (message->value == NULL ||
        ss_avro_decode(ss_test_registry(), message->value, message->value_length, &schema_name,
                       &value, errstr, sizeof(errstr)) != SS_OK) {
        return NULL;
    }
    json_t *outcomes = strcmp(schema_name, SS_SCHEMA_COMMAND_RESULTS) == 0
                           ? json_incref(json_object_get(value, "results"))
                           : NULL;
    json_decref(value);
    return outcomes;
}

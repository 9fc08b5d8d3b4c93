/*
 * Kafka helpers for integration tests beyond ss_test_produce(): producing raw bytes of any size
 * up to the broker's limit (undecodable or oversized records), and reading what a partition
 * holds from its beginning, record by record, to check what the workers emitted; a group's
 * committed offsets.
 */
#ifndef SS_TEST_KAFKA_H
#define SS_TEST_KAFKA_H

#include "ss/kafka.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Produces value (length bytes, up to ~1 MiB) to topic with key and waits for delivery. */
void ss_test_produce_raw(const char *topic, const char *key, const void *value, size_t length);
/* The same with record headers (copied). */
void ss_test_produce_raw_headers(const char *topic, const char *key, const void *value,
                                 size_t length, const ss_kafka_header_t *headers,
                                 size_t header_count);

/* Says whether a record counts; the test keeps whatever it needs from it. */
typedef bool (*ss_test_record_fn)(void *opaque, const ss_kafka_message_t *message);

/*
 * Reads topic/partition from the beginning, calling keep for each record, until `wanted`
 * records were kept and then `settle_ms` more passed without reaching the end of the bound
 * (so that extra copies would be seen), or timeout_ms passed. Returns how many were kept.
 */
size_t ss_test_topic_read(const char *topic, int32_t partition, ss_test_record_fn keep,
                          void *opaque, size_t wanted, int settle_ms, int timeout_ms);

/* The value of header name as a NUL-terminated copy in out ("" when absent). */
void ss_test_header(const ss_kafka_message_t *message, const char *name, char *out,
                    size_t out_size);

/*
 * The outcomes of a CommandResults record on ss.results (a new reference to its "results"
 * array, which the caller releases), or NULL when the record is not a decodable CommandResults.
 */
json_t *ss_test_outcomes(const ss_kafka_message_t *message);

/* The next offset group has committed for topic/partition in Kafka (-1: none). */
int64_t ss_test_group_committed(const char *group, const char *topic, int32_t partition);

#endif

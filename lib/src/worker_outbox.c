/*
 * The outbox's second half: after a batch commits, its records are produced in order by the
 * idempotent producer and awaited; when a partition is (re)assigned, or a delivery failed, the
 * rows still stored for that partition's source are produced again from PostgreSQL and then
 * deleted. A record may so reach Kafka twice, never zero times: consumers dedupe by event id.
 */
#include "worker_internal.h"

#include "ss/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Attempts at queueing one record while the producer's local queue is full. */
#define SS_WORKER_SEND_ATTEMPTS_MAX 1000
#define SS_WORKER_SEND_RETRY_POLL_MS 10

#define SQL_OUTBOX_PENDING                                                                         \
    "SELECT id, topic, partition, key, value, headers FROM outbox WHERE source = $1 AND id > $2"   \
    " ORDER BY id LIMIT 1000"

void ss_worker_source_name(const ss_worker_t *worker, int32_t partition, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s%" PRId32, worker->source_prefix, partition);
}

void ss_worker_on_delivery(void *opaque, void *message_opaque, ss_err_t result,
                           const char *error_text, int32_t partition, int64_t offset)
{
    ss_worker_t *worker = opaque;
    (void)partition;
    (void)offset;
    if (result != SS_OK) {
        worker->delivery_failures++;
        /* message_opaque is the source partition + 1 (NULL: not from a batch). */
        intptr_t source = (intptr_t)message_opaque - 1;
        if (source >= 0 && source < SS_WORKER_PARTITIONS_MAX) {
            worker->partitions[source].publish_failed = true;
        }
        SS_LOG_WARN(worker->handler.name, "outbox delivery failed error=\"%s\"",
                    error_text != NULL ? error_text : ss_err_name(result));
    }
}

static ss_err_t send_one(ss_worker_t *worker, const char *topic, int32_t partition, const void *key,
                         size_t key_length, const void *value, size_t value_length,
                         const ss_kafka_header_t *headers, size_t header_count, void *source,
                         char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_ERR_RETRIABLE;
    for (int attempt = 0; attempt < SS_WORKER_SEND_ATTEMPTS_MAX && err == SS_ERR_RETRIABLE;
         attempt++) {
        err = ss_kafka_producer_send(worker->producer, topic, partition, key, key_length, value,
                                     value_length, headers, header_count, source, errstr,
                                     errstr_size);
        if (err == SS_ERR_RETRIABLE) {
            ss_kafka_producer_poll(worker->producer, SS_WORKER_SEND_RETRY_POLL_MS);
        }
    }
    return err;
}

static ss_err_t flush_and_check(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    ss_err_t err =
        ss_kafka_producer_flush(worker->producer, SS_WORKER_OUTBOX_FLUSH_MS, errstr, errstr_size);
    if (err == SS_OK && worker->delivery_failures > 0) {
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "%d outbox records were not delivered", worker->delivery_failures);
    }
    return err;
}

ss_err_t ss_worker_outbox_publish(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    ss_worker_batch_t *batch = &worker->batch;
    ss_worker_partition_t *state = &worker->partitions[batch->partition];
    void *source = (void *)(intptr_t)(batch->partition + 1);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < batch->outbox_count && err == SS_OK; i++) {
        const ss_worker_outbox_entry_t *entry = &batch->outbox[i];
        ss_kafka_header_t headers[2];
        size_t header_count = 0;
        if (entry->dlq_reason != NULL) {
            headers[header_count++] = (ss_kafka_header_t){
                SS_WORKER_DLQ_REASON_HEADER, entry->dlq_reason, strlen(entry->dlq_reason)};
            headers[header_count++] = (ss_kafka_header_t){
                SS_WORKER_DLQ_SOURCE_HEADER, entry->dlq_source, strlen(entry->dlq_source)};
        }
        err = send_one(worker, entry->topic, entry->partition, entry->key, strlen(entry->key),
                       entry->value, entry->value_length, headers, header_count, source, errstr,
                       errstr_size);
    }
    if (err != SS_OK) {
        /* The rows are committed: they are sent again from PostgreSQL before the next batch. */
        state->outbox_recovery = true;
        return err;
    }
    if (batch->outbox_max_id > state->published_outbox_id) {
        state->published_outbox_id = batch->outbox_max_id;
    }
    return SS_OK;
}

void ss_worker_outbox_settle(ss_worker_t *worker)
{
    bool pending = false;
    for (int32_t p = 0; p < SS_WORKER_PARTITIONS_MAX && !pending; p++) {
        pending = worker->partitions[p].published_outbox_id > 0;
    }
    if (!pending) {
        return;
    }
    char errstr[SS_WORKER_ERRSTR_SIZE];
    ss_err_t err = ss_kafka_producer_flush(worker->producer, SS_WORKER_OUTBOX_FLUSH_MS, errstr,
                                           sizeof(errstr));
    if (err != SS_OK) {
        SS_LOG_WARN(worker->handler.name, "outbox flush failed error=\"%s\"", errstr);
    }
    for (int32_t p = 0; p < SS_WORKER_PARTITIONS_MAX; p++) {
        ss_worker_partition_t *state = &worker->partitions[p];
        if (state->published_outbox_id == 0) {
            continue;
        }
        if (err != SS_OK || state->publish_failed) {
            state->outbox_recovery = true;
        } else if (state->published_outbox_id > state->delivered_outbox_id) {
            state->delivered_outbox_id = state->published_outbox_id;
        }
        state->published_outbox_id = 0;
        state->publish_failed = false;
    }
}

/* Turns the headers column (NULL or a JSON object of strings) into Kafka headers. */
static size_t row_headers(json_t *object, ss_kafka_header_t *headers, size_t headers_max)
{
    size_t count = 0;
    const char *name;
    json_t *value;
    json_object_foreach(object, name, value)
    {
        if (count < headers_max && json_is_string(value)) {
            headers[count++] =
                (ss_kafka_header_t){name, json_string_value(value), json_string_length(value)};
        }
    }
    return count;
}

static ss_err_t recover_row(ss_worker_t *worker, PGresult *rows, int row, char *errstr,
                            size_t errstr_size)
{
    int32_t partition = 0;
    ss_err_t err = ss_pg_get_int32(rows, row, 2, &partition, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    size_t key_length = 0, value_length = 0;
    unsigned char *key =
        PQunescapeBytea((const unsigned char *)PQgetvalue(rows, row, 3), &key_length);
    unsigned char *value =
        PQunescapeBytea((const unsigned char *)PQgetvalue(rows, row, 4), &value_length);
    json_t *header_object = NULL;
    if (!ss_pg_is_null(rows, row, 5)) {
        header_object = json_loads(PQgetvalue(rows, row, 5), 0, NULL);
    }
    ss_kafka_header_t headers[SS_KAFKA_HEADERS_MAX];
    size_t header_count = row_headers(header_object, headers, SS_KAFKA_HEADERS_MAX);
    if (key == NULL || value == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not decode an outbox row");
    } else {
        err = send_one(worker, PQgetvalue(rows, row, 1), partition, key, key_length, value,
                       value_length, headers, header_count, NULL, errstr, errstr_size);
    }
    json_decref(header_object);
    PQfreemem(key);
    PQfreemem(value);
    return err;
}

static ss_err_t recover_round(ss_worker_t *worker, const char *source, int64_t *after_id,
                              bool *done, char *errstr, size_t errstr_size)
{
    char after_text[24];
    snprintf(after_text, sizeof(after_text), "%" PRId64, *after_id);
    const char *params[] = {source, after_text};
    PGresult *rows = NULL;
    ss_err_t err =
        ss_pg_query(worker->pg, NULL, SQL_OUTBOX_PENDING, 2, params, &rows, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    int count = PQntuples(rows);
    *done = count < SS_WORKER_OUTBOX_RECOVERY_ROWS_MAX;
    for (int row = 0; row < count && err == SS_OK; row++) {
        err = recover_row(worker, rows, row, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 0, after_id, errstr, errstr_size);
        }
    }
    PQclear(rows);
    return err;
}

ss_err_t ss_worker_outbox_recover(ss_worker_t *worker, int32_t partition, char *errstr,
                                  size_t errstr_size)
{
    ss_worker_outbox_settle(worker);
    char source[320];
    ss_worker_source_name(worker, partition, source, sizeof(source));
    worker->delivery_failures = 0;
    int64_t last_id = 0;
    bool done = false;
    ss_err_t err = SS_OK;
    for (int round = 0; round < SS_WORKER_OUTBOX_RECOVERY_ROUNDS_MAX && !done && err == SS_OK;
         round++) {
        err = recover_round(worker, source, &last_id, &done, errstr, errstr_size);
    }
    if (err == SS_OK && last_id > 0) {
        err = flush_and_check(worker, errstr, errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }
    if (last_id > 0) {
        SS_LOG_INFO(worker->handler.name, "outbox re-sent source=%s up_to_id=%" PRId64, source,
                    last_id);
        err = ss_worker_outbox_delete(worker, partition, 0, last_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        ss_worker_partition_t *state = &worker->partitions[partition];
        state->outbox_recovery = false;
        state->delivered_outbox_id = 0;
        if (last_id > state->deleted_outbox_id) {
            state->deleted_outbox_id = last_id;
        }
    }
    return err;
}

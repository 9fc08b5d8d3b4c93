/*
 * One batch transaction of the worker framework: fence and move the partition's offset, drop
 * what the outbox already delivered, answer Idempotency-Key retries, let the handler apply the
 * rest, then write results, new keys and outbox rows with one multi-row statement each.
 *
 * The offset update is the first statement and carries both the epoch and the offset the
 * batch expects, so it holds the partition row's lock for the whole transaction and makes a
 * replay of a batch whose commit outcome was unknown detectable instead of applied twice.
 */
#include "worker_internal.h"
#include "ss/topics.h"
#include "worker_sql.h"

#include "ss/assert.h"
#include "ss/clock.h"
#include "ss/json.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ss_err_t ss_worker_sql_prepare(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    static const struct {
        const char *name;
        const char *sql;
        int param_count;
    } statements[] = {
        {"ss_worker_claim", SS_WORKER_SQL_CLAIM, 4},
        {"ss_worker_state", SS_WORKER_SQL_STATE, 3},
        {"ss_worker_fence", SS_WORKER_SQL_FENCE_MANY, 6},
        {"ss_worker_idempotency_lookup", SS_WORKER_SQL_IDEMPOTENCY_LOOKUP, 2},
        {"ss_worker_idempotency_insert", SS_WORKER_SQL_IDEMPOTENCY_INSERT, 4},
        {"ss_worker_results_insert", SS_WORKER_SQL_RESULTS_INSERT, 3},
        {"ss_worker_outbox_insert", SS_WORKER_SQL_OUTBOX_INSERT, 8},
        {"ss_worker_outbox_delete", SS_WORKER_SQL_OUTBOX_DELETE, 3},
        {"ss_worker_outbox_pending", SS_WORKER_SQL_OUTBOX_PENDING, 3},
        {"ss_worker_outbox_row", SS_WORKER_SQL_OUTBOX_ROW, 2},
    };
    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
        ss_err_t err = ss_pg_prepare(worker->pg, statements[i].name, statements[i].sql,
                                     statements[i].param_count, errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
    }
    return SS_OK;
}

ss_err_t ss_worker_batch_alloc(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    size_t max = (size_t)worker->config.batch_records_max;
    ss_worker_batch_t *batch = &worker->batch;
    memset(batch, 0, sizeof(*batch));
    batch->worker = worker;
    batch->reply_status = calloc(max, sizeof(*batch->reply_status));
    batch->reply_body = calloc(max, sizeof(*batch->reply_body));
    batch->duplicate_of = calloc(max, sizeof(*batch->duplicate_of));
    batch->new_keys = calloc(max, sizeof(*batch->new_keys));
    batch->outbox_capacity = max * 2 + 16;
    batch->outbox = calloc(batch->outbox_capacity, sizeof(*batch->outbox));
    batch->outbox_rows = calloc(batch->outbox_capacity, sizeof(*batch->outbox_rows));
    batch->outbox_order = calloc(batch->outbox_capacity, sizeof(*batch->outbox_order));
    if (batch->reply_status == NULL || batch->reply_body == NULL || batch->duplicate_of == NULL ||
        batch->new_keys == NULL || batch->outbox == NULL || batch->outbox_rows == NULL ||
        batch->outbox_order == NULL) {
        ss_worker_batch_free(batch);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate batch state");
    }
    return SS_OK;
}

static void outbox_entry_free(ss_worker_outbox_entry_t *entry)
{
    free(entry->topic);
    free(entry->key);
    free(entry->value);
    free(entry->headers_json);
    memset(entry, 0, sizeof(*entry));
}

static void batch_clear(ss_worker_batch_t *batch)
{
    for (size_t i = 0; i < batch->record_count; i++) {
        free(batch->reply_body[i]);
        batch->reply_body[i] = NULL;
        batch->reply_status[i] = 0;
        batch->duplicate_of[i] = SIZE_MAX;
    }
    for (size_t i = 0; i < batch->outbox_count; i++) {
        outbox_entry_free(&batch->outbox[i]);
    }
    batch->outbox_count = 0;
    for (size_t i = 0; i < batch->late_count; i++) {
        free(batch->late[i].request_id);
        free(batch->late[i].body);
    }
    batch->late_count = 0;
    memset(&batch->current_trace, 0, sizeof(batch->current_trace));
    batch->outbox_row_count = 0;
    batch->new_key_count = 0;
    batch->record_count = 0;
    batch->group_count = 0;
}

void ss_worker_batch_free(ss_worker_batch_t *batch)
{
    if (batch == NULL) {
        return;
    }
    if (batch->reply_body != NULL) {
        batch_clear(batch);
    }
    for (size_t i = 0; i < batch->outbox_count; i++) {
        outbox_entry_free(&batch->outbox[i]);
    }
    free(batch->reply_status);
    free(batch->reply_body);
    free(batch->duplicate_of);
    free(batch->new_keys);
    free(batch->outbox);
    free(batch->outbox_rows);
    free(batch->outbox_order);
    free(batch->late);
    memset(batch, 0, sizeof(*batch));
}

ss_pg_t *ss_worker_batch_pg(ss_worker_batch_t *batch)
{
    return batch->worker->pg;
}

int32_t ss_worker_batch_partition(const ss_worker_batch_t *batch)
{
    return batch->current_source;
}

const ss_avro_registry_t *ss_worker_batch_registry(const ss_worker_batch_t *batch)
{
    return batch->worker->registry;
}

static char *copy_text(const char *text)
{
    return text == NULL ? NULL : strdup(text);
}

/* A headers JSON text, or NULL for "" (the outbox's column is NULL then). */
static const char *headers_or_null(const char *headers_json)
{
    return headers_json[0] != '\0' ? headers_json : NULL;
}

void ss_worker_batch_record_enter(ss_worker_batch_t *batch, const ss_worker_record_t *record)
{
    if (record == NULL) {
        memset(&batch->current_trace, 0, sizeof(batch->current_trace));
        batch->current_source = batch->groups[0].partition;
        ss_trace_log_leave();
        return;
    }
    /* A tick's records are the handler's own: what it emits is the tick partition's. */
    batch->current_source =
        batch->record_count > 0 ? record->partition : batch->groups[0].partition;
    batch->current_trace = record->trace;
    ss_trace_log_enter(&record->trace);
}

/* The handler is done: nothing it did later is on behalf of its last record. */
static void batch_record_leave(ss_worker_batch_t *batch)
{
    ss_worker_batch_record_enter(batch, NULL);
}

ss_err_t ss_worker_batch_emit(ss_worker_batch_t *batch, const char *topic, const char *key,
                              const char *schema_name, const json_t *value, char *errstr,
                              size_t errstr_size)
{
    ss_worker_t *worker = batch->worker;
    ss_err_t err =
        ss_avro_encode(worker->registry, schema_name, value, &worker->buffer, errstr, errstr_size);
    if (err != SS_OK) {
        /* A record the handler built that does not fit its schema is a bug in the handler. */
        return err == SS_ERR_NOMEM ? err : SS_ERR_FATAL;
    }
    char headers[SS_TRACE_HEADERS_JSON_SIZE];
    ss_trace_headers_json(&batch->current_trace, headers, sizeof(headers));
    return ss_worker_outbox_add(batch, batch->current_source, topic, SS_KAFKA_PARTITION_BY_KEY, key,
                                worker->buffer.data, worker->buffer.length,
                                headers_or_null(headers), errstr, errstr_size);
}

ss_err_t ss_worker_batch_reply(ss_worker_batch_t *batch, size_t index, int http_status,
                               const char *envelope, char *errstr, size_t errstr_size)
{
    SS_ASSERT(index < batch->record_count);
    SS_ASSERT(http_status >= 100 && http_status <= 599);
    if (batch->reply_status[index] != 0) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "record %zu of the batch was answered twice", index);
    }
    batch->reply_body[index] = copy_text(envelope);
    if (batch->reply_body[index] == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not copy a reply");
    }
    batch->reply_status[index] = http_status;
    return SS_OK;
}

void ss_worker_batch_defer(ss_worker_batch_t *batch, size_t index)
{
    SS_ASSERT(index < batch->record_count);
    SS_ASSERT(batch->reply_status[index] == 0);
    batch->reply_status[index] = SS_WORKER_REPLY_DEFERRED;
}

ss_err_t ss_worker_batch_answer(ss_worker_batch_t *batch, const char *request_id,
                                int32_t reply_partition, int http_status, const char *envelope,
                                char *errstr, size_t errstr_size)
{
    SS_ASSERT(http_status >= 100 && http_status <= 599);
    if (batch->late_count == batch->late_capacity) {
        size_t capacity = batch->late_capacity * 2 + 16;
        ss_worker_late_answer_t *grown = realloc(batch->late, capacity * sizeof(*grown));
        if (grown == NULL) {
            return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not grow late answers");
        }
        batch->late = grown;
        batch->late_capacity = capacity;
    }
    ss_worker_late_answer_t *late = &batch->late[batch->late_count];
    late->request_id = copy_text(request_id);
    late->body = copy_text(envelope);
    late->trace = batch->current_trace;
    late->reply_partition = reply_partition;
    late->http_status = http_status;
    late->source = batch->current_source;
    if (late->request_id == NULL || late->body == NULL) {
        free(late->request_id);
        free(late->body);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not copy an answer");
    }
    batch->late_count++;
    return SS_OK;
}

/* What a retry of a still unanswered command gets: 202 and the first request's id. */
static char *in_progress_envelope(const char *first_request_id)
{
    json_t *data = json_pack("{s:s}", "requestId", first_request_id);
    return ss_json_envelope(202,
                            "Accepted: the first request with this Idempotency-Key is"
                            " still in progress",
                            NULL, data);
}

/* The record's "idempotency" object, or NULL. */
static const json_t *record_idempotency(const ss_worker_record_t *record)
{
    const json_t *idempotency = json_object_get(record->value, "idempotency");
    return json_is_object(idempotency) ? idempotency : NULL;
}

static const char *object_text(const json_t *object, const char *name)
{
    const char *text = json_string_value(json_object_get(object, name));
    return text != NULL ? text : "";
}

static char *reused_key_envelope(void)
{
    return strdup("{\"code\":409,\"message\":\"the Idempotency-Key was already used with another"
                  " request\",\"error\":\"IDEMPOTENCY_KEY_REUSED\"}");
}

/* A later record of this batch carrying a key an earlier record introduced. */
static void idempotency_match_in_batch(ss_worker_batch_t *batch, ss_worker_record_t *records,
                                       size_t index, const json_t *idempotency, bool *matched)
{
    *matched = false;
    for (size_t k = 0; k < batch->new_key_count; k++) {
        ss_worker_idempotency_t *known = &batch->new_keys[k];
        if (strcmp(known->scope, object_text(idempotency, "scope")) != 0 ||
            strcmp(known->key, object_text(idempotency, "key")) != 0) {
            continue;
        }
        *matched = true;
        records[index].handled = true;
        if (strcmp(known->body_hash, object_text(idempotency, "body_hash")) == 0) {
            batch->duplicate_of[index] = known->first_index;
        } else {
            batch->reply_body[index] = reused_key_envelope();
            batch->reply_status[index] = 409;
        }
        return;
    }
}

/* Answers records whose key PostgreSQL already knows; the rest become new keys. */
static ss_err_t idempotency_apply_known(ss_worker_batch_t *batch, ss_worker_record_t *records,
                                        size_t count, PGresult *known, char *errstr,
                                        size_t errstr_size)
{
    for (size_t i = 0; i < count; i++) {
        const json_t *idempotency = record_idempotency(&records[i]);
        if (idempotency == NULL || records[i].handled) {
            continue;
        }
        const char *scope = object_text(idempotency, "scope");
        const char *key = object_text(idempotency, "key");
        const char *hash = object_text(idempotency, "body_hash");
        bool answered = false;
        for (int row = 0; row < PQntuples(known) && !answered; row++) {
            if (strcmp(PQgetvalue(known, row, 0), scope) != 0 ||
                strcmp(PQgetvalue(known, row, 1), key) != 0) {
                continue;
            }
            answered = true;
            records[i].handled = true;
            if (strcmp(PQgetvalue(known, row, 2), hash) != 0) {
                batch->reply_body[i] = reused_key_envelope();
                batch->reply_status[i] = 409;
            } else if (ss_pg_is_null(known, row, 3)) {
                batch->reply_body[i] = in_progress_envelope(PQgetvalue(known, row, 5));
                batch->reply_status[i] = 202;
            } else {
                batch->reply_body[i] = strdup(PQgetvalue(known, row, 4));
                batch->reply_status[i] = atoi(PQgetvalue(known, row, 3));
            }
            if (batch->reply_body[i] == NULL) {
                return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not copy a reply");
            }
        }
        if (answered) {
            continue;
        }
        bool matched;
        idempotency_match_in_batch(batch, records, i, idempotency, &matched);
        if (!matched) {
            batch->new_keys[batch->new_key_count++] = (ss_worker_idempotency_t){
                .scope = scope, .key = key, .body_hash = hash, .first_index = i};
        }
    }
    return SS_OK;
}

static ss_err_t idempotency_resolve(ss_worker_batch_t *batch, ss_worker_record_t *records,
                                    size_t count, char *errstr, size_t errstr_size)
{
    ss_pg_array_t scopes, keys;
    ss_pg_array_init(&scopes);
    ss_pg_array_init(&keys);
    ss_err_t err = SS_OK;
    PGresult *known = NULL;
    for (size_t i = 0; i < count && err == SS_OK; i++) {
        const json_t *idempotency = record_idempotency(&records[i]);
        if (idempotency != NULL && !records[i].handled) {
            err = ss_pg_array_append_text(&scopes, object_text(idempotency, "scope"), errstr,
                                          errstr_size);
            if (err == SS_OK) {
                err = ss_pg_array_append_text(&keys, object_text(idempotency, "key"), errstr,
                                              errstr_size);
            }
        }
    }
    if (err != SS_OK || ss_pg_array_count(&scopes) == 0) {
        goto cleanup;
    }
    const char *params[] = {ss_pg_array_text(&scopes), ss_pg_array_text(&keys)};
    err = ss_pg_query(batch->worker->pg, "ss_worker_idempotency_lookup", NULL, 2, params, &known,
                      errstr, errstr_size);
    if (err == SS_OK) {
        err = idempotency_apply_known(batch, records, count, known, errstr, errstr_size);
    }
cleanup:
    PQclear(known);
    ss_pg_array_free(&keys);
    ss_pg_array_free(&scopes);
    return err;
}

/* Copies each in-batch duplicate's outcome from the record that introduced the key. */
static ss_err_t duplicates_answer(ss_worker_batch_t *batch, const ss_worker_record_t *records,
                                  char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < batch->record_count; i++) {
        size_t first = batch->duplicate_of[i];
        if (first == SIZE_MAX) {
            continue;
        }
        if (batch->reply_status[first] == 0) {
            return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                              "record %zu was not answered by the handler", first);
        }
        if (batch->reply_status[first] == SS_WORKER_REPLY_DEFERRED) {
            batch->reply_body[i] = in_progress_envelope(records[first].request_id);
            batch->reply_status[i] = 202;
        } else {
            batch->reply_body[i] = copy_text(batch->reply_body[first]);
            batch->reply_status[i] = batch->reply_status[first];
        }
        if (batch->reply_body[i] == NULL) {
            return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not copy a reply");
        }
    }
    return SS_OK;
}

static ss_err_t keys_insert(ss_worker_batch_t *batch, ss_worker_record_t *records, char *errstr,
                            size_t errstr_size)
{
    if (batch->new_key_count == 0) {
        return SS_OK;
    }
    ss_pg_array_t columns[4];
    for (size_t c = 0; c < 4; c++) {
        ss_pg_array_init(&columns[c]);
    }
    ss_err_t err = SS_OK;
    for (size_t k = 0; k < batch->new_key_count && err == SS_OK; k++) {
        const ss_worker_idempotency_t *key = &batch->new_keys[k];
        const char *values[] = {key->scope, key->key, key->body_hash,
                                records[key->first_index].request_id};
        for (size_t c = 0; c < 4 && err == SS_OK; c++) {
            err = ss_pg_array_append_text(&columns[c], values[c], errstr, errstr_size);
        }
    }
    if (err == SS_OK) {
        const char *params[4];
        for (size_t c = 0; c < 4; c++) {
            params[c] = ss_pg_array_text(&columns[c]);
        }
        err = ss_pg_query(batch->worker->pg, "ss_worker_idempotency_insert", NULL, 4, params, NULL,
                          errstr, errstr_size);
    }
    for (size_t c = 0; c < 4; c++) {
        ss_pg_array_free(&columns[c]);
    }
    return err;
}

/* Tells a fenced partition from a batch an earlier attempt already committed. */
static ss_batch_outcome_t fence_explain(ss_worker_t *worker, int32_t partition, int64_t next_offset,
                                        char *errstr, size_t errstr_size)
{
    char partition_text[16];
    snprintf(partition_text, sizeof(partition_text), "%" PRId32, partition);
    const char *params[] = {worker->config.group_id, worker->config.topic, partition_text};
    PGresult *result = NULL;
    int64_t stored_offset = -1, stored_epoch = -1;
    ss_err_t err =
        ss_pg_query(worker->pg, "ss_worker_state", NULL, 3, params, &result, errstr, errstr_size);
    if (err == SS_OK && PQntuples(result) == 1) {
        err = ss_pg_get_int64(result, 0, 0, &stored_offset, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_get_int64(result, 0, 1, &stored_epoch, errstr, errstr_size);
        }
    }
    PQclear(result);
    if (err != SS_OK) {
        return ss_err_is_retriable(err) ? SS_BATCH_RETRY : SS_BATCH_FAILED;
    }
    const ss_partition_t *state = &worker->partitions[partition];
    if (ss_partition_fence_verdict(state, stored_epoch, stored_offset, next_offset) ==
        SS_FENCE_ALREADY_APPLIED) {
        return SS_BATCH_ALREADY_APPLIED;
    }
    ss_err_set(SS_OK, errstr, errstr_size,
               "partition %" PRId32 " is fenced: stored epoch %" PRId64 " offset %" PRId64
               ", ours epoch %" PRId64,
               partition, stored_epoch, stored_offset, state->epoch);
    return SS_BATCH_FENCED;
}

/*
 * The batch's first statement: moves every group's offset under our epoch, holding each
 * partition row's lock for the transaction. *moved is false unless every group matched.
 */
static ss_err_t fence_and_advance(ss_worker_t *worker, const ss_worker_batch_t *batch, bool *moved,
                                  char *errstr, size_t errstr_size)
{
    ss_pg_array_t columns[4];
    for (size_t c = 0; c < 4; c++) {
        ss_pg_array_init(&columns[c]);
    }
    ss_err_t err = SS_OK;
    for (size_t g = 0; g < batch->group_count && err == SS_OK; g++) {
        const ss_worker_group_t *group = &batch->groups[g];
        const ss_partition_t *state = &worker->partitions[group->partition];
        const int64_t values[] = {group->partition, state->epoch, state->next_offset,
                                  group->next_offset};
        for (size_t c = 0; c < 4 && err == SS_OK; c++) {
            err = ss_pg_array_append_int64(&columns[c], values[c], errstr, errstr_size);
        }
    }
    PGresult *result = NULL;
    if (err == SS_OK) {
        const char *params[] = {worker->config.group_id,       worker->config.topic,
                                ss_pg_array_text(&columns[0]), ss_pg_array_text(&columns[1]),
                                ss_pg_array_text(&columns[2]), ss_pg_array_text(&columns[3])};
        err = ss_pg_query(worker->pg, "ss_worker_fence", NULL, 6, params, &result, errstr,
                          errstr_size);
    }
    if (err == SS_OK) {
        *moved = strtoull(PQcmdTuples(result), NULL, 10) == batch->group_count;
    }
    PQclear(result);
    for (size_t c = 0; c < 4; c++) {
        ss_pg_array_free(&columns[c]);
    }
    return err;
}

/* Every command must have exactly one answer once the handler is done. */
static ss_err_t replies_check(const ss_worker_batch_t *batch, const ss_worker_record_t *records,
                              char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < batch->record_count; i++) {
        if (records[i].request_id != NULL && batch->reply_status[i] == 0) {
            return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                              "the handler did not answer request_id=%s schema=%s",
                              records[i].request_id, records[i].schema_name);
        }
    }
    return SS_OK;
}

/*
 * The headers of a dead letter: the record's request id and traceparent (a replay sends them
 * again), why and where from; a record too large to copy is stored as a reference (its size
 * instead of its bytes: the source offset still finds it while retained).
 */
static char *dead_letter_headers(const ss_kafka_message_t *message, const ss_trace_t *trace,
                                 const char *reason, bool parked)
{
    char source[320], bytes[24];
    snprintf(source, sizeof(source), "%s/%" PRId32 "/%" PRId64, message->topic, message->partition,
             message->offset);
    json_t *headers =
        json_pack("{s:s, s:s}", SS_HEADER_DLQ_REASON, reason, SS_HEADER_DLQ_SOURCE, source);
    if (headers != NULL && parked) {
        snprintf(bytes, sizeof(bytes), "%zu", message->value_length);
        json_object_set_new(headers, SS_HEADER_DLQ_PARKED_BYTES, json_string(bytes));
    }
    if (headers != NULL && trace->request_id[0] != '\0') {
        json_object_set_new(headers, SS_HEADER_REQUEST_ID, json_string(trace->request_id));
    }
    if (headers != NULL && trace->traceparent[0] != '\0') {
        json_object_set_new(headers, SS_HEADER_TRACEPARENT, json_string(trace->traceparent));
    }
    char *text = headers != NULL ? json_dumps(headers, JSON_COMPACT) : NULL;
    json_decref(headers);
    return text;
}

static ss_err_t dead_letter_add(ss_worker_batch_t *batch, const ss_worker_record_t *record,
                                const ss_worker_slot_t *slot, char *errstr, size_t errstr_size)
{
    const ss_kafka_message_t *message = slot->message;
    bool parked = message->value_length > (size_t)batch->worker->config.dlq_copy_bytes_max;
    char *headers = dead_letter_headers(message, &record->trace, slot->reason, parked);
    if (headers == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build dead-letter headers");
    }
    ss_err_t err =
        ss_worker_outbox_add(batch, record->partition, SS_TOPIC_DLQ, SS_KAFKA_PARTITION_BY_KEY,
                             record->key, parked ? NULL : message->value,
                             parked ? 0 : message->value_length, headers, errstr, errstr_size);
    free(headers);
    return err;
}

/*
 * Sends each dead record to the dead-letter topic with the reason; a dead command is also
 * answered, so its client learns the outcome instead of waiting.
 */
static ss_err_t dead_letters_add(ss_worker_batch_t *batch, ss_worker_record_t *records,
                                 const ss_worker_slot_t *slots, size_t count, char *errstr,
                                 size_t errstr_size)
{
    for (size_t i = 0; i < count; i++) {
        if (!slots[i].dead) {
            continue;
        }
        ss_err_t err = dead_letter_add(batch, &records[i], &slots[i], errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
        records[i].handled = true;
        if (records[i].request_id != NULL) {
            err = ss_worker_batch_reply(batch, i, SS_DLQ_ANSWER_STATUS, SS_DLQ_ANSWER_BODY, errstr,
                                        errstr_size);
            if (err != SS_OK) {
                return err;
            }
        }
    }
    return SS_OK;
}

static ss_err_t batch_body(ss_worker_t *worker, ss_worker_batch_t *batch,
                           ss_worker_record_t *records, const ss_worker_slot_t *slots, size_t count,
                           char *errstr, size_t errstr_size)
{
    ss_err_t err = dead_letters_add(batch, records, slots, count, errstr, errstr_size);
    if (err == SS_OK) {
        err = idempotency_resolve(batch, records, count, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = worker->handler.apply_batch(worker->handler.opaque, batch, records, count, errstr,
                                          errstr_size);
        batch_record_leave(batch);
    }
    if (err == SS_OK) {
        err = duplicates_answer(batch, records, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = replies_check(batch, records, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = keys_insert(batch, records, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_worker_results_insert(batch, records, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_worker_outbox_store(batch, errstr, errstr_size);
    }
    return err;
}

static ss_batch_outcome_t outcome_of(ss_err_t err)
{
    if (err == SS_ERR_INVALID) {
        return SS_BATCH_POISON;
    }
    return ss_err_is_retriable(err) || err == SS_ERR_CONFLICT ? SS_BATCH_RETRY : SS_BATCH_FAILED;
}

static void batch_start(ss_worker_batch_t *batch, const ss_worker_group_t *groups,
                        size_t group_count, size_t count)
{
    SS_ASSERT(group_count >= 1 && group_count <= SS_WORKER_PARTITIONS_MAX);
    batch_clear(batch);
    memcpy(batch->groups, groups, group_count * sizeof(*groups));
    batch->group_count = group_count;
    batch->current_source = groups[0].partition;
    batch->record_count = count;
    for (size_t i = 0; i < count; i++) {
        batch->duplicate_of[i] = SIZE_MAX;
    }
}

/* Commits, or rolls back after any failure (err, or the commit's own). */
static ss_err_t batch_finish(ss_worker_t *worker, ss_err_t err, char *errstr, size_t errstr_size)
{
    if (err == SS_OK) {
        err = ss_pg_commit(worker->pg, errstr, errstr_size);
        if (err == SS_OK) {
            return SS_OK;
        }
    }
    char ignored[64];
    ss_pg_rollback(worker->pg, ignored, sizeof(ignored));
    return err;
}

ss_batch_outcome_t ss_worker_batch_run(ss_worker_t *worker, const ss_worker_group_t *groups,
                                       size_t group_count, ss_worker_record_t *records,
                                       ss_worker_slot_t *slots, size_t count, char *errstr,
                                       size_t errstr_size)
{
    ss_worker_batch_t *batch = &worker->batch;
    batch_start(batch, groups, group_count, count);
    bool moved = true;
    ss_err_t err = ss_pg_begin(worker->pg, errstr, errstr_size);
    if (err == SS_OK) {
        err = fence_and_advance(worker, batch, &moved, errstr, errstr_size);
    }
    if (err == SS_OK && !moved) {
        ss_pg_rollback(worker->pg, NULL, 0);
        if (group_count > 1) {
            ss_err_set(SS_OK, errstr, errstr_size,
                       "a partition of the round's batch is fenced or already applied");
            return SS_BATCH_FENCED;
        }
        return fence_explain(worker, groups[0].partition, groups[0].next_offset, errstr,
                             errstr_size);
    }
    if (err == SS_OK) {
        err = batch_body(worker, batch, records, slots, count, errstr, errstr_size);
    }
    err = batch_finish(worker, err, errstr, errstr_size);
    return err == SS_OK ? SS_BATCH_COMMITTED : outcome_of(err);
}

/* The tick's body: the handler, then its answers and rows, as in batch_body. */
static ss_err_t tick_body(ss_worker_t *worker, ss_worker_batch_t *batch, char *errstr,
                          size_t errstr_size)
{
    ss_err_t err = worker->handler.tick(worker->handler.opaque, batch, errstr, errstr_size);
    batch_record_leave(batch);
    if (err == SS_OK) {
        err = ss_worker_results_insert(batch, NULL, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_worker_outbox_store(batch, errstr, errstr_size);
    }
    return err;
}

ss_batch_outcome_t ss_worker_batch_tick(ss_worker_t *worker, int32_t partition, char *errstr,
                                        size_t errstr_size)
{
    ss_worker_batch_t *batch = &worker->batch;
    /* The fence with the offset unchanged: our epoch, and the row locked for the tick. */
    const ss_worker_group_t group = {.partition = partition,
                                     .next_offset = worker->partitions[partition].next_offset};
    batch_start(batch, &group, 1, 0);
    bool moved = true;
    ss_err_t err = ss_pg_begin(worker->pg, errstr, errstr_size);
    if (err == SS_OK) {
        err = fence_and_advance(worker, batch, &moved, errstr, errstr_size);
    }
    if (err == SS_OK && !moved) {
        ss_pg_rollback(worker->pg, NULL, 0);
        ss_err_set(SS_OK, errstr, errstr_size,
                   "partition %" PRId32 " is fenced: its row no longer holds our epoch %" PRId64,
                   partition, worker->partitions[partition].epoch);
        return SS_BATCH_FENCED;
    }
    if (err == SS_OK) {
        err = tick_body(worker, batch, errstr, errstr_size);
    }
    err = batch_finish(worker, err, errstr, errstr_size);
    if (err == SS_OK) {
        return SS_BATCH_COMMITTED;
    }
    return err == SS_ERR_FATAL ? SS_BATCH_FAILED : SS_BATCH_RETRY;
}

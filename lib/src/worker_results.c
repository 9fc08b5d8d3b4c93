/*
 * The outcomes one batch decided: a request_results row each (what GET /requests/{id} and a
 * retried Idempotency-Key read back), and for the commands whose ingress waits (reply_partition
 * >= 0) the answers on ss.results as CommandResults records: one per source partition and
 * reply partition, holding every outcome of the batch for that pair in the order decided (a new
 * record past SS_RESULTS_RECORD_BYTES_MAX), each outcome with its command's trace. One record
 * per pair instead of one per command is what makes an answer cheap for the broker, the outbox
 * and the ingress. The state here is the batch's own and lives only inside
 * ss_worker_results_insert().
 */
#include "worker_internal.h"

#include "ss/clock.h"
#include "ss/topics.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Bytes an outcome takes besides its text fields (lengths, status, time), rounded up. */
#define SS_RESULTS_OUTCOME_OVERHEAD 32

/* The answers of one source partition for one ingress partition, not yet encoded. */
typedef struct result_group {
    int32_t source;
    int32_t reply_partition;
    json_t *results; /* CommandOutcome values */
    size_t bytes;    /* of their text fields: about the encoded size */
} result_group_t;

typedef struct result_set {
    ss_pg_array_t ids, statuses, bodies; /* the request_results rows */
    int64_t completed_at_ms;             /* when the batch decided them: one clock read */
    result_group_t *groups;
    size_t group_count;
    size_t group_capacity;
} result_set_t;

/* Encodes group's answers as one CommandResults record into the outbox, and empties it. */
static ss_err_t group_flush(ss_worker_batch_t *batch, result_group_t *group, char *errstr,
                            size_t errstr_size)
{
    if (json_array_size(group->results) == 0) {
        return SS_OK;
    }
    json_t *record = json_pack("{s:O}", "results", group->results);
    if (record == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build command results");
    }
    ss_worker_t *worker = batch->worker;
    ss_err_t err = ss_avro_encode(worker->registry, SS_SCHEMA_COMMAND_RESULTS, record,
                                  &worker->buffer, errstr, errstr_size);
    json_decref(record);
    if (err != SS_OK) {
        return err == SS_ERR_NOMEM ? err : SS_ERR_FATAL;
    }
    json_array_clear(group->results);
    group->bytes = 0;
    return ss_worker_outbox_add(batch, group->source, SS_TOPIC_RESULTS, group->reply_partition,
                                NULL, worker->buffer.data, worker->buffer.length, NULL, errstr,
                                errstr_size);
}

/* The group of (source, reply_partition), made empty when the set has none yet; NULL: no memory. */
static result_group_t *group_of(result_set_t *set, int32_t source, int32_t reply_partition)
{
    for (size_t g = 0; g < set->group_count; g++) {
        result_group_t *group = &set->groups[g];
        if (group->source == source && group->reply_partition == reply_partition) {
            return group;
        }
    }
    if (set->group_count == set->group_capacity) {
        size_t capacity = set->group_capacity * 2 + 4;
        result_group_t *grown = realloc(set->groups, capacity * sizeof(*grown));
        if (grown == NULL) {
            return NULL;
        }
        set->groups = grown;
        set->group_capacity = capacity;
    }
    json_t *results = json_array();
    if (results == NULL) {
        return NULL;
    }
    result_group_t *group = &set->groups[set->group_count++];
    *group =
        (result_group_t){.source = source, .reply_partition = reply_partition, .results = results};
    return group;
}

/* One answer for the ingress of reply_partition, in its group's record. */
static ss_err_t result_queue(ss_worker_batch_t *batch, result_set_t *set, int32_t source,
                             const char *request_id, int32_t reply_partition, int http_status,
                             const char *body, const ss_trace_t *trace, char *errstr,
                             size_t errstr_size)
{
    result_group_t *group = group_of(set, source, reply_partition);
    json_t *result =
        json_pack("{s:s, s:i, s:s, s:I, s:s, s:s}", "request_id", request_id, "http_status",
                  http_status, "body", body, "completed_at", (json_int_t)set->completed_at_ms,
                  "trace_request_id", trace->request_id, "traceparent", trace->traceparent);
    if (group == NULL || result == NULL) {
        json_decref(result);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not queue a command result");
    }
    if (json_array_append_new(group->results, result) != 0) { /* it released result */
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not queue a command result");
    }
    group->bytes += strlen(request_id) + strlen(body) + strlen(trace->request_id) +
                    strlen(trace->traceparent) + SS_RESULTS_OUTCOME_OVERHEAD;
    return group->bytes >= SS_RESULTS_RECORD_BYTES_MAX
               ? group_flush(batch, group, errstr, errstr_size)
               : SS_OK;
}

/* Adds one outcome to the request_results rows and, when an ingress waits, to its answers. */
static ss_err_t result_add(ss_worker_batch_t *batch, result_set_t *set, int32_t source,
                           const char *request_id, json_int_t reply_partition, int http_status,
                           const char *body, const ss_trace_t *trace, char *errstr,
                           size_t errstr_size)
{
    ss_err_t err = ss_pg_array_append_text(&set->ids, request_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&set->statuses, http_status, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_text(&set->bodies, body, errstr, errstr_size);
    }
    if (err == SS_OK && reply_partition >= 0 && reply_partition <= INT32_MAX) {
        err = result_queue(batch, set, source, request_id, (int32_t)reply_partition, http_status,
                           body, trace, errstr, errstr_size);
    }
    return err;
}

static json_int_t record_reply_partition(const ss_worker_record_t *record)
{
    json_t *value = json_object_get(record->value, "reply_partition");
    return json_is_integer(value) ? json_integer_value(value) : -1;
}

/* The batch's answers: its records' replies, then the late answers (all a tick has). */
static ss_err_t results_collect(ss_worker_batch_t *batch, const ss_worker_record_t *records,
                                result_set_t *set, char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    for (size_t i = 0; records != NULL && i < batch->record_count && err == SS_OK; i++) {
        if (records[i].request_id != NULL && batch->reply_status[i] > 0) {
            err = result_add(batch, set, records[i].partition, records[i].request_id,
                             record_reply_partition(&records[i]), batch->reply_status[i],
                             batch->reply_body[i], &records[i].trace, errstr, errstr_size);
        }
    }
    for (size_t i = 0; i < batch->late_count && err == SS_OK; i++) {
        const ss_worker_late_answer_t *late = &batch->late[i];
        err = result_add(batch, set, late->source, late->request_id, late->reply_partition,
                         late->http_status, late->body, &late->trace, errstr, errstr_size);
    }
    for (size_t g = 0; g < set->group_count && err == SS_OK; g++) {
        err = group_flush(batch, &set->groups[g], errstr, errstr_size);
    }
    return err;
}

ss_err_t ss_worker_results_insert(ss_worker_batch_t *batch, const ss_worker_record_t *records,
                                  char *errstr, size_t errstr_size)
{
    result_set_t set = {.completed_at_ms = ss_clock_now_ms()};
    ss_pg_array_init(&set.ids);
    ss_pg_array_init(&set.statuses);
    ss_pg_array_init(&set.bodies);
    ss_err_t err = results_collect(batch, records, &set, errstr, errstr_size);
    if (err == SS_OK && ss_pg_array_count(&set.ids) > 0) {
        const char *params[] = {ss_pg_array_text(&set.ids), ss_pg_array_text(&set.statuses),
                                ss_pg_array_text(&set.bodies)};
        err = ss_pg_query(batch->worker->pg, "ss_worker_results_insert", NULL, 3, params, NULL,
                          errstr, errstr_size);
    }
    for (size_t g = 0; g < set.group_count; g++) {
        json_decref(set.groups[g].results);
    }
    free(set.groups);
    ss_pg_array_free(&set.ids);
    ss_pg_array_free(&set.statuses);
    ss_pg_array_free(&set.bodies);
    return err;
}

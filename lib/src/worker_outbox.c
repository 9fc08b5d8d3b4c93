/*
 * The outbox: what a batch emits is stored in the batch's transaction, produced after commit by
 * the idempotent producer, and deleted only once the broker acknowledged it. This file is the
 * only one that touches outbox rows or the watermarks (ss/worker_state.h says how they move).
 *
 * A poll round queues its batches' rows (or, while a re-send is owed, reads them back from
 * PostgreSQL in id order) and registers each in the round's flight table; at the round's end
 * every report is awaited. A row the producer can never take as it is (too large, or bound
 * for a partition its topic does not have) is parked:
 * a small reference goes to the dead-letter topic in its place. The acknowledged prefix of each
 * source is deleted by its next batch, or here when the source stays idle. A record may reach
 * Kafka twice, never zero times: consumers dedupe by event id.
 */
#include "worker_internal.h"
#include "worker_sql.h"

#include "ss/assert.h"
#include "ss/clock.h"
#include "ss/log.h"
#include "ss/pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Attempts at queueing one record while the producer's local queue is full. */
#define SS_WORKER_SEND_ATTEMPTS_MAX 1000
#define SS_WORKER_SEND_RETRY_POLL_MS 10
/* A source idle this long gets its acknowledged rows deleted outside any batch. */
#define SS_WORKER_IDLE_DELETE_MS 1000
/* Parking passes per round: park, await the references, (a reference may be rejected too). */
#define SS_WORKER_PARK_PASSES_MAX 2

void ss_worker_source_name(const ss_worker_t *worker, int32_t partition, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s%" PRId32, worker->source_prefix, partition);
}

/* ---- the batch's rows ------------------------------------------------------------------- */

static char *copy_text(const char *text)
{
    return text == NULL ? NULL : strdup(text);
}

static ss_err_t outbox_grow(ss_worker_batch_t *batch, char *errstr, size_t errstr_size)
{
    size_t old = batch->outbox_capacity, capacity = old * 2;
    ss_worker_outbox_entry_t *grown = realloc(batch->outbox, capacity * sizeof(*grown));
    if (grown != NULL) {
        memset(grown + old, 0, (capacity - old) * sizeof(*grown));
        batch->outbox = grown;
    }
    ss_worker_outbox_row_t *rows = realloc(batch->outbox_rows, capacity * sizeof(*rows));
    if (rows != NULL) {
        batch->outbox_rows = rows;
    }
    size_t *order = realloc(batch->outbox_order, capacity * sizeof(*order));
    if (order != NULL) {
        batch->outbox_order = order;
    }
    if (grown == NULL || rows == NULL || order == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not grow the outbox");
    }
    batch->outbox_capacity = capacity;
    return SS_OK;
}

static bool batch_has_source(const ss_worker_batch_t *batch, int32_t source)
{
    for (size_t g = 0; g < batch->group_count; g++) {
        if (batch->groups[g].partition == source) {
            return true;
        }
    }
    return false;
}

ss_err_t ss_worker_outbox_add(ss_worker_batch_t *batch, int32_t source, const char *topic,
                              int32_t partition, const char *key, const void *value,
                              size_t value_length, const char *headers_json, char *errstr,
                              size_t errstr_size)
{
    /* Rows under a partition the batch does not move would escape its watermarks. */
    SS_ASSERT(batch_has_source(batch, source));
    if (batch->outbox_count == batch->outbox_capacity &&
        outbox_grow(batch, errstr, errstr_size) != SS_OK) {
        return SS_ERR_NOMEM;
    }
    ss_worker_outbox_entry_t *entry = &batch->outbox[batch->outbox_count];
    *entry = (ss_worker_outbox_entry_t){
        .source = source, .partition = partition, .value_length = value_length};
    entry->topic = copy_text(topic);
    entry->key = copy_text(key != NULL ? key : "");
    entry->value = malloc(value_length > 0 ? value_length : 1);
    entry->headers_json = copy_text(headers_json);
    if (entry->topic == NULL || entry->key == NULL || entry->value == NULL ||
        (headers_json != NULL && entry->headers_json == NULL)) {
        free(entry->topic);
        free(entry->key);
        free(entry->value);
        free(entry->headers_json);
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not copy an outbox record");
    }
    if (value_length > 0) {
        memcpy(entry->value, value, value_length);
    }
    batch->outbox_count++;
    return SS_OK;
}

static bool row_matches(const ss_worker_outbox_row_t *row, const ss_worker_outbox_entry_t *entry)
{
    return row->source == entry->source && row->partition == entry->partition &&
           strcmp(row->topic, entry->topic) == 0;
}

/* The row of the entry's source and destination (hint first), made for its first entry. */
static size_t row_of(ss_worker_batch_t *batch, const ss_worker_outbox_entry_t *entry, size_t hint)
{
    if (hint < batch->outbox_row_count && row_matches(&batch->outbox_rows[hint], entry)) {
        return hint;
    }
    for (size_t r = 0; r < batch->outbox_row_count; r++) {
        if (row_matches(&batch->outbox_rows[r], entry)) {
            return r;
        }
    }
    size_t r = batch->outbox_row_count++;
    batch->outbox_rows[r] = (ss_worker_outbox_row_t){
        .source = entry->source, .topic = entry->topic, .partition = entry->partition};
    return r;
}

/* Groups the entries into rows (entry->row, entry->record) and lists them row after row. */
static void rows_build(ss_worker_batch_t *batch)
{
    batch->outbox_row_count = 0;
    size_t hint = 0;
    for (size_t i = 0; i < batch->outbox_count; i++) {
        ss_worker_outbox_entry_t *entry = &batch->outbox[i];
        hint = row_of(batch, entry, hint);
        entry->row = hint;
        entry->record = batch->outbox_rows[hint].count++;
    }
    size_t first = 0;
    for (size_t r = 0; r < batch->outbox_row_count; r++) {
        batch->outbox_rows[r].first = first;
        first += batch->outbox_rows[r].count;
    }
    for (size_t i = 0; i < batch->outbox_count; i++) {
        const ss_worker_outbox_entry_t *entry = &batch->outbox[i];
        batch->outbox_order[batch->outbox_rows[entry->row].first + entry->record] = i;
    }
}

/*
 * The insert's parameters (SS_WORKER_SQL_OUTBOX_INSERT): per row its source, topic, partition
 * and the slice of the records it holds; per record, row after row, its key, value and headers.
 */
enum {
    OUTBOX_ROW_COLUMNS = 5,
    OUTBOX_RECORD_COLUMNS = 3,
    OUTBOX_INSERT_COLUMNS = OUTBOX_ROW_COLUMNS + OUTBOX_RECORD_COLUMNS
};

static ss_err_t outbox_append_row(ss_worker_t *worker, ss_pg_array_t *columns,
                                  const ss_worker_outbox_row_t *row, char *errstr,
                                  size_t errstr_size)
{
    SS_ASSERT(row->count > 0);
    char source[SS_WORKER_SOURCE_SIZE];
    ss_worker_source_name(worker, row->source, source, sizeof(source));
    ss_err_t err = ss_pg_array_append_text(&columns[0], source, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_array_append_text(&columns[1], row->topic, errstr, errstr_size);
    }
    /* The slice's bounds are 1-based and inclusive, as PostgreSQL's are. */
    const int64_t numbers[] = {row->partition, (int64_t)row->first + 1,
                               (int64_t)(row->first + row->count)};
    for (size_t c = 0; c < 3 && err == SS_OK; c++) {
        err = ss_pg_array_append_int64(&columns[2 + c], numbers[c], errstr, errstr_size);
    }
    return err;
}

static ss_err_t outbox_append_record(ss_pg_array_t *columns, const ss_worker_outbox_entry_t *entry,
                                     char *errstr, size_t errstr_size)
{
    ss_err_t err =
        ss_pg_array_append_bytea(&columns[0], entry->key, strlen(entry->key), errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_array_append_bytea(&columns[1], entry->value, entry->value_length, errstr,
                                       errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_text(&columns[2], entry->headers_json, errstr, errstr_size);
    }
    return err;
}

/* Reads "{12,13,14}" into the rows' ids, in order, and each group's last id. */
static ss_err_t row_ids_assign(ss_worker_batch_t *batch, const char *text, char *errstr,
                               size_t errstr_size)
{
    const char *cursor = text != NULL && text[0] == '{' ? text + 1 : NULL;
    for (size_t r = 0; cursor != NULL && r < batch->outbox_row_count; r++) {
        char *end = NULL;
        long long id = strtoll(cursor, &end, 10);
        if (end == cursor || id <= 0 || (r > 0 && id <= batch->outbox_rows[r - 1].id)) {
            cursor = NULL;
            break;
        }
        batch->outbox_rows[r].id = id;
        bool last = r + 1 == batch->outbox_row_count;
        cursor = *end == ',' ? end + 1 : (*end == '}' && last ? end : NULL);
    }
    if (cursor == NULL) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "outbox insert returned ids that do not match its %zu rows",
                          batch->outbox_row_count);
    }
    for (size_t i = 0; i < batch->outbox_count; i++) {
        batch->outbox[i].row_id = batch->outbox_rows[batch->outbox[i].row].id;
    }
    for (size_t g = 0; g < batch->group_count; g++) {
        for (size_t r = 0; r < batch->outbox_row_count; r++) {
            if (batch->outbox_rows[r].source == batch->groups[g].partition) {
                batch->groups[g].outbox_max_id = batch->outbox_rows[r].id;
            }
        }
    }
    return SS_OK;
}

static ss_err_t outbox_insert(ss_worker_batch_t *batch, char *errstr, size_t errstr_size)
{
    ss_pg_array_t columns[OUTBOX_INSERT_COLUMNS];
    for (size_t c = 0; c < OUTBOX_INSERT_COLUMNS; c++) {
        ss_pg_array_init(&columns[c]);
    }
    rows_build(batch);
    ss_err_t err = SS_OK;
    for (size_t r = 0; r < batch->outbox_row_count && err == SS_OK; r++) {
        err =
            outbox_append_row(batch->worker, columns, &batch->outbox_rows[r], errstr, errstr_size);
    }
    for (size_t i = 0; i < batch->outbox_count && err == SS_OK; i++) {
        err = outbox_append_record(&columns[OUTBOX_ROW_COLUMNS],
                                   &batch->outbox[batch->outbox_order[i]], errstr, errstr_size);
    }
    PGresult *result = NULL;
    if (err == SS_OK) {
        const char *params[OUTBOX_INSERT_COLUMNS];
        for (size_t c = 0; c < OUTBOX_INSERT_COLUMNS; c++) {
            params[c] = ss_pg_array_text(&columns[c]);
        }
        err = ss_pg_query(batch->worker->pg, "ss_worker_outbox_insert", NULL, OUTBOX_INSERT_COLUMNS,
                          params, &result, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = row_ids_assign(batch, PQgetvalue(result, 0, 0), errstr, errstr_size);
    }
    PQclear(result);
    for (size_t c = 0; c < OUTBOX_INSERT_COLUMNS; c++) {
        ss_pg_array_free(&columns[c]);
    }
    return err;
}

/* Acknowledged rows to delete: per source, the ids in (after, up_to]. */
typedef struct delete_ranges {
    ss_pg_array_t sources, after, up_to;
} delete_ranges_t;

static void delete_ranges_init(delete_ranges_t *ranges)
{
    ss_pg_array_init(&ranges->sources);
    ss_pg_array_init(&ranges->after);
    ss_pg_array_init(&ranges->up_to);
}

static void delete_ranges_free(delete_ranges_t *ranges)
{
    ss_pg_array_free(&ranges->sources);
    ss_pg_array_free(&ranges->after);
    ss_pg_array_free(&ranges->up_to);
}

/* Adds the partition's acknowledged range, if any; *up_to_id is its end (0: nothing to add). */
static ss_err_t delete_range_add(ss_worker_t *worker, delete_ranges_t *ranges, int32_t partition,
                                 int64_t *up_to_id, char *errstr, size_t errstr_size)
{
    int64_t after_id;
    *up_to_id = 0;
    if (!ss_partition_delete_range(&worker->partitions[partition], &after_id, up_to_id)) {
        return SS_OK;
    }
    char source[SS_WORKER_SOURCE_SIZE];
    ss_worker_source_name(worker, partition, source, sizeof(source));
    ss_err_t err = ss_pg_array_append_text(&ranges->sources, source, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&ranges->after, after_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&ranges->up_to, *up_to_id, errstr, errstr_size);
    }
    return err;
}

/* One DELETE for every range added (none: no statement). */
static ss_err_t delete_ranges_run(ss_worker_t *worker, delete_ranges_t *ranges, char *errstr,
                                  size_t errstr_size)
{
    if (ss_pg_array_count(&ranges->sources) == 0) {
        return SS_OK;
    }
    const char *params[] = {ss_pg_array_text(&ranges->sources), ss_pg_array_text(&ranges->after),
                            ss_pg_array_text(&ranges->up_to)};
    return ss_pg_query(worker->pg, "ss_worker_outbox_delete", NULL, 3, params, NULL, errstr,
                       errstr_size);
}

ss_err_t ss_worker_outbox_store(ss_worker_batch_t *batch, char *errstr, size_t errstr_size)
{
    ss_worker_t *worker = batch->worker;
    delete_ranges_t ranges;
    delete_ranges_init(&ranges);
    ss_err_t err = SS_OK;
    for (size_t g = 0; g < batch->group_count && err == SS_OK; g++) {
        ss_worker_group_t *group = &batch->groups[g];
        err = delete_range_add(worker, &ranges, group->partition, &group->outbox_deleting_id,
                               errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = delete_ranges_run(worker, &ranges, errstr, errstr_size);
    }
    delete_ranges_free(&ranges);
    if (err == SS_OK && batch->outbox_count > 0) {
        err = outbox_insert(batch, errstr, errstr_size);
    }
    return err;
}

/* ---- producing -------------------------------------------------------------------------- */

/*
 * A delivery opaque: the round's generation and the flight index. A report that arrives after
 * its round gave up waiting belongs to an older generation and is ignored (the row was already
 * counted as not delivered, and goes again).
 */
static void *flight_opaque(const ss_worker_t *worker, size_t index)
{
    return (void *)(((uintptr_t)worker->flight_generation << 32) | (uintptr_t)(index + 1));
}

static bool flight_index(const ss_worker_t *worker, void *opaque, size_t *index)
{
    uintptr_t value = (uintptr_t)opaque;
    uintptr_t low = value & 0xffffffffu;
    if ((uint32_t)(value >> 32) != worker->flight_generation || low == 0 ||
        low > worker->flight.count) {
        return false;
    }
    *index = (size_t)(low - 1);
    return true;
}

/* Turns a JSON object of strings into Kafka headers that borrow from it. */
static size_t headers_from_json(json_t *object, ss_kafka_header_t *headers, size_t headers_max)
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

static ss_err_t send_queued(ss_worker_t *worker, const char *topic, int32_t partition,
                            const void *key, size_t key_length, const void *value,
                            size_t value_length, json_t *headers_object, void *opaque, char *errstr,
                            size_t errstr_size)
{
    ss_kafka_header_t headers[SS_KAFKA_HEADERS_MAX];
    size_t header_count = headers_from_json(headers_object, headers, SS_KAFKA_HEADERS_MAX);
    ss_err_t err = SS_ERR_RETRIABLE;
    for (int attempt = 0; attempt < SS_WORKER_SEND_ATTEMPTS_MAX && err == SS_ERR_RETRIABLE;
         attempt++) {
        err = ss_kafka_producer_send(worker->producer, topic, partition, key, key_length, value,
                                     value_length, headers, header_count, opaque, errstr,
                                     errstr_size);
        if (err == SS_ERR_RETRIABLE) {
            ss_kafka_producer_poll(worker->producer, SS_WORKER_SEND_RETRY_POLL_MS);
        }
    }
    return err;
}

/* The flight says which rows to park; the reason goes in their references' headers. */
static void rejection_note(ss_worker_t *worker, size_t index, const char *reason)
{
    ss_outbox_flight_report(&worker->flight, index, SS_DELIVERY_REJECTED);
    if (worker->rejection_reason[0] == '\0') {
        snprintf(worker->rejection_reason, sizeof(worker->rejection_reason), "%s", reason);
    }
}

static void producer_fatal_note(ss_worker_t *worker, const char *reason)
{
    if (!worker->producer_fatal) {
        worker->producer_fatal = true;
        snprintf(worker->producer_fatal_error, sizeof(worker->producer_fatal_error), "%s", reason);
    }
}

/* A record to produce, wherever it comes from (a batch in memory or PostgreSQL). */
typedef struct outbox_record {
    int64_t row_id;
    uint32_t index; /* its place in the row */
    const char *topic;
    int32_t partition;
    const void *key;
    size_t key_length;
    const void *value;
    size_t value_length;
    json_t *headers; /* borrowed; NULL for none */
} outbox_record_t;

/*
 * A row of record_count records is about to be produced: only when all of them fit in the
 * flight (a row counts as delivered when every record is). SS_ERR_RETRIABLE: not now.
 */
static ss_err_t row_begin(ss_worker_t *worker, int32_t source, int64_t row_id, size_t record_count)
{
    if (ss_outbox_flight_room(&worker->flight) < record_count) {
        return SS_ERR_RETRIABLE;
    }
    ss_partition_produced(&worker->partitions[source], row_id);
    return SS_OK;
}

/*
 * Registers the record in the flight and queues it. SS_ERR_RETRIABLE says stop producing this
 * source for the round (local queue stuck); what was not queued is re-sent later.
 */
static ss_err_t record_produce(ss_worker_t *worker, int32_t source, const outbox_record_t *record)
{
    size_t index = ss_outbox_flight_add(&worker->flight, source, record->row_id, record->index);
    SS_ASSERT(index != SIZE_MAX); /* row_begin made room for the whole row */
    char errstr[SS_WORKER_ERRSTR_SIZE];
    ss_err_t err =
        send_queued(worker, record->topic, record->partition, record->key, record->key_length,
                    record->value, record->value_length, record->headers,
                    flight_opaque(worker, index), errstr, sizeof(errstr));
    if (err == SS_OK) {
        return SS_OK;
    }
    if (err == SS_ERR_INVALID) {
        rejection_note(worker, index, errstr);
        return SS_OK;
    }
    if (err == SS_ERR_FATAL) {
        producer_fatal_note(worker, errstr);
    }
    ss_outbox_flight_report(&worker->flight, index, SS_DELIVERY_RETRY);
    return SS_ERR_RETRIABLE;
}

static ss_err_t entry_produce(ss_worker_t *worker, const ss_worker_outbox_entry_t *entry)
{
    json_t *headers = entry->headers_json != NULL ? json_loads(entry->headers_json, 0, NULL) : NULL;
    outbox_record_t record = {.row_id = entry->row_id,
                              .index = (uint32_t)entry->record,
                              .topic = entry->topic,
                              .partition = entry->partition,
                              .key = entry->key,
                              .key_length = strlen(entry->key),
                              .value = entry->value,
                              .value_length = entry->value_length,
                              .headers = headers};
    ss_err_t err = record_produce(worker, entry->source, &record);
    json_decref(headers);
    return err;
}

/* Produces one stored row of the batch from memory, record after record. */
static ss_err_t batch_row_produce(ss_worker_t *worker, const ss_worker_batch_t *batch,
                                  const ss_worker_outbox_row_t *row)
{
    ss_err_t err = row_begin(worker, row->source, row->id, row->count);
    for (size_t k = 0; k < row->count && err == SS_OK; k++) {
        err = entry_produce(worker, &batch->outbox[batch->outbox_order[row->first + k]]);
    }
    return err;
}

void ss_worker_outbox_committed(ss_worker_t *worker, const ss_worker_group_t *group)
{
    ss_worker_batch_t *batch = &worker->batch;
    int32_t partition = group->partition;
    ss_partition_t *state = &worker->partitions[partition];
    ss_partition_committed(state, group->next_offset, group->outbox_max_id,
                           group->outbox_deleting_id);
    worker->last_batch_ms[partition] = ss_clock_monotonic_ms();
    if (!ss_partition_publish_fresh(state)) {
        return; /* older rows go first: these are read back after them */
    }
    for (size_t r = 0; r < batch->outbox_row_count; r++) {
        const ss_worker_outbox_row_t *row = &batch->outbox_rows[r];
        if (row->source == partition && batch_row_produce(worker, batch, row) != SS_OK) {
            ss_partition_resend_owed(state, ss_clock_monotonic_ms());
            return;
        }
    }
}

void ss_worker_outbox_ticked(ss_worker_t *worker, int32_t partition, bool committed)
{
    ss_worker_batch_t *batch = &worker->batch;
    ss_partition_t *state = &worker->partitions[partition];
    if (state->phase != SS_PARTITION_OWNED) {
        return;
    }
    if (committed && batch->groups[0].outbox_deleting_id > 0) {
        ss_partition_deleted(state, batch->groups[0].outbox_deleting_id);
    }
    if (!committed || batch->outbox_count > 0) {
        ss_partition_resend_owed(state, ss_clock_monotonic_ms());
    }
}

/* ---- re-sending from PostgreSQL --------------------------------------------------------- */

/* Result columns of SS_WORKER_SQL_OUTBOX_PENDING, one result row per record. */
enum {
    PENDING_ID,
    PENDING_TOPIC,
    PENDING_PARTITION,
    PENDING_KEY,
    PENDING_VALUE,
    PENDING_HEADERS,
    PENDING_INDEX,
    PENDING_COUNT
};

static ss_err_t stored_record_produce(ss_worker_t *worker, int32_t source, PGresult *rows, int row)
{
    outbox_record_t out = {.topic = PQgetvalue(rows, row, PENDING_TOPIC)};
    char errstr[SS_WORKER_ERRSTR_SIZE];
    int32_t index = 0, count = 0;
    ss_err_t err = ss_pg_get_int64(rows, row, PENDING_ID, &out.row_id, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = ss_pg_get_int32(rows, row, PENDING_PARTITION, &out.partition, errstr, sizeof(errstr));
    }
    if (err == SS_OK) {
        err = ss_pg_get_int32(rows, row, PENDING_INDEX, &index, errstr, sizeof(errstr));
    }
    if (err == SS_OK) {
        err = ss_pg_get_int32(rows, row, PENDING_COUNT, &count, errstr, sizeof(errstr));
    }
    if (err == SS_OK && index == 0) {
        err = row_begin(worker, source, out.row_id, (size_t)count);
    }
    if (err != SS_OK) {
        return SS_ERR_RETRIABLE;
    }
    out.index = (uint32_t)index;
    unsigned char *key =
        ss_pg_is_null(rows, row, PENDING_KEY)
            ? NULL
            : PQunescapeBytea((const unsigned char *)PQgetvalue(rows, row, PENDING_KEY),
                              &out.key_length);
    unsigned char *value = PQunescapeBytea(
        (const unsigned char *)PQgetvalue(rows, row, PENDING_VALUE), &out.value_length);
    out.key = key != NULL ? (const void *)key : "";
    out.value = value;
    if (!ss_pg_is_null(rows, row, PENDING_HEADERS)) {
        out.headers = json_loads(PQgetvalue(rows, row, PENDING_HEADERS), 0, NULL);
    }
    err = value != NULL ? record_produce(worker, source, &out) : SS_ERR_RETRIABLE;
    json_decref(out.headers);
    PQfreemem(key);
    PQfreemem(value);
    return err;
}

/* Reads the next stored rows of a source after what was produced, in id order, and queues them. */
static void resend(ss_worker_t *worker, int32_t partition)
{
    ss_partition_t *state = &worker->partitions[partition];
    char source[SS_WORKER_SOURCE_SIZE], after_text[24], limit_text[16], errstr[512];
    ss_worker_source_name(worker, partition, source, sizeof(source));
    snprintf(after_text, sizeof(after_text), "%" PRId64, state->produced_id);
    snprintf(limit_text, sizeof(limit_text), "%d", SS_PARTITION_RESEND_ROWS_MAX);
    const char *params[] = {source, after_text, limit_text};
    PGresult *rows = NULL;
    if (ss_pg_query(worker->pg, "ss_worker_outbox_pending", NULL, 3, params, &rows, errstr,
                    sizeof(errstr)) != SS_OK) {
        SS_LOG_WARN(worker->handler.name, "outbox re-send postponed source=%s error=\"%s\"", source,
                    errstr);
        ss_partition_settled(state, state->acked_id, true, ss_clock_monotonic_ms());
        return;
    }
    int count = PQntuples(rows);
    int64_t rows_read = 0, last_id = 0;
    bool complete = true;
    for (int row = 0; row < count; row++) {
        if (stored_record_produce(worker, partition, rows, row) != SS_OK) {
            complete = false;
            break;
        }
        int64_t id = strtoll(PQgetvalue(rows, row, PENDING_ID), NULL, 10);
        rows_read += id != last_id;
        last_id = id;
    }
    PQclear(rows);
    ss_partition_resent(state, 0, complete && rows_read < SS_PARTITION_RESEND_ROWS_MAX);
    if (count > 0) {
        SS_LOG_INFO(worker->handler.name,
                    "outbox re-sent source=%s rows=%" PRId64 " records=%d up_to_id=%" PRId64,
                    source, rows_read, count, state->produced_id);
    }
}

/* Deletes the partition's acknowledged rows that are still stored, if any. */
static void acked_delete(ss_worker_t *worker, int32_t partition)
{
    delete_ranges_t ranges;
    delete_ranges_init(&ranges);
    int64_t up_to_id = 0;
    char errstr[SS_WORKER_ERRSTR_SIZE];
    ss_err_t err = delete_range_add(worker, &ranges, partition, &up_to_id, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = delete_ranges_run(worker, &ranges, errstr, sizeof(errstr));
    }
    delete_ranges_free(&ranges);
    if (err == SS_OK && up_to_id > 0) {
        ss_partition_deleted(&worker->partitions[partition], up_to_id);
    } else if (err != SS_OK) {
        char source[SS_WORKER_SOURCE_SIZE];
        ss_worker_source_name(worker, partition, source, sizeof(source));
        SS_LOG_WARN(worker->handler.name, "outbox delete postponed source=%s error=\"%s\"", source,
                    errstr);
    }
}

/* Deletes the acknowledged rows of a source that has had no batch for a while. */
static void idle_delete(ss_worker_t *worker, int32_t partition, int64_t now_ms)
{
    if (now_ms - worker->last_batch_ms[partition] >= SS_WORKER_IDLE_DELETE_MS) {
        acked_delete(worker, partition);
    }
}

void ss_worker_outbox_release(ss_worker_t *worker, int32_t partition)
{
    acked_delete(worker, partition);
}

void ss_worker_outbox_maintain(ss_worker_t *worker)
{
    int64_t now_ms = ss_clock_monotonic_ms();
    for (int32_t p = 0; p < SS_WORKER_PARTITIONS_MAX; p++) {
        if (ss_partition_resend_due(&worker->partitions[p], now_ms)) {
            resend(worker, p);
        } else if (worker->partitions[p].phase == SS_PARTITION_OWNED) {
            idle_delete(worker, p, now_ms);
        }
    }
}

/* The owned sources as a text[] literal; false when none is owned (or out of memory). */
static bool owned_sources(ss_worker_t *worker, ss_pg_array_t *sources)
{
    char source[SS_WORKER_SOURCE_SIZE], errstr[SS_WORKER_ERRSTR_SIZE];
    for (int32_t p = 0; p < SS_WORKER_PARTITIONS_MAX; p++) {
        if (worker->partitions[p].phase == SS_PARTITION_OWNED) {
            ss_worker_source_name(worker, p, source, sizeof(source));
            (void)ss_pg_array_append_text(sources, source, errstr, sizeof(errstr));
        }
    }
    return ss_pg_array_count(sources) > 0 && ss_pg_array_text(sources) != NULL;
}

void ss_worker_outbox_gauge(ss_worker_t *worker)
{
    ss_pg_array_t sources;
    ss_pg_array_init(&sources);
    double rows = 0, age_s = 0;
    if (owned_sources(worker, &sources)) {
        const char *params[] = {ss_pg_array_text(&sources)};
        PGresult *result = NULL;
        char errstr[SS_WORKER_ERRSTR_SIZE];
        int64_t count = 0;
        ss_err_t err = ss_pg_query(worker->pg, NULL, SS_WORKER_SQL_OUTBOX_GAUGE, 1, params, &result,
                                   errstr, sizeof(errstr));
        if (err == SS_OK) {
            err = ss_pg_get_int64(result, 0, 0, &count, errstr, sizeof(errstr));
        }
        if (err != SS_OK) {
            /* The figures stay as they were; the next batch notices a lost connection. */
            SS_LOG_DEBUG(worker->handler.name, "outbox gauges not read error=\"%s\"", errstr);
            PQclear(result);
            ss_pg_array_free(&sources);
            return;
        }
        rows = (double)count;
        age_s = strtod(PQgetvalue(result, 0, 1), NULL);
        PQclear(result);
    }
    ss_pg_array_free(&sources);
    ss_metrics_set(worker->metrics.outbox_rows, rows);
    ss_metrics_set(worker->metrics.outbox_age, age_s);
}

/* ---- the end of a round ----------------------------------------------------------------- */

/* The headers of a parked reference: the row's own, then where it was meant to go and why. */
static json_t *park_headers(ss_worker_t *worker, PGresult *row, size_t flight_index,
                            const char *reason)
{
    json_t *headers = ss_pg_is_null(row, 0, 4) ? NULL : json_loads(PQgetvalue(row, 0, 4), 0, NULL);
    if (!json_is_object(headers)) {
        json_decref(headers);
        headers = json_object();
    }
    const ss_outbox_flight_entry_t *entry = &worker->flight.entries[flight_index];
    char source[SS_WORKER_SOURCE_SIZE], row_text[SS_WORKER_SOURCE_SIZE + 32],
        why[SS_WORKER_ERRSTR_SIZE + 64];
    ss_worker_source_name(worker, entry->partition, source, sizeof(source));
    /* The row and the record's place in it, 1-based as in SQL: "<source>#<row id>:<place>". */
    snprintf(row_text, sizeof(row_text), "%s#%" PRId64 ":%" PRIu32, source, entry->row_id,
             entry->record + 1);
    if (json_object_get(headers, SS_HEADER_DLQ_REASON) == NULL) {
        snprintf(why, sizeof(why), "could not produce an outbox row: %s", reason);
        json_object_set_new(headers, SS_HEADER_DLQ_REASON, json_string(why));
    }
    json_object_set_new(headers, SS_HEADER_DLQ_OUTBOX_ROW, json_string(row_text));
    json_object_set_new(headers, SS_HEADER_DLQ_DESTINATION, json_string(PQgetvalue(row, 0, 0)));
    json_object_set_new(headers, SS_HEADER_DLQ_PARKED_BYTES, json_string(PQgetvalue(row, 0, 3)));
    return headers;
}

/* Sends a small reference to the dead-letter topic in place of a record that cannot be produced. */
static void park(ss_worker_t *worker, size_t flight_index)
{
    const ss_outbox_flight_entry_t *entry = &worker->flight.entries[flight_index];
    char id_text[24], place_text[16], errstr[SS_WORKER_ERRSTR_SIZE];
    snprintf(id_text, sizeof(id_text), "%" PRId64, entry->row_id);
    snprintf(place_text, sizeof(place_text), "%" PRIu32, entry->record + 1);
    const char *params[] = {id_text, place_text};
    PGresult *row = NULL;
    ss_err_t err = ss_pg_query(worker->pg, "ss_worker_outbox_row", NULL, 2, params, &row, errstr,
                               sizeof(errstr));
    if (err == SS_OK && PQntuples(row) == 1) {
        size_t key_length = 0;
        unsigned char *key =
            PQunescapeBytea((const unsigned char *)PQgetvalue(row, 0, 2), &key_length);
        json_t *headers = park_headers(worker, row, flight_index, worker->rejection_reason);
        ss_outbox_flight_parking(&worker->flight, flight_index);
        err = send_queued(worker, SS_TOPIC_DLQ, SS_KAFKA_PARTITION_BY_KEY, key, key_length, "", 0,
                          headers, flight_opaque(worker, flight_index), errstr, sizeof(errstr));
        json_decref(headers);
        PQfreemem(key);
        SS_LOG_WARN(worker->handler.name,
                    "outbox record parked row_id=%" PRId64 " record=%" PRIu32 " reason=\"%s\"",
                    entry->row_id, entry->record + 1, worker->rejection_reason);
        ss_worker_metrics_dead_letter(worker, "unproducible");
    }
    if (err != SS_OK) {
        ss_outbox_flight_report(&worker->flight, flight_index, SS_DELIVERY_RETRY);
    }
    PQclear(row);
}

static ss_err_t flight_await(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    ss_err_t err = ss_kafka_producer_flush(worker->producer,
                                           (int)worker->config.producer_message_timeout_ms + 5000,
                                           errstr, errstr_size);
    if (err == SS_ERR_FATAL) {
        producer_fatal_note(worker, errstr);
    } else if (err != SS_OK) {
        SS_LOG_WARN(worker->handler.name, "outbox flush incomplete error=\"%s\"", errstr);
    }
    if (worker->producer_fatal) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "kafka producer failed: %s",
                          worker->producer_fatal_error);
    }
    return SS_OK;
}

ss_err_t ss_worker_outbox_settle(ss_worker_t *worker, char *errstr, size_t errstr_size)
{
    if (worker->flight.count == 0) {
        char cause[SS_WORKER_ERRSTR_SIZE];
        if (ss_kafka_producer_check(worker->producer, cause, sizeof(cause)) != SS_OK) {
            producer_fatal_note(worker, cause);
        }
        return worker->producer_fatal ? flight_await(worker, errstr, errstr_size) : SS_OK;
    }
    ss_err_t err = flight_await(worker, errstr, errstr_size);
    for (int pass = 0; pass < SS_WORKER_PARK_PASSES_MAX && err == SS_OK; pass++) {
        size_t cursor = 0, parked = 0, index;
        while ((index = ss_outbox_flight_next_rejected(&worker->flight, &cursor)) != SIZE_MAX) {
            park(worker, index);
            parked++;
        }
        if (parked == 0) {
            break;
        }
        err = flight_await(worker, errstr, errstr_size);
    }
    static ss_outbox_flight_outcome_t outcomes[SS_WORKER_PARTITIONS_MAX];
    ss_outbox_flight_outcomes(&worker->flight, outcomes, SS_WORKER_PARTITIONS_MAX);
    int64_t now_ms = ss_clock_monotonic_ms();
    for (int32_t p = 0; p < SS_WORKER_PARTITIONS_MAX; p++) {
        if (outcomes[p].touched) {
            ss_partition_settled(&worker->partitions[p], outcomes[p].acked_up_to_id,
                                 outcomes[p].failed, now_ms);
        }
    }
    ss_outbox_flight_clear(&worker->flight);
    worker->rejection_reason[0] = '\0';
    worker->flight_generation++;
    return err;
}

void ss_worker_on_delivery(void *opaque, void *message_opaque, const ss_kafka_delivery_t *delivery)
{
    ss_worker_t *worker = opaque;
    const ss_err_t result = delivery->result;
    const char *error_text = delivery->error_text;
    size_t index;
    if (result == SS_ERR_FATAL) {
        producer_fatal_note(worker, error_text != NULL ? error_text : "fatal producer error");
    }
    if (!flight_index(worker, message_opaque, &index)) {
        return;
    }
    if (result == SS_OK) {
        ss_outbox_flight_report(&worker->flight, index, SS_DELIVERY_ACKED);
        return;
    }
    const char *why = error_text != NULL ? error_text : ss_err_name(result);
    SS_LOG_WARN(worker->handler.name, "outbox delivery failed error=\"%s\"", why);
    if (result == SS_ERR_INVALID) {
        rejection_note(worker, index, why); /* a rejected reference is retried, not re-parked */
    } else {
        ss_outbox_flight_report(&worker->flight, index, SS_DELIVERY_RETRY);
    }
}

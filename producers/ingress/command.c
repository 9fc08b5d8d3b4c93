/*
 * Publishing commands and completing their HTTP requests (see command.h). Three parties touch a
 * pending slot: the HTTP thread that submits, the results thread (a CommandResult or a failed
 * delivery) and the deadline thread; one mutex guards the ring, and whoever takes a slot out of
 * it first is the one that answers.
 */
#include "command.h"

#include "ss/assert.h"
#include "ss/clock.h"
#include "ss/hash.h"
#include "ss/json.h"
#include "ss/log.h"
#include "ss/pg.h"
#include "ss/topics.h"
#include "ss/trace.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMMAND_COMPONENT "ingress"
#define COMMAND_REQUEST_ID_MAX 64
#define COMMAND_RESULTS_BATCH_MAX 256
#define COMMAND_RESULTS_POLL_MS 20
#define COMMAND_DEADLINE_TICK_MS 5
#define COMMAND_EXPIRED_BATCH_MAX 1024
/* On shutdown: how long sent commands may take to be acknowledged by the broker. */
#define COMMAND_DRAIN_FLUSH_MS 5000
/* On shutdown: how long acknowledged commands may wait for their results before 202. */
#define COMMAND_DRAIN_RESULTS_MS 1000
/* On shutdown: how long to keep trying to record pending rows before 202 without them. */
#define COMMAND_DRAIN_RECORD_MS 3000
/* Longest pause between attempts to write request rows while PostgreSQL fails. */
#define COMMAND_RECORD_RETRY_MAX_MS 2000

#define SQL_PENDING_INSERT                                                                         \
    "INSERT INTO request_pending (request_id) SELECT unnest($1::text[])"                           \
    " ON CONFLICT (request_id) DO NOTHING"
/* The final result of commands that certainly never reached Kafka: they never apply. */
#define SQL_UNDELIVERED_INSERT                                                                     \
    "INSERT INTO request_results (request_id, http_status, body)"                                  \
    " SELECT unnest($1::text[]), 503, $2 ON CONFLICT (request_id) DO NOTHING"

typedef struct pending_slot {
    uint64_t sequence;
    bool active;
    int64_t deadline_ms; /* monotonic */
    ss_http_request_t *req;
} pending_slot_t;

struct ss_ingress_commands {
    ss_ingress_commands_config_t config;
    ss_avro_registry_t *registry;
    ss_kafka_producer_t *producer;
    ss_kafka_consumer_t *results;
    pthread_mutex_t lock;
    pending_slot_t *slots;
    uint64_t next_sequence; /* under lock */
    uint64_t expiry_cursor; /* under lock: every sequence below it is answered */
    int64_t start_ms;       /* part of every request id: unique across restarts */
    atomic_bool stopping;
    atomic_bool draining; /* shutting down: new commands are refused before they are sent */
    pthread_mutex_t undelivered_lock;
    uint64_t *undelivered; /* under undelivered_lock: never-delivered commands to record */
    _Atomic size_t undelivered_count;
    size_t undelivered_capacity;
    pthread_t results_thread;
    pthread_t deadline_thread;
    bool results_started;
    bool deadline_started;
};

static const char body_unavailable[] =
    "{\"code\":503,\"message\":\"the service is overloaded or a dependency is down, retry"
    " later\",\"error\":\"UNAVAILABLE\"}";
static const ss_http_header_t retry_after[] = {{"Retry-After", "1"}};
/* The result of a command that never reached Kafka (GET /requests/{id}): safe to send again. */
static const char body_undelivered[] =
    "{\"code\":503,\"message\":\"the command never reached the message broker and was not"
    " applied; send it again\",\"error\":\"UNAVAILABLE\"}";

/* A sequence as a producer's message opaque: never NULL, which means "not tracked". */
static void *opaque_of_sequence(uint64_t sequence)
{
    return (void *)(uintptr_t)(sequence + 1);
}

static uint64_t sequence_of_opaque(void *opaque)
{
    return (uint64_t)(uintptr_t)opaque - 1;
}

/*
 * "<instance>-<start ms>-<sequence>" with the sequence zero-padded to 12 digits, so that one
 * instance's ids sort in the order they are made: each is then appended at the right edge of
 * the request_results and request_pending primary keys instead of inserted anywhere in them
 * (docs/performance.md, "Request ids in index order"). Ids made before the padding parse the
 * same.
 */
static void request_id_format(const ss_ingress_commands_t *commands, uint64_t sequence, char *out,
                              size_t out_size)
{
    snprintf(out, out_size, "%d-%" PRId64 "-%012" PRIu64, commands->config.instance,
             commands->start_ms, sequence);
}

/* The sequence of one of our own request ids; false for anyone else's. */
static bool request_id_parse(const ss_ingress_commands_t *commands, const char *request_id,
                             uint64_t *sequence_out)
{
    int instance = -1;
    long long start_ms = -1;
    unsigned long long sequence = 0;
    int consumed = 0;
    if (sscanf(request_id, "%d-%lld-%llu%n", &instance, &start_ms, &sequence, &consumed) != 3 ||
        request_id[consumed] != '\0') {
        return false;
    }
    *sequence_out = sequence;
    return instance == commands->config.instance && start_ms == commands->start_ms;
}

/* Takes the slot of sequence out of the ring, returning its request (NULL if answered). */
static ss_http_request_t *slot_take(ss_ingress_commands_t *commands, uint64_t sequence)
{
    pthread_mutex_lock(&commands->lock);
    pending_slot_t *slot = &commands->slots[sequence % commands->config.pending_max];
    ss_http_request_t *req = NULL;
    if (slot->active && slot->sequence == sequence) {
        req = slot->req;
        slot->active = false;
        slot->req = NULL;
    }
    pthread_mutex_unlock(&commands->lock);
    return req;
}

static void request_answer(ss_http_request_t *req, int status, const char *body,
                           const ss_http_header_t *headers, size_t header_count)
{
    ss_http_request_complete(req, status, body, headers, header_count);
    ss_http_request_release(req);
}

/* ---- PostgreSQL rows of requests (pending, never delivered) -------------------------------- */

/*
 * Runs sql with the request ids of sequences as $1 (text[]) and extra as $2, on a connection of
 * the ingress's pool (bounded; a pooled connection the server dropped is replaced once).
 */
static ss_err_t ids_write(ss_ingress_commands_t *commands, const char *sql,
                          const uint64_t *sequences, size_t count, const char *extra)
{
    const ss_ingress_commands_pg_t *pg_access = &commands->config.pg;
    ss_pg_array_t ids;
    ss_pg_array_init(&ids);
    char errstr[256] = "";
    for (size_t i = 0; i < count; i++) {
        char request_id[COMMAND_REQUEST_ID_MAX];
        request_id_format(commands, sequences[i], request_id, sizeof(request_id));
        ss_pg_array_append_text(&ids, request_id, errstr, sizeof(errstr));
    }
    const char *params[] = {ss_pg_array_text(&ids), extra};
    ss_err_t err = params[0] != NULL ? SS_ERR_RETRIABLE : SS_ERR_NOMEM;
    for (int attempt = 0; attempt < 2 && err == SS_ERR_RETRIABLE; attempt++) {
        ss_pg_t *pg = NULL;
        err = pg_access->acquire(pg_access->opaque, &pg, errstr, sizeof(errstr));
        if (err != SS_OK) {
            break;
        }
        err =
            ss_pg_query(pg, NULL, sql, extra != NULL ? 2 : 1, params, NULL, errstr, sizeof(errstr));
        pg_access->release(pg_access->opaque, pg);
    }
    if (err != SS_OK) {
        SS_LOG_WARN(COMMAND_COMPONENT, "could not record requests count=%zu error=\"%s\"", count,
                    errstr);
    }
    ss_pg_array_free(&ids);
    return err;
}

/* Records the ids in request_pending so GET /requests/{id} can say PENDING, not 404. */
static ss_err_t pending_record(ss_ingress_commands_t *commands, const uint64_t *sequences,
                               size_t count)
{
    return ids_write(commands, SQL_PENDING_INSERT, sequences, count, NULL);
}

/* Notes a command that certainly never reached Kafka; the results thread records its outcome. */
static void undelivered_note(ss_ingress_commands_t *commands, uint64_t sequence)
{
    pthread_mutex_lock(&commands->undelivered_lock);
    if (commands->undelivered_count == commands->undelivered_capacity) {
        size_t capacity =
            commands->undelivered_capacity > 0 ? commands->undelivered_capacity * 2 : 64;
        uint64_t *grown = realloc(commands->undelivered, capacity * sizeof(*grown));
        SS_ASSERT(grown != NULL);
        commands->undelivered = grown;
        commands->undelivered_capacity = capacity;
    }
    commands->undelivered[commands->undelivered_count++] = sequence;
    pthread_mutex_unlock(&commands->undelivered_lock);
}

/*
 * Stores "not applied" as the final result of every noted command, so GET /requests/{id} ends
 * DONE with a 503 envelope instead of PENDING forever. Kept for the next call on failure.
 */
static void undelivered_record(ss_ingress_commands_t *commands)
{
    pthread_mutex_lock(&commands->undelivered_lock);
    uint64_t *sequences = commands->undelivered;
    size_t count = commands->undelivered_count;
    commands->undelivered = NULL;
    commands->undelivered_count = commands->undelivered_capacity = 0;
    pthread_mutex_unlock(&commands->undelivered_lock);
    if (count == 0) {
        free(sequences);
        return;
    }
    ss_err_t err = ids_write(commands, SQL_UNDELIVERED_INSERT, sequences, count, body_undelivered);
    for (size_t i = 0; err != SS_OK && i < count; i++) {
        undelivered_note(commands, sequences[i]);
    }
    free(sequences);
}

/* ---- results thread ------------------------------------------------------------------------ */

static void on_delivery(void *opaque, void *message_opaque, const ss_kafka_delivery_t *delivery)
{
    ss_ingress_commands_t *commands = opaque;
    if (delivery->result == SS_OK || message_opaque == NULL) {
        return;
    }
    uint64_t sequence = sequence_of_opaque(message_opaque);
    SS_LOG_WARN(
        COMMAND_COMPONENT, "command not delivered sequence=%" PRIu64 " error=\"%s\"", sequence,
        delivery->error_text != NULL ? delivery->error_text : ss_err_name(delivery->result));
    if (delivery->persistence != SS_KAFKA_NOT_PERSISTED) {
        return; /* it may be in the log and apply: its result or, at the deadline, 202 answers */
    }
    ss_http_request_t *req = slot_take(commands, sequence);
    if (req != NULL) {
        request_answer(req, 503, body_unavailable, retry_after, 1);
    }
    undelivered_note(commands, sequence);
}

/* An outcome's trace from its own fields (a CommandResults item carries it there). */
static void outcome_trace(const json_t *outcome, ss_trace_t *trace)
{
    const json_t *request_id = json_object_get(outcome, "trace_request_id");
    const json_t *traceparent = json_object_get(outcome, "traceparent");
    ss_trace_from_text(json_string_value(request_id), json_string_length(request_id),
                       json_string_value(traceparent), json_string_length(traceparent), trace);
}

/*
 * Answers the waiting request of one outcome: an item of CommandResults, or with old_record
 * the CommandResult of a worker before stop 20 (its trace in that record's headers). Another
 * instance's outcome (instances can share a partition) is passed over before its trace is read.
 */
static void result_answer(ss_ingress_commands_t *commands, const json_t *result,
                          const ss_kafka_message_t *old_record)
{
    const char *request_id = json_string_value(json_object_get(result, "request_id"));
    const char *body = json_string_value(json_object_get(result, "body"));
    json_int_t status = json_integer_value(json_object_get(result, "http_status"));
    uint64_t sequence = 0;
    if (request_id == NULL || body == NULL || status < 100 || status > 599 ||
        !request_id_parse(commands, request_id, &sequence)) {
        return;
    }
    ss_trace_t trace;
    if (old_record != NULL) {
        ss_trace_from_kafka(old_record, &trace);
    } else {
        outcome_trace(result, &trace);
    }
    ss_trace_log_enter(&trace);
    ss_http_request_t *req = slot_take(commands, sequence);
    if (req != NULL) {
        request_answer(req, (int)status, body, NULL, 0);
    }
    ss_trace_log_leave();
}

static void result_handle(ss_ingress_commands_t *commands, const ss_kafka_message_t *message)
{
    char errstr[256];
    json_t *result = NULL;
    const char *schema_name = NULL;
    if (ss_avro_decode(commands->registry, message->value, message->value_length, &schema_name,
                       &result, errstr, sizeof(errstr)) != SS_OK) {
        SS_LOG_WARN(COMMAND_COMPONENT, "undecodable result offset=%" PRId64 " error=\"%s\"",
                    message->offset, errstr);
        return;
    }
    if (strcmp(schema_name, SS_SCHEMA_COMMAND_RESULTS) == 0) {
        const json_t *outcomes = json_object_get(result, "results");
        for (size_t i = 0; i < json_array_size(outcomes); i++) {
            result_answer(commands, json_array_get(outcomes, i), NULL);
        }
    } else if (strcmp(schema_name, SS_SCHEMA_COMMAND_RESULT) == 0) {
        result_answer(commands, result, message);
    } else {
        SS_LOG_WARN(COMMAND_COMPONENT, "result skipped offset=%" PRId64 " reason=\"a %s\"",
                    message->offset, schema_name);
    }
    json_decref(result);
}

static void *results_main(void *opaque)
{
    ss_ingress_commands_t *commands = opaque;
    ss_kafka_message_t *messages[COMMAND_RESULTS_BATCH_MAX];
    int64_t record_at_ms = 0;
    int failures = 0;
    while (!atomic_load(&commands->stopping)) {
        ss_kafka_producer_poll(commands->producer, 0);
        if (ss_clock_monotonic_ms() >= record_at_ms) {
            undelivered_record(commands);
            bool left = atomic_load(&commands->undelivered_count) > 0;
            failures = left ? failures + 1 : 0;
            record_at_ms =
                ss_clock_monotonic_ms() +
                (left ? ss_clock_backoff_ms(100, COMMAND_RECORD_RETRY_MAX_MS, failures) : 0);
        }
        size_t count = 0;
        char errstr[256];
        ss_err_t err =
            ss_kafka_consumer_poll_batch(commands->results, messages, COMMAND_RESULTS_BATCH_MAX,
                                         COMMAND_RESULTS_POLL_MS, &count, errstr, sizeof(errstr));
        if (err != SS_OK) {
            SS_LOG_WARN(COMMAND_COMPONENT, "results poll failed error=\"%s\"", errstr);
            continue;
        }
        for (size_t i = 0; i < count; i++) {
            if (messages[i]->value != NULL) {
                result_handle(commands, messages[i]);
            }
        }
        ss_kafka_messages_release(messages, count);
    }
    return NULL;
}

/* ---- deadline thread ----------------------------------------------------------------------- */

/*
 * The sequences (up to max) of waiting requests whose deadline passed, oldest first, without
 * taking them; *end_out is one past the last slot looked at.
 */
static size_t expired_peek(ss_ingress_commands_t *commands, int64_t now_ms, uint64_t *sequences,
                           size_t max, uint64_t *end_out)
{
    size_t count = 0;
    pthread_mutex_lock(&commands->lock);
    uint64_t sequence = commands->expiry_cursor;
    for (; sequence < commands->next_sequence && count < max; sequence++) {
        const pending_slot_t *slot = &commands->slots[sequence % commands->config.pending_max];
        if (slot->active && slot->sequence == sequence) {
            if (slot->deadline_ms > now_ms) {
                break;
            }
            sequences[count++] = sequence;
        }
    }
    pthread_mutex_unlock(&commands->lock);
    *end_out = sequence;
    return count;
}

/* Takes the requests still waiting below end (each peeked and recorded before). */
static size_t expired_take(ss_ingress_commands_t *commands, uint64_t end, ss_http_request_t **reqs,
                           uint64_t *sequences)
{
    size_t taken = 0;
    pthread_mutex_lock(&commands->lock);
    for (; commands->expiry_cursor < end; commands->expiry_cursor++) {
        uint64_t sequence = commands->expiry_cursor;
        pending_slot_t *slot = &commands->slots[sequence % commands->config.pending_max];
        if (slot->active && slot->sequence == sequence) {
            reqs[taken] = slot->req;
            sequences[taken++] = sequence;
            slot->active = false;
            slot->req = NULL;
        }
    }
    pthread_mutex_unlock(&commands->lock);
    return taken;
}

static void accepted_answer(ss_ingress_commands_t *commands, ss_http_request_t *req,
                            uint64_t sequence)
{
    char request_id[COMMAND_REQUEST_ID_MAX], location[128];
    request_id_format(commands, sequence, request_id, sizeof(request_id));
    snprintf(location, sizeof(location), "/api/v1/requests/%s", request_id);
    char *body =
        ss_json_envelope(202, "Accepted", NULL, json_pack("{s:s}", "requestId", request_id));
    const ss_http_header_t headers[] = {{"Location", location}};
    request_answer(req, body != NULL ? 202 : 503, body != NULL ? body : body_unavailable, headers,
                   body != NULL ? 1 : 0);
    free(body);
}

/*
 * Answers 202 to the requests whose deadline passed, once their pending rows exist (unless
 * recorded is false: at the end of a shutdown, a 202 without the row beats an error for a
 * command that may apply). On a failed write they stay waiting: their result may still come.
 */
static ss_err_t expired_answer(ss_ingress_commands_t *commands, int64_t now_ms, bool record,
                               size_t *answered)
{
    uint64_t sequences[COMMAND_EXPIRED_BATCH_MAX];
    ss_http_request_t *reqs[COMMAND_EXPIRED_BATCH_MAX];
    uint64_t end = 0;
    *answered = 0;
    size_t count = expired_peek(commands, now_ms, sequences, COMMAND_EXPIRED_BATCH_MAX, &end);
    if (count > 0 && record) {
        ss_err_t err = pending_record(commands, sequences, count);
        if (err != SS_OK) {
            return err;
        }
    }
    size_t taken = expired_take(commands, end, reqs, sequences);
    for (size_t i = 0; i < taken; i++) {
        accepted_answer(commands, reqs[i], sequences[i]);
    }
    *answered = taken;
    return SS_OK;
}

static void *deadline_main(void *opaque)
{
    ss_ingress_commands_t *commands = opaque;
    int failures = 0;
    while (!atomic_load(&commands->stopping)) {
        size_t answered = 0;
        int64_t pause_ms = COMMAND_DEADLINE_TICK_MS;
        if (expired_answer(commands, ss_clock_monotonic_ms(), true, &answered) != SS_OK) {
            pause_ms = ss_clock_backoff_ms(100, COMMAND_RECORD_RETRY_MAX_MS, ++failures);
        } else {
            failures = 0;
        }
        if (answered == 0) {
            struct timespec pause = {.tv_sec = pause_ms / 1000,
                                     .tv_nsec = (pause_ms % 1000) * 1000000L};
            nanosleep(&pause, NULL);
        }
    }
    return NULL;
}

/* ---- submitting ---------------------------------------------------------------------------- */

static bool prefers_async(const ss_http_request_t *req)
{
    const char *prefer = ss_http_request_header(req, "Prefer");
    return prefer != NULL && strstr(prefer, "respond-async") != NULL;
}

/* Reserves the next slot; false when the ring is full of unanswered requests. */
static bool slot_reserve(ss_ingress_commands_t *commands, ss_http_request_t *req,
                         uint64_t *sequence_out)
{
    bool reserved = false;
    pthread_mutex_lock(&commands->lock);
    uint64_t sequence = commands->next_sequence;
    pending_slot_t *slot = &commands->slots[sequence % commands->config.pending_max];
    if (!slot->active) {
        *slot =
            (pending_slot_t){.sequence = sequence,
                             .active = req != NULL,
                             .deadline_ms = ss_clock_monotonic_ms() + commands->config.deadline_ms,
                             .req = req};
        commands->next_sequence++;
        *sequence_out = sequence;
        reserved = true;
    }
    pthread_mutex_unlock(&commands->lock);
    return reserved;
}

static void respond_now(ss_http_request_t *req, ss_api_error_t error, const char *message)
{
    char *body = ss_json_envelope_api_error(error, message, NULL);
    bool unavailable = error == SS_API_ERROR_UNAVAILABLE;
    ss_http_respond_json_headers(req, ss_api_error_status(error),
                                 body != NULL ? body : body_unavailable,
                                 unavailable ? retry_after : NULL, unavailable ? 1 : 0);
    free(body);
}

ss_err_t ss_ingress_idempotency_key(ss_http_request_t *req, const char **key_out)
{
    const char *key = ss_http_request_header(req, "Idempotency-Key");
    *key_out = NULL;
    if (key == NULL) {
        return SS_OK;
    }
    size_t length = strlen(key);
    /* jansson refuses text that is not UTF-8: the key travels in JSON and Avro strings. */
    json_t *probe =
        length > 0 && length <= SS_INGRESS_IDEMPOTENCY_KEY_MAX ? json_stringn(key, length) : NULL;
    if (probe == NULL) {
        respond_now(req, SS_API_ERROR_INVALID_REQUEST,
                    "Idempotency-Key must be 1 to 255 bytes of valid UTF-8");
        return SS_ERR_INVALID;
    }
    json_decref(probe);
    *key_out = key;
    return SS_OK;
}

/* Adds "idempotency" (key, scope, body hash) to a client command that has a key. */
static ss_err_t idempotency_attach(ss_http_request_t *req, const char *scope, json_t *record)
{
    const char *key = NULL;
    ss_err_t err = ss_ingress_idempotency_key(req, &key);
    if (err != SS_OK || key == NULL || scope == NULL) {
        return err;
    }
    size_t body_length = 0;
    const char *body = ss_http_request_body(req, &body_length);
    char hash[SS_HASH_SHA256_HEX_SIZE];
    json_t *idempotency = NULL;
    if (ss_hash_sha256_hex(body, body_length, hash, NULL, 0) == SS_OK) {
        idempotency = json_pack("{s:s, s:s, s:s}", "key", key, "scope", scope, "body_hash", hash);
    }
    if (idempotency == NULL) {
        respond_now(req, SS_API_ERROR_INTERNAL, NULL);
        return SS_ERR_NOMEM;
    }
    json_object_set_new(record, "idempotency", idempotency);
    return SS_OK;
}

/*
 * Sets the command's request id and encodes it. Without a client X-Request-Id the command's id
 * becomes the request's (so GET /requests/{id} takes what the response header says); trace
 * gets what travels with the command as headers.
 */
static ss_err_t record_encode(ss_ingress_commands_t *commands, ss_http_request_t *req,
                              json_t *record, const char *schema_name, uint64_t sequence,
                              bool async, ss_avro_buffer_t *buffer, ss_trace_t *trace)
{
    char request_id[COMMAND_REQUEST_ID_MAX], errstr[256];
    request_id_format(commands, sequence, request_id, sizeof(request_id));
    ss_http_request_id_offer(req, request_id);
    ss_http_request_trace(req, trace);
    json_object_set_new(record, "request_id", json_string(request_id));
    json_object_set_new(record, "reply_partition",
                        json_integer(async ? -1 : commands->config.results_partition));
    /* The admin commands (AdjustProduct, ChangeCouponStatus) have no requested_at field. */
    const ss_avro_schema_t *schema = ss_avro_registry_find(commands->registry, schema_name);
    if (schema != NULL && ss_avro_schema_has_field(schema, "requested_at")) {
        json_object_set_new(record, "requested_at", json_integer(ss_clock_now_ms()));
    }
    ss_err_t err =
        ss_avro_encode(commands->registry, schema_name, record, buffer, errstr, sizeof(errstr));
    if (err != SS_OK) {
        SS_LOG_ERROR(COMMAND_COMPONENT, "could not encode schema=%s error=\"%s\"", schema_name,
                     errstr);
    } else {
        SS_LOG_DEBUG(COMMAND_COMPONENT, "command sending schema=%s command_id=%s", schema_name,
                     request_id);
    }
    return err;
}

/* Produces the encoded command with the request's id and traceparent as headers. */
static ss_err_t command_send(ss_ingress_commands_t *commands, const char *topic, const char *key,
                             const ss_avro_buffer_t *buffer, const ss_trace_t *trace,
                             uint64_t sequence, char *errstr, size_t errstr_size)
{
    ss_kafka_header_t headers[SS_TRACE_KAFKA_HEADERS_MAX];
    size_t header_count = ss_trace_kafka_headers(trace, headers);
    return ss_kafka_producer_send(commands->producer, topic, SS_KAFKA_PARTITION_BY_KEY, key,
                                  strlen(key), buffer->data, buffer->length, headers, header_count,
                                  opaque_of_sequence(sequence), errstr, errstr_size);
}

static void submit_async(ss_ingress_commands_t *commands, ss_http_request_t *req, const char *topic,
                         const char *key, const ss_avro_buffer_t *buffer, const ss_trace_t *trace,
                         uint64_t sequence)
{
    char errstr[256];
    /* The pending row first: a 202 can always be asked about, and without PostgreSQL the
     * command is refused before it is sent, so the 503 is safe to retry. */
    if (pending_record(commands, &sequence, 1) != SS_OK) {
        respond_now(req, SS_API_ERROR_UNAVAILABLE, NULL);
        return;
    }
    if (command_send(commands, topic, key, buffer, trace, sequence, errstr, sizeof(errstr)) !=
        SS_OK) {
        undelivered_note(commands, sequence); /* its pending row must not stay PENDING */
        respond_now(req, SS_API_ERROR_UNAVAILABLE, NULL);
        return;
    }
    ss_http_request_suspend(req);
    accepted_answer(commands, req, sequence);
}

void ss_ingress_command_submit(ss_ingress_commands_t *commands, ss_http_request_t *req,
                               const char *topic, const char *key, const char *schema_name,
                               const char *scope, json_t *record)
{
    bool async = prefers_async(req);
    ss_avro_buffer_t buffer;
    ss_avro_buffer_init(&buffer);
    ss_trace_t trace = {.request_id = ""};
    uint64_t sequence = 0;
    const ss_avro_schema_t *schema = ss_avro_registry_find(commands->registry, schema_name);
    SS_ASSERT(schema != NULL); /* endpoints name schemas of the source tree */
    if (atomic_load(&commands->draining)) {
        /* Not sent, so it can never apply: the client may safely retry elsewhere. */
        respond_now(req, SS_API_ERROR_UNAVAILABLE, NULL);
        json_decref(record);
        return;
    }
    if (!commands->config.pg.available(commands->config.pg.opaque)) {
        /* Not sent either: without PostgreSQL no 202 could be backed by a pending row. */
        respond_now(req, SS_API_ERROR_UNAVAILABLE, "postgresql is unavailable, retry later");
        json_decref(record);
        return;
    }
    if (idempotency_attach(req, ss_avro_schema_has_field(schema, "idempotency") ? scope : NULL,
                           record) != SS_OK) {
        json_decref(record);
        return;
    }
    if (!slot_reserve(commands, async ? NULL : req, &sequence)) {
        respond_now(req, SS_API_ERROR_UNAVAILABLE, NULL);
    } else if (record_encode(commands, req, record, schema_name, sequence, async, &buffer,
                             &trace) != SS_OK) {
        if (!async) {
            slot_take(commands, sequence);
        }
        respond_now(req, SS_API_ERROR_INTERNAL, NULL);
    } else if (async) {
        submit_async(commands, req, topic, key, &buffer, &trace, sequence);
    } else {
        ss_http_request_suspend(req);
        char errstr[256];
        if (command_send(commands, topic, key, &buffer, &trace, sequence, errstr, sizeof(errstr)) !=
            SS_OK) {
            SS_LOG_WARN(COMMAND_COMPONENT, "could not send topic=%s error=\"%s\"", topic, errstr);
            ss_http_request_t *taken = slot_take(commands, sequence);
            if (taken != NULL) {
                request_answer(taken, 503, body_unavailable, retry_after, 1);
            }
        }
    }
    json_decref(record);
    ss_avro_buffer_free(&buffer);
}

/* ---- life cycle ---------------------------------------------------------------------------- */

ss_kafka_producer_t *ss_ingress_commands_producer(ss_ingress_commands_t *commands)
{
    return commands->producer;
}

static ss_err_t clients_create(ss_ingress_commands_t *commands, char *errstr, size_t errstr_size)
{
    const ss_ingress_commands_config_t *config = &commands->config;
    ss_err_t err =
        ss_avro_registry_load(config->schema_dir, &commands->registry, errstr, errstr_size);
    char client_id[64];
    snprintf(client_id, sizeof(client_id), "ss-ingress-%d", config->instance);
    char timeout_text[32];
    snprintf(timeout_text, sizeof(timeout_text), "%d", config->message_timeout_ms);
    const ss_kafka_property_t properties[] = {{"message.timeout.ms", timeout_text}};
    if (err == SS_OK) {
        ss_kafka_producer_config_t producer = {.bootstrap = config->kafka_bootstrap,
                                               .client_id = client_id,
                                               .linger_ms = config->linger_ms,
                                               .on_delivery = on_delivery,
                                               .opaque = commands,
                                               .properties = properties,
                                               .property_count = config->message_timeout_ms > 0};
        err = ss_kafka_producer_new(&producer, &commands->producer, errstr, errstr_size);
    }
    if (err == SS_OK) {
        ss_kafka_consumer_config_t consumer = {.bootstrap = config->kafka_bootstrap,
                                               .client_id = client_id,
                                               .fetch_min_bytes = config->fetch_min_bytes,
                                               .fetch_wait_max_ms = config->fetch_wait_max_ms};
        err = ss_kafka_consumer_new_assigned(&consumer, SS_TOPIC_RESULTS, config->results_partition,
                                             SS_KAFKA_OFFSET_END, &commands->results, errstr,
                                             errstr_size);
    }
    return err;
}

ss_err_t ss_ingress_commands_start(const ss_ingress_commands_config_t *config,
                                   ss_ingress_commands_t **out, char *errstr, size_t errstr_size)
{
    *out = NULL;
    SS_ASSERT(config->pending_max > 0 && config->deadline_ms > 0);
    SS_ASSERT(config->pg.acquire != NULL && config->pg.release != NULL &&
              config->pg.available != NULL);
    ss_ingress_commands_t *commands = calloc(1, sizeof(*commands));
    if (commands == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate commands");
    }
    commands->config = *config;
    commands->start_ms = ss_clock_now_ms();
    pthread_mutex_init(&commands->lock, NULL);
    pthread_mutex_init(&commands->undelivered_lock, NULL);
    commands->slots = calloc(config->pending_max, sizeof(*commands->slots));
    ss_err_t err = commands->slots != NULL
                       ? clients_create(commands, errstr, errstr_size)
                       : ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate slots");
    if (err == SS_OK) {
        commands->results_started =
            pthread_create(&commands->results_thread, NULL, results_main, commands) == 0;
        commands->deadline_started =
            pthread_create(&commands->deadline_thread, NULL, deadline_main, commands) == 0;
        if (!commands->results_started || !commands->deadline_started) {
            err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "could not start threads");
        }
    }
    if (err != SS_OK) {
        ss_ingress_commands_destroy(commands);
        return err;
    }
    *out = commands;
    return SS_OK;
}

/* Whether a sent command still waits for its result. */
static bool any_waiting(ss_ingress_commands_t *commands)
{
    bool waiting = false;
    pthread_mutex_lock(&commands->lock);
    for (uint64_t s = commands->expiry_cursor; s < commands->next_sequence && !waiting; s++) {
        const pending_slot_t *slot = &commands->slots[s % commands->config.pending_max];
        waiting = slot->active && slot->sequence == s;
    }
    pthread_mutex_unlock(&commands->lock);
    return waiting;
}

void ss_ingress_commands_drain(ss_ingress_commands_t *commands)
{
    atomic_store(&commands->draining, true);
    char errstr[256];
    /* Delivery reports answer what never reached the broker with 503 (it cannot apply). */
    if (ss_kafka_producer_flush(commands->producer, COMMAND_DRAIN_FLUSH_MS, errstr,
                                sizeof(errstr)) != SS_OK) {
        SS_LOG_WARN(COMMAND_COMPONENT, "commands not all acknowledged at shutdown error=\"%s\"",
                    errstr);
    }
    int64_t until_ms = ss_clock_monotonic_ms() + COMMAND_DRAIN_RESULTS_MS;
    while (ss_clock_monotonic_ms() < until_ms && any_waiting(commands)) {
        struct timespec pause = {.tv_sec = 0, .tv_nsec = COMMAND_DEADLINE_TICK_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    /* The rest is in Kafka and will apply: 202 with where to ask, after the pending row. */
    const int64_t record_until_ms = ss_clock_monotonic_ms() + COMMAND_DRAIN_RECORD_MS;
    while (any_waiting(commands)) {
        size_t answered = 0;
        bool record = ss_clock_monotonic_ms() < record_until_ms;
        if (expired_answer(commands, INT64_MAX, record, &answered) != SS_OK) {
            struct timespec pause = {.tv_sec = 0, .tv_nsec = 100 * 1000000L};
            nanosleep(&pause, NULL);
        }
    }
    undelivered_record(commands);
}

void ss_ingress_commands_destroy(ss_ingress_commands_t *commands)
{
    if (commands == NULL) {
        return;
    }
    atomic_store(&commands->stopping, true);
    if (commands->results_started) {
        pthread_join(commands->results_thread, NULL);
    }
    if (commands->deadline_started) {
        pthread_join(commands->deadline_thread, NULL);
    }
    for (size_t i = 0; commands->slots != NULL && i < commands->config.pending_max; i++) {
        if (commands->slots[i].active) {
            request_answer(commands->slots[i].req, 503, body_unavailable, retry_after, 1);
        }
    }
    ss_kafka_consumer_destroy(commands->results);
    ss_kafka_producer_destroy(commands->producer);
    ss_avro_registry_destroy(commands->registry);
    free(commands->slots);
    pthread_mutex_destroy(&commands->lock);
    pthread_mutex_destroy(&commands->undelivered_lock);
    free(commands->undelivered);
    free(commands);
}

/*
 * ss-admin dlq replay <offset>...: produces each chosen dead letter's original bytes back to its
 * source topic, with its original key and headers minus the ss-dlq-* ones, so the replayed
 * command keeps its request id (it is inside the Avro value).
 *
 * The workers do not deduplicate commands by request id (only by Idempotency-Key and by their
 * stored partition offsets, and a replay is a new record at a new offset), so the safety is
 * here, in one PostgreSQL transaction committed BEFORE anything is produced:
 * - a dlq_replays row per dead letter (migration 010), unique per source record (migration 013):
 *   a second replay of the same offset, or of a copy of it at another offset (the outbox that
 *   sends dead letters delivers at least once), finds it and is refused, whatever became of the
 *   first;
 * - the request's stored answer: none, or the dead-letter answer (500 "set aside") means the
 *   command was never applied; any other answer means it was applied (or refused) once, and the
 *   replay is refused. The dead-letter answer is removed (kept in the dlq_replays row), so the
 *   replayed command's own outcome becomes what GET /requests/{id} shows (the worker's result
 *   insert never overwrites a stored answer);
 * - a second replay of the same request id (another dead letter of it) while the first has no
 *   answer yet is refused.
 * After the produce: acknowledged marks the row 'produced'; certainly never written (librdkafka
 * NOT_PERSISTED) deletes the row and puts the answer back, so it may be retried; anything else
 * marks it 'unknown' (it may apply once; it is never replayed again).
 */
#include "admin.h"

#include "ss/topics.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_DLQ_HEADER_PREFIX "ss-dlq-"
#define REPLAY_SQL_CLAIM                                                                           \
    "INSERT INTO dlq_replays (dlq_partition, dlq_offset, source, destination_topic, request_id,"   \
    " status) VALUES ($1, $2, $3, $4, NULLIF($5, ''), 'sending') ON CONFLICT DO NOTHING"
/* This dead letter's row, or that of a copy of it (another offset, the same source record). */
#define REPLAY_SQL_EARLIER                                                                         \
    "SELECT status, to_char(replayed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"    \
    " dlq_partition || '/' || dlq_offset FROM dlq_replays WHERE (dlq_partition = $1 AND"           \
    " dlq_offset = $2) OR source = $3 LIMIT 1"
/* Two replays of one request id (from two dead letters) run one after the other. */
#define REPLAY_SQL_REQUEST_LOCK "SELECT pg_advisory_xact_lock(hashtext($1))"
#define REPLAY_SQL_ANSWER                                                                          \
    "SELECT http_status, body FROM request_results WHERE request_id = $1 FOR UPDATE"
#define REPLAY_SQL_IN_FLIGHT                                                                       \
    "SELECT dlq_partition || '/' || dlq_offset FROM dlq_replays WHERE request_id = $1"             \
    " AND (dlq_partition, dlq_offset) <> ($2::int, $3::bigint) LIMIT 1"
#define REPLAY_SQL_ANSWER_MOVE                                                                     \
    "WITH moved AS (DELETE FROM request_results WHERE request_id = $3 RETURNING http_status, "     \
    "body)"                                                                                        \
    " UPDATE dlq_replays SET replaced_status = moved.http_status, replaced_body = moved.body"      \
    " FROM moved WHERE dlq_partition = $1 AND dlq_offset = $2"
#define REPLAY_SQL_PRODUCED                                                                        \
    "UPDATE dlq_replays SET status = $3, produced_partition = $4, produced_offset = $5"            \
    " WHERE dlq_partition = $1 AND dlq_offset = $2"
#define REPLAY_SQL_UNDO_ANSWER                                                                     \
    "INSERT INTO request_results (request_id, http_status, body) SELECT request_id,"               \
    " replaced_status, replaced_body FROM dlq_replays WHERE dlq_partition = $1 AND dlq_offset = "  \
    "$2"                                                                                           \
    " AND replaced_status IS NOT NULL ON CONFLICT (request_id) DO NOTHING"
#define REPLAY_SQL_UNDO "DELETE FROM dlq_replays WHERE dlq_partition = $1 AND dlq_offset = $2"

/* One dead letter, copied out of its message. */
typedef struct replay_item {
    bool found;
    ss_admin_dead_letter_t letter;
    void *key, *value;
    size_t key_length, value_length;
    ss_kafka_header_t headers[SS_ADMIN_HEADERS_MAX]; /* without ss-dlq-*, copies */
    size_t header_count;
    bool copy_failed; /* out of memory while copying: never produce a partial record */
    char partition_text[16], offset_text[24];
} replay_item_t;

typedef struct replay {
    ss_admin_t *admin;
    ss_kafka_producer_t *producer;
    int32_t dlq_partition;
    ss_kafka_delivery_t delivery; /* of the last send, copied by the callback */
    bool delivered;
    char errstr[512];
} replay_t;

static void *bytes_copy(const void *data, size_t length)
{
    if (data == NULL) {
        return NULL;
    }
    void *copy = malloc(length > 0 ? length : 1);
    if (copy != NULL && length > 0) {
        memcpy(copy, data, length);
    }
    return copy;
}

static void replay_item_free(replay_item_t *item)
{
    free(item->key);
    free(item->value);
    for (size_t i = 0; i < item->header_count; i++) {
        free((void *)item->headers[i].name);
        free((void *)item->headers[i].value);
    }
}

static bool replay_item_keep(void *opaque, const ss_kafka_message_t *message)
{
    replay_t *replay = ((void **)opaque)[0];
    replay_item_t *item = ((void **)opaque)[1];
    ss_kafka_header_t headers[SS_ADMIN_HEADERS_MAX];
    ss_admin_record_t record;
    ss_admin_record_view(message, headers, &record);
    ss_admin_dead_letter_read(replay->admin->registry, &record, &item->letter);
    item->found = true;
    item->key = bytes_copy(message->key, message->key_length);
    item->key_length = message->key_length;
    item->value = bytes_copy(message->value, message->value_length);
    item->value_length = message->value_length;
    item->copy_failed = (message->key != NULL && item->key == NULL) ||
                        (message->value != NULL && item->value == NULL);
    for (size_t i = 0; i < record.header_count; i++) {
        if (strncmp(headers[i].name, REPLAY_DLQ_HEADER_PREFIX, strlen(REPLAY_DLQ_HEADER_PREFIX)) ==
            0) {
            continue;
        }
        ss_kafka_header_t *copy = &item->headers[item->header_count];
        copy->name = strdup(headers[i].name);
        copy->value = bytes_copy(headers[i].value, headers[i].value_length);
        copy->value_length = headers[i].value_length;
        item->header_count++;
        if (copy->name == NULL || (headers[i].value != NULL && copy->value == NULL)) {
            item->copy_failed = true;
        }
    }
    return false;
}

/* Reads the dead letter at offset; SS_ERR_NOT_FOUND when the partition does not hold it. */
static ss_err_t replay_item_read(replay_t *replay, int64_t offset, replay_item_t *item)
{
    int64_t low = 0, high = 0;
    ss_err_t err = ss_admin_watermarks(replay->admin, SS_TOPIC_DLQ, replay->dlq_partition, &low,
                                       &high, replay->errstr, sizeof(replay->errstr));
    if (err != SS_OK) {
        return err;
    }
    if (offset < low || offset >= high) {
        return ss_err_set(SS_ERR_NOT_FOUND, replay->errstr, sizeof(replay->errstr),
                          "%s/%" PRId32 " holds offsets %" PRId64 "..%" PRId64
                          " only: no dead letter at %" PRId64,
                          SS_TOPIC_DLQ, replay->dlq_partition, low, high - 1, offset);
    }
    void *pair[] = {replay, item};
    err =
        ss_admin_read_range(replay->admin, SS_TOPIC_DLQ, replay->dlq_partition, offset, offset + 1,
                            replay_item_keep, pair, replay->errstr, sizeof(replay->errstr));
    if (err == SS_OK && item->copy_failed) {
        err = ss_err_set(SS_ERR_NOMEM, replay->errstr, sizeof(replay->errstr),
                         "could not copy the dead letter at offset %" PRId64, offset);
    }
    if (err == SS_OK && !item->found) {
        err = ss_err_set(SS_ERR_NOT_FOUND, replay->errstr, sizeof(replay->errstr),
                         "no dead letter at offset %" PRId64, offset);
    }
    return err;
}

static ss_err_t replay_query(replay_t *replay, const char *sql, int count,
                             const char *const *params, PGresult **result)
{
    return ss_pg_query(replay->admin->pg, NULL, sql, count, params, result, replay->errstr,
                       sizeof(replay->errstr));
}

/* SS_ERR_CONFLICT (errstr says why) when the request's stored answer forbids a replay. */
static ss_err_t replay_answer_check(replay_t *replay, const replay_item_t *item)
{
    const char *request_id = item->letter.request_id;
    const char *id_param[] = {request_id};
    PGresult *result = NULL;
    ss_err_t err = replay_query(replay, REPLAY_SQL_REQUEST_LOCK, 1, id_param, NULL);
    if (err == SS_OK) {
        err = replay_query(replay, REPLAY_SQL_ANSWER, 1, id_param, &result);
    }
    if (err != SS_OK) {
        return err;
    }
    int status = PQntuples(result) == 1 ? atoi(PQgetvalue(result, 0, 0)) : 0;
    bool dead = status > 0 && ss_admin_is_dead_letter_answer(status, PQgetvalue(result, 0, 1));
    PQclear(result);
    if (status > 0 && !dead) {
        return ss_err_set(SS_ERR_CONFLICT, replay->errstr, sizeof(replay->errstr),
                          "request %s already has its answer (status %d): it was applied or"
                          " refused once, a replay would apply it again",
                          request_id, status);
    }
    const char *keys[] = {item->partition_text, item->offset_text, request_id};
    if (dead) {
        ss_admin_note("request %s had the dead-letter answer %d (its client was told it was set"
                      " aside); it is removed so that GET /api/v1/requests/%s shows the replayed"
                      " command's outcome",
                      request_id, status, request_id);
        return replay_query(replay, REPLAY_SQL_ANSWER_MOVE, 3, keys, NULL);
    }
    const char *flight[] = {request_id, item->partition_text, item->offset_text};
    err = replay_query(replay, REPLAY_SQL_IN_FLIGHT, 3, flight, &result);
    if (err == SS_OK && PQntuples(result) == 1) {
        err = ss_err_set(SS_ERR_CONFLICT, replay->errstr, sizeof(replay->errstr),
                         "request %s was already replayed from dead letter %s and has no answer"
                         " yet: it may still apply",
                         request_id, PQgetvalue(result, 0, 0));
    }
    PQclear(result);
    return err;
}

/*
 * SS_ERR_CONFLICT when this dead letter, or a copy of it (the outbox delivers at least once, so
 * one source record can be in ss.dlq twice; migration 013), was replayed before (errstr says
 * which and when).
 */
static ss_err_t replay_earlier(replay_t *replay, const replay_item_t *item)
{
    const char *keys[] = {item->partition_text, item->offset_text, item->letter.source};
    PGresult *result = NULL;
    ss_err_t err = replay_query(replay, REPLAY_SQL_EARLIER, 3, keys, &result);
    if (err == SS_OK) {
        bool found = PQntuples(result) == 1;
        err = ss_err_set(SS_ERR_CONFLICT, replay->errstr, sizeof(replay->errstr),
                         "dead letter %s/%s was already replayed (%s at %s, as dead letter %s of"
                         " source record %s): a source record is replayed at most once",
                         item->partition_text, item->offset_text,
                         found ? PQgetvalue(result, 0, 0) : "?",
                         found ? PQgetvalue(result, 0, 1) : "?",
                         found ? PQgetvalue(result, 0, 2) : "?", item->letter.source);
    }
    PQclear(result);
    return err;
}

/* The claim transaction: dlq_replays row, answer checks. Committed before the produce. */
static ss_err_t replay_claim(replay_t *replay, const replay_item_t *item)
{
    ss_pg_t *pg = replay->admin->pg;
    const ss_admin_dead_letter_t *letter = &item->letter;
    const char *params[] = {item->partition_text, item->offset_text, letter->source,
                            letter->source_topic, letter->request_id};
    PGresult *result = NULL;
    ss_err_t err = ss_pg_begin(pg, replay->errstr, sizeof(replay->errstr));
    if (err == SS_OK) {
        err = replay_query(replay, REPLAY_SQL_CLAIM, 5, params, &result);
    }
    if (err == SS_OK && strcmp(PQcmdTuples(result), "1") != 0) {
        err = replay_earlier(replay, item);
    }
    PQclear(result);
    if (err == SS_OK && letter->request_id[0] != '\0') {
        err = replay_answer_check(replay, item);
    }
    if (err == SS_OK) {
        return ss_pg_commit(pg, replay->errstr, sizeof(replay->errstr));
    }
    char ignored[128];
    ss_pg_rollback(pg, ignored, sizeof(ignored));
    return err;
}

static void replay_on_delivery(void *opaque, void *message_opaque,
                               const ss_kafka_delivery_t *delivery)
{
    (void)message_opaque;
    replay_t *replay = opaque;
    replay->delivery = *delivery;
    replay->delivery.error_text = NULL; /* valid only during the callback */
    if (delivery->error_text != NULL) {
        snprintf(replay->errstr, sizeof(replay->errstr), "%s", delivery->error_text);
    }
    replay->delivered = true;
}

/* Produces the record and waits for its delivery report. */
static ss_err_t replay_produce(replay_t *replay, const replay_item_t *item)
{
    int32_t partition =
        item->key != NULL ? SS_KAFKA_PARTITION_BY_KEY : item->letter.source_partition;
    replay->delivered = false;
    ss_err_t err =
        ss_kafka_producer_send(replay->producer, item->letter.source_topic, partition, item->key,
                               item->key_length, item->value, item->value_length, item->headers,
                               item->header_count, NULL, replay->errstr, sizeof(replay->errstr));
    if (err != SS_OK) {
        replay->delivery =
            (ss_kafka_delivery_t){.result = err, .persistence = SS_KAFKA_NOT_PERSISTED};
        return err;
    }
    char flush_error[256];
    ss_kafka_producer_flush(replay->producer, (int)replay->admin->config.timeout_ms * 2,
                            flush_error, sizeof(flush_error));
    if (!replay->delivered) {
        replay->delivery = (ss_kafka_delivery_t){.result = SS_ERR_TIMEOUT,
                                                 .persistence = SS_KAFKA_POSSIBLY_PERSISTED};
        snprintf(replay->errstr, sizeof(replay->errstr), "no delivery report: %s", flush_error);
    }
    return replay->delivery.result;
}

/* Records the produce's outcome in dlq_replays (see the file comment). */
static ss_err_t replay_settle(replay_t *replay, const replay_item_t *item)
{
    const ss_kafka_delivery_t *delivery = &replay->delivery;
    const char *keys[] = {item->partition_text, item->offset_text};
    char errstr[512];
    ss_pg_t *pg = replay->admin->pg;
    ss_err_t err = SS_OK;
    if (delivery->result != SS_OK && delivery->persistence == SS_KAFKA_NOT_PERSISTED) {
        err = ss_pg_begin(pg, errstr, sizeof(errstr));
        if (err == SS_OK) {
            err = ss_pg_query(pg, NULL, REPLAY_SQL_UNDO_ANSWER, 2, keys, NULL, errstr,
                              sizeof(errstr));
        }
        if (err == SS_OK) {
            err = ss_pg_query(pg, NULL, REPLAY_SQL_UNDO, 2, keys, NULL, errstr, sizeof(errstr));
        }
        err = err == SS_OK ? ss_pg_commit(pg, errstr, sizeof(errstr)) : err;
    } else {
        char partition[16], offset[24];
        snprintf(partition, sizeof(partition), "%" PRId32, delivery->partition);
        snprintf(offset, sizeof(offset), "%" PRId64, delivery->offset);
        bool ok = delivery->result == SS_OK;
        const char *params[] = {keys[0], keys[1], ok ? "produced" : "unknown",
                                ok ? partition : NULL, ok ? offset : NULL};
        err = ss_pg_query(pg, NULL, REPLAY_SQL_PRODUCED, 5, params, NULL, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        char ignored[128];
        ss_pg_rollback(pg, ignored, sizeof(ignored));
        ss_admin_note("could not record the replay's outcome in dlq_replays (it stays claimed,"
                      " so it is not replayed again): %s",
                      errstr);
    }
    return err;
}

/* Replays one dead letter; SS_OK when it was produced. */
static ss_err_t replay_one(replay_t *replay, int64_t offset, replay_item_t *item)
{
    snprintf(item->partition_text, sizeof(item->partition_text), "%" PRId32, replay->dlq_partition);
    snprintf(item->offset_text, sizeof(item->offset_text), "%" PRId64, offset);
    ss_err_t err = replay_item_read(replay, offset, item);
    if (err == SS_OK && !item->letter.replayable) {
        err = ss_err_set(SS_ERR_INVALID, replay->errstr, sizeof(replay->errstr),
                         "not replayable: %s", item->letter.verdict);
    }
    if (err == SS_OK) {
        err = replay_claim(replay, item);
    }
    if (err != SS_OK) {
        return err;
    }
    ss_err_t produced = replay_produce(replay, item);
    char reason[512];
    snprintf(reason, sizeof(reason), "%s", replay->errstr);
    replay_settle(replay, item);
    if (produced != SS_OK) {
        return ss_err_set(produced, replay->errstr, sizeof(replay->errstr), "%s: %s", reason,
                          replay->delivery.persistence == SS_KAFKA_NOT_PERSISTED
                              ? "it never reached the log, the replay may be retried"
                              : "it may have reached the log and may apply once; it will not be"
                                " replayed again");
    }
    return SS_OK;
}

static ss_err_t replay_open(replay_t *replay)
{
    ss_admin_t *admin = replay->admin;
    char timeout[24];
    snprintf(timeout, sizeof(timeout), "%lld", admin->config.timeout_ms);
    const ss_kafka_property_t properties[] = {{"message.timeout.ms", timeout}};
    ss_kafka_producer_config_t config = {
        .bootstrap = admin->config.kafka_bootstrap,
        .client_id = "ss-admin",
        .on_delivery = replay_on_delivery,
        .opaque = replay,
        .properties = properties,
        .property_count = 1,
    };
    ss_err_t err = ss_admin_registry(admin, replay->errstr, sizeof(replay->errstr));
    if (err == SS_OK) {
        err = ss_admin_pg(admin, replay->errstr, sizeof(replay->errstr));
    }
    if (err == SS_OK) {
        err = ss_kafka_producer_new(&config, &replay->producer, replay->errstr,
                                    sizeof(replay->errstr));
    }
    return err;
}

int ss_admin_dlq_replay_run(ss_admin_t *admin)
{
    replay_t replay = {.admin = admin};
    replay.dlq_partition = admin->config.partition < 0 ? 0 : (int32_t)admin->config.partition;
    int64_t offsets[SS_ADMIN_ARGS_MAX];
    for (size_t i = 0; i < admin->arg_count; i++) {
        if (ss_admin_offset_parse(admin->args[i], &offsets[i], replay.errstr,
                                  sizeof(replay.errstr)) != SS_OK) {
            ss_admin_note("dlq replay: %s", replay.errstr);
            return SS_ADMIN_EXIT_USAGE;
        }
    }
    if (replay_open(&replay) != SS_OK) {
        ss_admin_note("dlq replay: %s", replay.errstr);
        ss_kafka_producer_destroy(replay.producer);
        return SS_ADMIN_EXIT_USAGE;
    }
    size_t done = 0, refused = 0;
    for (size_t i = 0; i < admin->arg_count && !*admin->stop; i++) {
        replay_item_t item = {0};
        if (replay_one(&replay, offsets[i], &item) == SS_OK) {
            done++;
            printf("replayed %s/%" PRId32 "/%" PRId64 " to %s/%" PRId32 "/%" PRId64
                   " request_id=%s\n",
                   SS_TOPIC_DLQ, replay.dlq_partition, offsets[i], item.letter.source_topic,
                   replay.delivery.partition, replay.delivery.offset,
                   item.letter.request_id[0] != '\0' ? item.letter.request_id : "-");
        } else {
            refused++;
            printf("refused  %s/%" PRId32 "/%" PRId64 ": %s\n", SS_TOPIC_DLQ, replay.dlq_partition,
                   offsets[i], replay.errstr);
        }
        fflush(stdout);
        ss_admin_note("dlq replay: %zu/%zu done (%zu replayed, %zu refused)", i + 1,
                      admin->arg_count, done, refused);
        replay_item_free(&item);
    }
    ss_kafka_producer_destroy(replay.producer);
    return refused == 0 && done == admin->arg_count ? SS_ADMIN_EXIT_OK : SS_ADMIN_EXIT_PROBLEM;
}

/*
 * ss-admin dlq list: every dead letter retained in ss.dlq, one line each (partition/offset,
 * source, schema, request id, replay state, reason), and for one that cannot be replayed a
 * second line saying why. --last N lists only the newest N of each partition. The replay state
 * comes from dlq_replays (migration 010); without that table nothing has been replayed.
 */
#include "admin.h"

#include "ss/topics.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Replayed as itself, or as a copy of it (the same source record at another offset). */
#define DLQ_SQL_REPLAY_STATE                                                                       \
    "SELECT status FROM dlq_replays WHERE (dlq_partition = $1 AND dlq_offset = $2)"                \
    " OR source = $3 LIMIT 1"
#define DLQ_SQLSTATE_UNDEFINED_TABLE "42P01"

typedef struct dlq_list {
    ss_admin_t *admin;
    bool no_table;
    size_t listed, replayable;
    ss_err_t err;
    char errstr[512];
} dlq_list_t;

#define DLQ_SQL_ANSWER "SELECT http_status, body FROM request_results WHERE request_id = $1"

/* Whether the request already has an answer other than the dead-letter one (it was applied). */
static bool request_answered(dlq_list_t *list, const char *request_id)
{
    const char *params[] = {request_id};
    PGresult *result = NULL;
    ss_err_t err = ss_pg_query(list->admin->pg, NULL, DLQ_SQL_ANSWER, 1, params, &result,
                               list->errstr, sizeof(list->errstr));
    if (err != SS_OK) {
        list->err = err;
        return false;
    }
    bool answered =
        PQntuples(result) == 1 &&
        !ss_admin_is_dead_letter_answer(atoi(PQgetvalue(result, 0, 0)), PQgetvalue(result, 0, 1));
    PQclear(result);
    return answered;
}

/*
 * "replayable", "replayed" / "replay-unknown" (from dlq_replays: this dead letter or a copy of it
 * with the same source record was replayed), "answered" (replayable as a record, but its request
 * already has an answer: a replay is refused), or "no".
 */
static const char *replay_state(dlq_list_t *list, const ss_kafka_message_t *message,
                                const ss_admin_dead_letter_t *letter, char *state,
                                size_t state_size)
{
    bool replayable = letter->replayable;
    snprintf(state, state_size, "%s", replayable ? "replayable" : "no");
    if (list->no_table) {
        return state;
    }
    char partition[16], offset[24];
    snprintf(partition, sizeof(partition), "%" PRId32, message->partition);
    snprintf(offset, sizeof(offset), "%" PRId64, message->offset);
    const char *params[] = {partition, offset, letter->source};
    PGresult *result = NULL;
    ss_err_t err = ss_pg_query(list->admin->pg, NULL, DLQ_SQL_REPLAY_STATE, 3, params, &result,
                               list->errstr, sizeof(list->errstr));
    if (err != SS_OK) {
        if (strcmp(ss_pg_last_sqlstate(list->admin->pg), DLQ_SQLSTATE_UNDEFINED_TABLE) == 0) {
            list->no_table = true;
        } else {
            list->err = err;
        }
        return state;
    }
    if (PQntuples(result) == 1) {
        const char *status = PQgetvalue(result, 0, 0);
        snprintf(state, state_size, "%s",
                 strcmp(status, "produced") == 0 ? "replayed" : "replay-unknown");
    } else if (replayable && letter->request_id[0] != '\0' &&
               request_answered(list, letter->request_id)) {
        snprintf(state, state_size, "answered");
    }
    PQclear(result);
    return state;
}

static bool dlq_list_one(void *opaque, const ss_kafka_message_t *message)
{
    dlq_list_t *list = opaque;
    ss_kafka_header_t headers[SS_ADMIN_HEADERS_MAX];
    ss_admin_record_t record;
    ss_admin_dead_letter_t letter;
    char state[32], where[48];
    ss_admin_record_view(message, headers, &record);
    ss_admin_dead_letter_read(list->admin->registry, &record, &letter);
    replay_state(list, message, &letter, state, sizeof(state));
    snprintf(where, sizeof(where), "%" PRId32 "/%" PRId64, message->partition, message->offset);
    printf("%-10s %-24s %-18s %-28s %-14s %s\n", where,
           letter.source[0] != '\0' ? letter.source : "-",
           letter.schema != NULL ? letter.schema : "-",
           letter.request_id[0] != '\0' ? letter.request_id : "-", state,
           letter.reason[0] != '\0' ? letter.reason : "-");
    if (!letter.replayable) {
        printf("%-10s not replayable: %s\n", "", letter.verdict);
    }
    list->listed++;
    list->replayable += letter.replayable && strcmp(state, "replayable") == 0;
    if (list->listed % SS_ADMIN_PROGRESS_EVERY == 0) {
        fflush(stdout);
        ss_admin_note("dlq list: %zu dead letters", list->listed);
    }
    return list->err == SS_OK;
}

int ss_admin_dlq_list_run(ss_admin_t *admin)
{
    dlq_list_t list = {.admin = admin};
    int32_t partitions = 0;
    ss_err_t err = ss_admin_registry(admin, list.errstr, sizeof(list.errstr));
    if (err == SS_OK) {
        err = ss_admin_pg(admin, list.errstr, sizeof(list.errstr));
    }
    if (err == SS_OK) {
        err = ss_kafka_topic_partition_count(admin->config.kafka_bootstrap, SS_TOPIC_DLQ,
                                             &partitions, (int)admin->config.timeout_ms,
                                             list.errstr, sizeof(list.errstr));
    }
    if (err == SS_OK) {
        printf("%-10s %-24s %-18s %-28s %-14s %s\n", "OFFSET", "SOURCE", "SCHEMA", "REQUEST_ID",
               "REPLAY", "REASON");
    }
    for (int32_t p = 0; err == SS_OK && p < partitions && !*admin->stop; p++) {
        int64_t low = 0, high = 0;
        err = ss_admin_watermarks(admin, SS_TOPIC_DLQ, p, &low, &high, list.errstr,
                                  sizeof(list.errstr));
        long long last = admin->config.last;
        int64_t from = last > 0 && high - last > low ? high - last : low;
        if (err == SS_OK) {
            err = ss_admin_read_range(admin, SS_TOPIC_DLQ, p, from, high, dlq_list_one, &list,
                                      list.errstr, sizeof(list.errstr));
        }
        if (err == SS_OK) {
            err = list.err;
        }
    }
    if (err != SS_OK) {
        ss_admin_note("dlq list: %s", list.errstr);
        return SS_ADMIN_EXIT_USAGE;
    }
    ss_admin_note("dlq list: %zu dead letters, %zu replayable and not replayed yet%s", list.listed,
                  list.replayable,
                  list.no_table ? " (no dlq_replays table: migration 010 not applied)" : "");
    return SS_ADMIN_EXIT_OK;
}

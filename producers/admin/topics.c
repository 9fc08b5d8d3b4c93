/*
 * ss-admin topics: every topic of topics.tsv with its declared, live (broker) and recorded
 * (topic_partitions, migration 007; command topics only) partition counts. A topic whose live
 * or recorded count differs from the declaration, or that does not exist, is flagged and makes
 * the exit status 1. A database without topic_partitions is reported, not an error.
 */
#include "admin.h"

#include <inttypes.h>
#include <string.h>

#define TOPICS_RECORDED_NONE (-1)
#define TOPICS_RECORDED_NO_TABLE (-2)
#define TOPICS_SQL_RECORDED "SELECT partitions FROM topic_partitions WHERE topic = $1"
#define TOPICS_SQLSTATE_UNDEFINED_TABLE "42P01"

/* The recorded count, TOPICS_RECORDED_NONE without a row, _NO_TABLE without the table. */
static ss_err_t recorded_count(ss_admin_t *admin, const char *topic, int32_t *count_out,
                               char *errstr, size_t errstr_size)
{
    const char *params[] = {topic};
    PGresult *result = NULL;
    ss_err_t err =
        ss_pg_query(admin->pg, NULL, TOPICS_SQL_RECORDED, 1, params, &result, errstr, errstr_size);
    if (err != SS_OK) {
        if (strcmp(ss_pg_last_sqlstate(admin->pg), TOPICS_SQLSTATE_UNDEFINED_TABLE) == 0) {
            *count_out = TOPICS_RECORDED_NO_TABLE;
            return SS_OK;
        }
        return err;
    }
    *count_out = TOPICS_RECORDED_NONE;
    if (PQntuples(result) == 1) {
        err = ss_pg_get_int32(result, 0, 0, count_out, errstr, errstr_size);
    }
    PQclear(result);
    return err;
}

/* Prints one topic's line; returns whether it is fine. */
static bool topic_report(const ss_admin_topic_t *topic, ss_err_t live_err, int32_t live,
                         int32_t recorded, const char *live_error)
{
    char live_text[24], recorded_text[24];
    const char *status = "ok";
    if (live_err == SS_OK) {
        snprintf(live_text, sizeof(live_text), "%" PRId32, live);
    } else {
        snprintf(live_text, sizeof(live_text), "%s",
                 live_err == SS_ERR_NOT_FOUND ? "missing" : "unknown");
    }
    if (recorded >= 0) {
        snprintf(recorded_text, sizeof(recorded_text), "%" PRId32, recorded);
    } else {
        snprintf(recorded_text, sizeof(recorded_text), "%s",
                 recorded == TOPICS_RECORDED_NO_TABLE ? "no-table" : "-");
    }
    if (live_err == SS_ERR_NOT_FOUND) {
        status = "MISSING";
    } else if (live_err != SS_OK) {
        status = "UNKNOWN";
    } else if (live != topic->partitions) {
        status = "MISMATCH live";
    } else if (recorded >= 0 && recorded != topic->partitions) {
        status = "MISMATCH recorded";
    }
    printf("%-18s %8" PRId32 " %8s %9s  %s", topic->name, topic->partitions, live_text,
           recorded_text, status);
    if (live_err != SS_OK && live_err != SS_ERR_NOT_FOUND) {
        printf(" (%s)", live_error);
    }
    putchar('\n');
    return strcmp(status, "ok") == 0;
}

int ss_admin_topics_run(ss_admin_t *admin)
{
    char errstr[512];
    ss_admin_topic_t topics[SS_ADMIN_TOPICS_MAX];
    size_t count = 0;
    if (ss_admin_topics_load(admin->config.topics_file, topics, SS_ADMIN_TOPICS_MAX, &count, errstr,
                             sizeof(errstr)) != SS_OK ||
        ss_admin_pg(admin, errstr, sizeof(errstr)) != SS_OK) {
        ss_admin_note("%s", errstr);
        return SS_ADMIN_EXIT_USAGE;
    }
    printf("%-18s %8s %8s %9s  %s\n", "TOPIC", "DECLARED", "LIVE", "RECORDED", "STATUS");
    bool all_ok = true, no_table = false;
    for (size_t i = 0; i < count; i++) {
        int32_t live = 0, recorded = TOPICS_RECORDED_NONE;
        char live_error[512] = "";
        ss_err_t live_err = ss_kafka_topic_partition_count(
            admin->config.kafka_bootstrap, topics[i].name, &live, (int)admin->config.timeout_ms,
            live_error, sizeof(live_error));
        if (recorded_count(admin, topics[i].name, &recorded, errstr, sizeof(errstr)) != SS_OK) {
            ss_admin_note("%s", errstr);
            return SS_ADMIN_EXIT_USAGE;
        }
        no_table = no_table || recorded == TOPICS_RECORDED_NO_TABLE;
        all_ok = topic_report(&topics[i], live_err, live, recorded, live_error) && all_ok;
    }
    if (no_table) {
        ss_admin_note("this database has no topic_partitions table (migration 007): recorded"
                      " counts are not checked");
    }
    if (!all_ok) {
        ss_admin_note("some topics differ from %s", admin->config.topics_file);
    }
    return all_ok ? SS_ADMIN_EXIT_OK : SS_ADMIN_EXIT_PROBLEM;
}

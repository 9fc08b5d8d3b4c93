/*
 * ss-admin outbox and lag, read-only views of what the workers own:
 * - outbox: rows per source (consumer_group/topic/partition) and the age of the oldest, i.e.
 *   events and results committed but not yet acknowledged by the broker;
 * - lag: per worker group and partition the next offset stored in partition_state (or, for the
 *   rank worker, in Redis ss:rank:order-offset:<partition>), the log end offset and their
 *   difference. A stored offset past the log end is flagged (ss_topology_offset_check): the
 *   worker halts on it.
 */
#include "admin.h"

#include "ss/rank.h"
#include "ss/topics.h"
#include "ss/topology.h"

#include <inttypes.h>
#include <string.h>

#define STATUS_SQL_OUTBOX                                                                          \
    "SELECT source, count(*), (extract(epoch FROM now() - min(created_at)) * 1000)::bigint"        \
    " FROM outbox GROUP BY source ORDER BY source"
#define STATUS_SQL_STATE                                                                           \
    "SELECT consumer_group, topic, partition, next_offset FROM partition_state"                    \
    " ORDER BY consumer_group, topic, partition"

int ss_admin_outbox_run(ss_admin_t *admin)
{
    char errstr[512];
    PGresult *result = NULL;
    ss_err_t err = ss_admin_pg(admin, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = ss_pg_query(admin->pg, NULL, STATUS_SQL_OUTBOX, 0, NULL, &result, errstr,
                          sizeof(errstr));
    }
    if (err != SS_OK) {
        ss_admin_note("outbox: %s", errstr);
        return SS_ADMIN_EXIT_USAGE;
    }
    printf("%-40s %10s %14s\n", "SOURCE", "ROWS", "OLDEST_AGE_MS");
    int64_t total = 0;
    for (int row = 0; row < PQntuples(result); row++) {
        int64_t rows = 0, age_ms = 0;
        if (ss_pg_get_int64(result, row, 1, &rows, errstr, sizeof(errstr)) != SS_OK ||
            ss_pg_get_int64(result, row, 2, &age_ms, errstr, sizeof(errstr)) != SS_OK) {
            ss_admin_note("outbox: %s", errstr);
            PQclear(result);
            return SS_ADMIN_EXIT_USAGE;
        }
        printf("%-40s %10" PRId64 " %14" PRId64 "\n", PQgetvalue(result, row, 0), rows, age_ms);
        total += rows;
    }
    ss_admin_note("outbox: %" PRId64 " rows in %d sources", total, PQntuples(result));
    PQclear(result);
    return SS_ADMIN_EXIT_OK;
}

/* Prints one partition's line; returns false when its stored offset is past the log end. */
static bool lag_line(ss_admin_t *admin, const char *group, const char *topic, int32_t partition,
                     int64_t next_offset, bool *failed)
{
    char errstr[512], stored[24] = "-", end[24] = "?", lag[24] = "?";
    int64_t low = 0, high = 0;
    const char *note = "";
    bool fits = true;
    if (next_offset >= 0) {
        snprintf(stored, sizeof(stored), "%" PRId64, next_offset);
    }
    if (ss_admin_watermarks(admin, topic, partition, &low, &high, errstr, sizeof(errstr)) !=
        SS_OK) {
        note = errstr;
        *failed = true;
    } else {
        snprintf(end, sizeof(end), "%" PRId64, high);
        int64_t from = next_offset >= 0 ? next_offset : low;
        snprintf(lag, sizeof(lag), "%" PRId64, high - from);
        if (next_offset >= 0 &&
            ss_topology_offset_check(topic, partition, next_offset, low, high, errstr,
                                     sizeof(errstr)) == SS_ERR_CONFLICT) {
            fits = false;
            snprintf(lag, sizeof(lag), "AHEAD");
            note = errstr;
        }
    }
    printf("%-22s %-18s %9" PRId32 " %12s %12s %10s%s%s\n", group, topic, partition, stored, end,
           lag, note[0] != '\0' ? "  " : "", note);
    return fits;
}

/* The rank worker's offsets, one per partition of its topic, from Redis. */
static ss_err_t lag_rank(ss_admin_t *admin, bool *all_fit, bool *failed, char *errstr,
                         size_t errstr_size)
{
    int32_t partitions = 0;
    ss_err_t err = ss_admin_redis(admin, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_kafka_topic_partition_count(admin->config.kafka_bootstrap, SS_TOPIC_EVENTS_ORDER,
                                             &partitions, (int)admin->config.timeout_ms, errstr,
                                             errstr_size);
    }
    for (int32_t p = 0; err == SS_OK && p < partitions; p++) {
        int64_t offset = SS_RANK_OFFSET_NONE;
        err = ss_rank_offset_read(admin->redis, p, &offset, errstr, errstr_size);
        if (err == SS_OK) {
            *all_fit = lag_line(admin, admin->config.rank_group, SS_TOPIC_EVENTS_ORDER, p,
                                offset == SS_RANK_OFFSET_NONE ? -1 : offset, failed) &&
                       *all_fit;
        }
    }
    return err;
}

int ss_admin_lag_run(ss_admin_t *admin)
{
    char errstr[512];
    PGresult *result = NULL;
    ss_err_t err = ss_admin_pg(admin, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = ss_pg_query(admin->pg, NULL, STATUS_SQL_STATE, 0, NULL, &result, errstr,
                          sizeof(errstr));
    }
    bool all_fit = true, failed = false;
    if (err == SS_OK) {
        printf("%-22s %-18s %9s %12s %12s %10s\n", "GROUP", "TOPIC", "PARTITION", "NEXT_OFFSET",
               "LOG_END", "LAG");
    }
    for (int row = 0; err == SS_OK && row < PQntuples(result); row++) {
        int32_t partition = 0;
        int64_t next_offset = 0;
        err = ss_pg_get_int32(result, row, 2, &partition, errstr, sizeof(errstr));
        if (err == SS_OK) {
            err = ss_pg_get_int64(result, row, 3, &next_offset, errstr, sizeof(errstr));
        }
        if (err == SS_OK) {
            all_fit = lag_line(admin, PQgetvalue(result, row, 0), PQgetvalue(result, row, 1),
                               partition, next_offset, &failed) &&
                      all_fit;
        }
    }
    PQclear(result);
    if (err == SS_OK) {
        err = lag_rank(admin, &all_fit, &failed, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        ss_admin_note("lag: %s", errstr);
        return SS_ADMIN_EXIT_USAGE;
    }
    if (!all_fit) {
        ss_admin_note("lag: a stored offset is past its log end; its worker halts until it is"
                      " reset (docs/architecture.md, Kafka topology guards)");
    }
    return all_fit && !failed ? SS_ADMIN_EXIT_OK : SS_ADMIN_EXIT_PROBLEM;
}

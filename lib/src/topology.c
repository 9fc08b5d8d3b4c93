/* Topology guards (see ss/topology.h). */
#include "ss/topology.h"

#include "ss/kafka.h"
#include "ss/topics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define SQL_PARTITIONS_RECORD                                                                      \
    "INSERT INTO topic_partitions (topic, partitions) VALUES ($1, $2::int)"                        \
    " ON CONFLICT (topic) DO NOTHING"
#define SQL_PARTITIONS_READ "SELECT partitions FROM topic_partitions WHERE topic = $1"

ss_err_t ss_topology_partitions_check(ss_pg_t *pg, const char *bootstrap, const char *topic,
                                      int timeout_ms, char *errstr, size_t errstr_size)
{
    int32_t live = 0;
    ss_err_t err =
        ss_kafka_topic_partition_count(bootstrap, topic, &live, timeout_ms, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    char count[16];
    snprintf(count, sizeof(count), "%" PRId32, live);
    const char *params[] = {topic, count};
    PGresult *rows = NULL;
    err = ss_pg_query(pg, NULL, SQL_PARTITIONS_RECORD, 2, params, NULL, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_query(pg, NULL, SQL_PARTITIONS_READ, 1, params, &rows, errstr, errstr_size);
    }
    int64_t recorded = 0;
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, 0, 0, &recorded, errstr, errstr_size);
    }
    PQclear(rows);
    if (err == SS_OK && recorded != live) {
        err = ss_err_set(
            SS_ERR_CONFLICT, errstr, errstr_size,
            "topic %s has %" PRId32 " partitions but this database recorded %" PRId64
            " (topic_partitions): with another count a key's new commands go to another"
            " partition while its old ones still drain, and two workers would write the same"
            " entity. Refusing to start. Restore %" PRId64 " partitions (recreate the topic), or"
            " migrate: stop every ingress, let every worker drain the topic (lag 0), then"
            " UPDATE topic_partitions SET partitions = %" PRId32 " WHERE topic = '%s' and start"
            " again (docs/architecture.md)",
            topic, live, recorded, recorded, live, topic);
    }
    return err;
}

ss_err_t ss_topology_offset_check(const char *topic, int32_t partition, int64_t next_offset,
                                  int64_t low, int64_t high, char *errstr, size_t errstr_size)
{
    if (next_offset > high) {
        return ss_err_set(
            SS_ERR_CONFLICT, errstr, errstr_size,
            "stored offset %" PRId64 " of %s partition %" PRId32 " is past the log's end %" PRId64
            ": the topic was recreated or its log truncated while the offset was kept, so every"
            " new command would be skipped as already applied. Refusing to consume it. If the"
            " topic was recreated on purpose, reset the stored offsets of its partitions to the"
            " new log's start (docs/architecture.md)",
            next_offset, topic, partition, high);
    }
    if (next_offset < low) {
        snprintf(errstr, errstr_size,
                 "stored offset %" PRId64 " of %s partition %" PRId32
                 " is before the log's start %" PRId64
                 ": records in between were removed by retention before they were applied",
                 next_offset, topic, partition, low);
    } else if (errstr_size > 0) {
        errstr[0] = '\0';
    }
    return SS_OK;
}

const char *ss_topology_key_field(const char *topic)
{
    static const struct {
        const char *topic;
        const char *field;
    } fields[] = {{SS_TOPIC_CMD_USER, SS_TOPIC_CMD_USER_KEY_FIELD},
                  {SS_TOPIC_CMD_STOCK, SS_TOPIC_CMD_STOCK_KEY_FIELD},
                  {SS_TOPIC_CMD_COUPON, SS_TOPIC_CMD_COUPON_KEY_FIELD}};
    for (size_t i = 0; topic != NULL && i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(topic, fields[i].topic) == 0) {
            return fields[i].field;
        }
    }
    return NULL;
}

bool ss_topology_key_matches(const json_t *value, const char *field, const char *key, char *reason,
                             size_t reason_size)
{
    const json_t *id = json_object_get(value, field);
    char text[32] = "";
    if (json_is_integer(id)) {
        snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    }
    if (text[0] != '\0' && key != NULL && strcmp(text, key) == 0) {
        return true;
    }
    snprintf(reason, reason_size,
             "record key \"%.64s\" is not its %s (%s): it was routed to the wrong owner",
             key != NULL ? key : "", field, text[0] != '\0' ? text : "missing");
    return false;
}

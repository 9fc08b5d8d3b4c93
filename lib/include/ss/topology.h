/*
 * Guards on the Kafka topology that single-writer-per-key rests on (issue 10, points 9-10).
 *
 * A command topic's partition count is recorded in PostgreSQL (topic_partitions) the first time
 * any worker or ingress meets the topic; afterwards each compares the live count with the
 * recorded one at start and refuses to run when they differ, because a different count sends a
 * key's new commands to a different partition while its old ones still drain.
 *
 * A stored offset ahead of the log's end means the topic was recreated or its log truncated
 * while the offset was kept: every new command would sit below it and be skipped as applied.
 *
 * Stateless: the caller owns the connections.
 */
#ifndef SS_TOPOLOGY_H
#define SS_TOPOLOGY_H

#include "ss/error.h"
#include "ss/pg.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * Reads topic's partition count from bootstrap and checks it against topic_partitions,
 * recording it when no row exists. SS_ERR_CONFLICT when they differ (errstr says both and how
 * to migrate), SS_ERR_RETRIABLE or SS_ERR_TIMEOUT when the broker or database did not answer,
 * SS_ERR_NOT_FOUND when the topic does not exist.
 */
ss_err_t ss_topology_partitions_check(ss_pg_t *pg, const char *bootstrap, const char *topic,
                                      int timeout_ms, char *errstr, size_t errstr_size);

/*
 * Pure: whether next_offset (the first offset not yet applied, from PostgreSQL or Redis) fits
 * the log [low, high) of topic/partition. SS_OK when low <= next_offset <= high or when the log
 * was trimmed by retention past it (next_offset < low: nothing can be replayed, errstr warns);
 * SS_ERR_CONFLICT when next_offset > high, with errstr saying what happened and what to do.
 */
ss_err_t ss_topology_offset_check(const char *topic, int32_t partition, int64_t next_offset,
                                  int64_t low, int64_t high, char *errstr, size_t errstr_size);

/* The field a command topic's record keys must equal (ss/topics.h), or NULL for other topics. */
const char *ss_topology_key_field(const char *topic);

/*
 * Pure: whether the record key is the text of value's integer field (a decoded command). When
 * not, reason says both; a value without the field never matches.
 */
bool ss_topology_key_matches(const json_t *value, const char *field, const char *key, char *reason,
                             size_t reason_size);

#endif

/*
 * Every statement of the worker framework (claim, fence, idempotency, results, outbox), in one
 * place, prepared once per connection by ss_worker_sql_prepare() (worker_batch.c) and re-prepared
 * by ss_pg_reset(). Parameters are text; arrays are PostgreSQL array literals.
 */
#ifndef SS_WORKER_SQL_H
#define SS_WORKER_SQL_H

/* Bumps the epoch (fencing the previous owner) and reads where to start. */
#define SS_WORKER_SQL_CLAIM                                                                        \
    "INSERT INTO partition_state (consumer_group, topic, partition, next_offset, epoch)"           \
    " VALUES ($1, $2, $3, 0, 1) ON CONFLICT (consumer_group, topic, partition)"                    \
    " DO UPDATE SET epoch = partition_state.epoch + 1 RETURNING next_offset, epoch,"               \
    " (SELECT coalesce(max(id), 0) FROM outbox WHERE source = $4)"
/* Where a partition starts, read without waiting for any lock (the claim comes later). */
#define SS_WORKER_SQL_STATE                                                                        \
    "SELECT next_offset, epoch FROM partition_state WHERE consumer_group = $1 AND topic = $2"      \
    " AND partition = $3"
/* The first statement of every batch: holds the partition row's lock for the transaction. */
#define SS_WORKER_SQL_FENCE                                                                        \
    "UPDATE partition_state SET next_offset = $6 WHERE consumer_group = $1 AND topic = $2"         \
    " AND partition = $3 AND epoch = $4 AND next_offset = $5"
/*
 * The fence of a batch of several partitions: $3-$6 are each partition, its epoch, the offset
 * the batch expects and the one it moves to. Every partition must match (the count says).
 */
#define SS_WORKER_SQL_FENCE_MANY                                                                   \
    "UPDATE partition_state ps SET next_offset = f.n FROM unnest($3::int[], $4::bigint[],"         \
    " $5::bigint[], $6::bigint[]) AS f(p, e, x, n) WHERE ps.consumer_group = $1 AND ps.topic = $2" \
    " AND ps.partition = f.p AND ps.epoch = f.e AND ps.next_offset = f.x"
#define SS_WORKER_SQL_IDEMPOTENCY_LOOKUP                                                           \
    "SELECT ik.scope, ik.key, ik.body_hash, rr.http_status, rr.body, ik.request_id"                \
    " FROM unnest($1::text[], $2::text[]) AS q(scope, key)"                                        \
    " JOIN idempotency_keys ik ON ik.scope = q.scope AND ik.key = q.key"                           \
    " LEFT JOIN request_results rr ON rr.request_id = ik.request_id"
#define SS_WORKER_SQL_IDEMPOTENCY_INSERT                                                           \
    "INSERT INTO idempotency_keys (scope, key, body_hash, request_id)"                             \
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
#define SS_WORKER_SQL_RESULTS_INSERT                                                               \
    "INSERT INTO request_results (request_id, http_status, body)"                                  \
    " SELECT * FROM unnest($1::text[], $2::int[], $3::text[]) ON CONFLICT (request_id) DO NOTHING"
/*
 * A batch's records stored as one row per (source, destination): $1..$5 are each row's source,
 * topic, partition and the bounds [lo, hi] of its slice of the flat record arrays $6..$8 (keys,
 * values, headers), which list the records row after row, each row's in the order emitted.
 * Slicing costs a third less per batch than unnesting every record and aggregating it back by
 * row (docs/performance.md, "The outbox insert"). Rows are inserted in the order given and their
 * ids come from one sequence, so the sorted ids are the rows' ids in order.
 */
#define SS_WORKER_SQL_OUTBOX_INSERT                                                                \
    "WITH inserted AS (INSERT INTO outbox (source, topic, partition, record_keys, record_values,"  \
    " record_headers) SELECT r.s, r.t, r.p, ($6::bytea[])[r.lo:r.hi], ($7::bytea[])[r.lo:r.hi],"   \
    " ($8::jsonb[])[r.lo:r.hi]"                                                                    \
    " FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::int[])"                        \
    " WITH ORDINALITY AS r(s, t, p, lo, hi, n) ORDER BY r.n RETURNING id)"                         \
    " SELECT array_agg(id ORDER BY id)::text FROM inserted"
/* Acknowledged rows only, per source (a, u]; the lower bound keeps the scan off deleted rows. */
#define SS_WORKER_SQL_OUTBOX_DELETE                                                                \
    "DELETE FROM outbox o USING unnest($1::text[], $2::bigint[], $3::bigint[]) AS d(s, a, u)"      \
    " WHERE o.source = d.s AND o.id > d.a AND o.id <= d.u"
/* The next stored rows of a source after $2 ($3 rows at most), one result row per record. */
#define SS_WORKER_SQL_OUTBOX_PENDING                                                               \
    "SELECT o.id, o.topic, o.partition, r.k, r.v, r.h, r.n - 1, cardinality(o.record_values)"      \
    " FROM (SELECT * FROM outbox WHERE source = $1 AND id > $2 ORDER BY id LIMIT $3) o"            \
    " CROSS JOIN LATERAL unnest(o.record_keys, o.record_values, o.record_headers)"                 \
    " WITH ORDINALITY AS r(k, v, h, n) ORDER BY o.id, r.n"
/* What a reference to a record that cannot be produced says about it ($2: its place, 1-based). */
#define SS_WORKER_SQL_OUTBOX_ROW                                                                   \
    "SELECT topic, partition, record_keys[$2], length(record_values[$2]), record_headers[$2]"      \
    " FROM outbox WHERE id = $1"
/*
 * Retention (worker_retention.c): $1 the retention in seconds, $2 the most rows to delete.
 * Oldest first through the created_at indexes (008_retention.sql); SKIP LOCKED lets several
 * workers prune at once without waiting on one another. The rows are insert-only, so the ctids
 * the subquery locked are the rows deleted (a TID scan, whatever the table's size).
 */
#define SS_WORKER_SQL_KEYS_PRUNE                                                                   \
    "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM idempotency_keys"        \
    " WHERE created_at < now() - $1::bigint * interval '1 second' ORDER BY created_at LIMIT"       \
    " $2::bigint FOR UPDATE SKIP LOCKED))"
/*
 * A result is never pruned while a key that may point at it remains: a key's result is written
 * with the key or later, so a result older than the oldest key has no key left.
 */
#define SS_WORKER_SQL_RESULTS_PRUNE                                                                \
    "DELETE FROM request_results WHERE ctid = ANY(ARRAY(SELECT ctid FROM request_results"          \
    " WHERE created_at < least(now() - $1::bigint * interval '1 second',"                          \
    " (SELECT min(created_at) FROM idempotency_keys)) ORDER BY created_at LIMIT $2::bigint"        \
    " FOR UPDATE SKIP LOCKED))"

/* The outbox gauges: rows stored for the given sources, and the age of the oldest in seconds. */
#define SS_WORKER_SQL_OUTBOX_GAUGE                                                                 \
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8"            \
    " FROM outbox WHERE source = ANY($1::text[])"

#endif

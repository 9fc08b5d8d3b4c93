/*
 * Kafka for shopstream, over librdkafka: an idempotent producer that places keys exactly as
 * Java clients do (murmur2), a consumer whose partitions start at offsets the application
 * chooses (so offsets can live in PostgreSQL next to the data they describe), a consumer of
 * one manually assigned partition (the ingress reading its share of ss.results), and small
 * admin helpers (partition count, idempotent topic creation, reachability).
 *
 * Errors map librdkafka's codes onto ss_err_t: transient broker or network trouble is
 * SS_ERR_RETRIABLE, an expired deadline SS_ERR_TIMEOUT, an unknown topic or partition
 * SS_ERR_NOT_FOUND, bad configuration or arguments SS_ERR_INVALID, and anything that makes the
 * handle unusable (a fatal idempotent-producer error, a failed assignment hook) SS_ERR_FATAL.
 * errstr receives a PostgreSQL-style message with librdkafka's own text as the cause.
 *
 * librdkafka's log lines are forwarded to ss/log.h (component "rdkafka"); nothing else prints.
 */
#ifndef SS_KAFKA_H
#define SS_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ss/error.h"

/* Let the partitioner choose from the key (murmur2, Java-compatible). */
#define SS_KAFKA_PARTITION_BY_KEY (-1)

/*
 * Logical start offsets an on_assign hook (or new_assigned, or seek) may use instead of an
 * absolute offset. The values are librdkafka's.
 */
#define SS_KAFKA_OFFSET_BEGINNING (-2) /* the oldest retained record */
#define SS_KAFKA_OFFSET_END (-1)       /* only records produced from now on */
/* The group's committed offset, or auto.offset.reset (earliest) when there is none. */
#define SS_KAFKA_OFFSET_COMMITTED (-1000)

/* Bounds on what the config structs may carry. */
#define SS_KAFKA_PROPERTIES_MAX 64
#define SS_KAFKA_TOPICS_MAX 32
#define SS_KAFKA_HEADERS_MAX 32
/* Partitions of one topic in one ss_kafka_consumer_commit_async() call. */
#define SS_KAFKA_PARTITIONS_MAX 1024

/* How long _destroy() of a producer waits for outstanding deliveries before purging them. */
#define SS_KAFKA_PRODUCER_DESTROY_FLUSH_MS 10000
/* How long ss_kafka_consumer_close() waits to leave the group. */
#define SS_KAFKA_CONSUMER_CLOSE_MS 10000

/* An extra librdkafka property, e.g. {"message.timeout.ms", "30000"}. Both strings borrowed. */
typedef struct ss_kafka_property {
    const char *name;
    const char *value;
} ss_kafka_property_t;

/* A record header. On send everything is copied; value may be NULL (a null header value). */
typedef struct ss_kafka_header {
    const char *name;
    const void *value;
    size_t value_length;
} ss_kafka_header_t;

/* ------------------------------------------------------------------------------------------ */
/* Producer                                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct ss_kafka_producer ss_kafka_producer_t;

/* Whether a record that failed delivery may still be in the log (librdkafka's message status). */
typedef enum ss_kafka_persistence {
    SS_KAFKA_PERSISTED = 0,      /* acknowledged by the broker */
    SS_KAFKA_POSSIBLY_PERSISTED, /* sent, outcome unknown (e.g. timed out waiting for the ack) */
    SS_KAFKA_NOT_PERSISTED,      /* certainly never written: it can never be consumed */
} ss_kafka_persistence_t;

/* What one delivery report says; valid only during the callback. */
typedef struct ss_kafka_delivery {
    ss_err_t result;        /* SS_OK when the broker acknowledged the record (acks=all) */
    const char *error_text; /* NULL on success, else why */
    ss_kafka_persistence_t persistence;
    int32_t partition; /* where it landed; -1 may be given on failure */
    int64_t offset;
} ss_kafka_delivery_t;

/*
 * Called once per message sent, from ss_kafka_producer_poll() or ss_kafka_producer_flush() (or
 * _destroy()), on the thread that called them, with what became of it. On failure, result is
 * e.g. SS_ERR_TIMEOUT when message.timeout.ms expired, SS_ERR_NOT_FOUND for a topic that does
 * not exist, SS_ERR_FATAL after a fatal idempotence error, and persistence says whether the
 * record may still be in the log. message_opaque is what was given to send.
 */
typedef void (*ss_kafka_delivery_fn)(void *opaque, void *message_opaque,
                                     const ss_kafka_delivery_t *delivery);

typedef struct ss_kafka_producer_config {
    const char *bootstrap;            /* required, "host:port[,host:port]" */
    const char *client_id;            /* optional, default "shopstream" */
    int linger_ms;                    /* used as given (0 sends at once); range 0..900000 */
    int batch_size_bytes;             /* 0 keeps librdkafka's default (1000000) */
    ss_kafka_delivery_fn on_delivery; /* optional */
    void *opaque;                     /* passed to on_delivery */
    /*
     * Extra librdkafka properties, applied after the defaults below and before the
     * guarantees, so they can change compression.type or message.timeout.ms but never
     * enable.idempotence=true, acks=all or partitioner=murmur2_random.
     * Defaults: compression.type=lz4, allow.auto.create.topics=false.
     */
    const ss_kafka_property_t *properties;
    size_t property_count; /* at most SS_KAFKA_PROPERTIES_MAX */
} ss_kafka_producer_config_t;

/*
 * Creates an idempotent producer (enable.idempotence=true, acks=all, murmur2_random
 * partitioner, lz4). The config is copied. Caller frees with ss_kafka_producer_destroy().
 * SS_ERR_INVALID for a missing bootstrap or a property librdkafka refuses (named in errstr).
 * Does not contact the broker; see ss_kafka_producer_ping().
 */
ss_err_t ss_kafka_producer_new(const ss_kafka_producer_config_t *config, ss_kafka_producer_t **out,
                               char *errstr, size_t errstr_size);

/*
 * Queues one record; thread-safe. partition is a partition number or SS_KAFKA_PARTITION_BY_KEY.
 * key and value (either may be NULL with length 0) and the headers are copied before return.
 * Returns SS_ERR_RETRIABLE when the local queue is full (serve deliveries with
 * ss_kafka_producer_poll() and send again), SS_ERR_NOT_FOUND for a topic already known not to
 * exist (a topic not yet known fails later, in the delivery callback, after
 * topic.metadata.propagation.max.ms), SS_ERR_INVALID for a too large record, too many headers
 * or a partition the topic does not have (also in the delivery callback when the partition
 * turns out missing later), SS_ERR_FATAL once the producer has raised a fatal error (recreate
 * it).
 * On success exactly one delivery callback follows; on failure none.
 */
ss_err_t ss_kafka_producer_send(ss_kafka_producer_t *producer, const char *topic, int32_t partition,
                                const void *key, size_t key_length, const void *value,
                                size_t value_length, const ss_kafka_header_t *headers,
                                size_t header_count, void *message_opaque, char *errstr,
                                size_t errstr_size);

/* Serves delivery callbacks for up to timeout_ms; returns how many were served. */
int ss_kafka_producer_poll(ss_kafka_producer_t *producer, int timeout_ms);

/*
 * Waits up to timeout_ms until every queued record has its delivery callback served.
 * SS_ERR_TIMEOUT when some remain (errstr says how many), SS_ERR_FATAL when the producer has
 * raised a fatal error.
 */
ss_err_t ss_kafka_producer_flush(ss_kafka_producer_t *producer, int timeout_ms, char *errstr,
                                 size_t errstr_size);

/*
 * Fault injection for tests: makes the producer raise a fatal error now, exactly as a fatal
 * idempotence error from the broker would (librdkafka's rd_kafka_test_fatal_error).
 */
void ss_kafka_producer_fail_fatally(ss_kafka_producer_t *producer, const char *reason);

/* SS_ERR_FATAL (with librdkafka's cause) once the producer has raised a fatal error. Cheap. */
ss_err_t ss_kafka_producer_check(ss_kafka_producer_t *producer, char *errstr, size_t errstr_size);

/* Records queued or in flight, not yet reported to the delivery callback. */
int ss_kafka_producer_outstanding(ss_kafka_producer_t *producer);

/*
 * Asks the cluster for broker metadata with this producer's connections (for GET /ready).
 * SS_ERR_TIMEOUT or SS_ERR_RETRIABLE when no broker answered in timeout_ms.
 */
ss_err_t ss_kafka_producer_ping(ss_kafka_producer_t *producer, int timeout_ms, char *errstr,
                                size_t errstr_size);

/*
 * Flushes for at most SS_KAFKA_PRODUCER_DESTROY_FLUSH_MS, then purges what is left (its
 * delivery callbacks fire with a failure, so message_opaque memory can be released), then frees.
 * NULL is a no-op.
 */
void ss_kafka_producer_destroy(ss_kafka_producer_t *producer);

/*
 * The partition Java's default partitioner (and librdkafka's murmur2_random) picks for a
 * non-empty key: toPositive(murmur2(key)) % partition_count. Pure, no broker involved.
 * Returns -1 when partition_count <= 0.
 */
int32_t ss_kafka_partition_for_key(const void *key, size_t key_length, int32_t partition_count);

/* Kafka's murmur2 (seed 0x9747b28c) as Java computes it, exposed for tests. */
int32_t ss_kafka_murmur2(const void *key, size_t key_length);

/* ------------------------------------------------------------------------------------------ */
/* Consumer                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* A consumer is used from one thread: its hooks run inside its own calls, on that thread. */
typedef struct ss_kafka_consumer ss_kafka_consumer_t;

/* A partition in an assignment. topic is owned by the consumer and valid during the hook. */
typedef struct ss_kafka_partition {
    const char *topic;
    int32_t partition;
    int64_t offset; /* absolute, or SS_KAFKA_OFFSET_BEGINNING / _END / _COMMITTED */
} ss_kafka_partition_t;

/*
 * Called inside ss_kafka_consumer_poll_batch(), on the consumer's thread, when the group gives
 * this member partitions. Each partition arrives with offset = SS_KAFKA_OFFSET_COMMITTED; the
 * hook SETS each offset (e.g. the next_offset stored in PostgreSQL) and returns SS_OK.
 * If it returns anything else, the partitions are NOT consumed (not from a wrong offset, not at
 * all): poll_batch returns SS_ERR_FATAL with the hook's errstr, and so does every later call.
 * The process is expected to exit; a supervisor restarts it and the group reassigns.
 */
typedef ss_err_t (*ss_kafka_assign_fn)(void *opaque, ss_kafka_partition_t *partitions, size_t count,
                                       char *errstr, size_t errstr_size);

/*
 * Called inside poll_batch (or close) before partitions are taken away. With the default
 * (eager) assignor a rebalance revokes the whole assignment, then assigns anew.
 * Records of a revoked partition that poll_batch had collected but not yet returned are dropped
 * by poll_batch. Records returned by an EARLIER poll_batch call that the caller still holds are
 * stale from this point: ss_kafka_consumer_is_current() says false for them and the caller
 * must drop them (never apply them: another member may already own the partition).
 */
typedef void (*ss_kafka_revoke_fn)(void *opaque, const ss_kafka_partition_t *partitions,
                                   size_t count);

typedef struct ss_kafka_consumer_config {
    const char *bootstrap; /* required */
    const char *group_id;  /* required for ss_kafka_consumer_new(); optional for _new_assigned */
    const char *client_id; /* optional, default "shopstream" */
    const char *const *topics; /* subscription for ss_kafka_consumer_new(); ignored by _assigned */
    size_t topic_count;        /* 1..SS_KAFKA_TOPICS_MAX for ss_kafka_consumer_new() */
    ss_kafka_assign_fn on_assign; /* optional: without it partitions start at COMMITTED */
    ss_kafka_revoke_fn on_revoke; /* optional */
    void *opaque;                 /* passed to both hooks */
    /*
     * After the first record, poll_batch keeps collecting for at most this long while fewer than
     * max_count are in hand; 0 takes only what is already fetched. Range 0..60000.
     */
    int batch_linger_ms;
    /*
     * How the broker answers a fetch: it waits until fetch_min_bytes are ready or
     * fetch_wait_max_ms passed. Larger values mean fewer, fuller fetch requests (less broker CPU
     * per record) for up to fetch_wait_max_ms more latency when traffic is light. 0 keeps
     * librdkafka's default (fetch.min.bytes=1: answer with the first record; wait 500 ms).
     */
    int fetch_min_bytes;
    int fetch_wait_max_ms;
    /*
     * Extra librdkafka properties (e.g. session.timeout.ms, auto.offset.reset). They cannot
     * change enable.auto.commit=false, enable.auto.offset.store=false or
     * isolation.level=read_committed. Defaults: auto.offset.reset=earliest,
     * enable.partition.eof=false.
     */
    const ss_kafka_property_t *properties;
    size_t property_count; /* at most SS_KAFKA_PROPERTIES_MAX */
} ss_kafka_consumer_config_t;

/*
 * Creates a group member subscribed to config->topics. Nothing is assigned until the first
 * poll_batch calls join the group. The config is copied. Caller ends it with
 * ss_kafka_consumer_close() then ss_kafka_consumer_destroy() (destroy alone also closes).
 */
ss_err_t ss_kafka_consumer_new(const ss_kafka_consumer_config_t *config, ss_kafka_consumer_t **out,
                               char *errstr, size_t errstr_size);

/*
 * Creates a consumer of exactly one partition, without group membership (no rebalances, no
 * hooks), starting at start_offset (absolute or SS_KAFKA_OFFSET_*). SS_KAFKA_OFFSET_END is the
 * log end the leader reports before this returns (asked within 5 s), so every record produced
 * after the call is read; when the leader does not answer in time, the end the first fetch
 * finds (logged). config->topics and the hooks are ignored. Used by the ingress for its
 * partition of ss.results.
 */
ss_err_t ss_kafka_consumer_new_assigned(const ss_kafka_consumer_config_t *config, const char *topic,
                                        int32_t partition, int64_t start_offset,
                                        ss_kafka_consumer_t **out, char *errstr,
                                        size_t errstr_size);

/* A consumed record. Every field is read-only and valid until ss_kafka_message_release(). */
typedef struct ss_kafka_message {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /* NULL when the record has no key */
    size_t key_length;
    const void *value; /* NULL for a tombstone */
    size_t value_length;
    int64_t timestamp_ms; /* -1 when the record has none */
    /* The partition's assignment generation when fetched; see ss_kafka_consumer_is_current. */
    uint64_t generation;
    void *internal; /* librdkafka's message; do not touch */
} ss_kafka_message_t;

/*
 * Returns in messages[0..*count_out) up to max_count records; the caller releases each with
 * ss_kafka_message_release(). Waits at most timeout_ms for the first record (SS_OK with
 * *count_out == 0 when none came), then keeps collecting while records are already fetched, or
 * for at most config->batch_linger_ms, until max_count. Rebalance hooks run inside this call.
 * Informational events (partition EOF, a broker connection blip librdkafka retries by itself)
 * are not returned. Errors (with *count_out == 0):
 *   SS_ERR_FATAL after a failed on_assign hook or a fatal consumer error, and on every call
 *   after that; SS_ERR_NOT_FOUND for a subscribed or assigned topic/partition that does not
 *   exist; SS_ERR_RETRIABLE for any other consumer error (log it and poll again).
 * An error met after some records were collected is held back: those records are returned
 * with SS_OK and the error comes from the next call. SS_ERR_INVALID for timeout_ms < 0,
 * max_count == 0 or a closed consumer.
 * Records of one partition come in offset order.
 */
ss_err_t ss_kafka_consumer_poll_batch(ss_kafka_consumer_t *consumer, ss_kafka_message_t **messages,
                                      size_t max_count, int timeout_ms, size_t *count_out,
                                      char *errstr, size_t errstr_size);

/*
 * Looks up the last header called name. SS_ERR_NOT_FOUND when absent. *value points into the
 * message (NULL for a null header value) and lives until the message is released.
 */
ss_err_t ss_kafka_message_header(const ss_kafka_message_t *message, const char *name,
                                 const void **value, size_t *length);

/* How many headers the message carries (0 when none). */
size_t ss_kafka_message_header_count(const ss_kafka_message_t *message);

/*
 * The header at index (0..count-1, in record order): *name and *value point into the message
 * (value NULL for a null header value) and live until it is released. SS_ERR_NOT_FOUND past the
 * last one.
 */
ss_err_t ss_kafka_message_header_at(const ss_kafka_message_t *message, size_t index,
                                    const char **name, const void **value, size_t *length);

/* Frees the message. NULL is a no-op. */
void ss_kafka_message_release(ss_kafka_message_t *message);

/* Releases messages[0..count) and sets each pointer to NULL. */
void ss_kafka_messages_release(ss_kafka_message_t **messages, size_t count);

/* True while topic/partition is assigned to this consumer. */
bool ss_kafka_consumer_owns(const ss_kafka_consumer_t *consumer, const char *topic,
                            int32_t partition);

/*
 * True when the message's partition is still assigned under the same generation it was fetched
 * in: no revoke, reassign or seek of that partition happened since. A caller holding records
 * across poll_batch calls checks this before applying each partition's records.
 */
bool ss_kafka_consumer_is_current(const ss_kafka_consumer_t *consumer,
                                  const ss_kafka_message_t *message);

/*
 * Moves the fetch position of an assigned partition to offset (absolute or SS_KAFKA_OFFSET_*),
 * e.g. back to the stored offset after a rolled-back batch. Records of that partition already
 * returned become stale (is_current is false); the next poll_batch returns that partition's
 * records from offset on. Works right after assignment too (falls back to re-assigning the
 * partition when librdkafka refuses to seek a partition that is not fetching yet).
 * SS_ERR_NOT_FOUND when the partition is not assigned to this consumer.
 */
ss_err_t ss_kafka_consumer_seek(ss_kafka_consumer_t *consumer, const char *topic, int32_t partition,
                                int64_t offset, char *errstr, size_t errstr_size);

/*
 * Commits next_offset (the offset of the next record to read, i.e. last processed + 1) for one
 * partition to the group, synchronously. For consumers that keep offsets in Kafka.
 */
ss_err_t ss_kafka_consumer_commit(ss_kafka_consumer_t *consumer, const char *topic,
                                  int32_t partition, int64_t next_offset, char *errstr,
                                  size_t errstr_size);

/*
 * Commits next_offsets[i] for partitions[i] of topic (count of them, 1..SS_KAFKA_PARTITIONS_MAX)
 * to the group without waiting; the outcome is not reported. For consumers whose offsets live
 * elsewhere and are published to the group only so that Kafka's tools can show the lag.
 */
ss_err_t ss_kafka_consumer_commit_async(ss_kafka_consumer_t *consumer, const char *topic,
                                        const int32_t *partitions, const int64_t *next_offsets,
                                        size_t count, char *errstr, size_t errstr_size);

/*
 * The group's committed next offset of topic/partition into *next_offset_out (-1 when the group
 * has none), asked of the broker within timeout_ms. Works on any consumer with a group id,
 * member or not (ss_kafka_consumer_new_assigned with config->group_id set).
 */
ss_err_t ss_kafka_consumer_committed(ss_kafka_consumer_t *consumer, const char *topic,
                                     int32_t partition, int timeout_ms, int64_t *next_offset_out,
                                     char *errstr, size_t errstr_size);

/*
 * The watermarks librdkafka last learnt from fetch responses for an assigned partition: no
 * broker round trip, so the loop may ask every round. SS_ERR_NOT_FOUND when none is known yet.
 */
ss_err_t ss_kafka_consumer_watermarks_cached(ss_kafka_consumer_t *consumer, const char *topic,
                                             int32_t partition, int64_t *low_out,
                                             int64_t *high_out);

/*
 * Metrics (ss/metrics.h, the process registry): sets ss_consumer_lag_records{topic,partition}
 * to the cached log end offset minus next_offset (at least 0; nothing while no end is known),
 * and takes a partition the process gave up out of the exposition. Every producer counts its
 * acknowledged records in ss_kafka_produced_records_total{topic} and every consumer poll the
 * records it hands out in ss_kafka_consumed_records_total{topic} by themselves.
 */
void ss_kafka_consumer_lag_report(ss_kafka_consumer_t *consumer, const char *topic,
                                  int32_t partition, int64_t next_offset);
void ss_kafka_consumer_lag_forget(const char *topic, int32_t partition);

/*
 * The log of topic/partition as the leader has it now: the first offset still kept (low) and
 * the offset the next record will get (high). Asked of the broker within timeout_ms.
 */
ss_err_t ss_kafka_consumer_watermarks(ss_kafka_consumer_t *consumer, const char *topic,
                                      int32_t partition, int timeout_ms, int64_t *low_out,
                                      int64_t *high_out, char *errstr, size_t errstr_size);

/*
 * Leaves the group cleanly (on_revoke runs) within SS_KAFKA_CONSUMER_CLOSE_MS. Idempotent.
 * Messages still held stay valid until released. SS_ERR_TIMEOUT when the close did not
 * finish in time (destroy still frees everything).
 */
ss_err_t ss_kafka_consumer_close(ss_kafka_consumer_t *consumer, char *errstr, size_t errstr_size);

/* Closes if not closed, then frees. Release held messages before. NULL is a no-op. */
void ss_kafka_consumer_destroy(ss_kafka_consumer_t *consumer);

/* ------------------------------------------------------------------------------------------ */
/* Admin                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Number of partitions of topic. SS_ERR_NOT_FOUND when the cluster does not know the topic. */
ss_err_t ss_kafka_topic_partition_count(const char *bootstrap, const char *topic,
                                        int32_t *count_out, int timeout_ms, char *errstr,
                                        size_t errstr_size);

/*
 * Creates topic with partitions partitions and the broker's default replication factor.
 * Idempotent: a topic that already exists is SS_OK (its partition count is not checked).
 * Returns once the controller accepted it; metadata may take a moment to show it.
 */
ss_err_t ss_kafka_topic_create(const char *bootstrap, const char *topic, int32_t partitions,
                               int timeout_ms, char *errstr, size_t errstr_size);

/*
 * Whether some broker of bootstrap answers a metadata request within timeout_ms. Makes a client
 * of its own each time: a process that holds a producer or consumer pings with that instead.
 */
ss_err_t ss_kafka_ping(const char *bootstrap, int timeout_ms, char *errstr, size_t errstr_size);

#endif

/*
 * Private state of the worker framework. The files call one another in one direction only:
 *   worker.c (the round's hooks on ss/loop.h, batch retries and poison isolation, ticks)
 *     -> worker_claim.c (claims, assignment and revocation, the topology check, shared helpers)
 *     -> worker_batch.c (one batch transaction: fence, idempotency, handler, dead letters)
 *       -> worker_results.c (the batch's answers: request_results rows, CommandResults records)
 *       -> worker_outbox.c (the outbox: its rows, producing them, the flight, the watermarks)
 *         -> worker_state.c (the pure per-partition state machine, ss/worker_state.h)
 *   worker.c -> worker_retention.c (the retention job of the framework's tables, on a timer)
 * Ownership: ss_worker_t.partitions and .flight change only through ss/worker_state.h, and the
 * outbox watermarks in them only from worker_outbox.c; the claim fields only from worker_claim.c
 * and worker.c.
 */
#ifndef SS_WORKER_INTERNAL_H
#define SS_WORKER_INTERNAL_H

#include "ss/kafka.h"
#include "ss/loop.h"
#include "ss/metrics.h"
#include "ss/ops_http.h"
#include "ss/retention.h"
#include "ss/topics.h"
#include "ss/worker.h"
#include "ss/worker_state.h"

#include <stdatomic.h>

/* The largest batch_records_max a worker accepts (the config's range). */
#define SS_WORKER_BATCH_RECORDS_LIMIT 10000
/* Partitions of the consumed topic one worker can hold. */
#define SS_WORKER_PARTITIONS_MAX 256
/* Attempts at one batch before the worker gives up and exits for a supervisor to restart it. */
#define SS_WORKER_BATCH_ATTEMPTS_MAX 30
/* How long the end-of-round wait for delivery reports may take. */
#define SS_WORKER_OUTBOX_FLUSH_MS 30000
#define SS_WORKER_ERRSTR_SIZE 512
/* A source name: "<group>/<topic>/<partition>". */
#define SS_WORKER_SOURCE_SIZE 320

/* A record to produce after commit: already encoded. */
typedef struct ss_worker_outbox_entry {
    int32_t source; /* the consumed partition whose record emitted it: its outbox source */
    char *topic;
    int32_t partition; /* SS_KAFKA_PARTITION_BY_KEY or a number */
    char *key;
    unsigned char *value;
    size_t value_length;
    char *headers_json; /* NULL, or a JSON object of string headers (dead letters) */
    /*
     * Set when the batch's rows are stored: one outbox row per (source, topic, partition)
     * holds every record of the batch for that destination, in emission order. row is the
     * row's index among the batch's rows, record the entry's place in it (0-based).
     */
    size_t row;
    size_t record;
    int64_t row_id;
} ss_worker_outbox_entry_t;

/* One outbox row of a batch: every record of the batch for one source and destination. */
typedef struct ss_worker_outbox_row {
    int32_t source;
    const char *topic; /* borrowed from its first entry */
    int32_t partition;
    size_t count; /* its records */
    size_t first; /* its records are outbox_order[first .. first + count), in order */
    int64_t id;   /* after the insert */
} ss_worker_outbox_row_t;

/*
 * One partition's share of a batch: a batch applies the records of one or more partitions (a
 * whole poll round) in one transaction that moves each one's offset under its epoch.
 */
typedef struct ss_worker_group {
    int32_t partition;
    size_t first; /* its records are records[first .. first + count) of the batch */
    size_t count;
    int64_t next_offset;        /* where the batch moves the partition's offset */
    int64_t outbox_max_id;      /* after the insert: its source's last new row id (0: none) */
    int64_t outbox_deleting_id; /* its acknowledged rows deleted in the batch up to here (0) */
} ss_worker_group_t;

/* What the framework keeps per consumed record besides the handler's view of it. */
typedef struct ss_worker_slot {
    ss_kafka_message_t *message;
    bool dead;        /* goes to the dead-letter topic instead of the handler */
    char reason[256]; /* why, for the ss-dlq-reason header */
    /* why, as the reason label of ss_dead_letters_total: undecodable, misrouted or invalid */
    const char *dead_class;
} ss_worker_slot_t;

/* A new Idempotency-Key first seen in this batch. */
typedef struct ss_worker_idempotency {
    const char *scope;
    const char *key;
    const char *body_hash;
    size_t first_index; /* the record whose outcome later duplicates get */
} ss_worker_idempotency_t;

/* An answer to a command of an earlier batch. */
typedef struct ss_worker_late_answer {
    int32_t source; /* the partition of the record it was given on (its outbox source) */
    char *request_id;
    ss_trace_t trace; /* of the record it answers for ("" fields: none) */
    int32_t reply_partition;
    int http_status;
    char *body;
} ss_worker_late_answer_t;

/* reply_status of a command that a later batch answers. */
#define SS_WORKER_REPLY_DEFERRED (-1)

struct ss_worker_batch {
    ss_worker_t *worker;
    ss_worker_group_t groups[SS_WORKER_PARTITIONS_MAX]; /* by rising partition; a tick has one */
    size_t group_count;
    int32_t current_source; /* the partition of the record entered last (the first group's) */
    size_t record_count;
    int *reply_status;    /* per record; 0 = no reply yet */
    char **reply_body;    /* per record, heap copies */
    size_t *duplicate_of; /* per record; SIZE_MAX = not a duplicate within this batch */
    ss_worker_outbox_entry_t *outbox;
    size_t outbox_count;
    size_t outbox_capacity;
    ss_worker_idempotency_t *new_keys;
    size_t new_key_count;
    /* ss_worker_outbox_store(): the rows the entries were grouped into, and their order. */
    ss_worker_outbox_row_t *outbox_rows;
    size_t *outbox_order; /* entry indices, row after row */
    size_t outbox_row_count;
    ss_worker_late_answer_t *late;
    size_t late_count;
    size_t late_capacity;
    /* ss_worker_batch_record_enter(): the trace of what the handler emits now ("": none). */
    ss_trace_t current_trace;
};

/* The outcome labels of ss_worker_transactions_total: commit, retry, fenced, failed. */
#define SS_WORKER_OUTCOMES 4

/* worker_metrics.c: the worker's series in the process registry, looked up once. */
typedef struct ss_worker_metrics {
    ss_metrics_series_t *batch_records;
    ss_metrics_series_t *batch_duration;
    ss_metrics_series_t *batch_partitions;
    ss_metrics_series_t *transactions[SS_WORKER_OUTCOMES];
    ss_metrics_family_t *dead_letters;
    ss_metrics_series_t *outbox_rows;
    ss_metrics_series_t *outbox_age;
    int64_t refreshed_ms; /* when lag and outbox figures were last refreshed (monotonic) */
} ss_worker_metrics_t;

struct ss_worker {
    ss_worker_config_t config;
    ss_worker_handler_t handler;
    ss_pg_t *pg;
    ss_avro_registry_t *registry;
    ss_kafka_producer_t *producer;
    ss_kafka_consumer_t *consumer;
    char source_prefix[256]; /* "<group>/<topic>/" */
    const char *key_field;   /* what record keys must equal (ss_topology_key_field), or NULL */
    char client_id[256];
    ss_partition_t partitions[SS_WORKER_PARTITIONS_MAX];
    /* worker.c: records of a partition consumed but not applied (dropped while it was being
     * claimed, or in a fenced batch or tick): its next claim seeks back to the stored offset. */
    bool seek_on_claim[SS_WORKER_PARTITIONS_MAX];
    ss_loop_t *loop; /* the poll rounds (ss/loop.h), which also publish offsets for lag */
    ss_worker_record_t *records;
    ss_worker_slot_t *slots; /* parallel to records */
    /*
     * worker.c: the poll round's batch, collected by the records hook and applied by
     * records_end: records[0..round_count) decoded, round_groups saying whose they are.
     */
    ss_worker_group_t round_groups[SS_WORKER_PARTITIONS_MAX];
    size_t round_group_count;
    size_t round_count;
    long long round_bytes;
    ss_worker_batch_t batch;
    ss_avro_buffer_t buffer;
    /* worker_outbox.c */
    ss_outbox_flight_t flight;
    uint32_t flight_generation; /* one per round; tells late delivery reports apart */
    /* The round's first reason a row was refused for good (the flight says which rows). */
    char rejection_reason[SS_WORKER_ERRSTR_SIZE];
    int64_t last_batch_ms[SS_WORKER_PARTITIONS_MAX];
    bool producer_fatal; /* a delivery report said the producer failed fatally */
    char producer_fatal_error[SS_WORKER_ERRSTR_SIZE];
    int64_t started_ms;
    bool fault_injected;
    /* worker_retention.c */
    ss_retention_timer_t retention_timer;
    /* worker.c: when the handler's tick last ran per partition (monotonic ms, 0: never). */
    int64_t ticked_ms[SS_WORKER_PARTITIONS_MAX];
    /* worker_metrics.c */
    ss_worker_metrics_t metrics;
    /* Readiness, written by the loop (on_assign, each round), read by the ops thread. */
    atomic_bool ready_joined; /* the group gave an assignment (maybe empty) at least once */
    atomic_int ready_assigned;
    atomic_int ready_claiming;
};

/* worker_claim.c */
void ss_worker_sleep_ms(long long ms);
long long ss_worker_backoff_ms(const ss_worker_t *worker, int attempt);
/* Tells the handler to drop what it cached about the partition (ss_worker_handler_t). */
void ss_worker_partition_forget(ss_worker_t *worker, int32_t partition);
/* Rolls back, and reconnects a broken connection, after a failure. */
void ss_worker_pg_recover(ss_worker_t *worker);
/* Claims every partition whose claim is due (assigned, fenced, or a claim that timed out). */
ss_err_t ss_worker_claims_run(ss_worker_t *worker, char *errstr, size_t errstr_size);
/* The consumer's rebalance hooks (ss/kafka.h). */
ss_err_t ss_worker_on_assign(void *opaque, ss_kafka_partition_t *partitions, size_t count,
                             char *errstr, size_t errstr_size);
void ss_worker_on_revoke(void *opaque, const ss_kafka_partition_t *partitions, size_t count);
/* The topic's partition count against the recorded one, waiting (bounded) for the broker. */
ss_err_t ss_worker_topology_check(ss_worker_t *worker, char *errstr, size_t errstr_size);

/* worker_batch.c */
ss_err_t ss_worker_sql_prepare(ss_worker_t *worker, char *errstr, size_t errstr_size);
ss_err_t ss_worker_batch_alloc(ss_worker_t *worker, char *errstr, size_t errstr_size);
void ss_worker_batch_free(ss_worker_batch_t *batch);
/*
 * Applies records[0..count), the groups' partitions' records (groups[g] says which), in one
 * transaction and says what came of it. On SS_BATCH_COMMITTED the batch's outbox rows are stored
 * and each group is handed to ss_worker_outbox_committed; SS_BATCH_POISON and SS_BATCH_RETRY carry
 * the reason in errstr. With several groups a fence that does not match every partition is
 * SS_BATCH_FENCED without saying which: the caller runs each group on its own then.
 */
ss_batch_outcome_t ss_worker_batch_run(ss_worker_t *worker, const ss_worker_group_t *groups,
                                       size_t group_count, ss_worker_record_t *records,
                                       ss_worker_slot_t *slots, size_t count, char *errstr,
                                       size_t errstr_size);
/*
 * Runs the handler's tick for one owned partition in its own fenced transaction (no records,
 * the offset stays). COMMITTED, FENCED, RETRY (any other failure, errstr says why; the commit
 * outcome may be unknown) or FAILED. On COMMITTED the tick's rows are stored and handed to
 * ss_worker_outbox_ticked().
 */
ss_batch_outcome_t ss_worker_batch_tick(ss_worker_t *worker, int32_t partition, char *errstr,
                                        size_t errstr_size);

/*
 * worker_retention.c: when due, prunes idempotency_keys and request_results (and the handler's
 * own tables) in bounded deletes on worker->pg, outside any batch. Called from the loop.
 */
ss_err_t ss_worker_retention_run(ss_worker_t *worker, char *errstr, size_t errstr_size);

/* worker_metrics.c */
void ss_worker_metrics_init(ss_worker_t *worker);
/* One batch or tick transaction ended so. */
void ss_worker_metrics_transaction(ss_worker_t *worker, ss_batch_outcome_t outcome);
/* A batch of slots[0..count) over partitions committed in duration_us: size, time, dead letters. */
void ss_worker_metrics_batch(ss_worker_t *worker, const ss_worker_slot_t *slots, size_t count,
                             size_t partitions, int64_t duration_us);
void ss_worker_metrics_dead_letter(ss_worker_t *worker, const char *reason_class);
/* End of a poll round: readiness figures; once a second lag and the outbox gauges. */
void ss_worker_metrics_round(ss_worker_t *worker);
/* The ops server's readiness callback (ss_ops_ready_fn); opaque is the worker. */
size_t ss_worker_ready(void *opaque, ss_ops_check_t *checks, size_t checks_max);

/* worker_results.c */
/*
 * Inside the batch transaction: the request_results rows of every answer the batch decided
 * (records' replies, then late answers; records is NULL for a tick) and their CommandResults
 * records in the outbox.
 */
ss_err_t ss_worker_results_insert(ss_worker_batch_t *batch, const ss_worker_record_t *records,
                                  char *errstr, size_t errstr_size);

/* worker_outbox.c */
/* Sets ss_outbox_rows and ss_outbox_oldest_age_seconds from the owned sources' stored rows. */
void ss_worker_outbox_gauge(ss_worker_t *worker);
void ss_worker_source_name(const ss_worker_t *worker, int32_t partition, char *out,
                           size_t out_size);
/* Adds an already encoded record to the batch's outbox, stored under source. Copies everything. */
ss_err_t ss_worker_outbox_add(ss_worker_batch_t *batch, int32_t source, const char *topic,
                              int32_t partition, const char *key, const void *value,
                              size_t value_length, const char *headers_json, char *errstr,
                              size_t errstr_size);
/*
 * Inside the batch transaction: deletes each group's rows acknowledged since its last delete
 * and stores the batch's records as one row per source and destination, learning their ids.
 */
ss_err_t ss_worker_outbox_store(ss_worker_batch_t *batch, char *errstr, size_t errstr_size);
/* The batch committed: moves the group's watermarks and queues its rows unless a re-send is owed.
 */
void ss_worker_outbox_committed(ss_worker_t *worker, const ss_worker_group_t *group);
/*
 * A tick committed, or may have (its commit outcome is unknown): what it deleted is recorded,
 * and its rows, whose ids the watermarks cannot take without an offset move, are read back
 * from PostgreSQL and produced by the next round's re-send.
 */
void ss_worker_outbox_ticked(ss_worker_t *worker, int32_t partition, bool committed);
/* Per poll round, before its batches: re-sends what is owed and deletes rows of idle sources. */
void ss_worker_outbox_maintain(ss_worker_t *worker);
/*
 * The partition is being revoked: deletes the rows already acknowledged, so that the next owner
 * (who re-sends whatever is still stored) does not deliver them a second time. Rows whose
 * delivery was not acknowledged stay for the next owner.
 */
void ss_worker_outbox_release(ss_worker_t *worker, int32_t partition);
/*
 * End of a poll round: waits for the round's delivery reports, parks rejected rows in the
 * dead-letter topic and moves each partition's watermarks. SS_ERR_FATAL when the producer
 * failed fatally: nothing can leave the outbox any more and the process must stop.
 */
ss_err_t ss_worker_outbox_settle(ss_worker_t *worker, char *errstr, size_t errstr_size);
void ss_worker_on_delivery(void *opaque, void *message_opaque, const ss_kafka_delivery_t *delivery);

#endif

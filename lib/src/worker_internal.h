/*
 * Private state of the worker framework, shared by worker.c (the loop and rebalancing),
 * worker_batch.c (one batch transaction) and worker_outbox.c (producing after commit).
 */
#ifndef SS_WORKER_INTERNAL_H
#define SS_WORKER_INTERNAL_H

#include "ss/kafka.h"
#include "ss/worker.h"

/* The largest batch_records_max a worker accepts (the config's range). */
#define SS_WORKER_BATCH_RECORDS_LIMIT 10000
/* Partitions of the consumed topic one worker can hold. */
#define SS_WORKER_PARTITIONS_MAX 256
/* Attempts at one batch before the worker gives up and exits for a supervisor to restart it. */
#define SS_WORKER_BATCH_ATTEMPTS_MAX 30
/* How long a flush of the outbox records of one batch may take. */
#define SS_WORKER_OUTBOX_FLUSH_MS 30000
/* Outbox rows re-sent per query when a partition is (re)assigned. */
#define SS_WORKER_OUTBOX_RECOVERY_ROWS_MAX 1000
#define SS_WORKER_OUTBOX_RECOVERY_ROUNDS_MAX 100000
#define SS_WORKER_ERRSTR_SIZE 512
#define SS_WORKER_DLQ_TOPIC "ss.dlq"
#define SS_WORKER_RESULTS_TOPIC "ss.results"
#define SS_WORKER_DLQ_REASON_HEADER "ss-dlq-reason"
#define SS_WORKER_DLQ_SOURCE_HEADER "ss-dlq-source"

typedef struct ss_worker_partition {
    bool owned;
    int64_t epoch;
    int64_t next_offset;         /* as stored in partition_state by the last commit */
    int64_t delivered_outbox_id; /* outbox rows up to this id are produced: delete them */
    int64_t deleted_outbox_id;   /* rows up to this id are deleted (committed) */
    int64_t published_outbox_id; /* sent this poll round, acknowledged at the round's flush */
    bool publish_failed;         /* a record of this partition was not delivered */
    bool outbox_recovery;        /* a delivery failed: re-send this source's rows from PG */
} ss_worker_partition_t;

/* A record to produce after commit: already encoded. */
typedef struct ss_worker_outbox_entry {
    char *topic;
    int32_t partition; /* SS_KAFKA_PARTITION_BY_KEY or a number */
    char *key;
    unsigned char *value;
    size_t value_length;
    char *dlq_reason; /* dead letters only */
    char *dlq_source;
} ss_worker_outbox_entry_t;

/* What the framework keeps per consumed record besides the handler's view of it. */
typedef struct ss_worker_slot {
    ss_kafka_message_t *message;
    bool dead;        /* goes to the dead-letter topic instead of the handler */
    char reason[256]; /* why, for the ss-dlq-reason header */
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
    char *request_id;
    int32_t reply_partition;
    int http_status;
    char *body;
} ss_worker_late_answer_t;

/* reply_status of a command that a later batch answers. */
#define SS_WORKER_REPLY_DEFERRED (-1)

struct ss_worker_batch {
    ss_worker_t *worker;
    int32_t partition;
    size_t record_count;
    int *reply_status;    /* per record; 0 = no reply yet */
    char **reply_body;    /* per record, heap copies */
    size_t *duplicate_of; /* per record; SIZE_MAX = not a duplicate within this batch */
    ss_worker_outbox_entry_t *outbox;
    size_t outbox_count;
    size_t outbox_capacity;
    ss_worker_idempotency_t *new_keys;
    size_t new_key_count;
    int64_t outbox_max_id;      /* after the insert */
    int64_t outbox_deleting_id; /* this batch deletes the outbox up to here, if it commits */
    ss_worker_late_answer_t *late;
    size_t late_count;
    size_t late_capacity;
};

struct ss_worker {
    ss_worker_config_t config;
    ss_worker_handler_t handler;
    ss_pg_t *pg;
    ss_avro_registry_t *registry;
    ss_kafka_producer_t *producer;
    ss_kafka_consumer_t *consumer;
    char source_prefix[256]; /* "<group>/<topic>/" */
    char client_id[256];
    ss_worker_partition_t partitions[SS_WORKER_PARTITIONS_MAX];
    ss_kafka_message_t **messages;
    ss_worker_record_t *records;
    ss_worker_slot_t *slots; /* parallel to records */
    ss_worker_batch_t batch;
    ss_avro_buffer_t buffer;
    int delivery_failures; /* counted by the delivery callback, on the worker's thread */
    char fatal_error[SS_WORKER_ERRSTR_SIZE];
};

/* worker_batch.c */
ss_err_t ss_worker_batch_prepare_statements(ss_worker_t *worker, char *errstr, size_t errstr_size);
ss_err_t ss_worker_batch_alloc(ss_worker_t *worker, char *errstr, size_t errstr_size);
void ss_worker_batch_free(ss_worker_batch_t *batch);
void ss_worker_batch_clear(ss_worker_batch_t *batch);
/*
 * Applies records[0..count) of one partition in one transaction. On SS_OK, *fenced says the
 * partition is no longer ours (nothing was applied) and *already_applied that an earlier
 * attempt whose commit outcome was unknown had in fact committed.
 */
ss_err_t ss_worker_batch_run(ss_worker_t *worker, int32_t partition, ss_worker_record_t *records,
                             ss_worker_slot_t *slots, size_t count, int64_t first_offset,
                             int64_t next_offset, bool *already_applied, bool *fenced, char *errstr,
                             size_t errstr_size);
/* Deletes this partition's outbox rows with after_id < id <= up_to_id. */
ss_err_t ss_worker_outbox_delete(ss_worker_t *worker, int32_t partition, int64_t after_id,
                                 int64_t up_to_id, char *errstr, size_t errstr_size);
/* Adds an already encoded record to the batch's outbox. Copies everything. */
ss_err_t ss_worker_batch_add_outbox(ss_worker_batch_t *batch, const char *topic, int32_t partition,
                                    const char *key, const void *value, size_t value_length,
                                    const char *dlq_reason, const char *dlq_source, char *errstr,
                                    size_t errstr_size);

/* worker_outbox.c */
void ss_worker_on_delivery(void *opaque, void *message_opaque, ss_err_t result,
                           const char *error_text, int32_t partition, int64_t offset);
/*
 * Queues the committed batch's outbox entries with the producer; they are awaited once per
 * poll round by ss_worker_outbox_settle(), so one broker acknowledgement covers every
 * partition's batch of the round.
 */
ss_err_t ss_worker_outbox_publish(ss_worker_t *worker, char *errstr, size_t errstr_size);
/*
 * Waits for everything published this round; a partition whose records all arrived may delete
 * them from the outbox, one with a failure re-sends its rows from PostgreSQL.
 */
void ss_worker_outbox_settle(ss_worker_t *worker);
/* Re-sends every outbox row of a partition's source from PostgreSQL, then deletes them. */
ss_err_t ss_worker_outbox_recover(ss_worker_t *worker, int32_t partition, char *errstr,
                                  size_t errstr_size);
void ss_worker_source_name(const ss_worker_t *worker, int32_t partition, char *out,
                           size_t out_size);

#endif

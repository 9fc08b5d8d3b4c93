/*
 * The exactly-once batch loop every partitioned worker runs (docs/architecture.md).
 *
 * A worker is a consumer-group member. For each assigned partition it keeps the next offset
 * and a fencing epoch in PostgreSQL (partition_state); it takes a batch of records from one
 * partition and applies it in ONE transaction that also moves that partition's offset, and only
 * while the epoch is still its own. What a batch emits (command results, events, dead letters)
 * is written to the outbox in the same transaction and produced after commit by an idempotent
 * producer. Client commands carrying an Idempotency-Key are deduplicated here, before the
 * handler sees them, so handlers only ever see first attempts.
 *
 * A handler owns the in-memory state of its partitions (balances, stock, coupons) and applies a
 * batch with bulk statements on the batch's connection. When a batch is rolled back the
 * framework calls partition_reset, and the handler must forget what it cached for that
 * partition: it will be reloaded from PostgreSQL.
 */
#ifndef SS_WORKER_H
#define SS_WORKER_H

#include "ss/avro.h"
#include "ss/config.h"
#include "ss/error.h"
#include "ss/pg.h"
#include "ss/trace.h"

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ss_worker ss_worker_t;
typedef struct ss_worker_batch ss_worker_batch_t;

/* One consumed record, decoded. Owned by the batch; valid during apply_batch only. */
typedef struct ss_worker_record {
    const char *schema_name; /* "ChargeBalance", ... */
    json_t *value;           /* the decoded record (borrowed) */
    const char *key;         /* the record key as text, NUL-terminated, or "" */
    int32_t partition;       /* the consumed partition it came from */
    int64_t offset;
    const char *request_id; /* commands: value.request_id; otherwise NULL */
    bool handled;           /* set by the framework: already answered (duplicate, dead letter) */
    /* The record's ss-request-id and traceparent headers ("" when absent or not valid). */
    ss_trace_t trace;
} ss_worker_record_t;

typedef struct ss_worker_handler {
    const char *name; /* component name for logs, e.g. "user-worker" */
    void *opaque;
    /*
     * Applies the records of one or more partitions (a poll round: each partition's records
     * together and in offset order, record.partition says which) inside the open transaction
     * (the connection is ss_worker_batch_pg()). Records with handled set must be skipped. Every
     * command must be answered with ss_worker_batch_reply(). Return SS_OK, a retriable error
     * (the batch is rolled back and retried), or SS_ERR_INVALID when the batch holds a record
     * that can never be applied: the framework then retries record by record and sends the one
     * that fails alone to the dead-letter topic with errstr as the reason.
     */
    ss_err_t (*apply_batch)(void *opaque, ss_worker_batch_t *batch, ss_worker_record_t *records,
                            size_t record_count, char *errstr, size_t errstr_size);
    /* Forget every cached thing of this partition (rolled back, revoked or fenced). */
    void (*partition_reset)(void *opaque, int32_t partition);
    /*
     * Optional (NULL: none). Called once right after a batch committed and before its outbox
     * records are produced, so an effect outside PostgreSQL (a cache write) lands
     * before anyone can learn of the batch from its events or replies. What to do is the
     * handler's to keep between apply_batch and this call (partition_reset in between means
     * the batch was rolled back). Also called when a retry finds that an earlier attempt,
     * whose commit outcome was unknown, had committed: apply_batch did not run again then.
     * Cannot fail the batch, which is committed; it only delays the publish.
     */
    void (*after_commit)(void *opaque);
    /*
     * Optional (NULL: none). The handler's share of the retention job (ss/retention.h), on the
     * framework's timer and connection, outside any batch: prunes at most rows_max rows of the
     * tables the handler owns in its own short transaction, sets *more when a full batch says
     * more rows are waiting. An error is logged and the job tried again after the interval.
     */
    ss_err_t (*retain)(void *opaque, ss_pg_t *pg, long long rows_max, bool *more, char *errstr,
                       size_t errstr_size);
    /*
     * Optional (NULL: none). Timer work of one partition (the order saga's deadline): called
     * about every tick_interval_ms for each partition this member owns, in a transaction of its
     * own fenced like a batch's (the partition row is locked under our epoch; the offset does
     * not move), with no records. The handler may ss_worker_batch_emit() and
     * ss_worker_batch_answer() as in apply_batch. It must derive what it does from what it
     * reads inside that transaction: a tick whose commit outcome is unknown is not retried,
     * and if it did commit the next tick sees its effects (its rows are re-sent from the
     * outbox). Any error rolls the tick back and the next one tries again; SS_ERR_FATAL stops
     * the worker.
     */
    ss_err_t (*tick)(void *opaque, ss_worker_batch_t *batch, char *errstr, size_t errstr_size);
    long long tick_interval_ms;
} ss_worker_handler_t;

/* Settings every worker binary shares; filled by ss_worker_config_options(). */
typedef struct ss_worker_config {
    char *kafka_bootstrap;
    char *pg_dsn;
    char *group_id;
    char *topic;
    char *schema_dir;
    char *client_id;
    char *log_level;
    long long batch_records_max;
    long long batch_wait_ms;
    long long retry_backoff_max_ms;
    long long linger_ms;
    long long fetch_min_bytes;
    long long fetch_wait_max_ms;
    long long producer_message_timeout_ms;
    long long dlq_copy_bytes_max;
    long long pg_lock_timeout_ms;
    long long pg_statement_timeout_ms;
    long long pg_idle_in_transaction_timeout_ms;
    long long fault_producer_fatal_after_ms;
    long long
        record_bytes_max;      /* SS_RECORD_BYTES_MAX: larger records are dead letters, undecoded */
    long long batch_bytes_max; /* SS_BATCH_BYTES_MAX: a partition's batch holds at most this */
    long long idempotency_retention_s; /* SS_IDEMPOTENCY_RETENTION_S: keys answer retries */
    long long result_retention_s;      /* SS_RESULT_RETENTION_S: GET /requests/{id} */
    long long retention_interval_ms;   /* SS_RETENTION_INTERVAL_MS: the pruning timer */
    long long retention_rows_max;      /* SS_RETENTION_ROWS_MAX: rows one DELETE removes */
    char *metrics_host;                /* SS_METRICS_HOST: the ops endpoints' address */
    long long metrics_port; /* SS_METRICS_PORT: /health, /ready, /metrics (ss/ops_http.h); 0 off */
} ss_worker_config_t;

enum { SS_WORKER_CONFIG_OPTION_COUNT = 27 };

/*
 * The settings that must agree with one another (a result outlives its key): SS_ERR_INVALID
 * naming them otherwise. ss_worker_main() refuses to start on it; ss_worker_new() checks too.
 */
ss_err_t ss_worker_config_check(const ss_worker_config_t *config, char *errstr, size_t errstr_size);

/*
 * Fills options[0..SS_WORKER_CONFIG_OPTION_COUNT) with the shared worker options, targeting
 * config, with the given defaults for the group and topic. A binary appends its own options.
 */
void ss_worker_config_options(ss_config_option_t *options, ss_worker_config_t *config,
                              const char *default_group_id, const char *default_topic);

/*
 * Creates a worker: connects to PostgreSQL, loads the schemas, creates the producer and the
 * consumer. The handler is copied. Caller frees with ss_worker_destroy().
 */
ss_err_t ss_worker_new(const ss_worker_config_t *config, const ss_worker_handler_t *handler,
                       ss_worker_t **worker_out, char *errstr, size_t errstr_size);

/*
 * Runs the loop until *stop becomes non-zero or a fatal error happens (a batch that keeps
 * failing, a fatal producer error: nothing could leave the outbox any more); then leaves the
 * group cleanly. Returns SS_OK after a requested stop, SS_ERR_FATAL with errstr otherwise.
 */
ss_err_t ss_worker_run(ss_worker_t *worker, volatile sig_atomic_t *stop, char *errstr,
                       size_t errstr_size);

void ss_worker_destroy(ss_worker_t *worker);

/* What a worker binary supplies; ss_worker_main() does configuration, signals and the loop. */
typedef struct ss_worker_program {
    const char *name;    /* "ss-user-worker": the default consumer group and log component */
    const char *topic;   /* the default topic */
    const char *summary; /* one line for --help */
    const ss_config_option_t *extra_options; /* the binary's own options (targets its own) */
    size_t extra_option_count;
    /* Prepares the handler once the options are loaded; the framework copies it. */
    ss_err_t (*start)(void *opaque, const ss_worker_config_t *config,
                      ss_worker_handler_t *handler_out, char *errstr, size_t errstr_size);
    void (*stop)(void *opaque); /* releases what start made; called once after the loop */
    void *opaque;
} ss_worker_program_t;

/*
 * A worker binary's whole main: loads the shared options and the program's own (`--help`
 * prints them), installs the stop signals, starts the handler, runs the loop until SIGTERM or
 * SIGINT, and tears down. Returns the process exit status (0, 1 after a failure, 2 for bad
 * options).
 */
int ss_worker_main(int argc, char **argv, const ss_worker_program_t *program);

/* The batch's connection, inside its transaction. */
ss_pg_t *ss_worker_batch_pg(ss_worker_batch_t *batch);
/*
 * The partition the handler works on: a tick's, or the partition of the record entered last
 * with ss_worker_batch_record_enter() (what is emitted is stored under that partition).
 */
int32_t ss_worker_batch_partition(const ss_worker_batch_t *batch);
const ss_avro_registry_t *ss_worker_batch_registry(const ss_worker_batch_t *batch);

/*
 * The handler works on record now (NULL: on none), until the next call or the end of
 * apply_batch or tick: what it emits and answers with ss_worker_batch_emit() and
 * ss_worker_batch_answer() carries record's request id and traceparent as headers, so a saga
 * step triggered by a record keeps the originating request's ids, and every log line of the
 * thread names them. Replies (ss_worker_batch_reply()) always carry their own record's.
 */
void ss_worker_batch_record_enter(ss_worker_batch_t *batch, const ss_worker_record_t *record);

/*
 * Answers the command records[index] with the final JSON envelope (copied). Stored in
 * request_results and sent to the issuing ingress on commit. Exactly one reply per command.
 */
ss_err_t ss_worker_batch_reply(ss_worker_batch_t *batch, size_t index, int http_status,
                               const char *envelope, char *errstr, size_t errstr_size);

/*
 * Says that the command records[index] is answered by a LATER batch (a saga that waits for
 * other partitions' replies) with ss_worker_batch_answer(). A client retrying it with its
 * Idempotency-Key meanwhile gets 202 with the first request's id.
 */
void ss_worker_batch_defer(ss_worker_batch_t *batch, size_t index);

/*
 * Answers a command deferred by an earlier batch: stores the envelope in request_results under
 * request_id and sends it to the ingress on reply_partition (-1: none) after commit.
 */
ss_err_t ss_worker_batch_answer(ss_worker_batch_t *batch, const char *request_id,
                                int32_t reply_partition, int http_status, const char *envelope,
                                char *errstr, size_t errstr_size);

/*
 * Emits an event or command (encoded now with schema_name, produced after commit) to topic,
 * partitioned by key with murmur2.
 */
ss_err_t ss_worker_batch_emit(ss_worker_batch_t *batch, const char *topic, const char *key,
                              const char *schema_name, const json_t *value, char *errstr,
                              size_t errstr_size);

#endif

/*
 * The rank worker (ss-rank-worker): counts the lines of the OrderPaid events of ss.events.order
 * into per-day Redis sorted sets, exactly once, and runs the daily batch into product_rank. It does
 * not use the PostgreSQL batch loop of ss/worker.h: its effects live in Redis, so its consumed
 * offsets live there too (ss/rank.h), moved by the same Lua script as the scores.
 *
 * Per assigned partition it keeps the offset it believes is stored in Redis (`expected`). A
 * batch of a partition is applied with a compare-and-set on that offset; when the stored offset
 * differs (another member wrote it after a rebalance, or an operator reset it) the batch is
 * dropped and the partition re-synchronised: read the stored offset, seek there. After a Redis
 * failure the outcome is unknown, so the partition is re-synchronised the same way, retried
 * from the loop until Redis answers.
 *
 * The daily batch is a timer in the same loop (no thread): at SS_RANK_BATCH_AT every day, and
 * once at start, it runs the catch-up of ss_rank_batch_catch_up().
 *
 * Who frees what: ss_rank_worker_new() returns a worker freed with ss_rank_worker_destroy(),
 * which does not free the config's strings (ss_config_free() does).
 */
#ifndef SS_RANK_WORKER_H
#define SS_RANK_WORKER_H

#include "ss/avro.h"
#include "ss/config.h"
#include "ss/error.h"
#include "ss/kafka.h"
#include "ss/loop.h"
#include "ss/ops_http.h"
#include "ss/pg.h"
#include "ss/rank.h"
#include "ss/redis.h"
#include "ss/rules.h"
#include "ss/topics.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define SS_RANK_COMPONENT "rank-worker"
/* Partitions of ss.events.order one worker can hold. */
#define SS_RANK_WORKER_PARTITIONS_MAX 256
/* Lines of one OrderPaid (an order's lines, ss/rules.h), so sales per record. */
#define SS_RANK_WORKER_ORDER_LINES_MAX SS_RULES_ORDER_LINES_MAX
/* Upper bound of batch_records_max. */
#define SS_RANK_WORKER_BATCH_RECORDS_LIMIT 10000

typedef struct ss_rank_worker_config {
    char *kafka_bootstrap;
    char *pg_dsn;
    char *redis_url;
    char *group_id;
    char *topic;
    char *schema_dir;
    char *client_id;
    char *log_level;
    char *batch_at;   /* "HH:MM" UTC */
    char *batch_date; /* "" or "YYYY-MM-DD": run that day's batch and exit */
    bool rebuild_redis;
    bool rebuild_at_start;
    long long catch_up_days;
    long long batch_records_max;
    long long batch_wait_ms;
    long long fetch_min_bytes;   /* SS_FETCH_MIN_BYTES */
    long long fetch_wait_max_ms; /* SS_FETCH_WAIT_MAX_MS */
    long long retry_backoff_max_ms;
    long long redis_timeout_ms;
    char *metrics_host;     /* SS_METRICS_HOST */
    long long metrics_port; /* SS_METRICS_PORT: /health, /ready, /metrics (ss/ops_http.h); 0 off */
} ss_rank_worker_config_t;

enum { SS_RANK_WORKER_OPTION_COUNT = 21 };

/* Fills options[0..SS_RANK_WORKER_OPTION_COUNT) targeting config. */
void ss_rank_worker_options(ss_config_option_t *options, ss_rank_worker_config_t *config);

typedef struct ss_rank_partition {
    bool owned;
    bool resync;          /* the stored offset must be read again (and seeked to) */
    int64_t expected;     /* stored next offset as last seen, or SS_RANK_OFFSET_NONE */
    int64_t resync_at_ms; /* monotonic time of the next resync attempt */
    int resync_attempts;
} ss_rank_partition_t;

typedef struct ss_rank_worker {
    ss_rank_worker_config_t config; /* strings borrowed */
    char client_id[128];
    int batch_minute_of_day;
    ss_redis_t *redis;
    ss_pg_t *pg; /* NULL until the first batch or rebuild connects it */
    ss_avro_registry_t *registry;
    ss_kafka_consumer_t *consumer;
    ss_loop_t *loop;  /* the poll rounds (ss/loop.h), which also publish offsets for lag */
    json_t **records; /* decoded values of one partition's records */
    /* The sales of one partition's records: up to ORDER_LINES_MAX per record. */
    ss_rank_sale_t *sales;
    ss_rank_event_id_t *sale_event_ids; /* sales[i].event_id points into sale_event_ids[i] */
    int64_t *sale_offsets;              /* the record offset of each sale */
    ss_rank_partition_t partitions[SS_RANK_WORKER_PARTITIONS_MAX];
    int64_t next_batch_ms; /* wall clock of the next catch-up */
    int batch_failures;    /* consecutive failed catch-ups, for the backoff */
    /* ops.c: written by the loop, read by the ops server's thread (ss_rank_worker_ready). */
    atomic_bool ready_joined;   /* the group gave an assignment (maybe empty) at least once */
    atomic_int ready_resyncing; /* owned partitions whose Redis offset is not re-read yet */
    int64_t observed_ms;        /* monotonic time lag was last reported */
} ss_rank_worker_t;

/*
 * Validates the config (SS_ERR_INVALID naming the option), sets the log level and allocates the
 * batch buffers; contacts nothing. Caller frees with ss_rank_worker_destroy() (NULL is a no-op).
 */
ss_err_t ss_rank_worker_new(const ss_rank_worker_config_t *config, ss_rank_worker_t **worker_out,
                            char *errstr, size_t errstr_size);
void ss_rank_worker_destroy(ss_rank_worker_t *worker);

/* Connects to PostgreSQL when not connected, or resets a broken connection. */
ss_err_t ss_rank_worker_pg(ss_rank_worker_t *worker, char *errstr, size_t errstr_size);

/* Connects to Redis when not connected (the connection reconnects by itself afterwards). */
ss_err_t ss_rank_worker_redis(ss_rank_worker_t *worker, char *errstr, size_t errstr_size);

/*
 * The consumer loop (live.c): connects to Redis, loads the schemas, joins the group, runs the
 * start-up rebuild and catch-up, then polls and applies until *stop or a fatal error; leaves
 * the group on the way out. SS_OK after a requested stop.
 */
ss_err_t ss_rank_worker_run(ss_rank_worker_t *worker, volatile sig_atomic_t *stop, char *errstr,
                            size_t errstr_size);

/*
 * Applies the records of one partition, in offset order (live.c). Fatal errors only (a key of
 * another type in Redis); everything transient is handled by re-synchronising the partition.
 */
ss_err_t ss_rank_worker_apply(ss_rank_worker_t *worker, int32_t partition,
                              ss_kafka_message_t **messages, size_t count, char *errstr,
                              size_t errstr_size);

/* Re-synchronises partitions marked so whose retry time has come (live.c). */
void ss_rank_worker_resync_due(ss_rank_worker_t *worker);

/*
 * ops.c: end of a poll round: publishes the readiness figures; once a second sets
 * ss_consumer_lag_records of every owned partition from its stored offset.
 */
void ss_rank_worker_observe(ss_rank_worker_t *worker);

/*
 * ops.c: the ops server's readiness callback (ss_ops_ready_fn; opaque is the worker): Redis
 * and Kafka answer, the group gave an assignment, and no owned partition awaits its offset.
 */
size_t ss_rank_worker_ready(void *opaque, ss_ops_check_t *checks, size_t checks_max);

/* The daily timer (schedule.c): runs the catch-up when due and plans the next one. */
void ss_rank_worker_schedule_tick(ss_rank_worker_t *worker, int64_t now_ms);

/* The one-shot jobs of the command line (schedule.c): --batch-date and --rebuild-redis. */
ss_err_t ss_rank_worker_batch_date(ss_rank_worker_t *worker, const char *date, char *errstr,
                                   size_t errstr_size);
ss_err_t ss_rank_worker_rebuild(ss_rank_worker_t *worker, bool only_missing, char *errstr,
                                size_t errstr_size);

#endif

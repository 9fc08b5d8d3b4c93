/*
 * ss-admin, the operator's command: one binary with subcommands (topics, tail, dlq list,
 * dlq replay, outbox, lag, rank-batch), each with its own --help. It owns no state of its own
 * except the dlq_replays rows (migration 010), which record every replay so that a dead letter
 * is never replayed twice; everything else it only reads (topics, partition_state, outbox,
 * Redis rank offsets) or runs through the library (the daily rank batch, ss/rank.h).
 *
 * The pure parts (argument splitting, topics.tsv, record and dead-letter formatting, the
 * replay verdict) are in args.c, topics_file.c and record.c and unit-tested
 * (tests/unit/test_admin.c); the rest talks to Kafka, PostgreSQL and Redis.
 *
 * Output: results on stdout (tables, or one JSON object per line for tail); progress of long
 * operations and errors on stderr. Exit status 0 on success, 1 when the command found a
 * problem (a partition-count mismatch, a refused replay), 2 on bad usage or a failed
 * connection.
 *
 * Who frees what: ss_admin_t is the caller's (main.c); ss_admin_close() releases the
 * connections it opened lazily; ss_config_free() releases the config's strings.
 */
#ifndef SS_ADMIN_H
#define SS_ADMIN_H

#include "ss/avro.h"
#include "ss/config.h"
#include "ss/error.h"
#include "ss/kafka.h"
#include "ss/pg.h"
#include "ss/redis.h"

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SS_ADMIN_PROGRAM "ss-admin"
/* Exit statuses. */
#define SS_ADMIN_EXIT_OK 0
#define SS_ADMIN_EXIT_PROBLEM 1
#define SS_ADMIN_EXIT_USAGE 2
/* Bounds. */
#define SS_ADMIN_ARGS_MAX 256
#define SS_ADMIN_TOPICS_MAX 64
#define SS_ADMIN_TOPIC_NAME_MAX 249 /* Kafka's limit on a topic name */
#define SS_ADMIN_PARTITIONS_MAX 1024
#define SS_ADMIN_HEADERS_MAX 64
/* Records between two progress lines on stderr. */
#define SS_ADMIN_PROGRESS_EVERY 1000
/* Bytes of an undecodable value shown (in hex) by tail and dlq list. */
#define SS_ADMIN_HEX_PREVIEW_BYTES 64

/* Every option any subcommand takes; a subcommand's table targets the ones it uses. */
typedef struct ss_admin_config {
    char *kafka_bootstrap;
    char *pg_dsn;
    char *redis_url;
    char *schema_dir;
    char *topics_file;
    char *log_level;
    char *rank_group;
    long long timeout_ms;
    long long partition;
    long long last;
    long long count;
    bool from_beginning;
    bool follow;
} ss_admin_config_t;

typedef struct ss_admin {
    ss_admin_config_t config;
    const char *const *args; /* the positional arguments of the subcommand */
    size_t arg_count;
    volatile sig_atomic_t *stop;   /* set by SIGINT/SIGTERM: long operations end early */
    ss_pg_t *pg;                   /* NULL until ss_admin_pg() */
    ss_redis_t *redis;             /* NULL until ss_admin_redis() */
    ss_avro_registry_t *registry;  /* NULL until ss_admin_registry() */
    ss_kafka_consumer_t *metadata; /* watermarks of any partition; NULL until first asked */
} ss_admin_t;

/* ---- subcommands (args.c) ---------------------------------------------------------------- */

typedef int (*ss_admin_run_fn)(ss_admin_t *admin);

typedef struct ss_admin_command {
    const char *name;      /* "dlq replay": one or two words */
    const char *arguments; /* "<offset>...", shown in usage; "" for none */
    size_t args_min, args_max;
    const char *summary;            /* one line for --help */
    const char *const *own_options; /* flags of the extra options it takes (NULL-terminated) */
    ss_admin_run_fn run;
} ss_admin_command_t;

/* The subcommand table, in the order --help lists it. */
const ss_admin_command_t *ss_admin_commands(size_t *count_out);

/*
 * Finds the subcommand that argv[1..] names (one word, or two for "dlq list"). On success
 * *words_out is how many words it took. NULL when none matches.
 */
const ss_admin_command_t *ss_admin_command_find(int argc, char **argv, int *words_out);

/*
 * Fills options[0..*count_out) with the common options and those of command (all of them
 * when command is NULL), targeting config.
 */
void ss_admin_options(const ss_admin_command_t *command, ss_admin_config_t *config,
                      ss_config_option_t *options, size_t *count_out);

/*
 * Splits args[0..count) into flags (with their values: "--partition 3" stays together, known
 * from the option table; a BOOL flag takes no separate value) and positional arguments, both in
 * order. flags_out and positional_out have room for count entries. SS_ERR_INVALID for a flag
 * that wants a value and has none.
 */
ss_err_t ss_admin_args_split(const ss_config_option_t *options, size_t option_count, char **args,
                             size_t count, char **flags_out, size_t *flag_count_out,
                             char **positional_out, size_t *positional_count_out, char *errstr,
                             size_t errstr_size);

/* A non-negative decimal offset ("42"), strictly: SS_ERR_INVALID otherwise. */
ss_err_t ss_admin_offset_parse(const char *text, int64_t *offset_out, char *errstr,
                               size_t errstr_size);

/* Prints `ss-admin --help`: the commands and the common options. */
void ss_admin_usage(FILE *out);

/* ---- topics.tsv (topics_file.c) ---------------------------------------------------------- */

typedef struct ss_admin_topic {
    char name[SS_ADMIN_TOPIC_NAME_MAX + 1];
    int32_t partitions;
} ss_admin_topic_t;

/*
 * Parses the text of schemas/topics.tsv (name, partitions, retention_ms, purpose; '#' lines and
 * blank lines skipped). SS_ERR_INVALID naming the line for a malformed one or more than max.
 */
ss_err_t ss_admin_topics_parse(const char *text, ss_admin_topic_t *topics, size_t max,
                               size_t *count_out, char *errstr, size_t errstr_size);

/* Reads and parses the file at path. */
ss_err_t ss_admin_topics_load(const char *path, ss_admin_topic_t *topics, size_t max,
                              size_t *count_out, char *errstr, size_t errstr_size);

/* ---- records (record.c, pure) ------------------------------------------------------------ */

/* A record as ss-admin shows it; every pointer borrowed from the message it came from. */
typedef struct ss_admin_record {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* -1 when none */
    const void *key;      /* NULL when none */
    size_t key_length;
    const void *value; /* NULL for a tombstone */
    size_t value_length;
    const ss_kafka_header_t *headers;
    size_t header_count;
} ss_admin_record_t;

/*
 * Bytes as JSON: a string when they are valid UTF-8 without NUL, else {"hex": "..."} of at most
 * max_bytes (0: all) with "bytes": length. New reference; NULL when data is NULL (JSON null
 * is returned as json_null()).
 */
json_t *ss_admin_bytes_json(const void *data, size_t length, size_t max_bytes);

/*
 * One record as a JSON object: topic, partition, offset, timestamp (ISO 8601 or null), key,
 * headers (object, name -> value), schema and value decoded from Avro, or, when the value
 * cannot be decoded, schema null, "undecodable" (why) and "value_hex" (a preview) with
 * "value_bytes". New reference, NULL only when out of memory.
 */
json_t *ss_admin_record_json(const ss_avro_registry_t *registry, const ss_admin_record_t *record);

/* The value of the last header called name, NUL-terminated into out ("" when absent). */
bool ss_admin_record_header(const ss_admin_record_t *record, const char *name, char *out,
                            size_t out_size);

/* ---- dead letters (record.c, pure) ------------------------------------------------------- */

/* What a dead letter says about itself. */
typedef struct ss_admin_dead_letter {
    char reason[512];
    char source[SS_ADMIN_TOPIC_NAME_MAX + 48]; /* "<topic>/<partition>/<offset>" or "" */
    char source_topic[SS_ADMIN_TOPIC_NAME_MAX + 1];
    int32_t source_partition; /* -1 when the source does not parse */
    int64_t source_offset;
    bool parked; /* a reference: ss-dlq-parked-bytes, the record was not copied */
    char parked_bytes[24];
    char destination[SS_ADMIN_TOPIC_NAME_MAX + 1]; /* ss-dlq-destination of an outbox row */
    const char *schema;   /* the decoded schema's name (the registry's), NULL when undecodable */
    char request_id[256]; /* "" when not a command or undecodable */
    char decode_error[256];
    bool replayable;
    char verdict[512]; /* why it cannot be replayed, or "" */
} ss_admin_dead_letter_t;

/* "<topic>/<partition>/<offset>" with the topic itself free of '/' (Kafka's rule). */
ss_err_t ss_admin_dlq_source_parse(const char *text, char *topic, size_t topic_size,
                                   int32_t *partition_out, int64_t *offset_out);

/*
 * Reads a dead letter's headers and value and decides whether it can be replayed to its source:
 * not a reference, a parseable source other than the dead-letter topic, a value that decodes,
 * and, on a command topic, a key equal to the command's entity id (else the worker would set it
 * aside again as routed to the wrong owner).
 */
void ss_admin_dead_letter_read(const ss_avro_registry_t *registry, const ss_admin_record_t *record,
                               ss_admin_dead_letter_t *out);

/* True when a stored request_results answer is the one a dead-lettered command gets. */
bool ss_admin_is_dead_letter_answer(int http_status, const char *body);

/* ---- connections (context.c) ------------------------------------------------------------- */

ss_err_t ss_admin_pg(ss_admin_t *admin, char *errstr, size_t errstr_size);
ss_err_t ss_admin_redis(ss_admin_t *admin, char *errstr, size_t errstr_size);
ss_err_t ss_admin_registry(ss_admin_t *admin, char *errstr, size_t errstr_size);
/* A consumer of exactly topic/partition from start_offset; caller destroys it. */
ss_err_t ss_admin_consumer(ss_admin_t *admin, const char *topic, int32_t partition,
                           int64_t start_offset, ss_kafka_consumer_t **out, char *errstr,
                           size_t errstr_size);
ss_err_t ss_admin_watermarks(ss_admin_t *admin, const char *topic, int32_t partition,
                             int64_t *low_out, int64_t *high_out, char *errstr, size_t errstr_size);
/* Fills record (and headers[0..SS_ADMIN_HEADERS_MAX)) as a view of message. */
void ss_admin_record_view(const ss_kafka_message_t *message, ss_kafka_header_t *headers,
                          ss_admin_record_t *record);
/*
 * Reads topic/partition from offset `from` up to (not including) `to`, calling each for every
 * record until it returns false or *stop is set. SS_ERR_TIMEOUT when the records stop coming
 * before `to` within the timeout (errstr says where).
 */
typedef bool (*ss_admin_each_fn)(void *opaque, const ss_kafka_message_t *message);
ss_err_t ss_admin_read_range(ss_admin_t *admin, const char *topic, int32_t partition, int64_t from,
                             int64_t to, ss_admin_each_fn each, void *opaque, char *errstr,
                             size_t errstr_size);
/* Prints "ss-admin: <what>" on stderr (progress and notes). */
void ss_admin_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ss_admin_close(ss_admin_t *admin);

/* ---- the subcommands' bodies ------------------------------------------------------------- */

int ss_admin_topics_run(ss_admin_t *admin);     /* topics.c */
int ss_admin_tail_run(ss_admin_t *admin);       /* tail.c */
int ss_admin_dlq_list_run(ss_admin_t *admin);   /* dlq.c */
int ss_admin_dlq_replay_run(ss_admin_t *admin); /* replay.c */
int ss_admin_outbox_run(ss_admin_t *admin);     /* status.c */
int ss_admin_lag_run(ss_admin_t *admin);        /* status.c */
int ss_admin_rank_batch_run(ss_admin_t *admin); /* rank_batch.c */

#endif

/*
 * ss-admin's command line, pure: the subcommand table, each subcommand's option table (the
 * common connection options plus its own), splitting flags from positional arguments (ss/config.h
 * takes flags only), and the top-level --help.
 */
#include "admin.h"

#include "ss/assert.h"
#include "ss/topics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define ADMIN_DEFAULT_BOOTSTRAP "127.0.0.1:19092"
#define ADMIN_DEFAULT_PG_DSN "postgresql://shopstream:shopstream@127.0.0.1:15432/shopstream"
#define ADMIN_DEFAULT_REDIS_URL "redis://127.0.0.1:16379/0"
#define ADMIN_DEFAULT_TOPICS_FILE SS_SOURCE_DIR "/schemas/topics.tsv"
/* Options every subcommand takes: the first ADMIN_COMMON_COUNT of the table. */
#define ADMIN_COMMON_COUNT 7
#define ADMIN_OPTION_COUNT 13

static const char *const tail_options[] = {"--partition", "--from-beginning", "--last",
                                           "--count",     "--follow",         NULL};
static const char *const replay_options[] = {"--partition", NULL};
static const char *const dlq_list_options[] = {"--last", NULL};
static const char *const lag_options[] = {"--rank-group", NULL};

static const ss_admin_command_t commands[] = {
    {"topics", "", 0, 0,
     "each topic of topics.tsv: declared, live and recorded (topic_partitions) partition counts;"
     " exit 1 on a mismatch",
     NULL, ss_admin_topics_run},
    {"tail", "<topic>", 1, 1,
     "print records as JSON lines (key, partition, offset, headers, Avro value decoded); by"
     " default new records until interrupted",
     tail_options, ss_admin_tail_run},
    {"dlq list", "", 0, 0,
     "every dead letter of " SS_TOPIC_DLQ ": offset, source, schema, request id, replayable or"
     " replayed, reason",
     dlq_list_options, ss_admin_dlq_list_run},
    {"dlq replay", "<offset>...", 1, SS_ADMIN_ARGS_MAX,
     "produce the dead letters at these offsets back to their source topic (original key,"
     " headers and bytes), each at most once",
     replay_options, ss_admin_dlq_replay_run},
    {"outbox", "", 0, 0, "outbox rows and the age of the oldest row per source", NULL,
     ss_admin_outbox_run},
    {"lag", "", 0, 0,
     "per worker group and partition: stored next offset (PostgreSQL, Redis for the rank"
     " worker), log end offset and lag",
     lag_options, ss_admin_lag_run},
    {"rank-batch", "<YYYY-MM-DD>", 1, 1,
     "re-run the daily product_rank batch for that day (replaces its rows)", NULL,
     ss_admin_rank_batch_run},
};

const ss_admin_command_t *ss_admin_commands(size_t *count_out)
{
    *count_out = sizeof(commands) / sizeof(commands[0]);
    return commands;
}

/* Whether the command's name is argv[1] (one word) or argv[1] argv[2] (two words). */
static int command_words(const ss_admin_command_t *command, int argc, char **argv)
{
    const char *space = strchr(command->name, ' ');
    if (space == NULL) {
        return argc > 1 && strcmp(argv[1], command->name) == 0 ? 1 : 0;
    }
    size_t first = (size_t)(space - command->name);
    if (argc > 2 && strlen(argv[1]) == first && strncmp(argv[1], command->name, first) == 0 &&
        strcmp(argv[2], space + 1) == 0) {
        return 2;
    }
    return 0;
}

const ss_admin_command_t *ss_admin_command_find(int argc, char **argv, int *words_out)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        int words = command_words(&commands[i], argc, argv);
        if (words > 0) {
            *words_out = words;
            return &commands[i];
        }
    }
    return NULL;
}

static void options_table(ss_admin_config_t *config, ss_config_option_t *table)
{
    const ss_config_option_t all[ADMIN_OPTION_COUNT] = {
        {"--kafka-bootstrap", "KAFKA_BOOTSTRAP", SS_CONFIG_STRING, ADMIN_DEFAULT_BOOTSTRAP, 1, 1024,
         "Kafka bootstrap servers, host:port[,host:port]", &config->kafka_bootstrap},
        {"--pg-dsn", "PG_DSN", SS_CONFIG_STRING, ADMIN_DEFAULT_PG_DSN, 1, 1024,
         "PostgreSQL connection string", &config->pg_dsn},
        {"--redis-url", "REDIS_URL", SS_CONFIG_STRING, ADMIN_DEFAULT_REDIS_URL, 1, 1024,
         "Redis URL, redis://[[user]:password@]host[:port][/db]", &config->redis_url},
        {"--schema-dir", "SS_SCHEMA_DIR", SS_CONFIG_STRING, SS_AVRO_SCHEMA_DIR_DEFAULT, 1, 4096,
         "folder of the Avro schemas (*.avsc)", &config->schema_dir},
        {"--topics-file", "SS_TOPICS_FILE", SS_CONFIG_STRING, ADMIN_DEFAULT_TOPICS_FILE, 1, 4096,
         "the topic declarations (name, partitions, retention)", &config->topics_file},
        {"--timeout-ms", "SS_ADMIN_TIMEOUT_MS", SS_CONFIG_INT, "10000", 100, 600000,
         "bound on each broker, database or cache request", &config->timeout_ms},
        {"--log-level", "SS_LOG_LEVEL", SS_CONFIG_STRING, "warn", 1, 10,
         "debug, info, warn, error or off (library log lines on stderr)", &config->log_level},
        {"--partition", NULL, SS_CONFIG_INT, "-1", -1, SS_ADMIN_PARTITIONS_MAX - 1,
         "tail: only this partition (-1: all); dlq replay: the partition of " SS_TOPIC_DLQ
         " (-1: 0)",
         &config->partition},
        {"--from-beginning", NULL, SS_CONFIG_BOOL, "false", 0, 0,
         "tail: start at the oldest retained record and stop at the log end (unless --follow)",
         &config->from_beginning},
        {"--last", NULL, SS_CONFIG_INT, "0", 0, 1000000,
         "tail: start this many records before the log end of each partition (0: at the end);"
         " dlq list: only the last this many of each partition (0: all)",
         &config->last},
        {"--count", NULL, SS_CONFIG_INT, "0", 0, 100000000,
         "tail: stop after this many records (0: no limit)", &config->count},
        {"--follow", NULL, SS_CONFIG_BOOL, "false", 0, 0,
         "tail: with --from-beginning or --last, keep printing new records", &config->follow},
        {"--rank-group", "SS_RANK_GROUP_ID", SS_CONFIG_STRING, "ss-rank-worker", 1, 200,
         "lag: the rank worker's group (its offsets live in Redis ss:rank:offset:<partition>)",
         &config->rank_group},
    };
    memcpy(table, all, sizeof(all));
}

static bool command_takes(const ss_admin_command_t *command, const char *flag)
{
    if (command == NULL) {
        return true;
    }
    for (size_t i = 0; command->own_options != NULL && command->own_options[i] != NULL; i++) {
        if (strcmp(command->own_options[i], flag) == 0) {
            return true;
        }
    }
    return false;
}

void ss_admin_options(const ss_admin_command_t *command, ss_admin_config_t *config,
                      ss_config_option_t *options, size_t *count_out)
{
    ss_config_option_t table[ADMIN_OPTION_COUNT];
    options_table(config, table);
    size_t count = 0;
    for (size_t i = 0; i < ADMIN_OPTION_COUNT; i++) {
        if (i < ADMIN_COMMON_COUNT || command_takes(command, table[i].flag)) {
            options[count++] = table[i];
        }
    }
    *count_out = count;
}

/* The option whose flag is arg up to any '=', or NULL. */
static const ss_config_option_t *option_of(const ss_config_option_t *options, size_t option_count,
                                           const char *arg)
{
    size_t length = strcspn(arg, "=");
    for (size_t i = 0; i < option_count; i++) {
        if (strlen(options[i].flag) == length && strncmp(options[i].flag, arg, length) == 0) {
            return &options[i];
        }
    }
    return NULL;
}

ss_err_t ss_admin_args_split(const ss_config_option_t *options, size_t option_count, char **args,
                             size_t count, char **flags_out, size_t *flag_count_out,
                             char **positional_out, size_t *positional_count_out, char *errstr,
                             size_t errstr_size)
{
    size_t flags = 0, positional = 0;
    for (size_t i = 0; i < count; i++) {
        const char *arg = args[i];
        bool is_flag = strncmp(arg, "--", 2) == 0 || strcmp(arg, "-h") == 0;
        if (!is_flag) {
            positional_out[positional++] = args[i];
            continue;
        }
        flags_out[flags++] = args[i];
        const ss_config_option_t *option = option_of(options, option_count, arg);
        bool wants_value =
            option != NULL && option->type != SS_CONFIG_BOOL && strchr(arg, '=') == NULL;
        if (!wants_value) {
            continue; /* ss_config_load() judges unknown flags */
        }
        if (i + 1 >= count) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "%s needs a value", arg);
        }
        flags_out[flags++] = args[++i];
    }
    *flag_count_out = flags;
    *positional_count_out = positional;
    return SS_OK;
}

ss_err_t ss_admin_offset_parse(const char *text, int64_t *offset_out, char *errstr,
                               size_t errstr_size)
{
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "\"%s\" is not an offset",
                          text != NULL ? text : "");
    }
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < 0) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "\"%s\" is not an offset", text);
    }
    *offset_out = (int64_t)value;
    return SS_OK;
}

void ss_admin_usage(FILE *out)
{
    fprintf(out, "usage: " SS_ADMIN_PROGRAM " <command> [arguments] [options]\n"
                 "The operator's command for shopstream. `" SS_ADMIN_PROGRAM
                 " <command> --help` shows a command's options.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        fprintf(out, "  %s %s\n      %s\n", commands[i].name, commands[i].arguments,
                commands[i].summary);
    }
    fprintf(out, "\nexit status: 0 ok, 1 a problem found (mismatch, refused replay), 2 usage or"
                 " connection error\n\n");
    ss_admin_config_t config = {0};
    ss_config_option_t options[ADMIN_OPTION_COUNT];
    size_t count = 0;
    ss_admin_options(NULL, &config, options, &count);
    ss_config_usage(out, SS_ADMIN_PROGRAM " <command>", "options (common to all commands first)",
                    options, count);
}

/*
 * Start-up configuration from flags and environment variables, driven by a table the binary
 * declares: each option has a flag, an optional environment variable, a type, a default, a
 * range and one line of help. ss_config_load() fills every option's target once, validating
 * types and ranges, with the precedence flag > environment > default; the binary then passes
 * its config struct explicitly. ss_config_usage() prints the table for `--help`.
 *
 * Accepted command lines: `--name=value` and `--name value` for every type (a value that starts
 * with "--" needs the first form); a BOOL flag alone (`--verbose`) means true, and takes a value
 * only in the `--name=value` form. The last
 * occurrence of a flag wins. `--help` or `-h` anywhere makes ss_config_load() return
 * SS_ERR_HELP before anything else is checked. An unknown flag or a positional argument is an
 * error. An environment variable that is set counts as given, even when empty.
 *
 * Values: INT is a base-10 integer (optional sign, no blanks, no suffix) within [min, max];
 * STRING has a byte length within [min, max]; BOOL is one of true/false/1/0/yes/no (any case).
 * Error messages name the source and the value, e.g.
 * `SS_BATCH_RECORDS_MAX=0 is out of range 1..10000` or `--port=http is not an integer`;
 * string values are never echoed (they may be secrets such as a DSN's password).
 */
#ifndef SS_CONFIG_H
#define SS_CONFIG_H

#include "ss/error.h"

#include <stdio.h>

/* The most options one table may hold. */
#define SS_CONFIG_OPTIONS_MAX 128

typedef enum ss_config_type {
    SS_CONFIG_INT,    /* target is a long long * */
    SS_CONFIG_STRING, /* target is a char **: a heap copy, released by ss_config_free() */
    SS_CONFIG_BOOL,   /* target is a bool * */
} ss_config_type_t;

typedef struct ss_config_option {
    const char *flag;          /* "--batch-records-max"; must start with "--" */
    const char *env;           /* "SS_BATCH_RECORDS_MAX", or NULL for flag only */
    ss_config_type_t type;     /* how the text is parsed and what target points to */
    const char *default_value; /* text, parsed and checked like input; NULL = required */
    long long min, max;        /* INT: value range; STRING: byte length range; BOOL: unused */
    const char *help;          /* one line, no trailing period */
    void *target;              /* long long *, char ** or bool *, per type */
} ss_config_option_t;

/*
 * The consumer fetch options of every binary that consumes Kafka (ss_kafka_consumer_config_t's
 * fetch_min_bytes and fetch_wait_max_ms), one pair of long long targets. The defaults are
 * librdkafka's (answer a fetch with the first record): 64 KiB within 5 or 2 ms took less broker
 * CPU per charge but more per coupon issue and hot order, and added latency at every hop
 * (docs/performance.md, "Consumer fetch settings").
 */
#define SS_CONFIG_FETCH_MIN_BYTES_DEFAULT "1"
#define SS_CONFIG_FETCH_WAIT_MAX_MS_DEFAULT "500"
#define SS_CONFIG_FETCH_OPTIONS(min_bytes_target, wait_max_ms_target)                              \
    {"--fetch-min-bytes",                                                                          \
     "SS_FETCH_MIN_BYTES",                                                                         \
     SS_CONFIG_INT,                                                                                \
     SS_CONFIG_FETCH_MIN_BYTES_DEFAULT,                                                            \
     1,                                                                                            \
     1048576,                                                                                      \
     "bytes the broker gathers before it answers a fetch (fewer, fuller fetches)",                 \
     (min_bytes_target)},                                                                          \
    {                                                                                              \
        "--fetch-wait-max-ms", "SS_FETCH_WAIT_MAX_MS", SS_CONFIG_INT,                              \
            SS_CONFIG_FETCH_WAIT_MAX_MS_DEFAULT, 1, 10000,                                         \
            "longest the broker holds a fetch waiting for --fetch-min-bytes", (wait_max_ms_target) \
    }

/*
 * Fills every option's target from argv (argv[0] is the program and is skipped), the
 * environment and the defaults. STRING targets must be NULL or a previous heap copy from this
 * module on entry (they are freed before being replaced). On SS_OK every target holds a valid
 * value. On failure every STRING target is NULL again and the other targets are unspecified;
 * errstr says which option was wrong. Returns SS_ERR_HELP when `--help`/`-h` is present (the
 * binary prints ss_config_usage() and exits 0), SS_ERR_INVALID on bad input (including an
 * invalid default, which is a bug in the table), SS_ERR_NOMEM when a copy cannot be made.
 * A malformed table (NULL target, flag without "--", min > max, too many options) is a
 * programmer error and aborts through SS_ASSERT.
 */
ss_err_t ss_config_load(const ss_config_option_t *options, size_t option_count, int argc,
                        char **argv, char *errstr, size_t errstr_size);

/*
 * Writes `usage: <program> [options]`, the summary line, then per option its flag, value
 * type, environment variable, help, range and default (or "required") to out.
 */
void ss_config_usage(FILE *out, const char *program, const char *summary,
                     const ss_config_option_t *options, size_t option_count);

/* Frees every STRING target and sets it to NULL. Safe to call twice and after a failed load. */
void ss_config_free(const ss_config_option_t *options, size_t option_count);

#endif

/*
 * Logging: one line per event on stderr, `ts=... level=... component=... <message>` where the
 * message carries key=value context (topic=, partition=, offset=, request_id=). The macros
 * test the level before evaluating any argument, so a disabled debug line costs one load.
 * Thread-safe: each line is written with a single write(2).
 */
#ifndef SS_LOG_H
#define SS_LOG_H

#include "ss/error.h"

typedef enum ss_log_level {
    SS_LOG_LEVEL_DEBUG = 0,
    SS_LOG_LEVEL_INFO = 1,
    SS_LOG_LEVEL_WARN = 2,
    SS_LOG_LEVEL_ERROR = 3,
    SS_LOG_LEVEL_OFF = 4,
} ss_log_level_t;

/* The current threshold; lines below it are skipped. Default INFO. */
ss_log_level_t ss_log_level_get(void);
void ss_log_level_set(ss_log_level_t level);

/* Parses "debug", "info", "warn", "error" or "off". */
ss_err_t ss_log_level_parse(const char *text, ss_log_level_t *level_out, char *errstr,
                            size_t errstr_size);

/* Where lines go; default 2 (stderr). Tests point it at a pipe or file. */
void ss_log_fd_set(int fd);

/*
 * The calling thread's request context: every line this thread writes until the next set or
 * clear ends with " request_id=<id> trace_id=<id>" (each only when given and non-empty). The
 * values are copied (up to 128 and 32 characters) and must be key=value-safe, as ss/trace.h's
 * are. Set by the HTTP server while it handles a request and by the worker core while it
 * applies a record (ss_trace_log_enter()).
 */
void ss_log_context_set(const char *request_id, const char *trace_id);
void ss_log_context_clear(void);

void ss_log_write(ss_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SS_LOG_AT(level, component, ...)                                                           \
    do {                                                                                           \
        if ((level) >= ss_log_level_get()) {                                                       \
            ss_log_write((level), (component), __VA_ARGS__);                                       \
        }                                                                                          \
    } while (0)

#define SS_LOG_DEBUG(component, ...) SS_LOG_AT(SS_LOG_LEVEL_DEBUG, component, __VA_ARGS__)
#define SS_LOG_INFO(component, ...) SS_LOG_AT(SS_LOG_LEVEL_INFO, component, __VA_ARGS__)
#define SS_LOG_WARN(component, ...) SS_LOG_AT(SS_LOG_LEVEL_WARN, component, __VA_ARGS__)
#define SS_LOG_ERROR(component, ...) SS_LOG_AT(SS_LOG_LEVEL_ERROR, component, __VA_ARGS__)

#endif

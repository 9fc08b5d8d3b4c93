/*
 * The log line writer. The level lives in an atomic so any thread may read it without a lock;
 * a line is formatted into a stack buffer and written whole, so concurrent lines never mix.
 */
#include "ss/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum { SS_LOG_LINE_MAX = 2048 };

static _Atomic int log_level = SS_LOG_LEVEL_INFO;
static _Atomic int log_fd = 2;

/* " request_id=... trace_id=...", or "": this thread's request context (ss_log_context_set). */
enum { SS_LOG_CONTEXT_MAX = 200 };
static _Thread_local char log_context[SS_LOG_CONTEXT_MAX];

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

ss_log_level_t ss_log_level_get(void)
{
    return (ss_log_level_t)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void ss_log_level_set(ss_log_level_t level)
{
    atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

void ss_log_fd_set(int fd)
{
    atomic_store(&log_fd, fd);
}

void ss_log_context_set(const char *request_id, const char *trace_id)
{
    int used = 0;
    log_context[0] = '\0';
    if (request_id != NULL && request_id[0] != '\0') {
        used = snprintf(log_context, sizeof(log_context), " request_id=%.128s", request_id);
    }
    if (used >= 0 && trace_id != NULL && trace_id[0] != '\0') {
        snprintf(log_context + used, sizeof(log_context) - (size_t)used, " trace_id=%.32s",
                 trace_id);
    }
}

void ss_log_context_clear(void)
{
    log_context[0] = '\0';
}

ss_err_t ss_log_level_parse(const char *text, ss_log_level_t *level_out, char *errstr,
                            size_t errstr_size)
{
    for (int i = SS_LOG_LEVEL_DEBUG; i <= SS_LOG_LEVEL_OFF; i++) {
        if (text != NULL && strcasecmp(text, level_names[i]) == 0) {
            *level_out = (ss_log_level_t)i;
            return SS_OK;
        }
    }
    return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                      "unknown log level \"%s\": expected debug, info, warn, error or off",
                      text ? text : "");
}

void ss_log_write(ss_log_level_t level, const char *component, const char *fmt, ...)
{
    char line[SS_LOG_LINE_MAX];
    struct timespec now;
    struct tm utc;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    int used = snprintf(
        line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s component=%s ",
        utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
        now.tv_nsec / 1000000L, level_names[level < SS_LOG_LEVEL_OFF ? level : SS_LOG_LEVEL_ERROR],
        component ? component : "-");
    if (used < 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int more = vsnprintf(line + used, sizeof(line) - (size_t)used - 1, fmt, ap);
    va_end(ap);
    size_t length = (size_t)used + (more < 0 ? 0 : (size_t)more);
    size_t context_length = strlen(log_context);
    /* The context goes last and whole: a long message is cut, never the request id. */
    if (length > sizeof(line) - 2 - context_length) {
        length = sizeof(line) - 2 - context_length;
    }
    memcpy(line + length, log_context, context_length);
    length += context_length;
    line[length++] = '\n';
    ssize_t written = write(atomic_load(&log_fd), line, length);
    (void)written; /* a failing log write has nowhere better to be reported */
}

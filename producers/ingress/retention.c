/*
 * request_pending's retention job (retention.h). Both statements are bounded: the expiry
 * deletes at most SS_RETENTION_ROWS_MAX of the oldest rows; the sweep looks at the next
 * SS_RETENTION_ROWS_MAX rows after its cursor, in (created_at, request_id) order through
 * request_pending_created_idx, deletes those whose result exists and resumes after them next
 * time, so rows still waiting for a result cost one look per sweep, never a full scan each run.
 * Several ingress instances may run it at once: a row deleted twice is deleted once. It runs on
 * its own thread; the state below is that thread's alone between start and stop.
 */
#include "retention.h"

#include "ss/clock.h"
#include "ss/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How often the thread looks at its stop flag between runs. */
#define RETENTION_NAP_MS 100

#define SQL_PENDING_EXPIRE                                                                         \
    "DELETE FROM request_pending WHERE ctid = ANY(ARRAY(SELECT ctid FROM request_pending"          \
    " WHERE created_at < now() - $1::bigint * interval '1 second' ORDER BY created_at LIMIT"       \
    " $2::bigint FOR UPDATE SKIP LOCKED))"
#define SQL_PENDING_SWEEP                                                                          \
    "WITH candidates AS (SELECT request_id, created_at FROM request_pending"                       \
    " WHERE (created_at, request_id) > ($1::timestamptz, $2::text)"                                \
    " ORDER BY created_at, request_id LIMIT $3::bigint),"                                          \
    " gone AS (DELETE FROM request_pending p USING candidates c"                                   \
    " WHERE p.request_id = c.request_id"                                                           \
    " AND EXISTS (SELECT 1 FROM request_results r WHERE r.request_id = c.request_id)"              \
    " RETURNING 1),"                                                                               \
    " last AS (SELECT created_at, request_id FROM candidates"                                      \
    " ORDER BY created_at DESC, request_id DESC LIMIT 1)"                                          \
    " SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM candidates),"                      \
    " (SELECT created_at::text FROM last), (SELECT request_id FROM last)"

/* One sweep step; moves the cursor on, or back to the start when the sweep saw the end. */
static ss_err_t sweep(ss_pg_t *pg, ss_ingress_retention_t *retention, long long rows_max,
                      int64_t *deleted, bool *more, char *errstr, size_t errstr_size)
{
    char rows_text[24];
    snprintf(rows_text, sizeof(rows_text), "%lld", rows_max);
    bool start = retention->cursor_created_at[0] == '\0';
    const char *params[] = {start ? "-infinity" : retention->cursor_created_at,
                            start ? "" : retention->cursor_request_id, rows_text};
    PGresult *rows = NULL;
    int64_t seen = 0;
    ss_err_t err = ss_pg_query(pg, NULL, SQL_PENDING_SWEEP, 3, params, &rows, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, 0, 0, deleted, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, 0, 1, &seen, errstr, errstr_size);
    }
    *more = err == SS_OK && seen == rows_max;
    if (*more) {
        snprintf(retention->cursor_created_at, sizeof(retention->cursor_created_at), "%s",
                 PQgetvalue(rows, 0, 2));
        snprintf(retention->cursor_request_id, sizeof(retention->cursor_request_id), "%s",
                 PQgetvalue(rows, 0, 3));
    } else {
        retention->cursor_created_at[0] = '\0';
        retention->cursor_request_id[0] = '\0';
    }
    PQclear(rows);
    return err;
}

static ss_err_t prune(ss_pg_t *pg, ss_ingress_retention_t *retention,
                      const ss_ingress_config_t *config, bool *more, char *errstr,
                      size_t errstr_size)
{
    int64_t expired = 0, answered = 0;
    ss_err_t err = ss_retention_delete(pg, SQL_PENDING_EXPIRE, config->pending_retention_s,
                                       config->retention_rows_max, &expired, errstr, errstr_size);
    if (err == SS_OK) {
        err =
            sweep(pg, retention, config->retention_rows_max, &answered, more, errstr, errstr_size);
    }
    *more = err == SS_OK && (*more || expired == config->retention_rows_max);
    if (expired > 0 || answered > 0) {
        SS_LOG_INFO(SS_INGRESS_COMPONENT,
                    "retention pruned request_pending expired=%" PRId64 " answered=%" PRId64,
                    expired, answered);
    }
    return err;
}

static void run_once(ss_ingress_retention_t *retention)
{
    ss_ingress_t *ingress = retention->ingress;
    const ss_ingress_config_t *config = ingress->config;
    char errstr[256];
    ss_pg_t *pg = NULL;
    bool more = false;
    ss_err_t err = ss_ingress_pg_acquire(ingress, &pg, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = prune(pg, retention, config, &more, errstr, sizeof(errstr));
        ss_ingress_pg_release(ingress, pg);
    }
    if (err != SS_OK) {
        SS_LOG_WARN(SS_INGRESS_COMPONENT, "retention job failed error=\"%s\"", errstr);
    }
    ss_retention_ran(&retention->timer, ss_clock_monotonic_ms(), config->retention_interval_ms,
                     more);
}

/* The thread: a run when due, otherwise a short nap that looks at the stop flag. */
static void *job_main(void *opaque)
{
    ss_ingress_retention_t *retention = opaque;
    struct timespec nap = {.tv_sec = 0, .tv_nsec = RETENTION_NAP_MS * 1000000L};
    while (!atomic_load(&retention->stop)) {
        if (ss_retention_due(&retention->timer, ss_clock_monotonic_ms())) {
            run_once(retention);
        } else {
            nanosleep(&nap, NULL);
        }
    }
    return NULL;
}

ss_err_t ss_ingress_retention_start(ss_ingress_retention_t *retention, ss_ingress_t *ingress,
                                    char *errstr, size_t errstr_size)
{
    memset(retention, 0, sizeof(*retention));
    retention->ingress = ingress;
    atomic_init(&retention->stop, false);
    int failed = pthread_create(&retention->thread, NULL, job_main, retention);
    if (failed != 0) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "could not start the retention thread: %s", strerror(failed));
    }
    retention->started = true;
    return SS_OK;
}

void ss_ingress_retention_stop(ss_ingress_retention_t *retention)
{
    if (!retention->started) {
        return;
    }
    atomic_store(&retention->stop, true);
    pthread_join(retention->thread, NULL);
    retention->started = false;
}

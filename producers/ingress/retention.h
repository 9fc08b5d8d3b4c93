/*
 * The retention of request_pending, the ingress's own table (docs/architecture.md,
 * "Retention"): a row says that a client got 202 for a request, so that GET /requests/{id}
 * answers PENDING rather than 404 until the result exists. It is deleted once the result
 * exists (GET reads request_results first), or after SS_PENDING_RETENTION_S (7 d, the command
 * topics' retention: a command older than that can no longer apply). The job runs on a thread
 * of its own with a pooled connection, so a slow or unreachable PostgreSQL never holds up the
 * main loop (which serves the producer's delivery reports).
 */
#ifndef SS_INGRESS_RETENTION_H
#define SS_INGRESS_RETENTION_H

#include "ingress.h"

#include "ss/retention.h"

#include <pthread.h>
#include <stdatomic.h>

/* The job: its thread, its timer and where the sweep for answered rows stopped. */
typedef struct ss_ingress_retention {
    ss_ingress_t *ingress; /* borrowed; outlives the job */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    ss_retention_timer_t timer;
    char cursor_created_at[64]; /* "" : the sweep starts from the oldest row */
    char cursor_request_id[128];
} ss_ingress_retention_t;

/*
 * Starts the job's thread: every SS_RETENTION_INTERVAL_MS (at once again after a full batch),
 * one bounded delete of expired rows and one sweep step over answered ones.
 */
ss_err_t ss_ingress_retention_start(ss_ingress_retention_t *retention, ss_ingress_t *ingress,
                                    char *errstr, size_t errstr_size);
/* Stops and joins the thread (within one statement's time). Not started: a no-op. */
void ss_ingress_retention_stop(ss_ingress_retention_t *retention);

#endif

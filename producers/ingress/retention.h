/*
 * The retention of request_pending, the ingress's own table (docs/architecture.md,
 * "Retention"): a row says that a client got 202 for a request, so that GET /requests/{id}
 * answers PENDING rather than 404 until the result exists. It is deleted once the result
 * exists (GET reads request_results first), or after SS_PENDING_RETENTION_S (7 d, the command
 * topics' retention: a command older than that can no longer apply). Run from the main loop.
 */
#ifndef SS_INGRESS_RETENTION_H
#define SS_INGRESS_RETENTION_H

#include "ingress.h"

#include "ss/retention.h"

/* The job's state: its timer and where the sweep for answered rows stopped. Zeroed: start. */
typedef struct ss_ingress_retention {
    ss_retention_timer_t timer;
    char cursor_created_at[64]; /* "" : the sweep starts from the oldest row */
    char cursor_request_id[128];
} ss_ingress_retention_t;

/* When due: one bounded delete of expired rows and one sweep step over answered ones. */
void ss_ingress_retention_run(ss_ingress_t *ingress, ss_ingress_retention_t *retention);

#endif

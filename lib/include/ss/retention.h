/*
 * Retention of the dedupe and result tables (docs/architecture.md, "Retention"): the pure
 * checks of the settings, the timer every pruning job runs on, one bounded delete, and the
 * horizon below which every row of an id-ordered table is old.
 *
 * A pruning job deletes at most rows_max rows per statement (a LIMIT, so it never holds many
 * row locks or runs long), on a timer: every interval_ms, or at the next round while a full
 * batch says more is waiting. Every table is pruned by its owner: the worker framework prunes
 * idempotency_keys and request_results (ss/worker.h), the ingress request_pending, the stock
 * worker stock_reservations. Nothing here allocates.
 */
#ifndef SS_RETENTION_H
#define SS_RETENTION_H

#include "ss/error.h"
#include "ss/pg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults (seconds) and the ranges the binaries' options accept. */
#define SS_RETENTION_IDEMPOTENCY_S_DEFAULT "86400"   /* 24 h, as payment APIs keep keys */
#define SS_RETENTION_RESULT_S_DEFAULT "604800"       /* 7 d: GET /requests/{id} */
#define SS_RETENTION_PENDING_S_DEFAULT "604800"      /* 7 d: the command topics' retention */
#define SS_RETENTION_RESERVATION_S_DEFAULT "2592000" /* 30 d: stock_reservations */
#define SS_RETENTION_INTERVAL_MS_DEFAULT "60000"
#define SS_RETENTION_ROWS_MAX_DEFAULT "1000"
#define SS_RETENTION_S_MIN 60LL
#define SS_RETENTION_S_MAX 31536000LL /* a year */
#define SS_RETENTION_RESERVATION_S_MIN 86400LL
#define SS_RETENTION_INTERVAL_MS_MIN 100LL
#define SS_RETENTION_INTERVAL_MS_MAX 3600000LL
#define SS_RETENTION_ROWS_MAX_LIMIT 100000LL

/*
 * A key's lookup returns the first request's stored result, so a result must live at least as
 * long as its key: SS_ERR_INVALID with a message naming both settings when
 * result_retention_s < idempotency_retention_s.
 */
ss_err_t ss_retention_check(long long idempotency_retention_s, long long result_retention_s,
                            char *errstr, size_t errstr_size);

/* When a job runs next, on the monotonic clock; zeroed: due at once. */
typedef struct ss_retention_timer {
    int64_t next_ms;
} ss_retention_timer_t;

bool ss_retention_due(const ss_retention_timer_t *timer, int64_t now_ms);

/*
 * A run ended at now_ms. more: a statement deleted a full batch (more rows are waiting), so the
 * next run is due at once; otherwise after interval_ms.
 */
void ss_retention_ran(ss_retention_timer_t *timer, int64_t now_ms, long long interval_ms,
                      bool more);

/*
 * Runs one bounded DELETE, sql with two parameters: $1 the retention in seconds, $2 rows_max.
 * *deleted is the number of rows it deleted. Outside a transaction it commits on its own.
 */
ss_err_t ss_retention_delete(ss_pg_t *pg, const char *sql, long long retention_s,
                             long long rows_max, int64_t *deleted, char *errstr,
                             size_t errstr_size);

/*
 * The new horizon of a table pruned in id order: ids[0..count) are the next rows at or above
 * horizon in ascending id order (several rows may share an id), old[i] says whether row i is
 * past the retention, and limit is how many rows were asked for. Every row with an id below
 * the result is old: it stops at the first young row's id; when every row is old it moves past
 * the last id if the scan saw the end (count < limit), else up to the last id (rows sharing it
 * may lie beyond the scan). Never below horizon.
 */
int64_t ss_retention_horizon(int64_t horizon, const int64_t *ids, const bool *old, size_t count,
                             size_t limit);

#endif

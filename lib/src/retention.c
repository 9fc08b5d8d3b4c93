/*
 * The shared parts of the pruning jobs (ss/retention.h): settings checks, the timer, one
 * bounded delete and the id horizon. The jobs themselves live with each table's owner.
 */
#include "ss/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ss_err_t ss_retention_check(long long idempotency_retention_s, long long result_retention_s,
                            char *errstr, size_t errstr_size)
{
    if (idempotency_retention_s < SS_RETENTION_S_MIN || result_retention_s < SS_RETENTION_S_MIN) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "retentions must be at least %lld s",
                          SS_RETENTION_S_MIN);
    }
    if (result_retention_s < idempotency_retention_s) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "SS_RESULT_RETENTION_S=%lld is shorter than"
                          " SS_IDEMPOTENCY_RETENTION_S=%lld: a retried key must find its result",
                          result_retention_s, idempotency_retention_s);
    }
    return SS_OK;
}

bool ss_retention_due(const ss_retention_timer_t *timer, int64_t now_ms)
{
    return now_ms >= timer->next_ms;
}

void ss_retention_ran(ss_retention_timer_t *timer, int64_t now_ms, long long interval_ms, bool more)
{
    timer->next_ms = more ? now_ms : now_ms + interval_ms;
}

ss_err_t ss_retention_delete(ss_pg_t *pg, const char *sql, long long retention_s,
                             long long rows_max, int64_t *deleted, char *errstr, size_t errstr_size)
{
    char retention_text[24], rows_text[24];
    snprintf(retention_text, sizeof(retention_text), "%lld", retention_s);
    snprintf(rows_text, sizeof(rows_text), "%lld", rows_max);
    const char *params[] = {retention_text, rows_text};
    PGresult *result = NULL;
    *deleted = 0;
    ss_err_t err = ss_pg_query(pg, NULL, sql, 2, params, &result, errstr, errstr_size);
    if (err == SS_OK) {
        *deleted = strtoll(PQcmdTuples(result), NULL, 10);
    }
    PQclear(result);
    return err;
}

int64_t ss_retention_horizon(int64_t horizon, const int64_t *ids, const bool *old, size_t count,
                             size_t limit)
{
    if (count == 0) {
        return horizon;
    }
    for (size_t i = 0; i < count; i++) {
        if (!old[i]) {
            return ids[i] > horizon ? ids[i] : horizon;
        }
    }
    int64_t last = ids[count - 1];
    int64_t next = count < limit && last < INT64_MAX ? last + 1 : last;
    return next > horizon ? next : horizon;
}

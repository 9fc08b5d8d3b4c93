/*
 * The PostgreSQL half of the ranking (ss/rank.h): the daily batch that writes a day's SELL
 * ranking into product_rank from the order lines of the orders PAID that UTC day, and the
 * catch-up that runs every recent day rank_batch_runs does not hold. One transaction per day,
 * serialised per day by a transaction-level advisory lock, so two rank workers (or a worker and
 * `ss-rank-worker --batch-date`) running the same day one after the other give the same rows.
 */
#include "ss/rank.h"

#include "ss/assert.h"
#include "ss/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* pg_advisory_xact_lock(key, day): key is "rank" in ASCII, so it names this job. */
#define RANK_BATCH_LOCK_KEY "1918987883"
#define RANK_BATCH_NUMBER_SIZE 24

#define RANK_SQL_LOCK "SELECT pg_advisory_xact_lock(" RANK_BATCH_LOCK_KEY ", $1::int)"
#define RANK_SQL_RECORDED "SELECT count(*) FROM rank_batch_runs WHERE rank_date = $1::date"
#define RANK_SQL_DELETE "DELETE FROM product_rank WHERE rank_date = $1::date AND rank_type = 'SELL'"
#define RANK_SQL_INSERT                                                                            \
    "INSERT INTO product_rank (rank_date, product_id, rank_type, score)"                           \
    " SELECT $1::date, oi.product_id, 'SELL', sum(oi.quantity)"                                    \
    " FROM orders o JOIN order_items oi ON oi.order_id = o.id"                                     \
    " WHERE o.status = 'PAID'"                                                                     \
    " AND o.paid_at >= ($1::date)::timestamp AT TIME ZONE 'UTC'"                                   \
    " AND o.paid_at < ($1::date + 1)::timestamp AT TIME ZONE 'UTC'"                                \
    " GROUP BY oi.product_id"
#define RANK_SQL_RECORD                                                                            \
    "INSERT INTO rank_batch_runs (rank_date, finished_at) VALUES ($1::date, now())"                \
    " ON CONFLICT (rank_date) DO UPDATE SET finished_at = EXCLUDED.finished_at"
#define RANK_SQL_MISSING                                                                           \
    "SELECT d::date - DATE '1970-01-01'"                                                           \
    " FROM generate_series($1::date, $2::date, interval '1 day') AS d"                             \
    " WHERE NOT EXISTS (SELECT 1 FROM rank_batch_runs r WHERE r.rank_date = d::date)"              \
    " ORDER BY 1"

/*
 * Runs one statement of the batch with the day as its parameter. With want_value, *value_out is
 * the first column of the first row; otherwise, when value_out is not NULL, the rows affected.
 */
static ss_err_t rank_batch_step(ss_pg_t *pg, const char *sql, const char *param, bool want_value,
                                int64_t *value_out, char *errstr, size_t errstr_size)
{
    PGresult *result = NULL;
    const char *params[] = {param};
    ss_err_t err = ss_pg_query(pg, NULL, sql, 1, params, &result, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    if (want_value) {
        err = ss_pg_get_int64(result, 0, 0, value_out, errstr, errstr_size);
    } else if (value_out != NULL) {
        char *end = NULL;
        const char *affected = PQcmdTuples(result);
        errno = 0;
        long long count = strtoll(affected, &end, 10);
        *value_out = errno == 0 && end != affected && count >= 0 ? (int64_t)count : 0;
    }
    PQclear(result);
    return err;
}

ss_err_t ss_rank_batch_run(ss_pg_t *pg, int64_t day, bool force, bool *ran_out,
                           int64_t *products_out, char *errstr, size_t errstr_size)
{
    char date[SS_CLOCK_DAY_SIZE], day_number[RANK_BATCH_NUMBER_SIZE];
    char rollback_error[128];
    int64_t recorded = 0, products = 0;
    bool ran = false;

    SS_ASSERT(pg != NULL);
    if (ran_out != NULL) {
        *ran_out = false;
    }
    if (products_out != NULL) {
        *products_out = 0;
    }
    ss_err_t err =
        ss_clock_format_day(ss_clock_day_start_ms(day), date, sizeof(date), errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    snprintf(day_number, sizeof(day_number), "%" PRId64, day);
    err = ss_pg_begin(pg, errstr, errstr_size);
    if (err != SS_OK) {
        goto cleanup;
    }
    err = rank_batch_step(pg, RANK_SQL_LOCK, day_number, false, NULL, errstr, errstr_size);
    if (err == SS_OK && !force) {
        err = rank_batch_step(pg, RANK_SQL_RECORDED, date, true, &recorded, errstr, errstr_size);
    }
    if (err == SS_OK && recorded == 0) {
        err = rank_batch_step(pg, RANK_SQL_DELETE, date, false, NULL, errstr, errstr_size);
        if (err == SS_OK) {
            err = rank_batch_step(pg, RANK_SQL_INSERT, date, false, &products, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = rank_batch_step(pg, RANK_SQL_RECORD, date, false, NULL, errstr, errstr_size);
        }
        ran = err == SS_OK;
    }
    if (err == SS_OK) {
        err = ss_pg_commit(pg, errstr, errstr_size);
    }

cleanup:
    if (err != SS_OK) {
        ss_pg_rollback(pg, rollback_error, sizeof(rollback_error));
        return err;
    }
    if (ran_out != NULL) {
        *ran_out = ran;
    }
    if (products_out != NULL) {
        *products_out = products;
    }
    return SS_OK;
}

ss_err_t ss_rank_batch_catch_up(ss_pg_t *pg, int64_t due_day, int days_back, int *days_run_out,
                                char *errstr, size_t errstr_size)
{
    char first[SS_CLOCK_DAY_SIZE], last[SS_CLOCK_DAY_SIZE];
    int64_t days[SS_RANK_CATCH_UP_DAYS_MAX];
    int day_count = 0, days_run = 0;
    PGresult *result = NULL;

    SS_ASSERT(pg != NULL);
    if (days_run_out != NULL) {
        *days_run_out = 0;
    }
    if (days_back < 1 || days_back > SS_RANK_CATCH_UP_DAYS_MAX) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "catch-up of %d days is outside 1..%d", days_back,
                          SS_RANK_CATCH_UP_DAYS_MAX);
    }
    ss_err_t err = ss_clock_format_day(ss_clock_day_start_ms(due_day - days_back + 1), first,
                                       sizeof(first), errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_clock_format_day(ss_clock_day_start_ms(due_day), last, sizeof(last), errstr,
                                  errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }
    const char *params[] = {first, last};
    err = ss_pg_query(pg, NULL, RANK_SQL_MISSING, 2, params, &result, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    int rows = PQntuples(result);
    for (int row = 0; row < rows && row < SS_RANK_CATCH_UP_DAYS_MAX && err == SS_OK; row++) {
        err = ss_pg_get_int64(result, row, 0, &days[day_count], errstr, errstr_size);
        day_count += err == SS_OK ? 1 : 0;
    }
    PQclear(result);
    for (int i = 0; i < day_count && err == SS_OK; i++) {
        bool ran = false;
        err = ss_rank_batch_run(pg, days[i], false, &ran, NULL, errstr, errstr_size);
        days_run += ran ? 1 : 0;
    }
    if (days_run_out != NULL) {
        *days_run_out = days_run;
    }
    return err;
}

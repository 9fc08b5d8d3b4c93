/*
 * The daily batch inside the worker's loop and the command-line jobs. The timer runs
 * ss_rank_batch_catch_up() for every recent day that rank_batch_runs does not hold, up to the
 * latest day that is due (yesterday once SS_RANK_BATCH_AT has passed today); the first tick is
 * at start, which is how a missed day (the worker was down at the scheduled time) is computed.
 * A failed catch-up is retried with a doubling pause, up to a minute, without stopping the live
 * ranking.
 */
#include "rank_worker.h"

#include "ss/clock.h"
#include "ss/log.h"

#include <inttypes.h>
#include <stdio.h>

#define RANK_SCHEDULE_RETRY_MIN_MS INT64_C(1000)
#define RANK_SCHEDULE_RETRY_MAX_MS INT64_C(60000)
#define RANK_SCHEDULE_ERRSTR_SIZE 512

static int64_t rank_schedule_retry_ms(int failures)
{
    return ss_clock_backoff_ms(RANK_SCHEDULE_RETRY_MIN_MS, RANK_SCHEDULE_RETRY_MAX_MS,
                               failures - 1);
}

void ss_rank_worker_schedule_tick(ss_rank_worker_t *worker, int64_t now_ms)
{
    char errstr[RANK_SCHEDULE_ERRSTR_SIZE];
    if (now_ms < worker->next_batch_ms) {
        return;
    }
    int64_t due_day = ss_rank_batch_due_day(now_ms, worker->batch_minute_of_day);
    int days_run = 0;
    ss_err_t err = ss_rank_worker_pg(worker, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = ss_rank_batch_catch_up(worker->pg, due_day, (int)worker->config.catch_up_days,
                                     &days_run, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        worker->batch_failures++;
        int64_t retry_ms = rank_schedule_retry_ms(worker->batch_failures);
        worker->next_batch_ms = now_ms + retry_ms;
        SS_LOG_WARN(SS_RANK_COMPONENT,
                    "daily batch failed days_run=%d retry_in_ms=%" PRId64 " error=\"%s\"", days_run,
                    retry_ms, errstr);
        return;
    }
    worker->batch_failures = 0;
    worker->next_batch_ms = ss_rank_batch_next_ms(now_ms, worker->batch_minute_of_day);
    char next[SS_CLOCK_ISO8601_SIZE] = "";
    if (ss_clock_format_iso8601(worker->next_batch_ms, next, sizeof(next), errstr,
                                sizeof(errstr)) != SS_OK) {
        next[0] = '\0';
    }
    SS_LOG_INFO(SS_RANK_COMPONENT, "daily batch caught up days_run=%d due_day=%" PRId64 " next=%s",
                days_run, due_day, next);
}

ss_err_t ss_rank_worker_batch_date(ss_rank_worker_t *worker, const char *date, char *errstr,
                                   size_t errstr_size)
{
    int64_t day = 0, products = 0;
    if (ss_clock_parse_day(date, &day, errstr, errstr_size) != SS_OK) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "--batch-date=%s is not a date YYYY-MM-DD", date);
    }
    ss_err_t err = ss_rank_worker_pg(worker, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_rank_batch_run(worker->pg, day, true, NULL, &products, errstr, errstr_size);
    }
    if (err == SS_OK) {
        SS_LOG_INFO(SS_RANK_COMPONENT, "daily batch done date=%s products=%" PRId64, date,
                    products);
    }
    return err;
}

ss_err_t ss_rank_worker_rebuild(ss_rank_worker_t *worker, bool only_missing, char *errstr,
                                size_t errstr_size)
{
    int days = 0;
    int64_t now_ms = ss_clock_now_ms();
    ss_err_t err = ss_rank_worker_redis(worker, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_rank_worker_pg(worker, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_rank_rebuild_window(worker->pg, worker->redis, ss_clock_day_from_ms(now_ms),
                                     only_missing, now_ms, &days, errstr, errstr_size);
    }
    if (err == SS_OK && (days > 0 || !only_missing)) {
        SS_LOG_INFO(SS_RANK_COMPONENT, "redis ranking rebuilt from postgresql days=%d", days);
    }
    return err;
}

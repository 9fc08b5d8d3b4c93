/*
 * ss-admin rank-batch <YYYY-MM-DD>: re-runs one day's daily batch into product_rank with the
 * library's ss_rank_batch_run() (force: the day's rows are replaced), exactly what the rank
 * worker's --batch-date does. One transaction; progress is its start and end on stderr.
 */
#include "admin.h"

#include "ss/clock.h"
#include "ss/rank.h"

#include <inttypes.h>

int ss_admin_rank_batch_run(ss_admin_t *admin)
{
    char errstr[512];
    const char *date = admin->args[0];
    int64_t day = 0, products = 0;
    if (ss_clock_parse_day(date, &day, errstr, sizeof(errstr)) != SS_OK) {
        ss_admin_note("rank-batch: \"%s\" is not a date YYYY-MM-DD", date);
        return SS_ADMIN_EXIT_USAGE;
    }
    if (ss_admin_pg(admin, errstr, sizeof(errstr)) != SS_OK) {
        ss_admin_note("rank-batch: %s", errstr);
        return SS_ADMIN_EXIT_USAGE;
    }
    ss_admin_note("rank-batch: computing product_rank for %s", date);
    int64_t started_ms = ss_clock_monotonic_ms();
    ss_err_t err = ss_rank_batch_run(admin->pg, day, true, NULL, &products, errstr, sizeof(errstr));
    if (err != SS_OK) {
        ss_admin_note("rank-batch %s: %s%s", date, errstr,
                      ss_err_is_retriable(err) ? " (transient: run it again)" : "");
        return SS_ADMIN_EXIT_PROBLEM;
    }
    printf("rank-batch %s: %" PRId64 " products ranked\n", date, products);
    ss_admin_note("rank-batch: done in %" PRId64 " ms", ss_clock_monotonic_ms() - started_ms);
    return SS_ADMIN_EXIT_OK;
}

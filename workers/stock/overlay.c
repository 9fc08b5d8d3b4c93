/*
 * The stock overlay writer (see stock_worker.h and docs/reports/caching.md): after each commit
 * it writes the new (version, stock) of the batch's changed products to Redis before the
 * framework produces the batch's replies, so a client that saw its order PAID reads a stock
 * that includes its reservation. Redis is a cache here, never a dependency: a failed write is
 * logged, remembered as "rewrite everything changed since", retried at most once per
 * OVERLAY_RETRY_MS, and the batch goes on. Rewrites read PostgreSQL on their own connection.
 */
#include "stock_worker.h"

#include "ss/clock.h"
#include "ss/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* After a Redis failure, the next attempt waits this long (the others are skipped). */
#define OVERLAY_RETRY_MS 1000
/*
 * How far back a reset rewrites. An overlay entry expires SS_CACHE_STOCK_TTL_MS after its last
 * write, so an entry that missed the write of a change older than that has expired already; the
 * second TTL covers transactions whose updated_at (their start) precedes their commit.
 */
#define OVERLAY_RESET_WINDOW_MS (2 * SS_CACHE_STOCK_TTL_MS)
/* The same margin before the first lost write when rewriting after a failure. */
#define OVERLAY_LOST_MARGIN_MS (2 * SS_CACHE_STOCK_TTL_MS)
/* Rows one rewrite takes at most (every product of a large catalogue). */
#define OVERLAY_REWRITE_ROWS_MAX 10000000
#define OVERLAY_PG_CONNECT_TIMEOUT_S 5
#define OVERLAY_APPLICATION_NAME "ss-stock-worker-overlay"

#define SQL_OVERLAY_CHANGED                                                                        \
    "SELECT id, stock, stock_version FROM products"                                                \
    " WHERE updated_at >= to_timestamp($1::bigint / 1000.0)"

void ss_stock_overlay_init(ss_stock_overlay_t *overlay, const ss_stock_overlay_config_t *config)
{
    memset(overlay, 0, sizeof(*overlay));
    overlay->config = *config;
}

void ss_stock_overlay_free(ss_stock_overlay_t *overlay)
{
    if (overlay == NULL) {
        return;
    }
    ss_redis_destroy(overlay->redis);
    ss_pg_destroy(overlay->pg);
    overlay->redis = NULL;
    overlay->pg = NULL;
}

/* True when Redis may be tried now (no failure in the last OVERLAY_RETRY_MS). */
static bool overlay_may_try(const ss_stock_overlay_t *overlay)
{
    return overlay->config.redis_url != NULL && ss_clock_monotonic_ms() >= overlay->next_attempt_ms;
}

/* From since_ms on, changes must be rewritten. */
static void overlay_mark(ss_stock_overlay_t *overlay, int64_t since_ms)
{
    if (overlay->rewrite_since_ms == 0 || since_ms < overlay->rewrite_since_ms) {
        overlay->rewrite_since_ms = since_ms;
    }
}

/* Remembers a failure (at most one a OVERLAY_RETRY_MS, so logs do not flood) and rests. */
static void overlay_failed(ss_stock_overlay_t *overlay, int64_t since_ms, const char *what,
                           const char *errstr)
{
    overlay_mark(overlay, since_ms);
    overlay->next_attempt_ms = ss_clock_monotonic_ms() + OVERLAY_RETRY_MS;
    overlay->writes_failed++;
    SS_LOG_WARN(SS_STOCK_COMPONENT, "stock overlay %s failed, will rewrite error=\"%s\"", what,
                errstr);
}

static ss_err_t overlay_redis(ss_stock_overlay_t *overlay, char *errstr, size_t errstr_size)
{
    if (overlay->redis != NULL) {
        return SS_OK;
    }
    return ss_redis_connect(overlay->config.redis_url, overlay->config.timeout_ms, &overlay->redis,
                            errstr, errstr_size);
}

static ss_err_t overlay_pg(ss_stock_overlay_t *overlay, char *errstr, size_t errstr_size)
{
    if (overlay->pg == NULL) {
        return ss_pg_connect(overlay->config.pg_dsn, OVERLAY_APPLICATION_NAME,
                             OVERLAY_PG_CONNECT_TIMEOUT_S, &overlay->pg, errstr, errstr_size);
    }
    if (ss_pg_is_broken(overlay->pg)) {
        return ss_pg_reset(overlay->pg, errstr, errstr_size);
    }
    return SS_OK;
}

/* Reads the (id, stock, stock_version) rows into a malloc'd array the caller frees. */
static ss_err_t overlay_rows_read(const PGresult *rows, ss_cache_stock_t **entries_out,
                                  size_t *count_out, char *errstr, size_t errstr_size)
{
    int row_count = PQntuples(rows);
    if (row_count > OVERLAY_REWRITE_ROWS_MAX) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "%d changed products are more than a rewrite takes (%d)", row_count,
                          OVERLAY_REWRITE_ROWS_MAX);
    }
    ss_cache_stock_t *entries = calloc(row_count > 0 ? (size_t)row_count : 1, sizeof(*entries));
    if (entries == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not allocate a rewrite");
    }
    ss_err_t err = SS_OK;
    for (int row = 0; row < row_count && err == SS_OK; row++) {
        err = ss_pg_get_int64(rows, row, 0, &entries[row].product_id, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 1, &entries[row].stock, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 2, &entries[row].version, errstr, errstr_size);
        }
    }
    if (err != SS_OK) {
        free(entries);
        return err;
    }
    *entries_out = entries;
    *count_out = (size_t)row_count;
    return SS_OK;
}

ss_err_t ss_stock_overlay_rewrite(ss_stock_overlay_t *overlay, int64_t since_ms, char *errstr,
                                  size_t errstr_size)
{
    ss_cache_stock_t *entries = NULL;
    size_t count = 0, replaced = 0;
    PGresult *rows = NULL;
    char since_text[24];
    snprintf(since_text, sizeof(since_text), "%" PRId64, since_ms > 0 ? since_ms : 0);
    const char *params[] = {since_text};
    ss_err_t err = overlay_redis(overlay, errstr, errstr_size);
    if (err == SS_OK) {
        err = overlay_pg(overlay, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_query(overlay->pg, NULL, SQL_OVERLAY_CHANGED, 1, params, &rows, errstr,
                          errstr_size);
    }
    if (err == SS_OK) {
        err = overlay_rows_read(rows, &entries, &count, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_cache_stock_write(overlay->redis, entries, count, &replaced, errstr, errstr_size);
    }
    /* A change of sell status may be among what was missed: cached pages must go. */
    if (err == SS_OK) {
        err = ss_cache_catalog_bump(overlay->redis, errstr, errstr_size);
    }
    if (err == SS_OK) {
        overlay->rewrites_done++;
        SS_LOG_DEBUG(SS_STOCK_COMPONENT,
                     "stock overlay rewritten since_ms=%" PRId64 " products=%zu replaced=%zu",
                     since_ms, count, replaced);
    }
    PQclear(rows);
    free(entries);
    return err;
}

/* Runs the pending rewrite, if any; true when nothing is pending afterwards. */
static bool overlay_rewrite_pending(ss_stock_overlay_t *overlay)
{
    if (overlay->rewrite_since_ms == 0) {
        return true;
    }
    char errstr[512];
    int64_t since_ms = overlay->rewrite_since_ms;
    if (ss_stock_overlay_rewrite(overlay, since_ms - OVERLAY_LOST_MARGIN_MS, errstr,
                                 sizeof(errstr)) != SS_OK) {
        overlay_failed(overlay, since_ms, "rewrite", errstr);
        return false;
    }
    /* A failure during the rewrite may have moved the mark back; keep the earlier one then. */
    if (overlay->rewrite_since_ms == since_ms) {
        overlay->rewrite_since_ms = 0;
    }
    return overlay->rewrite_since_ms == 0;
}

void ss_stock_overlay_after_commit(ss_stock_overlay_t *overlay, ss_stock_batch_t *batch)
{
    int64_t committed_ms = ss_clock_now_ms();
    size_t count = batch->overlay_count;
    bool catalog_changed = batch->catalog_changed;
    batch->overlay_count = 0;
    batch->catalog_changed = false;
    if (count == 0 && !catalog_changed && overlay->rewrite_since_ms == 0) {
        return;
    }
    if (!overlay_may_try(overlay)) {
        overlay_mark(overlay, committed_ms);
        return;
    }
    char errstr[512];
    ss_err_t err = overlay_redis(overlay, errstr, sizeof(errstr));
    if (err == SS_OK && count > 0) {
        err = ss_cache_stock_write(overlay->redis, batch->overlay, count, NULL, errstr,
                                   sizeof(errstr));
    }
    if (err == SS_OK && catalog_changed) {
        err = ss_cache_catalog_bump(overlay->redis, errstr, sizeof(errstr));
    }
    if (err != SS_OK) {
        overlay_failed(overlay, committed_ms, "write", errstr);
        return;
    }
    (void)overlay_rewrite_pending(overlay);
}

void ss_stock_overlay_reset(ss_stock_overlay_t *overlay, ss_stock_batch_t *batch)
{
    batch->overlay_count = 0;
    batch->catalog_changed = false;
    int64_t now_ms = ss_clock_now_ms();
    /* Again after the next commit: a commit of unknown outcome may become visible only then. */
    overlay_mark(overlay, now_ms);
    if (!overlay_may_try(overlay)) {
        return;
    }
    char errstr[512];
    if (ss_stock_overlay_rewrite(overlay, now_ms - OVERLAY_RESET_WINDOW_MS, errstr,
                                 sizeof(errstr)) != SS_OK) {
        overlay_failed(overlay, now_ms, "rewrite", errstr);
    }
}

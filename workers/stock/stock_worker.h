/*
 * The stock worker's batch state. Each batch loads, with one query each, the products its
 * records name and the stock_reservations rows of its (order, product) pairs; it applies the
 * records in partition order against that in-memory copy (a hot product's stock is taken record
 * by record in memory), then writes the changed products with one multi-row UPDATE and the
 * changed reservations with one multi-row upsert. Nothing outlives a batch, so a rolled-back
 * batch leaves no stale state behind; only the buffers are kept for the next batch.
 *
 * The stock overlay (ss/cache.h, docs/reports/caching.md): the products UPDATE bumps each
 * changed product's stock_version and returns the new (id, stock, stock_version); the batch
 * keeps them, and after the commit, before the batch's replies are produced, overlay.c writes
 * them to Redis with the version compare-and-set. A Redis failure never fails a batch: the
 * worker remembers since when writes were lost and rewrites every product changed since then
 * once Redis answers again; a partition (re)assignment rewrites the recently changed products
 * before the outbox is re-sent, which closes the window of a predecessor that died between its
 * commit and its overlay write.
 *
 * Who frees what: ss_stock_batch_init() allocates nothing, ss_stock_batch_free() releases every
 * buffer. Product names point into the batch's last load result and are valid until the next
 * ss_stock_batch_load() or ss_stock_batch_free(). ss_stock_overlay_init() connects nothing;
 * ss_stock_overlay_free() closes what it opened.
 */
#ifndef SS_STOCK_WORKER_H
#define SS_STOCK_WORKER_H

#include "ss/api_error.h"
#include "ss/cache.h"
#include "ss/pg.h"
#include "ss/redis.h"
#include "ss/rules.h"
#include "ss/topics.h"
#include "ss/worker.h"

#include <stdbool.h>
#include <stdint.h>

#define SS_STOCK_COMPONENT "stock-worker"
/* Longest decimal text of an int64 plus the NUL. */
#define SS_STOCK_ID_TEXT_MAX 24
/* Columns of the widest bulk statement (the reservations upsert). */
#define SS_STOCK_COLUMNS_MAX 5

typedef struct ss_stock_product {
    int64_t product_id;
    bool found;       /* false: no such product in PostgreSQL */
    const char *name; /* borrowed from the load result */
    int64_t price;
    int64_t stock;
    int64_t loaded_stock; /* as loaded: the write is conditional on it (single writer) */
    ss_product_status_t status;
    ss_product_status_t loaded_status; /* as loaded: a change moves the catalogue version */
    bool dirty;
} ss_stock_product_t;

/* What stock_reservations says about one (order, product); NONE when there is no row. */
typedef enum ss_stock_reservation_status {
    SS_STOCK_RESERVATION_NONE,
    SS_STOCK_RESERVATION_RESERVED,
    SS_STOCK_RESERVATION_REJECTED,
    SS_STOCK_RESERVATION_RELEASED,
} ss_stock_reservation_status_t;

typedef struct ss_stock_reservation {
    int64_t order_id;
    int64_t product_id;
    int64_t quantity; /* reserved units (RESERVED, RELEASED), or the refused request */
    ss_stock_reservation_status_t status;
    ss_api_error_t reason; /* REJECTED only */
    bool dirty;
} ss_stock_reservation_t;

typedef struct ss_stock_batch {
    ss_stock_product_t *products; /* sorted by product_id, one per product the batch names */
    size_t product_count;
    size_t product_capacity;
    PGresult *product_rows;               /* the load result the names point into */
    ss_stock_reservation_t *reservations; /* sorted by (order_id, product_id), one per pair */
    size_t reservation_count;
    size_t reservation_capacity;
    /*
     * Every reservation of an order below this id was pruned (retain.c): a pair below it with
     * no row was decided long ago, and is never decided again. Loaded with the reservations.
     */
    int64_t reservation_horizon;
    ss_pg_array_t columns[SS_STOCK_COLUMNS_MAX]; /* parameter builders, reset for every statement */
    ss_cache_stock_t *overlay; /* what the products UPDATE returned, for after the commit */
    size_t overlay_count;
    size_t overlay_capacity;
    bool catalog_changed; /* a product's sell status changed */
} ss_stock_batch_t;

/* The overlay writer's settings (REDIS_URL and the command timeout), from main.c. */
typedef struct ss_stock_overlay_config {
    const char *redis_url; /* borrowed; outlives the overlay */
    const char *pg_dsn;    /* borrowed; the rewrite reads PostgreSQL on its own connection */
    int timeout_ms;        /* connect and command timeout of Redis */
} ss_stock_overlay_config_t;

/* The overlay writer: connections, opened lazily, and what is still to be rewritten. */
typedef struct ss_stock_overlay {
    ss_stock_overlay_config_t config;
    ss_redis_t *redis;
    ss_pg_t *pg;              /* for rewrites only; batches use the framework's connection */
    int64_t rewrite_since_ms; /* 0, or: rewrite every product changed since (wall clock) */
    int64_t next_attempt_ms;  /* monotonic: after a Redis failure, leave it alone until then */
    int64_t writes_failed;    /* counters, for logs and tests */
    int64_t rewrites_done;
} ss_stock_overlay_t;

/* The stock_reservations retention job (retain.c; docs/architecture.md, "Retention"). */
typedef struct ss_stock_retention {
    long long retention_s; /* SS_RESERVATION_RETENTION_S */
    int64_t *ids;          /* scan buffers, rows_max entries, allocated on first use */
    bool *old;
    size_t capacity;
} ss_stock_retention_t;

typedef struct ss_stock_worker {
    ss_stock_batch_t batch;
    ss_stock_overlay_t overlay;
    ss_stock_retention_t retention;
} ss_stock_worker_t;

/* state.c */
void ss_stock_batch_init(ss_stock_batch_t *batch);
void ss_stock_batch_free(ss_stock_batch_t *batch);
ss_err_t ss_stock_prepare_statements(ss_pg_t *pg, char *errstr, size_t errstr_size);
/*
 * Loads every product the unhandled records name (product_id) and the reservation rows of the
 * (order_id, product_id) pairs of their ReserveStock and ReleaseStock records. Every named
 * product and pair gets an entry, found or not, so the finders below never miss.
 */
ss_err_t ss_stock_batch_load(ss_stock_batch_t *batch, ss_pg_t *pg,
                             const ss_worker_record_t *records, size_t count, char *errstr,
                             size_t errstr_size);
/* The entry of a product the loaded records name (check ->found), or NULL for any other. */
ss_stock_product_t *ss_stock_product_find(ss_stock_batch_t *batch, int64_t product_id);
/* The entry of a pair the loaded records name, or NULL for any other. */
ss_stock_reservation_t *ss_stock_reservation_find(ss_stock_batch_t *batch, int64_t order_id,
                                                  int64_t product_id);
/* Writes the changed products and reservations. */
ss_err_t ss_stock_batch_flush(ss_stock_batch_t *batch, ss_pg_t *pg, char *errstr,
                              size_t errstr_size);

/* reserve.c: ReserveStock and ReleaseStock, events from the user worker (no reply wanted). */
ss_err_t ss_stock_reserve_apply(ss_stock_batch_t *batch, ss_worker_batch_t *worker_batch,
                                const ss_worker_record_t *record, char *errstr, size_t errstr_size);
ss_err_t ss_stock_release_apply(ss_stock_batch_t *batch, const ss_worker_record_t *record,
                                char *errstr, size_t errstr_size);

/* adjust.c: AdjustProduct, the admin command; answered with ss_worker_batch_reply(). */
ss_err_t ss_stock_adjust_apply(ss_stock_batch_t *batch, ss_worker_batch_t *worker_batch,
                               const ss_worker_record_t *record, size_t index, char *errstr,
                               size_t errstr_size);

/* overlay.c */
void ss_stock_overlay_init(ss_stock_overlay_t *overlay, const ss_stock_overlay_config_t *config);
void ss_stock_overlay_free(ss_stock_overlay_t *overlay);
/*
 * After a commit: writes batch->overlay and, when batch->catalog_changed, bumps the catalogue
 * version; then, or instead while Redis is failing, rewrites what earlier failures or a reset
 * left behind. Never fails; failures are logged and remembered.
 */
void ss_stock_overlay_after_commit(ss_stock_overlay_t *overlay, ss_stock_batch_t *batch);
/*
 * A partition was (re)assigned, rolled back or revoked: drops the batch's pending writes and
 * rewrites the products changed in the last 2 x SS_CACHE_STOCK_TTL_MS now (a predecessor may
 * have died between its commit and its overlay write), and again after the next commit.
 */
void ss_stock_overlay_reset(ss_stock_overlay_t *overlay, ss_stock_batch_t *batch);
/*
 * Rewrites, with the compare-and-set, the overlay entry of every product whose updated_at is at
 * or after since_ms, and bumps the catalogue version. Errors are the connections'.
 */
ss_err_t ss_stock_overlay_rewrite(ss_stock_overlay_t *overlay, int64_t since_ms, char *errstr,
                                  size_t errstr_size);

/* retain.c */
void ss_stock_retention_free(ss_stock_retention_t *retention);
/*
 * One bounded step, in its own transaction on pg: scans up to rows_max reservations at or above
 * the horizon in order_id order, raises the horizon over the old ones
 * (ss_retention_horizon) and deletes them. Skips when another worker is pruning.
 */
ss_err_t ss_stock_retention_run(ss_stock_retention_t *retention, ss_pg_t *pg, long long rows_max,
                                bool *more, char *errstr, size_t errstr_size);

/* handler.c */
void ss_stock_worker_handler(ss_stock_worker_t *stock_worker, ss_worker_handler_t *handler_out);

#endif

/*
 * The product ranking: quantity sold per product per UTC day, kept live in Redis by the rank
 * worker and computed daily into PostgreSQL's product_rank by its batch. GET /products/popular
 * (top 5 over the last 3 days including today) reads the Redis side through this module.
 *
 * Redis keys (one Redis, database from REDIS_URL):
 *   ss:rank:sell:<YYYY-MM-DD>   sorted set: member product id (decimal), score units sold
 *   ss:rank:seen:<YYYY-MM-DD>   set of the sale event ids already counted for that day, one per
 *                               paid order line: "order-<order_id>-sold-<product_id>"
 *   ss:rank:order-offset:<partition>  the next ss.events.order offset the rank worker will read
 * (Before stop 20 the rank worker read ProductSold events from ss.events.sales, with offsets under
 * ss:rank:offset:<partition>; those keys are no longer read and may be deleted. The sale event
 * ids are the same, so an upgraded worker reading ss.events.order from its start counts nothing
 * twice that the old one counted.)
 * A day's two keys are always written together, by one Lua script, and expire together at the
 * day's start plus SS_RANK_KEY_TTL_DAYS. Invariant: for every product, the sell score equals the
 * sum of the quantities of the events in the seen set. That is what makes every path idempotent:
 * the live worker, a replay, an outbox re-send with a new offset and a rebuild from PostgreSQL
 * all count an event id at most once per day.
 *
 * Pure parts (no I/O): key names, event ids, the window, the daily schedule, the top-N merge,
 * the sales of a decoded OrderPaid. I/O parts: applying sales to Redis with the offset
 * compare-and-set, reading an offset, rebuilding days from PostgreSQL, reading the popular
 * products, and the daily batch into product_rank (with its record in rank_batch_runs).
 * Nothing here prints. Functions that take an ss_pg_t or ss_redis_t use that connection only
 * during the call (not thread-safe, like the connections themselves).
 */
#ifndef SS_RANK_H
#define SS_RANK_H

#include "ss/error.h"
#include "ss/pg.h"
#include "ss/redis.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GET /products/popular: the top SS_RANK_POPULAR_MAX over today and the days before it. */
#define SS_RANK_WINDOW_DAYS 3
#define SS_RANK_POPULAR_MAX 5
/* A day's keys expire at its first second plus this many days. */
#define SS_RANK_KEY_TTL_DAYS 8
/* Buffer sizes, NUL included: "ss:rank:order-offset:2147483647", "order-<19 digits>-sold-<19>". */
#define SS_RANK_KEY_SIZE 40
#define SS_RANK_EVENT_ID_SIZE 64
/* A sale's event id is 1..SS_RANK_EVENT_ID_MAX bytes; its quantity 1..QUANTITY_MAX. */
#define SS_RANK_EVENT_ID_MAX 200
#define SS_RANK_QUANTITY_MAX 1000
/* What ss_rank_offset_read() reports when the partition has no stored offset yet. */
#define SS_RANK_OFFSET_NONE INT64_C(-1)
/* One ss_rank_sales_apply() call takes at most this many sales, of this many distinct days. */
#define SS_RANK_APPLY_SALES_MAX 500
#define SS_RANK_APPLY_DAYS_MAX 16
/* Members read from one day's sorted set by ss_rank_popular_read(). */
#define SS_RANK_DAY_PRODUCTS_MAX 100000
/* Order lines per PostgreSQL page of a rebuild, and pages per day. */
#define SS_RANK_REBUILD_PAGE_LINES 500
#define SS_RANK_REBUILD_PAGES_MAX 100000
/* ss_rank_batch_catch_up() looks back at most this many days. */
#define SS_RANK_CATCH_UP_DAYS_MAX 366

/* ---- names and days (pure) --------------------------------------------------------------- */

/*
 * "ss:rank:sell:<YYYY-MM-DD>" and "ss:rank:seen:<YYYY-MM-DD>" for a UTC day number (ss/clock.h),
 * "ss:rank:order-offset:<partition>" for a partition >= 0. SS_ERR_INVALID when the day is outside
 * 1970..9999, the partition is negative, or out_size is below SS_RANK_KEY_SIZE.
 */
ss_err_t ss_rank_sell_key(int64_t day, char *out, size_t out_size, char *errstr,
                          size_t errstr_size);
ss_err_t ss_rank_seen_key(int64_t day, char *out, size_t out_size, char *errstr,
                          size_t errstr_size);
ss_err_t ss_rank_offset_key(int32_t partition, char *out, size_t out_size, char *errstr,
                            size_t errstr_size);

/*
 * The sale event id of a paid order line, "order-<order_id>-sold-<product_id>": the live worker
 * counts an OrderPaid's lines under it and the rebuild marks lines with it, so a line is counted
 * once whichever comes first.
 * SS_ERR_INVALID for ids <= 0 or out_size below SS_RANK_EVENT_ID_SIZE.
 */
ss_err_t ss_rank_event_id(int64_t order_id, int64_t product_id, char *out, size_t out_size,
                          char *errstr, size_t errstr_size);

/* The first day of the popular window that ends with today: today - SS_RANK_WINDOW_DAYS + 1. */
int64_t ss_rank_window_first_day(int64_t today);

/* Unix seconds at which a day's keys expire: the day's start plus SS_RANK_KEY_TTL_DAYS. */
int64_t ss_rank_expire_at_s(int64_t day);

/* True when a day's keys have expired at now_ms: sales of that day are no longer counted. */
bool ss_rank_day_expired(int64_t day, int64_t now_ms);

/* ---- the daily schedule (pure) ----------------------------------------------------------- */

/* Parses "HH:MM" (00:00..23:59, two digits each) into minutes after midnight UTC. */
ss_err_t ss_rank_time_of_day_parse(const char *text, int *minute_of_day_out, char *errstr,
                                   size_t errstr_size);

/* The first scheduled instant strictly after now_ms: the next HH:MM (minute_of_day) UTC. */
int64_t ss_rank_batch_next_ms(int64_t now_ms, int minute_of_day);

/*
 * The latest day whose batch is due at now_ms: yesterday once today's HH:MM has come, else the
 * day before yesterday. The batch of a day runs at HH:MM of the following day.
 */
int64_t ss_rank_batch_due_day(int64_t now_ms, int minute_of_day);

/* ---- the top-N merge (pure) -------------------------------------------------------------- */

typedef struct ss_rank_score {
    int64_t product_id;
    int64_t score;
} ss_rank_score_t;

/*
 * Sums the scores of equal product ids (the entries of several days' sorted sets, in any
 * order) and writes the top_max best into top[0..n): score descending, then product id
 * ascending, so ties are stable. Returns n (<= top_max). Reorders scores[0..count) (sorted by
 * product id); top must not overlap scores. Sums saturate at INT64_MAX.
 */
size_t ss_rank_top(ss_rank_score_t *scores, size_t count, ss_rank_score_t *top, size_t top_max);

/* ---- sales ------------------------------------------------------------------------------- */

/* One paid order line to count. */
typedef struct ss_rank_sale {
    const char *event_id; /* borrowed; 1..SS_RANK_EVENT_ID_MAX bytes */
    int64_t product_id;   /* > 0 */
    int64_t quantity;     /* 1..SS_RANK_QUANTITY_MAX */
    int64_t day;          /* UTC day number of sold_at */
} ss_rank_sale_t;

/* Storage for one sale's event id. */
typedef char ss_rank_event_id_t[SS_RANK_EVENT_ID_SIZE];

/*
 * The sales of a decoded OrderPaid (ss/avro.h's JSON mapping): one per line, in line order, with
 * the event id ss_rank_event_id(order_id, product_id) written to event_ids[i] (which
 * sales[i].event_id borrows) and the UTC day of paid_at. SS_ERR_INVALID, with the field named in
 * errstr, when a field is missing, of the wrong type or out of range (order or product id <= 0,
 * quantity outside 1..SS_RANK_QUANTITY_MAX, paid_at outside the years 1970..9999, no line or more
 * than capacity); *count_out is 0 then.
 */
ss_err_t ss_rank_sales_from_order_paid(const json_t *record, ss_rank_sale_t *sales,
                                       ss_rank_event_id_t *event_ids, size_t capacity,
                                       size_t *count_out, char *errstr, size_t errstr_size);

/*
 * How many of the leading sales[0..count) one ss_rank_sales_apply() call may take: at most
 * SS_RANK_APPLY_SALES_MAX sales and SS_RANK_APPLY_DAYS_MAX distinct days. 0 only when count is 0.
 */
size_t ss_rank_sales_chunk(const ss_rank_sale_t *sales, size_t count);

/* The consumed-offset move that a batch makes together with its sales. */
typedef struct ss_rank_offset_move {
    int32_t partition; /* >= 0 */
    int64_t expected;  /* the stored offset the batch started from, or SS_RANK_OFFSET_NONE */
    int64_t next;      /* stored after the batch: last record's offset + 1 (>= 0) */
} ss_rank_offset_move_t;

/*
 * Counts sales[0..count) in one Redis Lua script, atomically: for each sale of a day that has
 * not expired at now_ms, SADD its event id to the day's seen set and, only when that added it,
 * ZINCRBY the day's sorted set by the quantity; then EXPIREAT both keys of each day; then, when
 * move is not NULL, SET the partition's offset to move->next, but only if the stored offset
 * still equals move->expected (absent for SS_RANK_OFFSET_NONE), else nothing at all is applied
 * and SS_ERR_CONFLICT is returned: another worker moved the partition on (fenced).
 * count may be 0 (a batch of skipped records still moves the offset); count and its days must
 * fit ss_rank_sales_chunk(). *counted_out (may be NULL) is how many sales were new.
 * Errors: SS_ERR_INVALID for bad arguments or a key holding another type (checked before
 * anything is written, so nothing is applied); SS_ERR_RETRIABLE when the connection failed: the
 * script may or may not have run, so re-read the offset (ss_rank_offset_read) before going on.
 */
ss_err_t ss_rank_sales_apply(ss_redis_t *redis, const ss_rank_sale_t *sales, size_t count,
                             const ss_rank_offset_move_t *move, int64_t now_ms, size_t *counted_out,
                             char *errstr, size_t errstr_size);

/*
 * The stored next offset of a partition, or SS_RANK_OFFSET_NONE when there is none.
 * SS_ERR_INVALID when the key holds something that is not a non-negative integer.
 */
ss_err_t ss_rank_offset_read(ss_redis_t *redis, int32_t partition, int64_t *offset_out,
                             char *errstr, size_t errstr_size);

/* ---- rebuild from PostgreSQL ------------------------------------------------------------- */

/*
 * Recomputes one day's keys from PostgreSQL after Redis lost them: deletes the day's sorted
 * set and seen set, then reads the day's PAID order lines (orders.paid_at in that UTC day) page
 * by page and applies each page with ss_rank_sales_apply() (event ids from ss_rank_event_id),
 * so the result counts every paid line once and an OrderPaid that arrives later for one of
 * them adds nothing. Safe while rank workers run: an event applied before the deletion belongs
 * to an order that is PAID in PostgreSQL already, so a page read after the deletion counts it
 * again. Readers may see the day partly rebuilt until it returns. *lines_out (may be NULL) is
 * the number of order lines read. A day that has expired is only deleted.
 */
ss_err_t ss_rank_rebuild_day(ss_pg_t *pg, ss_redis_t *redis, int64_t day, int64_t now_ms,
                             int64_t *lines_out, char *errstr, size_t errstr_size);

/*
 * Rebuilds the SS_RANK_WINDOW_DAYS days that end with today: every one of them, or with
 * only_missing just those whose sorted set does not exist (the start-up check). *days_out (may
 * be NULL) is how many days were rebuilt.
 */
ss_err_t ss_rank_rebuild_window(ss_pg_t *pg, ss_redis_t *redis, int64_t today, bool only_missing,
                                int64_t now_ms, int *days_out, char *errstr, size_t errstr_size);

/* ---- reading the popular products -------------------------------------------------------- */

/*
 * Reads the window's sorted sets ending with today (one pipeline) and merges them with
 * ss_rank_top() into top[0..*count_out), at most top_max. Products of a day beyond
 * SS_RANK_DAY_PRODUCTS_MAX, a member that is not a positive decimal id or a score that is not a
 * non-negative integer are SS_ERR_INVALID. Missing days count as empty.
 */
ss_err_t ss_rank_popular_read(ss_redis_t *redis, int64_t today, ss_rank_score_t *top,
                              size_t top_max, size_t *count_out, char *errstr, size_t errstr_size);

/* ---- the daily batch into product_rank --------------------------------------------------- */

/*
 * Computes one day's SELL ranking in one transaction, serialised per day by an advisory lock:
 * DELETE the day's product_rank SELL rows, INSERT the sum of quantities of the order lines of
 * orders PAID in that UTC day per product, and record the day in rank_batch_runs. A re-run gives
 * the same rows. With force false a day already recorded is left alone (*ran_out false).
 * *ran_out and *products_out (rows inserted) may be NULL. A lost connection or serialization
 * failure is SS_ERR_RETRIABLE (nothing committed, or a commit of unknown outcome: run again).
 */
ss_err_t ss_rank_batch_run(ss_pg_t *pg, int64_t day, bool force, bool *ran_out,
                           int64_t *products_out, char *errstr, size_t errstr_size);

/*
 * Runs ss_rank_batch_run(force false) for every day of [due_day - days_back + 1, due_day] that
 * rank_batch_runs does not hold, oldest first, stopping at the first failure. days_back is
 * 1..SS_RANK_CATCH_UP_DAYS_MAX. *days_run_out (may be NULL) counts the days computed.
 */
ss_err_t ss_rank_batch_catch_up(ss_pg_t *pg, int64_t due_day, int days_back, int *days_run_out,
                                char *errstr, size_t errstr_size);

#endif

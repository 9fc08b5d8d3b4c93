/*
 * The read caches in Redis behind GET /products and GET /products/popular
 * (docs/reports/caching.md says why they look like this and what they guarantee).
 *
 * Redis keys (one Redis, database from REDIS_URL):
 *   ss:stock:<product id>                   string "<stock_version>:<stock>", expires after
 *                                           SS_CACHE_STOCK_TTL_MS: the STOCK OVERLAY
 *   ss:catalog:version                      integer, INCR'd whenever the set of SELLING
 *                                           products may have changed
 *   ss:products:page:<version>:<cursor>:<limit>
 *                                           the skeleton (ids, names, prices) of one full page
 *                                           that has a next page, expires after
 *                                           SS_CACHE_PAGE_TTL_MS
 *   ss:popular:<YYYY-MM-DD>                 "<computed ms>\n<data JSON>" of GET /products/popular
 *                                           on that UTC day: fresh for SS_CACHE_POPULAR_TTL_MS,
 *                                           kept SS_CACHE_POPULAR_KEEP_MS
 *
 * The overlay's invariant: an entry never goes back to an older stock_version. Every write,
 * the stock worker's after its commit and a reader's fill after a miss alike, is one Lua
 * compare-and-set that replaces an entry only with an equal or newer version, so an
 * out-of-date writer (a fenced worker, a slow reader) cannot hide a newer value. The expiry
 * bounds how long an entry that missed a write (Redis failed, the process died) can be read.
 *
 * Pure parts: key names, the overlay value, the page skeleton encoding. I/O parts take an
 * ss_redis_t and use it only during the call (not thread-safe, like the connection). The
 * scripts build key names from their arguments, which a single Redis allows (a Redis Cluster
 * would need the keys of one call in one hash slot). Nothing here prints.
 */
#ifndef SS_CACHE_H
#define SS_CACHE_H

#include "ss/error.h"
#include "ss/redis.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lifetimes (milliseconds). */
#define SS_CACHE_STOCK_TTL_MS 10000
#define SS_CACHE_PAGE_TTL_MS 10000
#define SS_CACHE_POPULAR_TTL_MS 2000
/* How long Redis keeps a popular answer past its freshness, to serve while the next is made. */
#define SS_CACHE_POPULAR_KEEP_MS 60000
/* Buffer size of any key or overlay value of this module, NUL included. */
#define SS_CACHE_KEY_SIZE 96
#define SS_CACHE_VALUE_SIZE 48
/* Overlay entries per compare-and-set script call (ss_cache_stock_write splits larger sets). */
#define SS_CACHE_STOCK_WRITE_CHUNK 256
/* Products in one page (GET /products allows limit 1..100). */
#define SS_CACHE_PAGE_ITEMS_MAX 100
/* The catalogue version as text: an unsigned decimal of at most 19 digits, or "0". */
#define SS_CACHE_VERSION_SIZE 24

#define SS_CACHE_CATALOG_VERSION_KEY "ss:catalog:version"

/* One overlay entry: a product's stock as of its stock_version. */
typedef struct ss_cache_stock {
    int64_t product_id; /* > 0 */
    int64_t version;    /* products.stock_version, >= 0 */
    int64_t stock;      /* >= 0 */
} ss_cache_stock_t;

/* ---- names and values (pure) ------------------------------------------------------------- */

/*
 * "ss:stock:<id>" for id > 0, "ss:popular:<YYYY-MM-DD>" for a UTC day number (ss/clock.h).
 * SS_ERR_INVALID for an id <= 0, a day outside 1970..9999 or out_size below SS_CACHE_KEY_SIZE.
 */
ss_err_t ss_cache_stock_key(int64_t product_id, char *out, size_t out_size, char *errstr,
                            size_t errstr_size);
ss_err_t ss_cache_popular_key(int64_t day, char *out, size_t out_size, char *errstr,
                              size_t errstr_size);

/*
 * "ss:products:page:<version>:<cursor>:<limit>". version is SS_CACHE_VERSION_SIZE text of
 * digits; cursor >= 0; limit 1..SS_CACHE_PAGE_ITEMS_MAX. SS_ERR_INVALID otherwise.
 */
ss_err_t ss_cache_page_key(const char *version, int64_t cursor, int64_t limit, char *out,
                           size_t out_size, char *errstr, size_t errstr_size);

/* "<version>:<stock>" into out (at least SS_CACHE_VALUE_SIZE). SS_ERR_INVALID for negatives. */
ss_err_t ss_cache_stock_value_format(int64_t version, int64_t stock, char *out, size_t out_size,
                                     char *errstr, size_t errstr_size);

/*
 * Parses an overlay value of length bytes (not NUL-terminated): two non-negative decimals
 * separated by ':', nothing else. SS_ERR_INVALID otherwise (the outputs are untouched).
 */
ss_err_t ss_cache_stock_value_parse(const char *text, size_t length, int64_t *version_out,
                                    int64_t *stock_out);

/* ---- the page skeleton (pure) ------------------------------------------------------------ */

/* One product of a page; name is borrowed. */
typedef struct ss_cache_page_item {
    int64_t product_id;
    const char *name;
    int64_t price;
} ss_cache_page_item_t;

/*
 * Encodes items[0..count) (1..SS_CACHE_PAGE_ITEMS_MAX, ids > 0, prices >= 0) as the skeleton
 * value: the ids separated by spaces, a newline, then the JSON array [[id,"name",price],...].
 * The id line lets the read script find the overlay keys without decoding JSON. Returns a
 * malloc'd string the caller frees, or NULL for invalid items or no memory.
 */
char *ss_cache_page_encode(const ss_cache_page_item_t *items, size_t count);

/*
 * Decodes a skeleton value of length bytes into items[0..*count_out) (at most items_max). The
 * names point into *json_out, which the caller frees with json_decref() (on failure *json_out
 * is NULL). SS_ERR_INVALID when the value is malformed or the id line disagrees with the JSON.
 */
ss_err_t ss_cache_page_decode(const char *text, size_t length, ss_cache_page_item_t *items,
                              size_t items_max, size_t *count_out, json_t **json_out, char *errstr,
                              size_t errstr_size);

/* ---- I/O ----------------------------------------------------------------------------------- */

/*
 * Writes entries[0..count) to the overlay with the compare-and-set: an entry is replaced when
 * it is absent or its version is not newer than the new one, and then expires after
 * SS_CACHE_STOCK_TTL_MS. One script call per SS_CACHE_STOCK_WRITE_CHUNK entries, pipelined in
 * one round trip. *replaced_out (may be NULL) counts the entries written. SS_ERR_INVALID for an
 * invalid entry (nothing sent) or a key holding another type; SS_ERR_RETRIABLE when the
 * connection failed (some chunks may have been applied: every chunk is safe to repeat).
 */
ss_err_t ss_cache_stock_write(ss_redis_t *redis, const ss_cache_stock_t *entries, size_t count,
                              size_t *replaced_out, char *errstr, size_t errstr_size);

/* INCR ss:catalog:version: every cached page skeleton stops being read. */
ss_err_t ss_cache_catalog_bump(ss_redis_t *redis, char *errstr, size_t errstr_size);

/* What ss_cache_page_lookup() found. */
typedef struct ss_cache_page_lookup {
    char version[SS_CACHE_VERSION_SIZE]; /* the catalogue version the lookup used */
    bool hit;                            /* the skeleton was cached (and well-formed) */
    size_t count;                        /* items of the skeleton */
    ss_cache_page_item_t items[SS_CACHE_PAGE_ITEMS_MAX];
    bool stock_found[SS_CACHE_PAGE_ITEMS_MAX]; /* the overlay had item i */
    int64_t stock[SS_CACHE_PAGE_ITEMS_MAX];    /* item i's stock when found */
    json_t *json;                              /* owns the names; freed by _clear */
} ss_cache_page_lookup_t;

/*
 * One script call: reads the catalogue version, the skeleton of (cursor, limit) under it and
 * the overlay entries of its products. A skeleton that does not decode counts as a miss, an
 * overlay entry that does not parse as not found. *out is overwritten; release it with
 * ss_cache_page_lookup_clear() whatever this returns. Errors are the connection's.
 */
ss_err_t ss_cache_page_lookup(ss_redis_t *redis, int64_t cursor, int64_t limit,
                              ss_cache_page_lookup_t *out, char *errstr, size_t errstr_size);

/* Frees what a lookup holds and zeroes it. NULL is a no-op. */
void ss_cache_page_lookup_clear(ss_cache_page_lookup_t *lookup);

/*
 * Caches the skeleton of (cursor, limit) under the catalogue version a lookup read (SET with
 * expiry SS_CACHE_PAGE_TTL_MS). The version must have been read BEFORE the page was read from
 * PostgreSQL: a change committed in between has bumped the version, so the skeleton lands
 * under a key nobody reads any more.
 */
ss_err_t ss_cache_page_store(ss_redis_t *redis, const char *version, int64_t cursor, int64_t limit,
                             const ss_cache_page_item_t *items, size_t count, char *errstr,
                             size_t errstr_size);

#endif

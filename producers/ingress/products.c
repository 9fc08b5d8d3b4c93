/*
 * GET /api/v1/products: SELLING products by id with their current stock, a page at a time.
 * The cursor is the last id of the previous page (opaque to clients), so paging is an index
 * range scan on the partial index products_selling_idx and never skips or repeats a product.
 *
 * Cached in Redis (ss/cache.h, docs/reports/caching.md) as two parts with different lives:
 * - the page SKELETON (ids, names, prices: what only an admin changes), under the catalogue
 *   version, for SS_CACHE_PAGE_TTL_MS; only full pages that have a next page are cached, so a
 *   new product (a higher id, at the end) shows at once on the uncached last page;
 * - the STOCK OVERLAY, one entry per product, written by the stock worker after each commit;
 *   an entry that is missing (expired, Redis restarted) is read from PostgreSQL and filled with
 *   the same compare-and-set the worker uses.
 * One script call reads the version, the skeleton and the page's overlay entries. Any Redis
 * failure answers from PostgreSQL, as before the cache existed.
 */
#include "ingress.h"
#include "read_cache.h"

#include "ss/cache.h"
#include "ss/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define PRODUCTS_LIMIT_DEFAULT 20
#define PRODUCTS_LIMIT_MAX SS_CACHE_PAGE_ITEMS_MAX

#define SQL_PRODUCTS_PAGE                                                                          \
    "SELECT id, name, price, stock, stock_version FROM products"                                   \
    " WHERE sell_status = 'SELLING' AND id > $1 ORDER BY id LIMIT $2"
#define SQL_PRODUCTS_STOCK                                                                         \
    "SELECT id, stock, stock_version FROM products WHERE id = ANY($1::bigint[])"

/* A page read from PostgreSQL: up to limit + 1 rows (the extra one says "more"). */
typedef struct products_page {
    size_t count; /* rows shown (at most limit) */
    bool more;    /* a next page exists */
    ss_cache_page_item_t items[PRODUCTS_LIMIT_MAX];
    ss_cache_stock_t stock[PRODUCTS_LIMIT_MAX];
} products_page_t;

static json_t *product_json(int64_t id, const char *name, int64_t price, int64_t stock)
{
    return json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)id, "name", name, "price",
                     (json_int_t)price, "stock", (json_int_t)stock);
}

/* {products, nextCursor}: nextCursor is the last id shown when there is more, else null. */
static json_t *page_json(const ss_cache_page_item_t *items, const int64_t *stock, size_t count,
                         bool more)
{
    json_t *products = json_array();
    for (size_t i = 0; i < count && products != NULL; i++) {
        if (json_array_append_new(products, product_json(items[i].product_id, items[i].name,
                                                         items[i].price, stock[i])) != 0) {
            json_decref(products);
            products = NULL;
        }
    }
    if (products == NULL) {
        return NULL;
    }
    json_t *next = json_null();
    if (more && count > 0) {
        char cursor[24];
        snprintf(cursor, sizeof(cursor), "%" PRId64, items[count - 1].product_id);
        next = json_string(cursor);
    }
    return json_pack("{s:o, s:o}", "products", products, "nextCursor", next);
}

/* Reads the PostgreSQL rows into page; names borrow from rows. */
static ss_err_t page_read(const PGresult *rows, int64_t limit, products_page_t *page, char *errstr,
                          size_t errstr_size)
{
    int count = PQntuples(rows);
    page->more = count > limit;
    page->count = (size_t)(count > limit ? limit : count);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < page->count && err == SS_OK; i++) {
        int row = (int)i;
        ss_cache_page_item_t *item = &page->items[i];
        ss_cache_stock_t *stock = &page->stock[i];
        err = ss_pg_get_int64(rows, row, 0, &item->product_id, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_get_text(rows, row, 1, &item->name, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 2, &item->price, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 3, &stock->stock, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 4, &stock->version, errstr, errstr_size);
        }
        stock->product_id = item->product_id;
    }
    return err;
}

/*
 * Fills the overlay entries the lookup missed from PostgreSQL (and back into Redis). On SS_OK
 * every item of the lookup has its stock. *redis_err is the outcome of the Redis fill.
 */
static ss_err_t stock_fill(ss_ingress_t *ingress, ss_redis_t *redis, ss_cache_page_lookup_t *lookup,
                           ss_err_t *redis_err, char *errstr, size_t errstr_size)
{
    ss_pg_array_t ids;
    ss_pg_array_init(&ids);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < lookup->count && err == SS_OK; i++) {
        if (!lookup->stock_found[i]) {
            err = ss_pg_array_append_int64(&ids, lookup->items[i].product_id, errstr, errstr_size);
        }
    }
    if (err != SS_OK || ss_pg_array_count(&ids) == 0) {
        ss_pg_array_free(&ids);
        return err;
    }
    const char *params[] = {ss_pg_array_text(&ids)};
    PGresult *rows = NULL;
    err = ss_ingress_query(ingress, SQL_PRODUCTS_STOCK, 1, params, &rows, errstr, errstr_size);
    ss_pg_array_free(&ids);
    ss_cache_stock_t fills[PRODUCTS_LIMIT_MAX];
    size_t fill_count = 0;
    int row_count = err == SS_OK ? PQntuples(rows) : 0;
    for (int row = 0; row < row_count && err == SS_OK && fill_count < PRODUCTS_LIMIT_MAX; row++) {
        ss_cache_stock_t *fill = &fills[fill_count];
        err = ss_pg_get_int64(rows, row, 0, &fill->product_id, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 1, &fill->stock, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 2, &fill->version, errstr, errstr_size);
        }
        for (size_t i = 0; i < lookup->count && err == SS_OK; i++) {
            if (!lookup->stock_found[i] && lookup->items[i].product_id == fill->product_id) {
                lookup->stock[i] = fill->stock;
                lookup->stock_found[i] = true;
            }
        }
        fill_count++;
    }
    PQclear(rows);
    for (size_t i = 0; i < lookup->count && err == SS_OK; i++) {
        if (!lookup->stock_found[i]) {
            /* Products are never deleted; a cached page naming a missing one is not trusted. */
            err = ss_err_set(SS_ERR_NOT_FOUND, errstr, errstr_size,
                             "product %" PRId64 " of a cached page is not in postgresql",
                             lookup->items[i].product_id);
        }
    }
    if (err == SS_OK) {
        char ignored[256];
        *redis_err = ss_cache_stock_write(redis, fills, fill_count, NULL, ignored, sizeof(ignored));
    }
    return err;
}

/* Answers from the cache; false when it cannot (a miss or a failure), without answering. */
static bool answer_cached(ss_http_request_t *req, ss_ingress_t *ingress, ss_redis_t *redis,
                          ss_cache_page_lookup_t *lookup, ss_err_t *redis_err)
{
    char errstr[256];
    if (!lookup->hit ||
        stock_fill(ingress, redis, lookup, redis_err, errstr, sizeof(errstr)) != SS_OK) {
        return false;
    }
    json_t *data = page_json(lookup->items, lookup->stock, lookup->count, true);
    if (data == NULL) {
        return false;
    }
    ss_ingress_respond_ok(req, data);
    return true;
}

/* Caches the skeleton of a full page with a next page, and its stock, under version. */
static ss_err_t page_store(ss_redis_t *redis, const char *version, int64_t cursor, int64_t limit,
                           const products_page_t *page)
{
    char errstr[256];
    ss_err_t err =
        ss_cache_stock_write(redis, page->stock, page->count, NULL, errstr, sizeof(errstr));
    if (err == SS_OK && page->more && page->count == (size_t)limit) {
        err = ss_cache_page_store(redis, version, cursor, limit, page->items, page->count, errstr,
                                  sizeof(errstr));
    }
    return err;
}

static void products_list(ss_http_request_t *req, void *context)
{
    ss_ingress_t *ingress = context;
    int64_t limit = 0, cursor = 0;
    char errstr[256];
    if (ss_http_request_query_int64(req, "limit", PRODUCTS_LIMIT_DEFAULT, 1, PRODUCTS_LIMIT_MAX,
                                    &limit, errstr, sizeof(errstr)) != SS_OK ||
        ss_http_request_query_digits(req, "cursor", 0, SS_HTTP_QUERY_DIGITS_MAX, &cursor, errstr,
                                     sizeof(errstr)) != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_INVALID_REQUEST, errstr, NULL);
        return;
    }
    ss_cache_page_lookup_t lookup;
    memset(&lookup, 0, sizeof(lookup));
    ss_err_t redis_err = SS_OK;
    ss_redis_t *redis = ss_ingress_cache_acquire(ingress);
    if (redis != NULL) {
        redis_err = ss_cache_page_lookup(redis, cursor, limit, &lookup, errstr, sizeof(errstr));
        if (redis_err == SS_OK && answer_cached(req, ingress, redis, &lookup, &redis_err)) {
            ss_cache_page_lookup_clear(&lookup);
            ss_ingress_cache_release(ingress, redis);
            return;
        }
    }

    char cursor_text[24], limit_text[24];
    snprintf(cursor_text, sizeof(cursor_text), "%" PRId64, cursor);
    snprintf(limit_text, sizeof(limit_text), "%" PRId64, limit + 1);
    const char *params[] = {cursor_text, limit_text};
    PGresult *rows = NULL;
    products_page_t page;
    ss_err_t err =
        ss_ingress_query(ingress, SQL_PRODUCTS_PAGE, 2, params, &rows, errstr, sizeof(errstr));
    if (err == SS_OK) {
        err = page_read(rows, limit, &page, errstr, sizeof(errstr));
    }
    json_t *data = NULL;
    if (err == SS_OK) {
        int64_t stock[PRODUCTS_LIMIT_MAX];
        for (size_t i = 0; i < page.count; i++) {
            stock[i] = page.stock[i].stock;
        }
        data = page_json(page.items, stock, page.count, page.more);
    }
    if (data == NULL) {
        ss_ingress_respond_error(
            req, err == SS_OK ? SS_API_ERROR_INTERNAL : SS_API_ERROR_UNAVAILABLE, NULL, NULL);
    } else {
        ss_ingress_respond_ok(req, data);
        /* The version was read before the page: see ss_cache_page_store(). */
        if (redis != NULL && redis_err == SS_OK && lookup.version[0] != '\0' && page.count > 0) {
            redis_err = page_store(redis, lookup.version, cursor, limit, &page);
        }
    }
    PQclear(rows);
    ss_cache_page_lookup_clear(&lookup);
    ss_ingress_cache_release(ingress, redis);
}

const ss_http_route_t ss_ingress_products_routes[] = {
    {SS_HTTP_METHOD_GET, "/api/v1/products", products_list},
};
const size_t ss_ingress_products_routes_count =
    sizeof(ss_ingress_products_routes) / sizeof(ss_ingress_products_routes[0]);

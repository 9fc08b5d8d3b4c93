/*
 * GET /api/v1/products: SELLING products by id with their current stock, a page at a time.
 * The cursor is the last id of the previous page (opaque to clients), so paging is an index
 * range scan on the partial index products_selling_idx and never skips or repeats a product.
 */
#include "ingress.h"

#include "ss/json.h"

#include <inttypes.h>
#include <stdio.h>

#define PRODUCTS_LIMIT_DEFAULT 20
#define PRODUCTS_LIMIT_MAX 100

#define SQL_PRODUCTS_PAGE                                                                          \
    "SELECT id, name, price, stock FROM products WHERE sell_status = 'SELLING' AND id > $1"        \
    " ORDER BY id LIMIT $2"

static json_t *product_json(const PGresult *rows, int row)
{
    int64_t id, price, stock;
    const char *name;
    char errstr[128];
    if (ss_pg_get_int64(rows, row, 0, &id, errstr, sizeof(errstr)) != SS_OK ||
        ss_pg_get_text(rows, row, 1, &name, errstr, sizeof(errstr)) != SS_OK ||
        ss_pg_get_int64(rows, row, 2, &price, errstr, sizeof(errstr)) != SS_OK ||
        ss_pg_get_int64(rows, row, 3, &stock, errstr, sizeof(errstr)) != SS_OK) {
        return NULL;
    }
    return json_pack("{s:I, s:s, s:I, s:I}", "id", (json_int_t)id, "name", name, "price",
                     (json_int_t)price, "stock", (json_int_t)stock);
}

/* Builds {products, nextCursor} from up to limit + 1 rows (the extra one says "more"). */
static json_t *page_json(const PGresult *rows, int64_t limit)
{
    json_t *products = json_array();
    int count = PQntuples(rows);
    int shown = count > limit ? (int)limit : count;
    for (int row = 0; row < shown; row++) {
        json_array_append_new(products, product_json(rows, row));
    }
    json_t *next = json_null();
    if (count > limit && shown > 0) {
        next = json_string(PQgetvalue(rows, shown - 1, 0));
    }
    return json_pack("{s:o, s:o}", "products", products, "nextCursor", next);
}

static void products_list(ss_http_request_t *req, void *context)
{
    ss_ingress_t *ingress = context;
    int64_t limit = 0, cursor = 0;
    char errstr[256];
    if (ss_http_request_query_int64(req, "limit", PRODUCTS_LIMIT_DEFAULT, 1, PRODUCTS_LIMIT_MAX,
                                    &limit, errstr, sizeof(errstr)) != SS_OK ||
        ss_http_request_query_int64(req, "cursor", 0, 0, INT64_MAX, &cursor, errstr,
                                    sizeof(errstr)) != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_INVALID_REQUEST, errstr, NULL);
        return;
    }
    char cursor_text[24], limit_text[24];
    snprintf(cursor_text, sizeof(cursor_text), "%" PRId64, cursor);
    snprintf(limit_text, sizeof(limit_text), "%" PRId64, limit + 1);
    const char *params[] = {cursor_text, limit_text};
    PGresult *rows = NULL;
    if (ss_ingress_query(ingress, SQL_PRODUCTS_PAGE, 2, params, &rows, errstr, sizeof(errstr)) !=
        SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_UNAVAILABLE, NULL, NULL);
        return;
    }
    ss_ingress_respond_ok(req, page_json(rows, limit));
    PQclear(rows);
}

const ss_http_route_t ss_ingress_products_routes[] = {
    {SS_HTTP_METHOD_GET, "/api/v1/products", products_list},
};
const size_t ss_ingress_products_routes_count =
    sizeof(ss_ingress_products_routes) / sizeof(ss_ingress_products_routes[0]);

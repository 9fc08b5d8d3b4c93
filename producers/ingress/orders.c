/*
 * POST /api/v1/orders (a PlaceOrder command to the buyer's partition, where the order saga
 * runs; the answer comes when the saga decides the order) and GET /api/v1/orders/{id} (a read
 * from PostgreSQL). The body is checked completely here, with the same line rules the user
 * worker applies (ss_rules_order_lines_check), so a malformed order never reaches Kafka.
 */
#include "command.h"
#include "ss/topics.h"
#include "ingress.h"

#include "ss/json.h"
#include "ss/rules.h"

#include <inttypes.h>
#include <stdio.h>

/* One row per line; an order without lines (none is ever written) gives one row of NULLs. */
#define SQL_ORDER_GET                                                                              \
    "SELECT o.user_id, o.status, o.total_price, o.discount_price, o.paid_amount,"                  \
    " o.failure_reason, i.product_id, i.quantity, i.unit_price"                                    \
    " FROM orders o LEFT JOIN order_items i ON i.order_id = o.id WHERE o.id = $1"                  \
    " ORDER BY i.product_id"

/* Reads products[index] ({id, quantity} and nothing else) into *line. */
static ss_err_t line_read(const json_t *products, size_t index, ss_rules_order_line_t *line,
                          char *errstr, size_t errstr_size)
{
    static const char *const fields[] = {"id", "quantity"};
    json_t *item = NULL;
    long long product_id = 0, quantity = 0;
    ss_err_t err =
        ss_json_array_get_object(products, index, "products", &item, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    err = ss_json_check_fields(item, SS_INGRESS_FIELDS(fields), errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_json_get_int(item, "id", true, 1, INT64_MAX, &product_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(item, "quantity", true, 1, SS_RULES_STOCK_QUANTITY_MAX, &quantity,
                              errstr, errstr_size);
    }
    if (err != SS_OK) {
        ss_json_errstr_prefix(errstr, errstr_size, "products[%zu].", index);
    }
    *line = (ss_rules_order_line_t){.product_id = product_id, .quantity = quantity};
    return err;
}

/*
 * Reads the body's lines into lines[0..*count_out) and checks them. On failure answers
 * 400 INVALID_REQUEST naming the field and returns SS_ERR_INVALID.
 */
static ss_err_t lines_read(ss_http_request_t *req, const json_t *body, ss_rules_order_line_t *lines,
                           size_t *count_out)
{
    char errstr[256];
    json_t *products = NULL;
    ss_err_t err = ss_json_get_array(body, "products", true, 1, SS_RULES_ORDER_LINES_MAX, &products,
                                     errstr, sizeof(errstr));
    size_t count = err == SS_OK ? json_array_size(products) : 0;
    for (size_t i = 0; i < count && err == SS_OK; i++) {
        err = line_read(products, i, &lines[i], errstr, sizeof(errstr));
    }
    size_t bad_line = 0;
    if (err == SS_OK &&
        ss_rules_order_lines_check(lines, count, &bad_line) != SS_RULES_ORDER_LINES_OK) {
        /* Counts, ids and quantities were checked above: only a repeated product is left. */
        snprintf(errstr, sizeof(errstr), "products[%zu].id names a product already ordered",
                 bad_line);
        err = SS_ERR_INVALID;
    }
    if (err != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_INVALID_REQUEST, errstr, NULL);
        return err;
    }
    *count_out = count;
    return SS_OK;
}

static void order_place(ss_http_request_t *req, void *context)
{
    static const char *const fields[] = {"userId", "couponId", "products"};
    ss_ingress_t *ingress = context;
    json_t *body = NULL;
    if (ss_ingress_body_object(req, SS_INGRESS_FIELDS(fields), &body) != SS_OK) {
        return;
    }
    long long user_id = 0, coupon_id = 0;
    char errstr[256];
    ss_err_t err =
        ss_json_get_int(body, "userId", true, 1, INT64_MAX, &user_id, errstr, sizeof(errstr));
    /* couponId is nullable in the document: null is the same as leaving it out. */
    if (err == SS_OK && !json_is_null(json_object_get(body, "couponId"))) {
        err = ss_json_get_int(body, "couponId", false, 1, INT64_MAX, &coupon_id, errstr,
                              sizeof(errstr));
    }
    if (err != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_INVALID_REQUEST, errstr, NULL);
        json_decref(body);
        return;
    }
    ss_rules_order_line_t lines[SS_RULES_ORDER_LINES_MAX];
    size_t line_count = 0;
    err = lines_read(req, body, lines, &line_count);
    json_decref(body);
    if (err != SS_OK) {
        return;
    }
    json_t *record_lines = json_array();
    for (size_t i = 0; record_lines != NULL && i < line_count; i++) {
        if (json_array_append_new(
                record_lines, json_pack("{s:I, s:I}", "product_id", (json_int_t)lines[i].product_id,
                                        "quantity", (json_int_t)lines[i].quantity)) != 0) {
            json_decref(record_lines);
            record_lines = NULL;
        }
    }
    json_t *record = record_lines == NULL
                         ? NULL
                         : json_pack("{s:I, s:o, s:o}", "user_id", (json_int_t)user_id, "coupon_id",
                                     coupon_id > 0 ? json_integer(coupon_id) : json_null(), "lines",
                                     record_lines);
    if (record == NULL) {
        ss_ingress_respond_error(req, SS_API_ERROR_INTERNAL, NULL, NULL);
        return;
    }
    char key[24];
    snprintf(key, sizeof(key), "%lld", user_id);
    /* Keys are the user's own: two users may both send "cart-1". */
    char scope[96];
    snprintf(scope, sizeof(scope), "POST /api/v1/orders user=%lld", user_id);
    ss_ingress_command_submit(ingress->commands, req, SS_TOPIC_CMD_USER, key, SS_SCHEMA_PLACE_ORDER,
                              scope, record);
}

/* The API's order object from the rows of SQL_ORDER_GET; NULL on bad data. */
static json_t *order_json(int64_t order_id, const PGresult *rows)
{
    char errstr[128];
    int64_t user_id, total, discount, paid;
    const char *status = NULL;
    if (ss_pg_get_int64(rows, 0, 0, &user_id, errstr, sizeof(errstr)) != SS_OK ||
        ss_pg_get_text(rows, 0, 1, &status, errstr, sizeof(errstr)) != SS_OK ||
        ss_pg_get_int64(rows, 0, 2, &total, errstr, sizeof(errstr)) != SS_OK ||
        ss_pg_get_int64(rows, 0, 3, &discount, errstr, sizeof(errstr)) != SS_OK ||
        ss_pg_get_int64(rows, 0, 4, &paid, errstr, sizeof(errstr)) != SS_OK) {
        return NULL;
    }
    json_t *items = json_array();
    for (int row = 0; items != NULL && row < PQntuples(rows); row++) {
        int64_t product_id, quantity, unit_price;
        if (ss_pg_is_null(rows, row, 6)) {
            continue;
        }
        if (ss_pg_get_int64(rows, row, 6, &product_id, errstr, sizeof(errstr)) != SS_OK ||
            ss_pg_get_int64(rows, row, 7, &quantity, errstr, sizeof(errstr)) != SS_OK ||
            ss_pg_get_int64(rows, row, 8, &unit_price, errstr, sizeof(errstr)) != SS_OK ||
            json_array_append_new(
                items, json_pack("{s:I, s:I, s:I}", "productId", (json_int_t)product_id, "quantity",
                                 (json_int_t)quantity, "unitPrice", (json_int_t)unit_price)) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    if (items == NULL) {
        return NULL;
    }
    json_t *failure_reason =
        ss_pg_is_null(rows, 0, 5) ? json_null() : json_string(PQgetvalue(rows, 0, 5));
    return json_pack("{s:I, s:I, s:s, s:o, s:I, s:I, s:I, s:o}", "orderId", (json_int_t)order_id,
                     "userId", (json_int_t)user_id, "status", status, "items", items, "totalPrice",
                     (json_int_t)total, "discountPrice", (json_int_t)discount, "paidAmount",
                     (json_int_t)paid, "failureReason", failure_reason);
}

static void order_get(ss_http_request_t *req, void *context)
{
    ss_ingress_t *ingress = context;
    int64_t order_id;
    if (ss_ingress_path_id(req, "id", &order_id) != SS_OK) {
        return;
    }
    char id_text[24], errstr[256];
    snprintf(id_text, sizeof(id_text), "%" PRId64, order_id);
    const char *params[] = {id_text};
    PGresult *rows = NULL;
    ss_err_t err =
        ss_ingress_query(ingress, SQL_ORDER_GET, 1, params, &rows, errstr, sizeof(errstr));
    if (err != SS_OK) {
        ss_ingress_respond_error(req, SS_API_ERROR_UNAVAILABLE, NULL, NULL);
    } else if (PQntuples(rows) == 0) {
        ss_ingress_respond_error(req, SS_API_ERROR_ORDER_NOT_FOUND, NULL, NULL);
    } else {
        json_t *order = order_json(order_id, rows);
        if (order == NULL) {
            ss_ingress_respond_error(req, SS_API_ERROR_INTERNAL, NULL, NULL);
        } else {
            ss_ingress_respond_ok(req, order);
        }
    }
    PQclear(rows);
}

const ss_http_route_t ss_ingress_orders_routes[] = {
    {SS_HTTP_METHOD_POST, "/api/v1/orders", order_place},
    {SS_HTTP_METHOD_GET, "/api/v1/orders/{id}", order_get},
};
const size_t ss_ingress_orders_routes_count =
    sizeof(ss_ingress_orders_routes) / sizeof(ss_ingress_orders_routes[0]);

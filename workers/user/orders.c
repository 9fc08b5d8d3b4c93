/*
 * The orders side of a user worker batch: the orders and lines the stock replies name, the
 * products and coupons the PlaceOrders name, and the new order ids, each loaded with one query;
 * changes written back with one multi-row statement per table and kind: the batch's new orders
 * and lines as plain inserts (their ids come from orders_id_seq, so none exists yet), the loaded
 * ones that changed as updates of the columns that change (an upsert's speculative insertion
 * cost a third more per changed row: docs/performance.md, "Inserts and updates instead of
 * upserts").
 *
 * Every named product and (buyer, coupon) pair gets an entry before the query fills in what
 * exists, so a lookup during the batch never misses and "not found" is an answer, not an error.
 */
#include "user_worker.h"
#include "ss/topics.h"

#include "ss/sort.h"
#include "ss/assert.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_ORDERS_LOAD                                                                            \
    "SELECT id, user_id, coalesce(coupon_id, 0), coalesce(user_coupon_id, 0), status,"             \
    " total_price, discount_price, paid_amount, failure_reason, request_id, reply_partition,"      \
    " coalesce(floor(extract(epoch FROM paid_at) * 1000)::bigint, 0)"                              \
    " FROM orders WHERE id = ANY($1::bigint[]) ORDER BY id"
#define SQL_ITEMS_LOAD                                                                             \
    "SELECT order_id, product_id, quantity, unit_price, reservation FROM order_items"              \
    " WHERE order_id = ANY($1::bigint[]) ORDER BY order_id, product_id"
#define SQL_PRODUCTS_LOAD "SELECT id, price, sell_status FROM products WHERE id = ANY($1::bigint[])"
#define SQL_COUPONS_LOAD                                                                           \
    "SELECT q.user_id, q.coupon_id, (c.discount_rate * 10000)::bigint,"                            \
    " floor(extract(epoch FROM c.expired_at) * 1000)::bigint, coalesce(uc.id, 0),"                 \
    " coalesce(uc.status = 'USED', false)"                                                         \
    " FROM unnest($1::bigint[], $2::bigint[]) AS q(user_id, coupon_id)"                            \
    " JOIN coupons c ON c.id = q.coupon_id"                                                        \
    " LEFT JOIN user_coupons uc ON uc.user_id = q.user_id AND uc.coupon_id = q.coupon_id"
#define SQL_ORDER_IDS "SELECT nextval('orders_id_seq') FROM generate_series(1, $1::int)"
#define SQL_ORDERS_INSERT                                                                          \
    "INSERT INTO orders (id, user_id, coupon_id, user_coupon_id, status, total_price,"             \
    " discount_price, paid_amount, failure_reason, request_id, reply_partition, paid_at,"          \
    " partition)"                                                                                  \
    " SELECT v.id, v.user_id, v.coupon_id, v.user_coupon_id, v.status, v.total_price,"             \
    " v.discount_price, v.paid_amount, v.failure_reason, v.request_id, v.reply_partition,"         \
    " to_timestamp(v.paid_at_ms / 1000.0), v.partition"                                            \
    " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],"             \
    " $6::bigint[], $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::int[],"              \
    " $12::bigint[], $13::int[]) AS v(id, user_id, coupon_id, user_coupon_id, status,"             \
    " total_price, discount_price, paid_amount, failure_reason, request_id, reply_partition,"      \
    " paid_at_ms, partition)"
#define SQL_ORDERS_UPDATE                                                                          \
    "UPDATE orders o SET status = v.status, failure_reason = v.failure_reason,"                    \
    " paid_at = to_timestamp(v.paid_at_ms / 1000.0), updated_at = now()"                           \
    " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[])"                             \
    " AS v(id, status, failure_reason, paid_at_ms) WHERE o.id = v.id"
#define SQL_ITEMS_INSERT                                                                           \
    "INSERT INTO order_items (order_id, product_id, quantity, unit_price, reservation)"            \
    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::bigint[], $5::text[])"
#define SQL_ITEMS_UPDATE                                                                           \
    "UPDATE order_items i SET reservation = v.reservation"                                         \
    " FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS v(order_id, product_id, reservation)" \
    " WHERE i.order_id = v.order_id AND i.product_id = v.product_id"
#define SQL_COUPONS_UPDATE                                                                         \
    "UPDATE user_coupons u SET status = v.status,"                                                 \
    " used_at = CASE WHEN v.status = 'USED' THEN now() END"                                        \
    " FROM unnest($1::bigint[], $2::text[]) AS v(id, status) WHERE u.id = v.id"

ss_err_t ss_user_orders_prepare_statements(ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    static const struct {
        const char *name;
        const char *sql;
        int param_count;
    } statements[] = {
        {"user_orders_load", SQL_ORDERS_LOAD, 1},
        {"user_items_load", SQL_ITEMS_LOAD, 1},
        {"user_products_load", SQL_PRODUCTS_LOAD, 1},
        {"user_coupons_load", SQL_COUPONS_LOAD, 2},
        {"user_order_ids", SQL_ORDER_IDS, 1},
        {"user_orders_insert", SQL_ORDERS_INSERT, 13},
        {"user_orders_update", SQL_ORDERS_UPDATE, 4},
        {"user_items_insert", SQL_ITEMS_INSERT, 5},
        {"user_items_update", SQL_ITEMS_UPDATE, 3},
        {"user_coupons_update", SQL_COUPONS_UPDATE, 2},
    };
    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
        ss_err_t err = ss_pg_prepare(pg, statements[i].name, statements[i].sql,
                                     statements[i].param_count, errstr, errstr_size);
        if (err != SS_OK) {
            return err;
        }
    }
    return SS_OK;
}

/* ---- buffers ------------------------------------------------------------------------------ */

/* Grows *array to hold at least needed elements of element_size bytes. */
static ss_err_t array_reserve(void **array, size_t *capacity, size_t needed, size_t element_size,
                              const char *what, char *errstr, size_t errstr_size)
{
    if (needed <= *capacity) {
        return SS_OK;
    }
    size_t grown_capacity = *capacity * 2 > needed ? *capacity * 2 : needed;
    void *grown = realloc(*array, grown_capacity * element_size);
    if (grown == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not grow the %s", what);
    }
    *array = grown;
    *capacity = grown_capacity;
    return SS_OK;
}

static void columns_reset(ss_user_batch_t *batch)
{
    for (size_t c = 0; c < SS_USER_COLUMNS_MAX; c++) {
        ss_pg_array_reset(&batch->columns[c]);
    }
}

/* ---- what the records name --------------------------------------------------------------- */

static bool record_is(const ss_worker_record_t *record, const char *schema_name)
{
    return !record->handled && strcmp(record->schema_name, schema_name) == 0;
}

/* The records that name an existing order: stock replies and the saga deadline's checks. */
static bool record_names_order(const ss_worker_record_t *record)
{
    return record_is(record, SS_SCHEMA_STOCK_RESERVED) ||
           record_is(record, SS_SCHEMA_STOCK_REJECTED) ||
           record_is(record, SS_USER_DEADLINE_RECORD);
}

static int64_t record_int(const ss_worker_record_t *record, const char *name)
{
    return json_integer_value(json_object_get(record->value, name));
}

/* The lines of a PlaceOrder that the worker will look at: none when there are too many. */
static size_t place_line_count(const ss_worker_record_t *record)
{
    size_t count = json_array_size(json_object_get(record->value, "lines"));
    return count <= SS_RULES_ORDER_LINES_MAX ? count : 0;
}

static int order_compare(const void *a, const void *b)
{
    int64_t left = ((const ss_user_order_t *)a)->order_id;
    int64_t right = ((const ss_user_order_t *)b)->order_id;
    return (left > right) - (left < right);
}

static int product_compare(const void *a, const void *b)
{
    int64_t left = ((const ss_user_product_t *)a)->product_id;
    int64_t right = ((const ss_user_product_t *)b)->product_id;
    return (left > right) - (left < right);
}

static int coupon_compare(const void *a, const void *b)
{
    const ss_user_coupon_t *left = a;
    const ss_user_coupon_t *right = b;
    if (left->user_id != right->user_id) {
        return (left->user_id > right->user_id) - (left->user_id < right->user_id);
    }
    return (left->coupon_id > right->coupon_id) - (left->coupon_id < right->coupon_id);
}

/* ---- finders ----------------------------------------------------------------------------- */

ss_user_order_t *ss_user_order_find(ss_user_batch_t *batch, int64_t order_id)
{
    ss_user_order_t key = {.order_id = order_id};
    return bsearch(&key, batch->orders, batch->order_count, sizeof(key), order_compare);
}

ss_user_product_t *ss_user_product_find(ss_user_batch_t *batch, int64_t product_id)
{
    ss_user_product_t key = {.product_id = product_id};
    return bsearch(&key, batch->products, batch->product_count, sizeof(key), product_compare);
}

ss_user_coupon_t *ss_user_coupon_find(ss_user_batch_t *batch, int64_t user_id, int64_t coupon_id)
{
    ss_user_coupon_t key = {.user_id = user_id, .coupon_id = coupon_id};
    return bsearch(&key, batch->coupons, batch->coupon_count, sizeof(key), coupon_compare);
}

ss_user_order_item_t *ss_user_order_item_find(ss_user_batch_t *batch, const ss_user_order_t *order,
                                              int64_t product_id)
{
    for (size_t i = 0; i < order->item_count; i++) {
        ss_user_order_item_t *item = &batch->items[order->item_first + i];
        if (item->product_id == product_id) {
            return item;
        }
    }
    return NULL;
}

/* ---- orders and their lines -------------------------------------------------------------- */

/* Reads row of the orders load into order; strings stay in the result. */
static ss_err_t order_read(const PGresult *rows, int row, ss_user_order_t *order, char *errstr,
                           size_t errstr_size)
{
    memset(order, 0, sizeof(*order));
    order->partition = -1;
    int64_t *const targets[] = {&order->order_id, &order->user_id, &order->coupon_id,
                                &order->user_coupon_id};
    ss_err_t err = SS_OK;
    for (int column = 0; column < 4 && err == SS_OK; column++) {
        err = ss_pg_get_int64(rows, row, column, targets[column], errstr, errstr_size);
    }
    const char *status = NULL;
    if (err == SS_OK) {
        err = ss_pg_get_text(rows, row, 4, &status, errstr, errstr_size);
    }
    if (err == SS_OK && !ss_rules_order_status_parse(status, &order->status)) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "order %" PRId64 " has status %s",
                         order->order_id, status);
    }
    int64_t *const amounts[] = {&order->amounts.total, &order->amounts.discount,
                                &order->amounts.paid};
    for (int column = 5; column < 8 && err == SS_OK; column++) {
        err = ss_pg_get_int64(rows, row, column, amounts[column - 5], errstr, errstr_size);
    }
    if (err == SS_OK && !ss_pg_is_null(rows, row, 8)) {
        err = ss_pg_get_text(rows, row, 8, &order->failure_reason, errstr, errstr_size);
    }
    if (err == SS_OK && !ss_pg_is_null(rows, row, 9)) {
        err = ss_pg_get_text(rows, row, 9, &order->request_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int32(rows, row, 10, &order->reply_partition, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, row, 11, &order->paid_at_ms, errstr, errstr_size);
    }
    return err;
}

/* Reads one row of the lines load into the next item and attaches it to its order. */
static ss_err_t item_read(ss_user_batch_t *batch, const PGresult *rows, int row, char *errstr,
                          size_t errstr_size)
{
    int64_t order_id = 0;
    ss_user_order_item_t *item = &batch->items[batch->item_count];
    memset(item, 0, sizeof(*item));
    ss_err_t err = ss_pg_get_int64(rows, row, 0, &order_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, row, 1, &item->product_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, row, 2, &item->quantity, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, row, 3, &item->unit_price, errstr, errstr_size);
    }
    const char *reservation = NULL;
    if (err == SS_OK) {
        err = ss_pg_get_text(rows, row, 4, &reservation, errstr, errstr_size);
    }
    if (err == SS_OK && !ss_rules_order_reservation_parse(reservation, &item->reservation)) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "a line of order %" PRId64 " has reservation %s", order_id, reservation);
    }
    if (err != SS_OK) {
        return err;
    }
    ss_user_order_t *order = ss_user_order_find(batch, order_id);
    /* Rows come ordered by order: an order's lines are contiguous. */
    if (order == NULL ||
        (order->item_count > 0 && order->item_first + order->item_count != batch->item_count)) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "order lines of order %" PRId64 " came out of order", order_id);
    }
    if (order->item_count == 0) {
        order->item_first = batch->item_count;
    }
    order->item_count++;
    batch->item_count++;
    return SS_OK;
}

/*
 * Loads the orders the stock replies and the deadline checks name, and their lines, and
 * reserves room for the new orders (place_count) and their lines (place_lines).
 */
static ss_err_t orders_load(ss_user_batch_t *batch, ss_pg_t *pg, const ss_worker_record_t *records,
                            size_t count, size_t place_count, size_t place_lines, char *errstr,
                            size_t errstr_size)
{
    ss_pg_array_t *ids = &batch->columns[0];
    columns_reset(batch);
    for (size_t i = 0; i < count; i++) {
        if (record_names_order(&records[i])) {
            ss_err_t err = ss_pg_array_append_int64(ids, record_int(&records[i], "order_id"),
                                                    errstr, errstr_size);
            if (err != SS_OK) {
                return err;
            }
        }
    }
    PGresult *order_rows = NULL, *item_rows = NULL;
    ss_err_t err = SS_OK;
    if (ss_pg_array_count(ids) > 0) {
        const char *params[] = {ss_pg_array_text(ids)};
        err =
            ss_pg_query(pg, "user_orders_load", NULL, 1, params, &order_rows, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_query(pg, "user_items_load", NULL, 1, params, &item_rows, errstr,
                              errstr_size);
        }
    }
    int order_row_count = order_rows != NULL ? PQntuples(order_rows) : 0;
    int item_row_count = item_rows != NULL ? PQntuples(item_rows) : 0;
    batch->order_rows = order_rows;
    if (err == SS_OK) {
        err = array_reserve((void **)&batch->orders, &batch->order_capacity,
                            (size_t)order_row_count + place_count, sizeof(*batch->orders), "orders",
                            errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = array_reserve((void **)&batch->items, &batch->item_capacity,
                            (size_t)item_row_count + place_lines, sizeof(*batch->items),
                            "order lines", errstr, errstr_size);
    }
    for (int row = 0; row < order_row_count && err == SS_OK; row++) {
        err = order_read(order_rows, row, &batch->orders[batch->order_count], errstr, errstr_size);
        if (err == SS_OK) {
            batch->order_count++;
        }
    }
    for (int row = 0; row < item_row_count && err == SS_OK; row++) {
        err = item_read(batch, item_rows, row, errstr, errstr_size);
    }
    PQclear(item_rows);
    return err;
}

/* ---- products ---------------------------------------------------------------------------- */

static ss_err_t products_load(ss_user_batch_t *batch, ss_pg_t *pg,
                              const ss_worker_record_t *records, size_t count, size_t place_lines,
                              char *errstr, size_t errstr_size)
{
    ss_err_t err = array_reserve((void **)&batch->products, &batch->product_capacity, place_lines,
                                 sizeof(*batch->products), "products", errstr, errstr_size);
    for (size_t i = 0; i < count && err == SS_OK; i++) {
        if (!record_is(&records[i], SS_SCHEMA_PLACE_ORDER)) {
            continue;
        }
        json_t *lines = json_object_get(records[i].value, "lines");
        size_t line_count = place_line_count(&records[i]);
        for (size_t l = 0; l < line_count; l++) {
            batch->products[batch->product_count++] =
                (ss_user_product_t){.product_id = json_integer_value(
                                        json_object_get(json_array_get(lines, l), "product_id"))};
        }
    }
    if (err != SS_OK || batch->product_count == 0) {
        return err;
    }
    batch->product_count = ss_sort_unique(batch->products, batch->product_count,
                                          sizeof(*batch->products), product_compare);
    ss_pg_array_t *ids = &batch->columns[0];
    columns_reset(batch);
    for (size_t i = 0; i < batch->product_count && err == SS_OK; i++) {
        err = ss_pg_array_append_int64(ids, batch->products[i].product_id, errstr, errstr_size);
    }
    PGresult *rows = NULL;
    if (err == SS_OK) {
        const char *params[] = {ss_pg_array_text(ids)};
        err = ss_pg_query(pg, "user_products_load", NULL, 1, params, &rows, errstr, errstr_size);
    }
    for (int row = 0; err == SS_OK && row < PQntuples(rows); row++) {
        int64_t product_id = 0, price = 0;
        const char *status = NULL;
        err = ss_pg_get_int64(rows, row, 0, &product_id, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 1, &price, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_get_text(rows, row, 2, &status, errstr, errstr_size);
        }
        ss_user_product_t *product = err == SS_OK ? ss_user_product_find(batch, product_id) : NULL;
        if (err == SS_OK && (product == NULL || price < 0 ||
                             !ss_rules_product_status_parse(status, &product->status))) {
            err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                             "product %" PRId64 " loaded with price %" PRId64 " and status %s",
                             product_id, price, status);
        }
        if (err == SS_OK) {
            product->found = true;
            product->price = price;
        }
    }
    PQclear(rows);
    return err;
}

/* ---- coupons ----------------------------------------------------------------------------- */

static ss_err_t coupon_read(ss_user_batch_t *batch, const PGresult *rows, int row, char *errstr,
                            size_t errstr_size)
{
    ss_user_coupon_t read = {0};
    int64_t *const targets[] = {&read.user_id, &read.coupon_id, &read.rate_units,
                                &read.expired_at_ms, &read.user_coupon_id};
    ss_err_t err = SS_OK;
    for (int column = 0; column < 5 && err == SS_OK; column++) {
        err = ss_pg_get_int64(rows, row, column, targets[column], errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_bool(rows, row, 5, &read.used, errstr, errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }
    ss_user_coupon_t *coupon = ss_user_coupon_find(batch, read.user_id, read.coupon_id);
    if (coupon == NULL || read.rate_units < 1 || read.rate_units > SS_RULES_RATE_SCALE) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "coupon %" PRId64 " loaded with discount rate %" PRId64 "/10000",
                          read.coupon_id, read.rate_units);
    }
    read.found = true;
    *coupon = read;
    return SS_OK;
}

static ss_err_t coupons_load(ss_user_batch_t *batch, ss_pg_t *pg, const ss_worker_record_t *records,
                             size_t count, char *errstr, size_t errstr_size)
{
    ss_err_t err =
        array_reserve((void **)&batch->coupons, &batch->coupon_capacity, count + batch->order_count,
                      sizeof(*batch->coupons), "coupons", errstr, errstr_size);
    for (size_t i = 0; i < count && err == SS_OK; i++) {
        json_t *coupon_id = json_object_get(records[i].value, "coupon_id");
        if (record_is(&records[i], SS_SCHEMA_PLACE_ORDER) && json_is_integer(coupon_id)) {
            batch->coupons[batch->coupon_count++] =
                (ss_user_coupon_t){.user_id = record_int(&records[i], "user_id"),
                                   .coupon_id = json_integer_value(coupon_id)};
        }
    }
    /* A loaded order that used a coupon gives it back if it fails. */
    for (size_t i = 0; i < batch->order_count && err == SS_OK; i++) {
        const ss_user_order_t *order = &batch->orders[i];
        if (order->user_coupon_id != 0) {
            batch->coupons[batch->coupon_count++] =
                (ss_user_coupon_t){.user_id = order->user_id, .coupon_id = order->coupon_id};
        }
    }
    if (err != SS_OK || batch->coupon_count == 0) {
        return err;
    }
    batch->coupon_count = ss_sort_unique(batch->coupons, batch->coupon_count,
                                         sizeof(*batch->coupons), coupon_compare);
    columns_reset(batch);
    for (size_t i = 0; i < batch->coupon_count && err == SS_OK; i++) {
        err = ss_pg_array_append_int64(&batch->columns[0], batch->coupons[i].user_id, errstr,
                                       errstr_size);
        if (err == SS_OK) {
            err = ss_pg_array_append_int64(&batch->columns[1], batch->coupons[i].coupon_id, errstr,
                                           errstr_size);
        }
    }
    PGresult *rows = NULL;
    if (err == SS_OK) {
        const char *params[] = {ss_pg_array_text(&batch->columns[0]),
                                ss_pg_array_text(&batch->columns[1])};
        err = ss_pg_query(pg, "user_coupons_load", NULL, 2, params, &rows, errstr, errstr_size);
    }
    for (int row = 0; err == SS_OK && row < PQntuples(rows); row++) {
        err = coupon_read(batch, rows, row, errstr, errstr_size);
    }
    PQclear(rows);
    return err;
}

/* ---- order ids --------------------------------------------------------------------------- */

static ss_err_t order_ids_take(ss_user_batch_t *batch, ss_pg_t *pg, size_t place_count,
                               char *errstr, size_t errstr_size)
{
    if (place_count == 0) {
        return SS_OK;
    }
    ss_err_t err = array_reserve((void **)&batch->order_ids, &batch->order_id_capacity, place_count,
                                 sizeof(*batch->order_ids), "order ids", errstr, errstr_size);
    char count_text[SS_USER_ID_TEXT_MAX];
    snprintf(count_text, sizeof(count_text), "%zu", place_count);
    const char *params[] = {count_text};
    PGresult *rows = NULL;
    if (err == SS_OK) {
        err = ss_pg_query(pg, "user_order_ids", NULL, 1, params, &rows, errstr, errstr_size);
    }
    if (err == SS_OK && (size_t)PQntuples(rows) != place_count) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "asked for %zu order ids, got %d",
                         place_count, PQntuples(rows));
    }
    for (size_t i = 0; i < place_count && err == SS_OK; i++) {
        err = ss_pg_get_int64(rows, (int)i, 0, &batch->order_ids[i], errstr, errstr_size);
    }
    if (err == SS_OK) {
        batch->order_id_count = place_count;
    }
    PQclear(rows);
    return err;
}

ss_err_t ss_user_order_id_next(ss_user_batch_t *batch, int64_t *order_id_out, char *errstr,
                               size_t errstr_size)
{
    if (batch->order_id_next >= batch->order_id_count) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "the batch took %zu order ids and needs more", batch->order_id_count);
    }
    *order_id_out = batch->order_ids[batch->order_id_next++];
    return SS_OK;
}

/* ---- load -------------------------------------------------------------------------------- */

ss_err_t ss_user_orders_load(ss_user_batch_t *batch, ss_pg_t *pg, const ss_worker_record_t *records,
                             size_t count, char *errstr, size_t errstr_size)
{
    PQclear(batch->order_rows);
    batch->order_rows = NULL;
    batch->order_count = 0;
    batch->item_count = 0;
    batch->product_count = 0;
    batch->coupon_count = 0;
    batch->order_id_count = 0;
    batch->order_id_next = 0;
    size_t place_count = 0, place_lines = 0;
    for (size_t i = 0; i < count; i++) {
        if (record_is(&records[i], SS_SCHEMA_PLACE_ORDER)) {
            place_count++;
            place_lines += place_line_count(&records[i]);
        }
    }
    ss_err_t err =
        orders_load(batch, pg, records, count, place_count, place_lines, errstr, errstr_size);
    if (err == SS_OK) {
        err = products_load(batch, pg, records, count, place_lines, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = coupons_load(batch, pg, records, count, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = order_ids_take(batch, pg, place_count, errstr, errstr_size);
    }
    return err;
}

ss_err_t ss_user_order_add(ss_user_batch_t *batch, const ss_user_order_t *order,
                           const ss_user_order_item_t *items, size_t item_count,
                           ss_user_order_t **order_out, char *errstr, size_t errstr_size)
{
    if (batch->order_count == batch->order_capacity ||
        item_count > batch->item_capacity - batch->item_count) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "no room reserved for order %" PRId64,
                          order->order_id);
    }
    if (ss_user_order_find(batch, order->order_id) != NULL) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "order %" PRId64 " exists already",
                          order->order_id);
    }
    /* Keep the array sorted: ids from the sequence usually go last, so this rarely moves. */
    size_t position = batch->order_count;
    while (position > 0 && batch->orders[position - 1].order_id > order->order_id) {
        position--;
    }
    memmove(&batch->orders[position + 1], &batch->orders[position],
            (batch->order_count - position) * sizeof(*batch->orders));
    ss_user_order_t *added = &batch->orders[position];
    *added = *order;
    added->item_first = batch->item_count;
    added->item_count = item_count;
    added->inserted = true;
    added->dirty = true;
    memcpy(&batch->items[batch->item_count], items, item_count * sizeof(*items));
    for (size_t i = 0; i < item_count; i++) {
        batch->items[batch->item_count + i].dirty = true;
    }
    batch->item_count += item_count;
    batch->order_count++;
    *order_out = added;
    return SS_OK;
}

/* ---- flush ------------------------------------------------------------------------------- */

static ss_err_t append_id_or_null(ss_pg_array_t *column, int64_t id, char *errstr,
                                  size_t errstr_size)
{
    return id != 0 ? ss_pg_array_append_int64(column, id, errstr, errstr_size)
                   : ss_pg_array_append_null(column, errstr, errstr_size);
}

static ss_err_t order_insert_append(ss_pg_array_t *columns, const ss_user_order_t *order,
                                    char *errstr, size_t errstr_size)
{
    SS_ASSERT(order->partition >= 0);
    ss_err_t err = ss_pg_array_append_int64(&columns[0], order->order_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&columns[1], order->user_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = append_id_or_null(&columns[2], order->coupon_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = append_id_or_null(&columns[3], order->user_coupon_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_text(&columns[4], ss_rules_order_status_name(order->status),
                                      errstr, errstr_size);
    }
    const int64_t amounts[] = {order->amounts.total, order->amounts.discount, order->amounts.paid};
    for (size_t a = 0; a < 3 && err == SS_OK; a++) {
        err = ss_pg_array_append_int64(&columns[5 + a], amounts[a], errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_text(&columns[8], order->failure_reason, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_text(&columns[9], order->request_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&columns[10], order->reply_partition, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = append_id_or_null(&columns[11], order->paid_at_ms, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&columns[12], order->partition, errstr, errstr_size);
    }
    return err;
}

/* What a loaded order's update changes: its status, failure reason and payment time. */
static ss_err_t order_update_append(ss_pg_array_t *columns, const ss_user_order_t *order,
                                    char *errstr, size_t errstr_size)
{
    ss_err_t err = ss_pg_array_append_int64(&columns[0], order->order_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_array_append_text(&columns[1], ss_rules_order_status_name(order->status),
                                      errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_text(&columns[2], order->failure_reason, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = append_id_or_null(&columns[3], order->paid_at_ms, errstr, errstr_size);
    }
    return err;
}

static ss_err_t item_insert_append(ss_pg_array_t *columns, const ss_user_order_t *order,
                                   const ss_user_order_item_t *item, char *errstr,
                                   size_t errstr_size)
{
    const int64_t values[] = {order->order_id, item->product_id, item->quantity, item->unit_price};
    ss_err_t err = SS_OK;
    for (size_t c = 0; c < 4 && err == SS_OK; c++) {
        err = ss_pg_array_append_int64(&columns[c], values[c], errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_text(
            &columns[4], ss_rules_order_reservation_name(item->reservation), errstr, errstr_size);
    }
    return err;
}

static ss_err_t item_update_append(ss_pg_array_t *columns, const ss_user_order_t *order,
                                   const ss_user_order_item_t *item, char *errstr,
                                   size_t errstr_size)
{
    ss_err_t err = ss_pg_array_append_int64(&columns[0], order->order_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&columns[1], item->product_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_text(
            &columns[2], ss_rules_order_reservation_name(item->reservation), errstr, errstr_size);
    }
    return err;
}

/*
 * Runs statement with the first param_count columns when any row was appended; it must write
 * every row it names (an update's rows were loaded in this transaction, an insert's are new).
 */
static ss_err_t columns_run(ss_user_batch_t *batch, ss_pg_t *pg, const char *statement,
                            int param_count, char *errstr, size_t errstr_size)
{
    SS_ASSERT(param_count >= 1 && param_count <= SS_USER_COLUMNS_MAX);
    size_t expected = ss_pg_array_count(&batch->columns[0]);
    if (expected == 0) {
        return SS_OK;
    }
    const char *params[SS_USER_COLUMNS_MAX];
    for (int c = 0; c < param_count; c++) {
        params[c] = ss_pg_array_text(&batch->columns[c]);
    }
    PGresult *result = NULL;
    ss_err_t err =
        ss_pg_query(pg, statement, NULL, param_count, params, &result, errstr, errstr_size);
    if (err == SS_OK && strtoull(PQcmdTuples(result), NULL, 10) != expected) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size, "%s wrote %s of %zu rows", statement,
                         PQcmdTuples(result), expected);
    }
    PQclear(result);
    return err;
}

/* The batch's new orders (inserted) or its changed loaded ones (not inserted) in one statement. */
static ss_err_t orders_write(ss_user_batch_t *batch, ss_pg_t *pg, bool inserted, char *errstr,
                             size_t errstr_size)
{
    columns_reset(batch);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < batch->order_count && err == SS_OK; i++) {
        const ss_user_order_t *order = &batch->orders[i];
        if (order->dirty && order->inserted == inserted) {
            err = inserted ? order_insert_append(batch->columns, order, errstr, errstr_size)
                           : order_update_append(batch->columns, order, errstr, errstr_size);
        }
    }
    return err != SS_OK ? err
           : inserted   ? columns_run(batch, pg, "user_orders_insert", 13, errstr, errstr_size)
                        : columns_run(batch, pg, "user_orders_update", 4, errstr, errstr_size);
}

/* The new orders' lines (inserted) or the changed lines of loaded orders, in one statement. */
static ss_err_t items_write(ss_user_batch_t *batch, ss_pg_t *pg, bool inserted, char *errstr,
                            size_t errstr_size)
{
    columns_reset(batch);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < batch->order_count && err == SS_OK; i++) {
        const ss_user_order_t *order = &batch->orders[i];
        if (order->inserted != inserted) {
            continue;
        }
        for (size_t l = 0; l < order->item_count && err == SS_OK; l++) {
            const ss_user_order_item_t *item = &batch->items[order->item_first + l];
            if (item->dirty) {
                err = inserted
                          ? item_insert_append(batch->columns, order, item, errstr, errstr_size)
                          : item_update_append(batch->columns, order, item, errstr, errstr_size);
            }
        }
    }
    return err != SS_OK ? err
           : inserted   ? columns_run(batch, pg, "user_items_insert", 5, errstr, errstr_size)
                        : columns_run(batch, pg, "user_items_update", 3, errstr, errstr_size);
}

static ss_err_t coupons_write(ss_user_batch_t *batch, ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    columns_reset(batch);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < batch->coupon_count && err == SS_OK; i++) {
        const ss_user_coupon_t *coupon = &batch->coupons[i];
        if (coupon->dirty) {
            SS_ASSERT(coupon->user_coupon_id != 0);
            err = ss_pg_array_append_int64(&batch->columns[0], coupon->user_coupon_id, errstr,
                                           errstr_size);
            if (err == SS_OK) {
                err = ss_pg_array_append_text(&batch->columns[1], coupon->used ? "USED" : "UNUSED",
                                              errstr, errstr_size);
            }
        }
    }
    return err == SS_OK ? columns_run(batch, pg, "user_coupons_update", 2, errstr, errstr_size)
                        : err;
}

ss_err_t ss_user_orders_flush(ss_user_batch_t *batch, ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    ss_err_t err = orders_write(batch, pg, false, errstr, errstr_size);
    if (err == SS_OK) {
        err = orders_write(batch, pg, true, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = items_write(batch, pg, false, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = items_write(batch, pg, true, errstr, errstr_size);
    }
    return err == SS_OK ? coupons_write(batch, pg, errstr, errstr_size) : err;
}

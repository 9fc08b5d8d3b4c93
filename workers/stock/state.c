/*
 * Products and reservations of one batch: every product and (order, product) pair the records
 * name gets an entry up front (sorted, so lookups are binary searches and nothing is inserted
 * while records are applied), filled by one query each; changes are written back with one
 * UPDATE ... FROM unnest and one INSERT ... SELECT FROM unnest ... ON CONFLICT DO UPDATE. The
 * UPDATE moves each changed product's stock_version on and returns the new versions, which the
 * batch keeps for the stock overlay (overlay.c writes them after the commit).
 */
#include "stock_worker.h"
#include "ss/topics.h"

#include "ss/sort.h"
#include "ss/assert.h"

#include <stdlib.h>
#include <string.h>

#define SQL_PRODUCTS_LOAD                                                                          \
    "SELECT id, name, price, stock, sell_status FROM products WHERE id = ANY($1::bigint[])"
#define SQL_RESERVATIONS_LOAD                                                                      \
    "SELECT r.order_id, r.product_id, r.quantity, r.status, r.reason"                              \
    " FROM unnest($1::bigint[], $2::bigint[]) AS k(order_id, product_id)"                          \
    " JOIN stock_reservations r ON r.order_id = k.order_id AND r.product_id = k.product_id"
/*
 * Read AFTER the reservations: the pruner deletes rows and raises the horizon in one
 * transaction, so a batch that misses a pruned row always sees the horizon above it.
 */
#define SQL_HORIZON_LOAD "SELECT order_id_below FROM stock_reservation_horizon WHERE id = 1"
#define SQL_PRODUCTS_UPDATE                                                                        \
    "UPDATE products p SET stock = v.stock, sell_status = v.sell_status, updated_at = now(),"      \
    " stock_version = p.stock_version + 1"                                                         \
    " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[])"                           \
    " AS v(id, stock, sell_status, loaded_stock)"                                                  \
    " WHERE p.id = v.id AND p.stock = v.loaded_stock RETURNING p.id, p.stock, p.stock_version"
#define SQL_RESERVATIONS_UPSERT                                                                    \
    "INSERT INTO stock_reservations (order_id, product_id, quantity, status, reason)"              \
    " SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::text[], $5::text[])"         \
    " ON CONFLICT (order_id, product_id) DO UPDATE SET quantity = EXCLUDED.quantity,"              \
    " status = EXCLUDED.status, reason = EXCLUDED.reason, updated_at = now()"

/* Indexed by ss_stock_reservation_status_t; NONE has no row and no name. */
static const char *const reservation_status_names[] = {NULL, "RESERVED", "REJECTED", "RELEASED"};

void ss_stock_batch_init(ss_stock_batch_t *batch)
{
    memset(batch, 0, sizeof(*batch));
    for (size_t c = 0; c < SS_STOCK_COLUMNS_MAX; c++) {
        ss_pg_array_init(&batch->columns[c]);
    }
}

void ss_stock_batch_free(ss_stock_batch_t *batch)
{
    if (batch == NULL) {
        return;
    }
    PQclear(batch->product_rows);
    free(batch->products);
    free(batch->reservations);
    free(batch->overlay);
    for (size_t c = 0; c < SS_STOCK_COLUMNS_MAX; c++) {
        ss_pg_array_free(&batch->columns[c]);
    }
    memset(batch, 0, sizeof(*batch));
}

ss_err_t ss_stock_prepare_statements(ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    static const struct {
        const char *name;
        const char *sql;
        int param_count;
    } statements[] = {
        {"stock_products_load", SQL_PRODUCTS_LOAD, 1},
        {"stock_reservations_load", SQL_RESERVATIONS_LOAD, 2},
        {"stock_horizon_load", SQL_HORIZON_LOAD, 0},
        {"stock_products_update", SQL_PRODUCTS_UPDATE, 4},
        {"stock_reservations_upsert", SQL_RESERVATIONS_UPSERT, 5},
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

static void columns_reset(ss_stock_batch_t *batch)
{
    for (size_t c = 0; c < SS_STOCK_COLUMNS_MAX; c++) {
        ss_pg_array_reset(&batch->columns[c]);
    }
}

/* Grows the entry arrays to hold count entries each (a batch names at most one per record). */
static ss_err_t entries_reserve(ss_stock_batch_t *batch, size_t count, char *errstr,
                                size_t errstr_size)
{
    if (count > batch->product_capacity) {
        ss_stock_product_t *grown = realloc(batch->products, count * sizeof(*grown));
        if (grown == NULL) {
            return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not grow the products");
        }
        batch->products = grown;
        batch->product_capacity = count;
    }
    if (count > batch->reservation_capacity) {
        ss_stock_reservation_t *grown = realloc(batch->reservations, count * sizeof(*grown));
        if (grown == NULL) {
            return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not grow the reservations");
        }
        batch->reservations = grown;
        batch->reservation_capacity = count;
    }
    if (count > batch->overlay_capacity) {
        ss_cache_stock_t *grown = realloc(batch->overlay, count * sizeof(*grown));
        if (grown == NULL) {
            return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not grow the overlay");
        }
        batch->overlay = grown;
        batch->overlay_capacity = count;
    }
    return SS_OK;
}

static int product_compare(const void *left, const void *right)
{
    int64_t a = ((const ss_stock_product_t *)left)->product_id;
    int64_t b = ((const ss_stock_product_t *)right)->product_id;
    return (a > b) - (a < b);
}

static int reservation_compare(const void *left, const void *right)
{
    const ss_stock_reservation_t *a = left;
    const ss_stock_reservation_t *b = right;
    if (a->order_id != b->order_id) {
        return (a->order_id > b->order_id) - (a->order_id < b->order_id);
    }
    return (a->product_id > b->product_id) - (a->product_id < b->product_id);
}

static bool record_names_pair(const ss_worker_record_t *record)
{
    return strcmp(record->schema_name, SS_SCHEMA_RESERVE_STOCK) == 0 ||
           strcmp(record->schema_name, SS_SCHEMA_RELEASE_STOCK) == 0;
}

/* One entry per product and pair the unhandled records name, none of them found yet. */
static void entries_collect(ss_stock_batch_t *batch, const ss_worker_record_t *records,
                            size_t count)
{
    batch->product_count = 0;
    batch->reservation_count = 0;
    for (size_t i = 0; i < count; i++) {
        if (records[i].handled) {
            continue;
        }
        json_t *product_id = json_object_get(records[i].value, "product_id");
        if (!json_is_integer(product_id)) {
            continue;
        }
        batch->products[batch->product_count++] =
            (ss_stock_product_t){.product_id = json_integer_value(product_id)};
        json_t *order_id = json_object_get(records[i].value, "order_id");
        if (record_names_pair(&records[i]) && json_is_integer(order_id)) {
            batch->reservations[batch->reservation_count++] = (ss_stock_reservation_t){
                .order_id = json_integer_value(order_id),
                .product_id = json_integer_value(product_id),
                .status = SS_STOCK_RESERVATION_NONE,
            };
        }
    }
    batch->product_count = ss_sort_unique(batch->products, batch->product_count,
                                          sizeof(*batch->products), product_compare);
    batch->reservation_count = ss_sort_unique(batch->reservations, batch->reservation_count,
                                              sizeof(*batch->reservations), reservation_compare);
}

static ss_err_t product_row_read(ss_stock_batch_t *batch, const PGresult *rows, int row,
                                 char *errstr, size_t errstr_size)
{
    int64_t product_id = 0;
    const char *status_text = NULL;
    ss_err_t err = ss_pg_get_int64(rows, row, 0, &product_id, errstr, errstr_size);
    ss_stock_product_t *product = NULL;
    if (err == SS_OK) {
        product = ss_stock_product_find(batch, product_id);
        if (product == NULL) {
            return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                              "products load returned product %lld that was not asked for",
                              (long long)product_id);
        }
        err = ss_pg_get_text(rows, row, 1, &product->name, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, row, 2, &product->price, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, row, 3, &product->stock, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_text(rows, row, 4, &status_text, errstr, errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }
    /* The table's CHECK constraints promise both; a database that breaks them is not ours. */
    if (!ss_rules_product_status_parse(status_text, &product->status) || product->stock < 0) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "product %lld has an invalid stock %lld or sell_status '%s'",
                          (long long)product_id, (long long)product->stock, status_text);
    }
    product->loaded_status = product->status;
    product->loaded_stock = product->stock;
    product->found = true;
    return SS_OK;
}

static ss_err_t products_load(ss_stock_batch_t *batch, ss_pg_t *pg, char *errstr,
                              size_t errstr_size)
{
    columns_reset(batch);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < batch->product_count && err == SS_OK; i++) {
        err = ss_pg_array_append_int64(&batch->columns[0], batch->products[i].product_id, errstr,
                                       errstr_size);
    }
    if (err != SS_OK || batch->product_count == 0) {
        return err;
    }
    const char *params[] = {ss_pg_array_text(&batch->columns[0])};
    err = ss_pg_query(pg, "stock_products_load", NULL, 1, params, &batch->product_rows, errstr,
                      errstr_size);
    int row_count = err == SS_OK ? PQntuples(batch->product_rows) : 0;
    for (int row = 0; row < row_count && err == SS_OK; row++) {
        err = product_row_read(batch, batch->product_rows, row, errstr, errstr_size);
    }
    return err;
}

static ss_err_t reservation_status_parse(const char *text, ss_stock_reservation_status_t *out)
{
    for (size_t i = SS_STOCK_RESERVATION_RESERVED; i <= SS_STOCK_RESERVATION_RELEASED; i++) {
        if (strcmp(text, reservation_status_names[i]) == 0) {
            *out = (ss_stock_reservation_status_t)i;
            return SS_OK;
        }
    }
    return SS_ERR_INVALID;
}

static ss_err_t reservation_row_read(ss_stock_batch_t *batch, const PGresult *rows, int row,
                                     char *errstr, size_t errstr_size)
{
    int64_t order_id = 0, product_id = 0;
    const char *status_text = NULL;
    ss_err_t err = ss_pg_get_int64(rows, row, 0, &order_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, row, 1, &product_id, errstr, errstr_size);
    }
    ss_stock_reservation_t *reservation = NULL;
    if (err == SS_OK) {
        reservation = ss_stock_reservation_find(batch, order_id, product_id);
        if (reservation == NULL) {
            return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                              "reservations load returned order %lld product %lld that was not"
                              " asked for",
                              (long long)order_id, (long long)product_id);
        }
        err = ss_pg_get_int64(rows, row, 2, &reservation->quantity, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_text(rows, row, 3, &status_text, errstr, errstr_size);
    }
    if (err != SS_OK) {
        return err;
    }
    if (reservation_status_parse(status_text, &reservation->status) != SS_OK) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "reservation of order %lld product %lld has an invalid status '%s'",
                          (long long)order_id, (long long)product_id, status_text);
    }
    /* Rows written before the reason column existed have none: the likeliest one stands in. */
    if (ss_pg_is_null(rows, row, 4) ||
        ss_api_error_from_name(PQgetvalue(rows, row, 4), &reservation->reason, NULL, 0) != SS_OK) {
        reservation->reason = SS_API_ERROR_INSUFFICIENT_STOCK;
    }
    return SS_OK;
}

/* The order id below which every reservation was pruned (retain.c); 0 without the row. */
static ss_err_t horizon_load(ss_stock_batch_t *batch, ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    PGresult *rows = NULL;
    ss_err_t err = ss_pg_query(pg, "stock_horizon_load", NULL, 0, NULL, &rows, errstr, errstr_size);
    batch->reservation_horizon = 0;
    if (err == SS_OK && PQntuples(rows) == 1) {
        err = ss_pg_get_int64(rows, 0, 0, &batch->reservation_horizon, errstr, errstr_size);
    }
    PQclear(rows);
    return err;
}

static ss_err_t reservations_load(ss_stock_batch_t *batch, ss_pg_t *pg, char *errstr,
                                  size_t errstr_size)
{
    columns_reset(batch);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < batch->reservation_count && err == SS_OK; i++) {
        err = ss_pg_array_append_int64(&batch->columns[0], batch->reservations[i].order_id, errstr,
                                       errstr_size);
        if (err == SS_OK) {
            err = ss_pg_array_append_int64(&batch->columns[1], batch->reservations[i].product_id,
                                           errstr, errstr_size);
        }
    }
    if (err != SS_OK || batch->reservation_count == 0) {
        return err;
    }
    const char *params[] = {ss_pg_array_text(&batch->columns[0]),
                            ss_pg_array_text(&batch->columns[1])};
    PGresult *rows = NULL;
    err = ss_pg_query(pg, "stock_reservations_load", NULL, 2, params, &rows, errstr, errstr_size);
    int row_count = err == SS_OK ? PQntuples(rows) : 0;
    for (int row = 0; row < row_count && err == SS_OK; row++) {
        err = reservation_row_read(batch, rows, row, errstr, errstr_size);
    }
    PQclear(rows);
    return err == SS_OK ? horizon_load(batch, pg, errstr, errstr_size) : err;
}

ss_err_t ss_stock_batch_load(ss_stock_batch_t *batch, ss_pg_t *pg,
                             const ss_worker_record_t *records, size_t count, char *errstr,
                             size_t errstr_size)
{
    PQclear(batch->product_rows);
    batch->product_rows = NULL;
    batch->product_count = 0;
    batch->reservation_count = 0;
    batch->reservation_horizon = 0;
    batch->overlay_count = 0;
    batch->catalog_changed = false;
    ss_err_t err = entries_reserve(batch, count, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    entries_collect(batch, records, count);
    err = products_load(batch, pg, errstr, errstr_size);
    if (err == SS_OK) {
        err = reservations_load(batch, pg, errstr, errstr_size);
    }
    return err;
}

ss_stock_product_t *ss_stock_product_find(ss_stock_batch_t *batch, int64_t product_id)
{
    ss_stock_product_t key = {.product_id = product_id};
    return bsearch(&key, batch->products, batch->product_count, sizeof(*batch->products),
                   product_compare);
}

ss_stock_reservation_t *ss_stock_reservation_find(ss_stock_batch_t *batch, int64_t order_id,
                                                  int64_t product_id)
{
    ss_stock_reservation_t key = {.order_id = order_id, .product_id = product_id};
    return bsearch(&key, batch->reservations, batch->reservation_count,
                   sizeof(*batch->reservations), reservation_compare);
}

/* Keeps what the products UPDATE returned, for the overlay write after the commit. */
static ss_err_t overlay_collect(ss_stock_batch_t *batch, const PGresult *rows, char *errstr,
                                size_t errstr_size)
{
    int row_count = PQntuples(rows);
    if ((size_t)row_count > batch->overlay_capacity) {
        return ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                          "products update returned %d rows for %zu products", row_count,
                          batch->product_count);
    }
    ss_err_t err = SS_OK;
    for (int row = 0; row < row_count && err == SS_OK; row++) {
        ss_cache_stock_t *entry = &batch->overlay[row];
        err = ss_pg_get_int64(rows, row, 0, &entry->product_id, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 1, &entry->stock, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 2, &entry->version, errstr, errstr_size);
        }
    }
    batch->overlay_count = err == SS_OK ? (size_t)row_count : 0;
    return err;
}

static ss_err_t products_write(ss_stock_batch_t *batch, ss_pg_t *pg, char *errstr,
                               size_t errstr_size)
{
    columns_reset(batch);
    ss_pg_array_t *columns = batch->columns;
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < batch->product_count && err == SS_OK; i++) {
        const ss_stock_product_t *product = &batch->products[i];
        if (!product->dirty) {
            continue;
        }
        SS_ASSERT(product->found && product->stock >= 0);
        if (product->status != product->loaded_status) {
            batch->catalog_changed = true;
        }
        err = ss_pg_array_append_int64(&columns[0], product->product_id, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_array_append_int64(&columns[1], product->stock, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_array_append_text(
                &columns[2], ss_rules_product_status_name(product->status), errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_array_append_int64(&columns[3], product->loaded_stock, errstr, errstr_size);
        }
    }
    size_t dirty = ss_pg_array_count(&columns[0]);
    if (err != SS_OK || dirty == 0) {
        return err;
    }
    const char *params[] = {ss_pg_array_text(&columns[0]), ss_pg_array_text(&columns[1]),
                            ss_pg_array_text(&columns[2]), ss_pg_array_text(&columns[3])};
    PGresult *rows = NULL;
    err = ss_pg_query(pg, "stock_products_update", NULL, 4, params, &rows, errstr, errstr_size);
    if (err == SS_OK && (size_t)PQntuples(rows) != dirty) {
        /* Single writer per product: another writer changed a stock since this batch loaded. */
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "%zu of %zu products changed stock under this batch (another writer?):"
                         " rolled back, to be applied again on what is stored",
                         dirty - (size_t)PQntuples(rows), dirty);
    }
    if (err == SS_OK) {
        err = overlay_collect(batch, rows, errstr, errstr_size);
    }
    PQclear(rows);
    return err;
}

static ss_err_t reservation_append(ss_pg_array_t *columns,
                                   const ss_stock_reservation_t *reservation, char *errstr,
                                   size_t errstr_size)
{
    SS_ASSERT(reservation->status != SS_STOCK_RESERVATION_NONE);
    ss_err_t err =
        ss_pg_array_append_int64(&columns[0], reservation->order_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&columns[1], reservation->product_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&columns[2], reservation->quantity, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_text(&columns[3], reservation_status_names[reservation->status],
                                      errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_text(&columns[4],
                                      reservation->status == SS_STOCK_RESERVATION_REJECTED
                                          ? ss_api_error_name(reservation->reason)
                                          : NULL,
                                      errstr, errstr_size);
    }
    return err;
}

static ss_err_t reservations_write(ss_stock_batch_t *batch, ss_pg_t *pg, char *errstr,
                                   size_t errstr_size)
{
    columns_reset(batch);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < batch->reservation_count && err == SS_OK; i++) {
        if (batch->reservations[i].dirty) {
            err = reservation_append(batch->columns, &batch->reservations[i], errstr, errstr_size);
        }
    }
    if (err != SS_OK || ss_pg_array_count(&batch->columns[0]) == 0) {
        return err;
    }
    const char *params[SS_STOCK_COLUMNS_MAX];
    for (size_t c = 0; c < SS_STOCK_COLUMNS_MAX; c++) {
        params[c] = ss_pg_array_text(&batch->columns[c]);
    }
    return ss_pg_query(pg, "stock_reservations_upsert", NULL, SS_STOCK_COLUMNS_MAX, params, NULL,
                       errstr, errstr_size);
}

ss_err_t ss_stock_batch_flush(ss_stock_batch_t *batch, ss_pg_t *pg, char *errstr,
                              size_t errstr_size)
{
    ss_err_t err = products_write(batch, pg, errstr, errstr_size);
    if (err == SS_OK) {
        err = reservations_write(batch, pg, errstr, errstr_size);
    }
    return err;
}

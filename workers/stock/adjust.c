/*
 * AdjustProduct: the admin PATCH /admin/products/{id}, travelling through the product's
 * partition so that it is ordered with every reservation of that product. Checked in this
 * order: the product exists (404), the new sell status is one of HOLD, SELLING, STOP_SELLING
 * (400), the stock after the delta is not negative (409). Answered with the product.
 */
#include "stock_worker.h"

#include "ss/assert.h"
#include "ss/json.h"

#include <stdlib.h>

static ss_err_t reply_error(ss_worker_batch_t *worker_batch, size_t index, ss_api_error_t error,
                            const char *message, char *errstr, size_t errstr_size)
{
    char *envelope = ss_json_envelope_api_error(error, message, NULL);
    if (envelope == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build an envelope");
    }
    ss_err_t err = ss_worker_batch_reply(worker_batch, index, ss_api_error_status(error), envelope,
                                         errstr, errstr_size);
    free(envelope);
    return err;
}

static ss_err_t reply_product(ss_worker_batch_t *worker_batch, size_t index,
                              const ss_stock_product_t *product, char *errstr, size_t errstr_size)
{
    json_t *data = json_pack("{s:I, s:s, s:I, s:I, s:s}", "id", (json_int_t)product->product_id,
                             "name", product->name, "price", (json_int_t)product->price, "stock",
                             (json_int_t)product->stock, "sellStatus",
                             ss_rules_product_status_name(product->status));
    char *envelope = data != NULL ? ss_json_envelope_ok(data) : NULL;
    if (envelope == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build an envelope");
    }
    ss_err_t err = ss_worker_batch_reply(worker_batch, index, 200, envelope, errstr, errstr_size);
    free(envelope);
    return err;
}

ss_err_t ss_stock_adjust_apply(ss_stock_batch_t *batch, ss_worker_batch_t *worker_batch,
                               const ss_worker_record_t *record, size_t index, char *errstr,
                               size_t errstr_size)
{
    int64_t product_id = json_integer_value(json_object_get(record->value, "product_id"));
    ss_stock_product_t *product = ss_stock_product_find(batch, product_id);
    SS_ASSERT(product != NULL); /* the load made an entry for every product named */
    if (!product->found) {
        return reply_error(worker_batch, index, SS_API_ERROR_PRODUCT_NOT_FOUND, NULL, errstr,
                           errstr_size);
    }
    /* Both fields are optional: JSON null (or absent) leaves the column as it is. */
    json_t *sell_status = json_object_get(record->value, "sell_status");
    json_t *stock_delta = json_object_get(record->value, "stock_delta");
    bool status_given = sell_status != NULL && !json_is_null(sell_status);
    bool delta_given = stock_delta != NULL && !json_is_null(stock_delta);
    ss_product_status_t status = product->status;
    if (status_given && !ss_rules_product_status_parse(json_string_value(sell_status), &status)) {
        return reply_error(worker_batch, index, SS_API_ERROR_INVALID_REQUEST,
                           "sellStatus must be one of HOLD, SELLING, STOP_SELLING", errstr,
                           errstr_size);
    }
    if (delta_given && !json_is_integer(stock_delta)) {
        return reply_error(worker_batch, index, SS_API_ERROR_INVALID_REQUEST,
                           "stockDelta must be an integer", errstr, errstr_size);
    }
    int64_t stock = product->stock;
    ss_api_error_t refusal;
    if (delta_given &&
        !ss_rules_stock_adjust(product->stock, json_integer_value(stock_delta), &stock, &refusal)) {
        return reply_error(worker_batch, index, refusal, NULL, errstr, errstr_size);
    }
    if (status_given || delta_given) {
        product->status = status;
        product->stock = stock;
        product->dirty = true;
    }
    SS_ASSERT(product->stock >= 0);
    return reply_product(worker_batch, index, product, errstr, errstr_size);
}

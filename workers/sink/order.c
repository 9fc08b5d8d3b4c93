/*
 * The platform's view of a paid order: a decoded OrderPaid record (snake_case, Avro's JSON
 * mapping) becomes the camelCase JSON body docs/data-platform.md defines. The record comes from
 * Kafka, so every field is read with a type and range check; nothing is asserted.
 */
#include "platform_sink.h"
#include "ss/topics.h"

#include "ss/clock.h"
#include "ss/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* More lines than the API allows (50), so the sink never second-guesses the user worker. */
#define SINK_ORDER_LINES_MAX 1000
#define SINK_QUANTITY_MAX 1000000

void ss_sink_idempotency_key(int64_t order_id, char *out, size_t out_size)
{
    snprintf(out, out_size, SS_PLATFORM_KEY_ORDER, order_id);
}

/* Reads one line of the order into a new {"productId","quantity","unitPrice"} object. */
static ss_err_t line_read(const json_t *lines, size_t index, json_t **line_out, char *errstr,
                          size_t errstr_size)
{
    json_t *line = NULL;
    long long product_id = 0, quantity = 0, unit_price = 0;
    *line_out = NULL;
    ss_err_t err = ss_json_array_get_object(lines, index, "lines", &line, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_json_get_int(line, "product_id", true, 1, INT64_MAX, &product_id, errstr,
                              errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(line, "quantity", true, 1, SINK_QUANTITY_MAX, &quantity, errstr,
                              errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(line, "unit_price", true, 0, INT64_MAX, &unit_price, errstr,
                              errstr_size);
    }
    if (err != SS_OK) {
        ss_json_errstr_prefix(errstr, errstr_size, "lines[%zu].", index);
        return err;
    }
    *line_out = json_pack("{s:I, s:I, s:I}", "productId", (json_int_t)product_id, "quantity",
                          (json_int_t)quantity, "unitPrice", (json_int_t)unit_price);
    if (*line_out == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory building a line");
    }
    return SS_OK;
}

ss_err_t ss_sink_order_json(const json_t *order_paid, int64_t *order_id_out, json_t **order_out,
                            char *errstr, size_t errstr_size)
{
    ss_err_t err = SS_OK;
    json_t *body = NULL, *lines_out = NULL;
    long long order_id = 0, user_id = 0, coupon_id = 0, total_price = 0, discount_price = 0,
              paid_amount = 0, paid_at = 0;
    json_t *lines = NULL;
    char paid_at_text[SS_CLOCK_ISO8601_MS_SIZE];
    *order_out = NULL;
    *order_id_out = 0;

    if (!json_is_object(order_paid)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "the record is not an object");
    }
    err =
        ss_json_get_int(order_paid, "order_id", true, 1, INT64_MAX, &order_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_json_get_int(order_paid, "user_id", true, 1, INT64_MAX, &user_id, errstr,
                              errstr_size);
    }
    /* A ["null","long"] union in OrderPaid: stays 0 when the record says null (no coupon). */
    if (err == SS_OK && !json_is_null(json_object_get(order_paid, "coupon_id"))) {
        err = ss_json_get_int(order_paid, "coupon_id", false, 1, INT64_MAX, &coupon_id, errstr,
                              errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(order_paid, "total_price", true, 0, INT64_MAX, &total_price, errstr,
                              errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(order_paid, "discount_price", true, 0, INT64_MAX, &discount_price,
                              errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(order_paid, "paid_amount", true, 0, INT64_MAX, &paid_amount, errstr,
                              errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(order_paid, "paid_at", true, SS_CLOCK_MS_MIN, SS_CLOCK_MS_MAX,
                              &paid_at, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_array(order_paid, "lines", true, 1, SINK_ORDER_LINES_MAX, &lines, errstr,
                                errstr_size);
    }
    if (err == SS_OK) {
        err = ss_clock_format_iso8601_ms(paid_at, paid_at_text, sizeof(paid_at_text), errstr,
                                         errstr_size);
    }
    if (err != SS_OK) {
        goto cleanup;
    }

    lines_out = json_array();
    if (lines_out == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory building lines");
        goto cleanup;
    }
    size_t line_count = json_array_size(lines);
    for (size_t i = 0; i < line_count; i++) {
        json_t *line = NULL;
        err = line_read(lines, i, &line, errstr, errstr_size);
        if (err != SS_OK) {
            goto cleanup;
        }
        if (json_array_append_new(lines_out, line) != 0) {
            err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory building lines");
            goto cleanup;
        }
    }

    body = json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:s, s:O}", "orderId", (json_int_t)order_id,
                     "userId", (json_int_t)user_id, "couponId",
                     coupon_id > 0 ? json_integer((json_int_t)coupon_id) : json_null(),
                     "totalPrice", (json_int_t)total_price, "discountPrice",
                     (json_int_t)discount_price, "paidAmount", (json_int_t)paid_amount, "paidAt",
                     paid_at_text, "lines", lines_out);
    if (body == NULL) {
        err = ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory building the body");
        goto cleanup;
    }
    *order_out = body;
    body = NULL;
    *order_id_out = (int64_t)order_id;
cleanup:
    json_decref(body);
    json_decref(lines_out);
    return err;
}

ss_err_t ss_sink_order_body(const json_t *order_paid, int64_t *order_id_out, char **body_out,
                            char *errstr, size_t errstr_size)
{
    json_t *order = NULL;
    *body_out = NULL;
    ss_err_t err = ss_sink_order_json(order_paid, order_id_out, &order, errstr, errstr_size);
    if (err == SS_OK) {
        *body_out = json_dumps(order, JSON_COMPACT | JSON_PRESERVE_ORDER);
        err = *body_out != NULL
                  ? SS_OK
                  : ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory writing the body");
    }
    if (err != SS_OK) {
        *order_id_out = 0;
    }
    json_decref(order);
    return err;
}

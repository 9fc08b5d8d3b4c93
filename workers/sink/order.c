/*
 * The platform's view of a paid order: a decoded OrderPaid record (snake_case, Avro's JSON
 * mapping) becomes the camelCase JSON body docs/data-platform.md defines, written as text
 * straight from the checked fields (no second JSON tree to build and serialise: jansson was a
 * quarter of the sink's CPU). The record comes from Kafka, so every field is read with a type
 * and range check; only the buffer's size, which this file computes, is asserted.
 */
#include "platform_sink.h"
#include "ss/topics.h"

#include "ss/assert.h"
#include "ss/clock.h"
#include "ss/json.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* More lines than the API allows (50), so the sink never second-guesses the user worker. */
#define SINK_ORDER_LINES_MAX 1000
#define SINK_QUANTITY_MAX 1000000

void ss_sink_idempotency_key(int64_t order_id, char *out, size_t out_size)
{
    snprintf(out, out_size, SS_PLATFORM_KEY_ORDER, order_id);
}

/*
 * The longest texts written: one line ({"productId":..,"quantity":..,"unitPrice":..} and its
 * comma, three int64s at most 20 characters each) and the order without its lines (six int64s,
 * the ISO time, the names, the brackets and the NUL). Generous: a longer write is a bug.
 */
#define SINK_LINE_TEXT_MAX 128
#define SINK_ORDER_TEXT_MAX 384

typedef struct sink_line {
    long long product_id, quantity, unit_price;
} sink_line_t;

/* The checked fields of an OrderPaid. */
typedef struct sink_order {
    long long order_id, user_id, coupon_id, total_price, discount_price, paid_amount, paid_at;
    const json_t *lines;
    char paid_at_text[SS_CLOCK_ISO8601_MS_SIZE];
} sink_order_t;

/* Reads and checks one line of the order. */
static ss_err_t line_read(const json_t *lines, size_t index, sink_line_t *line, char *errstr,
                          size_t errstr_size)
{
    json_t *object = NULL;
    ss_err_t err = ss_json_array_get_object(lines, index, "lines", &object, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_json_get_int(object, "product_id", true, 1, INT64_MAX, &line->product_id, errstr,
                              errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(object, "quantity", true, 1, SINK_QUANTITY_MAX, &line->quantity,
                              errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(object, "unit_price", true, 0, INT64_MAX, &line->unit_price, errstr,
                              errstr_size);
    }
    if (err != SS_OK) {
        ss_json_errstr_prefix(errstr, errstr_size, "lines[%zu].", index);
    }
    return err;
}

/* Reads and checks the order's own fields (its lines are read while the text is written). */
static ss_err_t order_read(const json_t *order_paid, sink_order_t *order, char *errstr,
                           size_t errstr_size)
{
    json_t *lines = NULL;
    if (!json_is_object(order_paid)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size, "the record is not an object");
    }
    ss_err_t err = ss_json_get_int(order_paid, "order_id", true, 1, INT64_MAX, &order->order_id,
                                   errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_json_get_int(order_paid, "user_id", true, 1, INT64_MAX, &order->user_id, errstr,
                              errstr_size);
    }
    /* A ["null","long"] union in OrderPaid: stays 0 when the record says null (no coupon). */
    if (err == SS_OK && !json_is_null(json_object_get(order_paid, "coupon_id"))) {
        err = ss_json_get_int(order_paid, "coupon_id", false, 1, INT64_MAX, &order->coupon_id,
                              errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(order_paid, "total_price", true, 0, INT64_MAX, &order->total_price,
                              errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(order_paid, "discount_price", true, 0, INT64_MAX,
                              &order->discount_price, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(order_paid, "paid_amount", true, 0, INT64_MAX, &order->paid_amount,
                              errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_int(order_paid, "paid_at", true, SS_CLOCK_MS_MIN, SS_CLOCK_MS_MAX,
                              &order->paid_at, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_json_get_array(order_paid, "lines", true, 1, SINK_ORDER_LINES_MAX, &lines, errstr,
                                errstr_size);
    }
    if (err == SS_OK) {
        order->lines = lines;
        err = ss_clock_format_iso8601_ms(order->paid_at, order->paid_at_text,
                                         sizeof(order->paid_at_text), errstr, errstr_size);
    }
    return err;
}

/* Appends a formatted piece at text + *used; the sizes above make room for every piece. */
static void text_append(char *text, size_t size, size_t *used, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int written = vsnprintf(text + *used, size - *used, format, args);
    va_end(args);
    SS_ASSERT(written >= 0 && (size_t)written < size - *used);
    *used += (size_t)written;
}

/* The compact JSON text of the body, written straight from the checked fields. */
static ss_err_t order_text_write(const sink_order_t *order, char **text_out, char *errstr,
                                 size_t errstr_size)
{
    size_t line_count = json_array_size(order->lines), used = 0;
    size_t size = SINK_ORDER_TEXT_MAX + line_count * SINK_LINE_TEXT_MAX;
    char coupon[24] = "null";
    char *text = malloc(size);
    if (text == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "out of memory writing the body");
    }
    if (order->coupon_id > 0) {
        snprintf(coupon, sizeof(coupon), "%lld", order->coupon_id);
    }
    text_append(text, size, &used,
                "{\"orderId\":%lld,\"userId\":%lld,\"couponId\":%s,\"totalPrice\":%lld,"
                "\"discountPrice\":%lld,\"paidAmount\":%lld,\"paidAt\":\"%s\",\"lines\":[",
                order->order_id, order->user_id, coupon, order->total_price, order->discount_price,
                order->paid_amount, order->paid_at_text);
    for (size_t i = 0; i < line_count; i++) {
        sink_line_t line;
        ss_err_t err = line_read(order->lines, i, &line, errstr, errstr_size);
        if (err != SS_OK) {
            free(text);
            return err;
        }
        text_append(text, size, &used,
                    "%s{\"productId\":%lld,\"quantity\":%lld,\"unitPrice\":%lld}", i > 0 ? "," : "",
                    line.product_id, line.quantity, line.unit_price);
    }
    text_append(text, size, &used, "]}");
    *text_out = text;
    return SS_OK;
}

ss_err_t ss_sink_order_body(const json_t *order_paid, int64_t *order_id_out, char **body_out,
                            char *errstr, size_t errstr_size)
{
    sink_order_t order = {0};
    *body_out = NULL;
    *order_id_out = 0;
    ss_err_t err = order_read(order_paid, &order, errstr, errstr_size);
    if (err == SS_OK) {
        err = order_text_write(&order, body_out, errstr, errstr_size);
    }
    if (err == SS_OK) {
        *order_id_out = (int64_t)order.order_id;
    }
    return err;
}

/*
 * The order saga's second half: the stock worker's StockReserved and StockRejected replies,
 * keyed by the buyer, so they arrive on the partition that owns the order. Each reply goes
 * through ss_rules_order_stock_reply(); its effect is carried out here:
 *   PAY     the order is PAID: OrderPaid (the ranking counts its lines), the deferred request
 *           answered 200;
 *   FAIL    the order is FAILED with the stock worker's reason: the balance refunded (REFUND
 *           row), the coupon back to UNUSED, every RESERVED line released (ReleaseStock),
 *           OrderFailed, the deferred request answered with the reason;
 *   RELEASE a reservation that arrived after the order failed (by a rejection of another line,
 *           or at the saga deadline before the line was released) is given back;
 *   RECORD  only the line's reservation changes; NONE: a repeat, nothing changes.
 * Event ids are deterministic (schemas/README.md), so consumers drop what a crash re-sends.
 */
#include "user_worker.h"
#include "ss/topics.h"

#include "ss/api_error.h"
#include "ss/assert.h"
#include "ss/clock.h"
#include "ss/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest event id: "order-<int64>-reserve-<int64>" and the like. */
#define SAGA_EVENT_ID_MAX 80

static ss_err_t event_emit(ss_worker_batch_t *worker_batch, const char *topic, int64_t key_id,
                           const char *schema_name, json_t *event, char *errstr, size_t errstr_size)
{
    if (event == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build a %s", schema_name);
    }
    char key[SS_USER_ID_TEXT_MAX];
    snprintf(key, sizeof(key), "%" PRId64, key_id);
    ss_err_t err =
        ss_worker_batch_emit(worker_batch, topic, key, schema_name, event, errstr, errstr_size);
    json_decref(event);
    return err;
}

ss_err_t ss_user_stock_command_emit(ss_worker_batch_t *worker_batch, const ss_user_order_t *order,
                                    const ss_user_order_item_t *item, bool reserve, char *errstr,
                                    size_t errstr_size)
{
    char event_id[SAGA_EVENT_ID_MAX];
    snprintf(event_id, sizeof(event_id), SS_EVENT_ID_STOCK_COMMAND, order->order_id,
             reserve ? "reserve" : "release", item->product_id);
    json_t *command =
        json_pack("{s:s, s:I, s:I, s:I, s:I}", "event_id", event_id, "order_id",
                  (json_int_t)order->order_id, "user_id", (json_int_t)order->user_id, "product_id",
                  (json_int_t)item->product_id, "quantity", (json_int_t)item->quantity);
    return event_emit(worker_batch, SS_TOPIC_CMD_STOCK, item->product_id,
                      reserve ? SS_SCHEMA_RESERVE_STOCK : SS_SCHEMA_RELEASE_STOCK, command, errstr,
                      errstr_size);
}

ss_err_t ss_user_order_failed_emit(ss_worker_batch_t *worker_batch, const ss_user_order_t *order,
                                   int64_t failed_at_ms, char *errstr, size_t errstr_size)
{
    SS_ASSERT(order->status == SS_ORDER_FAILED && order->failure_reason != NULL);
    char event_id[SAGA_EVENT_ID_MAX];
    snprintf(event_id, sizeof(event_id), SS_EVENT_ID_ORDER_FAILED, order->order_id);
    json_t *event =
        json_pack("{s:s, s:I, s:I, s:s, s:I}", "event_id", event_id, "order_id",
                  (json_int_t)order->order_id, "user_id", (json_int_t)order->user_id, "reason",
                  order->failure_reason, "failed_at", (json_int_t)failed_at_ms);
    return event_emit(worker_batch, SS_TOPIC_EVENTS_ORDER, order->user_id, SS_SCHEMA_ORDER_FAILED,
                      event, errstr, errstr_size);
}

ss_err_t ss_user_order_failure_envelope(const ss_user_order_t *order, int *status_out,
                                        char **envelope_out, char *errstr, size_t errstr_size)
{
    SS_ASSERT(order->failure_reason != NULL);
    ss_api_error_t error = SS_API_ERROR_COUNT;
    bool known = ss_api_error_from_name(order->failure_reason, &error, NULL, 0) == SS_OK;
    *status_out = known ? ss_api_error_status(error) : 409;
    json_t *data = json_pack("{s:I}", "orderId", (json_int_t)order->order_id);
    *envelope_out = ss_json_envelope_error(
        *status_out, order->failure_reason,
        known ? ss_api_error_message(error) : "the order could not be completed", data);
    if (*envelope_out == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build an envelope");
    }
    return SS_OK;
}

/* Answers the PlaceOrder deferred by an earlier (or this) batch. */
static ss_err_t order_answer(ss_worker_batch_t *worker_batch, const ss_user_order_t *order,
                             int status, char *envelope, char *errstr, size_t errstr_size)
{
    if (envelope == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build an envelope");
    }
    ss_err_t err = SS_OK;
    /* An order placed without a request id (a foreign producer) has nobody to answer. */
    if (order->request_id != NULL) {
        err = ss_worker_batch_answer(worker_batch, order->request_id, order->reply_partition,
                                     status, envelope, errstr, errstr_size);
    }
    free(envelope);
    return err;
}

/* ---- PAY ------------------------------------------------------------------------------------ */

static json_t *order_paid_event(const ss_user_batch_t *batch, const ss_user_order_t *order)
{
    char event_id[SAGA_EVENT_ID_MAX];
    snprintf(event_id, sizeof(event_id), SS_EVENT_ID_ORDER_PAID, order->order_id);
    json_t *lines = json_array();
    for (size_t i = 0; lines != NULL && i < order->item_count; i++) {
        const ss_user_order_item_t *item = &batch->items[order->item_first + i];
        if (json_array_append_new(lines, json_pack("{s:I, s:I, s:I}", "product_id",
                                                   (json_int_t)item->product_id, "quantity",
                                                   (json_int_t)item->quantity, "unit_price",
                                                   (json_int_t)item->unit_price)) != 0) {
            json_decref(lines);
            lines = NULL;
        }
    }
    if (lines == NULL) {
        return NULL;
    }
    json_t *coupon_id = order->coupon_id != 0 && order->user_coupon_id != 0
                            ? json_integer(order->coupon_id)
                            : json_null();
    return json_pack("{s:s, s:I, s:I, s:o, s:I, s:I, s:I, s:o, s:I}", "event_id", event_id,
                     "order_id", (json_int_t)order->order_id, "user_id", (json_int_t)order->user_id,
                     "coupon_id", coupon_id, "total_price", (json_int_t)order->amounts.total,
                     "discount_price", (json_int_t)order->amounts.discount, "paid_amount",
                     (json_int_t)order->amounts.paid, "lines", lines, "paid_at",
                     (json_int_t)order->paid_at_ms);
}

static ss_err_t order_pay(ss_user_batch_t *batch, ss_worker_batch_t *worker_batch,
                          ss_user_order_t *order, char *errstr, size_t errstr_size)
{
    ss_user_account_t *account = ss_user_account_find(batch, order->user_id);
    if (account == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "the buyer %" PRId64 " of order %" PRId64 " does not exist",
                          order->user_id, order->order_id);
    }
    /* The order's debit was held while it was PENDING; now it is spent. */
    SS_ASSERT(account->held >= order->amounts.paid);
    account->held -= order->amounts.paid;
    account->dirty = order->amounts.paid > 0 || account->dirty;
    order->status = SS_ORDER_PAID;
    order->paid_at_ms = ss_clock_now_ms();
    order->dirty = true;
    ss_err_t err =
        event_emit(worker_batch, SS_TOPIC_EVENTS_ORDER, order->user_id, SS_SCHEMA_ORDER_PAID,
                   order_paid_event(batch, order), errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    json_t *data = json_pack("{s:I, s:s, s:I, s:I, s:I}", "orderId", (json_int_t)order->order_id,
                             "status", "PAID", "totalPrice", (json_int_t)order->amounts.total,
                             "discountPrice", (json_int_t)order->amounts.discount, "paidAmount",
                             (json_int_t)order->amounts.paid);
    return order_answer(worker_batch, order, 200, data != NULL ? ss_json_envelope_ok(data) : NULL,
                        errstr, errstr_size);
}

/* ---- FAIL ----------------------------------------------------------------------------------- */

/* The reply's reason as the order keeps it: a known code, or a short upper-case word. */
static const char *reason_read(const ss_worker_record_t *record)
{
    const char *reason = json_string_value(json_object_get(record->value, "reason"));
    ss_api_error_t error;
    if (reason != NULL && ss_api_error_from_name(reason, &error, NULL, 0) == SS_OK) {
        return ss_api_error_name(error);
    }
    size_t length = reason != NULL ? strlen(reason) : 0;
    bool plain = length > 0 && length < SS_USER_REASON_MAX;
    for (size_t i = 0; plain && i < length; i++) {
        plain = (reason[i] >= 'A' && reason[i] <= 'Z') || reason[i] == '_';
    }
    return plain ? reason : ss_api_error_name(SS_API_ERROR_INSUFFICIENT_STOCK);
}

ss_err_t ss_user_order_fail(ss_user_batch_t *batch, ss_worker_batch_t *worker_batch,
                            ss_user_order_t *order, const char *reason, bool at_deadline,
                            char *errstr, size_t errstr_size)
{
    ss_user_account_t *account = ss_user_account_find(batch, order->user_id);
    if (account == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "the buyer %" PRId64 " of order %" PRId64 " does not exist",
                          order->user_id, order->order_id);
    }
    order->status = SS_ORDER_FAILED;
    order->failure_reason = reason;
    order->dirty = true;
    /* The refund fits: balance + held stayed within the limit, and this is part of held. */
    SS_ASSERT(account->held >= order->amounts.paid);
    account->held -= order->amounts.paid;
    account->balance += order->amounts.paid;
    account->dirty = true;
    SS_ASSERT(account->balance <= SS_RULES_BALANCE_MAX - account->held);
    ss_err_t err = SS_OK;
    if (order->amounts.paid > 0) {
        err = ss_user_history_add(batch, account, SS_USER_HISTORY_REFUND, order->amounts.paid,
                                  order->request_id, order->order_id, errstr, errstr_size);
    }
    if (err == SS_OK && order->user_coupon_id != 0) {
        ss_user_coupon_t *coupon = ss_user_coupon_find(batch, order->user_id, order->coupon_id);
        if (coupon == NULL || coupon->user_coupon_id != order->user_coupon_id) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "order %" PRId64 " used coupon issue %" PRId64
                              ", which is not the buyer's issue of coupon %" PRId64,
                              order->order_id, order->user_coupon_id, order->coupon_id);
        }
        coupon->used = false;
        coupon->dirty = true;
    }
    for (size_t i = 0; i < order->item_count && err == SS_OK; i++) {
        ss_user_order_item_t *item = &batch->items[order->item_first + i];
        bool release = false;
        item->reservation = at_deadline
                                ? ss_rules_order_line_on_deadline(item->reservation, &release)
                                : ss_rules_order_line_on_failure(item->reservation, &release);
        if (release) {
            item->dirty = true;
            err = ss_user_stock_command_emit(worker_batch, order, item, false, errstr, errstr_size);
        }
    }
    if (err == SS_OK) {
        err =
            ss_user_order_failed_emit(worker_batch, order, ss_clock_now_ms(), errstr, errstr_size);
    }
    int status = 0;
    char *envelope = NULL;
    if (err == SS_OK) {
        err = ss_user_order_failure_envelope(order, &status, &envelope, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = order_answer(worker_batch, order, status, envelope, errstr, errstr_size);
    }
    return err;
}

/* ---- the reply ------------------------------------------------------------------------------ */

ss_err_t ss_user_stock_reply_apply(ss_user_batch_t *batch, ss_worker_batch_t *worker_batch,
                                   const ss_worker_record_t *record, size_t index,
                                   ss_order_stock_reply_t reply, char *errstr, size_t errstr_size)
{
    (void)index;
    int64_t order_id = json_integer_value(json_object_get(record->value, "order_id"));
    int64_t user_id = json_integer_value(json_object_get(record->value, "user_id"));
    int64_t product_id = json_integer_value(json_object_get(record->value, "product_id"));
    ss_user_order_t *order = ss_user_order_find(batch, order_id);
    /* The order commits before its ReserveStock leaves the outbox: a miss is a foreign record. */
    if (order == NULL || order->user_id != user_id) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "stock reply for order %" PRId64 " of user %" PRId64
                          ", which this partition does not hold",
                          order_id, user_id);
    }
    ss_user_order_item_t *item = ss_user_order_item_find(batch, order, product_id);
    if (item == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "stock reply for product %" PRId64 ", which order %" PRId64
                          " does not have",
                          product_id, order_id);
    }
    size_t others_unreserved = 0;
    for (size_t i = 0; i < order->item_count; i++) {
        const ss_user_order_item_t *other = &batch->items[order->item_first + i];
        if (other != item && other->reservation != SS_ORDER_RESERVATION_RESERVED) {
            others_unreserved++;
        }
    }
    ss_rules_order_step_t step =
        ss_rules_order_stock_reply(order->status, item->reservation, reply, others_unreserved);
    if (step.effect == SS_ORDER_EFFECT_NONE) {
        return SS_OK;
    }
    item->reservation = step.reservation;
    item->dirty = true;
    switch (step.effect) {
    case SS_ORDER_EFFECT_PAY:
        return order_pay(batch, worker_batch, order, errstr, errstr_size);
    case SS_ORDER_EFFECT_FAIL:
        return ss_user_order_fail(batch, worker_batch, order, reason_read(record), false, errstr,
                                  errstr_size);
    case SS_ORDER_EFFECT_RELEASE:
        return ss_user_stock_command_emit(worker_batch, order, item, false, errstr, errstr_size);
    case SS_ORDER_EFFECT_RECORD:
    case SS_ORDER_EFFECT_NONE:
        break;
    }
    return SS_OK;
}

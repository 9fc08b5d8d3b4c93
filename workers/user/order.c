/*
 * PlaceOrder, the first step of the order saga (docs/architecture.md "Order saga"). The buyer,
 * the products (line by line), the coupon and the balance are checked with
 * ss_rules_order_place() against the batch's in-memory state. Accepted: the balance is debited
 * (a USE history row), the coupon marked USED, the order recorded PENDING, one ReserveStock per
 * line sent to the stock worker, and the request deferred until the replies decide it (saga.c).
 * Refused: the order is recorded FAILED with the reason and its lines, and answered at once;
 * malformed lines and an unknown buyer are answered without an order.
 */
#include "user_worker.h"

#include "ss/api_error.h"
#include "ss/assert.h"
#include "ss/clock.h"
#include "ss/json.h"

#include <stdio.h>
#include <stdlib.h>

/* What a PlaceOrder record says, read once. */
typedef struct place_command {
    int64_t user_id;
    int64_t coupon_id; /* 0: none */
    int64_t requested_at_ms;
    int32_t reply_partition;
    ss_rules_order_line_t lines[SS_RULES_ORDER_LINES_MAX];
    size_t line_count; /* as sent, possibly above SS_RULES_ORDER_LINES_MAX */
} place_command_t;

/* The fields are typed by the Avro schema, which the framework decoded against. */
static void place_command_read(const ss_worker_record_t *record, place_command_t *command)
{
    json_t *value = record->value;
    json_t *coupon_id = json_object_get(value, "coupon_id");
    json_t *reply_partition = json_object_get(value, "reply_partition");
    json_t *lines = json_object_get(value, "lines");
    command->user_id = json_integer_value(json_object_get(value, "user_id"));
    command->coupon_id = json_is_integer(coupon_id) ? json_integer_value(coupon_id) : 0;
    command->requested_at_ms = json_integer_value(json_object_get(value, "requested_at"));
    command->reply_partition =
        json_is_integer(reply_partition) ? (int32_t)json_integer_value(reply_partition) : -1;
    command->line_count = json_array_size(lines);
    for (size_t i = 0; i < command->line_count && i < SS_RULES_ORDER_LINES_MAX; i++) {
        json_t *line = json_array_get(lines, i);
        command->lines[i] = (ss_rules_order_line_t){
            .product_id = json_integer_value(json_object_get(line, "product_id")),
            .quantity = json_integer_value(json_object_get(line, "quantity"))};
    }
}

static ss_err_t reply_envelope(ss_worker_batch_t *worker_batch, size_t index, int status,
                               char *envelope, char *errstr, size_t errstr_size)
{
    if (envelope == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build an envelope");
    }
    ss_err_t err =
        ss_worker_batch_reply(worker_batch, index, status, envelope, errstr, errstr_size);
    free(envelope);
    return err;
}

/* Malformed lines: the ingress checks them too, so only a foreign producer gets here. */
static ss_err_t reply_invalid_lines(ss_worker_batch_t *worker_batch, size_t index,
                                    ss_rules_order_lines_problem_t problem, size_t line,
                                    char *errstr, size_t errstr_size)
{
    char message[160];
    switch (problem) {
    case SS_RULES_ORDER_LINES_COUNT:
        snprintf(message, sizeof(message), "products must have between 1 and %d items",
                 SS_RULES_ORDER_LINES_MAX);
        break;
    case SS_RULES_ORDER_LINE_PRODUCT_ID:
        snprintf(message, sizeof(message), "products[%zu].id must be a positive integer", line);
        break;
    case SS_RULES_ORDER_LINE_QUANTITY:
        snprintf(message, sizeof(message),
                 "products[%zu].quantity must be an integer between 1 and %lld", line,
                 (long long)SS_RULES_STOCK_QUANTITY_MAX);
        break;
    case SS_RULES_ORDER_LINE_DUPLICATE:
    case SS_RULES_ORDER_LINES_OK:
        snprintf(message, sizeof(message), "products[%zu].id names a product already ordered",
                 line);
        break;
    }
    return reply_envelope(worker_batch, index, 400,
                          ss_json_envelope_api_error(SS_API_ERROR_INVALID_REQUEST, message, NULL),
                          errstr, errstr_size);
}

/* The coupon as the rules see it; NULL when the command names none. */
static const ss_rules_order_coupon_t *coupon_view(ss_user_coupon_t *coupon,
                                                  ss_rules_order_coupon_t *view)
{
    if (coupon == NULL) {
        return NULL;
    }
    *view = (ss_rules_order_coupon_t){.found = coupon->found,
                                      .issued = coupon->user_coupon_id != 0,
                                      .used = coupon->used,
                                      .expired_at_ms = coupon->expired_at_ms,
                                      .rate_units = coupon->rate_units};
    return view;
}

/* Records the order (with its lines at the prices read) in the batch. */
static ss_err_t order_record(ss_user_batch_t *batch, const ss_worker_record_t *record,
                             const place_command_t *command,
                             const ss_rules_order_product_t *products, ss_order_status_t status,
                             const ss_rules_order_amounts_t *amounts, ss_api_error_t refusal,
                             ss_user_order_t **order_out, char *errstr, size_t errstr_size)
{
    int64_t order_id = 0;
    ss_err_t err = ss_user_order_id_next(batch, &order_id, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    ss_user_order_item_t items[SS_RULES_ORDER_LINES_MAX];
    for (size_t i = 0; i < command->line_count; i++) {
        items[i] =
            (ss_user_order_item_t){.product_id = command->lines[i].product_id,
                                   .quantity = command->lines[i].quantity,
                                   .unit_price = products[i].found ? products[i].unit_price : 0,
                                   .reservation = SS_ORDER_RESERVATION_PENDING};
    }
    ss_user_order_t order = {
        .order_id = order_id,
        .user_id = command->user_id,
        .coupon_id = command->coupon_id,
        .status = status,
        .amounts = *amounts,
        .failure_reason = status == SS_ORDER_FAILED ? ss_api_error_name(refusal) : NULL,
        .request_id = record->request_id,
        .reply_partition = command->reply_partition,
        .partition = record->partition,
    };
    return ss_user_order_add(batch, &order, items, command->line_count, order_out, errstr,
                             errstr_size);
}

static ss_err_t place_refuse(ss_user_batch_t *batch, ss_worker_batch_t *worker_batch,
                             const ss_worker_record_t *record, size_t index,
                             const place_command_t *command,
                             const ss_rules_order_product_t *products,
                             const ss_rules_order_amounts_t *amounts, ss_api_error_t refusal,
                             char *errstr, size_t errstr_size)
{
    ss_user_order_t *order = NULL;
    ss_err_t err = order_record(batch, record, command, products, SS_ORDER_FAILED, amounts, refusal,
                                &order, errstr, errstr_size);
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
        err = reply_envelope(worker_batch, index, status, envelope, errstr, errstr_size);
    }
    return err;
}

/* Debits, uses the coupon, records the order PENDING, asks for the stock and defers. */
static ss_err_t place_accept(ss_user_batch_t *batch, ss_worker_batch_t *worker_batch,
                             const ss_worker_record_t *record, size_t index,
                             const place_command_t *command,
                             const ss_rules_order_product_t *products,
                             const ss_rules_order_amounts_t *amounts, ss_user_account_t *account,
                             ss_user_coupon_t *coupon, char *errstr, size_t errstr_size)
{
    ss_user_order_t *order = NULL;
    ss_err_t err = order_record(batch, record, command, products, SS_ORDER_PENDING, amounts,
                                SS_API_ERROR_COUNT, &order, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    SS_ASSERT(amounts->paid >= 0 && amounts->paid <= account->balance);
    account->balance -= amounts->paid;
    account->held += amounts->paid;
    account->dirty = true;
    SS_ASSERT(account->held <= SS_RULES_BALANCE_MAX - account->balance);
    if (amounts->paid > 0) {
        err = ss_user_history_add(batch, account, SS_USER_HISTORY_USE, amounts->paid,
                                  record->request_id, order->order_id, errstr, errstr_size);
    }
    if (coupon != NULL) {
        SS_ASSERT(coupon->user_coupon_id != 0 && !coupon->used);
        coupon->used = true;
        coupon->dirty = true;
        order->user_coupon_id = coupon->user_coupon_id;
    }
    for (size_t i = 0; i < order->item_count && err == SS_OK; i++) {
        err = ss_user_stock_command_emit(worker_batch, order, &batch->items[order->item_first + i],
                                         true, errstr, errstr_size);
    }
    if (err == SS_OK) {
        ss_worker_batch_defer(worker_batch, index);
    }
    return err;
}

ss_err_t ss_user_order_place_apply(ss_user_batch_t *batch, ss_worker_batch_t *worker_batch,
                                   const ss_worker_record_t *record, size_t index, char *errstr,
                                   size_t errstr_size)
{
    place_command_t command;
    place_command_read(record, &command);
    size_t bad_line = 0;
    ss_rules_order_lines_problem_t problem =
        ss_rules_order_lines_check(command.lines, command.line_count, &bad_line);
    if (problem != SS_RULES_ORDER_LINES_OK) {
        return reply_invalid_lines(worker_batch, index, problem, bad_line, errstr, errstr_size);
    }
    ss_user_account_t *account = ss_user_account_find(batch, command.user_id);
    if (account == NULL) {
        return reply_envelope(worker_batch, index, ss_api_error_status(SS_API_ERROR_USER_NOT_FOUND),
                              ss_json_envelope_api_error(SS_API_ERROR_USER_NOT_FOUND, NULL, NULL),
                              errstr, errstr_size);
    }
    ss_rules_order_product_t products[SS_RULES_ORDER_LINES_MAX];
    for (size_t i = 0; i < command.line_count; i++) {
        const ss_user_product_t *product = ss_user_product_find(batch, command.lines[i].product_id);
        SS_ASSERT(product != NULL); /* the load made an entry for every line */
        products[i] = (ss_rules_order_product_t){
            .found = product->found, .status = product->status, .unit_price = product->price};
    }
    ss_user_coupon_t *coupon = NULL;
    if (command.coupon_id != 0) {
        coupon = ss_user_coupon_find(batch, command.user_id, command.coupon_id);
        SS_ASSERT(coupon != NULL);
    }
    ss_rules_order_coupon_t coupon_rules;
    ss_rules_order_place_t place = {.user_found = true,
                                    .balance = account->balance,
                                    .lines = command.lines,
                                    .products = products,
                                    .line_count = command.line_count,
                                    .coupon = coupon_view(coupon, &coupon_rules),
                                    .now_ms = command.requested_at_ms};
    ss_rules_order_amounts_t amounts;
    ss_api_error_t refusal = SS_API_ERROR_COUNT;
    if (!ss_rules_order_place(&place, &amounts, &refusal)) {
        return place_refuse(batch, worker_batch, record, index, &command, products, &amounts,
                            refusal, errstr, errstr_size);
    }
    return place_accept(batch, worker_batch, record, index, &command, products, &amounts, account,
                        coupon, errstr, errstr_size);
}

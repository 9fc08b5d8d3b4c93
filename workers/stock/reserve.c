/*
 * ReserveStock and ReleaseStock, the order saga's commands from the user worker. Both are
 * idempotent per (order, product) through stock_reservations: a pair's row records the
 * outcome, and a command meeting a row repeats that outcome instead of deciding again, so a
 * replayed or re-sent command never takes or gives back stock twice. Once a pair's row is
 * pruned (retain.c), the horizon stands in for it: a command for an order below the horizon
 * that finds no row was decided long ago and changes nothing. Replies (StockReserved,
 * StockRejected) go to the user's partition of ss.cmd.user, which owns the order.
 */
#include "stock_worker.h"
#include "ss/topics.h"

#include "ss/assert.h"
#include "ss/log.h"

#include <stdio.h>

typedef struct stock_command {
    int64_t order_id;
    int64_t user_id;
    int64_t product_id;
    int64_t quantity;
} stock_command_t;

/* The fields are typed by the Avro schema, which the framework decoded against. */
static stock_command_t command_read(const ss_worker_record_t *record)
{
    return (stock_command_t){
        .order_id = json_integer_value(json_object_get(record->value, "order_id")),
        .user_id = json_integer_value(json_object_get(record->value, "user_id")),
        .product_id = json_integer_value(json_object_get(record->value, "product_id")),
        .quantity = json_integer_value(json_object_get(record->value, "quantity")),
    };
}

/*
 * Emits StockReserved (reserved) or StockRejected with reason. Event ids are deterministic, as
 * the schemas say, so the user worker drops a repeated reply by its id.
 */
static ss_err_t reply_emit(ss_worker_batch_t *worker_batch, const stock_command_t *command,
                           bool reserved, int64_t quantity, ss_api_error_t reason, char *errstr,
                           size_t errstr_size)
{
    char event_id[96];
    snprintf(event_id, sizeof(event_id), SS_EVENT_ID_STOCK_REPLY, command->order_id,
             reserved ? "reserved" : "rejected", command->product_id);
    json_t *event =
        json_pack("{s:s, s:I, s:I, s:I, s:I}", "event_id", event_id, "order_id",
                  (json_int_t)command->order_id, "user_id", (json_int_t)command->user_id,
                  "product_id", (json_int_t)command->product_id, "quantity", (json_int_t)quantity);
    if (event != NULL && !reserved &&
        json_object_set_new(event, "reason", json_string(ss_api_error_name(reason))) != 0) {
        json_decref(event);
        event = NULL;
    }
    if (event == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build a stock reply");
    }
    char key[SS_STOCK_ID_TEXT_MAX];
    snprintf(key, sizeof(key), "%lld", (long long)command->user_id);
    ss_err_t err = ss_worker_batch_emit(
        worker_batch, SS_TOPIC_CMD_USER, key,
        reserved ? SS_SCHEMA_STOCK_RESERVED : SS_SCHEMA_STOCK_REJECTED, event, errstr, errstr_size);
    json_decref(event);
    return err;
}

ss_err_t ss_stock_reserve_apply(ss_stock_batch_t *batch, ss_worker_batch_t *worker_batch,
                                const ss_worker_record_t *record, char *errstr, size_t errstr_size)
{
    stock_command_t command = command_read(record);
    ss_stock_reservation_t *reservation =
        ss_stock_reservation_find(batch, command.order_id, command.product_id);
    SS_ASSERT(reservation != NULL); /* the load made an entry for every pair */
    switch (reservation->status) {
    case SS_STOCK_RESERVATION_RESERVED:
        return reply_emit(worker_batch, &command, true, reservation->quantity, SS_API_ERROR_COUNT,
                          errstr, errstr_size);
    case SS_STOCK_RESERVATION_REJECTED:
        return reply_emit(worker_batch, &command, false, command.quantity, reservation->reason,
                          errstr, errstr_size);
    case SS_STOCK_RESERVATION_RELEASED:
        /* Released (or released before it was ever reserved): the stock is not held for it. */
        return reply_emit(worker_batch, &command, false, command.quantity,
                          SS_API_ERROR_INSUFFICIENT_STOCK, errstr, errstr_size);
    case SS_STOCK_RESERVATION_NONE:
        break;
    }
    if (command.order_id < batch->reservation_horizon) {
        /*
         * Its row was pruned (retain.c): this is a re-send of a command decided long ago, or a
         * first delivery older than the retention. Either way it must not take stock again.
         */
        SS_LOG_WARN(SS_STOCK_COMPONENT,
                    "reserve refused below the pruned horizon order_id=%lld product_id=%lld"
                    " horizon=%lld",
                    (long long)command.order_id, (long long)command.product_id,
                    (long long)batch->reservation_horizon);
        return reply_emit(worker_batch, &command, false, command.quantity,
                          SS_API_ERROR_INVALID_REQUEST, errstr, errstr_size);
    }
    ss_stock_product_t *product = ss_stock_product_find(batch, command.product_id);
    SS_ASSERT(product != NULL);
    int64_t stock_after = 0;
    ss_api_error_t refusal = SS_API_ERROR_PRODUCT_NOT_FOUND;
    bool reserved =
        product->found && ss_rules_stock_reserve(product->status, product->stock, command.quantity,
                                                 &stock_after, &refusal);
    reservation->quantity = command.quantity;
    reservation->dirty = true;
    if (reserved) {
        product->stock = stock_after;
        product->dirty = true;
        SS_ASSERT(product->stock >= 0);
        reservation->status = SS_STOCK_RESERVATION_RESERVED;
    } else {
        reservation->status = SS_STOCK_RESERVATION_REJECTED;
        reservation->reason = refusal;
    }
    return reply_emit(worker_batch, &command, reserved, command.quantity, refusal, errstr,
                      errstr_size);
}

ss_err_t ss_stock_release_apply(ss_stock_batch_t *batch, const ss_worker_record_t *record,
                                char *errstr, size_t errstr_size)
{
    stock_command_t command = command_read(record);
    ss_stock_reservation_t *reservation =
        ss_stock_reservation_find(batch, command.order_id, command.product_id);
    SS_ASSERT(reservation != NULL);
    if (reservation->status == SS_STOCK_RESERVATION_REJECTED ||
        reservation->status == SS_STOCK_RESERVATION_RELEASED) {
        return SS_OK; /* nothing is held, or it was given back already */
    }
    if (reservation->status == SS_STOCK_RESERVATION_NONE &&
        command.order_id < batch->reservation_horizon) {
        return SS_OK; /* pruned: decided long ago, and a reserve below the horizon is refused */
    }
    if (reservation->status == SS_STOCK_RESERVATION_NONE) {
        /* Never reserved: remember the release so that a late reserve cannot take stock. */
        reservation->status = SS_STOCK_RESERVATION_RELEASED;
        reservation->quantity = 0;
        reservation->dirty = true;
        return SS_OK;
    }
    ss_stock_product_t *product = ss_stock_product_find(batch, command.product_id);
    SS_ASSERT(product != NULL);
    if (product->found) {
        /* Give back what the row says was taken, whatever quantity this command carries. */
        int64_t stock_after = 0;
        ss_api_error_t refusal;
        if (!ss_rules_stock_adjust(product->stock, reservation->quantity, &stock_after, &refusal)) {
            return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                              "could not give back %lld units to product %lld with stock %lld:"
                              " %s",
                              (long long)reservation->quantity, (long long)command.product_id,
                              (long long)product->stock, ss_api_error_name(refusal));
        }
        product->stock = stock_after;
        product->dirty = true;
        SS_ASSERT(product->stock >= 0);
    }
    reservation->status = SS_STOCK_RESERVATION_RELEASED;
    reservation->dirty = true;
    return SS_OK;
}

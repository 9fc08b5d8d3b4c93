/*
 * The user worker's batch state. Each batch loads what its records touch with one query per
 * table (accounts, orders, order lines, products, coupons; order ids with one nextval query),
 * applies the records in partition order against that in-memory copy, and writes the changes
 * back with one multi-row statement per table. Nothing outlives a batch, so a rolled-back batch
 * leaves no stale state behind; only the buffers are kept for the next batch.
 *
 * The order saga (docs/architecture.md "Order saga"): PlaceOrder debits the balance, uses the
 * coupon, records the order PENDING and asks the stock worker for every line (order.c); the
 * stock worker's StockReserved / StockRejected replies drive ss_rules_order_stock_reply() to
 * PAID or FAILED (saga.c), which answers the deferred request. An order the stock worker does
 * not answer is asked again and then failed by the saga deadline (deadline.c), which runs on
 * the framework's tick in the partition's own fenced transaction: still its single writer.
 *
 * Money invariant: a PENDING order's paid_amount is "held" until the order is paid or refunded,
 * and balance + held stays within SS_RULES_BALANCE_MAX, so a refund always fits (a charge
 * counts what is held against the limit).
 *
 * Who frees what: ss_user_batch_init() allocates nothing, ss_user_batch_free() releases every
 * buffer. Strings an order points at (request id, failure reason) are borrowed from the batch's
 * records, its last orders load result or constants, and are valid until the next load.
 */
#ifndef SS_USER_WORKER_H
#define SS_USER_WORKER_H

#include "ss/metrics.h"
#include "ss/pg.h"
#include "ss/rules.h"
#include "ss/topics.h"
#include "ss/worker.h"

#include <stdbool.h>
#include <stdint.h>

#define SS_USER_COMPONENT "user-worker"
/* Longest decimal text of an int64 plus the NUL. */
#define SS_USER_ID_TEXT_MAX 24
/* Columns of the widest bulk statement (the orders upsert). */
#define SS_USER_COLUMNS_MAX 13
/*
 * The schema name of the saga deadline's checks (deadline.c): records the user worker makes
 * itself, one per stale PENDING order, never read from Kafka (no Avro schema has the name).
 */
#define SS_USER_DEADLINE_RECORD "ss.internal.OrderDeadline"
/* PENDING orders one tick of a partition checks at most (the oldest asked first). */
#define SS_USER_DEADLINE_ORDERS_MAX 100
/* Longest failure reason kept from a stock reply (API error codes are far shorter). */
#define SS_USER_REASON_MAX 64

typedef struct ss_user_account {
    int64_t user_id;
    int64_t balance;
    int64_t loaded_balance; /* as loaded: the write is conditional on it (single writer) */
    int64_t held;           /* paid_amount of the user's PENDING orders (users.held) */
    int64_t loaded_held;    /* as loaded, like loaded_balance */
    bool dirty;
} ss_user_account_t;

/* A product a PlaceOrder of the batch names, found or not. */
typedef struct ss_user_product {
    int64_t product_id;
    bool found;
    int64_t price;
    ss_product_status_t status;
} ss_user_product_t;

/* A (buyer, coupon) pair an order of the batch names: the coupon and the buyer's issue of it. */
typedef struct ss_user_coupon {
    int64_t user_id;
    int64_t coupon_id;
    bool found; /* the coupon exists */
    int64_t rate_units;
    int64_t expired_at_ms;
    int64_t user_coupon_id; /* user_coupons.id, 0 when not issued to this user */
    bool used;
    bool dirty;
} ss_user_coupon_t;

/* One line of an order. */
typedef struct ss_user_order_item {
    int64_t product_id;
    int64_t quantity;
    int64_t unit_price;
    ss_order_reservation_t reservation;
    bool dirty;
} ss_user_order_item_t;

typedef struct ss_user_order {
    int64_t order_id;
    int64_t user_id;
    int64_t coupon_id;      /* 0: none */
    int64_t user_coupon_id; /* the issue the order used, 0: none */
    ss_order_status_t status;
    ss_rules_order_amounts_t amounts;
    const char *failure_reason; /* NULL: none (borrowed) */
    const char *request_id;     /* the PlaceOrder's request id, NULL: none (borrowed) */
    int32_t reply_partition;    /* ss.results partition of the ingress that waits, -1: none */
    int64_t paid_at_ms;         /* 0 until PAID */
    int32_t partition;          /* the ss.cmd.user partition that placed it; -1: as stored */
    size_t item_first;          /* its lines are items[item_first .. item_first + item_count) */
    size_t item_count;
    bool inserted; /* placed by this batch: it and its lines are inserted, not updated */
    bool dirty;
} ss_user_order_t;

typedef enum ss_user_history_type {
    SS_USER_HISTORY_CHARGE,
    SS_USER_HISTORY_USE,
    SS_USER_HISTORY_REFUND,
} ss_user_history_type_t;

typedef struct ss_user_batch {
    ss_user_account_t *accounts; /* sorted by user_id */
    size_t account_count;
    size_t account_capacity;
    ss_pg_array_t history_columns[6]; /* user, type, amount, balance_after, request, order */
    size_t history_count;
    ss_user_product_t *products; /* sorted by product_id, one per product the batch names */
    size_t product_count;
    size_t product_capacity;
    ss_user_coupon_t *coupons; /* sorted by (user_id, coupon_id), one per pair named */
    size_t coupon_count;
    size_t coupon_capacity;
    ss_user_order_t *orders; /* sorted by order_id: the replies' orders and the new ones */
    size_t order_count;
    size_t order_capacity;
    ss_user_order_item_t *items; /* the orders' lines, each order's contiguous */
    size_t item_count;
    size_t item_capacity;
    PGresult *order_rows;  /* the orders load result that loaded orders' strings point into */
    int64_t *order_ids;    /* ids taken from orders_id_seq for this batch's PlaceOrders */
    size_t order_id_count; /* how many were taken */
    size_t order_id_next;  /* the next one to hand out */
    size_t order_id_capacity;
    ss_pg_array_t columns[SS_USER_COLUMNS_MAX]; /* parameter builders, reset per statement */
} ss_user_batch_t;

/* The saga deadline's settings and one tick's buffers (deadline.c). */
typedef struct ss_user_deadline {
    ss_rules_saga_deadline_t settings;
    long long scan_interval_ms; /* how often each owned partition is scanned */
    ss_worker_record_t records[SS_USER_DEADLINE_ORDERS_MAX]; /* the tick's checks */
    size_t record_count;
    ss_pg_array_t reasked; /* ids of the orders asked again by this tick */
} ss_user_deadline_t;

/* Partitions whose PENDING orders are counted for ss_saga_orders_pending (pending.c). */
#define SS_USER_PENDING_PARTITIONS_MAX 256
/* The age classes of ss_saga_orders_pending{age}: lt_10s, 10s_60s, ge_60s. */
#define SS_USER_PENDING_AGES 3

/*
 * pending.c: the PENDING orders of each owned partition by age, as the last tick counted them,
 * and their sums in the gauges. Owned by the worker's loop thread (ticks, partition_reset).
 */
typedef struct ss_user_pending {
    int64_t counts[SS_USER_PENDING_PARTITIONS_MAX][SS_USER_PENDING_AGES];
    ss_metrics_series_t *gauges[SS_USER_PENDING_AGES];
} ss_user_pending_t;

typedef struct ss_user_worker {
    ss_user_batch_t batch;
    ss_user_deadline_t deadline;
    ss_user_pending_t pending;
} ss_user_worker_t;

/* pending.c */
void ss_user_pending_init(ss_user_pending_t *pending);
/* Counts the partition's PENDING orders by age (on the tick's connection) and sets the gauges. */
ss_err_t ss_user_pending_count(ss_user_pending_t *pending, ss_pg_t *pg, int32_t partition,
                               char *errstr, size_t errstr_size);
/* The partition is no longer ours, or its state is reloaded: its orders count for nothing. */
void ss_user_pending_forget(ss_user_pending_t *pending, int32_t partition);

/* accounts.c */
void ss_user_batch_init(ss_user_batch_t *batch);
void ss_user_batch_free(ss_user_batch_t *batch);
/* Prepares every statement of the user worker (accounts, orders, products, coupons, deadline). */
ss_err_t ss_user_prepare_statements(ss_pg_t *pg, char *errstr, size_t errstr_size);
/*
 * Loads every user the records name (user_id field) into batch->accounts, with what their
 * PENDING orders hold.
 */
ss_err_t ss_user_accounts_load(ss_user_batch_t *batch, ss_pg_t *pg,
                               const ss_worker_record_t *records, size_t count, char *errstr,
                               size_t errstr_size);
/* The loaded account of user_id, or NULL when no such user exists. */
ss_user_account_t *ss_user_account_find(ss_user_batch_t *batch, int64_t user_id);
/* Records a balance change for the history table. */
ss_err_t ss_user_history_add(ss_user_batch_t *batch, const ss_user_account_t *account,
                             ss_user_history_type_t type, int64_t amount, const char *request_id,
                             int64_t order_id, char *errstr, size_t errstr_size);
/* Writes the changed balances and the history rows. */
ss_err_t ss_user_accounts_flush(ss_user_batch_t *batch, ss_pg_t *pg, char *errstr,
                                size_t errstr_size);

/* charge.c */
ss_err_t ss_user_charge_apply(ss_user_batch_t *batch, ss_worker_batch_t *worker_batch,
                              const ss_worker_record_t *record, size_t index, char *errstr,
                              size_t errstr_size);

/* orders.c: the batch's orders, lines, products and coupons, loaded and written in bulk */
ss_err_t ss_user_orders_prepare_statements(ss_pg_t *pg, char *errstr, size_t errstr_size);
/*
 * Loads, with one query per table, the orders (and their lines) the stock replies name, the
 * products the PlaceOrders' lines name, the coupons of PlaceOrders and of loaded orders, and
 * takes one order id from orders_id_seq per PlaceOrder. Every named product and coupon pair
 * gets an entry, found or not. Room for every order the batch can create is reserved, so
 * pointers to orders stay valid until the next ss_user_order_add().
 */
ss_err_t ss_user_orders_load(ss_user_batch_t *batch, ss_pg_t *pg, const ss_worker_record_t *records,
                             size_t count, char *errstr, size_t errstr_size);
/* The entry of a product the loaded records name (check ->found), or NULL for any other. */
ss_user_product_t *ss_user_product_find(ss_user_batch_t *batch, int64_t product_id);
/* The entry of a (buyer, coupon) pair the loaded records name, or NULL for any other. */
ss_user_coupon_t *ss_user_coupon_find(ss_user_batch_t *batch, int64_t user_id, int64_t coupon_id);
/* A loaded or new order, or NULL. Valid until the next ss_user_order_add(). */
ss_user_order_t *ss_user_order_find(ss_user_batch_t *batch, int64_t order_id);
/* The line of order for product_id, or NULL. */
ss_user_order_item_t *ss_user_order_item_find(ss_user_batch_t *batch, const ss_user_order_t *order,
                                              int64_t product_id);
/* The next order id taken for this batch; SS_ERR_FATAL when the batch took too few. */
ss_err_t ss_user_order_id_next(ss_user_batch_t *batch, int64_t *order_id_out, char *errstr,
                               size_t errstr_size);
/*
 * Adds a new order (copied from *order, its lines from items[0..item_count)) and returns it.
 * Room was reserved by the load; running out is a bug (SS_ERR_FATAL).
 */
ss_err_t ss_user_order_add(ss_user_batch_t *batch, const ss_user_order_t *order,
                           const ss_user_order_item_t *items, size_t item_count,
                           ss_user_order_t **order_out, char *errstr, size_t errstr_size);
/* Writes the changed orders, lines and coupon issues (orders first: lines reference them). */
ss_err_t ss_user_orders_flush(ss_user_batch_t *batch, ss_pg_t *pg, char *errstr,
                              size_t errstr_size);

/* order.c: PlaceOrder, a command answered now (refused) or deferred to the saga's end */
ss_err_t ss_user_order_place_apply(ss_user_batch_t *batch, ss_worker_batch_t *worker_batch,
                                   const ss_worker_record_t *record, size_t index, char *errstr,
                                   size_t errstr_size);

/* saga.c: the stock worker's replies (events: nothing to answer for them) */
ss_err_t ss_user_stock_reply_apply(ss_user_batch_t *batch, ss_worker_batch_t *worker_batch,
                                   const ss_worker_record_t *record, size_t index,
                                   ss_order_stock_reply_t reply, char *errstr, size_t errstr_size);
/*
 * Fails a PENDING order with reason (borrowed, must outlive the batch): refund (REFUND row),
 * coupon back to UNUSED, ReleaseStock for every RESERVED line (at_deadline: for every line not
 * REJECTED or RELEASED, see ss_rules_order_line_on_deadline()), OrderFailed, and the deferred
 * request answered with the reason's envelope.
 */
ss_err_t ss_user_order_fail(ss_user_batch_t *batch, ss_worker_batch_t *worker_batch,
                            ss_user_order_t *order, const char *reason, bool at_deadline,
                            char *errstr, size_t errstr_size);
/* Emits ReserveStock (reserve) or ReleaseStock for one line of an order. */
ss_err_t ss_user_stock_command_emit(ss_worker_batch_t *worker_batch, const ss_user_order_t *order,
                                    const ss_user_order_item_t *item, bool reserve, char *errstr,
                                    size_t errstr_size);
/* Emits OrderFailed for an order that just became FAILED. */
ss_err_t ss_user_order_failed_emit(ss_worker_batch_t *worker_batch, const ss_user_order_t *order,
                                   int64_t failed_at_ms, char *errstr, size_t errstr_size);
/*
 * The envelope a failed order is answered with: the reason's status (409 for a code this build
 * does not know) and {"error": reason, "data": {"orderId": ...}}. Caller frees *envelope_out.
 */
ss_err_t ss_user_order_failure_envelope(const ss_user_order_t *order, int *status_out,
                                        char **envelope_out, char *errstr, size_t errstr_size);

/* deadline.c: the saga deadline (docs/architecture.md "Saga deadline") */
void ss_user_deadline_init(ss_user_deadline_t *deadline);
void ss_user_deadline_free(ss_user_deadline_t *deadline);
ss_err_t ss_user_deadline_prepare_statements(ss_pg_t *pg, char *errstr, size_t errstr_size);
/*
 * Reads the partition's PENDING orders last asked a re-ask interval ago or more, oldest first
 * (at most SS_USER_DEADLINE_ORDERS_MAX), into deadline->records; the caller applies them with
 * the batch's other records and then calls ss_user_deadline_finish().
 */
ss_err_t ss_user_deadline_scan(ss_user_deadline_t *deadline, ss_pg_t *pg, int32_t partition,
                               char *errstr, size_t errstr_size);
/* Applies one check: nothing, ReserveStock again for its unanswered lines, or the failure. */
ss_err_t ss_user_deadline_apply(ss_user_deadline_t *deadline, ss_user_batch_t *batch,
                                ss_worker_batch_t *worker_batch, const ss_worker_record_t *record,
                                char *errstr, size_t errstr_size);
/* Records the re-asks of the tick (when and how many) and releases its records. */
ss_err_t ss_user_deadline_finish(ss_user_deadline_t *deadline, ss_pg_t *pg, char *errstr,
                                 size_t errstr_size);

/* handler.c */
void ss_user_worker_handler(ss_user_worker_t *user_worker, ss_worker_handler_t *handler_out);

#endif

/*
 * The user worker's batch state. Each batch loads the accounts its records touch with one
 * query, applies the records in partition order against those in-memory balances, and writes
 * the changed balances and the history rows back with one multi-row statement each. Nothing
 * outlives a batch, so a rolled-back batch leaves no stale state behind.
 */
#ifndef SS_USER_WORKER_H
#define SS_USER_WORKER_H

#include "ss/pg.h"
#include "ss/worker.h"

#include <stdbool.h>
#include <stdint.h>

#define SS_USER_COMPONENT "user-worker"

typedef struct ss_user_account {
    int64_t user_id;
    int64_t balance;
    bool dirty;
} ss_user_account_t;

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
} ss_user_batch_t;

typedef struct ss_user_worker {
    ss_user_batch_t batch;
} ss_user_worker_t;

/* accounts.c */
void ss_user_batch_init(ss_user_batch_t *batch);
void ss_user_batch_free(ss_user_batch_t *batch);
ss_err_t ss_user_prepare_statements(ss_pg_t *pg, char *errstr, size_t errstr_size);
/* Loads every user the records name (user_id field) into batch->accounts. */
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

/* handler.c */
void ss_user_worker_handler(ss_user_worker_t *user_worker, ss_worker_handler_t *handler_out);

#endif

/*
 * Accounts of one batch: loaded in one query (balance and what the user's PENDING orders hold,
 * users.held, both written by this worker alone), changed in memory in partition order, written
 * back with one UPDATE ... FROM unnest and one INSERT ... SELECT FROM unnest.
 */
#include "user_worker.h"

#include "ss/assert.h"
#include "ss/rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_ACCOUNTS_LOAD                                                                          \
    "SELECT id, balance, held FROM users WHERE id = ANY($1::bigint[]) ORDER BY id"
#define SQL_ACCOUNTS_UPDATE                                                                        \
    "UPDATE users u SET balance = v.balance, held = v.held"                                        \
    " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])"           \
    " AS v(id, balance, held, loaded_balance, loaded_held)"                                        \
    " WHERE u.id = v.id AND u.balance = v.loaded_balance AND u.held = v.loaded_held"               \
    " RETURNING u.id"
#define SQL_HISTORY_INSERT                                                                         \
    "INSERT INTO balance_history (user_id, type, amount, balance_after, request_id, order_id)"     \
    " SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::text[],"      \
    " $6::bigint[])"

static const char *const history_type_names[] = {"CHARGE", "USE", "REFUND"};

void ss_user_batch_init(ss_user_batch_t *batch)
{
    memset(batch, 0, sizeof(*batch));
    for (size_t c = 0; c < 6; c++) {
        ss_pg_array_init(&batch->history_columns[c]);
    }
    for (size_t c = 0; c < SS_USER_COLUMNS_MAX; c++) {
        ss_pg_array_init(&batch->columns[c]);
    }
}

void ss_user_batch_free(ss_user_batch_t *batch)
{
    if (batch == NULL) {
        return;
    }
    free(batch->accounts);
    for (size_t c = 0; c < 6; c++) {
        ss_pg_array_free(&batch->history_columns[c]);
    }
    free(batch->products);
    free(batch->coupons);
    free(batch->orders);
    free(batch->items);
    free(batch->order_ids);
    PQclear(batch->order_rows);
    for (size_t c = 0; c < SS_USER_COLUMNS_MAX; c++) {
        ss_pg_array_free(&batch->columns[c]);
    }
    memset(batch, 0, sizeof(*batch));
}

ss_err_t ss_user_prepare_statements(ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    ss_err_t err =
        ss_pg_prepare(pg, "user_accounts_load", SQL_ACCOUNTS_LOAD, 1, errstr, errstr_size);
    if (err == SS_OK) {
        err =
            ss_pg_prepare(pg, "user_accounts_update", SQL_ACCOUNTS_UPDATE, 5, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_prepare(pg, "user_history_insert", SQL_HISTORY_INSERT, 6, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_user_orders_prepare_statements(pg, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_user_deadline_prepare_statements(pg, errstr, errstr_size);
    }
    return err;
}

static ss_err_t accounts_reserve(ss_user_batch_t *batch, size_t count, char *errstr,
                                 size_t errstr_size)
{
    if (count <= batch->account_capacity) {
        return SS_OK;
    }
    ss_user_account_t *grown = realloc(batch->accounts, count * sizeof(*grown));
    if (grown == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not grow the accounts");
    }
    batch->accounts = grown;
    batch->account_capacity = count;
    return SS_OK;
}

static void history_reset(ss_user_batch_t *batch)
{
    for (size_t c = 0; c < 6; c++) {
        ss_pg_array_reset(&batch->history_columns[c]);
    }
    batch->history_count = 0;
}

ss_err_t ss_user_accounts_load(ss_user_batch_t *batch, ss_pg_t *pg,
                               const ss_worker_record_t *records, size_t count, char *errstr,
                               size_t errstr_size)
{
    batch->account_count = 0;
    history_reset(batch);
    ss_pg_array_t ids;
    ss_pg_array_init(&ids);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < count && err == SS_OK; i++) {
        json_t *user_id = json_object_get(records[i].value, "user_id");
        if (!records[i].handled && json_is_integer(user_id)) {
            err = ss_pg_array_append_int64(&ids, json_integer_value(user_id), errstr, errstr_size);
        }
    }
    PGresult *rows = NULL;
    if (err == SS_OK && ss_pg_array_count(&ids) > 0) {
        const char *params[] = {ss_pg_array_text(&ids)};
        err = ss_pg_query(pg, "user_accounts_load", NULL, 1, params, &rows, errstr, errstr_size);
    }
    int row_count = rows != NULL ? PQntuples(rows) : 0;
    if (err == SS_OK) {
        err = accounts_reserve(batch, (size_t)row_count, errstr, errstr_size);
    }
    for (int row = 0; row < row_count && err == SS_OK; row++) {
        ss_user_account_t *account = &batch->accounts[batch->account_count++];
        account->dirty = false;
        err = ss_pg_get_int64(rows, row, 0, &account->user_id, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 1, &account->balance, errstr, errstr_size);
            account->loaded_balance = account->balance;
        }
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 2, &account->held, errstr, errstr_size);
            account->loaded_held = account->held;
        }
        /* The CHECK keeps the balance in range; the saga keeps balance + held within it. */
        if (err == SS_OK && (account->balance < 0 || account->held < 0 ||
                             account->held > SS_RULES_BALANCE_MAX - account->balance)) {
            err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                             "user %" PRId64 " has balance %" PRId64 " and holds %" PRId64
                             " in pending orders, past the limit",
                             account->user_id, account->balance, account->held);
        }
    }
    PQclear(rows);
    ss_pg_array_free(&ids);
    return err;
}

ss_user_account_t *ss_user_account_find(ss_user_batch_t *batch, int64_t user_id)
{
    size_t low = 0, high = batch->account_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int64_t found = batch->accounts[middle].user_id;
        if (found == user_id) {
            return &batch->accounts[middle];
        }
        if (found < user_id) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return NULL;
}

ss_err_t ss_user_history_add(ss_user_batch_t *batch, const ss_user_account_t *account,
                             ss_user_history_type_t type, int64_t amount, const char *request_id,
                             int64_t order_id, char *errstr, size_t errstr_size)
{
    SS_ASSERT(account->balance >= 0 && account->balance <= SS_RULES_BALANCE_MAX);
    ss_pg_array_t *columns = batch->history_columns;
    ss_err_t err = ss_pg_array_append_int64(&columns[0], account->user_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_array_append_text(&columns[1], history_type_names[type], errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&columns[2], amount, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&columns[3], account->balance, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_array_append_text(&columns[4], request_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = order_id > 0 ? ss_pg_array_append_int64(&columns[5], order_id, errstr, errstr_size)
                           : ss_pg_array_append_null(&columns[5], errstr, errstr_size);
    }
    if (err == SS_OK) {
        batch->history_count++;
    }
    return err;
}

#define ACCOUNT_COLUMNS 5

/* The dirty account's row of the update: id, balance, held and the two values loaded. */
static ss_err_t account_columns_append(ss_pg_array_t *columns, const ss_user_account_t *account,
                                       char *errstr, size_t errstr_size)
{
    const int64_t values[ACCOUNT_COLUMNS] = {account->user_id, account->balance, account->held,
                                             account->loaded_balance, account->loaded_held};
    ss_err_t err = SS_OK;
    for (size_t c = 0; c < ACCOUNT_COLUMNS && err == SS_OK; c++) {
        err = ss_pg_array_append_int64(&columns[c], values[c], errstr, errstr_size);
    }
    return err;
}

static ss_err_t balances_write(ss_user_batch_t *batch, ss_pg_t *pg, char *errstr,
                               size_t errstr_size)
{
    ss_pg_array_t columns[ACCOUNT_COLUMNS];
    const char *params[ACCOUNT_COLUMNS];
    for (size_t c = 0; c < ACCOUNT_COLUMNS; c++) {
        ss_pg_array_init(&columns[c]);
    }
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < batch->account_count && err == SS_OK; i++) {
        if (batch->accounts[i].dirty) {
            err = account_columns_append(columns, &batch->accounts[i], errstr, errstr_size);
        }
    }
    size_t dirty = ss_pg_array_count(&columns[0]);
    PGresult *rows = NULL;
    if (err == SS_OK && dirty > 0) {
        for (size_t c = 0; c < ACCOUNT_COLUMNS; c++) {
            params[c] = ss_pg_array_text(&columns[c]);
        }
        err = ss_pg_query(pg, "user_accounts_update", NULL, ACCOUNT_COLUMNS, params, &rows, errstr,
                          errstr_size);
    }
    if (err == SS_OK && dirty > 0 && (size_t)PQntuples(rows) != dirty) {
        /* Single writer per user: another writer changed an account since this batch loaded. */
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "%zu of %zu accounts changed under this batch (another writer?): rolled"
                         " back, to be applied again on what is stored",
                         dirty - (size_t)PQntuples(rows), dirty);
    }
    PQclear(rows);
    for (size_t c = 0; c < ACCOUNT_COLUMNS; c++) {
        ss_pg_array_free(&columns[c]);
    }
    return err;
}

ss_err_t ss_user_accounts_flush(ss_user_batch_t *batch, ss_pg_t *pg, char *errstr,
                                size_t errstr_size)
{
    ss_err_t err = balances_write(batch, pg, errstr, errstr_size);
    if (err != SS_OK || batch->history_count == 0) {
        return err;
    }
    const char *params[6];
    for (size_t c = 0; c < 6; c++) {
        params[c] = ss_pg_array_text(&batch->history_columns[c]);
    }
    return ss_pg_query(pg, "user_history_insert", NULL, 6, params, NULL, errstr, errstr_size);
}

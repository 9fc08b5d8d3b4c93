/*
 * What one batch of the coupon worker reads and writes: three loads (coupons, users, pairs
 * already issued), an in-memory set of (coupon, user) pairs that also catches the same user
 * twice in one batch, and the flush (one INSERT ... RETURNING of the new user_coupons, whose
 * ids answer the records that issued them, and one UPDATE of the changed coupons).
 */
#include "coupon_worker.h"

#include "ss/assert.h"
#include "ss/clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL_COUPONS_LOAD                                                                           \
    "SELECT id, name, (discount_rate * 10000)::bigint, quantity, issued_count, status,"            \
    " floor(extract(epoch FROM expired_at) * 1000)::bigint"                                        \
    " FROM coupons WHERE id = ANY($1::bigint[]) ORDER BY id"
#define SQL_USERS_LOAD "SELECT id FROM users WHERE id = ANY($1::bigint[]) ORDER BY id"
#define SQL_PAIRS_LOAD                                                                             \
    "SELECT uc.coupon_id, uc.user_id FROM user_coupons uc"                                         \
    " JOIN unnest($1::bigint[], $2::bigint[]) AS q(coupon_id, user_id)"                            \
    " ON uc.coupon_id = q.coupon_id AND uc.user_id = q.user_id"
#define SQL_ISSUED_INSERT                                                                          \
    "INSERT INTO user_coupons (coupon_id, user_id, status, issued_at)"                             \
    " SELECT v.coupon_id, v.user_id, 'UNUSED',"                                                    \
    " timestamptz 'epoch' + $3::bigint * interval '1 millisecond'"                                 \
    " FROM unnest($1::bigint[], $2::bigint[]) AS v(coupon_id, user_id)"                            \
    " RETURNING id, coupon_id, user_id"
#define SQL_COUPONS_UPDATE                                                                         \
    "UPDATE coupons c SET issued_count = v.issued_count, status = v.status"                        \
    " FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bigint[])"                           \
    " AS v(id, issued_count, status, loaded_issued_count)"                                         \
    " WHERE c.id = v.id AND c.issued_count = v.loaded_issued_count RETURNING c.id"

/* The pair set is at most half full: at least twice as many slots as entries. */
#define PAIR_SLOTS_MIN 16

void ss_coupon_worker_init(ss_coupon_worker_t *coupon_worker)
{
    memset(coupon_worker, 0, sizeof(*coupon_worker));
    ss_pg_array_init(&coupon_worker->batch.issue_coupon_ids);
    ss_pg_array_init(&coupon_worker->batch.issue_user_ids);
}

void ss_coupon_worker_free(ss_coupon_worker_t *coupon_worker)
{
    if (coupon_worker == NULL) {
        return;
    }
    ss_coupon_batch_t *batch = &coupon_worker->batch;
    PQclear(batch->coupon_rows);
    free(batch->coupons);
    free(batch->user_ids);
    free(batch->pairs);
    ss_pg_array_free(&batch->issue_coupon_ids);
    ss_pg_array_free(&batch->issue_user_ids);
    for (size_t i = 0; i < SS_API_ERROR_COUNT; i++) {
        free(coupon_worker->error_envelopes[i]);
    }
    memset(coupon_worker, 0, sizeof(*coupon_worker));
}

ss_err_t ss_coupon_prepare_statements(ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    static const struct {
        const char *name;
        const char *sql;
        int param_count;
    } statements[] = {
        {"coupon_coupons_load", SQL_COUPONS_LOAD, 1},
        {"coupon_users_load", SQL_USERS_LOAD, 1},
        {"coupon_pairs_load", SQL_PAIRS_LOAD, 2},
        {"coupon_issued_insert", SQL_ISSUED_INSERT, 3},
        {"coupon_coupons_update", SQL_COUPONS_UPDATE, 4},
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

/* Grows *items to hold count elements of size bytes; keeps the buffer between batches. */
static ss_err_t buffer_reserve(void **items, size_t *capacity, size_t count, size_t size,
                               const char *what, char *errstr, size_t errstr_size)
{
    if (count <= *capacity) {
        return SS_OK;
    }
    void *grown = realloc(*items, count * size);
    if (grown == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not grow the %s", what);
    }
    *items = grown;
    *capacity = count;
    return SS_OK;
}

static bool record_is_ours(const ss_worker_record_t *record)
{
    return !record->handled && record->schema_name != NULL &&
           (strcmp(record->schema_name, SS_COUPON_ISSUE_SCHEMA) == 0 ||
            strcmp(record->schema_name, SS_COUPON_STATUS_SCHEMA) == 0);
}

static bool record_is_issue(const ss_worker_record_t *record)
{
    return !record->handled && record->schema_name != NULL &&
           strcmp(record->schema_name, SS_COUPON_ISSUE_SCHEMA) == 0;
}

/* ---- pair set ------------------------------------------------------------------------------ */

static size_t pair_hash(int64_t coupon_id, int64_t user_id)
{
    /* splitmix64's finaliser over both ids: user ids of one hot coupon spread evenly. */
    uint64_t x = (uint64_t)coupon_id * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)user_id;
    x ^= x >> 30;
    x *= UINT64_C(0xBF58476D1CE4E5B9);
    x ^= x >> 27;
    x *= UINT64_C(0x94D049BB133111EB);
    x ^= x >> 31;
    return (size_t)x;
}

/* The slot holding the pair, or the empty slot where it would go. */
static ss_coupon_pair_t *pair_slot(const ss_coupon_batch_t *batch, int64_t coupon_id,
                                   int64_t user_id)
{
    size_t mask = batch->pair_slots - 1;
    size_t slot = pair_hash(coupon_id, user_id) & mask;
    /* At most half full, so an empty slot comes within pair_slots probes. */
    for (size_t probe = 0; probe < batch->pair_slots; probe++) {
        ss_coupon_pair_t *pair = &batch->pairs[slot];
        if (!pair->used || (pair->coupon_id == coupon_id && pair->user_id == user_id)) {
            return pair;
        }
        slot = (slot + 1) & mask;
    }
    SS_ASSERT(!"the pair set is full");
    return NULL;
}

/* Sizes the set for entries_max entries and empties it. */
static ss_err_t pairs_reset(ss_coupon_batch_t *batch, size_t entries_max, char *errstr,
                            size_t errstr_size)
{
    size_t slots = PAIR_SLOTS_MIN;
    while (slots < 2 * entries_max) {
        slots *= 2;
    }
    ss_err_t err = buffer_reserve((void **)&batch->pairs, &batch->pair_capacity, slots,
                                  sizeof(*batch->pairs), "pair set", errstr, errstr_size);
    if (err == SS_OK) {
        memset(batch->pairs, 0, slots * sizeof(*batch->pairs));
        batch->pair_slots = slots;
    }
    return err;
}

/* Adds the pair unless present; a present pair keeps the record that issued it first. */
static void pair_add(ss_coupon_batch_t *batch, int64_t coupon_id, int64_t user_id,
                     size_t record_index)
{
    ss_coupon_pair_t *pair = pair_slot(batch, coupon_id, user_id);
    if (!pair->used) {
        *pair = (ss_coupon_pair_t){
            .coupon_id = coupon_id, .user_id = user_id, .record_index = record_index, .used = true};
    }
}

bool ss_coupon_pair_exists(const ss_coupon_batch_t *batch, int64_t coupon_id, int64_t user_id)
{
    return batch->pair_slots > 0 && pair_slot(batch, coupon_id, user_id)->used;
}

/* ---- loads --------------------------------------------------------------------------------- */

/* Validates and keeps one coupon row: it is input from PostgreSQL, never asserted. */
static ss_err_t coupon_row_read(PGresult *rows, int row, ss_coupon_state_t *coupon, char *errstr,
                                size_t errstr_size)
{
    const char *status = NULL;
    memset(coupon, 0, sizeof(*coupon));
    coupon->row = row;
    ss_err_t err = ss_pg_get_int64(rows, row, 0, &coupon->coupon_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, row, 2, &coupon->rate_units, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, row, 3, &coupon->rules.quantity, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, row, 4, &coupon->rules.issued_count, errstr, errstr_size);
        coupon->loaded_issued_count = coupon->rules.issued_count;
    }
    if (err == SS_OK) {
        err = ss_pg_get_text(rows, row, 5, &status, errstr, errstr_size);
    }
    if (err == SS_OK) {
        err = ss_pg_get_int64(rows, row, 6, &coupon->rules.expired_at_ms, errstr, errstr_size);
    }
    if (err == SS_OK && !ss_rules_coupon_status_parse(status, &coupon->rules.status)) {
        err =
            ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                       "coupon %" PRId64 " has an unknown status '%s'", coupon->coupon_id, status);
    }
    if (err == SS_OK && (coupon->rules.quantity < 0 || coupon->rules.issued_count < 0 ||
                         coupon->rules.issued_count > coupon->rules.quantity ||
                         coupon->rate_units < 1 || coupon->rate_units > SS_RULES_RATE_SCALE ||
                         coupon->rules.expired_at_ms < SS_CLOCK_MS_MIN ||
                         coupon->rules.expired_at_ms > SS_CLOCK_MS_MAX)) {
        err = ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                         "coupon %" PRId64 " is inconsistent: quantity %" PRId64
                         " issued_count %" PRId64 " rate %" PRId64 "/10000 expired_at %" PRId64,
                         coupon->coupon_id, coupon->rules.quantity, coupon->rules.issued_count,
                         coupon->rate_units, coupon->rules.expired_at_ms);
    }
    return err;
}

static ss_err_t coupons_load(ss_coupon_batch_t *batch, ss_pg_t *pg,
                             const ss_worker_record_t *records, size_t count, char *errstr,
                             size_t errstr_size)
{
    ss_pg_array_t ids;
    ss_pg_array_init(&ids);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < count && err == SS_OK; i++) {
        json_t *coupon_id = json_object_get(records[i].value, "coupon_id");
        if (record_is_ours(&records[i]) && json_is_integer(coupon_id)) {
            err =
                ss_pg_array_append_int64(&ids, json_integer_value(coupon_id), errstr, errstr_size);
        }
    }
    if (err == SS_OK && ss_pg_array_count(&ids) > 0) {
        const char *params[] = {ss_pg_array_text(&ids)};
        err = ss_pg_query(pg, "coupon_coupons_load", NULL, 1, params, &batch->coupon_rows, errstr,
                          errstr_size);
    }
    int row_count = batch->coupon_rows != NULL ? PQntuples(batch->coupon_rows) : 0;
    if (err == SS_OK) {
        err = buffer_reserve((void **)&batch->coupons, &batch->coupon_capacity, (size_t)row_count,
                             sizeof(*batch->coupons), "coupons", errstr, errstr_size);
    }
    for (int row = 0; row < row_count && err == SS_OK; row++) {
        err = coupon_row_read(batch->coupon_rows, row, &batch->coupons[batch->coupon_count], errstr,
                              errstr_size);
        if (err == SS_OK) {
            batch->coupon_count++;
        }
    }
    ss_pg_array_free(&ids);
    return err;
}

static ss_err_t users_load(ss_coupon_batch_t *batch, ss_pg_t *pg, const char *user_ids_text,
                           char *errstr, size_t errstr_size)
{
    PGresult *rows = NULL;
    const char *params[] = {user_ids_text};
    ss_err_t err =
        ss_pg_query(pg, "coupon_users_load", NULL, 1, params, &rows, errstr, errstr_size);
    int row_count = rows != NULL ? PQntuples(rows) : 0;
    if (err == SS_OK) {
        err = buffer_reserve((void **)&batch->user_ids, &batch->user_capacity, (size_t)row_count,
                             sizeof(*batch->user_ids), "users", errstr, errstr_size);
    }
    for (int row = 0; row < row_count && err == SS_OK; row++) {
        err =
            ss_pg_get_int64(rows, row, 0, &batch->user_ids[batch->user_count], errstr, errstr_size);
        if (err == SS_OK) {
            batch->user_count++;
        }
    }
    PQclear(rows);
    return err;
}

static ss_err_t pairs_load(ss_coupon_batch_t *batch, ss_pg_t *pg, const char *coupon_ids_text,
                           const char *user_ids_text, size_t issue_count, char *errstr,
                           size_t errstr_size)
{
    PGresult *rows = NULL;
    const char *params[] = {coupon_ids_text, user_ids_text};
    ss_err_t err =
        ss_pg_query(pg, "coupon_pairs_load", NULL, 2, params, &rows, errstr, errstr_size);
    int row_count = rows != NULL ? PQntuples(rows) : 0;
    if (err == SS_OK) {
        /* Room for every stored pair and one new pair per IssueCoupon record. */
        err = pairs_reset(batch, (size_t)row_count + issue_count, errstr, errstr_size);
    }
    for (int row = 0; row < row_count && err == SS_OK; row++) {
        int64_t coupon_id = 0, user_id = 0;
        err = ss_pg_get_int64(rows, row, 0, &coupon_id, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 1, &user_id, errstr, errstr_size);
        }
        if (err == SS_OK) {
            pair_add(batch, coupon_id, user_id, SS_COUPON_PAIR_STORED);
        }
    }
    PQclear(rows);
    return err;
}

/* Users and stored pairs of the batch's IssueCoupon records. */
static ss_err_t issue_inputs_load(ss_coupon_batch_t *batch, ss_pg_t *pg,
                                  const ss_worker_record_t *records, size_t count, char *errstr,
                                  size_t errstr_size)
{
    ss_pg_array_t coupon_ids, user_ids;
    ss_pg_array_init(&coupon_ids);
    ss_pg_array_init(&user_ids);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < count && err == SS_OK; i++) {
        json_t *coupon_id = json_object_get(records[i].value, "coupon_id");
        json_t *user_id = json_object_get(records[i].value, "user_id");
        if (record_is_issue(&records[i]) && json_is_integer(coupon_id) &&
            json_is_integer(user_id)) {
            err = ss_pg_array_append_int64(&coupon_ids, json_integer_value(coupon_id), errstr,
                                           errstr_size);
            if (err == SS_OK) {
                err = ss_pg_array_append_int64(&user_ids, json_integer_value(user_id), errstr,
                                               errstr_size);
            }
        }
    }
    size_t issue_count = ss_pg_array_count(&user_ids);
    if (err == SS_OK && issue_count > 0) {
        err = users_load(batch, pg, ss_pg_array_text(&user_ids), errstr, errstr_size);
    }
    if (err == SS_OK && issue_count > 0) {
        err = pairs_load(batch, pg, ss_pg_array_text(&coupon_ids), ss_pg_array_text(&user_ids),
                         issue_count, errstr, errstr_size);
    }
    ss_pg_array_free(&coupon_ids);
    ss_pg_array_free(&user_ids);
    return err;
}

ss_err_t ss_coupon_batch_load(ss_coupon_batch_t *batch, ss_pg_t *pg,
                              const ss_worker_record_t *records, size_t count, char *errstr,
                              size_t errstr_size)
{
    PQclear(batch->coupon_rows);
    batch->coupon_rows = NULL;
    batch->coupon_count = 0;
    batch->user_count = 0;
    batch->pair_slots = 0;
    batch->issued_count = 0;
    ss_pg_array_reset(&batch->issue_coupon_ids);
    ss_pg_array_reset(&batch->issue_user_ids);
    ss_err_t err = coupons_load(batch, pg, records, count, errstr, errstr_size);
    if (err == SS_OK) {
        err = issue_inputs_load(batch, pg, records, count, errstr, errstr_size);
    }
    return err;
}

ss_coupon_state_t *ss_coupon_find(ss_coupon_batch_t *batch, int64_t coupon_id)
{
    size_t low = 0, high = batch->coupon_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int64_t found = batch->coupons[middle].coupon_id;
        if (found == coupon_id) {
            return &batch->coupons[middle];
        }
        if (found < coupon_id) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return NULL;
}

const char *ss_coupon_name(const ss_coupon_batch_t *batch, const ss_coupon_state_t *coupon)
{
    return PQgetvalue(batch->coupon_rows, coupon->row, 1);
}

bool ss_coupon_user_exists(const ss_coupon_batch_t *batch, int64_t user_id)
{
    size_t low = 0, high = batch->user_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int64_t found = batch->user_ids[middle];
        if (found == user_id) {
            return true;
        }
        if (found < user_id) {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    return false;
}

ss_err_t ss_coupon_issue_add(ss_coupon_batch_t *batch, int64_t coupon_id, int64_t user_id,
                             size_t record_index, char *errstr, size_t errstr_size)
{
    SS_ASSERT(batch->pair_slots > 0);
    SS_ASSERT(!ss_coupon_pair_exists(batch, coupon_id, user_id));
    ss_err_t err =
        ss_pg_array_append_int64(&batch->issue_coupon_ids, coupon_id, errstr, errstr_size);
    if (err == SS_OK) {
        err = ss_pg_array_append_int64(&batch->issue_user_ids, user_id, errstr, errstr_size);
    }
    if (err == SS_OK) {
        pair_add(batch, coupon_id, user_id, record_index);
        batch->issued_count++;
    }
    return err;
}

/* ---- flush --------------------------------------------------------------------------------- */

/* Inserts the issued rows and answers each issuing record with its row's id. */
static ss_err_t issued_insert(ss_coupon_batch_t *batch, ss_worker_batch_t *worker_batch,
                              ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    if (batch->issued_count == 0) {
        return SS_OK;
    }
    char now_text[24];
    snprintf(now_text, sizeof(now_text), "%" PRId64, batch->now_ms);
    const char *params[] = {ss_pg_array_text(&batch->issue_coupon_ids),
                            ss_pg_array_text(&batch->issue_user_ids), now_text};
    PGresult *rows = NULL;
    ss_err_t err =
        ss_pg_query(pg, "coupon_issued_insert", NULL, 3, params, &rows, errstr, errstr_size);
    int row_count = rows != NULL ? PQntuples(rows) : 0;
    if (err == SS_OK && (size_t)row_count != batch->issued_count) {
        err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                         "inserted %d user_coupons rows for %zu issuances", row_count,
                         batch->issued_count);
    }
    for (int row = 0; row < row_count && err == SS_OK; row++) {
        int64_t user_coupon_id = 0, coupon_id = 0, user_id = 0;
        err = ss_pg_get_int64(rows, row, 0, &user_coupon_id, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 1, &coupon_id, errstr, errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_get_int64(rows, row, 2, &user_id, errstr, errstr_size);
        }
        if (err != SS_OK) {
            break;
        }
        const ss_coupon_pair_t *pair = pair_slot(batch, coupon_id, user_id);
        if (!pair->used || pair->record_index == SS_COUPON_PAIR_STORED) {
            err = ss_err_set(SS_ERR_FATAL, errstr, errstr_size,
                             "inserted user_coupons row for coupon %" PRId64 " user %" PRId64
                             " that no record issued",
                             coupon_id, user_id);
            break;
        }
        err = ss_coupon_issue_reply(batch, worker_batch, pair->record_index, coupon_id,
                                    user_coupon_id, errstr, errstr_size);
    }
    PQclear(rows);
    return err;
}

static ss_err_t coupons_update(ss_coupon_batch_t *batch, ss_pg_t *pg, char *errstr,
                               size_t errstr_size)
{
    ss_pg_array_t ids, issued_counts, statuses, loaded;
    ss_pg_array_init(&ids);
    ss_pg_array_init(&issued_counts);
    ss_pg_array_init(&statuses);
    ss_pg_array_init(&loaded);
    ss_err_t err = SS_OK;
    for (size_t i = 0; i < batch->coupon_count && err == SS_OK; i++) {
        const ss_coupon_state_t *coupon = &batch->coupons[i];
        if (!coupon->dirty) {
            continue;
        }
        SS_ASSERT(coupon->rules.issued_count >= 0 &&
                  coupon->rules.issued_count <= coupon->rules.quantity);
        err = ss_pg_array_append_int64(&ids, coupon->coupon_id, errstr, errstr_size);
        if (err == SS_OK) {
            err = ss_pg_array_append_int64(&issued_counts, coupon->rules.issued_count, errstr,
                                           errstr_size);
        }
        if (err == SS_OK) {
            err = ss_pg_array_append_text(
                &statuses, ss_rules_coupon_status_name(coupon->rules.status), errstr, errstr_size);
        }
        if (err == SS_OK) {
            err =
                ss_pg_array_append_int64(&loaded, coupon->loaded_issued_count, errstr, errstr_size);
        }
    }
    size_t dirty = ss_pg_array_count(&ids);
    PGresult *rows = NULL;
    if (err == SS_OK && dirty > 0) {
        const char *params[] = {ss_pg_array_text(&ids), ss_pg_array_text(&issued_counts),
                                ss_pg_array_text(&statuses), ss_pg_array_text(&loaded)};
        err = ss_pg_query(pg, "coupon_coupons_update", NULL, 4, params, &rows, errstr, errstr_size);
    }
    if (err == SS_OK && dirty > 0 && (size_t)PQntuples(rows) != dirty) {
        /* Single writer per coupon: another writer issued some since this batch loaded. */
        err = ss_err_set(SS_ERR_RETRIABLE, errstr, errstr_size,
                         "%zu of %zu coupons changed issued_count under this batch (another"
                         " writer?): rolled back, to be applied again on what is stored",
                         dirty - (size_t)PQntuples(rows), dirty);
    }
    PQclear(rows);
    ss_pg_array_free(&loaded);
    ss_pg_array_free(&ids);
    ss_pg_array_free(&issued_counts);
    ss_pg_array_free(&statuses);
    return err;
}

ss_err_t ss_coupon_batch_flush(ss_coupon_worker_t *coupon_worker, ss_worker_batch_t *worker_batch,
                               ss_pg_t *pg, char *errstr, size_t errstr_size)
{
    ss_coupon_batch_t *batch = &coupon_worker->batch;
    ss_err_t err = issued_insert(batch, worker_batch, pg, errstr, errstr_size);
    if (err == SS_OK) {
        err = coupons_update(batch, pg, errstr, errstr_size);
    }
    return err;
}

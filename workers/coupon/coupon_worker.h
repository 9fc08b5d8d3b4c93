/*
 * The coupon worker's batch state. The partition of a coupon id is the only writer of that
 * coupon's issued_count and status and of its user_coupons rows, so first come, first served is
 * simply partition order. Each batch loads what its records name with one query each (the
 * coupons, the users, the (coupon, user) pairs already issued), decides every record in memory
 * in partition order, then writes the new user_coupons rows with one INSERT ... RETURNING and
 * the changed coupons with one UPDATE. Nothing outlives a batch (the cached error envelopes are
 * constants), so a rolled-back batch leaves no stale state behind and partition_reset has
 * nothing to forget.
 *
 * Ownership: ss_coupon_worker_init() allocates nothing; ss_coupon_worker_free() releases what
 * the batches grew (buffers kept for reuse). Pointers into the batch (coupon names) are
 * borrowed from the batch's PGresult and valid during apply_batch only.
 */
#ifndef SS_COUPON_WORKER_H
#define SS_COUPON_WORKER_H

#include "ss/api_error.h"
#include "ss/pg.h"
#include "ss/rules.h"
#include "ss/topics.h"
#include "ss/worker.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_COUPON_COMPONENT "coupon-worker"

/* Schema names this worker applies. */
#define SS_COUPON_ISSUE_SCHEMA SS_SCHEMA_ISSUE_COUPON
#define SS_COUPON_STATUS_SCHEMA SS_SCHEMA_CHANGE_COUPON_STATUS

/* A record index meaning "issued before this batch" in the pair set. */
#define SS_COUPON_PAIR_STORED SIZE_MAX

/* One coupon as loaded for the batch and changed in memory. */
typedef struct ss_coupon_state {
    int64_t coupon_id;
    int row;                     /* its row in the batch's coupon result (for the name) */
    ss_rules_coupon_t rules;     /* status, quantity, issued_count, expired_at_ms */
    int64_t rate_units;          /* discount rate in 1/SS_RULES_RATE_SCALE, 1..10000 */
    int64_t loaded_issued_count; /* as loaded: the write is conditional on it (single writer) */
    bool dirty;                  /* issued_count or status changed: write it back */
} ss_coupon_state_t;

/* An entry of the (coupon, user) set: issued before the batch or by one of its records. */
typedef struct ss_coupon_pair {
    int64_t coupon_id;
    int64_t user_id;
    size_t record_index; /* the record that issued it, or SS_COUPON_PAIR_STORED */
    bool used;           /* the slot holds an entry */
} ss_coupon_pair_t;

typedef struct ss_coupon_batch {
    int64_t now_ms;             /* one reading per batch: expiry checks and issued_at */
    PGresult *coupon_rows;      /* the loaded coupons; names are borrowed from it */
    ss_coupon_state_t *coupons; /* sorted by coupon_id */
    size_t coupon_count;
    size_t coupon_capacity;
    int64_t *user_ids; /* users that exist, sorted */
    size_t user_count;
    size_t user_capacity;
    ss_coupon_pair_t *pairs; /* open addressing, pair_slots (a power of two) in use */
    size_t pair_slots;
    size_t pair_capacity;
    size_t issued_count;            /* new user_coupons rows of this batch */
    ss_pg_array_t issue_coupon_ids; /* columns of the INSERT, in record order */
    ss_pg_array_t issue_user_ids;
} ss_coupon_batch_t;

typedef struct ss_coupon_worker {
    ss_coupon_batch_t batch;
    /* Error envelopes are the same for every record refused with a code: built once. */
    char *error_envelopes[SS_API_ERROR_COUNT];
} ss_coupon_worker_t;

/* batch.c */
void ss_coupon_worker_init(ss_coupon_worker_t *coupon_worker);
void ss_coupon_worker_free(ss_coupon_worker_t *coupon_worker);
ss_err_t ss_coupon_prepare_statements(ss_pg_t *pg, char *errstr, size_t errstr_size);
/*
 * Loads what records[0..count) name: their coupons, the users of IssueCoupon records and the
 * pairs already issued. Records with handled set and of other types are ignored.
 */
ss_err_t ss_coupon_batch_load(ss_coupon_batch_t *batch, ss_pg_t *pg,
                              const ss_worker_record_t *records, size_t count, char *errstr,
                              size_t errstr_size);
/* The loaded coupon, or NULL when no such coupon exists. */
ss_coupon_state_t *ss_coupon_find(ss_coupon_batch_t *batch, int64_t coupon_id);
/* The coupon's name, borrowed from the batch's result. */
const char *ss_coupon_name(const ss_coupon_batch_t *batch, const ss_coupon_state_t *coupon);
bool ss_coupon_user_exists(const ss_coupon_batch_t *batch, int64_t user_id);
/* Whether the user holds the coupon already (stored, or issued earlier in this batch). */
bool ss_coupon_pair_exists(const ss_coupon_batch_t *batch, int64_t coupon_id, int64_t user_id);
/* Remembers an issuance by records[record_index], to be inserted by ss_coupon_batch_flush. */
ss_err_t ss_coupon_issue_add(ss_coupon_batch_t *batch, int64_t coupon_id, int64_t user_id,
                             size_t record_index, char *errstr, size_t errstr_size);
/*
 * Inserts the issued user_coupons, answers each of their records with its new id, and writes
 * the changed coupons back.
 */
ss_err_t ss_coupon_batch_flush(ss_coupon_worker_t *coupon_worker, ss_worker_batch_t *worker_batch,
                               ss_pg_t *pg, char *errstr, size_t errstr_size);

/* reply.c */
/* Answers records[index] with the error's envelope (cached in coupon_worker). */
ss_err_t ss_coupon_reply_error(ss_coupon_worker_t *coupon_worker, ss_worker_batch_t *worker_batch,
                               size_t index, ss_api_error_t error, char *errstr,
                               size_t errstr_size);
/* Answers 200 with data (stolen, released in every case). */
ss_err_t ss_coupon_reply_ok(ss_worker_batch_t *worker_batch, size_t index, json_t *data,
                            char *errstr, size_t errstr_size);

/* issue.c */
ss_err_t ss_coupon_issue_apply(ss_coupon_worker_t *coupon_worker, ss_worker_batch_t *worker_batch,
                               const ss_worker_record_t *record, size_t index, char *errstr,
                               size_t errstr_size);
/* Answers an issued record: {"couponId","userCouponId","issuedAt"}. */
ss_err_t ss_coupon_issue_reply(ss_coupon_batch_t *batch, ss_worker_batch_t *worker_batch,
                               size_t index, int64_t coupon_id, int64_t user_coupon_id,
                               char *errstr, size_t errstr_size);

/* status.c */
ss_err_t ss_coupon_status_apply(ss_coupon_worker_t *coupon_worker, ss_worker_batch_t *worker_batch,
                                const ss_worker_record_t *record, size_t index, char *errstr,
                                size_t errstr_size);

/* handler.c */
void ss_coupon_worker_handler(ss_coupon_worker_t *coupon_worker, ss_worker_handler_t *handler_out);

#endif

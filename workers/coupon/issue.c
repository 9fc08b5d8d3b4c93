/*
 * IssueCoupon: first come, first served in partition order. Checks, in this order: the coupon
 * exists (COUPON_NOT_FOUND), the user exists (USER_NOT_FOUND), then ss_rules_coupon_issue
 * (NOT_ISSUABLE, EXPIRED, ALREADY_ISSUED, SOLD_OUT). An issuance takes one from the coupon in
 * memory at once, so the next record of the batch already sees it; the user_coupons row and
 * the 200 answer (which needs the row's id) come with the batch's flush.
 */
#include "coupon_worker.h"

#include "ss/assert.h"
#include "ss/clock.h"

ss_err_t ss_coupon_issue_apply(ss_coupon_worker_t *coupon_worker, ss_worker_batch_t *worker_batch,
                               const ss_worker_record_t *record, size_t index, char *errstr,
                               size_t errstr_size)
{
    ss_coupon_batch_t *batch = &coupon_worker->batch;
    json_t *coupon_field = json_object_get(record->value, "coupon_id");
    json_t *user_field = json_object_get(record->value, "user_id");
    if (!json_is_integer(coupon_field) || !json_is_integer(user_field)) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "IssueCoupon needs integer coupon_id and user_id");
    }
    int64_t coupon_id = json_integer_value(coupon_field);
    int64_t user_id = json_integer_value(user_field);
    ss_coupon_state_t *coupon = ss_coupon_find(batch, coupon_id);
    if (coupon == NULL) {
        return ss_coupon_reply_error(coupon_worker, worker_batch, index,
                                     SS_API_ERROR_COUPON_NOT_FOUND, errstr, errstr_size);
    }
    if (!ss_coupon_user_exists(batch, user_id)) {
        return ss_coupon_reply_error(coupon_worker, worker_batch, index,
                                     SS_API_ERROR_USER_NOT_FOUND, errstr, errstr_size);
    }
    bool already_issued = ss_coupon_pair_exists(batch, coupon_id, user_id);
    ss_api_error_t refusal;
    if (!ss_rules_coupon_issue(&coupon->rules, batch->now_ms, already_issued, &refusal)) {
        return ss_coupon_reply_error(coupon_worker, worker_batch, index, refusal, errstr,
                                     errstr_size);
    }
    coupon->rules.issued_count++;
    coupon->dirty = true;
    SS_ASSERT(coupon->rules.issued_count <= coupon->rules.quantity);
    return ss_coupon_issue_add(batch, coupon_id, user_id, index, errstr, errstr_size);
}

ss_err_t ss_coupon_issue_reply(ss_coupon_batch_t *batch, ss_worker_batch_t *worker_batch,
                               size_t index, int64_t coupon_id, int64_t user_coupon_id,
                               char *errstr, size_t errstr_size)
{
    char issued_at[SS_CLOCK_ISO8601_SIZE];
    ss_err_t err =
        ss_clock_format_iso8601(batch->now_ms, issued_at, sizeof(issued_at), errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    json_t *data = json_pack("{s:I, s:I, s:s}", "couponId", (json_int_t)coupon_id, "userCouponId",
                             (json_int_t)user_coupon_id, "issuedAt", issued_at);
    return ss_coupon_reply_ok(worker_batch, index, data, errstr, errstr_size);
}

/*
 * ChangeCouponStatus (PATCH /admin/coupons/{id}): an admin change goes through the coupon's
 * partition like every issuance, so it takes effect exactly between the records before and
 * after it. The answer is the coupon as it stands at that point of the batch.
 */
#include "coupon_worker.h"

#include "ss/assert.h"
#include "ss/clock.h"
#include "ss/json.h"

#include <stdlib.h>

static ss_err_t reply_invalid_status(ss_worker_batch_t *worker_batch, size_t index, char *errstr,
                                     size_t errstr_size)
{
    char *envelope =
        ss_json_envelope_api_error(SS_API_ERROR_INVALID_REQUEST,
                                   "status must be one of REGISTERED, PUBLISHABLE, CANCELED", NULL);
    if (envelope == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build an envelope");
    }
    ss_err_t err = ss_worker_batch_reply(worker_batch, index,
                                         ss_api_error_status(SS_API_ERROR_INVALID_REQUEST),
                                         envelope, errstr, errstr_size);
    free(envelope);
    return err;
}

/* {"id","name","discountRate","quantity","issuedCount","status","expiredAt"} */
static ss_err_t reply_coupon(ss_coupon_batch_t *batch, ss_worker_batch_t *worker_batch,
                             size_t index, const ss_coupon_state_t *coupon, char *errstr,
                             size_t errstr_size)
{
    char expired_at[SS_CLOCK_ISO8601_SIZE];
    ss_err_t err = ss_clock_format_iso8601(coupon->rules.expired_at_ms, expired_at,
                                           sizeof(expired_at), errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    /* A rate of at most 4 decimals prints back exactly (0.1, 0.2525): see ss_json envelopes. */
    double rate = (double)coupon->rate_units / (double)SS_RULES_RATE_SCALE;
    json_t *data = json_pack(
        "{s:I, s:s, s:f, s:I, s:I, s:s, s:s}", "id", (json_int_t)coupon->coupon_id, "name",
        ss_coupon_name(batch, coupon), "discountRate", rate, "quantity",
        (json_int_t)coupon->rules.quantity, "issuedCount", (json_int_t)coupon->rules.issued_count,
        "status", ss_rules_coupon_status_name(coupon->rules.status), "expiredAt", expired_at);
    return ss_coupon_reply_ok(worker_batch, index, data, errstr, errstr_size);
}

ss_err_t ss_coupon_status_apply(ss_coupon_worker_t *coupon_worker, ss_worker_batch_t *worker_batch,
                                const ss_worker_record_t *record, size_t index, char *errstr,
                                size_t errstr_size)
{
    ss_coupon_batch_t *batch = &coupon_worker->batch;
    json_t *coupon_field = json_object_get(record->value, "coupon_id");
    const char *status_text = json_string_value(json_object_get(record->value, "status"));
    if (!json_is_integer(coupon_field) || status_text == NULL) {
        return ss_err_set(SS_ERR_INVALID, errstr, errstr_size,
                          "ChangeCouponStatus needs an integer coupon_id and a string status");
    }
    ss_coupon_state_t *coupon = ss_coupon_find(batch, json_integer_value(coupon_field));
    if (coupon == NULL) {
        return ss_coupon_reply_error(coupon_worker, worker_batch, index,
                                     SS_API_ERROR_COUPON_NOT_FOUND, errstr, errstr_size);
    }
    ss_coupon_status_t status;
    if (!ss_rules_coupon_status_parse(status_text, &status)) {
        return reply_invalid_status(worker_batch, index, errstr, errstr_size);
    }
    if (status != coupon->rules.status) {
        coupon->rules.status = status;
        coupon->dirty = true;
    }
    SS_ASSERT(coupon->rules.issued_count >= 0 &&
              coupon->rules.issued_count <= coupon->rules.quantity);
    return reply_coupon(batch, worker_batch, index, coupon, errstr, errstr_size);
}

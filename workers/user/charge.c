/*
 * ChargeBalance: add the amount to the user's in-memory balance and record a CHARGE row. The
 * limit applies to the balance plus what the user's PENDING orders hold.
 */
#include "user_worker.h"

#include "ss/api_error.h"
#include "ss/json.h"
#include "ss/rules.h"

#include <stdlib.h>

static ss_err_t reply_error(ss_worker_batch_t *worker_batch, size_t index, ss_api_error_t error,
                            char *errstr, size_t errstr_size)
{
    char *envelope = ss_json_envelope_api_error(error, NULL, NULL);
    if (envelope == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build an envelope");
    }
    ss_err_t err = ss_worker_batch_reply(worker_batch, index, ss_api_error_status(error), envelope,
                                         errstr, errstr_size);
    free(envelope);
    return err;
}

static ss_err_t reply_balance(ss_worker_batch_t *worker_batch, size_t index,
                              const ss_user_account_t *account, char *errstr, size_t errstr_size)
{
    json_t *data = json_pack("{s:I, s:I}", "userId", (json_int_t)account->user_id, "amount",
                             (json_int_t)account->balance);
    char *envelope = data != NULL ? ss_json_envelope_ok(data) : NULL;
    if (envelope == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build an envelope");
    }
    ss_err_t err = ss_worker_batch_reply(worker_batch, index, 200, envelope, errstr, errstr_size);
    free(envelope);
    return err;
}

ss_err_t ss_user_charge_apply(ss_user_batch_t *batch, ss_worker_batch_t *worker_batch,
                              const ss_worker_record_t *record, size_t index, char *errstr,
                              size_t errstr_size)
{
    int64_t user_id = json_integer_value(json_object_get(record->value, "user_id"));
    int64_t amount = json_integer_value(json_object_get(record->value, "amount"));
    ss_user_account_t *account = ss_user_account_find(batch, user_id);
    if (account == NULL) {
        return reply_error(worker_batch, index, SS_API_ERROR_USER_NOT_FOUND, errstr, errstr_size);
    }
    /*
     * What PENDING orders hold counts against the limit, so that refunding them always fits
     * (user_worker.h, "Money invariant").
     */
    int64_t balance_after = 0;
    ss_api_error_t refusal;
    if (!ss_rules_charge(account->balance + account->held, amount, &balance_after, &refusal)) {
        return reply_error(worker_batch, index, refusal, errstr, errstr_size);
    }
    account->balance = balance_after - account->held;
    account->dirty = true;
    ss_err_t err = ss_user_history_add(batch, account, SS_USER_HISTORY_CHARGE, amount,
                                       record->request_id, 0, errstr, errstr_size);
    if (err != SS_OK) {
        return err;
    }
    return reply_balance(worker_batch, index, account, errstr, errstr_size);
}

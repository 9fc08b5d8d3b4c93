/*
 * Answers to coupon commands. A refusal's envelope depends only on its error code, so each is
 * built once and reused: a sold-out hot coupon then costs a copy per record, not a JSON build.
 */
#include "coupon_worker.h"

#include "ss/assert.h"
#include "ss/json.h"

#include <stdlib.h>

ss_err_t ss_coupon_reply_error(ss_coupon_worker_t *coupon_worker, ss_worker_batch_t *worker_batch,
                               size_t index, ss_api_error_t error, char *errstr, size_t errstr_size)
{
    SS_ASSERT(error >= 0 && error < SS_API_ERROR_COUNT);
    char **envelope = &coupon_worker->error_envelopes[error];
    if (*envelope == NULL) {
        *envelope = ss_json_envelope_api_error(error, NULL, NULL);
        if (*envelope == NULL) {
            return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build an envelope");
        }
    }
    return ss_worker_batch_reply(worker_batch, index, ss_api_error_status(error), *envelope, errstr,
                                 errstr_size);
}

ss_err_t ss_coupon_reply_ok(ss_worker_batch_t *worker_batch, size_t index, json_t *data,
                            char *errstr, size_t errstr_size)
{
    char *envelope = data != NULL ? ss_json_envelope_ok(data) : NULL;
    if (envelope == NULL) {
        return ss_err_set(SS_ERR_NOMEM, errstr, errstr_size, "could not build an envelope");
    }
    ss_err_t err = ss_worker_batch_reply(worker_batch, index, 200, envelope, errstr, errstr_size);
    free(envelope);
    return err;
}

/*
 * The stable error codes of the HTTP API (../shared/API.md "Envelope"), each with its HTTP
 * status and a default human message. Workers put the code's name into a command's result
 * (and into OrderFailed.reason / StockRejected.reason); the ingress maps it back to a status.
 * Names, statuses and messages are constants: nothing here allocates or frees.
 *
 * Additions to API.md's list, for the ingress's own answers: NOT_FOUND (404, no such route),
 * METHOD_NOT_ALLOWED (405) and INTERNAL (500, a bug or an unexpected failure).
 */
#ifndef SS_API_ERROR_H
#define SS_API_ERROR_H

#include "ss/error.h"

typedef enum ss_api_error {
    SS_API_ERROR_INVALID_REQUEST = 0,    /* 400 */
    SS_API_ERROR_UNAUTHORIZED,           /* 401 */
    SS_API_ERROR_FORBIDDEN,              /* 403 */
    SS_API_ERROR_NOT_FOUND,              /* 404, unknown route */
    SS_API_ERROR_USER_NOT_FOUND,         /* 404 */
    SS_API_ERROR_PRODUCT_NOT_FOUND,      /* 404 */
    SS_API_ERROR_COUPON_NOT_FOUND,       /* 404 */
    SS_API_ERROR_ORDER_NOT_FOUND,        /* 404 */
    SS_API_ERROR_REQUEST_NOT_FOUND,      /* 404 */
    SS_API_ERROR_METHOD_NOT_ALLOWED,     /* 405 */
    SS_API_ERROR_BALANCE_LIMIT_EXCEEDED, /* 409 */
    SS_API_ERROR_INSUFFICIENT_BALANCE,   /* 409 */
    SS_API_ERROR_INSUFFICIENT_STOCK,     /* 409 */
    SS_API_ERROR_PRODUCT_NOT_SELLING,    /* 409 */
    SS_API_ERROR_COUPON_SOLD_OUT,        /* 409 */
    SS_API_ERROR_COUPON_ALREADY_ISSUED,  /* 409 */
    SS_API_ERROR_COUPON_NOT_ISSUABLE,    /* 409 */
    SS_API_ERROR_COUPON_EXPIRED,         /* 409 */
    SS_API_ERROR_COUPON_NOT_USABLE,      /* 409 */
    SS_API_ERROR_IDEMPOTENCY_KEY_REUSED, /* 409 */
    SS_API_ERROR_PAYLOAD_TOO_LARGE,      /* 413 */
    SS_API_ERROR_INTERNAL,               /* 500 */
    SS_API_ERROR_UNAVAILABLE,            /* 503, with Retry-After */
    SS_API_ERROR_COUNT                   /* not a code: the number of codes */
} ss_api_error_t;

/* "COUPON_SOLD_OUT". A value outside the enum gives "INTERNAL". Never NULL. */
const char *ss_api_error_name(ss_api_error_t error);

/* 409 for COUPON_SOLD_OUT. A value outside the enum gives 500. */
int ss_api_error_status(ss_api_error_t error);

/* The default human message, lower case, e.g. "the coupon has run out". Never NULL. */
const char *ss_api_error_message(ss_api_error_t error);

/* Looks a name up (exact, upper case). SS_ERR_NOT_FOUND for an unknown name; *out untouched. */
ss_err_t ss_api_error_from_name(const char *name, ss_api_error_t *out, char *errstr,
                                size_t errstr_size);

/* The HTTP status of a code name: ss_api_error_status_by_name("COUPON_SOLD_OUT") == 409.
 * An unknown name (or NULL) gives 500. */
int ss_api_error_status_by_name(const char *name);

#endif

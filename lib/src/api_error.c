/*
 * The API error table: one row per ss_api_error_t. Designated initializers tie each row to its
 * enum value; the unit test checks that no row was forgotten.
 */
#include "ss/api_error.h"

#include <string.h>

typedef struct api_error_row {
    const char *name;
    int status;
    const char *message;
} api_error_row_t;

static const api_error_row_t api_error_rows[SS_API_ERROR_COUNT] = {
    [SS_API_ERROR_INVALID_REQUEST] = {"INVALID_REQUEST", 400, "invalid request"},
    [SS_API_ERROR_UNAUTHORIZED] = {"UNAUTHORIZED", 401, "an admin token is required"},
    [SS_API_ERROR_FORBIDDEN] = {"FORBIDDEN", 403, "the admin token is not valid"},
    [SS_API_ERROR_NOT_FOUND] = {"NOT_FOUND", 404, "no such resource"},
    [SS_API_ERROR_USER_NOT_FOUND] = {"USER_NOT_FOUND", 404, "user not found"},
    [SS_API_ERROR_PRODUCT_NOT_FOUND] = {"PRODUCT_NOT_FOUND", 404, "product not found"},
    [SS_API_ERROR_COUPON_NOT_FOUND] = {"COUPON_NOT_FOUND", 404, "coupon not found"},
    [SS_API_ERROR_ORDER_NOT_FOUND] = {"ORDER_NOT_FOUND", 404, "order not found"},
    [SS_API_ERROR_REQUEST_NOT_FOUND] = {"REQUEST_NOT_FOUND", 404, "request not found"},
    [SS_API_ERROR_METHOD_NOT_ALLOWED] = {"METHOD_NOT_ALLOWED", 405,
                                         "method not allowed on this resource"},
    [SS_API_ERROR_BALANCE_LIMIT_EXCEEDED] = {"BALANCE_LIMIT_EXCEEDED", 409,
                                             "the balance would exceed 10,000,000"},
    [SS_API_ERROR_INSUFFICIENT_BALANCE] = {"INSUFFICIENT_BALANCE", 409,
                                           "the balance is not enough to pay"},
    [SS_API_ERROR_INSUFFICIENT_STOCK] = {"INSUFFICIENT_STOCK", 409,
                                         "a product does not have enough stock"},
    [SS_API_ERROR_PRODUCT_NOT_SELLING] = {"PRODUCT_NOT_SELLING", 409, "a product is not on sale"},
    [SS_API_ERROR_COUPON_SOLD_OUT] = {"COUPON_SOLD_OUT", 409, "the coupon has run out"},
    [SS_API_ERROR_COUPON_ALREADY_ISSUED] = {"COUPON_ALREADY_ISSUED", 409,
                                            "the user already has this coupon"},
    [SS_API_ERROR_COUPON_NOT_ISSUABLE] = {"COUPON_NOT_ISSUABLE", 409,
                                          "the coupon cannot be issued"},
    [SS_API_ERROR_COUPON_EXPIRED] = {"COUPON_EXPIRED", 409, "the coupon has expired"},
    [SS_API_ERROR_COUPON_NOT_USABLE] = {"COUPON_NOT_USABLE", 409,
                                        "the coupon cannot be used for this order"},
    [SS_API_ERROR_IDEMPOTENCY_KEY_REUSED] = {"IDEMPOTENCY_KEY_REUSED", 409,
                                             "the idempotency key was used with another request"},
    [SS_API_ERROR_PAYLOAD_TOO_LARGE] = {"PAYLOAD_TOO_LARGE", 413,
                                        "the request body is larger than 64 KiB"},
    [SS_API_ERROR_INTERNAL] = {"INTERNAL", 500, "internal error"},
    [SS_API_ERROR_UNAVAILABLE] = {"UNAVAILABLE", 503,
                                  "the service is busy or a dependency is down, retry later"},
};

static const api_error_row_t *api_error_row(ss_api_error_t error)
{
    if ((int)error < 0 || error >= SS_API_ERROR_COUNT) {
        return &api_error_rows[SS_API_ERROR_INTERNAL];
    }
    return &api_error_rows[error];
}

const char *ss_api_error_name(ss_api_error_t error)
{
    return api_error_row(error)->name;
}

int ss_api_error_status(ss_api_error_t error)
{
    return api_error_row(error)->status;
}

const char *ss_api_error_message(ss_api_error_t error)
{
    return api_error_row(error)->message;
}

ss_err_t ss_api_error_from_name(const char *name, ss_api_error_t *out, char *errstr,
                                size_t errstr_size)
{
    if (name == NULL) {
        return ss_err_set(SS_ERR_NOT_FOUND, errstr, errstr_size, "no API error code given");
    }
    for (int i = 0; i < SS_API_ERROR_COUNT; i++) {
        if (strcmp(api_error_rows[i].name, name) == 0) {
            *out = (ss_api_error_t)i;
            return SS_OK;
        }
    }
    return ss_err_set(SS_ERR_NOT_FOUND, errstr, errstr_size, "unknown API error code '%.*s'", 64,
                      name);
}

int ss_api_error_status_by_name(const char *name)
{
    ss_api_error_t error = SS_API_ERROR_INTERNAL;
    if (ss_api_error_from_name(name, &error, NULL, 0) != SS_OK) {
        return ss_api_error_status(SS_API_ERROR_INTERNAL);
    }
    return ss_api_error_status(error);
}

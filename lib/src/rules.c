/* The business rules of API.md as pure functions (see ss/rules.h). */
#include "ss/rules.h"

#include "ss/assert.h"

#include <string.h>

static const char *const coupon_status_names[] = {"REGISTERED", "PUBLISHABLE", "CANCELED"};

bool ss_rules_coupon_status_parse(const char *text, ss_coupon_status_t *out)
{
    for (size_t i = 0; i < sizeof(coupon_status_names) / sizeof(coupon_status_names[0]); i++) {
        if (text != NULL && strcmp(text, coupon_status_names[i]) == 0) {
            *out = (ss_coupon_status_t)i;
            return true;
        }
    }
    return false;
}

const char *ss_rules_coupon_status_name(ss_coupon_status_t status)
{
    SS_ASSERT(status >= SS_COUPON_REGISTERED && status <= SS_COUPON_CANCELED);
    return coupon_status_names[status];
}

bool ss_rules_charge(int64_t balance, int64_t amount, int64_t *balance_after,
                     ss_api_error_t *refusal)
{
    SS_ASSERT(balance >= 0 && balance <= SS_RULES_BALANCE_MAX);
    if (amount < 1 || amount > SS_RULES_CHARGE_MAX) {
        *refusal = SS_API_ERROR_INVALID_REQUEST;
        return false;
    }
    if (amount > SS_RULES_BALANCE_MAX - balance) {
        *refusal = SS_API_ERROR_BALANCE_LIMIT_EXCEEDED;
        return false;
    }
    *balance_after = balance + amount;
    SS_ASSERT(*balance_after <= SS_RULES_BALANCE_MAX);
    return true;
}

bool ss_rules_coupon_issue(const ss_rules_coupon_t *coupon, int64_t now_ms, bool already_issued,
                           ss_api_error_t *refusal)
{
    SS_ASSERT(coupon->issued_count >= 0 && coupon->issued_count <= coupon->quantity);
    if (coupon->status != SS_COUPON_PUBLISHABLE) {
        *refusal = SS_API_ERROR_COUPON_NOT_ISSUABLE;
        return false;
    }
    if (now_ms >= coupon->expired_at_ms) {
        *refusal = SS_API_ERROR_COUPON_EXPIRED;
        return false;
    }
    if (already_issued) {
        *refusal = SS_API_ERROR_COUPON_ALREADY_ISSUED;
        return false;
    }
    if (coupon->issued_count >= coupon->quantity) {
        *refusal = SS_API_ERROR_COUPON_SOLD_OUT;
        return false;
    }
    return true;
}

int64_t ss_rules_discount(int64_t total, int64_t rate_units)
{
    SS_ASSERT(total >= 0);
    SS_ASSERT(rate_units >= 1 && rate_units <= SS_RULES_RATE_SCALE);
    /* Split total so the product never overflows: floor((q*S + r) * rate / S). */
    int64_t quotient = total / SS_RULES_RATE_SCALE;
    int64_t remainder = total % SS_RULES_RATE_SCALE;
    return quotient * rate_units + (remainder * rate_units) / SS_RULES_RATE_SCALE;
}

static const char *const product_status_names[] = {"HOLD", "SELLING", "STOP_SELLING"};

bool ss_rules_product_status_parse(const char *text, ss_product_status_t *out)
{
    for (size_t i = 0; i < sizeof(product_status_names) / sizeof(product_status_names[0]); i++) {
        if (text != NULL && strcmp(text, product_status_names[i]) == 0) {
            *out = (ss_product_status_t)i;
            return true;
        }
    }
    return false;
}

const char *ss_rules_product_status_name(ss_product_status_t status)
{
    SS_ASSERT(status >= SS_PRODUCT_HOLD && status <= SS_PRODUCT_STOP_SELLING);
    return product_status_names[status];
}

bool ss_rules_stock_reserve(ss_product_status_t status, int64_t stock, int64_t quantity,
                            int64_t *stock_after, ss_api_error_t *refusal)
{
    SS_ASSERT(stock >= 0);
    if (quantity < 1 || quantity > SS_RULES_STOCK_QUANTITY_MAX) {
        *refusal = SS_API_ERROR_INVALID_REQUEST;
        return false;
    }
    if (status != SS_PRODUCT_SELLING) {
        *refusal = SS_API_ERROR_PRODUCT_NOT_SELLING;
        return false;
    }
    if (stock < quantity) {
        *refusal = SS_API_ERROR_INSUFFICIENT_STOCK;
        return false;
    }
    *stock_after = stock - quantity;
    SS_ASSERT(*stock_after >= 0);
    return true;
}

bool ss_rules_stock_adjust(int64_t stock, int64_t delta, int64_t *stock_after,
                           ss_api_error_t *refusal)
{
    SS_ASSERT(stock >= 0);
    /* stock >= 0, so stock + delta cannot underflow; it can only pass INT64_MAX. */
    if (delta > 0 && delta > INT64_MAX - stock) {
        *refusal = SS_API_ERROR_INVALID_REQUEST;
        return false;
    }
    if (stock + delta < 0) {
        *refusal = SS_API_ERROR_INSUFFICIENT_STOCK;
        return false;
    }
    *stock_after = stock + delta;
    SS_ASSERT(*stock_after >= 0);
    return true;
}

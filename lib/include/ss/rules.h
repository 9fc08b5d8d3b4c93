/*
 * The business rules of API.md as pure functions: no I/O, no allocation, so the ingress (to
 * validate early) and the owning workers (to decide) apply the same rule, and unit tests reach
 * every branch. A refusal is reported as the API error code the client gets.
 */
#ifndef SS_RULES_H
#define SS_RULES_H

#include "ss/api_error.h"

#include <stdbool.h>
#include <stdint.h>

/* A balance is at most this after any charge (won). */
#define SS_RULES_BALANCE_MAX INT64_C(10000000)
/* One charge adds 1..SS_RULES_CHARGE_MAX won. */
#define SS_RULES_CHARGE_MAX INT64_C(10000000)
/* Discount rates are kept in units of 1/10000 (numeric(5,4) in PostgreSQL): 1..10000. */
#define SS_RULES_RATE_SCALE INT64_C(10000)

typedef enum ss_coupon_status {
    SS_COUPON_REGISTERED,
    SS_COUPON_PUBLISHABLE,
    SS_COUPON_CANCELED,
} ss_coupon_status_t;

/* What the coupon worker knows of a coupon when deciding an issuance. */
typedef struct ss_rules_coupon {
    ss_coupon_status_t status;
    int64_t quantity;
    int64_t issued_count;
    int64_t expired_at_ms;
} ss_rules_coupon_t;

/* "REGISTERED" -> SS_COUPON_REGISTERED ...; false for anything else. */
bool ss_rules_coupon_status_parse(const char *text, ss_coupon_status_t *out);
const char *ss_rules_coupon_status_name(ss_coupon_status_t status);

/*
 * A charge of amount on balance. True with *balance_after set, or false with *refusal:
 * INVALID_REQUEST for an amount outside 1..SS_RULES_CHARGE_MAX, BALANCE_LIMIT_EXCEEDED when the
 * result would pass SS_RULES_BALANCE_MAX. The balance itself must already be valid.
 */
bool ss_rules_charge(int64_t balance, int64_t amount, int64_t *balance_after,
                     ss_api_error_t *refusal);

/*
 * Whether a user may be issued the coupon now. Checked in this order, the first failing rule
 * wins: PUBLISHABLE (else COUPON_NOT_ISSUABLE), not expired at now_ms (else COUPON_EXPIRED), not
 * issued to this user yet (else COUPON_ALREADY_ISSUED), quantity left (else COUPON_SOLD_OUT).
 */
bool ss_rules_coupon_issue(const ss_rules_coupon_t *coupon, int64_t now_ms, bool already_issued,
                           ss_api_error_t *refusal);

/* floor(total x rate / 10000) for total >= 0 and rate 1..10000, without overflow. */
int64_t ss_rules_discount(int64_t total, int64_t rate_units);

/* ---- stock: the stock worker's decisions ------------------------------------------------- */

/* One order line takes 1..SS_RULES_STOCK_QUANTITY_MAX units of a product (API.md "Order"). */
#define SS_RULES_STOCK_QUANTITY_MAX INT64_C(1000)

typedef enum ss_product_status {
    SS_PRODUCT_HOLD,
    SS_PRODUCT_SELLING,
    SS_PRODUCT_STOP_SELLING,
} ss_product_status_t;

/* "HOLD" -> SS_PRODUCT_HOLD ...; false for anything else (also NULL). */
bool ss_rules_product_status_parse(const char *text, ss_product_status_t *out);
const char *ss_rules_product_status_name(ss_product_status_t status);

/*
 * A reservation of quantity units for an order from a product with this status and stock
 * (stock >= 0). True with *stock_after set, or false with *refusal; checked in this order, the
 * first failing rule wins: quantity within 1..SS_RULES_STOCK_QUANTITY_MAX (else
 * INVALID_REQUEST), SELLING (else PRODUCT_NOT_SELLING), stock >= quantity (else
 * INSUFFICIENT_STOCK).
 */
bool ss_rules_stock_reserve(ss_product_status_t status, int64_t stock, int64_t quantity,
                            int64_t *stock_after, ss_api_error_t *refusal);

/*
 * An admin change of the stock (stock >= 0) by delta of either sign. True with *stock_after
 * set, or false with *refusal: INSUFFICIENT_STOCK when the stock would go below 0,
 * INVALID_REQUEST when it would pass INT64_MAX.
 */
bool ss_rules_stock_adjust(int64_t stock, int64_t delta, int64_t *stock_after,
                           ss_api_error_t *refusal);

#endif

/*
 * The business rules of API.md as pure functions: no I/O, no allocation, so the ingress (to
 * validate early) and the owning workers (to decide) apply the same rule, and unit tests reach
 * every branch. A refusal is reported as the API error code the client gets.
 */
#ifndef SS_RULES_H
#define SS_RULES_H

#include "ss/api_error.h"

#include <stdbool.h>
#include <stddef.h>
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

/* ---- orders: the user worker's decisions (the ingress checks the lines too) --------------- */

/* An order has 1..SS_RULES_ORDER_LINES_MAX lines, each of 1..SS_RULES_STOCK_QUANTITY_MAX units. */
#define SS_RULES_ORDER_LINES_MAX 50
/*
 * Largest total an order may reach (won). Far above any real basket, and small enough that
 * sums, discounts and balances never come near INT64_MAX or lose precision in a JavaScript
 * client (2^53 is about 9 x 10^15).
 */
#define SS_RULES_ORDER_TOTAL_MAX INT64_C(1000000000000000)

typedef enum ss_order_status {
    SS_ORDER_PENDING,
    SS_ORDER_PAID,
    SS_ORDER_FAILED,
} ss_order_status_t;

/* What the stock worker answered for one line of an order (order_items.reservation). */
typedef enum ss_order_reservation {
    SS_ORDER_RESERVATION_PENDING,  /* asked (or, on an order refused at once, never asked) */
    SS_ORDER_RESERVATION_RESERVED, /* the stock is taken for the order */
    SS_ORDER_RESERVATION_REJECTED, /* the stock worker refused; nothing was taken */
    SS_ORDER_RESERVATION_RELEASED, /* it was taken and has been given back */
} ss_order_reservation_t;

/* "PENDING" -> SS_ORDER_PENDING ...; false for anything else (also NULL). */
bool ss_rules_order_status_parse(const char *text, ss_order_status_t *out);
const char *ss_rules_order_status_name(ss_order_status_t status);
/* "RESERVED" -> SS_ORDER_RESERVATION_RESERVED ...; false for anything else (also NULL). */
bool ss_rules_order_reservation_parse(const char *text, ss_order_reservation_t *out);
const char *ss_rules_order_reservation_name(ss_order_reservation_t reservation);

typedef struct ss_rules_order_line {
    int64_t product_id;
    int64_t quantity;
} ss_rules_order_line_t;

/* The first thing wrong with an order's lines, in line order. */
typedef enum ss_rules_order_lines_problem {
    SS_RULES_ORDER_LINES_OK,
    SS_RULES_ORDER_LINES_COUNT,     /* not 1..SS_RULES_ORDER_LINES_MAX lines */
    SS_RULES_ORDER_LINE_PRODUCT_ID, /* a product id below 1 */
    SS_RULES_ORDER_LINE_QUANTITY,   /* a quantity outside 1..SS_RULES_STOCK_QUANTITY_MAX */
    SS_RULES_ORDER_LINE_DUPLICATE,  /* a product that an earlier line already names */
} ss_rules_order_lines_problem_t;

/*
 * Checks lines[0..count) (API.md "Order"); every problem is refused as INVALID_REQUEST. Lines are
 * checked one after another, each for its product id, then its quantity, then whether an
 * earlier line names the same product; *index_out is the line at fault (0 for COUNT).
 */
ss_rules_order_lines_problem_t ss_rules_order_lines_check(const ss_rules_order_line_t *lines,
                                                          size_t count, size_t *index_out);

/* An order's money: paid = total - discount, all >= 0. */
typedef struct ss_rules_order_amounts {
    int64_t total;
    int64_t discount;
    int64_t paid;
} ss_rules_order_amounts_t;

/*
 * Prices valid lines (1..SS_RULES_ORDER_LINES_MAX, quantities in range) at unit_prices (each
 * >= 0): total = sum(unit_price x quantity), discount = ss_rules_discount(total, rate_units) for
 * rate_units 1..SS_RULES_RATE_SCALE, or 0 for rate_units 0 (no coupon). False, with *out zeroed,
 * when the total would pass SS_RULES_ORDER_TOTAL_MAX.
 */
bool ss_rules_order_price(const ss_rules_order_line_t *lines, const int64_t *unit_prices,
                          size_t count, int64_t rate_units, ss_rules_order_amounts_t *out);

/* What the user worker read of one line's product. */
typedef struct ss_rules_order_product {
    bool found;
    ss_product_status_t status;
    int64_t unit_price; /* >= 0 when found */
} ss_rules_order_product_t;

/* What the user worker read of the coupon an order names, for its buyer. */
typedef struct ss_rules_order_coupon {
    bool found;  /* the coupon exists */
    bool issued; /* it was issued to the buyer */
    bool used;   /* that issue is USED */
    int64_t expired_at_ms;
    int64_t rate_units; /* 1..SS_RULES_RATE_SCALE when found */
} ss_rules_order_coupon_t;

/* Everything a PlaceOrder decision needs; lines must have passed ss_rules_order_lines_check(). */
typedef struct ss_rules_order_place {
    bool user_found;
    int64_t balance; /* the buyer's balance, 0..SS_RULES_BALANCE_MAX */
    const ss_rules_order_line_t *lines;
    const ss_rules_order_product_t *products; /* products[i] is the product of lines[i] */
    size_t line_count;
    const ss_rules_order_coupon_t *coupon; /* NULL: the order names no coupon */
    int64_t now_ms;                        /* the time coupons expire against */
} ss_rules_order_place_t;

/*
 * Whether an order may be paid: checked in this order, the first failing rule wins: the buyer
 * exists (else USER_NOT_FOUND); each line in order: its product exists (else PRODUCT_NOT_FOUND)
 * and is SELLING (else PRODUCT_NOT_SELLING); the total stays within SS_RULES_ORDER_TOTAL_MAX
 * (else INVALID_REQUEST); the coupon, when named: exists (else COUPON_NOT_FOUND), was issued to
 * the buyer and is unused (else COUPON_NOT_USABLE), now_ms is before its expiry (else
 * COUPON_EXPIRED); the balance covers the amount to pay (else INSUFFICIENT_BALANCE).
 * *amounts_out is always set: on success the amounts to debit; on a refusal nothing is paid,
 * so discount and paid are 0 and total covers the lines whose product was found (0 when it
 * would pass SS_RULES_ORDER_TOTAL_MAX).
 */
bool ss_rules_order_place(const ss_rules_order_place_t *place,
                          ss_rules_order_amounts_t *amounts_out, ss_api_error_t *refusal);

/* A stock worker's answer about one line. */
typedef enum ss_order_stock_reply {
    SS_ORDER_STOCK_RESERVED,
    SS_ORDER_STOCK_REJECTED,
} ss_order_stock_reply_t;

/* What the user worker must do besides recording the step's new states. */
typedef enum ss_order_effect {
    SS_ORDER_EFFECT_NONE,    /* a repeated or impossible reply: nothing changes */
    SS_ORDER_EFFECT_RECORD,  /* only the line's reservation changes */
    SS_ORDER_EFFECT_PAY,     /* the last line is reserved: the order is paid (events, answer) */
    SS_ORDER_EFFECT_FAIL,    /* the order fails: refund, coupon back, release, event, answer */
    SS_ORDER_EFFECT_RELEASE, /* a reservation for an order that failed: give the stock back */
} ss_order_effect_t;

typedef struct ss_rules_order_step {
    ss_order_status_t status;           /* the order's status after the reply */
    ss_order_reservation_t reservation; /* the line's reservation after the reply */
    ss_order_effect_t effect;
} ss_rules_order_step_t;

/*
 * The order saga's state machine: a stock reply about one line of an order. status and
 * reservation are the order's and the line's current states; others_unreserved counts the
 * order's OTHER lines that are not RESERVED. Every transition:
 *   PENDING, line PENDING, RESERVED: line RESERVED; PAY when others_unreserved is 0 (order
 *     PAID), else RECORD.
 *   PENDING, line PENDING, REJECTED: line REJECTED, order FAILED, FAIL.
 *   FAILED, line PENDING, RESERVED: line RELEASED, RELEASE (the stock was taken after the
 *     order had failed, and must go back).
 *   FAILED, line PENDING, REJECTED: line REJECTED, RECORD.
 *   A line that is not PENDING has been answered: any reply is a repeat, NONE. So is any reply
 *   to a PAID order (all its lines are RESERVED).
 */
ss_rules_order_step_t ss_rules_order_stock_reply(ss_order_status_t status,
                                                 ss_order_reservation_t reservation,
                                                 ss_order_stock_reply_t reply,
                                                 size_t others_unreserved);

/*
 * What happens to one line when its order fails: a RESERVED line is RELEASED and *release is
 * set (send ReleaseStock); a PENDING line stays PENDING (its reply is still to come, and
 * ss_rules_order_stock_reply() releases it then); REJECTED and RELEASED lines stay.
 */
ss_order_reservation_t ss_rules_order_line_on_failure(ss_order_reservation_t reservation,
                                                      bool *release);

/* ---- the saga's deadline: an order the stock worker does not answer ------------------------ */

/*
 * When a PENDING order whose stock replies do not come (a ReserveStock or a reply dead-lettered
 * during a rolling upgrade, a retention run out) is asked again and when it fails. The user
 * worker that owns the order checks it on a timer (docs/architecture.md "Saga deadline").
 */
typedef struct ss_rules_saga_deadline {
    int64_t reask_interval_ms; /* unanswered this long since the last ask: ask again */
    int64_t reasks_max;        /* asks after the first before the order fails */
    int64_t deadline_ms;       /* this old (since it was placed), the order fails anyway */
} ss_rules_saga_deadline_t;

/* Bounds of the settings (the workers' options have the same ranges). */
#define SS_RULES_SAGA_REASK_INTERVAL_MIN_MS INT64_C(100)
#define SS_RULES_SAGA_REASKS_MAX INT64_C(100)
#define SS_RULES_SAGA_DEADLINE_MAX_MS INT64_C(86400000)

typedef enum ss_order_deadline_action {
    SS_ORDER_DEADLINE_WAIT,  /* the answers may still come */
    SS_ORDER_DEADLINE_REASK, /* send ReserveStock again for every line still unanswered */
    SS_ORDER_DEADLINE_FAIL,  /* fail the order: refund, coupon back, release every line */
} ss_order_deadline_action_t;

/*
 * Whether the settings make sense together: each in its range, and a deadline longer than one
 * re-ask interval when re-asks are allowed (else no re-ask could ever happen). False with
 * *problem set to a sentence naming the setting.
 */
bool ss_rules_saga_deadline_valid(const ss_rules_saga_deadline_t *settings, const char **problem);

/*
 * The deadline decision for a PENDING order placed age_ms ago, last asked since_ask_ms ago
 * (negative values, from a clock step, count as 0), asked again reasks times so far: FAIL once
 * age_ms reaches the deadline, or when the last allowed re-ask went unanswered for an
 * interval; REASK when an interval passed and re-asks are left; WAIT otherwise.
 */
ss_order_deadline_action_t ss_rules_order_deadline(const ss_rules_saga_deadline_t *settings,
                                                   int64_t age_ms, int64_t since_ask_ms,
                                                   int64_t reasks);

/*
 * What happens to one line when its order fails at the deadline: a RESERVED or a PENDING line
 * is RELEASED and *release is set (send ReleaseStock: a PENDING line's reservation may have
 * been taken and its reply lost, and the stock worker remembers a release that comes first,
 * so a late ReserveStock cannot take the stock); REJECTED and RELEASED lines stay.
 */
ss_order_reservation_t ss_rules_order_line_on_deadline(ss_order_reservation_t reservation,
                                                       bool *release);

#endif

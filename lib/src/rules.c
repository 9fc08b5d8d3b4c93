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

static const char *const order_status_names[] = {"PENDING", "PAID", "FAILED"};
static const char *const order_reservation_names[] = {"PENDING", "RESERVED", "REJECTED",
                                                      "RELEASED"};

bool ss_rules_order_status_parse(const char *text, ss_order_status_t *out)
{
    for (size_t i = 0; i < sizeof(order_status_names) / sizeof(order_status_names[0]); i++) {
        if (text != NULL && strcmp(text, order_status_names[i]) == 0) {
            *out = (ss_order_status_t)i;
            return true;
        }
    }
    return false;
}

const char *ss_rules_order_status_name(ss_order_status_t status)
{
    SS_ASSERT(status >= SS_ORDER_PENDING && status <= SS_ORDER_FAILED);
    return order_status_names[status];
}

bool ss_rules_order_reservation_parse(const char *text, ss_order_reservation_t *out)
{
    for (size_t i = 0; i < sizeof(order_reservation_names) / sizeof(order_reservation_names[0]);
         i++) {
        if (text != NULL && strcmp(text, order_reservation_names[i]) == 0) {
            *out = (ss_order_reservation_t)i;
            return true;
        }
    }
    return false;
}

const char *ss_rules_order_reservation_name(ss_order_reservation_t reservation)
{
    SS_ASSERT(reservation >= SS_ORDER_RESERVATION_PENDING &&
              reservation <= SS_ORDER_RESERVATION_RELEASED);
    return order_reservation_names[reservation];
}

ss_rules_order_lines_problem_t ss_rules_order_lines_check(const ss_rules_order_line_t *lines,
                                                          size_t count, size_t *index_out)
{
    *index_out = 0;
    if (count < 1 || count > SS_RULES_ORDER_LINES_MAX) {
        return SS_RULES_ORDER_LINES_COUNT;
    }
    for (size_t i = 0; i < count; i++) {
        *index_out = i;
        if (lines[i].product_id < 1) {
            return SS_RULES_ORDER_LINE_PRODUCT_ID;
        }
        if (lines[i].quantity < 1 || lines[i].quantity > SS_RULES_STOCK_QUANTITY_MAX) {
            return SS_RULES_ORDER_LINE_QUANTITY;
        }
        /* At most 50 lines: comparing with every earlier one is cheaper than any index. */
        for (size_t earlier = 0; earlier < i; earlier++) {
            if (lines[earlier].product_id == lines[i].product_id) {
                return SS_RULES_ORDER_LINE_DUPLICATE;
            }
        }
    }
    *index_out = 0;
    return SS_RULES_ORDER_LINES_OK;
}

bool ss_rules_order_price(const ss_rules_order_line_t *lines, const int64_t *unit_prices,
                          size_t count, int64_t rate_units, ss_rules_order_amounts_t *out)
{
    SS_ASSERT(count >= 1 && count <= SS_RULES_ORDER_LINES_MAX);
    SS_ASSERT(rate_units >= 0 && rate_units <= SS_RULES_RATE_SCALE);
    *out = (ss_rules_order_amounts_t){0};
    int64_t total = 0;
    for (size_t i = 0; i < count; i++) {
        SS_ASSERT(unit_prices[i] >= 0);
        SS_ASSERT(lines[i].quantity >= 1 && lines[i].quantity <= SS_RULES_STOCK_QUANTITY_MAX);
        /* total <= MAX before the line, so comparing by division never overflows. */
        if (unit_prices[i] > (SS_RULES_ORDER_TOTAL_MAX - total) / lines[i].quantity) {
            return false;
        }
        total += unit_prices[i] * lines[i].quantity;
    }
    int64_t discount = rate_units > 0 ? ss_rules_discount(total, rate_units) : 0;
    SS_ASSERT(discount >= 0 && discount <= total);
    *out =
        (ss_rules_order_amounts_t){.total = total, .discount = discount, .paid = total - discount};
    return true;
}

/* The total over the lines whose product was found, for a refused order's record. */
static int64_t order_total_known(const ss_rules_order_place_t *place)
{
    int64_t total = 0;
    for (size_t i = 0; i < place->line_count; i++) {
        const ss_rules_order_product_t *product = &place->products[i];
        if (!product->found) {
            continue;
        }
        if (product->unit_price > (SS_RULES_ORDER_TOTAL_MAX - total) / place->lines[i].quantity) {
            return 0;
        }
        total += product->unit_price * place->lines[i].quantity;
    }
    return total;
}

static bool order_refuse(const ss_rules_order_place_t *place, ss_api_error_t error,
                         ss_rules_order_amounts_t *amounts_out, ss_api_error_t *refusal)
{
    *amounts_out = (ss_rules_order_amounts_t){.total = order_total_known(place)};
    *refusal = error;
    return false;
}

bool ss_rules_order_place(const ss_rules_order_place_t *place,
                          ss_rules_order_amounts_t *amounts_out, ss_api_error_t *refusal)
{
    SS_ASSERT(place->line_count >= 1 && place->line_count <= SS_RULES_ORDER_LINES_MAX);
    SS_ASSERT(place->balance >= 0 && place->balance <= SS_RULES_BALANCE_MAX);
    if (!place->user_found) {
        return order_refuse(place, SS_API_ERROR_USER_NOT_FOUND, amounts_out, refusal);
    }
    int64_t unit_prices[SS_RULES_ORDER_LINES_MAX];
    for (size_t i = 0; i < place->line_count; i++) {
        if (!place->products[i].found) {
            return order_refuse(place, SS_API_ERROR_PRODUCT_NOT_FOUND, amounts_out, refusal);
        }
        if (place->products[i].status != SS_PRODUCT_SELLING) {
            return order_refuse(place, SS_API_ERROR_PRODUCT_NOT_SELLING, amounts_out, refusal);
        }
        unit_prices[i] = place->products[i].unit_price;
    }
    const ss_rules_order_coupon_t *coupon = place->coupon;
    int64_t rate_units = 0;
    ss_rules_order_amounts_t amounts;
    if (!ss_rules_order_price(place->lines, unit_prices, place->line_count, 0, &amounts)) {
        return order_refuse(place, SS_API_ERROR_INVALID_REQUEST, amounts_out, refusal);
    }
    if (coupon != NULL) {
        if (!coupon->found) {
            return order_refuse(place, SS_API_ERROR_COUPON_NOT_FOUND, amounts_out, refusal);
        }
        if (!coupon->issued || coupon->used) {
            return order_refuse(place, SS_API_ERROR_COUPON_NOT_USABLE, amounts_out, refusal);
        }
        if (place->now_ms >= coupon->expired_at_ms) {
            return order_refuse(place, SS_API_ERROR_COUPON_EXPIRED, amounts_out, refusal);
        }
        rate_units = coupon->rate_units;
    }
    bool priced =
        ss_rules_order_price(place->lines, unit_prices, place->line_count, rate_units, &amounts);
    SS_ASSERT(priced); /* the same lines priced without a discount fitted */
    if (place->balance < amounts.paid) {
        return order_refuse(place, SS_API_ERROR_INSUFFICIENT_BALANCE, amounts_out, refusal);
    }
    *amounts_out = amounts;
    return true;
}

ss_rules_order_step_t ss_rules_order_stock_reply(ss_order_status_t status,
                                                 ss_order_reservation_t reservation,
                                                 ss_order_stock_reply_t reply,
                                                 size_t others_unreserved)
{
    ss_rules_order_step_t unchanged = {
        .status = status, .reservation = reservation, .effect = SS_ORDER_EFFECT_NONE};
    if (reservation != SS_ORDER_RESERVATION_PENDING || status == SS_ORDER_PAID) {
        return unchanged;
    }
    bool reserved = reply == SS_ORDER_STOCK_RESERVED;
    if (status == SS_ORDER_FAILED) {
        return reserved ? (ss_rules_order_step_t){.status = SS_ORDER_FAILED,
                                                  .reservation = SS_ORDER_RESERVATION_RELEASED,
                                                  .effect = SS_ORDER_EFFECT_RELEASE}
                        : (ss_rules_order_step_t){.status = SS_ORDER_FAILED,
                                                  .reservation = SS_ORDER_RESERVATION_REJECTED,
                                                  .effect = SS_ORDER_EFFECT_RECORD};
    }
    SS_ASSERT(status == SS_ORDER_PENDING);
    if (!reserved) {
        return (ss_rules_order_step_t){.status = SS_ORDER_FAILED,
                                       .reservation = SS_ORDER_RESERVATION_REJECTED,
                                       .effect = SS_ORDER_EFFECT_FAIL};
    }
    if (others_unreserved == 0) {
        return (ss_rules_order_step_t){.status = SS_ORDER_PAID,
                                       .reservation = SS_ORDER_RESERVATION_RESERVED,
                                       .effect = SS_ORDER_EFFECT_PAY};
    }
    return (ss_rules_order_step_t){.status = SS_ORDER_PENDING,
                                   .reservation = SS_ORDER_RESERVATION_RESERVED,
                                   .effect = SS_ORDER_EFFECT_RECORD};
}

ss_order_reservation_t ss_rules_order_line_on_failure(ss_order_reservation_t reservation,
                                                      bool *release)
{
    *release = reservation == SS_ORDER_RESERVATION_RESERVED;
    return *release ? SS_ORDER_RESERVATION_RELEASED : reservation;
}

bool ss_rules_saga_deadline_valid(const ss_rules_saga_deadline_t *settings, const char **problem)
{
    *problem = NULL;
    if (settings->reask_interval_ms < SS_RULES_SAGA_REASK_INTERVAL_MIN_MS ||
        settings->reask_interval_ms > SS_RULES_SAGA_DEADLINE_MAX_MS) {
        *problem = "the saga re-ask interval must be between 100 ms and one day";
    } else if (settings->reasks_max < 0 || settings->reasks_max > SS_RULES_SAGA_REASKS_MAX) {
        *problem = "the saga re-asks must be between 0 and 100";
    } else if (settings->deadline_ms < SS_RULES_SAGA_REASK_INTERVAL_MIN_MS ||
               settings->deadline_ms > SS_RULES_SAGA_DEADLINE_MAX_MS) {
        *problem = "the saga deadline must be between 100 ms and one day";
    } else if (settings->reasks_max > 0 && settings->deadline_ms <= settings->reask_interval_ms) {
        *problem = "the saga deadline must be longer than the re-ask interval, or no re-ask"
                   " could happen before it";
    }
    return *problem == NULL;
}

ss_order_deadline_action_t ss_rules_order_deadline(const ss_rules_saga_deadline_t *settings,
                                                   int64_t age_ms, int64_t since_ask_ms,
                                                   int64_t reasks)
{
    SS_ASSERT(settings->reask_interval_ms > 0 && reasks >= 0);
    age_ms = age_ms > 0 ? age_ms : 0;
    since_ask_ms = since_ask_ms > 0 ? since_ask_ms : 0;
    if (age_ms >= settings->deadline_ms) {
        return SS_ORDER_DEADLINE_FAIL;
    }
    if (since_ask_ms < settings->reask_interval_ms) {
        return SS_ORDER_DEADLINE_WAIT;
    }
    return reasks < settings->reasks_max ? SS_ORDER_DEADLINE_REASK : SS_ORDER_DEADLINE_FAIL;
}

ss_order_reservation_t ss_rules_order_line_on_deadline(ss_order_reservation_t reservation,
                                                       bool *release)
{
    *release =
        reservation == SS_ORDER_RESERVATION_RESERVED || reservation == SS_ORDER_RESERVATION_PENDING;
    return *release ? SS_ORDER_RESERVATION_RELEASED : reservation;
}
